"""The tests of a day's tests (`quiz selftest DAY`), for this project's days and a course's own
packs alike: the reference passes every check, the untouched stubs are not attempted, every known
mistake is an edit of the reference that fails a check and is named, and every check fails on
some known mistake (but the two conditions every exercise has, which no mistake of the maths
breaks: "written from scratch" and "reaches nothing but its inputs")."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from . import daypacks
from .analysis import diagnosis
from .catalog import load_day
from .grade import Options, all_checks, grade
from .results import FROM_SCRATCH, KEEPS_TO_ITSELF, SelfTest, Status
from .sandbox.process import Zygote

FAILED = (Status.FAIL, Status.ERROR)


def selftest(
    day_name: str,
    profile: str = "default",
    zygote: Zygote | None = None,
    progress: Callable[[str], None] | None = None,
) -> SelfTest:
    """Grade the day's reference, its stubs and each of its known mistakes; `progress` is told
    what is being graded."""
    day = load_day(day_name)
    pack = daypacks.get(day.id)
    out = SelfTest(day.id, exercises=len(day.exercises))
    out.checks = sum(len(all_checks(e)) for e in day.exercises)
    say = progress or (lambda what: None)
    own = zygote is None
    zygote = zygote or Zygote()
    try:
        say("the reference")
        reference = grade(day.id, Options(workspace=pack.reference, profile=profile), zygote=zygote)
        for e in reference.exercises:
            if failing := [c.name for c in e.checks if c.status is not Status.PASS]:
                out.problems.append(f"the reference fails {e.id}: {'; '.join(failing)}")
        say("the stubs")
        stubs = grade(day.id, Options(workspace=pack.exercises, profile=profile), zygote=zygote)
        for e in stubs.exercises:
            if e.status is not Status.NOT_ATTEMPTED:
                out.problems.append(
                    f"the stub of {e.id} is {e.status.label}; a stub raises NotImplementedError"
                )
        caught = _mistakes(day.id, profile, zygote, out, say)
    finally:
        if own:
            zygote.close()
    conditions = {FROM_SCRATCH, KEEPS_TO_ITSELF}
    for ex in day.exercises:
        for c in all_checks(ex):
            if c.name not in conditions and (ex.id, c.name) not in caught:
                out.problems.append(f"no known mistake fails {ex.id}: {c.name}")
    return out


def _mistakes(day: str, profile: str, zygote: Zygote, out: SelfTest, say) -> set[tuple[str, str]]:
    """Grade each known mistake on its own exercise; what failed, as (exercise, check)."""
    caught: set[tuple[str, str]] = set()
    known = diagnosis.mistakes(day)
    out.mistakes = len(known)
    with tempfile.TemporaryDirectory(prefix="quiz-selftest-") as tmp:
        for m in known:
            say(f"mistake {m.id}")
            try:
                ws = diagnosis.materialize(m, Path(tmp) / m.id)
            except ValueError as e:
                out.problems.append(str(e))
                continue
            result = grade(day, Options(workspace=ws, only=[m.exercise], profile=profile), zygote=zygote)
            mine = result.exercises[-1]
            caught |= {(mine.id, c.name) for c in mine.checks if c.status in FAILED}
            if mine.status not in FAILED:
                out.problems.append(f"mistake {m.id} ({m.exercise}) passes every check")
            elif m.id not in mine.diagnosis:
                named = ", ".join(mine.diagnosis) or "nothing"
                out.problems.append(f"mistake {m.id} fails but is not named (named: {named})")
    return caught
