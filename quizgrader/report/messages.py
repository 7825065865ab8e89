"""The one-line messages the commands print: errors, warnings and notes, in Rich markup, with what
they quote escaped."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape


def error(message: str) -> str:
    return f"[bold red]error:[/] {escape(message)}"


def warning(message: str) -> str:
    return f"[yellow]warning:[/] {escape(message)}"


def note(message: str) -> str:
    return f"[yellow]note:[/] {escape(message)}"


def not_written(path: Path, problem: OSError) -> str:
    """An output file that could not be written. A write refused for a link in the workspace says
    it all itself."""
    from ..safefs import LinkError, shown

    refused = isinstance(problem, LinkError)
    return error(str(problem) if refused else f"could not write {shown(str(path))}: {problem}")


def run_not_recorded(problem: str, refused: bool) -> str:
    """A run the history did not take: an error when the write was refused, else a warning."""
    if refused:
        return error(f"this run was not added to the history: {problem}")
    return warning(f"this run was not added to the history: {problem}")


def repro_not_saved(problem: str) -> str:
    return warning(f"a smallest failing example was not saved: {problem}")


def wrote(files: list[Path], seconds: float) -> str:
    return f"wrote {', '.join(escape(str(f)) for f in files)} in {seconds:.0f} s"


def as_text_instead(why: str) -> str:
    """No PNGs could be drawn: the results follow as text."""
    return f"[yellow]note:[/] {escape(why)}; the results as text:"


def no_lab(day_id: str, lab_days: tuple[str, ...]) -> str:
    return f"{day_id} has no lab; only {', '.join(lab_days) or 'no day'} has one"


def autograder_written(path: Path, days: list[str], profile: str, seed: int, hidden: int, until: str) -> str:
    """The autograder's zip written, what it grades, and how many tests it hides."""
    return f"wrote {escape(str(path))}: grades {', '.join(days)} ({profile} profile, seed {seed})" + (
        f"; {hidden} test(s) {until}" if hidden else ""
    )
