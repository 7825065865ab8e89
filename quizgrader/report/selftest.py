"""`quiz selftest DAY` in words: a line per problem found, and the summary."""

from __future__ import annotations

from rich.markup import escape

from ..results import SelfTest


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def problem(line: str) -> str:
    return f"[red]✘[/] {escape(line)}"


def summary(result: SelfTest) -> str:
    """ "✔ day42: 1 exercise, 3 checks, 2 known mistakes: all hold" (or how many problems)."""
    counts = ", ".join(
        [
            _count(result.exercises, "exercise"),
            _count(result.checks, "check"),
            _count(result.mistakes, "known mistake"),
        ]
    )
    verdict = "all hold" if result.ok else _count(len(result.problems), "problem")
    mark = "[green]✔[/]" if result.ok else "[red]✘[/]"
    return f"{mark} {escape(f'{result.day}: {counts}: {verdict}')}"
