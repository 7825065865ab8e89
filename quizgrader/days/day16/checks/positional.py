"""Checks for day16/positional.py: sinusoidal and learned encodings, RoPE and ALiBi."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from quizgrader.checks import recurring
from quizgrader.checks.common import expect_grads_close, expect_on_meta, expect_raises
from quizgrader.checks.compare import (
    Mismatch,
    expect_close,
    expect_dtype,
    expect_shape,
    expect_tensor,
    tolerance,
)
from quizgrader.checks.registry import check
from quizgrader.checks.strategies import Case, dtypes, lead_dims, randn, seeds

SINUSOIDAL = "day16.positional.sinusoidal_encoding"
LEARNED = "day16.positional.LearnedPositionalEmbedding"
ROPE = "day16.positional.apply_rope"
SLOPES = "day16.positional.alibi_slopes"
BIAS = "day16.positional.alibi_bias"

evens = st.integers(1, 16).map(lambda n: 2 * n)


# -- sinusoidal ------------------------------------------------------------------------------
def table(api, T: int, d: int) -> torch.Tensor:
    got = expect_tensor(api("positional.sinusoidal_encoding", T, d), "PE")
    expect_shape(got, (T, d), "PE")
    return got


@check(
    SINUSOIDAL,
    "matches the reference: float32 (T, d), sin on even features and +cos on odd ones",
    st.tuples(st.integers(1, 64), evens),
)
def sinusoidal_matches(case, you, ref):
    T, d = case
    got = table(you, T, d)
    expect_dtype(got, torch.float32, "PE")
    expect_close(
        got, ref("positional.sinusoidal_encoding", T, d).to(torch.float64), "PE", dtype=torch.float32
    )


@check(SINUSOIDAL, "the worked example: positions 0, 1 and 100 at d_model = 8")
def sinusoidal_worked_example(case, you, ref):
    got = table(you, 101, 8).to(torch.float64)
    want = ref("positional.sinusoidal_encoding", 101, 8).to(torch.float64)
    for p in (0, 1, 100):
        wrong = (got[p] - want[p]).abs() > 1e-3
        if wrong.any():
            i = int(wrong.nonzero()[0])
            shown = ", ".join(f"{v:.3f}" for v in got[p].tolist())
            expected = ", ".join(f"{v:.3f}" for v in want[p].tolist())
            raise Mismatch(
                f"PE[{p}] = [{shown}], expected [{expected}] (first difference at feature {i}). "
                f"Row p is position p, counted from 0; feature 2i is sin(p / 10000^(2i/d)) and "
                f"2i+1 is cos of the same angle."
            )


@check(
    SINUSOIDAL,
    "PE[p + k] is PE[p] with pair i rotated by k / 10000^(2i/d): a fixed linear map",
    st.tuples(st.integers(2, 40), evens, st.integers(1, 20)),
)
def sinusoidal_shift(case, you, ref):
    T, d, k = case
    pe = table(you, T + k, d).to(torch.float64)
    omega = torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float64) / d)
    c, s = torch.cos(k * omega), torch.sin(k * omega)
    a, b = pe[:T, 0::2], pe[:T, 1::2]
    # Rotating each (even, odd) pair by the angle k * omega_i: true for sin/cos in either order
    # and sign, false for any other frequency ladder.
    moved = torch.stack((a * c + b * s, -a * s + b * c), -1).flatten(-2)
    moved_other = torch.stack((a * c - b * s, a * s + b * c), -1).flatten(-2)
    err = torch.minimum((moved - pe[k:]).abs().amax(), (moved_other - pe[k:]).abs().amax())
    if err > 1e-4:
        raise Mismatch(
            f"PE[p + {k}] is not PE[p] rotated pair by pair by {k}·10000^(-2i/{d}) (off by up to "
            f"{float(err):.3g}): the frequencies are not 10000^(-2i/d) for pair i = 0 .. d/2-1 "
            "(the exponent is 2i/d, where 2i is the even feature index)"
        )


# -- learned -----------------------------------------------------------------------------------
@st.composite
def learned_case(draw) -> Case:
    max_len, d, B = draw(st.integers(1, 8)), draw(st.integers(1, 6)), draw(st.integers(1, 3))
    T, seed = draw(st.integers(1, max_len)), draw(seeds)
    return Case(
        {"x": randn(seed, B, T, d), "state": {"embedding.weight": randn(seed + 1, max_len, d)}},
        draw(dtypes),
        {"max_len": max_len, "d": d},
    )


def learned(api, case: Case, f64: bool = False):
    dtype = torch.float64 if f64 else case.dtype
    m = api.new("positional.LearnedPositionalEmbedding", case.meta["max_len"], case.meta["d"])
    state = m.state_dict()
    if set(state) != {"embedding.weight"}:
        raise Mismatch(
            f"the module's parameters are {sorted(state)}; the contract asks for one "
            "submodule `embedding = nn.Embedding(max_len, d_model)`",
            "parameters",
        )
    m.to(dtype)
    m.load_state_dict({k: v.to(dtype) for k, v in case["state"].items()})
    return m


def add_to(m, case: Case, f64: bool = False, **kw):
    return m.call(case.f64("x") if f64 else case.as_dtype("x"), **kw)


learned_embedding = recurring.declare(
    LEARNED, add_to, build=learned, case=learned_case(), wrt=["x"], params=True
)
learned_embedding.matches("adds the vectors of positions 0 .. T-1 to x")


@check(
    LEARNED,
    "raises ValueError when T > max_len, and accepts T = max_len",
    st.tuples(st.integers(1, 6), st.integers(1, 4)),
    weight=0.3,
)
def learned_too_long(case, you, ref):
    max_len, d = case
    m = you.new("positional.LearnedPositionalEmbedding", max_len, d)
    expect_shape(expect_tensor(m(randn(1, 1, max_len, d).float()), "out"), (1, max_len, d), "out")
    expect_raises(
        lambda: m(randn(2, 1, max_len + 1, d).float()),
        "ValueError",
        f"a sequence of {max_len + 1} positions with max_len = {max_len}",
        "there is no learned vector past position max_len - 1, so check T against max_len first",
    )


learned_embedding.gradients("passes gradients to x and to the embedding table", weight=0.5)


# -- RoPE --------------------------------------------------------------------------------------
# The contract admits angles computed in float32. Such an angle is off by up to about 1e-6 of itself
# (6e-8 a rounding, and base^(-2i/d) magnifies the rounding of its exponent by ln(base) = 9.2), so a
# pair may come out rotated by up to ROPE_ANGLE × its angle too far or too short, and each of its
# entries be off by that times the pair's length. Every RoPE check admits that, and only that, on
# top of what it admits anyway: the values, the gradients and the relative scores alike.
ROPE_ANGLE = 2e-6


def rope_tolerance(
    want: torch.Tensor, positions: torch.Tensor | None, dtype: torch.dtype
) -> tuple[float, float]:
    """(rtol, atol) for a RoPE result or its gradient `want`, of the dtype's: its atol grows by what
    float32 angles up to the furthest position cost the longest pair of `want` (a rotation, or its
    transpose for the gradient, keeps every pair's length)."""
    rtol, atol = tolerance(dtype)
    if want.numel():
        furthest = float(positions.abs().max()) if positions is not None else want.shape[-2] - 1
        atol += ROPE_ANGLE * furthest * float(want.unflatten(-1, (-1, 2)).norm(dim=-1).max())
    return rtol, atol


@st.composite
def rope_case(draw) -> Case:
    lead = tuple(draw(lead_dims))
    T, d, seed = draw(st.integers(1, 6)), draw(evens.filter(lambda n: n <= 16)), draw(seeds)
    kind = draw(st.sampled_from(["default", "explicit", "broadcast"]))
    positions = None
    if kind == "explicit":
        positions = torch.tensor(draw(st.lists(st.integers(0, 300), min_size=T, max_size=T)))
    elif kind == "broadcast" and lead:
        g = torch.Generator().manual_seed(seed + 3)
        positions = torch.randint(0, 300, (*lead[:1], *([1] * (len(lead) - 1)), T), generator=g)
    base = draw(st.sampled_from([10000.0, 10000.0, 500.0]))
    return Case(
        {"x": randn(seed, *lead, T, d), "positions": positions, "base": base}, draw(dtypes), {"kind": kind}
    )


def run_rope(api, case: Case, f64: bool = False, **kw):
    get = case.f64 if f64 else case.as_dtype
    kwargs = {} if case["positions"] is None else {"positions": case["positions"]}
    if case["base"] != 10000.0:
        kwargs["base"] = case["base"]
    return api.call("positional.apply_rope", get("x"), **kwargs, **kw)


def rope_close(got, want: torch.Tensor, case: Case) -> None:
    rtol, atol = rope_tolerance(want, case["positions"], case.dtype)
    expect_close(got, want, "out", dtype=case.dtype, rtol=rtol, atol=atol)


def rope_grads_close(yours, want, case: Case) -> None:
    grad = (want.grads or {}).get("args", [None])[0]
    rtol, atol = rope_tolerance(grad, case["positions"], case.dtype) if grad is not None else (None, None)
    expect_grads_close(yours, want, ["x"], case.dtype, rtol=rtol, atol=atol)


rope = recurring.declare(
    ROPE, run_rope, case=rope_case(), inputs=["x"], compare=rope_close, grads=rope_grads_close
)
rope.matches(
    "matches the reference: interleaved pairs (2i, 2i+1) rotated by position·base^(-2i/d)", weight=1.5
)


def rope_at(api, x: torch.Tensor, positions: list[int]) -> torch.Tensor:
    out = expect_tensor(api("positional.apply_rope", x, positions=torch.tensor(positions)), "out")
    expect_shape(out, x.shape, "out")
    return out.to(torch.float64)


@check(ROPE, "keeps the length of every pair and is the identity at position 0", rope_case())
def rope_rotation(case, you, ref):
    x = case.as_dtype("x")
    T = x.shape[-2]
    out = rope_at(you, x, [0] * T)
    if (out - x.to(torch.float64)).abs().max() > 1e-5:
        raise Mismatch(
            "at position 0 the angle is 0, so apply_rope must return x unchanged; yours changes it "
            "(are positions counted from 1, or is something besides the rotation applied?)"
        )
    out = rope_at(you, x, list(range(3, 3 + T)))

    def pairs(t):
        return t.unflatten(-1, (-1, 2)).norm(dim=-1)

    err = (pairs(out) - pairs(x.to(torch.float64))).abs().max()
    if err > 1e-4 * (1 + float(x.abs().max())):
        raise Mismatch(
            f"the length of a feature pair changed by up to {float(err):.3g}: a rotation keeps "
            "each pair's length, so every pair must be rotated as a 2-D vector, with the same "
            "angle for both of its features"
        )


@check(
    ROPE,
    "relative: <rope(q, m), rope(k, n)> depends only on m - n",
    st.tuples(
        evens.filter(lambda n: n <= 16), seeds, st.integers(0, 50), st.integers(0, 50), st.integers(1, 100)
    ),
)
def rope_relative(case, you, ref):
    d, seed, m, n, shift = case
    q, k = randn(seed, 1, d), randn(seed + 1, 1, d)

    def score(a, b):
        return float((rope_at(you, q, [a]) * rope_at(you, k, [b])).sum())

    before, after = score(m, n), score(m + shift, n + shift)
    # float32 angles move score(a, b) = sum_i |q_i| |k_i| cos(angle) by up to ROPE_ANGLE (a + b) per unit
    lengths = float((q.unflatten(-1, (-1, 2)).norm(dim=-1) * k.unflatten(-1, (-1, 2)).norm(dim=-1)).sum())
    if abs(before - after) > 1e-6 * (1 + abs(before)) + ROPE_ANGLE * 2 * (m + n + shift) * lengths:
        raise Mismatch(
            f"q·k is {before:.6g} at positions ({m}, {n}) but {after:.6g} at ({m + shift}, {n + shift}): "
            "with RoPE the score may depend only on the offset m - n, which holds when query and key "
            "pairs are rotated by angles proportional to their positions with the same frequencies"
        )


rope.gradients("leaves x unchanged and passes gradients back to it", weight=0.5, unchanged=True)


# -- ALiBi ---------------------------------------------------------------------------------------
def slopes_of(api, h: int) -> torch.Tensor:
    got = expect_tensor(api("positional.alibi_slopes", h), "slopes")
    expect_shape(got, (h,), "slopes")
    return got


@check(SLOPES, "2^(-8k/h), k = 1 .. h, when h is a power of two", st.sampled_from([1, 2, 4, 8, 16, 32]))
def slopes_power_of_two(h, you, ref):
    got = slopes_of(you, h)
    expect_dtype(got, torch.float32, "slopes")
    expect_close(got, ref("positional.alibi_slopes", h).to(torch.float64), "slopes", dtype=torch.float32)


@check(
    SLOPES,
    "other head counts follow the paper: the lower power of two, then every other slope of twice it",
    st.sampled_from([3, 5, 6, 7, 12, 20]),
)
def slopes_other(h, you, ref):
    got = slopes_of(you, h)
    want = ref("positional.alibi_slopes", h).to(torch.float64)
    n = 2 ** math.floor(math.log2(h))
    try:
        expect_close(got, want, "slopes", dtype=got.dtype)
    except Mismatch as e:
        raise Mismatch(
            f"{e}\nFor h = {h}: take the {n} slopes of h = {n}, then the slopes at even indices "
            f"(0, 2, 4, ...) of h = {2 * n}, {h - n} of them."
        ) from None


@st.composite
def bias_case(draw) -> tuple[int, int]:
    return draw(st.sampled_from([1, 2, 3, 4, 6, 8])), draw(st.integers(1, 10))


def bias_of(api, h: int, T: int) -> torch.Tensor:
    got = expect_tensor(api("positional.alibi_bias", h, T), "bias")
    expect_shape(got, (h, T, T), "bias")
    expect_dtype(got, torch.float32, "bias")
    return got.to(torch.float64)


@check(
    BIAS,
    "changes causal attention exactly as -slope_k·(i - j) does (a constant per row is free)",
    bias_case(),
)
def bias_effect(case, you, ref):
    h, T = case
    got, want = bias_of(you, h, T), ref("positional.alibi_bias", h, T).to(torch.float64)
    below = torch.ones(T, T, dtype=torch.bool).tril()
    diff = (got - want).masked_fill(~below, 0.0)
    # A constant along a query row cancels in the softmax: compare with the diagonal's difference.
    off = (diff - diff.diagonal(dim1=-2, dim2=-1)[..., None]).masked_fill(~below, 0.0).abs()
    if off.max() > 1e-5:
        k, i, j = (int(v) for v in (off == off.max()).nonzero()[0])
        raise Mismatch(
            f"head {k}, query {i}, key {j}: bias {float(got[k, i, j]):.4g}, expected "
            f"{float(want[k, i, j]):.4g} (up to a constant per row). On and below the diagonal the "
            "bias is -slope_k · (i - j): zero for the query itself, more negative for keys farther "
            "back, with head k's own slope"
        )


@check(
    BIAS,
    "keys farther back are penalised more, by each head's own slope",
    bias_case().filter(lambda c: c[1] > 2),
)
def bias_monotone(case, you, ref):
    h, T = case
    got = bias_of(you, h, T)
    last = got[:, T - 1, :T]  # the last query sees every key; key T-1 is itself
    steps = last[:, 1:] - last[:, :-1]  # moving one key closer
    if (steps <= 0).any():
        k = int((steps <= 0).nonzero()[0][0])
        raise Mismatch(
            f"head {k}: the bias of the last query does not grow as the key gets closer "
            f"({', '.join(f'{v:.3g}' for v in last[k].tolist())}); distant keys must get the "
            "larger penalty (a negative bias)"
        )


@check(
    LEARNED,
    "makes its positions on x's device (checked on the meta device, no GPU needed)",
    st.tuples(st.integers(1, 6), st.integers(1, 4)),
    weight=0.3,
    needs=("meta",),
)
def learned_on_device(case, you, ref):
    T, d = case
    m = you.new("positional.LearnedPositionalEmbedding", 8, d)
    expect_on_meta(
        you,
        LEARNED,
        f"LearnedPositionalEmbedding(8, {d}) on x of shape (1, {T}, {d})",
        [randn(0, 1, T, d).float()],
        handle=m,
    )
