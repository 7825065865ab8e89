"""Checks for day09/rnn.py: the vanishing product of Jacobians in a plain RNN, and the LSTM cell.

The RNN's norms are compared with the reference in float64, then held to the bound the course
derives (every step stretches by at most ||W_hh||_2, since tanh' <= 1), and measured over 50
steps. The LSTM cell is built on both sides with the same weights; its cell-state Jacobian is
measured on the learner's cell and compared with the forget gate computed here from the weights.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from quizgrader.checks import recurring
from quizgrader.checks.api import LearnerError, Outcome
from quizgrader.checks.common import GRAD_SEED, expect_grads_close, expect_parameters
from quizgrader.checks.compare import (
    Mismatch,
    advice,
    expect_close,
    expect_shape,
    expect_tensor,
    expect_tuple,
    tolerance,
)
from quizgrader.checks.registry import check
from quizgrader.checks.strategies import Case, dtypes, randn, seeds

NORMS = "day09.rnn.rnn_jacobian_norms"
LSTM = "day09.rnn.LSTMCell"
CELL = "rnn.LSTMCell"
RNN_ARGS = ("W_hh", "W_xh", "b", "xs", "h0")


# -- the product of Jacobians in a plain RNN ----------------------------------------------------
def with_spectral_norm(W: torch.Tensor, s: float) -> torch.Tensor:
    return W * (s / torch.linalg.matrix_norm(W, ord=2))


INPUT_SCALES = st.sampled_from([0.3, 1.0, 2.0])
HIDDEN = st.integers(1, 5)
SPECTRAL_NORMS = st.sampled_from([0.5, 0.9, 1.1, 1.5])


@st.composite
def rnn_case(
    draw,
    inputs: st.SearchStrategy = INPUT_SCALES,
    hidden: st.SearchStrategy = HIDDEN,
    norms: st.SearchStrategy = SPECTRAL_NORMS,
    dtype: st.SearchStrategy = dtypes,
) -> Case:
    """One sequence: W_hh with a chosen spectral norm s, inputs of a chosen scale (large ones
    saturate tanh, so diag(1 - h_t^2) differs from step to step and the order of the product
    shows)."""
    H, d_in, T, seed = draw(hidden), draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(seeds)
    s, scale = draw(norms), draw(inputs)
    return Case(
        {
            "W_hh": with_spectral_norm(randn(seed, H, H), s),
            "W_xh": randn(seed + 1, H, d_in, scale=d_in**-0.5),
            "b": randn(seed + 2, H, scale=0.3 * scale),
            "xs": randn(seed + 3, T, d_in, scale=scale),
            "h0": torch.tanh(randn(seed + 4, H, scale=scale)),
        },
        draw(dtype),
        {"norm": s},
    )


def run_norms(api, case: Case, f64: bool = False, **kw) -> Outcome:
    get = case.f64 if f64 else case.as_dtype
    return api.call("rnn.rnn_jacobian_norms", *(get(n) for n in RNN_ARGS), **kw)


def norms_of(api, case: Case) -> torch.Tensor:
    return expect_norms(run_norms(api, case).value, case)


def expect_norms(got, case: Case) -> torch.Tensor:
    got = expect_tensor(got, "norms")
    expect_shape(got, case["xs"].shape[:1], "norms (T,): one norm per step t = 1 .. T")
    return got


def close(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> bool:
    rtol, atol = tolerance(dtype)
    return a.shape == b.shape and torch.allclose(
        a.to(torch.float64), b.to(torch.float64), rtol=rtol, atol=atol
    )


def expect_grads_with_overview(
    yours: Outcome, want: Outcome, names: list[str], dtype: torch.dtype, params: bool = False
) -> None:
    """expect_grads_close, whose message ends with the verdict on every gradient ("dL/dx wrong;
    dL/dbias_hh missing; ..."), so a learner sees at once which paths are right."""
    try:
        expect_grads_close(yours, want, names, dtype, params=params)
    except Mismatch as e:
        g, r = yours.grads or {}, want.grads or {}
        if not g.get("graph"):
            raise
        pairs = list(zip(names, g.get("args") or [], r.get("args") or []))
        if params:
            pairs += [(k, (g.get("params") or {}).get(k), v) for k, v in (r.get("params") or {}).items()]
        verdicts = [
            f"dL/d{name} " + ("missing" if got is None else "right" if close(got, exp, dtype) else "wrong")
            for name, got, exp in pairs
            if exp is not None
        ]
        raise Mismatch(f"{e}\n  all gradients: {'; '.join(verdicts)}", e.stage) from None


def norms_advice(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype) -> str:
    """Which part of the computation the learner's numbers point at."""
    if close(got[0], torch.ones((), dtype=torch.float64), dtype) and close(got[1:], want[:-1], dtype):
        return (
            "your first norm is 1, the identity's (∂h_0/∂h_0): these look like the norms for t = 0 .. T-1. "
            "Record the norm after multiplying in each step's Jacobian, so the first entry is ||∂h_1/∂h_0||"
        )
    if not close(got[:1], want[:1], dtype):
        return (
            "already the first step is off: "
            f"||∂h_1/∂h_0||_2 = ||diag(1 - h_1²) W_hh||_2 = {float(want[0]):.6g}, "
            f"yours is {float(got[0]):.6g}. Check the one-step Jacobian (tanh' taken at the new state h_1, "
            "diag(...) on the left of W_hh, i.e. scaling its rows) and that the norm is the spectral norm "
            "(matrix_norm(J, ord=2)), not the Frobenius norm"
        )
    return (
        "the first step is right, later ones are not: check that h is updated every step and that each new "
        "step's Jacobian multiplies the product from the left (J = step @ J): the matrices do not commute"
    )


def norms_close(got, want: torch.Tensor, case: Case) -> None:
    got = expect_norms(got, case)
    with advice(norms_advice(got.to(torch.float64), want, case.dtype)):
        expect_close(got, want, "norms", dtype=case.dtype)


jacobian_norms = recurring.declare(
    NORMS,
    run_norms,
    compare=norms_close,
    grads=lambda yours, want, case: expect_grads_with_overview(yours, want, list(RNN_ARGS), case.dtype),
)
jacobian_norms.matches(
    "matches the reference (float32 and float64, ‖W_hh‖₂ from 0.5 to 1.5)", rnn_case(), weight=1.5
)


def expect_within_bound(got: torch.Tensor, s: float, dtype: torch.dtype, what: str = "") -> None:
    """norms[t-1] <= s^t for t = 1 .. T (s = ||W_hh||_2)."""
    rtol, atol = tolerance(dtype)
    got = got.to(torch.float64)
    steps = torch.arange(1, got.shape[0] + 1, dtype=torch.float64)
    bound = s**steps
    over = got > bound * (1 + 10 * rtol) + atol
    if over.any():
        t = int(over.nonzero()[0]) + 1
        raise Mismatch(
            f"{what}after {t} step(s) your norm is {float(got[t - 1]):.6g}, above ‖W_hh‖₂^{t} = "
            f"{s:g}^{t} = {float(bound[t - 1]):.6g}. Each step multiplies by diag(1 - h_t²) W_hh, and "
            "since 0 < 1 - h_t² <= 1 that factor stretches no vector by more than ‖W_hh‖₂: the "
            "product cannot outgrow ‖W_hh‖₂^t. A norm above it points at the Frobenius norm (use "
            "ord=2), or at an extra identity counted as a step"
        )


@check(
    NORMS,
    "never exceeds ‖W_hh‖₂^t (tanh' ≤ 1), so it vanishes geometrically when ‖W_hh‖₂ < 1",
    rnn_case(inputs=st.just(0.1), hidden=st.integers(2, 5), norms=st.sampled_from([0.5, 0.8, 0.95, 1.2])),
)
def norms_bounded(case, you, ref):
    expect_within_bound(norms_of(you, case), case.meta["norm"], case.dtype)


def orthogonal(seed: int, n: int) -> torch.Tensor:
    q, r = torch.linalg.qr(randn(seed, n, n))
    return q * torch.sign(torch.diagonal(r))


@check(
    NORMS, "measured over 50 steps for ‖W_hh‖₂ = 0.9 and 1.1 (small and saturating inputs): within ‖W_hh‖₂^t"
)
def norms_measured(case, you, ref):
    """Three runs of one 16-unit RNN over T = 50 steps from h0 = 0, all in float64: W_hh = 0.9·Q
    and 1.1·Q for the same orthogonal Q, with small inputs, and 1.1·Q again with inputs large
    enough to saturate tanh."""
    H, d_in, T = 16, 4, 50
    Q = orthogonal(901, H)
    W_xh, h0 = randn(902, H, d_in, scale=d_in**-0.5), torch.zeros(H, dtype=torch.float64)
    runs = {"contracting": (0.9, 0.1), "expanding": (1.1, 0.1), "saturated": (1.1, 1.0)}
    last = {}
    for name, (s, scale) in runs.items():
        xs, b = randn(903, T, d_in, scale=scale), randn(904, H, scale=0.1 * scale)
        got = expect_tensor(you("rnn.rnn_jacobian_norms", s * Q, W_xh, b, xs, h0), "norms")
        expect_shape(got, (T,), "norms (T,)")
        if not torch.isfinite(got).all():
            raise Mismatch(f"norms: not finite for W_hh = {s}·orthogonal over {T} steps")
        expect_within_bound(
            got, s, torch.float64, what=f"with W_hh = {s}·orthogonal and inputs of scale {scale}, "
        )
        last[name] = float(got[-1])
    figures = {
        "steps": T,
        "hidden": H,
        "norm_0.9": last["contracting"],
        "bound_0.9": 0.9**T,
        "norm_1.1": last["expanding"],
        "norm_1.1_saturated": last["saturated"],
    }
    figures["summary"] = (
        f"‖∂h_50/∂h_0‖₂ = {last['contracting']:.2g} with ‖W_hh‖₂ = 0.9 (at most 0.9^50 = {0.9**T:.2g}); "
        f"{last['expanding']:.2g} with 1.1 × orthogonal and small inputs; {last['saturated']:.2g} with 1.1 × "
        "orthogonal once tanh saturates"
    )
    return figures


jacobian_norms.gradients(
    "passes gradients back to W_hh, W_xh, b, xs and h0 (float64)",
    rnn_case(dtype=st.just(torch.float64)),
    weight=0.5,
)


# -- the LSTM cell -------------------------------------------------------------------------------
GATES = ("i", "f", "g", "o")


def lstm_weights(n_in: int, H: int, seed: int) -> dict[str, torch.Tensor]:
    return {
        "weight_ih": randn(seed, 4 * H, n_in, scale=n_in**-0.5),
        "weight_hh": randn(seed + 1, 4 * H, H, scale=H**-0.5),
        "bias_ih": randn(seed + 2, 4 * H, scale=0.5),
        "bias_hh": randn(seed + 3, 4 * H, scale=0.5),
    }


BATCH, CELL_HIDDEN = st.integers(1, 3), st.integers(1, 4)


@st.composite
def lstm_case(draw, batch: st.SearchStrategy = BATCH, hidden: st.SearchStrategy = CELL_HIDDEN) -> Case:
    """A cell's weights, an input batch and a previous state; c is spread wide (scale 2), so
    tanh(c') differs from c' and a missing tanh shows."""
    n_in, H, B, seed = draw(st.integers(1, 4)), draw(hidden), draw(batch), draw(seeds)
    return Case(
        {
            "x": randn(seed + 10, B, n_in),
            "h": torch.tanh(randn(seed + 11, B, H)),
            "c": randn(seed + 12, B, H, scale=2.0),
            "state": lstm_weights(n_in, H, seed),
        },
        draw(dtypes),
        {"args": (n_in, H)},
    )


def build_cell(api, case: Case, f64: bool = False):
    dtype = torch.float64 if f64 else case.dtype
    m = api.new(CELL, *case.meta["args"])
    m.to(dtype)
    m.load_state_dict({k: v.to(dtype) for k, v in case["state"].items()})
    return m


def step(m, case: Case, f64: bool = False, with_state: bool = True, **kw) -> Outcome:
    get = case.f64 if f64 else case.as_dtype
    return m.call(get("x"), (get("h"), get("c")), **kw) if with_state else m.call(get("x"), **kw)


def pair(value, shape) -> tuple[torch.Tensor, torch.Tensor]:
    h, c = expect_tuple(value, ("h", "c"))
    expect_shape(expect_tensor(h, "h"), shape, "h")
    expect_shape(expect_tensor(c, "c"), shape, "c")
    return h, c


def expect_state_close(got, want: tuple, dtype: torch.dtype, where: str = "") -> None:
    """c first: h is computed from it. The message says which of the two paths is wrong."""
    h, c = expect_tuple(got, ("h", "c"))
    with advice(
        "the new cell state c' = f ⊙ c + i ⊙ g is wrong (and h' = o ⊙ tanh(c') with it): check the gate "
        "order (rows i, f, g, o), which gates get σ and which tanh, and that both biases are added"
    ):
        expect_close(c, want[1], f"c{where}", dtype=dtype)
    with advice(
        "c' is right, h' is not: h' = o ⊙ tanh(c'), with the output gate o = σ(rows 3H:4H) and the tanh of "
        "the new cell state"
    ):
        expect_close(h, want[0], f"h{where}", dtype=dtype)


def preactivations(case: Case) -> torch.Tensor:
    """(B, 4H): the gates before their squashing, in float64, from the case's weights."""
    w = {k: v.to(torch.float64) for k, v in case["state"].items()}
    x, h = case.f64("x"), case.f64("h")
    return x @ w["weight_ih"].T + w["bias_ih"] + h @ w["weight_hh"].T + w["bias_hh"]


@check(
    LSTM,
    "has weight_ih (4H, input_size), weight_hh (4H, H), bias_ih and bias_hh (4H,)",
    st.sampled_from([(3, 2), (1, 4), (5, 1)]),
    weight=0.3,
)
def lstm_parameters(case, you, ref):
    expect_parameters(
        you,
        ref,
        LSTM,
        case,
        advice="Register exactly weight_ih, weight_hh, bias_ih and bias_hh as "
        "nn.Parameter (the layout of torch.nn.LSTMCell)",
        shape_advice=": the four gates are stacked along the first axis (4H rows, i, f, g, o), "
        "and weights are (out, in), applied as x @ W.T",
    )


def state_close(got, want: tuple, case: Case) -> None:
    pair(got, case["c"].shape)
    expect_state_close(got, want, case.dtype)


cell = recurring.declare(
    LSTM, step, build=build_cell, case=lstm_case(), inputs=["x", ["h", "c"]], compare=state_close
)
cell.matches("matches the reference with the same weights (float32 and float64)")


@check(LSTM, "state=None means h = c = 0 (of x's dtype and batch shape)", lstm_case(), weight=0.5)
def lstm_zero_state(case, you, ref):
    zero = Case(
        dict(case.values) | {"h": torch.zeros_like(case["h"]), "c": torch.zeros_like(case["c"])},
        case.dtype,
        case.meta,
    )
    m = build_cell(you, case)
    got = step(m, case, with_state=False).value
    pair(got, case["c"].shape)
    expect_state_close(
        got, step(build_cell(ref, zero, f64=True), zero, f64=True).value, case.dtype, " (state=None)"
    )


@check(
    LSTM,
    "accepts an unbatched x (input_size,) and state (H,), as torch.nn.LSTMCell does",
    lstm_case(batch=st.just(1)),
    weight=0.5,
)
def lstm_unbatched(case, you, ref):
    one = Case(
        {k: (v[0] if k in ("x", "h", "c") else v) for k, v in case.values.items()}, case.dtype, case.meta
    )
    zero = Case(
        dict(one.values) | {"h": torch.zeros_like(one["h"]), "c": torch.zeros_like(one["c"])},
        case.dtype,
        case.meta,
    )
    you_m, ref_m = build_cell(you, case), build_cell(ref, case, f64=True)
    for c, with_state, where in ((one, True, " (unbatched)"), (one, False, " (unbatched, state=None)")):
        got = step(you_m, c, with_state=with_state).value
        want = step(ref_m, c if with_state else zero, f64=True).value
        expect_state_close(got, want, case.dtype, where)


def cell_jacobian(m, case: Case) -> torch.Tensor:
    """∂c'/∂c of the learner's cell at the case's first batch row, (H, H), by probing.

    c' = f ⊙ c + i ⊙ g is affine in c (the gates read x and h, never c), so a unit step of c_j
    changes c' by exactly column j of the Jacobian: one batch of H + 1 rows (the state, then the
    state with each coordinate of c raised by 1) measures it in one call, without finite-
    difference error and without trusting the learner's autograd (checked on its own)."""
    H = case.meta["args"][1]
    x, h, c = (case.as_dtype(n)[:1] for n in ("x", "h", "c"))
    xs, hs = x.repeat(H + 1, 1), h.repeat(H + 1, 1)
    cs = c.repeat(H + 1, 1) + torch.cat([torch.zeros(1, H), torch.eye(H)]).to(case.dtype)
    _, c_out = pair(m(xs, (hs, cs)), (H + 1, H))
    return (c_out[1:] - c_out[:1]).to(torch.float64).T  # J[i, j] = ∂c'_i/∂c_j


def jacobian_advice(
    diag: torch.Tensor, pre: torch.Tensor, one_bias: dict[str, torch.Tensor], dtype: torch.dtype
) -> str:
    """Say what the learner's diagonal equals, when it equals something recognisable."""
    H = diag.shape[0]
    candidates = {"1 (no forget gate: c' = c + ...)": torch.ones(H, dtype=torch.float64)}
    for bias, value in one_bias.items():
        candidates[f"σ of rows {H}:{2 * H} without {bias} (both biases belong in every gate)"] = (
            torch.sigmoid(value)
        )
    for k, gate in enumerate(GATES):
        rows = pre[k * H : (k + 1) * H]
        candidates[f"σ of rows {k * H}:{(k + 1) * H} (gate {gate} in the order i, f, g, o)"] = torch.sigmoid(
            rows
        )
        candidates[f"tanh of rows {k * H}:{(k + 1) * H} (gate {gate})"] = torch.tanh(rows)
    for what, value in candidates.items():
        if close(diag, value, dtype):
            return f"; yours is {what}"
    return ""


@check(LSTM, "∂c'/∂c = diag(f): the cell state's path is elementwise, scaled by the forget gate", lstm_case())
def lstm_cell_state_path(case, you, ref):
    H = case.meta["args"][1]
    J = cell_jacobian(build_cell(you, case), case)
    rtol, atol = tolerance(case.dtype)
    off = J - torch.diag(torch.diagonal(J))
    slack = 10 * (atol + rtol * (1 + case.f64("c")[:1].abs().max()))
    if off.abs().max() > slack:
        i, j = (int(v) for v in (off.abs() == off.abs().max()).nonzero()[0])
        raise Mismatch(
            f"∂c'_{i}/∂c_{j} = {float(J[i, j]):.4g}, but c' must depend on c only through f ⊙ c, "
            "elementwise: unit j of the old cell state may only reach unit j of the new one. Do not "
            "feed c into a gate or through a weight matrix"
        )
    pre = preactivations(case)[0]
    f = torch.sigmoid(pre[H : 2 * H])
    one_bias = {
        b: pre[H : 2 * H] - case["state"][b][H : 2 * H].to(torch.float64) for b in ("bias_hh", "bias_ih")
    }
    diag = torch.diagonal(J)
    if ((diag - f).abs() > slack).any():
        j = int((diag - f).abs().argmax())
        raise Mismatch(
            f"∂c'_{j}/∂c_{j} = {float(diag[j]):.6g}, expected the forget gate f_{j} = σ(row {H + j} of the "
            f"stacked pre-activations) = {float(f[j]):.6g}"
            f"{jacobian_advice(diag, pre, one_bias, case.dtype)}. With "
            "c' = f ⊙ c + i ⊙ g, the gradient flowing back along the cell state is only scaled by f: "
            "a gate near 1 lets it pass unchanged, step after step"
        )


@check(LSTM, "h' = o ⊙ tanh(c'): |h'| ≤ |tanh(c')| < 1", lstm_case(), weight=0.5)
def lstm_output_squashed(case, you, ref):
    h, c = (t.to(torch.float64) for t in pair(step(build_cell(you, case), case).value, case["c"].shape))
    rtol, atol = tolerance(case.dtype)
    over = h.abs() > torch.tanh(c).abs() * (1 + 10 * rtol) + 10 * atol
    if over.any():
        idx = [int(v) for v in over.nonzero()[0]]
        raise Mismatch(
            f"h{idx} = {float(h[tuple(idx)]):.4g} but c{idx} = {float(c[tuple(idx)]):.4g}: h' is the output "
            "gate o (a fraction in (0, 1)) times tanh(c'), so |h'| <= |tanh(c')| < 1. Squash the new cell "
            "state with tanh before gating it"
        )


cell.inputs_unchanged("leaves x and the state (h, c) unchanged", weight=0.5)


@check(LSTM, "passes gradients to x, h, c and every parameter", lstm_case(), weight=0.5)
def lstm_grads(case, you, ref):
    try:
        yours = step(build_cell(you, case), case, grad_seed=GRAD_SEED)
    except LearnerError as e:
        if e.not_implemented or "in-place" not in e.info["message"]:
            raise
        raise Mismatch(
            f"with gradients on, your cell raised {e.info['type']}: {e.info['message'][:300]}. An in-place "
            "update of the state (c *= f, c += ...) breaks autograd; write c = f * c + i * g"
        ) from None
    want = step(build_cell(ref, case, f64=True), case, f64=True, grad_seed=GRAD_SEED)
    flat = {}
    for name, o in (("yours", yours), ("want", want)):
        g = o.grads or {}
        args = list(g.get("args") or [None, (None, None)])
        state = args[1] if len(args) > 1 and isinstance(args[1], (tuple, list)) else (None, None)
        flat[name] = Outcome(o.value, {**g, "args": [args[0], *state], "kwargs": {}})
    expect_grads_with_overview(flat["yours"], flat["want"], ["x", "h", "c"], case.dtype, params=True)
