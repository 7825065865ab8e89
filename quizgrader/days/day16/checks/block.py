"""Checks for day16/block.py: FeedForward, the Pre-/Post-LN TransformerBlock and DecoderBlock.

Every module is built on both sides with the same state dict (random, with LayerNorm weights and
biases far from their 1 / 0 initial values, so a LayerNorm used in the wrong place shows) and
compared in float64 against the reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from quizgrader.checks import recurring
from quizgrader.checks.common import expect_parameters, expect_raises
from quizgrader.checks.compare import Mismatch, expect_close, expect_shape, expect_tensor, tolerance
from quizgrader.checks.registry import check
from quizgrader.checks.strategies import (
    Case,
    causal,
    dtypes,
    model_dtypes,
    randn,
    random_mask,
    seeds,
    untiered,
)

from .multihead import weights_for

FF = "day16.block.FeedForward"
BLOCK = "day16.block.TransformerBlock"
DECODER = "day16.block.DecoderBlock"
SUBMODULES = {
    FF: "fc1, fc2",
    BLOCK: "attn, ff (with fc1, fc2), ln1, ln2",
    DECODER: "self_attn, cross_attn, ff (with fc1, fc2), ln1, ln2, ln3",
}


# -- weights ----------------------------------------------------------------------------------
def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in state.items()}


def ff_weights(d: int, d_ff: int, seed: int) -> dict[str, torch.Tensor]:
    return {
        "fc1.weight": randn(seed, d_ff, d, scale=d**-0.5),
        "fc1.bias": randn(seed + 1, d_ff, scale=0.3),
        "fc2.weight": randn(seed + 2, d, d_ff, scale=d_ff**-0.5),
        "fc2.bias": randn(seed + 3, d, scale=0.3),
    }


def ln_weights(d: int, seed: int) -> dict[str, torch.Tensor]:
    """Far from the initial (1, 0), and different for every LayerNorm."""
    return {"weight": 1.0 + randn(seed, d, scale=0.5), "bias": randn(seed + 1, d, scale=0.5)}


def block_weights(d: int, d_ff: int, seed: int, attns=("attn",), norms=2) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for i, name in enumerate(attns):
        state |= prefixed(name, weights_for(d, seed + 10 * i))
    state |= prefixed("ff", ff_weights(d, d_ff, seed + 40))
    for i in range(1, norms + 1):
        state |= prefixed(f"ln{i}", ln_weights(d, seed + 50 + 2 * i))
    return state


def layer_norm(x: torch.Tensor, state: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """nn.LayerNorm(d) with the weights `name`.weight / `name`.bias, in float64."""
    w, b = state[f"{name}.weight"].to(torch.float64), state[f"{name}.bias"].to(torch.float64)
    mu = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=False, keepdim=True)
    return (x - mu) / torch.sqrt(var + 1e-5) * w + b


# -- building and calling ---------------------------------------------------------------------
def build(api, name: str, case: Case, f64: bool = False, state: dict | None = None):
    """The module `name`, in the case's dtype (or float64), with the case's (or `state`) weights."""
    dtype = torch.float64 if f64 else case.dtype
    m = api.new(name, *case.meta["args"], **case.meta["kwargs"])
    m.to(dtype)
    m.load_state_dict({k: v.to(dtype) for k, v in (state or case["state"]).items()})
    return m


def run(m, case: Case, f64: bool = False, **kw):
    """The module's forward on the case's inputs (x, memory and masks as they apply)."""
    get = case.f64 if f64 else case.as_dtype
    args = [get("x")] + ([get("memory")] if "memory" in case.values else [])
    kwargs = {k: case[k] for k in ("mask", "self_mask", "memory_mask") if k in case.values}
    return m.call(*args, **kwargs, **kw)


def output(outcome, case: Case) -> torch.Tensor:
    got = expect_tensor(outcome.value, "out")
    expect_shape(got, case["x"].shape, "out")
    return got


def with_values(case: Case, **values) -> Case:
    return Case(dict(case.values) | values, case.dtype, case.meta)


def unchanged(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> bool:
    _rtol, atol = tolerance(dtype)
    return a.numel() == 0 or float((a.to(torch.float64) - b.to(torch.float64)).abs().max()) <= 10 * atol


def expect_block_parameters(you, ref, name: str, args: tuple, kwargs: dict) -> None:
    default = " (d_ff=None means 4 * d_model)" if kwargs.get("d_ff", "given") is None else ""
    expect_parameters(
        you,
        ref,
        name,
        args,
        kwargs,
        shape_advice=default,
        advice=f"Use exactly the submodules {SUBMODULES[name]} (the grader loads weights by these "
        "names) and no others",
    )


def last_position_stays_last(you, name: str, case: Case) -> bool:
    """With the case's causal mask: changing x at the last position leaves every earlier output
    unchanged."""
    m = build(you, name, case)
    a = output(run(m, case), case)
    x = case["x"].clone()
    x[:, -1] = randn(3, x.shape[0], x.shape[2], scale=4.0)
    b = output(run(m, with_values(case, x=x)), case)
    return unchanged(a[:, :-1], b[:, :-1], case.dtype)


def declare(exercise: str, wrt: list[str]) -> recurring.Declared:
    """The module's recurring checks: built with the case's weights, compared as "out", gradients to
    `wrt` and every parameter."""
    return recurring.declare(
        exercise,
        run,
        build=lambda api, case, f64=False: build(api, exercise, case, f64),
        wrt=wrt,
        params=True,
    )


# -- strategies -------------------------------------------------------------------------------
widths = st.sampled_from([3, None, 8])  # d_ff: narrow (short repros), the default 4 * d_model, wide


@st.composite
def ff_case(draw, lead=False, activations=("gelu", "relu")) -> Case:
    d, T, seed = draw(st.integers(1, 8)), draw(st.integers(2 if lead else 1, 5)), draw(seeds)
    shape = tuple(draw(st.sampled_from([(), (2,), (2, 2)]))) if lead else (draw(st.integers(1, 2)),)
    d_ff, activation = draw(widths), draw(st.sampled_from(activations))
    kwargs = {"d_ff": d_ff, "activation": activation}
    return Case(
        {"x": randn(seed, *shape, T, d), "state": ff_weights(d, d_ff or 4 * d, seed + 1)},
        draw(model_dtypes),
        {"name": FF, "args": (d,), "kwargs": kwargs},
    )


@st.composite
def model_width(draw) -> tuple[int, int]:
    """(d_model, num_heads) with d_model in 2..8: a LayerNorm over one feature only outputs its bias."""
    h = draw(st.sampled_from([1, 2]))
    return h * draw(st.integers(2 // h, 8 // h)), h


@st.composite
def block_case(draw, masks=("causal", "keys", "none"), T=(1, 5), pre_ln=(True, False)) -> Case:
    (d, h), d_ff = draw(model_width()), draw(widths)
    B, T, seed = draw(st.integers(1, 2)), draw(st.integers(*T)), draw(seeds)
    kind = draw(st.sampled_from(masks))
    mask = {"none": None, "causal": causal(T, T), "keys": random_mask(seed + 5, (B, 1, 1, T))}[kind]
    kwargs = {
        "d_ff": d_ff,
        "pre_ln": draw(st.sampled_from(pre_ln)),
        "activation": draw(st.sampled_from(["gelu", "relu"])),
    }
    return Case(
        {"x": randn(seed, B, T, d), "mask": mask, "state": block_weights(d, d_ff or 4 * d, seed + 1)},
        draw(model_dtypes),
        {"name": BLOCK, "args": (d, h), "kwargs": kwargs, "mask": kind},
    )


def hiding_mask(seed: int, B: int, S: int) -> torch.Tensor:
    """(B, 1, 1, S), True = may attend, with at least one hidden and one visible key per row (S >= 2)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(B, S, generator=g) < 0.5
    for b in range(B):
        visible, hidden = torch.randperm(S, generator=g)[:2].tolist()
        mask[b, visible], mask[b, hidden] = True, False
    return mask[:, None, None, :]


