"""Checks for day09/residual.py: ResidualBlock and layer_gradient_norms.

The block is judged at its initial state (identity with zero_init, nn.Linear's default init
without) and, with weights loaded by name, against the reference in float64. Stacks of layers
cannot cross into the learner's process, so layer_gradient_norms is called through the grader's
`stack_gradient_norms` routine, which builds the stack there from a description; the last check
measures how the gradient fares down a deep plain stack and a deep stack of the learner's own
blocks.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from hypothesis import strategies as st

from quizgrader.checks import recurring
from quizgrader.checks.common import GRAD_SEED, expect_grads_close, expect_parameters
from quizgrader.checks.compare import (
    Mismatch,
    describe,
    expect_close,
    expect_dtype,
    expect_shape,
    expect_tensor,
)
from quizgrader.checks.registry import check
from quizgrader.checks.strategies import Case, dtypes, model_dtypes, randn, seeds, untiered

BLOCK = "day09.residual.ResidualBlock"
NORMS = "day09.residual.layer_gradient_norms"
PARAMETERS = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")


# -- ResidualBlock ----------------------------------------------------------------------------
def block_state(d: int, seed: int) -> dict[str, torch.Tensor]:
    return {
        "fc1.weight": randn(seed, d, d, scale=d**-0.5),
        "fc1.bias": randn(seed + 1, d, scale=0.3),
        "fc2.weight": randn(seed + 2, d, d, scale=d**-0.5),
        "fc2.bias": randn(seed + 3, d, scale=0.3),
    }


leads = st.sampled_from([(3,), (1,), (2, 3)])  # shrinks to 3 rows: enough to compare rows


@st.composite
def block_case(draw, dtype: st.SearchStrategy = model_dtypes, scales=(1.0,)) -> Case:
    d, lead, seed = draw(st.integers(1, 6)), draw(leads), draw(seeds)
    scale = draw(st.sampled_from(scales))
    return Case(
        {"x": randn(seed, *lead, d, scale=scale), "state": block_state(d, seed + 10)}, draw(dtype), {"d": d}
    )


def build(api, case: Case, f64: bool = False, **kwargs):
    """The block with the case's weights, in the case's dtype (or float64)."""
    dtype = torch.float64 if f64 else case.dtype
    m = api.new(BLOCK, case.meta["d"], **kwargs)
    m.to(dtype)
    m.load_state_dict({k: v.to(case.dtype).to(dtype) for k, v in case["state"].items()})
    return m


def output(value: Any, case: Case) -> torch.Tensor:
    got = expect_tensor(value, "out")
    expect_shape(got, case["x"].shape, "out")
    expect_dtype(got, case.dtype, "out")
    return got


def initial(you, d: int, dtype: torch.dtype, x: torch.Tensor, **kwargs):
    """A freshly built block (no weights loaded), called on x with a gradient: (outcome, state)."""
    m = you.new(BLOCK, d, **kwargs)
    m.to(dtype)
    outcome = m.call(x, grad_seed=GRAD_SEED)
    state = m.state_dict()
    if set(state) != set(PARAMETERS):
        shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise Mismatch(
            f"ResidualBlock({d}{', ' + shown if shown else ''}) has the parameters {sorted(state)}; "
            f"expected {', '.join(PARAMETERS)} (fc1 and fc2, both nn.Linear(d, d) with a bias)",
            "parameters",
        )
    return outcome, state


def default_init_problem(state: dict, d: int, layer: str) -> str | None:
    """What keeps `layer` from looking like nn.Linear(d, d)'s default init: uniform in
    [-1/sqrt(d), 1/sqrt(d)], weight and bias, and not all zero."""
    bound = d**-0.5 * 1.01  # 1%: room for the rounding of a bfloat16 copy
    w, b = state[f"{layer}.weight"], state[f"{layer}.bias"]
    if not bool(w.any()):
        return f"{layer}.weight is all zero"
    if float(w.abs().max()) > bound or float(b.abs().max()) > bound:
        return (
            f"{layer} has entries up to {max(float(w.abs().max()), float(b.abs().max())):.3g}, "
            "beyond nn.Linear's "
            f"default init range ±1/sqrt(d) = ±{d**-0.5:.3g}"
        )
    return None


@check(
    BLOCK,
    "has fc1 = nn.Linear(d, d) and fc2 = nn.Linear(d, d), both with a bias, and no other parameters",
    st.tuples(st.integers(1, 8), st.booleans()),
    weight=0.3,
)
def block_parameters(case, you, ref):
    d, zero_init = case
    expect_parameters(
        you,
        ref,
        BLOCK,
        (d,),
        {"zero_init": zero_init},
        advice="Create exactly self.fc1 = nn.Linear(d, d) and self.fc2 = nn.Linear(d, d), with their "
        "biases (the grader loads weights by these names)",
    )


@check(
    BLOCK,
    "with zero_init (the default) it is exactly the identity when created: out = x for any input, "
    "and d(out)/dx = I",
    block_case(scales=(1.0, 10.0, 1000.0)),
    weight=0.7,
)
def block_identity_at_init(case, you, ref):
    x, d = case.as_dtype("x"), case.meta["d"]
    outcome, _ = initial(you, d, case.dtype, x)
    got = output(outcome.value, case)
    if not torch.equal(got, x):
        diff = (got.to(torch.float64) - x.to(torch.float64)).reshape(-1, d)
        if not bool(got.any()):
            why = (
                "out is all zero: the skip connection is missing, forward must return x + fc2(relu(fc1(x))), "
                "not the branch alone"
            )
        elif torch.equal(got, torch.relu(x)):
            why = (
                "out equals relu(x): relu is applied after the addition; it belongs inside the branch, "
                "x + fc2(relu(fc1(x))), so that the skip path stays the identity"
            )
        elif diff.shape[0] > 1 and bool((diff == diff[:1]).all()):
            why = (
                "out - x is the same vector for every input: fc2's bias is not zero. zero_init must zero "
                "fc2's weight and its bias (with fc1 zeroed instead, relu(fc1(x)) = 0 and out = x + fc2.bias "
                "too)"
            )
        else:
            why = (
                "the branch fc2(relu(fc1(x))) is not 0 at init: with zero_init=True (the default) set fc2's "
                "weight and bias to 0 in __init__"
            )
        worst = float(diff.abs().max())
        raise Mismatch(
            f"a freshly built ResidualBlock({d}) must return its input unchanged, but out differs from x "
            f"by up to {worst:.3g}: {why}"
        )
    want = ref.new(BLOCK, d).to(case.dtype).call(x, grad_seed=GRAD_SEED)
    try:
        expect_grads_close(outcome, want, ["x"], case.dtype)
    except Mismatch as e:
        raise Mismatch(
            f"at init the block is the identity, so the gradient reaching x must equal the gradient "
            f"arriving at out (d(out)/dx = I).\n{e}",
            e.stage,
        ) from None


@check(
    BLOCK,
    "with zero_init, fc2 starts at 0 and fc1 keeps nn.Linear's default init, so fc2.weight gets a "
    "gradient at the first step",
    block_case(),
    weight=0.5,
)
def block_can_learn(case, you, ref):
    x, d = case.as_dtype("x"), case.meta["d"]
    outcome, state = initial(you, d, case.dtype, x, zero_init=True)
    nonzero = [k for k in ("fc2.weight", "fc2.bias") if not bool((state[k] == 0).all())]
    fc2 = f"; and {' and '.join(nonzero)} {'is' if len(nonzero) == 1 else 'are'} not zero" if nonzero else ""
    if problem := default_init_problem(state, d, "fc1"):
        dead = (
            " With fc1 at 0, relu(fc1(x)) = 0 for every input and relu'(0) = 0: fc1 never gets a gradient, "
            "and fc2.weight's gradient c^T relu(fc1(x)) is 0 too, so the block is dead and stays that way."
            if "zero" in problem
            else ""
        )
        raise Mismatch(
            f"with zero_init=True, {problem}{fc2}.{dead} Zero fc2 (weight and bias), the layer whose "
            "output is added to x; fc1 keeps nn.Linear's default init"
        )
    if nonzero:
        raise Mismatch(
            f"with zero_init=True, {fc2[6:]} at init: zero both fc2's weight and its bias, so that the "
            "branch outputs exactly 0"
        )
    grads = (outcome.grads or {}).get("params", {})
    g = grads.get("fc2.weight")
    if g is None or not bool(g.any()):
        raise Mismatch(
            "at init fc2.weight gets no gradient: fc2.weight's gradient is c^T relu(fc1(x)), which is "
            "nonzero as long as fc1 has its random init and fc2's input is not cut from the graph"
        )


@check(
    BLOCK,
    "with zero_init=False both layers keep nn.Linear's default init, so the block is not the identity",
    block_case(dtype=st.just(torch.float64)),
    weight=0.3,
)
def block_default_init(case, you, ref):
    x, d = case.as_dtype("x"), case.meta["d"]
    outcome, state = initial(you, d, case.dtype, x, zero_init=False)
    for layer in ("fc2", "fc1"):
        if problem := default_init_problem(state, d, layer):
            raise Mismatch(
                f"with zero_init=False, {problem}: zero fc2 only when zero_init is True, and leave "
                "both layers with nn.Linear's default init otherwise"
            )
    if torch.equal(output(outcome.value, case), x):
        raise Mismatch(
            "with zero_init=False the block returned x unchanged: the branch fc2(relu(fc1(x))) must be "
            "added to x"
        )


def forward(m, case: Case, f64: bool = False, **kw):
    return m.call(case.f64("x") if f64 else case.as_dtype("x"), **kw)


block = recurring.declare(
    BLOCK,
    forward,
    build=build,
    wrt=["x"],
    params=True,
    compare=lambda got, want, case: expect_close(output(got, case), want, "out", dtype=case.dtype),
)
block.matches(
    "matches the reference with the same weights: x + fc2(relu(fc1(x))) for any leading dims", block_case()
)
block.gradients(
    "passes gradients to x and to every parameter of fc1 and fc2", block_case().map(untiered), weight=0.5
)


# -- layer_gradient_norms ---------------------------------------------------------------------
def linear_spec(d_in: int, d_out: int, seed: int) -> dict:
    return {
        "kind": "linear",
        "d_in": d_in,
        "d_out": d_out,
        "state": {
            "weight": randn(seed, d_out, d_in, scale=1.5 * d_in**-0.5),
            "bias": randn(seed + 1, d_out, scale=0.3),
        },
    }


@st.composite
def stack_case(draw) -> Case:
    """A stack of 1..5 layers (linear maps that may change the width, tanh, relu, and Sequential
    pairs of both) on x (B, d_0), passed as a list, an nn.Sequential or an nn.ModuleList."""
    B, d, seed = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(seeds)
    x, layers = randn(seed, B, d), []
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["linear", "tanh", "relu", "sequential"]))
        if kind in ("tanh", "relu"):
            layers.append({"kind": kind})
            continue
        d_next = draw(st.integers(1, 5))
        lin = linear_spec(d, d_next, seed + 10 * (i + 1))
        layers.append(lin if kind == "linear" else {"kind": "sequential", "layers": [lin, {"kind": "tanh"}]})
        d = d_next
    container = draw(st.sampled_from(["list", "sequential", "modulelist"]))
    return Case({"x": x, "layers": layers}, draw(dtypes), {"container": container, "L": len(layers)})


def cast(spec: Any, dtype: torch.dtype) -> Any:
    """The stack's description with every weight rounded to `dtype`."""
    if isinstance(spec, torch.Tensor):
        return spec.to(dtype)
    if isinstance(spec, dict):
        return {k: cast(v, dtype) for k, v in spec.items()}
    if isinstance(spec, list):
        return [cast(v, dtype) for v in spec]
    return spec


