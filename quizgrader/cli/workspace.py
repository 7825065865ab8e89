"""The learner's workspace: `quiz init` and `quiz reset` (with --undo and --redo)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..report import workspace as said
from ..safefs import LinkError
from .common import console, day_named, err, exercise_named, find_workspace, flag, usage_error
from .options import CI, DEFAULT_DAY, Untouched, WorkspaceOption, all_days

FolderArgument = Annotated[Path, typer.Argument(help="Where to make the workspace (new or empty)")]
CiOption = Annotated[CI | None, typer.Option(help="Also add a workflow that grades every push")]
GraderOption = Annotated[
    str | None,
    typer.Option(help="What the workflow pip-installs instead of the grader's wheel, e.g. a git URL"),
]
UntouchedOption = Annotated[
    Untouched,
    typer.Option(help="In the workflow: a day not started is reported (the job passes) or fails the job"),
]
TorchOption = Annotated[
    str | None,
    typer.Option(
        help="The torch release the workflow installs (CPU build; default: the one this grader runs with)"
    ),
]


def init(
    folder: FolderArgument,
    ci: CiOption = None,
    grader: GraderOption = None,
    untouched: UntouchedOption = Untouched.report,
    torch: TorchOption = None,
) -> None:
    """Make a fresh workspace for a learner; never overwrites a file.

    The stubs of both days, an answers template per day, a .gitignore and quiz.toml (which marks
    the folder as a workspace). With --ci github: a GitHub Actions workflow that grades every push,
    and this grader as a wheel in grader/ with its SHA-256, which the workflow checks and installs."""
    from ..init import InitError
    from ..init import init as make

    try:
        written = make(folder, ci.value if ci else None, grader, untouched.value, torch)
    except InitError as e:
        raise usage_error(str(e)) from None
    first = day_named(DEFAULT_DAY).ordered()[0].file
    console.print(said.made(folder, len(written), flag(folder), DEFAULT_DAY, first))


def _interactive() -> bool:
    """Whether a question can be put to the learner (stdin is a terminal)."""
    return sys.stdin.isatty()


ResetExerciseArgument = Annotated[
    str | None, typer.Argument(help="The exercise to reset, e.g. attention.softmax")
]
ResetAllOption = Annotated[
    bool,
    typer.Option(
        "--all", help="Every stub file that differs (of --day, or of each day folder in the workspace)"
    ),
]
ResetDayOption = Annotated[str | None, typer.Option(help="With --all: only this day")]
FileOption = Annotated[bool, typer.Option("--file", help="Reset the whole file the exercise is in")]
UndoOption = Annotated[bool, typer.Option("--undo", help="Bring back what the last reset replaced")]
RedoOption = Annotated[bool, typer.Option("--redo", help="Take back the last --undo")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="With --all: do not ask first")]


def reset(
    exercise: ResetExerciseArgument = None,
    everything: ResetAllOption = False,
    day: ResetDayOption = None,
    whole_file: FileOption = False,
    undo: UndoOption = False,
    redo: RedoOption = False,
    yes: YesOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Put an exercise back to its stub, your version backed up first; --undo brings it back.

    `quiz reset attention.softmax` replaces only that function in your file: the other exercises,
    your imports and helpers stay. --file resets the exercise's whole file, --all every stub file.
    What a reset replaces is kept in .quiz/backups/ in the workspace; --undo restores it (and backs
    up what it overwrites, so --redo can take the undo back). Nothing is ever lost."""
    if whole_file and exercise is None:
        raise usage_error(
            "--file resets the file of an exercise: give its id, e.g. `quiz reset attention.softmax --file`"
        )
    _one_mode(exercise, everything, undo, redo)
    if day and not everything:
        raise usage_error("--day picks the day for --all; an exercise id names its day itself")
    ex = exercise_named(exercise) if exercise is not None else None
    workspace = find_workspace(workspace)
    if not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not a folder")
    if undo or redo:
        lines = _guarded(_take_back, workspace, ex, workspace, undo)
    else:
        lines = _guarded(_reset, workspace, ex, workspace, ex, day, whole_file, yes)
    for line in lines:
        console.print(line, soft_wrap=True)


def _one_mode(exercise: str | None, everything: bool, undo: bool, redo: bool) -> None:
    """A usage error unless exactly one of an exercise id, --all, --undo and --redo is given."""
    given = (
        ("an exercise id", exercise is not None),
        ("--all", everything),
        ("--undo", undo),
        ("--redo", redo),
    )
    modes = [name for name, on in given if on]
    if len(modes) != 1:
        raise usage_error(
            "say what to reset: an exercise id (`quiz reset attention.softmax`), --all, --undo or "
            "--redo" + (f", not {' and '.join(modes)} at once" if modes else "")
        )


def _take_back(workspace: Path, undo: bool) -> list[str]:
    from .. import restore

    return said.taken_back((restore.undo if undo else restore.redo)(workspace), workspace, flag(workspace))


def _reset(workspace: Path, ex, day: str | None, whole_file: bool, yes: bool) -> list[str]:
    from .. import restore

    restore.check_workspace(workspace)
    if ex is None:
        outcome = _reset_all(workspace, day, yes)
    elif whole_file:
        outcome = restore.reset_files(workspace, [ex.file], f"the whole of {ex.file}")
    else:
        outcome = restore.reset_exercise(workspace, ex)
    return said.reset(outcome, workspace, ex, whole_file, flag(workspace))


def _guarded(act, workspace: Path, ex, *args) -> list[str]:
    """`act(*args)`, its errors said: a usage error, or an error and exit 1."""
    from .. import restore

    try:
        return act(*args)
    except restore.Unparsable as e:
        assert ex is not None
        raise usage_error(said.unparsable(workspace, e, ex, flag(workspace))) from None
    except restore.NothingToTakeBack as e:
        err.print(escape(str(e)))
        raise typer.Exit(1) from None
    except restore.RestoreError as e:
        raise usage_error(str(e)) from None
    except LinkError as e:
        err.print(said.link_refused(e), soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as e:
        err.print(said.reset_failed(e, restore.backups_dir(workspace)))
        raise typer.Exit(1) from None


def _reset_all(workspace: Path, day: str | None, yes: bool):
    """--all: the stub files that differ, after asking (unless --yes)."""
    from .. import restore

    known = [d.id for d in all_days()]
    days = [day_named(day).id] if day else [d for d in known if (workspace / d).is_dir()]
    if not days:
        raise usage_error(f"{workspace} has no day folder ({', '.join(known)}); --day DAY restores one")
    todo = restore.differing(workspace, restore.stub_files(days))
    if todo and not yes:
        if not _interactive():
            raise usage_error(
                f"--all would reset {len(todo)} file(s) in {workspace} ({', '.join(todo)}); nothing was "
                "changed. Run it in a terminal to be asked, or add --yes"
            )
        for line in said.differing(workspace, todo):
            console.print(line)
        if not typer.confirm(said.CONFIRM):
            console.print(said.NOTHING_RESET)
            raise typer.Exit(1)
    return restore.reset_all(workspace, days)
