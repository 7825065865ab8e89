"""Checks and helpers that many exercises share: inputs left alone, gradients, from scratch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..catalog import Exercise
from . import forbidden
from .api import Handle, LearnerError, Outcome
from .compare import Mismatch, describe, expect_close

GRAD_SEED = 1234


def expect_inputs_unchanged(outcome: Outcome, sent: dict[str, Any]) -> None:
    """`sent` maps argument names to what was passed, positional first, in order."""
    after = list(outcome.args_after or []) + list((outcome.kwargs_after or {}).values())
    for (name, before), now in zip(sent.items(), after):
        changed = (
            isinstance(before, torch.Tensor)
            and isinstance(now, torch.Tensor)
            and (
                before.shape != now.shape or not torch.equal(torch.nan_to_num(before), torch.nan_to_num(now))
            )
        )
        if changed:
            raise Mismatch(
                f"your code modified its input `{name}` in place (an in-place op such as "
                f"`{name} -= ...`, `{name}.sub_(...)` or `{name}[...] = ...`); "
                "work on a new tensor instead",
                "inputs",
            )


def expect_raises(call: Callable[[], Any], kind: str, what: str, why: str) -> None:
    """The learner's `call` must raise `kind`. `what` names the call for the message ("noam_lr(0,
    ...)"); `why` says why it must raise."""
    try:
        got = call()
    except LearnerError as e:
        if e.info["type"] != kind:
            raise Mismatch(f"{what} raised {e.info['type']}; raise {kind} instead: {why}", "raises") from None
        return
    did = (
        "succeeded" if isinstance(got, Handle) else f"returned {describe(got)}"
    )  # Handle: a module was built
    raise Mismatch(f"{what} {did} instead of raising {kind}: {why}", "raises")


def expect_parameters(
    you,
    ref,
    name: str,
    args: tuple = (),
    kwargs: dict | None = None,
    advice: str | Callable[[list[str], list[str]], str] = "",
    shape_advice: str = "",
) -> None:
    """The learner's module `name` built with these arguments has the reference's state_dict keys
    and shapes (the grader loads weights by name). `advice` (or advice(missing, unexpected)) and
    `shape_advice` end the message."""
    kwargs = kwargs or {}
    shown = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
    call = f"{name.rsplit('.', 1)[1]}({shown})"
    got = {k: tuple(v.shape) for k, v in you.new(name, *args, **kwargs).state_dict().items()}
    want = {k: tuple(v.shape) for k, v in ref.new(name, *args, **kwargs).state_dict().items()}
    missing, unexpected = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing or unexpected:
        tip = advice(missing, unexpected) if callable(advice) else advice
        raise Mismatch(
            f"{call} has parameters that differ from the contract: missing {missing or 'none'}, "
            f"unexpected {unexpected or 'none'}" + (f". {tip}" if tip else ""),
            "parameters",
        )
    for k, shape in want.items():
        if got[k] != shape:
            raise Mismatch(f"{call}: {k} has shape {got[k]}, expected {shape}{shape_advice}", "parameters")


