"""Recurring checks, declared once per exercise.

Most exercises are checked for the same few properties: the result matches the reference's (run in
float64 on the same numbers), the inputs are left unchanged, gradients flow back as through the
reference, and the elements of a batch are computed on their own. An exercise says once how it is
called, and registers each of these in one line where it belongs in its order of checks:

    sdpa = recurring.declare(SDPA, call=run_sdpa, case=attention_case(), inputs=["Q", "K", "V", "mask"],
                             wrt=["Q", "K", "V"], compare=recurring.pair_close(("out", "weights")))
    sdpa.matches("matches the reference (float32 and float64, every mask shape)", weight=1.5)
    ...the exercise's own checks...
    sdpa.inputs_unchanged("leaves Q, K, V and the mask unchanged", weight=0.5)
    sdpa.gradients("passes gradients back to Q, K and V", weight=0.5)

`call(subject, case, f64=False, **probe)` runs what is checked on a case and returns the Outcome:
the learner's copy of the case's numbers (case.as_dtype), or the reference's float64 copy of them
(case.f64); `probe` is what a check asks of the call (grad_seed, keep_args). The subject is the Api
for a function, or the module `build(api, case, f64=False)` makes (with the case's weights, in the
case's dtype or float64).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from hypothesis import strategies as st

from .api import Api, Outcome
from .common import GRAD_SEED, expect_grads_close, expect_inputs_unchanged
from .compare import Mismatch, expect_close, expect_pair_close, tolerance
from .registry import check
from .strategies import Case

Compare = Callable[[Any, Any, Case], Any]  # (yours, the reference's, case); raises Mismatch


def close(name: str) -> Compare:
    """Yours against the reference's at the case dtype's tolerance; `name` names it in a message."""
    return lambda got, want, case: expect_close(got, want, name, dtype=case.dtype)


def pair_close(names: tuple[str, str]) -> Compare:
    """A (result, weights) pair against the reference's, the weights first."""
    return lambda got, want, case: expect_pair_close(got, want, names, case.dtype)


