"""What the commands write besides what they print: output files and the workspace's history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from .. import safefs
from ..report import messages
from ..safefs import LinkError
from .common import err

HISTORY_OFF = "the history is off (QUIZ_HISTORY=off)"


def write_history(workspace: Path, write: Callable) -> str | None:
    """Apply `write` to the workspace's history; None when done, else why not (HISTORY_OFF when
    the history is off). A history refused for a link in the workspace raises LinkError: that is
    an error to say, not a warning."""
    from ..history import History, HistoryError, resolve_path

    path = resolve_path(workspace)
    if path is None:
        return HISTORY_OFF
    try:
        with History(path, workspace) as history:
            write(history)
    except LinkError:
        raise
    except (HistoryError, OSError) as e:
        return str(e)
    return None


def record(workspace: Path, session) -> bool:
    """Add a run to the workspace's history; a history that cannot be written costs a warning,
    never the run. False when the write was refused (a link in the workspace on its way): said
    as an error, for the command to exit non-zero."""
    try:
        problem = write_history(workspace, lambda history: history.record(session))
    except LinkError as e:
        err.print(messages.run_not_recorded(str(e), refused=True), soft_wrap=True)
        return False
    if problem not in (None, HISTORY_OFF):
        err.print(messages.run_not_recorded(problem, refused=False))
    return True


def record_report(workspace: Path, report, started: datetime) -> bool:
    from ..history import Session

    return record(workspace, Session.from_report(report, started))


def write(path: Path, text: str, workspace: Path, append: bool = False) -> bool:
    """Write (or append to) one of a command's output files, never through a link in the
    workspace; False, said as an error, when it could not be written."""
    try:
        (safefs.append if append else safefs.write_atomic)(path, text, workspace)
    except OSError as e:
        not_written(path, e)
        return False
    return True


def not_written(path: Path, e: OSError) -> None:
    err.print(messages.not_written(path, e), soft_wrap=True)


def saved_repros(report, workspace: Path) -> dict[str, str]:
    """Save each failing exercise's smallest failing example in the workspace (and remove those of
    exercises that have none now); exercise id -> the file, as the report names it. A file that
    cannot be written costs a one-line warning, never the report."""
    from ..report import repro_files

    saved = repro_files.save(report, workspace)
    if saved.problem:
        err.print(messages.repro_not_saved(saved.problem), soft_wrap=True)
    return repro_files.shown(saved.files, Path.cwd())
