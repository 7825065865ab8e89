"""Checks: registered per exercise, run with Hypothesis in the grader's process.

A check is a small function `fn(case, you, ref)` that calls the learner (`you`) and the
reference (`ref`) through the same Api and raises `Mismatch` when a property does not hold.
Hypothesis draws the cases and shrinks a failure to a small one; the calls of that last, smallest
failing case become the repro.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from ..results import CheckResult, Status
from ..sandbox.process import SandboxError
from .api import Api, Call, LearnerError
from .compare import Mismatch

PROFILES = {"quick": 6, "default": 20, "thorough": 150}   # examples per check (before weight)


@dataclass(frozen=True)
class Check:
    exercise: str
    name: str
    fn: Callable
    strategy: st.SearchStrategy | None = None   # None: a single call with case=None
    weight: float = 1.0                           # examples relative to the profile
    rows: tuple[int, ...] = ()                    # rubric rows this check is evidence for, beyond the exercise's
    shrink: bool = True                           # False: cases already small and costly to run


REGISTRY: dict[str, list[Check]] = {}


def check(exercise: str, name: str, strategy: st.SearchStrategy | None = None, weight: float = 1.0,
          rows: tuple[int, ...] = (), shrink: bool = True):
    """Register a check. A check without a strategy runs once and may return its measurements (a
    dict of figures), which the report shows as evidence."""
    def register(fn: Callable) -> Callable:
        REGISTRY.setdefault(exercise, []).append(Check(exercise, name, fn, strategy, weight, rows, shrink))
        return fn
    return register


@dataclass(frozen=True)
class Context:
    """What a check may need to know about the run it is part of."""
    profile: str = "default"
    device: str = "cpu"
    seed: int = 0
    measure: bool = True      # False: skip what only measures (timings), keep every verdict


_context: ContextVar[Context | None] = ContextVar("check_context", default=None)


def context() -> Context:
    return _context.get() or Context()


def checks_for(exercise: str) -> list[Check]:
    from . import day09, day16  # noqa: F401 - registers the checks

    return REGISTRY.get(exercise, [])


@dataclass
class Failure:
    """What a failing check leaves behind: the message and the calls of the failing cases."""

    error: BaseException
    calls: list[Call]
    first_calls: list[Call] = field(default_factory=list)


def run_check(c: Check, you: Api, ref: Api, profile: str = "default", seed: int = 0,
              device: str = "cpu", measure: bool = True) -> tuple[CheckResult, Failure | None]:
    """Run one check; SandboxError (the learner's process hung or died) propagates."""
    token = _context.set(Context(profile, device, seed, measure))
    try:
        result, failure = _run(c, you, ref)
    finally:
        _context.reset(token)
    result.rows = c.rows
    return result, failure


def _run(c: Check, you: Api, ref: Api) -> tuple[CheckResult, Failure | None]:
    profile, seed = context().profile, context().seed
    seen: dict = {"n": 0}

    def attempt(case) -> None:
        seen["n"] += 1
        you.log.clear()
        try:
            seen["figures"] = c.fn(case, you, ref)
        except (Mismatch, LearnerError) as e:
            failure = Failure(e, list(you.log))
            seen.setdefault("first", failure.calls)
            seen["last"] = failure
            raise
        except SandboxError as e:
            raise _Abandon(e) from None   # Hypothesis must neither retry nor shrink a dead process

    try:
        if c.strategy is None:
            attempt(None)
        else:
            n = max(1, round(PROFILES[profile] * c.weight))
            run = settings(max_examples=n, deadline=None, database=None, verbosity=Verbosity.quiet,
                           suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
                           phases=(Phase.explicit, Phase.generate) + ((Phase.shrink,) if c.shrink else ()))(
                hypothesis_seed(seed)(given(c.strategy)(attempt)))
            run()
    except _Abandon as a:
        raise a.error from None
    except (Mismatch, LearnerError):
        failure = seen["last"]
        failure.first_calls = seen.get("first", [])
        e = failure.error
        if isinstance(e, LearnerError) and e.forbidden:     # a disabled library routine: not from scratch
            where = e.info.get("origin")
            at = f" (at {where['file']}:{where['line']})" if where else ""
            status, message = Status.FAIL, f"{e.info['message'].removeprefix('forbidden: ')}{at}"
        elif isinstance(e, LearnerError):
            status = Status.ERROR
            message = _raised(e)
        else:
            status, message = Status.FAIL, str(e)
        return CheckResult(c.name, status, message, examples=seen["n"]), failure
    except Exception as e:  # noqa: BLE001 - a judging bug must not end the run
        return CheckResult(c.name, Status.ERROR, f"the grader could not judge this check (a bug in the "
                           f"grader, not in your code): {type(e).__name__}: {e}", examples=seen["n"]), None
    figures = seen.get("figures") if c.strategy is None else None
    return CheckResult(c.name, Status.PASS, examples=seen["n"], figures=figures or {}), None


class _Abandon(BaseException):
    """Carries a SandboxError through Hypothesis, which lets BaseException escape at once."""

    def __init__(self, error: SandboxError):
        super().__init__(str(error))
        self.error = error


def _raised(e: LearnerError) -> str:
    info = e.info
    where = info.get("origin")
    at = f" at {where['file']}:{where['line']}" if where else ""
    return f"your code raised {info['type']}{at}: {info['message']}\n{info.get('traceback', '')}".rstrip()