def measure(api, case: Case, f64: bool = False) -> Any:
    layers = cast(case["layers"], case.dtype)
    if f64:
        layers = cast(layers, torch.float64)
    x = case.f64("x") if f64 else case.as_dtype("x")
    return api.tool("stack_gradient_norms", NORMS, layers=layers, x=x, container=case.meta["container"])


def norms_of(value: Any, L: int, dtype: torch.dtype) -> torch.Tensor:
    got = expect_tensor(value, "norms")
    if got.dim() != 1:
        raise Mismatch(f"norms: expected a 1-D tensor of L + 1 = {L + 1} norms, got {describe(got)}", "shape")
    if got.shape[0] != L + 1:
        hint = (
            " (h_0 = x is missing: the first norm is the gradient at the input itself)"
            if got.shape[0] == L
            else ""
        )
        raise Mismatch(
            f"norms: {got.shape[0]} entries for a stack of L = {L} layers; expected L + 1 = {L + 1}, one "
            f"for each of h_0 = x, h_1, ..., h_L{hint}",
            "shape",
        )
    expect_dtype(got, dtype, "norms")
    return got


@check(
    NORMS,
    "returns one norm per h_0 = x, h_1, ..., h_L: a 1-D tensor of L + 1 entries in x's dtype",
    stack_case(),
    weight=0.3,
)
def norms_shape(case, you, ref):
    norms_of(measure(you, case), case.meta["L"], case.dtype)


