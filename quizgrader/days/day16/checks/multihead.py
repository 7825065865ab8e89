"""Checks for day16/multihead.py: MultiHeadAttention, self- and cross-attention."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from quizgrader.checks import recurring
from quizgrader.checks.api import LearnerError
from quizgrader.checks.common import expect_parameters, expect_raises
from quizgrader.checks.compare import (
    Mismatch,
    expect_close,
    expect_shape,
    expect_tensor,
    expect_tuple,
    tolerance,
)
from quizgrader.checks.registry import check
from quizgrader.checks.strategies import Case, causal, model_dtypes, randn, random_mask, seeds, untiered

MHA = "day16.multihead.MultiHeadAttention"
NAME = "multihead.MultiHeadAttention"
PROJECTIONS = ("W_q", "W_k", "W_v", "W_o")


def weights_for(d: int, seed: int, bias: bool = False) -> dict[str, torch.Tensor]:
    state = {f"{p}.weight": randn(seed + i, d, d, scale=d**-0.5) for i, p in enumerate(PROJECTIONS)}
    if bias:
        state |= {f"{p}.bias": randn(seed + 10 + i, d, scale=0.1) for i, p in enumerate(PROJECTIONS)}
    return state


@st.composite
def mha_case(draw, cross: bool | None = None, masks=("none", "causal", "keys"), heads=(1, 2, 4)) -> Case:
    h = draw(st.sampled_from(heads))
    d = h * draw(st.integers(1, 3))
    B, T = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    is_cross = draw(st.booleans()) if cross is None else cross
    S = draw(st.integers(1, 5)) if is_cross else T
    seed = draw(seeds)
    kind = draw(st.sampled_from(masks))
    mask = {"none": None, "causal": causal(T, S), "keys": random_mask(seed + 5, (B, 1, 1, S))}[kind]
    return Case(
        {
            "x": randn(seed, B, T, d),
            "context": randn(seed + 1, B, S, d) if is_cross else None,
            "mask": mask,
            "state": weights_for(d, seed + 2),
        },
        draw(model_dtypes),
        {"h": h, "d": d, "cross": is_cross, "mask": kind},
    )


def build(api, case: Case, f64: bool = False):
    """The module, in the case's dtype, with the case's weights."""
    dtype = torch.float64 if f64 else case.dtype
    m = api.new(NAME, case.meta["d"], case.meta["h"])
    m.to(dtype)
    m.load_state_dict({k: v.to(dtype) for k, v in case["state"].items()})
    return m


def forward(m, case: Case, f64: bool = False, **kw):
    get = case.f64 if f64 else case.as_dtype
    kwargs = {"mask": case["mask"]}
    if case["context"] is not None:
        kwargs["context"] = get("context")
    return m.call(get("x"), **kwargs, **kw)


@check(
    MHA,
    "raises ValueError when d_model is not divisible by num_heads",
    st.sampled_from([(10, 3), (6, 4), (5, 2), (8, 3)]),
    weight=0.3,
)
def mha_divisibility(case, you, ref):
    d, h = case
    expect_raises(
        lambda: you.new(NAME, d, h),
        "ValueError",
        f"MultiHeadAttention({d}, {h})",
        f"{d} features cannot be split into {h} equal heads (d_model % num_heads != 0)",
    )


@check(
    MHA,
    "has W_q, W_k, W_v, W_o: nn.Linear(d_model, d_model), biases only when asked",
    st.tuples(st.sampled_from([(4, 2), (6, 3), (8, 1)]), st.booleans()),
    weight=0.3,
)
def mha_parameters(case, you, ref):
    (d, h), bias = case
    expect_parameters(you, ref, MHA, (d, h), {"bias": bias})


mha = recurring.declare(
    MHA, forward, build=build, wrt=["x"], params=True, compare=recurring.pair_close(("out", "weights"))
)
mha.matches(
    "matches the reference with the same weights (self- and cross-attention, masks)", mha_case(), weight=1.5
)


@check(MHA, "with one head equals W_o(attention(W_q x, W_k x, W_v x))", mha_case(cross=False, heads=(1,)))
def mha_one_head(case, you, ref):
    out = expect_tuple(forward(build(you, case), case).value, ("out", "weights"))[0]
    x, s = case.f64("x"), {k: v.to(torch.float64) for k, v in case["state"].items()}
    q, k, v = (x @ s[f"{p}.weight"].T for p in ("W_q", "W_k", "W_v"))  # (B, T, d) each
    heads = (t.unsqueeze(1) for t in (q, k, v))  # (B, 1, T, d): one head
    attended = ref("attention.scaled_dot_product_attention", *heads, mask=case["mask"])[0].squeeze(1)
    expect_close(out, attended @ s["W_o.weight"].T, "out", dtype=case.dtype)


@check(
    MHA,
    "each head's weights depend only on its own slice of W_q and W_k",
    mha_case(cross=False, masks=("none",), heads=(2, 4)),
)
def mha_head_slices(case, you, ref):
    h, d = case.meta["h"], case.meta["d"]
    d_k = d // h
    w0 = expect_tuple(forward(build(you, case), case).value, ("out", "weights"))[1]
    expect_shape(
        expect_tensor(w0, "weights"),
        (case["x"].shape[0], h, case["x"].shape[1], case["x"].shape[1]),
        "weights",
    )
    changed = Case(dict(case.values), case.dtype, case.meta)
    state = dict(case["state"])
    state["W_q.weight"] = state["W_q.weight"].clone()
    state["W_q.weight"][(h - 1) * d_k :] *= -3.0  # only the last head's rows
    changed.values["state"] = state
    w1 = expect_tuple(forward(build(you, changed), changed).value, ("out", "weights"))[1]
    _rtol, atol = tolerance(case.dtype)
    moved = (w0[:, : h - 1] - w1[:, : h - 1]).abs()
    if moved.max() > 10 * atol:
        head = int((moved == moved.max()).nonzero()[0][1])
        raise Mismatch(
            f"changing only the rows of W_q that belong to head {h - 1} (features "
            f"{(h - 1) * d_k}..{d - 1}) changed the weights of head {head}: head i must use "
            "features [i*d_k, (i+1)*d_k) of each projection (view to (B, T, h, d_k), then "
            "transpose(1, 2))"
        )


@check(MHA, "cross-attention takes K and V from context", mha_case(cross=True, masks=("none", "keys")))
def mha_cross(case, you, ref):
    B, T, S = case["x"].shape[0], case["x"].shape[1], case["context"].shape[1]
    out, w = expect_tuple(forward(build(you, case), case).value, ("out", "weights"))
    expect_shape(expect_tensor(w, "weights"), (B, case.meta["h"], T, S), "weights (B, h, T, S)")
    want = forward(build(ref, case, f64=True), case, f64=True).value
    expect_close(out, want[0], "out", dtype=case.dtype)


@check(
    MHA,
    "causal: with a causal mask, later positions never change earlier outputs",
    mha_case(cross=False, masks=("causal",)).filter(lambda c: c["x"].shape[1] > 1),
)
def mha_causal(case, you, ref):
    m = build(you, case)
    a = expect_tuple(forward(m, case).value, ("out", "weights"))[0]
    later = Case(dict(case.values), case.dtype, case.meta)
    x = case["x"].clone()
    x[:, -1] = randn(3, x.shape[0], x.shape[2]) * 4
    later.values["x"] = x
    b = expect_tuple(forward(m, later).value, ("out", "weights"))[0]
    _rtol, atol = tolerance(case.dtype)
    moved = (expect_tensor(a, "out")[:, :-1] - b[:, :-1]).abs()
    if moved.max() > 10 * atol:
        raise Mismatch(
            "with a causal mask, changing the last position changed earlier outputs: pass the "
            "mask on to the attention of every head"
        )


mha.gradients("passes gradients to x, context and every weight", mha_case().map(untiered), weight=0.5)


@check(
    MHA,
    "its ValueError says both numbers, d_model and num_heads",
    st.sampled_from([(10, 3), (6, 4), (5, 2), (8, 3)]),
    weight=0.3,
)
def mha_divisibility_message(case, you, ref):
    d, h = case
    try:
        you.new(NAME, d, h)
    except LearnerError as e:
        message = str(e.info.get("message") or "")
        if e.info["type"] == "ValueError" and not (str(d) in message and str(h) in message):
            raise Mismatch(
                f"MultiHeadAttention({d}, {h}) raised ValueError({message!r}); say both numbers in the "
                f"message ({d} and {h}), as the contract asks: the learner who meets it must see which "
                "sizes do not divide",
                "raises",
            ) from None