@st.composite
def decoder_case(
    draw, self_masks=("causal", "none"), memory_masks=("padding", "none"), T=(1, 5), S=(1, 5)
) -> Case:
    (d, h), d_ff = draw(model_width()), draw(widths)
    B, T, seed = draw(st.integers(1, 2)), draw(st.integers(*T)), draw(seeds)
    S = draw(st.integers(*S).filter(lambda s: s != T))
    kinds = draw(st.sampled_from(self_masks)), draw(st.sampled_from(memory_masks))
    memory_mask = None  # "none"
    if kinds[1] == "padding":  # (B, 1, 1, S), every row keeps at least one key
        memory_mask = random_mask(seed + 6, (B, 1, 1, S))
    elif kinds[1] == "hiding":  # and hides at least one
        memory_mask = hiding_mask(seed + 6, B, S)
    kwargs = {"d_ff": d_ff, "activation": draw(st.sampled_from(["gelu", "relu"]))}
    return Case(
        {
            "x": randn(seed, B, T, d),
            "memory": randn(seed + 2, B, S, d),
            "self_mask": causal(T, T) if kinds[0] == "causal" else None,
            "memory_mask": memory_mask,
            "state": block_weights(d, d_ff or 4 * d, seed + 1, attns=("self_attn", "cross_attn"), norms=3),
        },
        draw(model_dtypes),
        {"name": DECODER, "args": (d, h), "kwargs": kwargs, "masks": kinds},
    )


