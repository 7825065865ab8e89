"""Reading the course: `quiz list`, `quiz show ...`, `quiz hint` and `quiz solution`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ..report import exercises
from ..safefs import LinkError
from .common import console, day_named, err, exercise_named, find_workspace, flag, pack_problems, usage_error
from .options import (
    DEFAULT_DAY,
    FOUND,
    DayArgument,
    Device,
    EitherDayArgument,
    ExerciseArgument,
    Profile,
    RowOption,
    all_days,
)
from .outputs import HISTORY_OFF, write_history
from .running import grade_day


def list_(day: EitherDayArgument = None) -> None:
    """List the exercises."""
    from ..report.terminal import exercise_list

    pack_problems()
    for d in [day_named(day)] if day else all_days():
        console.print(exercise_list(d))


def show_rubric(day: DayArgument = DEFAULT_DAY) -> None:
    """Show a day's self-assessment rubric."""
    from ..report.terminal import rubric_only

    console.print(rubric_only(day_named(day)))


def show_exercise(exercise: ExerciseArgument) -> None:
    """Show an exercise: where it lives, what it depends on, what it may not call, its checks."""
    ex = exercise_named(exercise)
    from ..checks.catalogue import checks_for

    for line in exercises.exercise_details(ex, checks_for(ex.id)):
        console.print(line)


def show_questions(day: DayArgument = DEFAULT_DAY, row: RowOption = None) -> None:
    """List a day's checkpoint questions with their ids, for answering in answers/DAY.toml."""
    from ..questions import load_bank

    the_day = day_named(day)
    for q in load_bank(the_day.id).questions:
        if row and q.row not in row:
            continue
        for line in exercises.question_lines(q):
            console.print(line)


LevelOption = Annotated[
    int, typer.Option(min=1, help="1 = the idea, 2 = the invariant, 3 = a worked example")
]


def hint(exercise: ExerciseArgument, level: LevelOption = 1) -> None:
    """Show the hints for an exercise, up to --level."""
    for line in exercises.hints(exercise_named(exercise), level):
        console.print(line)


ForceOption = Annotated[
    bool, typer.Option("--force", help="Show it although yours does not pass (recorded in the history)")
]
MustPassWorkspaceOption = Annotated[
    Path | None, typer.Option(help="The workspace whose exercise must pass " + FOUND)
]


def solution(
    exercise: ExerciseArgument, force: ForceOption = False, workspace: MustPassWorkspaceOption = None
) -> None:
    """Show the reference solution of an exercise, once yours passes.

    Your exercise is graded first (quick profile). --force shows the solution without grading, and
    the workspace's history records that it was shown before passing."""
    from .. import restore

    ex = exercise_named(exercise)
    the_day = day_named(ex.day)
    workspace = find_workspace(workspace)
    if not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not a folder (it should hold {ex.file})")
    status = "" if force else _passing(the_day, ex, workspace)
    try:
        found, helpers = restore.solution(ex)
    except restore.RestoreError as e:
        raise usage_error(str(e)) from None
    try:
        problem, refused = _record_reveal(workspace, ex.id, force, status), False
    except LinkError as e:
        problem, refused = str(e), True
    for part in exercises.solution(ex, found, helpers):
        console.print(part)
    if force and problem:
        err.print(exercises.reveal_not_recorded(problem, forced=True))
    elif force:
        console.print(exercises.FORCED)
    elif problem not in (None, HISTORY_OFF):
        err.print(exercises.reveal_not_recorded(problem, forced=False))
    if refused:
        raise typer.Exit(1)


def _passing(the_day, ex, workspace: Path) -> str:
    """The exercise's status once graded (quick profile); exit 1 saying why when it does not pass."""
    from ..results import Status

    result = grade_day(the_day, workspace, [ex.id], Profile.quick, 0, Device.auto, lines=None).exercises[0]
    if result.status is not Status.PASS:
        for line in exercises.solution_withheld(ex, workspace, result, the_day.id, flag(workspace)):
            err.print(line)
        raise typer.Exit(1)
    return str(result.status)


def _record_reveal(workspace: Path, exercise_id: str, forced: bool, status: str) -> str | None:
    """Add a solution shown to the history; why it could not be, or None."""
    from ..history import Reveal

    return write_history(
        workspace,
        lambda history: history.record_reveal(Reveal(exercise_id, datetime.now(UTC), forced, status)),
    )
