"""`quiz autograder`: the grader packed for a course's autograder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..report import messages
from .common import console, day_named, usage_error
from .options import DAYS_HELP, Profile, ProfileOption, SeedOption, Visibility
from .outputs import not_written

OutArgument = Annotated[Path, typer.Argument(help="Folder to write autograder.zip into (made when missing)")]
DaysOption = Annotated[list[str], typer.Option(help=f"A day to grade (repeat for several): {DAYS_HELP}")]
HiddenOption = Annotated[
    list[str] | None,
    typer.Option(
        help="An exercise whose test the learner does not see (repeatable; an id such as "
        'attention.softmax, a glob, or "questions")'
    ),
]
HiddenUntilOption = Annotated[Visibility, typer.Option(help="What hidden means, in Gradescope's words")]
QuestionsPointsOption = Annotated[
    float, typer.Option(min=0, help="What each day's checkpoint questions are worth (0: not graded)")
]


def gradescope(
    out: OutArgument,
    day: DaysOption,
    profile: ProfileOption = Profile.default,
    seed: SeedOption = 0,
    hidden: HiddenOption = None,
    hidden_until: HiddenUntilOption = Visibility.hidden,
    questions_points: QuestionsPointsOption = 1.0,
) -> None:
    """Write OUT/autograder.zip for a Gradescope programming assignment: the grader's wheel,
    setup.sh, run_autograder and its config."""
    from ..deploy import gradescope
    from ..deploy.wheel import WheelError

    days = list(dict.fromkeys(day_named(d).id for d in day))
    try:
        gradescope.carried(days)
        visibility = gradescope.hidden_tests(days, hidden or [], hidden_until.value)
    except ValueError as e:
        raise usage_error(str(e)) from None
    config = gradescope.Config(
        days=days, profile=profile.value, seed=seed, visibility=visibility, questions_points=questions_points
    )
    try:
        path = gradescope.build(out, config)
    except WheelError as e:
        raise usage_error(str(e)) from None
    except OSError as e:
        not_written(out / gradescope.ZIP, e)
        raise typer.Exit(1) from None
    said = messages.autograder_written(path, days, profile.value, seed, len(visibility), hidden_until.value)
    console.print(said, soft_wrap=True)


RootOption = Annotated[Path, typer.Option(help="The autograder's root (/autograder)")]
ConfigOption = Annotated[Path | None, typer.Option(help="Its config.json (default: ROOT/source/config.json)")]


def run(root: RootOption = Path("/autograder"), config: ConfigOption = None) -> None:
    """Grade ROOT/submission and write ROOT/results/results.json (what run_autograder calls)."""
    from ..deploy import gradescope

    raise typer.Exit(gradescope.run(root, config or root / "source" / gradescope.CONFIG))
