"""The Day 16 model references (block.py, recipe.py, lm.py) against real oracles: PyTorch's own
transformer layers and cross-entropy, closed forms, and hand-unrolled computations. Also checks
that the learner stubs of those files raise NotImplementedError and mirror the reference's API.

Workspaces are imported as packages under private names, so their relative imports work and
nothing has to be installed. Comparisons with an oracle run in float64 at a tight tolerance.
"""

import inspect
import math
from itertools import pairwise
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from quizgrader.sandbox.loader import import_from

ROOT = Path(__file__).resolve().parents[1]
DT = torch.float64
TIGHT = {"rtol": 1e-10, "atol": 1e-10}

block = import_from(ROOT / "reference", "_ref_model_tests", "day16.block")
recipe = import_from(ROOT / "reference", "_ref_model_tests", "day16.recipe")
lm = import_from(ROOT / "reference", "_ref_model_tests", "day16.lm")
masks = import_from(ROOT / "reference", "_ref_model_tests", "day16.masks")
multihead = import_from(ROOT / "reference", "_ref_model_tests", "day16.multihead")
REF = {"block": block, "recipe": recipe, "lm": lm}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape, g, dtype=DT):
    return torch.randn(*shape, generator=g, dtype=dtype)


def randomise_layer_norms(module: nn.Module, g: torch.Generator) -> None:
    """Give every LayerNorm a non-trivial affine part, so that copying it is actually tested."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(1 + 0.3 * randn(*m.weight.shape, g=g, dtype=m.weight.dtype))
                m.bias.copy_(0.3 * randn(*m.bias.shape, g=g, dtype=m.bias.dtype))


def copy_attention(ours, theirs: nn.MultiheadAttention) -> None:
    """Our bias-free MHA into torch's packed layout; torch's biases are zeroed."""
    theirs.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight, ours.W_v.weight]))
    theirs.out_proj.weight.copy_(ours.W_o.weight)
    theirs.in_proj_bias.zero_()
    theirs.out_proj.bias.zero_()


def copy_linear_and_norm(ours: nn.Module, theirs: nn.Module, pairs) -> None:
    for mine, other in pairs:
        src, dst = ours.get_submodule(mine), theirs.get_submodule(other)
        dst.weight.copy_(src.weight)
        dst.bias.copy_(src.bias)


# --- FeedForward and TransformerBlock --------------------------------------------------------


def test_feedforward_submodules_and_default_width():
    ff = block.FeedForward(8)
    assert isinstance(ff.fc1, nn.Linear) and isinstance(ff.fc2, nn.Linear)
    assert ff.fc1.weight.shape == (32, 8) and ff.fc2.weight.shape == (8, 32)
    assert ff.fc1.bias is not None and ff.fc2.bias is not None
    assert block.FeedForward(8, 12).fc1.weight.shape == (12, 8)
    assert set(ff.state_dict()) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}


@pytest.mark.parametrize("activation, fn", [("gelu", F.gelu), ("relu", F.relu)])
def test_feedforward_formula(activation, fn):
    ff = block.FeedForward(6, 10, activation=activation).to(DT)
    x = randn(2, 3, 6, g=gen(1))
    expected = F.linear(fn(F.linear(x, ff.fc1.weight, ff.fc1.bias)), ff.fc2.weight, ff.fc2.bias)
    torch.testing.assert_close(ff(x), expected, **TIGHT)


def test_feedforward_gelu_is_exact_not_tanh():
    ff = block.FeedForward(4, 4).to(DT)
    with torch.no_grad():
        ff.fc1.weight.copy_(torch.eye(4, dtype=DT))
        ff.fc1.bias.zero_()
        ff.fc2.weight.copy_(torch.eye(4, dtype=DT))
        ff.fc2.bias.zero_()
    x = torch.linspace(-3, 3, 8, dtype=DT).reshape(2, 4)
    torch.testing.assert_close(ff(x), F.gelu(x), **TIGHT)
    assert not torch.allclose(ff(x), F.gelu(x, approximate="tanh"), rtol=0, atol=1e-6)


def test_feedforward_rejects_unknown_activation():
    with pytest.raises(ValueError):
        block.FeedForward(8, activation="swish")


def test_transformer_block_submodules():
    b = block.TransformerBlock(12, 3, 20)
    assert isinstance(b.attn, multihead.MultiHeadAttention) and isinstance(b.ff, block.FeedForward)
    assert all(getattr(b.attn, p).bias is None for p in ("W_q", "W_k", "W_v", "W_o"))
    assert isinstance(b.ln1, nn.LayerNorm) and isinstance(b.ln2, nn.LayerNorm)
    assert b.ff.fc1.weight.shape == (20, 12)
    assert block.TransformerBlock(12, 3).ff.fc1.weight.shape == (48, 12)
    assert not any(isinstance(m, nn.Dropout) for m in b.modules())
    with pytest.raises(ValueError):
        block.TransformerBlock(10, 3)


@pytest.mark.parametrize("pre_ln", [True, False])
@pytest.mark.parametrize("activation", ["gelu", "relu"])
@pytest.mark.parametrize("causal", [False, True])
def test_transformer_block_matches_torch_encoder_layer(pre_ln, activation, causal):
    torch.manual_seed(2)
    d, h, d_ff, T = 12, 3, 20, 5
    ours = block.TransformerBlock(d, h, d_ff, pre_ln=pre_ln, activation=activation).to(DT)
    randomise_layer_norms(ours, gen(3))
    theirs = nn.TransformerEncoderLayer(
        d,
        h,
        d_ff,
        dropout=0.0,
        activation=activation,
        batch_first=True,
        norm_first=pre_ln,
        bias=True,
        dtype=DT,
    )
    with torch.no_grad():
        copy_attention(ours.attn, theirs.self_attn)
        pairs = [("ff.fc1", "linear1"), ("ff.fc2", "linear2"), ("ln1", "norm1"), ("ln2", "norm2")]
        copy_linear_and_norm(ours, theirs, pairs)
    x = randn(2, T, d, g=gen(4))
    mask = masks.causal_mask(T) if causal else None
    src_mask = None if mask is None else ~mask  # torch's bool mask marks what is *forbidden*
    out = ours(x, mask=mask)
    assert out.shape == x.shape and out.dtype == DT
    torch.testing.assert_close(out, theirs(x, src_mask=src_mask), **TIGHT)


@pytest.mark.parametrize("pre_ln", [True, False])
def test_zeroed_sublayers(pre_ln):
    torch.manual_seed(5)
    b = block.TransformerBlock(8, 2, pre_ln=pre_ln).to(DT)
    randomise_layer_norms(b, gen(6))
    with torch.no_grad():
        b.attn.W_o.weight.zero_()
        b.ff.fc2.weight.zero_()
        b.ff.fc2.bias.zero_()
    x = randn(2, 4, 8, g=gen(7))
    out = b(x, mask=masks.causal_mask(4))
    if pre_ln:
        # Both sublayers add exactly 0: the residual stream passes through untouched.
        assert torch.equal(out, x)
    else:
        torch.testing.assert_close(out, b.ln2(b.ln1(x)), rtol=0, atol=0)


def test_transformer_block_causal_mask_blocks_the_future():
    torch.manual_seed(8)
    b = block.TransformerBlock(8, 2).to(DT)
    x = randn(1, 5, 8, g=gen(9))
    later = x.clone()
    later[:, 3:] += randn(1, 2, 8, g=gen(14))  # not a constant shift: LayerNorm removes those
    mask = masks.causal_mask(5)
    torch.testing.assert_close(b(x, mask)[:, :3], b(later, mask)[:, :3], **TIGHT)
    assert not torch.allclose(b(x)[:, :3], b(later)[:, :3])


@pytest.mark.parametrize("pre_ln", [True, False])
def test_transformer_block_gradients_reach_everything_and_input_untouched(pre_ln):
    torch.manual_seed(10)
    b = block.TransformerBlock(8, 2, pre_ln=pre_ln).to(DT)
    x = randn(2, 3, 8, g=gen(11)).requires_grad_()
    before = x.detach().clone()
    # An uneven weighting: a plain sum would give the last LayerNorm's weight a zero gradient.
    (b(x) * randn(2, 3, 8, g=gen(12))).sum().backward()
    assert torch.equal(x.detach(), before)
    for name, t in [("x", x), *b.named_parameters()]:
        assert t.grad is not None and t.grad.abs().sum() > 0, name


def test_transformer_block_float32():
    b = block.TransformerBlock(8, 2)
    x = randn(2, 3, 8, g=gen(13), dtype=torch.float32)
    assert b(x, masks.causal_mask(3)).dtype == torch.float32


# --- DecoderBlock ----------------------------------------------------------------------------


def decoder_inputs(seed, B=2, T=4, S=6, d=12):
    g = gen(seed)
    x, memory = randn(B, T, d, g=g), randn(B, S, d, g=g)
    memory_mask = torch.ones(B, 1, 1, S, dtype=torch.bool)
    memory_mask[0, ..., 4:] = False  # the first source sequence has two padded positions
    return x, memory, memory_mask


def make_decoder_block(seed, d=12, h=3, d_ff=20, activation="gelu"):
    torch.manual_seed(seed)
    b = block.DecoderBlock(d, h, d_ff, activation=activation).to(DT)
    randomise_layer_norms(b, gen(seed + 1))
    return b


def test_decoder_block_submodules():
    b = block.DecoderBlock(12, 3)
    for name in ("self_attn", "cross_attn"):
        attn = getattr(b, name)
        assert isinstance(attn, multihead.MultiHeadAttention)
        assert all(getattr(attn, p).bias is None for p in ("W_q", "W_k", "W_v", "W_o"))
    assert isinstance(b.ff, block.FeedForward) and b.ff.fc1.weight.shape == (48, 12)
    assert all(isinstance(getattr(b, n), nn.LayerNorm) for n in ("ln1", "ln2", "ln3"))


def test_decoder_block_matches_hand_written_composition():
    b = make_decoder_block(20)
    x, memory, memory_mask = decoder_inputs(21)
    self_mask = masks.causal_mask(x.size(1))
    # Fresh attention modules holding the block's weights, and the rest written out by hand.
    sa, ca = multihead.MultiHeadAttention(12, 3).to(DT), multihead.MultiHeadAttention(12, 3).to(DT)
    sa.load_state_dict(b.self_attn.state_dict())
    ca.load_state_dict(b.cross_attn.state_dict())

    def ln(t, norm):
        return F.layer_norm(t, (12,), norm.weight, norm.bias, norm.eps)

    h = x + sa(ln(x, b.ln1), mask=self_mask)[0]
    h = h + ca(ln(h, b.ln2), context=memory, mask=memory_mask)[0]
    ff = b.ff
    h = h + F.linear(F.gelu(F.linear(ln(h, b.ln3), ff.fc1.weight, ff.fc1.bias)), ff.fc2.weight, ff.fc2.bias)
    out = b(x, memory, self_mask=self_mask, memory_mask=memory_mask)
    assert out.shape == x.shape
    torch.testing.assert_close(out, h, **TIGHT)


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_decoder_block_matches_torch_decoder_layer(activation):
    b = make_decoder_block(22, activation=activation)
    theirs = nn.TransformerDecoderLayer(
        12,
        3,
        20,
        dropout=0.0,
        activation=activation,
        batch_first=True,
        norm_first=True,
        bias=True,
        dtype=DT,
    )
    with torch.no_grad():
        copy_attention(b.self_attn, theirs.self_attn)
        copy_attention(b.cross_attn, theirs.multihead_attn)
        pairs = [
            ("ff.fc1", "linear1"),
            ("ff.fc2", "linear2"),
            ("ln1", "norm1"),
            ("ln2", "norm2"),
            ("ln3", "norm3"),
        ]
        copy_linear_and_norm(b, theirs, pairs)
    x, memory, memory_mask = decoder_inputs(23)
    self_mask = masks.causal_mask(x.size(1))
    expected = theirs(x, memory, tgt_mask=~self_mask, memory_key_padding_mask=~memory_mask[:, 0, 0])
    out = b(x, memory, self_mask=self_mask, memory_mask=memory_mask)
    torch.testing.assert_close(out, expected, **TIGHT)


def test_decoder_block_uses_memory_and_respects_memory_mask():
    b = make_decoder_block(24)
    x, memory, memory_mask = decoder_inputs(25)
    out = b(x, memory, memory_mask=memory_mask)
    assert not torch.allclose(b(x, memory + randn(*memory.shape, g=gen(19)), memory_mask=memory_mask), out)
    # Change only the masked memory positions (sequence 0, positions 4 and 5): nothing may move.
    changed = memory.clone()
    changed[0, 4:] = randn(2, 12, g=gen(26)) * 10
    torch.testing.assert_close(b(x, changed, memory_mask=memory_mask), out, **TIGHT)
    # Without the mask those positions do matter.
    assert not torch.allclose(b(x, changed)[0], b(x, memory)[0])


def test_decoder_block_gradients_reach_everything():
    b = make_decoder_block(27)
    x, memory, _ = decoder_inputs(28)
    x.requires_grad_()
    memory.requires_grad_()
    (b(x, memory, self_mask=masks.causal_mask(4)) * randn(2, 4, 12, g=gen(29))).sum().backward()
    for name, t in [("x", x), ("memory", memory), *b.named_parameters()]:
        assert t.grad is not None and t.grad.abs().sum() > 0, name


# --- label-smoothed cross-entropy ------------------------------------------------------------


@st.composite
def smoothing_case(draw):
    N, V = draw(st.integers(1, 6)), draw(st.integers(1, 7))
    g = gen(draw(st.integers(0, 2**16)))
    scale = draw(st.sampled_from([0.1, 1.0, 30.0]))
    logits = randn(N, V, g=g) * scale
    targets = torch.randint(0, V, (N,), generator=g)
    ignore_index = draw(st.sampled_from([-100, -1, 0]))
    ignored = torch.tensor(draw(st.lists(st.booleans(), min_size=N, max_size=N)))
    targets = torch.where(ignored, torch.full_like(targets, ignore_index), targets)
    epsilon = draw(st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0)))
    return logits, targets, epsilon, ignore_index


@given(smoothing_case())
def test_label_smoothing_matches_torch(case):
    logits, targets, epsilon, ignore_index = case
    ours_in, theirs_in = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    ours = recipe.label_smoothed_cross_entropy(ours_in, targets, epsilon, ignore_index=ignore_index)
    theirs = F.cross_entropy(theirs_in, targets, label_smoothing=epsilon, ignore_index=ignore_index)
    assert ours.shape == () and ours.dtype == DT
    torch.testing.assert_close(ours, theirs, equal_nan=True, **TIGHT)
    if (targets != ignore_index).any():
        ours.backward()
        theirs.backward()
        torch.testing.assert_close(ours_in.grad, theirs_in.grad, **TIGHT)
    assert torch.equal(logits, ours_in.detach())


def test_label_smoothing_all_ignored_is_nan():
    logits = randn(3, 4, g=gen(30))
    out = recipe.label_smoothed_cross_entropy(logits, torch.full((3,), -100), 0.1)
    assert torch.isnan(out)
    assert torch.isnan(F.cross_entropy(logits, torch.full((3,), -100), label_smoothing=0.1))


def test_label_smoothing_default_ignore_index_and_closed_form():
    # Two classes, logits equal: every class has p = 1/2, so the loss is ln 2 whatever eps is.
    logits = torch.zeros(2, 2, dtype=DT)
    targets = torch.tensor([1, -100])
    out = recipe.label_smoothed_cross_entropy(logits, targets, 0.3)
    torch.testing.assert_close(out, torch.tensor(math.log(2), dtype=DT), **TIGHT)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_label_smoothing_large_logits_stay_finite(dtype):
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype=dtype)
    targets = torch.tensor([1, 2])
    out = recipe.label_smoothed_cross_entropy(logits, targets, 0.1)
    assert out.dtype == dtype and torch.isfinite(out)
    expected = F.cross_entropy(logits, targets, label_smoothing=0.1)
    torch.testing.assert_close(out, expected)


def test_label_smoothing_gradcheck():
    logits = randn(5, 4, g=gen(31)).requires_grad_()
    targets = torch.tensor([0, 3, -100, 1, 1])
    assert torch.autograd.gradcheck(lambda t: recipe.label_smoothed_cross_entropy(t, targets, 0.2), (logits,))


# --- the Noam schedule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "step, d_model, warmup, factor",
    [(1, 512, 4000, 1.0), (100, 512, 4000, 2.0), (4000, 512, 4000, 1.0), (10_000, 64, 100, 0.5)],
)
def test_noam_closed_form(step, d_model, warmup, factor):
    expected = factor * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)
    out = recipe.noam_lr(step, d_model, warmup, factor)
    assert isinstance(out, float)
    assert out == pytest.approx(expected, rel=1e-12)


def test_noam_known_values():
    # Warmup: linear in the step. Decay: the inverse square root.
    assert recipe.noam_lr(1, 16, 100) == pytest.approx(16**-0.5 * 100**-1.5, rel=1e-12)
    assert recipe.noam_lr(400, 16, 100) == pytest.approx(0.25 * 0.05, rel=1e-12)
    assert recipe.noam_lr(100, 16, 100, factor=2.0) == pytest.approx(2 * 0.25 * 0.1, rel=1e-12)


def test_noam_peaks_at_warmup():
    d, w = 64, 50
    lrs = [recipe.noam_lr(s, d, w) for s in range(1, 4 * w)]
    assert max(range(len(lrs)), key=lrs.__getitem__) + 1 == w
    assert lrs[w - 1] == pytest.approx((d * w) ** -0.5, rel=1e-12)
    assert all(a < b for a, b in pairwise(lrs[:w]))
    assert all(a > b for a, b in pairwise(lrs[w - 1 :]))


@pytest.mark.parametrize("step", [0, -1])
def test_noam_rejects_step_below_one(step):
    with pytest.raises(ValueError, match="step"):
        recipe.noam_lr(step, 512, 4000)


# --- DecoderLM -------------------------------------------------------------------------------

V, D, H, L, MAX_LEN = 11, 16, 2, 2, 8


def make_lm(seed=40, positional="learned", pre_ln=True, dtype=DT, **kw):
    torch.manual_seed(seed)
    return lm.DecoderLM(V, D, H, L, MAX_LEN, pre_ln=pre_ln, positional=positional, **kw).to(dtype)


def tokens_for(seed, B=2, T=6):
    return torch.randint(0, V, (B, T), generator=gen(seed))


def expected_keys(positional, num_layers=L):
    keys = {"tok_emb.weight", "ln_f.weight", "ln_f.bias", "lm_head.weight"}
    if positional == "learned":
        keys.add("pos_emb.embedding.weight")
    for i in range(num_layers):
        p = f"blocks.{i}."
        keys |= {p + f"attn.{w}.weight" for w in ("W_q", "W_k", "W_v", "W_o")}
        keys |= {p + f"ff.{fc}.{t}" for fc in ("fc1", "fc2") for t in ("weight", "bias")}
        keys |= {p + f"{n}.{t}" for n in ("ln1", "ln2") for t in ("weight", "bias")}
    return keys


@pytest.mark.parametrize("positional", ["learned", "sinusoidal", "none"])
@pytest.mark.parametrize("pre_ln", [True, False])
def test_lm_state_dict_keys_and_submodules(positional, pre_ln):
    m = make_lm(positional=positional, pre_ln=pre_ln)
    assert set(m.state_dict()) == expected_keys(positional)
    assert isinstance(m.tok_emb, nn.Embedding) and m.tok_emb.weight.shape == (V, D)
    assert (m.pos_emb is None) == (positional != "learned")
    assert isinstance(m.blocks, nn.ModuleList) and len(m.blocks) == L
    for b in m.blocks:
        assert isinstance(b, block.TransformerBlock) and b.pre_ln == pre_ln
        assert b.ff.fc1.weight.shape == (4 * D, D)
    assert isinstance(m.ln_f, nn.LayerNorm)
    assert m.lm_head.weight.shape == (V, D) and m.lm_head.bias is None
    assert m.lm_head.weight.data_ptr() != m.tok_emb.weight.data_ptr()


def test_lm_d_ff_is_passed_on():
    m = lm.DecoderLM(V, D, H, 1, MAX_LEN, d_ff=24)
    assert m.blocks[0].ff.fc1.weight.shape == (24, D)


@pytest.mark.parametrize("bad", ["rope", "Learned", ""])
def test_lm_rejects_unknown_positional(bad):
    with pytest.raises(ValueError):
        lm.DecoderLM(V, D, H, L, MAX_LEN, positional=bad)


@pytest.mark.parametrize("positional", ["learned", "sinusoidal", "none"])
@pytest.mark.parametrize("pre_ln", [True, False])
def test_lm_forward_matches_hand_unrolled(positional, pre_ln):
    m = make_lm(41, positional, pre_ln)
    randomise_layer_norms(m, gen(42))
    tokens = tokens_for(43)
    T = tokens.size(1)
    x = m.tok_emb.weight[tokens]
    if positional == "learned":
        x = x + m.pos_emb.embedding.weight[:T]
    elif positional == "sinusoidal":
        position = torch.arange(T, dtype=DT)[:, None]
        angle = position / 10000 ** (torch.arange(0, D, 2, dtype=DT) / D)
        x = x + torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1).float().to(DT)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for b in m.blocks:
        x = b(x, mask)
    if pre_ln:
        x = F.layer_norm(x, (D,), m.ln_f.weight, m.ln_f.bias, m.ln_f.eps)
    logits = m(tokens)
    assert logits.shape == (2, T, V) and logits.dtype == DT
    torch.testing.assert_close(logits, x @ m.lm_head.weight.T, **TIGHT)


@pytest.mark.parametrize("positional", ["learned", "sinusoidal", "none"])
def test_lm_is_causal(positional):
    m = make_lm(44, positional)
    tokens = tokens_for(45, T=MAX_LEN)
    changed = tokens.clone()
    changed[:, -1] = (changed[:, -1] + 1) % V
    a, b = m(tokens), m(changed)
    torch.testing.assert_close(a[:, :-1], b[:, :-1], **TIGHT)
    assert not torch.allclose(a[:, -1], b[:, -1])


@pytest.mark.parametrize("positional", ["learned", "sinusoidal", "none"])
def test_lm_rejects_sequences_longer_than_max_len(positional):
    m = make_lm(46, positional)
    m(tokens_for(47, T=MAX_LEN))
    with pytest.raises(ValueError):
        m(tokens_for(47, T=MAX_LEN + 1))


def test_lm_state_dict_round_trip():
    a, b = make_lm(48, "sinusoidal"), make_lm(49, "sinusoidal")
    b.load_state_dict(a.state_dict())
    tokens = tokens_for(50)
    torch.testing.assert_close(a(tokens), b(tokens), rtol=0, atol=0)


@pytest.mark.parametrize("pre_ln", [True, False])
def test_lm_gradients_reach_every_used_parameter(pre_ln):
    m = make_lm(51, "learned", pre_ln)
    tokens = tokens_for(52, T=MAX_LEN)
    logits = m(tokens)
    F.cross_entropy(logits[:, :-1].reshape(-1, V), tokens[:, 1:].reshape(-1)).backward()
    for name, p in m.named_parameters():
        if name.startswith("ln_f.") and not pre_ln:
            assert p.grad is None or p.grad.abs().sum() == 0, name  # Post-LN: ln_f is unused
            continue
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("pre_ln", [True, False])
def test_lm_initial_loss_is_near_uniform(pre_ln):
    vocab = 50
    torch.manual_seed(53)
    m = lm.DecoderLM(vocab, 32, 4, 2, 16, pre_ln=pre_ln)
    tokens = torch.randint(0, vocab, (4, 16), generator=gen(54))
    with torch.no_grad():
        logits = m(tokens)
    loss = F.cross_entropy(logits.reshape(-1, vocab), tokens.roll(-1, dims=1).reshape(-1))
    assert logits.dtype == torch.float32
    assert abs(loss.item() - math.log(vocab)) < 1.0


def greedy_unrolled(m, prompt, n):
    tokens = prompt
    for _ in range(n):
        logits = m(tokens[:, -MAX_LEN:])[:, -1]
        tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], dim=1)
    return tokens


@pytest.mark.parametrize("T0", [1, 3, MAX_LEN, MAX_LEN + 3])
def test_generate_greedy_equals_argmax_unrolling(T0):
    m = make_lm(55)
    prompt = tokens_for(56, T=T0)
    out = m.generate(prompt, 6, temperature=0)
    assert out.shape == (2, T0 + 6) and out.dtype == torch.long
    assert torch.equal(out[:, :T0], prompt)
    assert torch.equal(out, greedy_unrolled(m, prompt, 6))


def test_generate_top_k_one_is_greedy():
    m = make_lm(57)
    prompt = tokens_for(58, T=3)
    out = m.generate(prompt, 7, temperature=1.0, top_k=1, generator=gen(59))
    assert torch.equal(out, m.generate(prompt, 7, temperature=0))


def test_generate_sampling_follows_the_recipe():
    m = make_lm(60)
    prompt = tokens_for(61, T=5)
    temperature, k = 0.7, 3
    g = gen(62)
    tokens = prompt
    for _ in range(6):
        logits = m(tokens[:, -MAX_LEN:])[:, -1] / temperature
        kth = logits.topk(k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
        nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=g)
        tokens = torch.cat([tokens, nxt], dim=1)
    out = m.generate(prompt, 6, temperature=temperature, top_k=k, generator=gen(62))
    assert torch.equal(out, tokens)


def test_generate_is_reproducible_and_runs_without_autograd():
    m = make_lm(63, dtype=torch.float32)
    prompt = tokens_for(64, T=2)
    a = m.generate(prompt, 10, generator=gen(65))
    b = m.generate(prompt, 10, generator=gen(65))
    assert torch.equal(a, b) and a.shape == (2, 12) and a.dtype == torch.long
    assert not a.requires_grad and torch.is_grad_enabled()
    assert ((a >= 0) & (a < V)).all()
    assert torch.equal(m.generate(prompt, 0), prompt)


def test_generate_top_k_stays_in_the_top_k():
    m = make_lm(66)
    prompt = tokens_for(67, B=3, T=4)
    out = m.generate(prompt, 5, temperature=2.0, top_k=2, generator=gen(68))
    for t in range(4, 9):
        logits = m(out[:, max(0, t - MAX_LEN) : t])[:, -1]
        top2 = logits.topk(2, dim=-1).indices
        assert (top2 == out[:, t : t + 1]).any(dim=-1).all()


# --- the learner stubs mirror the reference --------------------------------------------------

STUB = {
    name: import_from(ROOT / "exercises", "_stub_model_tests", f"day16.{name}")
    for name in ("block", "recipe", "lm")
}
EXERCISES = {
    "block": ["FeedForward", "TransformerBlock", "DecoderBlock"],
    "recipe": ["noam_lr", "label_smoothed_cross_entropy"],
    "lm": ["DecoderLM"],
}
METHODS = {"DecoderLM": ["__init__", "forward", "generate"]}
CASES = [(m, n) for m, names in EXERCISES.items() for n in names]


def callables(module, name):
    ref, stub = getattr(REF[module], name), getattr(STUB[module], name)
    if not inspect.isclass(ref):
        return [(ref, stub)]
    return [(getattr(ref, meth), getattr(stub, meth)) for meth in METHODS.get(name, ["__init__", "forward"])]


@pytest.mark.parametrize("module, name", CASES)
def test_stub_has_reference_signature_and_documents_every_argument(module, name):
    for r, s in callables(module, name):
        assert inspect.signature(r) == inspect.signature(s), f"{name}.{r.__name__}"
        for param in inspect.signature(s).parameters:
            if param != "self":
                assert param in (s.__doc__ or ""), f"{name}.{s.__name__}: docstring lacks {param}"


def test_stubs_raise_not_implemented():
    g = gen(70)
    x = randn(2, 3, 8, g=g)
    block_stub, recipe_stub, lm_stub = STUB["block"], STUB["recipe"], STUB["lm"]
    constructors = [
        lambda: block_stub.FeedForward(8),
        lambda: block_stub.TransformerBlock(8, 2),
        lambda: block_stub.DecoderBlock(8, 2),
        lambda: lm_stub.DecoderLM(V, D, H, L, MAX_LEN),
        lambda: recipe_stub.noam_lr(1, 512, 4000),
        lambda: recipe_stub.label_smoothed_cross_entropy(randn(3, 4, g=g), torch.tensor([0, 1, 2]), 0.1),
    ]
    # Methods are called unbound: a stub instance cannot be built, and each body raises at once.
    methods = [
        lambda: block_stub.FeedForward.forward(None, x),
        lambda: block_stub.TransformerBlock.forward(None, x),
        lambda: block_stub.DecoderBlock.forward(None, x, x),
        lambda: lm_stub.DecoderLM.forward(None, tokens_for(71)),
        lambda: lm_stub.DecoderLM.generate(None, tokens_for(71), 3),
    ]
    for call in constructors + methods:
        with pytest.raises(NotImplementedError):
            call()
