"""The checkpoint questions and the history: `quiz answer` and `quiz progress`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from ..report import answers as said
from ..safefs import LinkError
from .common import console, day_named, err, find_workspace, flag, usage_error
from .options import FOUND, DayArgument, EitherDayArgument, RowOption, all_days
from .outputs import record

AnswersWorkspaceOption = Annotated[
    Path | None, typer.Option(help="The workspace whose answers/DAY.toml to update " + FOUND)
]
AllOption = Annotated[bool, typer.Option("--all", help="Ask again the questions already answered right")]


def answer(
    day: DayArgument,
    workspace: AnswersWorkspaceOption = None,
    row: RowOption = None,
    everything: AllOption = False,
) -> None:
    """Answer the checkpoint questions one at a time, each judged at once.

    Then you rate yourself per rubric row. Answers and ratings go into answers/DAY.toml in the
    workspace, where `quiz grade` judges them too."""
    from ..ask import pick, run
    from ..questions import load_bank
    from ..questions.answers import Saver
    from ..results import Answer

    the_day = day_named(day)
    workspace = find_workspace(workspace)
    bank = load_bank(the_day.id)
    if not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not a folder")
    if bad := sorted(set(row or ()) - {r.number for r in the_day.rubric}):
        raise usage_error(f"{the_day.id} has no rubric row {bad[0]} (rows 1-{len(the_day.rubric)})")
    path = workspace / the_day.answers_file
    previous = _previous(path, bank, the_day.scale)
    questions = pick(bank, previous, set(row or ()), everything)
    rows = sorted(set(row or ()) or {r.number for r in the_day.rubric})
    if questions:
        console.print(said.to_ask(len(questions), the_day.id, everything))
    else:
        console.print(said.nothing_to_ask(path, bool(row)))
    started = datetime.now(UTC)
    saver = Saver(path, bank, the_day.scale, workspace / ".quiz" / "backups", workspace)
    session = run(console, the_day, bank, previous, questions, rows, saver.save)  # saved as it goes
    recorded = True
    if session.given or session.ratings:
        _save(saver, session, path)
        recorded = _record_session(workspace, the_day, session, started)
    right = sum(r.outcome is Answer.CORRECT for r in session.results)
    console.print(
        said.session_done(right, len(session.results), session.stopped, the_day.id, flag(workspace))
    )
    if session.interrupted:
        raise typer.Exit(130)
    if not recorded:
        raise typer.Exit(1)


def _previous(path: Path, bank, scale):
    """The answers already in the file; a usage error when it cannot be read."""
    from ..questions.answers import Answers, AnswersFileError, present, read_answers

    try:
        return read_answers(path, bank, scale) if present(path) else Answers({}, {})
    except AnswersFileError as e:
        raise usage_error(f"{e}. Fix it first: nothing was asked and the file is unchanged") from None


def _save(saver, session, path: Path) -> None:
    """Whatever of the session was not saved yet; when it cannot be, the answers are printed to
    paste in by hand, and the command exits 1."""
    from ..questions.answers import AnswersFileError

    try:
        saver.save(session.given, session.ratings)
    except (AnswersFileError, OSError) as e:
        for line in said.not_saved(e, path, session.given, session.ratings):
            err.print(line)
        raise typer.Exit(1) from None
    console.print(said.saved(len(session.given), len(session.ratings), path, saver.backup))


def _record_session(workspace: Path, the_day, session, started: datetime) -> bool:
    from ..history import Session
    from ..rubric import rate

    rating = rate(the_day, [], session.results, session.ratings)
    return record(workspace, Session.answered(the_day.id, started, session.results, rating))


HistoryWorkspaceOption = Annotated[
    Path | None, typer.Option(help="The workspace whose history to read " + FOUND)
]


def progress(day: EitherDayArgument = None, workspace: HistoryWorkspaceOption = None) -> None:
    """Each rubric row's trend over your attempts, and what is due again.

    A row below the best rating comes back the next day, one at the best after 2, 4, 8 ... days."""
    from ..history import History, HistoryError, resolve_path

    days = [day_named(day)] if day else all_days()
    workspace = find_workspace(workspace)
    path = resolve_path(workspace)
    if path is None:
        raise usage_error("the history is turned off (QUIZ_HISTORY=off)")
    if not path.is_file():
        console.print(said.no_history(path, flag(workspace)), soft_wrap=True)
        return
    try:
        with History(path, workspace) as history:
            sessions = history.sessions()
            forced = sorted({r.exercise_id for r in history.reveals() if r.forced})
    except (HistoryError, LinkError) as e:
        raise usage_error(str(e)) from None
    today = date.today()
    for d in days:
        _day_progress(d, [s for s in sessions if s.day == d.id], forced, workspace, today)


def _day_progress(d, runs: list, forced: list[str], workspace: Path, today: date) -> None:
    """One day's trends, the rows due now, and the solutions shown before passing."""
    from ..history import progress

    rows = progress(runs, d, today)
    console.print(said.trends(d, len(runs), rows, today))
    if due_rows := [r.row for r in rows if r.due is not None and r.is_due(today)]:
        console.print(said.due_now(d.id, due_rows, flag(workspace)))
    if shown := [i.split(".", 1)[1] for i in forced if i.startswith(d.id + ".")]:
        console.print(said.forced_solutions(shown))
