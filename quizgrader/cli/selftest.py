"""`quiz selftest DAY`: the tests of a day's tests, for this project's days and a course's packs."""

from __future__ import annotations

import typer

from .common import console, day_named
from .options import DayArgument, Profile, ProfileOption


def selftest(day: DayArgument, profile: ProfileOption = Profile.default) -> None:
    """Prove a day's checks against its reference, its stubs and its known mistakes.

    The reference must pass every check, the stubs must be not attempted, every known mistake must
    fail a check and be named, and every check must fail on some known mistake: for a course
    writing a day pack of its own (docs/adding-a-day.md). Exit 0 when all of it holds, 1 with a
    line per problem when it does not."""
    from ..report.selftest import problem, summary
    from ..selftest import selftest as prove

    the_day = day_named(day)
    with console.status(f"proving {the_day.id}'s checks…") as status:
        result = prove(the_day.id, profile.value, progress=lambda what: status.update(f"grading {what}…"))
    for line in result.problems:
        console.print(problem(line), soft_wrap=True)
    console.print(summary(result), soft_wrap=True)
    raise typer.Exit(0 if result.ok else 1)
