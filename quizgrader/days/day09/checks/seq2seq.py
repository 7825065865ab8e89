"""Checks for day09/seq2seq.py: an encoder-decoder whose decoder sees the source only through
one fixed-size context vector.

Both sides are built with the same random weights and compared in float64. On a GPU the float32
cases run in bfloat16, as the Day 16 models do (cuDNN's recurrent kernels may use TF32 for
float32, which float32's tolerance would not admit). The bottleneck is checked from the outside,
whatever the learner's code looks like: forward must be exactly decode(encode(src)); decode must
need nothing but its arguments; and two different sources that the encoder maps to the same final
state (by construction, see `bottleneck_case`) must give the same logits.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from quizgrader.checks.api import LearnerError
from quizgrader.checks.common import GRAD_SEED, expect_parameters
from quizgrader.checks.compare import Mismatch, expect_close, expect_shape, expect_tensor, tolerance
from quizgrader.checks.registry import check
from quizgrader.checks.strategies import Case, model_dtypes, random_state, seeds, untiered

from .rnn import expect_grads_with_overview

S2S = "day09.seq2seq.Seq2Seq"
NAME = "seq2seq.Seq2Seq"


def tokens(seed: int, *shape: int, vocab: int) -> torch.Tensor:
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


EMB_SIZES = st.integers(1, 3)


@st.composite
def s2s_case(draw, d_emb: st.SearchStrategy = EMB_SIZES) -> Case:
    """A small model (its constructor arguments; weights are drawn by `weights`), a batch of
    sources (B, S) and decoder inputs (B, T)."""
    src_vocab, tgt_vocab = draw(st.integers(3, 6)), draw(st.integers(2, 5))
    E, H = draw(d_emb), draw(st.integers(1, 4))
    B, S, T, seed = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(seeds)
    return Case(
        {"src": tokens(seed, B, S, vocab=src_vocab), "tgt_in": tokens(seed + 1, B, T, vocab=tgt_vocab)},
        draw(model_dtypes),
        {"args": (src_vocab, tgt_vocab, E, H), "seed": seed},
    )


_SHAPES: dict[tuple, dict[str, tuple[int, ...]]] = {}


def weights(ref, case: Case) -> dict:
    """The case's random weights, drawn once from the reference's parameter shapes (the contract's)."""
    if "state" not in case.values:
        args = case.meta["args"]
        if args not in _SHAPES:
            _SHAPES[args] = {k: tuple(v.shape) for k, v in ref.new(NAME, *args).state_dict().items()}
        case.values["state"] = random_state(_SHAPES[args], case.meta["seed"] + 2)
    return case["state"]


def build(api, ref, case: Case, f64: bool = False, state: dict | None = None):
    dtype = torch.float64 if f64 else case.dtype
    state = state if state is not None else weights(ref, case)
    m = api.new(NAME, *case.meta["args"])
    m.to(dtype)
    m.load_state_dict(
        state.to(dtype) if hasattr(state, "recipe") else {k: v.to(dtype) for k, v in state.items()}
    )
    return m


def logits_of(m, case: Case, src: torch.Tensor, tgt_in: torch.Tensor, what: str = "logits") -> torch.Tensor:
    got = expect_tensor(m(src, tgt_in), what)
    expect_shape(got, (*tgt_in.shape, case.meta["args"][1]), f"{what} (B, T, tgt_vocab)")
    return got


def context_of(m, case: Case, src: torch.Tensor) -> torch.Tensor:
    got = expect_tensor(m.call(src, method="encode").value, "context")
    B, H = src.shape[0], case.meta["args"][3]
    if tuple(got.shape) == (1, B, H):
        raise Mismatch(
            f"context: shape {tuple(got.shape)}, expected {(B, H)}: nn.GRU returns h_n as (num_layers, B, "
            "d_hidden); take h_n[0] (or squeeze dim 0) for the context",
            "shape",
        )
    expect_shape(got, (B, H), "context (B, d_hidden)")
    return got


def decoded(
    m, case: Case, context: torch.Tensor, tgt_in: torch.Tensor, what: str = "decode(context, tgt_in)"
):
    got = expect_tensor(m.call(context, tgt_in, method="decode").value, what)
    expect_shape(got, (*tgt_in.shape, case.meta["args"][1]), f"{what} (B, T, tgt_vocab)")
    return got


def same(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> bool:
    rtol, atol = tolerance(dtype)
    return a.shape == b.shape and torch.allclose(
        a.to(torch.float64), b.to(torch.float64), rtol=10 * rtol, atol=10 * atol
    )


def largest_gap(a: torch.Tensor, b: torch.Tensor) -> str:
    return f"{float((a.to(torch.float64) - b.to(torch.float64)).abs().max()):.3g}"


# -- structure and shapes ----------------------------------------------------------------------
def advice(missing: list[str], unexpected: list[str]) -> str:
    return (
        "Use exactly the submodules src_emb, encoder, tgt_emb, decoder and out (the grader loads weights by "
        "these names), one GRU layer each, with default biases"
    )


@check(
    S2S,
    "has src_emb, encoder, tgt_emb, decoder (input d_emb + d_hidden) and out, with the contract's shapes",
    st.sampled_from([(5, 4, 3, 2), (3, 6, 2, 5), (4, 2, 1, 1)]),
    weight=0.3,
)
def s2s_parameters(case, you, ref):
    expect_parameters(
        you,
        ref,
        S2S,
        case,
        advice=advice,
        shape_advice=". The decoder reads cat([tgt_emb(token), context]) at every step, so its input "
        "size is d_emb + d_hidden; encoder and decoder both have d_hidden units",
    )


@check(
    S2S,
    "context is (B, d_hidden) whatever the source length; logits are (B, T, tgt_vocab)",
    s2s_case(),
    weight=0.3,
)
def s2s_shapes(case, you, ref):
    m = build(you, ref, case)
    (B, S), V = case["src"].shape, case.meta["args"][0]
    for length in (S, S + 3):
        src = tokens(case.meta["seed"] + length, B, length, vocab=V)
        context = context_of(m, case, src)
    decoded(m, case, context, case["tgt_in"])
    logits_of(m, case, case["src"], case["tgt_in"], "forward(src, tgt_in)")


# -- values ------------------------------------------------------------------------------------
@check(
    S2S,
    "matches the reference with the same weights: encode, decode and forward (float32 and float64)",
    s2s_case(),
    weight=0.75,
)
def s2s_matches(case, you, ref):
    src, tgt = case["src"], case["tgt_in"]
    mine, theirs = build(you, ref, case), build(ref, ref, case, f64=True)
    want_context = theirs.call(src, method="encode").value
    expect_close(context_of(mine, case, src), want_context, "context = encode(src)", dtype=case.dtype)
    # decode is judged on the reference's context, so that it is judged on its own
    context = want_context.to(case.dtype)
    expect_close(
        decoded(mine, case, context, tgt),
        theirs.call(want_context, tgt, method="decode").value,
        "decode(context, tgt_in)",
        dtype=case.dtype,
    )
    expect_close(logits_of(mine, case, src, tgt), theirs(src, tgt), "forward(src, tgt_in)", dtype=case.dtype)


@check(S2S, "forward(src, tgt_in) is exactly decode(encode(src), tgt_in)", s2s_case(), weight=0.3)
def s2s_composition(case, you, ref):
    m = build(you, ref, case)
    src, tgt = case["src"], case["tgt_in"]
    whole = logits_of(m, case, src, tgt, "forward(src, tgt_in)")
    parts = decoded(m, case, context_of(m, case, src), tgt, "decode(encode(src), tgt_in)")
    if not same(whole, parts, case.dtype):
        raise Mismatch(
            "forward(src, tgt_in) differs from decode(encode(src), tgt_in) by up to "
            f"{largest_gap(whole, parts)}: "
            "forward must be exactly that composition, so that the context is the decoder's only view of "
            "the source. Does forward hand the decoder something more (the encoder's outputs?)"
        )


# -- the bottleneck ----------------------------------------------------------------------------
SKIP_GATE = 100.0  # a pre-activation that puts the encoder's update gate at exactly 1.0


@st.composite
def bottleneck_case(draw) -> Case:
    """Two sources the encoder cannot tell apart, by construction.

    The last source token, `skip`, is made a no-op for the encoder: embedding feature 0 is 1 for
    skip and 0 for every other token, and the encoder's update-gate weights read feature 0 with
    weight 100. A GRU step is h' = (1 - z) ⊙ n + z ⊙ h, and with z = σ(≈100) = 1.0 (exactly, in
    float32 and float64) a skip token leaves the state unchanged. So `src` and `padded`, the same
    tokens with skip tokens inserted (one at the front, others anywhere), end in the same final
    state: the same context. Their per-step encoder outputs differ (more of them, some repeated,
    a zero one at the front), so a decoder that reads anything of the encoder but the context
    sees two different sources."""
    case = draw(s2s_case(d_emb=st.integers(2, 3)))
    B, S = case["src"].shape
    skip = case.meta["args"][0] - 1
    src = tokens(case.meta["seed"], B, S, vocab=skip)  # ordinary tokens only
    columns = [torch.full((B,), skip)] + list(src.T)
    for _ in range(draw(st.integers(0, 2))):
        columns.insert(draw(st.integers(0, len(columns))), torch.full((B,), skip))
    case.values |= {"src": src, "padded": torch.stack(columns, dim=1)}
    return case


def bottleneck_weights(ref, case: Case) -> dict[str, torch.Tensor]:
    state = {k: v.clone() for k, v in weights(ref, case).items()}
    skip, H = case.meta["args"][0] - 1, case.meta["args"][3]
    emb = state["src_emb.weight"]
    emb[:, 0] = 0.0
    emb[skip] = 0.0
    emb[skip, 0] = 1.0
    state["encoder.weight_ih_l0"][H : 2 * H, 0] = SKIP_GATE  # rows H:2H are the update gate z
    return state


@check(
    S2S,
    "the bottleneck: two sources with the same context get the same logits",
    bottleneck_case(),
    weight=0.5,
)
def s2s_bottleneck(case, you, ref):
    m = build(you, ref, case, state=bottleneck_weights(ref, case))
    src, padded, tgt = case["src"], case["padded"], case["tgt_in"]
    a, b = context_of(m, case, src), context_of(m, case, padded)
    if not same(a, b, case.dtype):
        raise Mismatch(
            f"encode gave different contexts (by up to {largest_gap(a, b)}) for two sources "
            "whose final encoder states "
            f"are equal by construction: src = {src[0].tolist()} and {padded[0].tolist()}, where token "
            f"{case.meta['args'][0] - 1} leaves the encoder's state unchanged "
            "(its update gate is set to 1). The "
            "context must be the encoder's final hidden state h_n, "
            "the state after the last token; not its first "
            "output and not an average over the steps"
        )
    x, y = logits_of(m, case, src, tgt), logits_of(m, case, padded, tgt)
    if not same(x, y, case.dtype):
        raise Mismatch(
            "two sources with the same context (yours agree) gave logits "
            f"that differ by up to {largest_gap(x, y)}: "
            "your decoder sees the source through something besides the context, "
            "such as the encoder's per-step "
            "outputs. Letting the decoder look back at every encoder state "
            "is attention (the next step of the "
            "course); here the context must be its only view of the source"
        )


@check(
    S2S,
    "decode depends only on its arguments: nothing is kept from an earlier encode",
    s2s_case(),
    weight=0.3,
)
def s2s_decode_alone(case, you, ref):
    fresh, used = build(you, ref, case), build(you, ref, case)
    src, tgt = case["src"], case["tgt_in"]
    context = context_of(used, case, src)
    try:
        alone = decoded(fresh, case, context, tgt)
    except LearnerError as e:
        if e.not_implemented:
            raise
        raise Mismatch(
            f"decode(context, tgt_in) on a model that has not encoded anything raised {e.info['type']}: "
            f"{e.info['message'][:200]}. decode must work from its arguments alone: the context is the "
            "only thing that passes from the encoder to the decoder"
        ) from None
    other = tokens(case.meta["seed"] + 7, src.shape[0], src.shape[1] + 2, vocab=case.meta["args"][0])
    context_of(used, case, other)  # encode something else in between
    after = decoded(used, case, context, tgt)
    if not same(alone, after, case.dtype):
        raise Mismatch(
            f"decode(context, tgt_in) with the same arguments gave different logits (by up to "
            f"{largest_gap(alone, after)}) after the model had encoded another source: decode uses "
            "something kept from encode besides the context it is given (the encoder's outputs?)"
        )


@st.composite
def step_case(draw) -> Case:
    case = draw(s2s_case(d_emb=st.integers(2, 3)))
    case.meta["t"] = draw(st.integers(0, case["tgt_in"].shape[1] - 1))
    return case


@check(
    S2S,
    "step t reads tgt_in[:, t] (already shifted) and earlier tokens, never later ones",
    step_case(),
    weight=0.4,
)
def s2s_teacher_forcing(case, you, ref):
    m = build(you, ref, case)
    src, tgt, t, V = case["src"], case["tgt_in"], case.meta["t"], case.meta["args"][1]
    base = logits_of(m, case, src, tgt)
    later = tgt.clone()
    later[:, t + 1 :] = (tgt[:, t + 1 :] + 1) % V
    moved = logits_of(m, case, src, later)
    if not same(base[:, : t + 1], moved[:, : t + 1], case.dtype):
        raise Mismatch(
            f"changing the decoder inputs after position {t} changed the logits at positions 0..{t}: step t "
            "may only read tgt_in[:, :t+1] (a unidirectional GRU run over the inputs in order)"
        )
    own = tgt.clone()
    own[:, t] = (tgt[:, t] + 1) % V
    changed = logits_of(m, case, src, own)
    # A different input token moves the logits by far more than rounding, in any dtype: compare
    # with a fixed threshold (bfloat16's tolerance would hide small but real changes).
    if float((base[:, t].to(torch.float64) - changed[:, t].to(torch.float64)).abs().max()) <= 1e-5:
        raise Mismatch(
            f"changing tgt_in[:, {t}] (from {tgt[:, t].tolist()} to {own[:, t].tolist()}) left the logits at "
            f"position {t} unchanged: step t must read its own input token. tgt_in is already shifted by "
            "the caller (a start token first); shifting it again makes every step read the token before"
        )


@check(S2S, "passes gradients to every parameter and to the context", s2s_case().map(untiered), weight=0.3)
def s2s_grads(case, you, ref):
    src, tgt = case["src"], case["tgt_in"]
    mine, theirs = build(you, ref, case), build(ref, ref, case, f64=True)
    yours = mine.call(src, tgt, grad_seed=GRAD_SEED)
    want = theirs.call(src, tgt, grad_seed=GRAD_SEED)
    try:
        expect_grads_with_overview(yours, want, ["src", "tgt_in"], case.dtype, params=True)
    except Mismatch as e:
        if "no gradient reached `src_emb" in str(e) or "no gradient reached `encoder" in str(e):
            first, _, overview = str(e).partition("\n")
            raise Mismatch(
                f"{first}. The encoder is trained only through the context: a .detach() (or .data, or "
                f"torch.no_grad) on the way cuts it off\n{overview}",
                e.stage,
            ) from None
        raise
    context = theirs.call(src, method="encode").value
    yours = mine.call(context.to(case.dtype), tgt, method="decode", grad_seed=GRAD_SEED)
    want = theirs.call(context, tgt, method="decode", grad_seed=GRAD_SEED)
    expect_grads_with_overview(yours, want, ["context", "tgt_in"], case.dtype)