@check(
    NORMS,
    "equals the reference on small random stacks (a list, nn.Sequential or nn.ModuleList of layers)",
    stack_case(),
)
def norms_match(case, you, ref):
    L = case.meta["L"]
    got = norms_of(measure(you, case), L, case.dtype)
    want = measure(ref, case, f64=True)
    top = float(want[-1])
    g = got.to(torch.float64)
    if abs(float(g[-1]) - top) > 1e-4 * top:
        reversed_ = (
            L > 0
            and abs(float(g[0]) - top) <= 1e-4 * top
            and abs(float(g[-1]) - float(want[0])) <= (1e-4 * max(1.0, float(want[0])))
        )
        why = (
            "your norms come in reverse order: norms[0] belongs to h_0 = x (the input), "
            "norms[L] to the output"
            if reversed_
            else "the gradient of h_L.sum() with respect to h_L itself is all ones, so norms[L] must be "
            "sqrt(h_L.numel()). Are you taking norms of the activations h_l, or of the gradients of the "
            "parameters, instead of the gradients d(h_L.sum())/dh_l?"
        )
        raise Mismatch(f"norms[L] = {float(g[-1]):.6g}, expected sqrt({round(top**2)}) = {top:.6g}: {why}")
    expect_close(got, want, "norms", dtype=case.dtype)


