"""What `quiz grade`, `quiz report`, `quiz watch` and `quiz verify` say around the report itself,
in Rich markup."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.markup import escape


def not_started(day_id: str) -> str:
    return (
        f"{day_id}: not started (every exercise still a stub, no question answered); "
        "with --untouched report that does not fail the run"
    )


def markdown_written(output: Path, verdict: str) -> str:
    return f"wrote {escape(str(output))}: {verdict}"


def events_missed(workspace: Path, every: float) -> str:
    """`quiz watch` falling back to looking at the files."""
    return (
        f"[yellow]no file events arrive from {escape(str(workspace))}; looking at the "
        f"files every {every:g} s instead[/]"
    )


def changed(at: datetime, files: list[str]) -> str:
    """The rule over what `quiz watch` says of one save."""
    return f"[bold]{at:%H:%M:%S}[/] {escape(', '.join(files))} changed"


def no_answers(path: Path) -> str:
    return f"no answers in {escape(str(path))}"


STOPPED_WATCHING = "stopped watching"


def verify_note(note: str) -> str:
    return f"[dim]note: {escape(note)}[/]"


def verify_difference(line: str) -> str:
    return f"[red]✘[/] {escape(line)}"


def verified(results: Path, exercises: int, data: dict) -> str:
    """A result of `quiz grade --json` that grading again gives back."""
    files = sum(d is not None for d in data["files"].values())
    return "[green]✔[/] " + escape(
        f"{results} matches: {exercises} exercise(s) graded again "
        f"({data['day']}, seed {data['seed']}, {data['profile']} profile) give the same "
        f"results, and {files} file(s) are the ones graded."
    )


def not_verified(results: Path, problem: Exception) -> str:
    return f"[red]✘[/] {escape(f'cannot verify {results}: {problem}')}"