# -- FeedForward ------------------------------------------------------------------------------
@check(
    FF,
    "has fc1 = nn.Linear(d_model, d_ff) and fc2 = nn.Linear(d_ff, d_model), d_ff defaulting to 4·d_model",
    st.tuples(st.integers(1, 8), widths, st.sampled_from(["gelu", "relu"])),
    weight=0.3,
)
def ff_parameters(case, you, ref):
    d, d_ff, activation = case
    expect_block_parameters(you, ref, FF, (d,), {"d_ff": d_ff, "activation": activation})


@check(
    FF,
    "raises ValueError for an activation other than 'gelu' or 'relu'",
    st.sampled_from(["silu", "tanh", "sigmoid"]),
    weight=0.3,
)
def ff_unknown_activation(case, you, ref):
    expect_raises(
        lambda: you.new(FF, 4, activation=case),
        "ValueError",
        f"FeedForward(4, activation={case!r})",
        "only 'gelu' and 'relu' are known; refuse anything else in __init__ rather than silently "
        "picking some activation",
    )


ff = declare(FF, wrt=["x"])
ff.matches("matches the reference with the same weights (gelu and relu)", ff_case())


ACTIVATIONS = {  # what an activation applied to x can look like, and what to say about it
    "the exact (erf) GELU": F.gelu,
    "the tanh approximation of GELU": lambda x: F.gelu(x, approximate="tanh"),
    "ReLU": F.relu,
    "no activation at all": lambda x: x,
}


@check(
    FF,
    "applies the exact (erf) GELU or ReLU between fc1 and fc2",
    st.tuples(st.sampled_from(["gelu", "relu"]), st.integers(2, 8), seeds, dtypes),
    weight=0.5,
)
def ff_activation(case, you, ref):
    activation, d, seed, dtype = case
    # fc1 and fc2 are identities, so the output is the activation itself, on inputs in [-4, 4]
    # (the tanh approximation of GELU is off by up to 5e-4 near |x| = 2.7).
    x = torch.linspace(-4.0, 4.0, 4 * d, dtype=torch.float64)[
        torch.randperm(4 * d, generator=torch.Generator().manual_seed(seed))
    ]
    x = x.view(1, 4, d)
    eye, zero = torch.eye(d, dtype=dtype), torch.zeros(d, dtype=dtype)
    m = you.new(FF, d, d_ff=d, activation=activation)
    m.to(dtype)
    m.load_state_dict({"fc1.weight": eye, "fc1.bias": zero, "fc2.weight": eye, "fc2.bias": zero})
    got = output(m.call(x.to(dtype)), Case({"x": x}))
    wanted = "the exact (erf) GELU" if activation == "gelu" else "ReLU"
    x64 = x.to(dtype).to(torch.float64)
    errors = {k: float((got.to(torch.float64) - f(x64)).abs().max()) for k, f in ACTIVATIONS.items()}
    closest = min(errors, key=errors.get)
    rtol, atol = tolerance(dtype)
    if closest != wanted and errors[closest] <= atol + rtol * 4:
        fix = {
            "the tanh approximation of GELU": "use nn.GELU() or F.gelu(x) with no approximate='tanh'",
            "ReLU": "activation='gelu' asks for nn.GELU(); keep ReLU for activation='relu'",
            "the exact (erf) GELU": "activation='relu' asks for nn.ReLU()",
            "no activation at all": "apply the activation to fc1's output before fc2",
        }[closest]
        raise Mismatch(
            f"with fc1 and fc2 set to identities, FeedForward(activation={activation!r}) returns "
            f"{closest} of its input instead of {wanted}: {fix}"
        )
    expect_close(
        got, ACTIVATIONS[wanted](x64), f"activation({activation!r}) with fc1, fc2 = identity", dtype=dtype
    )


