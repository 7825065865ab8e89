"""The Day 9 seq2seq reference against an oracle written step by step with torch.nn.GRUCell (the
same weights as the reference's nn.GRU layers), and its known mistakes against the reference text."""

from pathlib import Path

import pytest
import torch
from torch import nn

from quizgrader.analysis import diagnosis
from quizgrader.sandbox.loader import import_from

ROOT = Path(__file__).resolve().parents[1]
DT = torch.float64


ref = import_from(ROOT / "reference", "_ref_day09_seq2seq_tests", "day09.seq2seq")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def model(src_vocab=7, tgt_vocab=5, d_emb=4, d_hidden=3, seed=0, dtype=DT):
    torch.manual_seed(seed)
    return ref.Seq2Seq(src_vocab, tgt_vocab, d_emb, d_hidden).to(dtype)


def tokens(seed: int, *shape: int, vocab: int) -> torch.Tensor:
    return torch.randint(0, vocab, shape, generator=gen(seed))


def cell_of(gru: nn.GRU) -> nn.GRUCell:
    """A GRUCell with the weights of a one-layer GRU."""
    cell = nn.GRUCell(gru.input_size, gru.hidden_size).to(gru.weight_ih_l0.dtype)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(gru, f"{name}_l0"))
    return cell


def oracle(m, src: torch.Tensor, tgt_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(context, logits), one GRUCell step at a time."""
    enc, dec = cell_of(m.encoder), cell_of(m.decoder)
    h = torch.zeros(src.shape[0], m.encoder.hidden_size, dtype=m.out.weight.dtype)
    for t in range(src.shape[1]):
        h = enc(m.src_emb(src[:, t]), h)
    context, s, logits = h, h, []
    for t in range(tgt_in.shape[1]):
        s = dec(torch.cat([m.tgt_emb(tgt_in[:, t]), context], dim=-1), s)
        logits.append(m.out(s))
    return context, torch.stack(logits, dim=1)


def test_submodules_and_shapes():
    m = model(7, 5, 4, 3)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes["src_emb.weight"] == (7, 4) and shapes["tgt_emb.weight"] == (5, 4)
    assert shapes["encoder.weight_ih_l0"] == (9, 4) and shapes["decoder.weight_ih_l0"] == (9, 7)
    assert shapes["out.weight"] == (5, 3)
    assert m.encoder.batch_first and m.decoder.batch_first


@pytest.mark.parametrize("B, S, T", [(1, 1, 1), (2, 6, 4), (3, 9, 2)])
def test_matches_the_step_by_step_oracle(B, S, T):
    m = model(seed=S)
    src, tgt = tokens(S, B, S, vocab=7), tokens(S + 1, B, T, vocab=5)
    context, logits = oracle(m, src, tgt)
    torch.testing.assert_close(m.encode(src), context)
    torch.testing.assert_close(m.decode(context, tgt), logits)
    torch.testing.assert_close(m(src, tgt), logits)


def test_context_is_the_last_encoder_output_and_fixed_size():
    m = model()
    for S in (1, 5, 40):
        src = tokens(S, 2, S, vocab=7)
        outputs, _ = m.encoder(m.src_emb(src))
        context = m.encode(src)
        assert context.shape == (2, 3)
        torch.testing.assert_close(context, outputs[:, -1])


def test_the_decoder_sees_the_source_only_through_the_context():
    """Two different sources, one context: forced through encode, the logits are the same."""
    m = model()
    a, b, tgt = tokens(1, 2, 5, vocab=7), tokens(2, 2, 8, vocab=7), tokens(3, 2, 4, vocab=5)
    context = m.encode(a)
    m.encode = lambda src: context
    torch.testing.assert_close(m(a, tgt), m(b, tgt))


def test_decoder_is_causal_and_reads_its_own_token():
    m = model()
    src, tgt = tokens(4, 2, 5, vocab=7), tokens(5, 2, 4, vocab=5)
    base = m(src, tgt)
    later = tgt.clone()
    later[:, 2:] = (later[:, 2:] + 1) % 5
    torch.testing.assert_close(m(src, later)[:, :2], base[:, :2])
    own = tgt.clone()
    own[:, 1] = (own[:, 1] + 1) % 5
    assert not torch.allclose(m(src, own)[:, 1], base[:, 1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_kept_and_gradients_reach_every_parameter(dtype):
    m = model(dtype=dtype)
    src, tgt = tokens(6, 2, 5, vocab=7), tokens(7, 2, 3, vocab=5)
    logits = m(src, tgt)
    assert logits.dtype == dtype and logits.shape == (2, 3, 5)
    logits.pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


def test_gradcheck_through_the_context():
    m = model()
    tgt = tokens(8, 2, 3, vocab=5)
    context = torch.randn(2, 3, generator=gen(9), dtype=DT).tanh().requires_grad_()
    assert torch.autograd.gradcheck(lambda c: m.decode(c, tgt), (context,))


# --- the known mistakes ----------------------------------------------------------------------
MISTAKES = [m for m in diagnosis.mistakes("day09") if m.file == "day09/seq2seq.py"]


def test_at_least_three_mistakes():
    assert len(MISTAKES) >= 3
