"""Checks for day16/recipe.py: the Noam schedule and label-smoothed cross-entropy."""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from hypothesis import strategies as st

from quizgrader.checks import recurring
from quizgrader.checks.common import expect_raises
from quizgrader.checks.compare import Mismatch, describe, expect_close, expect_shape, expect_tensor
from quizgrader.checks.registry import check
from quizgrader.checks.strategies import Case, dtypes, randn, seeds

NOAM = "day16.recipe.noam_lr"
SMOOTHED = "day16.recipe.label_smoothed_cross_entropy"


# -- noam_lr -------------------------------------------------------------------------------------
def lr(api, step: int, d_model: int, warmup: int, **kw) -> float:
    got = api("recipe.noam_lr", step, d_model, warmup, **kw)
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise Mismatch(
            f"noam_lr({step}, {d_model}, {warmup}) returned {describe(got)}; return a float", "type"
        )
    return float(got)


schedules = st.tuples(
    st.integers(1, 200_000),
    st.sampled_from([16, 64, 512, 1024]),
    st.integers(1, 8000),
    st.sampled_from([1.0, 2.0, 0.5]),
)


@check(NOAM, "equals factor·d_model^-0.5·min(step^-0.5, step·warmup^-1.5) at drawn values", schedules)
def noam_closed_form(case, you, ref):
    step, d, warmup, factor = case
    got = lr(you, step, d, warmup, factor=factor)
    want = lr(ref, step, d, warmup, factor=factor)
    if not math.isclose(got, want, rel_tol=1e-9, abs_tol=0.0):
        raise Mismatch(
            f"noam_lr(step={step}, d_model={d}, warmup_steps={warmup}, factor={factor}) = {got:.6g}, "
            f"expected {want:.6g}: factor · d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5)"
        )


@check(
    NOAM,
    "rises until step = warmup_steps, peaks there, then decays",
    st.tuples(st.integers(2, 4000), st.sampled_from([64, 512])),
    weight=0.5,
)
def noam_peak(case, you, ref):
    warmup, d = case
    steps = sorted({1, max(1, warmup // 2), warmup - 1, warmup, warmup + 1, 2 * warmup, 10 * warmup})
    values = [lr(you, s, d, warmup) for s in steps]
    peak = steps[values.index(max(values))]
    shown = ", ".join(f"{s}: {v:.3g}" for s, v in zip(steps, values))
    if peak != warmup:
        raise Mismatch(
            f"the largest rate is at step {peak}, not at warmup_steps = {warmup} ({shown}): the "
            "linear warmup and the step^-0.5 decay meet at step = warmup_steps"
        )
    before = [v for s, v in zip(steps, values) if s <= warmup]
    after = [v for s, v in zip(steps, values) if s >= warmup]
    if any(a >= b for a, b in pairwise(before)) or any(a <= b for a, b in pairwise(after)):
        raise Mismatch(
            f"the rate must rise strictly up to step {warmup} and fall strictly after it ({shown})"
        )


@check(NOAM, "raises ValueError for step < 1 (steps count from 1)", st.sampled_from([0, -1]), weight=0.2)
def noam_step_zero(step, you, ref):
    expect_raises(
        lambda: lr(you, step, 512, 4000),
        "ValueError",
        f"noam_lr({step}, 512, 4000)",
        "steps count from 1, and step^-0.5 is undefined at 0",
    )


# -- label-smoothed cross-entropy ------------------------------------------------------------------
LOGIT_SCALES = st.sampled_from([1.0, 3.0])


@st.composite
def smoothing_case(draw, ignored: bool = True, scale=LOGIT_SCALES) -> Case:
    N, V, seed = draw(st.integers(1, 8)), draw(st.integers(2, 10)), draw(seeds)
    g = torch.Generator().manual_seed(seed + 1)
    targets = torch.randint(0, V, (N,), generator=g)
    ignore_index = draw(st.sampled_from([-100, 0]))
    if ignored and draw(st.booleans()):
        targets = targets.masked_fill(torch.rand(N, generator=g) < 0.3, ignore_index)
    if bool((targets == ignore_index).all()):
        targets[0] = 1  # at least one row counts (V >= 2)
    eps = draw(st.sampled_from([0.0, 0.1, 0.2, 0.5]))
    return Case(
        {
            "logits": randn(seed, N, V, scale=draw(scale)),
            "targets": targets,
            "epsilon": eps,
            "ignore_index": ignore_index,
        },
        draw(dtypes),
    )


def run_ls(api, case: Case, f64: bool = False, **kw):
    get = case.f64 if f64 else case.as_dtype
    kwargs = {} if case["ignore_index"] == -100 else {"ignore_index": case["ignore_index"]}
    return api.call(
        "recipe.label_smoothed_cross_entropy", get("logits"), case["targets"], case["epsilon"], **kwargs, **kw
    )


def loss_of(outcome) -> torch.Tensor:
    return expect_loss(outcome.value)


def expect_loss(got) -> torch.Tensor:
    got = expect_tensor(got, "loss")
    expect_shape(got, (), "loss")
    return got


smoothed = recurring.declare(
    SMOOTHED,
    run_ls,
    case=smoothing_case(),
    inputs=["logits", "targets"],
    wrt=["logits"],
    compare=lambda got, want, case: expect_close(expect_loss(got), want, "loss", dtype=case.dtype),
)
smoothed.matches(
    "equals F.cross_entropy(label_smoothing=eps, ignore_index=...): "
    "(1-eps) on the target, eps/V on every class",
    weight=1.5,
)
smoothed.matches("is stable for logits of ±1e4 (no inf or NaN)", smoothing_case(scale=st.just(1e4)))


@check(
    SMOOTHED,
    "adding a constant to a row of logits changes nothing",
    st.tuples(smoothing_case(), st.floats(-50, 50)),
    weight=0.5,
)
def ls_shift(case, you, ref):
    case, c = case
    a = loss_of(run_ls(you, case)).to(torch.float64)
    shifted = Case(dict(case.values), case.dtype)
    shifted.values["logits"] = case["logits"] + c
    b = loss_of(run_ls(you, shifted)).to(torch.float64)
    if not torch.allclose(a, b, rtol=1e-4, atol=1e-4):
        raise Mismatch(
            f"the loss is {float(a):.6g}, but {float(b):.6g} after adding {c:.3g} to every logit: "
            "softmax, and so the loss, does not change when a row's logits all move together"
        )


@check(SMOOTHED, "every row ignored gives NaN, as F.cross_entropy does", seeds, weight=0.2)
def ls_all_ignored(seed, you, ref):
    logits = randn(seed, 3, 5).float()
    got = loss_of(you.call("recipe.label_smoothed_cross_entropy", logits, torch.full((3,), -100), 0.1))
    if not torch.isnan(got):
        raise Mismatch(
            f"with every target equal to ignore_index the loss is {float(got):.4g}; the mean over no "
            "rows is 0/0 = NaN (F.cross_entropy gives NaN too), so divide by the number of kept rows"
        )


smoothed.gradients(
    "leaves the logits unchanged and passes gradients back to them", weight=0.5, unchanged=True
)