@check(
    FF,
    "acts on every position on its own, for any leading dims (..., d_model)",
    ff_case(lead=True),
    weight=0.3,
)
def ff_position_wise(case, you, ref):
    m = build(you, FF, case)
    a = output(run(m, case), case)
    x = case["x"].clone()
    p = int(torch.randint(0, x.shape[-2], (1,), generator=torch.Generator().manual_seed(x.numel())))
    x[..., p, :] = randn(7, *x.shape[:-2], x.shape[-1], scale=3.0)
    b = output(run(m, with_values(case, x=x)), case)
    others = [t for t in range(x.shape[-2]) if t != p]
    if not unchanged(a[..., others, :], b[..., others, :], case.dtype):
        raise Mismatch(
            f"changing position {p} of x {tuple(x.shape)} changed the output at other positions: the "
            "feed-forward network must treat every position (every vector along the last dim) on "
            "its own, with no mixing along the sequence or batch axes"
        )


ff.gradients("passes gradients to x and to fc1, fc2", ff_case().map(untiered), weight=0.3)


# -- TransformerBlock -------------------------------------------------------------------------
@check(
    BLOCK,
    "has the submodules attn, ff, ln1, ln2 with the contract's shapes",
    st.tuples(st.sampled_from([(4, 2), (6, 3), (8, 1)]), widths, st.booleans()),
    weight=0.3,
)
def block_parameters(case, you, ref):
    (d, h), d_ff, pre_ln = case
    expect_block_parameters(you, ref, BLOCK, (d, h), {"d_ff": d_ff, "pre_ln": pre_ln})


block = declare(BLOCK, wrt=["x"])
block.matches(
    "matches the reference with the same weights (Pre-LN and Post-LN, with and without a mask)", block_case()
)


@check(
    BLOCK,
    "with both sublayers' outputs zeroed, Pre-LN returns x and Post-LN returns ln2(ln1(x))",
    block_case(masks=("causal", "none")),
    weight=0.5,
)
def block_pre_post(case, you, ref):
    state = dict(case["state"])
    for k in ("attn.W_o.weight", "ff.fc2.weight", "ff.fc2.bias"):
        state[k] = torch.zeros_like(state[k])
    got = output(run(build(you, BLOCK, case, state=state), case), case)
    x = case.f64("x")
    looks = {"Pre-LN": x, "Post-LN": layer_norm(layer_norm(x, state, "ln1"), state, "ln2")}
    pre_ln = case.meta["kwargs"]["pre_ln"]
    wanted, other = ("Pre-LN", "Post-LN") if pre_ln else ("Post-LN", "Pre-LN")
    zeroed = "with attn.W_o.weight, ff.fc2.weight and ff.fc2.bias zeroed (both sublayers add 0)"
    why = {
        "Pre-LN": "a Pre-LN block must return x unchanged: the LayerNorms only touch what enters attn and "
        "ff, never the residual stream (x = x + attn(ln1(x)), then x = x + ff(ln2(x)))",
        "Post-LN": "a Post-LN block must return ln2(ln1(x)): each residual sum is normalised "
        "(x = ln1(x + attn(x)), then x = ln2(x + ff(x)))",
    }
    try:
        expect_close(got, looks[wanted], "out", dtype=case.dtype)
    except Mismatch as e:
        try:
            expect_close(got, looks[other], "out", dtype=case.dtype)
        except Mismatch:
            raise Mismatch(f"{zeroed}, {why[wanted]}.\n{e}", e.stage) from None
        raise Mismatch(
            f"your pre_ln={pre_ln} block behaves like {other}: {zeroed} it returns "
            f"{'x unchanged' if other == 'Pre-LN' else 'ln2(ln1(x))'}, but {why[wanted]}"
        ) from None


