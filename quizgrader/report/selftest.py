"""`quiz selftest DAY` in words: a line per problem found, and the summary."""

from __future__ import annotations

from ..selftest import SelfTest


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def summary(result: SelfTest) -> str:
    """ "day42: 1 exercise, 4 checks, 2 known mistakes: all hold" (or how many problems)."""
    counts = ", ".join(
        [
            _count(result.exercises, "exercise"),
            _count(result.checks, "check"),
            _count(result.mistakes, "known mistake"),
        ]
    )
    verdict = "all hold" if result.ok else _count(len(result.problems), "problem")
    return f"{result.day}: {counts}: {verdict}"
