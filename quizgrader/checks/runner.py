"""Checks: registered per exercise, run with Hypothesis in the grader's process.

A check is a small function `fn(case, you, ref)` that calls the learner (`you`) and the
reference (`ref`) through the same Api and raises `Mismatch` when a property does not hold.
Hypothesis draws the cases and shrinks a failure to a small one; the calls of that last, smallest
failing case become the repro.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from hypothesis import HealthCheck, Phase, Verbosity, errors, given, settings
from hypothesis import seed as hypothesis_seed

from ..results import CheckResult, Status
from ..sandbox.process import SandboxError
from .api import RAISED, Api, Call, LearnerError
from .compare import Mismatch, describe, expect_finite_like, kind_difference, tolerance
from .registry import Check, Context, _context, context

PROFILES = {"quick": 6, "default": 20, "thorough": 150}  # examples per check (before weight)
# Examples per check whose calls are kept for the diagnosis (CheckResult.tried): those drawn
# before the first failure, as shrinking then only tries ones close to it.
KEPT = 12


@dataclass
class Failure:
    """What a failing check leaves behind: the message and the calls of the failing cases."""

    error: BaseException
    calls: list[Call]
    first_calls: list[Call] = field(default_factory=list)


def run_check(
    c: Check,
    you: Api,
    ref: Api,
    profile: str = "default",
    seed: int = 0,
    device: str = "cpu",
    measure: bool = True,
) -> tuple[CheckResult, Failure | None]:
    """Run one check; SandboxError (the learner's process hung or died) propagates."""
    token = _context.set(Context(profile, device, seed, measure))
    started = time.perf_counter()
    try:
        tried: list[list[Call]] = []
        result, failure = _run(c, you, ref, tried)
    finally:
        _context.reset(token)
    result.rows, result.tried = c.rows, tried
    result.seconds = time.perf_counter() - started
    return result, failure


def _kept(seen: dict, calls: list[Call]) -> None:
    if calls and len(seen["tried"]) < KEPT and "first" not in seen:
        seen["tried"].append(list(calls))


def _run(c: Check, you: Api, ref: Api, tried: list[list[Call]]) -> tuple[CheckResult, Failure | None]:
    """Run the check; the calls of its first KEPT examples go to `tried`."""
    profile, seed = context().profile, context().seed
    seen: dict = {"n": 0, "tried": tried}

    def attempt(case) -> None:
        seen["n"] += 1
        you.log.clear()
        try:
            seen["figures"] = _judged(c, case, you, ref, first=seen["n"] == 1)
            _kept(seen, you.log)
        except (Mismatch, LearnerError) as e:
            _kept(seen, you.log)
            failure = Failure(e, list(you.log))
            seen.setdefault("first", failure.calls)
            seen["last"] = failure
            if isinstance(e, Mismatch) and e.stage == "type":
                raise _Settled(failure) from None  # the wrong kind for every input: nothing to shrink
            raise
        except SandboxError as e:
            raise _Abandon(e) from None  # Hypothesis must neither retry nor shrink a dead process

    try:
        if c.strategy is None:
            attempt(None)
        else:
            n = max(1, round(PROFILES[profile] * c.weight))
            run = settings(
                max_examples=n,
                deadline=None,
                database=None,
                verbosity=Verbosity.quiet,
                suppress_health_check=list(HealthCheck),
                report_multiple_bugs=False,
                phases=(Phase.explicit, Phase.generate) + ((Phase.shrink,) if c.shrink else ()),
            )(hypothesis_seed(seed)(given(c.strategy)(attempt)))
            run()
    except _Abandon as a:
        raise a.error from None
    except _Settled as settled:
        failure = settled.failure
        failure.first_calls = seen.get("first", failure.calls)
        return CheckResult(c.name, Status.FAIL, str(failure.error), examples=seen["n"]), failure
    except (Mismatch, LearnerError):
        failure = seen["last"]
        failure.first_calls = seen.get("first", [])
        e = failure.error
        if isinstance(e, LearnerError) and e.forbidden:  # a disabled library routine: not from scratch
            where = e.info.get("origin")
            at = f" (at {where['file']}:{where['line']})" if where else ""
            status, message = Status.FAIL, f"{e.info['message'].removeprefix('forbidden: ')}{at}"
        elif isinstance(e, LearnerError):
            status = Status.ERROR
            message = _raised(e)
        else:
            status, message = Status.FAIL, str(e)
            if e.stage in ("values", "nan", "grad") and (changed := _unsteady_in(failure, you)):
                message = changed
        return CheckResult(c.name, status, message, examples=seen["n"]), failure
    except Exception as e:  # noqa: BLE001 - a judging bug must not end the run
        if isinstance(e, errors.Flaky) and not isinstance(e, _FLAKY_GRADER) and "last" in seen:
            failure = seen["last"]
            failure.first_calls = seen.get("first", [])
            message = _unsteady_in(failure, you) or UNSTEADY.format(
                what=f"an example that failed passed when {_name(failure.calls)} was tried on it again"
            )
            return CheckResult(c.name, Status.FAIL, message, examples=seen["n"]), failure
        return CheckResult(
            c.name,
            Status.ERROR,
            f"the grader could not judge this check (a bug in the "
            f"grader, not in your code): {type(e).__name__}: {e}",
            examples=seen["n"],
        ), None
    figures = seen.get("figures") if c.strategy is None else None
    return CheckResult(c.name, Status.PASS, examples=seen["n"], figures=figures or {}), None


def _judged(c: Check, case: Any, you: Api, ref: Api, first: bool) -> Any:
    """One example: the check, and what the learner's code returned judged whatever the check made
    of it. A value of the wrong kind is the learner's mistake even where it trips up the check
    itself, and is told before any judgement of the values; NaN or inf where the reference's answer
    is finite fails at the finite stage; on the first example the learner's calls are made again
    to see that they answer the same. The reference answers the learner's calls again only where
    something is wrong, so right code costs nothing more."""
    try:
        figures = c.fn(case, you, ref)
    except LearnerError as e:
        raise _unreadable(e) or e from None
    except Mismatch as e:
        raise (_audit(list(you.log), ref, finite=True) if e.stage in AUDITED else None) or e from None
    except SandboxError:
        raise
    except Exception:
        if (found := _audit(list(you.log), ref, finite=True)) is None:
            raise
        raise found from None
    calls = list(you.log)
    if (found := _non_finite(calls, ref)) is not None:
        raise found
    if first and (changed := _unsteady(calls, you)):
        raise _Settled(Failure(Mismatch(changed, "determinism"), calls))
    return figures


class _Abandon(BaseException):
    """Carries a SandboxError through Hypothesis, which lets BaseException escape at once."""

    def __init__(self, error: SandboxError):
        super().__init__(str(error))
        self.error = error


class _Settled(BaseException):
    """Carries a failure out of Hypothesis at once, unshrunk: a value of the wrong kind is wrong for
    any input, and a failure that does not repeat (code that is not deterministic) cannot be shrunk."""

    def __init__(self, failure: Failure):
        super().__init__(str(failure.error))
        self.failure = failure


# A Flaky that is the grader's own doing (its strategies), not the learner's code changing its answer.
_FLAKY_GRADER = tuple(
    getattr(errors, n) for n in ("FlakyStrategyDefinition", "FlakyBackendFailure") if hasattr(errors, n)
)
# Failures that a value of the wrong kind, or NaN, may be behind (a bool "weights" tensor fails a sum
# to 1; an int one carries no gradient): the learner's answers are judged before these are told.
AUDITED = ("values", "grad")
UNSTEADY = "your function is not deterministic: {what}. Dropout or sampling left on?"


# -- what came back, judged whatever the check does with it ----------------------------------------
def _name(calls: list[Call] | Call) -> str:
    """The learner's function or method of a call (of the last call made), as they wrote it:
    "softmax", "TransformerBlock.forward"."""
    if isinstance(calls, list):
        calls = next((c for c in reversed(calls) if c.op in ("call", "method")), calls[-1]) if calls else None
    if calls is None:
        return "code"
    parts = calls.target.split(".")
    return ".".join(parts[2:]) if len(parts) > 2 else calls.target


def _unreadable(e: LearnerError) -> Mismatch | None:
    """A value the learner's process could not send (a numpy array, a generator, a tensor on
    another device) is what the learner returned, not something their code raised."""
    if e.info.get("type") != "UnsupportedResult":
        return None
    what = ".".join(e.target.split(".")[2:]) or e.target
    detail = str(e.info.get("message", "")).removeprefix("the result cannot be checked: ")
    return Mismatch(f"your {what} returned a value the grader cannot judge: {detail}", "type")


def _answered(calls: list[Call]) -> list[int]:
    return [i for i, c in enumerate(calls) if c.op in ("call", "method") and c.answer is not RAISED]


def _has_non_finite(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return (x.is_floating_point() or x.is_complex()) and not bool(torch.isfinite(x).all())
    if isinstance(x, float):
        return not math.isfinite(x)
    if isinstance(x, (tuple, list)):
        return any(_has_non_finite(v) for v in x)
    if isinstance(x, dict):
        return any(_has_non_finite(v) for v in x.values())
    return False


def _non_finite(calls: list[Call], ref: Api) -> Mismatch | None:
    """NaN or inf in what the learner returned where the reference's answer to the same calls is
    finite: told at the finite stage, before any judgement of values that rests on it (a NaN passes
    every `x > tol` test). Only looked into when there is something non-finite to look at."""
    if any(c.op == "tool" for c in calls) or not any(
        _has_non_finite(calls[i].answer) for i in _answered(calls)
    ):
        return None
    return _audit(calls, ref, finite=True)


def _audit(calls: list[Call], ref: Api, finite: bool) -> Mismatch | None:
    """The same calls made on the reference: the first answer of the learner's of another kind than
    the reference's (type, length, dtype, shape), or, with `finite`, NaN or inf where the
    reference's is finite. None when nothing is found."""
    answered = _answered(calls)
    if not answered:
        return None
    expected = _again(ref, calls)
    finite = finite and not any(c.op == "tool" for c in calls)
    for i in answered:
        yours, want = calls[i].answer, expected[i]
        if want is RAISED:
            continue
        if (d := kind_difference(yours, want)) is not None:
            at, got, wanted = d
            whole = f"{describe(yours)} whose item {at} is {got}" if at else got
            return Mismatch(f"your {_name(calls[i])} returned {whole}; expected {wanted}", "type")
        if finite:
            for at, y, w in _tensor_pairs(yours, want):
                try:
                    expect_finite_like(y, w, f"{_name(calls[i])}(...){at}")
                except Mismatch as e:
                    return e
    return None


def _tensor_pairs(yours: Any, want: Any, at: str = ""):
    """(where, yours, expected) for each tensor of two values of the same kind."""
    if isinstance(want, torch.Tensor):
        yield at, yours, want
    elif isinstance(want, (tuple, list)):
        for i, (y, w) in enumerate(zip(yours, want)):
            yield from _tensor_pairs(y, w, f"{at}[{i}]")
    elif isinstance(want, dict):
        for k in want:
            yield from _tensor_pairs(yours[k], want[k], f"{at}[{k!r}]")


def _again(api: Api, calls: list[Call]) -> list[Any]:
    """Make `calls` again on `api`, as they were made (with gradients, where they were), the grader's
    routines (training, timing) left out; the answers, one per call: a value, RAISED, or None for
    what answers nothing."""
    handles: dict[int, Any] = {}
    answers: list[Any] = []
    for c in calls:
        answer = None
        try:
            if c.op == "new":
                handles[c.handle] = api.new(c.target, *c.args, **c.kwargs)
            elif c.op == "load":
                handles[c.handle].load_state_dict(c.args[0])
            elif c.op == "to":
                handles[c.handle].to(c.args[0])
            elif c.op == "method":
                method = c.target.rsplit(".", 1)[1]
                answer = handles[c.handle].call(*c.args, method=method, **c.kwargs, **c.probe).value
            elif c.op == "call":
                answer = api.call(c.target, *c.args, **c.kwargs, **c.probe).value
        except (LearnerError, KeyError):  # KeyError: the object was never built
            answer = RAISED
        answers.append(answer)
    return answers


def _unsteady(calls: list[Call], you: Api) -> str | None:
    """The same calls made again on the learner's code: UNSTEADY's message naming the first answer
    that changed, or None. Without the grader's routines, which may have changed the learner's
    objects (training), the calls are made twice and the two compared; else the answers are
    compared with those of the first time."""
    if not _answered(calls):
        return None
    saved = list(you.log)
    try:
        tools = any(c.op == "tool" for c in calls)
        first = _again(you, calls) if tools else [c.answer for c in calls]
        again = _again(you, calls)
    finally:
        you.log[:] = saved
    for c, a, b in zip(calls, first, again):
        if c.op in ("call", "method") and (change := _change(a, b)) is not None:
            at, how = change
            what = f"a different item {at}" if at else "something else"
            return UNSTEADY.format(
                what=f"called again with the same inputs, your {_name(c)} returned {what} ({how})"
            )
    return None


def _unsteady_in(failure: Failure, you: Api) -> str | None:
    """_unsteady on the failing example, then on the first one that failed (larger, before any
    shrinking, so a random choice such as dropout's is less likely to come out the same twice)."""
    return _unsteady(failure.calls, you) or (
        _unsteady(failure.first_calls, you) if failure.first_calls is not failure.calls else None
    )


def _change(a: Any, b: Any, at: str = "") -> tuple[str, str] | None:
    """Where two answers to the same call first differ, and how; None when they are the same."""
    if a is RAISED or b is RAISED:
        return None if a is b else (at, "it raised one time and not the other")
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if (a.dtype, a.shape) != (b.dtype, b.shape):
            return at, f"{describe(a)}, then {describe(b)}"
        if a.dtype == torch.bool or not (a.is_floating_point() or a.is_complex()):
            same = torch.equal(a, b)
        else:
            rtol, atol = tolerance(a.dtype) if context().device == "cuda" else (0.0, 0.0)
            same = bool(torch.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True).all())
        if same:
            return None
        diff = (
            (
                a.to(torch.complex128 if a.is_complex() else torch.float64)
                - b.to(torch.complex128 if b.is_complex() else torch.float64)
            )
            .abs()
            .nan_to_num(math.inf)
        )
        if not a.dim():
            return at, f"{_number(a)}, then {_number(b)}"
        worst = [int(i) for i in torch.unravel_index(diff.reshape(-1).argmax(), diff.shape)]
        return at, f"by up to {float(diff.max()):.3g}, at [{', '.join(map(str, worst))}]"
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)) and len(a) == len(b):
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := _change(x, y, f"{at}[{i}]"))), None)
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return next((d for k in a if (d := _change(a[k], b[k], f"{at}[{k!r}]"))), None)
    if type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))):
        return None
    return at, f"{describe(a)}, then {describe(b)}"


def _number(t: torch.Tensor) -> str:
    return f"{t.item():.6g}" if not t.is_complex() else str(t.item())


def _raised(e: LearnerError) -> str:
    info = e.info
    where = info.get("origin")
    at = f" at {where['file']}:{where['line']}" if where else ""
    return f"your code raised {info['type']}{at}: {info['message']}\n{info.get('traceback', '')}".rstrip()
