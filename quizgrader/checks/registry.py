"""The checks' registry, at the bottom of the package: each day's check modules register their
checks here with `@check(...)` as they are imported, and read the run's `context()`; nothing
here imports a day, so no day module imports back what imports it."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from hypothesis import strategies as st


@dataclass(frozen=True)
class Check:
    exercise: str
    name: str
    fn: Callable
    strategy: st.SearchStrategy | None = None  # None: a single call with case=None
    weight: float = 1.0  # examples relative to the profile
    rows: tuple[int, ...] = ()  # rubric rows this check is evidence for, beyond the exercise's
    shrink: bool = True  # False: cases already small and costly to run
    needs: tuple[str, ...] = ()  # what the learner's process must have loaded first ("meta")


REGISTRY: dict[str, list[Check]] = {}


def check(
    exercise: str,
    name: str,
    strategy: st.SearchStrategy | None = None,
    weight: float = 1.0,
    rows: tuple[int, ...] = (),
    shrink: bool = True,
    needs: tuple[str, ...] = (),
):
    """Register a check. A check without a strategy runs once and may return its measurements (a
    dict of figures), which the report shows as evidence."""

    def register(fn: Callable) -> Callable:
        REGISTRY.setdefault(exercise, []).append(
            Check(exercise, name, fn, strategy, weight, rows, shrink, needs)
        )
        return fn

    return register


@dataclass(frozen=True)
class Context:
    """What a check may need to know about the run it is part of."""

    profile: str = "default"
    device: str = "cpu"
    seed: int = 0
    measure: bool = True  # False: skip what only measures (timings), keep every verdict


_context: ContextVar[Context | None] = ContextVar("check_context", default=None)


def context() -> Context:
    return _context.get() or Context()