@st.composite
def identity_case(draw) -> Case:
    d, B, depth, seed = draw(st.integers(1, 6)), draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(seeds)
    layers = [{"kind": "block", "d": d, "zero_init": True} for _ in range(depth)]
    return Case(
        {"x": randn(seed, B, d, scale=draw(st.sampled_from([1.0, 5.0]))), "layers": layers},
        draw(dtypes),
        {"container": draw(st.sampled_from(["list", "sequential"])), "L": depth},
    )


@check(
    NORMS,
    "through a stack of your ResidualBlock(d) at init (zero_init=True) every norm is sqrt(x.numel())",
    identity_case(),
    weight=0.5,
)
def norms_identity_stack(case, you, ref):
    got = norms_of(measure(you, case), case.meta["L"], case.dtype)
    n = case["x"].numel()
    want = torch.full((case.meta["L"] + 1,), math.sqrt(n), dtype=torch.float64)
    try:
        expect_close(got, want, "norms", dtype=case.dtype)
    except Mismatch as e:
        raise Mismatch(
            f"every block is the identity at init, so d(h_L.sum())/dh_l is all ones for every l and each "
            f"norm is sqrt({n}) = {math.sqrt(n):.6g}. Take norms of the gradients with respect to the "
            "intermediate results h_l (not of the h_l themselves, nor of parameter gradients)."
            f"\n{e}"
        ) from None


