"""What `quiz answer` and `quiz progress` print: the session's messages, and each rubric row's
trend over the recorded runs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from rich.markup import escape
from rich.table import Table


def to_ask(count: int, day_id: str, everything: bool) -> str:
    return f"{count} question(s) for {day_id}" + (
        "" if everything else " not yet answered right (--all asks every one)"
    )


def nothing_to_ask(path: Path, rows_picked: bool) -> str:
    return (
        f"every checkable question{' of these rows' if rows_picked else ''} is answered right in {path}; "
        "--all asks them again. On to the self-ratings."
    )


def not_saved(problem: Exception, path: Path, given: dict, ratings: dict) -> list[str]:
    """Answers that could not be saved, written out so that nothing is lost."""
    import tomlkit

    return [
        f"[bold red]error:[/] could not save the answers: {escape(str(problem))}. So that nothing "
        f"is lost, here they are to paste into {path}:",
        escape(tomlkit.dumps({"answers": given, "ratings": {str(k): v for k, v in ratings.items()}})),
    ]


def saved(answers: int, ratings: int, path: Path, backup: Path | None) -> str:
    kept = f" (the previous version is in {backup})" if backup else ""
    return f"saved {answers} answer(s) and {ratings} rating(s) to {path}{kept}"


def session_done(right: int, asked: int, stopped: bool, day_id: str, flag: str) -> str:
    return (
        f"{right}/{asked} right this session"
        + (" (stopped early)" if stopped else "")
        + escape(f". `quiz grade {day_id}{flag}` gives the verdict with your code's evidence.")
    )


def no_history(path: Path, flag: str) -> str:
    return escape(f"No history yet in {path}: `quiz grade DAY{flag}` and `quiz answer DAY{flag}` add to it.")


def trends(day, runs: int, rows: list, today: date) -> Table:
    """Each rubric row's ratings over `runs` recorded runs, and when it is due again."""
    from ..history import trend_marks

    table = Table(title=f"{day.id}: {runs} run(s) recorded", title_justify="left")
    for name in ("#", "area", "trend (oldest first)", "now", "due"):
        table.add_column(name, no_wrap=name in ("#", "now", "due"))
    for r in rows:
        table.add_row(str(r.row), r.area, trend_marks(r, day.scale), r.last or "–", _when(r, today))
    return table


def _when(r, today: date) -> str:
    if r.due is None:
        return "[dim]not started[/]"
    if r.is_due(today):
        return "[bold]due now[/]"
    days_away = (r.due - today).days
    return f"{'tomorrow' if days_away == 1 else f'in {days_away} days'}, {r.due.isoformat()}"


def due_now(day_id: str, due_rows: list[int], flag: str) -> str:
    """The rows due now, and the commands that study them again."""
    return escape(
        f"due now: row(s) {', '.join(map(str, due_rows))}: `quiz answer {day_id} "
        + " ".join(f"--row {n}" for n in due_rows)
        + f" --all{flag}`, then "
        f"`quiz grade {day_id}{flag}`"
    )


def forced_solutions(exercises: list[str]) -> str:
    return f"solutions shown with --force before passing: {', '.join(exercises)}"