def expect_grads_close(
    yours: Outcome,
    ref: Outcome,
    names: list[str],
    dtype: torch.dtype,
    params: bool = False,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Gradients of a fixed random projection of the outputs, against the reference's, at the
    dtype's tolerance unless the exercise's contract states another (`rtol`, `atol`)."""
    g, r = yours.grads or {}, ref.grads or {}
    if not g.get("graph"):
        raise Mismatch(
            "no gradient flows back from your outputs: they are detached from the graph "
            "(.detach(), .data, torch.no_grad(), or a round trip through numpy/lists)",
            "grad",
        )
    pairs = list(zip(names, g["args"], r["args"])) + [
        (k, g["kwargs"].get(k), v) for k, v in r["kwargs"].items()
    ]
    if params:
        pairs += [(k, g["params"].get(k), v) for k, v in r["params"].items()]
    for name, got, want in pairs:
        if want is None:
            continue
        if got is None:
            raise Mismatch(
                f"no gradient reached `{name}`: it does not take part in the output, or the "
                "path from it is cut",
                "grad",
            )
        expect_close(got, want, f"d(output)/d({name})", dtype=dtype, rtol=rtol, atol=atol)


def from_scratch(ex: Exercise):
    """A check that the exercise calls none of the routines it asks the learner to write: the names
    in its source, and what its process stopped (the routines are disabled there: sandbox/guard.py),
    however they were reached."""

    def fn(case: Any, you, ref) -> None:
        source = you.source(ex.file)
        if not forbidden.parses(source):
            raise Mismatch(f"{ex.file} does not parse, so it cannot be checked", "forbidden")
        uses = [(u.name, u.line) for u in forbidden.scan(source, ex.name, ex.forbidden)]
        span = forbidden.line_range(source, ex.name)
        uses.extend(_where(r, ex, span) for r in you.records if r.get("kind") == "forbidden")
        if uses:
            seen = sorted(dict.fromkeys(uses), key=lambda u: u[1])
            where = "; ".join(f"{name} (line {line})" if line else name for name, line in seen)
            raise Mismatch(
                f"`{ex.name}` must be written from scratch, but it calls {where}. "
                f"Build it from basic tensor operations.",
                "forbidden",
            )

    return fn


def _where(record: dict, ex: Exercise, span: tuple[int, int] | None) -> tuple[str, int]:
    """(what was called, and through what, the line of the exercise it came from or 0)."""
    name = str(record.get("name", "?"))
    frames = [
        (str(f[0]), int(f[1]), str(f[2])) for f in record.get("stack", []) if len(f) == 3
    ]  # innermost first
    inside = [line for file, line, _ in frames if file == ex.file and span and span[0] <= line <= span[1]]
    if not frames:
        return name, 0
    file, line, function = frames[0]
    if inside:
        helper = (file, line) != (ex.file, inside[0])  # made further in, from the exercise's line
        return name + (f" through `{function}` in {file}" if helper else ""), inside[0]
    return f"{name} in `{function}` ({file}, line {line})", 0


def keeps_to_itself(ex: Exercise):
    """A check that the exercise's code (its file and the workspace files that file imports) does
    not reach around the exercise: the grader, the reference, files, frames, the interpreter's
    objects, threads, the network (checks/forbidden.py's escape scan), and that its process
    refused nothing it tried (sandbox/guard.py)."""

    def fn(case: Any, you, ref) -> None:
        findings = []
        files, seen = [ex.file], set()
        while files:
            file = files.pop()
            if file in seen:
                continue
            seen.add(file)
            source = you.source(file)
            findings += [
                f"{file}, line {line}: {what} ({why})" for line, what, why in forbidden.escapes(source)
            ]
            files += [f for f in forbidden.workspace_imports(source, file) if you.source(f)]
        for r in you.records:
            if r.get("kind") == "refused":
                frames = r.get("stack") or []
                at = f"{frames[0][0]}, line {frames[0][1]}: " if frames and len(frames[0]) == 3 else ""
                findings.append(f"{at}{r.get('message', 'refused')}")
        if findings:
            shown = "; ".join(dict.fromkeys(findings[:8])) + (
                f"; and {len(findings) - 8} more" if len(findings) > 8 else ""
            )
            raise Mismatch(
                f"`{ex.name}` reaches outside the exercise: {shown}. An exercise needs only its "
                "inputs and tensor operations",
                "integrity",
            )

    return fn


def expect_on_meta(api, target: str, what: str, args: list, kwargs: dict | None = None, handle=None) -> None:
    """Every tensor the learner's call returns is on its inputs' device: the call is made with its
    inputs (and a module: `handle`) on the meta device, which has shapes but no data, so a tensor
    made on the CPU beside them (torch.arange(T) without device=) shows without a GPU."""
    kwargs = kwargs or {}
    if handle is not None:
        got = handle.tool("on_meta", args=args, kwargs=kwargs)
    else:
        got = api.tool("on_meta", target, args=args, kwargs=kwargs)
    if got["raised"] is not None:
        raise Mismatch(
            f"{what} with its inputs on another device (the meta device here, as a GPU would be) raised "
            f"{got['raised']}: a tensor your code makes (torch.arange, torch.zeros, torch.ones, ...) stays "
            "on the CPU; make it on the inputs' device (device=x.device)",
            "device",
        )
    if got.get("cpu"):
        raise Mismatch(
            f"{what} with its inputs on another device (the meta device here, as a GPU would be) made "
            f"a tensor on the CPU ({got['cpu'][0]}): a GPU run fails there; make it on the inputs' "
            "device (torch.arange(T, device=x.device))",
            "device",
        )
    if elsewhere := [d for d in got["devices"] if d != "meta"]:
        raise Mismatch(
            f"{what} with its inputs on another device (the meta device here) returned a tensor on "
            f"{elsewhere[0]}: return tensors on the inputs' device",
            "device",
        )