@check(
    BLOCK,
    "causal: with a causal mask, later positions never change earlier outputs",
    block_case(masks=("causal",), T=(2, 5)),
    weight=0.3,
)
def block_causal(case, you, ref):
    if not last_position_stays_last(you, BLOCK, case):
        raise Mismatch(
            "with mask = causal_mask(T), changing the last position changed the outputs of earlier "
            "positions: pass the mask on to the self-attention (attn(..., mask=mask))"
        )


block.gradients("passes gradients to x and every parameter", block_case().map(untiered), weight=0.3)


# -- DecoderBlock -----------------------------------------------------------------------------
@check(
    DECODER,
    "has the submodules self_attn, cross_attn, ff, ln1, ln2, ln3 with the contract's shapes",
    st.tuples(st.sampled_from([(4, 2), (6, 3), (8, 1)]), widths),
    weight=0.3,
)
def decoder_parameters(case, you, ref):
    (d, h), d_ff = case
    expect_block_parameters(you, ref, DECODER, (d, h), {"d_ff": d_ff})


decoder = declare(DECODER, wrt=["x", "memory"])
decoder.matches(
    "matches the reference with the same weights (causal self_mask, padding memory_mask or none; S ≠ T)",
    decoder_case(),
)


@check(
    DECODER,
    "the output depends on memory (keys and values of the cross-attention)",
    decoder_case(memory_masks=("none",)),
    weight=0.3,
)
def decoder_uses_memory(case, you, ref):
    m = build(you, DECODER, case)
    a = output(run(m, case), case)
    b = output(run(m, with_values(case, memory=-2.0 * case["memory"])), case)
    if unchanged(a, b, case.dtype):
        raise Mismatch(
            "replacing memory by -2·memory left the output unchanged: the cross-attention must "
            "take its keys and values from memory (cross_attn(ln2(x), context=memory, ...)), with "
            "only the queries coming from x"
        )


@check(
    DECODER,
    "memory_mask hides memory positions: changing a masked position leaves the output unchanged",
    # a causal self_mask on T >= 2 tells this apart from giving self_mask to the cross-attention
    decoder_case(self_masks=("causal",), memory_masks=("hiding",), T=(2, 5), S=(2, 5)),
    weight=0.3,
)
def decoder_memory_mask(case, you, ref):
    m = build(you, DECODER, case)
    a = output(run(m, case), case)
    hidden = ~case["memory_mask"][:, 0, 0]  # (B, S): True where hidden
    memory = case["memory"].clone()
    memory[hidden] = randn(13, int(hidden.sum()), memory.shape[-1], scale=4.0)
    b = output(run(m, with_values(case, memory=memory)), case)
    if not unchanged(a, b, case.dtype):
        raise Mismatch(
            "changing memory only at positions where memory_mask is False changed the output: pass "
            "memory_mask to the cross-attention (mask=memory_mask), so those keys get zero weight"
        )


@check(
    DECODER,
    "causal: with a causal self_mask, later target positions never change earlier outputs",
    decoder_case(self_masks=("causal",), T=(2, 5)),
    weight=0.3,
)
def decoder_causal(case, you, ref):
    if not last_position_stays_last(you, DECODER, case):
        raise Mismatch(
            "with self_mask = causal_mask(T), changing the last target position changed the outputs of "
            "earlier positions: pass self_mask to the self-attention (self_attn(ln1(x), mask=self_mask)), "
            "and let the cross-attention read memory only (context=memory), never x"
        )


decoder.gradients(
    "passes gradients to x, memory and every parameter", decoder_case().map(untiered), weight=0.3
)