DEEP = {"depth": 30, "width": 16, "batch": 8}
PLAIN_AT_MOST = 1e-3  # norms[0] / norms[L] through the plain stack
RESIDUAL_WITHIN = 10.0  # every norm of the residual stack within this factor of norms[L]


@check(
    NORMS,
    f"measured: through {DEEP['depth']} plain tanh layers the input gradient shrinks by orders of "
    f"magnitude; through {DEEP['depth']} of your ResidualBlocks (zero_init=False) it stays within "
    f"{RESIDUAL_WITHIN:g}x of the top's",
)
def norms_deep_stacks(case, you, ref):
    L, d, B = DEEP["depth"], DEEP["width"], DEEP["batch"]
    x = randn(17, B, d).to(torch.float32)
    plain = [
        {"kind": "sequential", "layers": [{"kind": "linear", "d_in": d, "d_out": d}, {"kind": "tanh"}]}
    ] * L
    blocks = [{"kind": "block", "d": d, "zero_init": False}] * L
    got = {}
    for name, layers in (("plain", plain), ("residual", blocks)):
        got[name] = norms_of(
            you.tool("stack_gradient_norms", NORMS, layers=layers, x=x, container="list", seed=0),
            L,
            torch.float32,
        ).to(torch.float64)
    ratio = {k: float(v[0] / v[-1]) for k, v in got.items()}
    spread = (
        float(got["residual"].min() / got["residual"][-1]),
        float(got["residual"].max() / got["residual"][-1]),
    )
    figures = {
        "depth": L,
        "width": d,
        "plain_ratio": float(f"{ratio['plain']:.3g}"),
        "residual_ratio": float(f"{ratio['residual']:.3g}"),
        "residual_range": [float(f"{s:.3g}") for s in spread],
    }
    shown = (
        f"norms[0] / norms[L] = {ratio['plain']:.3g} through the plain stack, "
        f"{ratio['residual']:.3g} through "
        f"the residual one"
    )
    if not ratio["plain"] <= PLAIN_AT_MOST:
        raise Mismatch(
            f"{shown}. Through {L} layers of Linear({d}, {d}) + tanh with default init, each layer "
            f"scales the gradient by well under 1, so the gradient at the input must come out at most "
            f"{PLAIN_AT_MOST:g} of the top's (the reference measures about 4e-8). Are norms[0] and norms[L] "
            "the gradients at the input and at the output, in that order?"
        )
    if not (spread[0] >= 1 / RESIDUAL_WITHIN and spread[1] <= RESIDUAL_WITHIN):
        raise Mismatch(
            f"{shown}; across the residual stack the norms range over {spread[0]:.3g} .. {spread[1]:.3g} "
            f"of the top's. Each block's Jacobian is I + (branch), so the gradient should stay within "
            f"{RESIDUAL_WITHIN:g}x of the top's (the reference measures about 3): does your "
            "ResidualBlock add its input back (x + fc2(relu(fc1(x))))?"
        )
    figures["summary"] = (
        f"over {L} layers of width {d} the gradient at the input is {ratio['plain']:.1e} of the "
        f"top's through plain tanh layers, and {ratio['residual']:.2g} times the top's through "
        "residual blocks"
    )
    return figures


__all__ = ["BLOCK", "NORMS"]
