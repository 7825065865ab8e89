"""Where a learner's module first departs from the reference's: both built with the same
arguments and given the same weights (the failing example's, else the reference's moved a
little), both run on a failing example's input with every submodule watched (the
`trace_modules` routine), and the two records read side by side, in the order things happened,
to the first submodule whose input or output differs.

Said in the contract's names: "ln1 and attn match; ln2 gets a different input: what your code
does after attn before calling ln2 differs".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..checks.api import Api, Call
from ..sandbox.process import SandboxError
from .diagnosis import same


@dataclass(frozen=True)
class Departure:
    """The first place the learner's module departs: `kind` is "input" (a submodule gets a
    different input), "output" (it gets the same input and returns something else), "missing"
    (the reference calls it, the learner's never does) or "after" (every submodule matches; what
    the forward does after them differs). `matched` lists the submodules that matched before."""

    kind: str
    name: str
    matched: tuple[str, ...]
    parts: tuple[str, ...] = ()  # the submodules of `name`, when it has some (all of them matched)
    # what the learner's calls there that the reference does not: "drop (Dropout)"
    extra: tuple[str, ...] = ()
    kind_of: str = ""  # the class of `name` in the reference, when its name does not say it: "GELU"

    def sentence(self) -> str:
        said = self._said()
        if self.extra:
            said += f"; there yours calls {_listed(self.extra)}, which the reference does not"
        return said

    def _said(self) -> str:
        what = f"{self.name} ({self.kind_of})" if self.kind_of else self.name
        before = _listed(self.matched[-4:]) if self.matched else ""
        verb = "matches" if len(self.matched[-4:]) == 1 else "match"
        so_far = f"{before} {verb}; " if before else ""
        if self.kind == "missing":
            return f"{so_far}{what} is never called in yours (the reference calls it next)"
        if self.kind == "input":
            after = f" after {self.matched[-1]}" if self.matched else ""
            return (
                f"{so_far}{what} gets a different input: what your code does{after} before calling "
                f"{self.name} differs"
            )
        if self.kind == "output" and self.parts:
            verb = "matches" if len(self.parts) == 1 else "match"
            return (
                f"{so_far}inside {self.name}, {_listed(self.parts)} {verb}, but what {self.name} returns "
                f"differs: it is in how {self.name} puts them together"
            )
        if self.kind == "output":
            return (
                f"{so_far}{what} gets the same input and returns something else: is it built as "
                "the contract says?"
            )
        return (
            f"every submodule matches ({_listed(self.matched[-4:])}); what your forward does after "
            "them differs"
        )


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def locate(calls: list[Call], you: Api, ref: Api) -> Departure | None:
    """Where the module of the last forward call in `calls` first departs, or None when it cannot be
    told (no module call, parameters that differ from the contract, a call that raises)."""
    forward = next((c for c in reversed(calls) if c.op == "method" and c.target.endswith(".forward")), None)
    made = next((c for c in calls if forward and c.op == "new" and c.handle == forward.handle), None)
    if forward is None or made is None:
        return None
    name = made.target.split(".", 1)[1]
    conversions = [c.args[0] for c in calls if c.op == "to" and c.handle == forward.handle]
    weights = next((c.args[0] for c in calls if c.op == "load" and c.handle == forward.handle), None)
    try:
        theirs, yours = ref.new(name, *made.args, **made.kwargs), you.new(name, *made.args, **made.kwargs)
        state = weights if weights is not None else varied(theirs.state_dict())
        theirs.load_state_dict(state)
        loaded = yours.load_state_dict(state, strict=False)
        if loaded["missing"] or loaded["unexpected"]:
            return None
        for dtype in conversions:
            theirs.to(dtype), yours.to(dtype)
        kwargs = {"args": list(forward.args), "kwargs": dict(forward.kwargs)}
        want, got = theirs.tool("trace_modules", **kwargs), yours.tool("trace_modules", **kwargs)
        return compare(want, got)
    except SandboxError:
        raise  # the learner's process ended: the grading says so
    except Exception:  # noqa: BLE001 - what cannot be compared is not located, and costs the report nothing
        return None


def varied(state: dict) -> dict:
    """The reference's fresh weights, each moved a little (seeded): a fresh LayerNorm is the
    identity map's scale and shift, under which a norm applied twice looks like one."""
    g = torch.Generator().manual_seed(0)
    return {
        k: v + 0.1 * torch.randn(v.shape, generator=g, dtype=v.dtype) if v.is_floating_point() else v
        for k, v in state.items()
    }


def compare(want: dict, got: dict) -> Departure | None:
    """The first event of the reference's record that the learner's differs from or lacks; None
    when the reference's module calls no submodule (its parameters are used directly)."""
    if not want["events"]:
        return None
    theirs = {(kind, name): tensors for kind, name, tensors, _ in got["events"]}
    classes = {name: kind_of for _, name, _, kind_of in want["events"]}
    order = [name for kind, name, _, _ in want["events"] if kind == "in"]
    matched: list[str] = []
    for kind, name, tensors, _ in want["events"]:
        shown = _shown_class(name, classes[name])
        if (kind, name) not in theirs:
            extra = _extra(want, got, matched, name)
            return Departure("missing", name, tuple(matched), extra=extra, kind_of=shown)
        if not _same(theirs[(kind, name)], tensors):
            extra = _extra(want, got, matched, name)
            if kind == "in":
                return Departure("input", name, tuple(matched), extra=extra, kind_of=shown)
            parts = tuple(n for n in order if n.startswith(name + ".") and "." not in n[len(name) + 1 :])
            return Departure("output", name, tuple(matched), parts, extra, shown)
        if kind == "out":  # a submodule that matched stands for its own parts
            matched = [m for m in matched if not m.startswith(name + ".")] + [name]
    if not _same(got["value"], want["value"]):
        return Departure("after", "", tuple(matched), extra=_extra(want, got, matched, None))
    return None


def _shown_class(name: str, kind_of: str) -> str:
    """A submodule's torch class, where its name does not already say it ("act" is a GELU; "ln1"
    says LayerNorm enough, "W_q" a Linear; the exercises' own classes go unsaid)."""
    if not hasattr(torch.nn, kind_of) or kind_of in ("Linear", "ModuleList", "Sequential"):
        return ""
    if kind_of.lower() in name.lower().replace("_", ""):
        return ""
    short = name.rsplit(".", 1)[-1].lower()
    return "" if short.startswith("ln") and kind_of == "LayerNorm" else kind_of


def _extra(want: dict, got: dict, matched: list[str], until: str | None) -> tuple[str, ...]:
    """The learner's submodules that the reference does not have, called after the last one that
    matched and before `until` (or to the end): "drop (Dropout)"."""
    known = {name for _, name, _, _ in want["events"]}
    calls = [(name, kind_of) for kind, name, _, kind_of in got["events"] if kind == "in"]
    names = [n for n, _ in calls]
    start = names.index(matched[-1]) + 1 if matched and matched[-1] in names else 0
    end = names.index(until) if until in names else len(names)
    return tuple(f"{n} ({kind_of})" for n, kind_of in calls[start:end] if n not in known)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype != b.dtype:
        return False
    return same(a, b)