@dataclass(frozen=True)
class Declared:
    """How an exercise is called, and what its recurring checks need to know; each method registers
    one check (in the order the methods are called, among the exercise's own @check functions).

    inputs: the names of the case's values the call passes, in order (positional arguments, then
        keyword ones); a tuple of names stands for one argument that is a tuple, such as a state
        (h, c). Checked unchanged after the call.
    wrt: the arguments whose gradients are compared, in order; `params` adds every parameter of a
        module. `grads` replaces the comparison: grads(yours, reference's, case).
    compare: how matches() judges yours against the reference's (default: close("out")).
    prepare(ref, case): run first in every check, e.g. to draw the case's weights from the
        reference's parameter shapes.
    case: the strategy a check draws from when it names none.
    """

    exercise: str
    call: Callable[..., Outcome]
    build: Callable[..., Any] | None = None
    prepare: Callable[[Api, Case], Any] | None = None
    case: st.SearchStrategy | None = None
    inputs: tuple = ()
    wrt: tuple[str, ...] = ()
    params: bool = False
    compare: Compare = field(default_factory=lambda: close("out"))
    grads: Callable[[Outcome, Outcome, Case], Any] | None = None

    # -- the checks ------------------------------------------------------------------------------
    def matches(self, name: str, strategy=None, *, compare: Compare | None = None, **options) -> None:
        """Yours, on the case in its dtype, against the reference's on the same numbers in float64."""
        judge = compare or self.compare

        def matches_reference(case: Case, you: Api, ref: Api) -> None:
            self._prepare(ref, case)
            got = self.outcome(you, case).value
            judge(got, self.outcome(ref, case, f64=True).value, case)

        self._register(name, strategy, matches_reference, options)

    def inputs_unchanged(self, name: str, strategy=None, **options) -> None:
        """No argument is modified in place."""

        def leaves_inputs(case: Case, you: Api, ref: Api) -> None:
            self._prepare(ref, case)
            self._expect_unchanged(self.outcome(you, case, keep_args=True), case)

        self._register(name, strategy, leaves_inputs, options)

    def gradients(
        self, name: str, strategy=None, *, unchanged: bool = False, grads: Callable | None = None, **options
    ) -> None:
        """The gradients of a fixed random projection of the output match the reference's (float64).
        `unchanged`: the same call must also leave its inputs unchanged (one check for both). `grads`
        replaces the declared comparison for this check."""
        judge = grads or self.grads

        def passes_gradients(case: Case, you: Api, ref: Api) -> None:
            self._prepare(ref, case)
            probe = {"grad_seed": GRAD_SEED} | ({"keep_args": True} if unchanged else {})
            yours = self.outcome(you, case, **probe)
            if unchanged:
                self._expect_unchanged(yours, case)
            want = self.outcome(ref, case, f64=True, grad_seed=GRAD_SEED)
            if judge:
                judge(yours, want, case)
            else:
                expect_grads_close(yours, want, list(self.wrt), case.dtype, params=self.params)

        self._register(name, strategy, passes_gradients, options)

    def batch_independent(
        self,
        name: str,
        strategy=None,
        *,
        batched: Sequence[str],
        pick: Callable[[Any, Case], Any] = lambda value, case: value,
        message: str = "",
        compare: Callable[[Any, Any, Case, int], Any] | None = None,
        **options,
    ) -> None:
        """Each element b of the batch (dim 0 of the values named `batched`) gives alone what it gives
        inside the batch, on one subject (one module built once). `pick(value, case)` takes the
        result compared out of what the call returns. The comparison: `compare(inside, alone,
        case, b)`, or within the dtype's tolerance with `message` ("{b}": the element) when not."""

        def same_alone(inside: torch.Tensor, alone: torch.Tensor, case: Case, b: int) -> None:
            rtol, atol = tolerance(case.dtype)
            if inside.shape != alone.shape or not torch.allclose(inside, alone, rtol=rtol, atol=atol):
                raise Mismatch(message.format(b=b))

        judge = compare or same_alone

        def independent(case: Case, you: Api, ref: Api) -> None:
            self._prepare(ref, case)
            subject = self.subject(you, case)
            whole = pick(self.call(subject, case).value, case)
            for b in range(case[batched[0]].shape[0]):
                one = Case(
                    {
                        k: v[b : b + 1] if k in batched and isinstance(v, torch.Tensor) else v
                        for k, v in case.values.items()
                    },
                    case.dtype,
                    case.meta,
                )
                judge(whole[b : b + 1], pick(self.call(subject, one).value, one), case, b)

        self._register(name, strategy, independent, options)

    # -- calling -----------------------------------------------------------------------------------
    def subject(self, api: Api, case: Case, f64: bool = False) -> Any:
        """What is called: the Api (a function), or the module built for the case."""
        return self.build(api, case, f64=f64) if self.build else api

    def outcome(self, api: Api, case: Case, f64: bool = False, **probe) -> Outcome:
        return self.call(self.subject(api, case, f64), case, f64=f64, **probe)

    def _prepare(self, ref: Api, case: Case) -> None:
        if self.prepare:
            self.prepare(ref, case)

    def _expect_unchanged(self, outcome: Outcome, case: Case) -> None:
        sent = {n: case.as_dtype(n) for item in self.inputs for n in _names(item)}
        if any(isinstance(item, tuple) for item in self.inputs):  # compare a tuple argument item by item
            after = list(outcome.args_after or [])
            after += [None] * (len(self.inputs) - len(after))
            flat = []
            for item, got in zip(self.inputs, after):
                if not isinstance(item, tuple):
                    flat.append(got)
                else:
                    flat += list(got) if isinstance(got, (tuple, list)) else [None] * len(item)
            outcome = Outcome(outcome.value, args_after=flat)
        expect_inputs_unchanged(outcome, sent)

    def _register(self, name: str, strategy, fn: Callable, options: dict) -> None:
        check(self.exercise, name, strategy if strategy is not None else self.case, **options)(fn)


def declare(exercise: str, call: Callable[..., Outcome], **how) -> Declared:
    """An exercise's recurring checks: see Declared. Lists (inputs, wrt) may be given as lists."""
    for key in ("inputs", "wrt"):
        if key in how:
            how[key] = tuple(tuple(n) if isinstance(n, list) else n for n in how[key])
    return Declared(exercise, call, **how)


def _names(item: str | tuple[str, ...]) -> tuple[str, ...]:
    return item if isinstance(item, tuple) else (item,)


__all__ = ["Declared", "close", "declare", "pair_close"]
