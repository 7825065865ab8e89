"""The Day 9 information-theory reference against PyTorch's own routines (torch.distributions,
torch.special, F.cross_entropy, F.kl_div, autograd), and its known mistakes against the reference.

Every comparison with an oracle is done in float64.
"""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Categorical, kl_divergence

from quizgrader.analysis import diagnosis
from quizgrader.sandbox.loader import import_from

ROOT = Path(__file__).resolve().parents[1]
DT = torch.float64


info = import_from(ROOT / "reference", "_ref_day09_information_tests", "day09.information")


def distributions(seed: int, *shape: int, zeros: float = 0.0) -> torch.Tensor:
    """Random distributions along the last axis; a fraction `zeros` of the entries exactly 0
    (never a whole distribution)."""
    g = torch.Generator().manual_seed(seed)
    w = (torch.randn(*shape, generator=g, dtype=DT) * 1.5).exp()
    if zeros:
        drop = torch.rand(*shape, generator=g) < zeros
        drop[..., 0] = False
        w = w.masked_fill(drop, 0.0)
    return w / w.sum(-1, keepdim=True)


SEEDS = range(8)


@pytest.mark.parametrize("seed", SEEDS)
def test_entropy_matches_categorical_and_entr(seed):
    p = distributions(seed, 3, 4, 6, zeros=0.4)
    assert (p == 0).any()
    got = info.entropy(p)
    torch.testing.assert_close(got, Categorical(probs=p).entropy())
    torch.testing.assert_close(got, torch.special.entr(p).sum(-1))


@pytest.mark.parametrize("dim", [0, 1, -2, 2])
def test_any_dim_is_the_last_dim_moved(dim):
    p = distributions(11, 2, 3, 5, zeros=0.3).movedim(-1, dim)
    q = distributions(12, 2, 3, 5).movedim(-1, dim)
    last = (p.movedim(dim, -1), q.movedim(dim, -1))
    torch.testing.assert_close(info.entropy(p, dim=dim), info.entropy(last[0]))
    torch.testing.assert_close(info.cross_entropy(p, q, dim=dim), info.cross_entropy(*last))
    torch.testing.assert_close(info.kl_divergence(p, q, dim=dim), info.kl_divergence(*last))


@pytest.mark.parametrize("seed", SEEDS)
def test_cross_entropy_matches_xlogy_and_f_cross_entropy(seed):
    p = distributions(seed, 5, 7, zeros=0.4)
    q = distributions(seed + 100, 5, 7)
    got = info.cross_entropy(p, q)
    torch.testing.assert_close(got, -torch.special.xlogy(p, q).sum(-1))
    # F.cross_entropy takes logits and probability targets: with log q as the logits its
    # log-softmax is log q again, so it computes -sum p log q.
    torch.testing.assert_close(got, F.cross_entropy(q.log(), p, reduction="none"))


def test_cross_entropy_of_a_class_is_the_negative_log_likelihood():
    q = distributions(3, 6, 5)
    k = torch.tensor([0, 4, 2, 2, 1, 3])
    got = info.cross_entropy(F.one_hot(k, 5).to(DT), q)
    torch.testing.assert_close(got, F.nll_loss(q.log(), k, reduction="none"))
    torch.testing.assert_close(
        info.cross_entropy(F.one_hot(k, 5).to(DT), torch.full_like(q, 0.2)),
        torch.full((6,), math.log(5), dtype=DT),
    )


def test_zero_probability_outcomes_follow_the_conventions():
    p = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]], dtype=DT)
    q = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=DT)
    assert not info.entropy(p).isnan().any()
    ce, kl = info.cross_entropy(p, q), info.kl_divergence(p, q)
    assert ce[0] == pytest.approx(math.log(2)) and kl[0] == 0.0  # q = 0 only where p = 0: finite
    assert ce[1] == math.inf and kl[1] == math.inf  # q = 0 < p: +inf
    assert ce[2] == 0.0 and kl[2] == 0.0  # certain, and q agrees
    torch.testing.assert_close(kl, kl_divergence(Categorical(probs=p), Categorical(probs=q)))


@pytest.mark.parametrize("seed", SEEDS)
def test_kl_matches_torch_distributions_and_f_kl_div(seed):
    p = distributions(seed, 4, 6, zeros=0.3)
    q = distributions(seed + 100, 4, 6, zeros=0.2)
    q = torch.where(p > 0, q.clamp_min(1e-3), q)
    q = q / q.sum(-1, keepdim=True)
    got = info.kl_divergence(p, q)
    torch.testing.assert_close(got, kl_divergence(Categorical(probs=p), Categorical(probs=q)))
    positive = distributions(seed + 200, 4, 6)
    torch.testing.assert_close(
        info.kl_divergence(p, positive), F.kl_div(positive.log(), p, reduction="none").sum(-1)
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_cross_entropy_is_entropy_plus_kl(seed):
    p = distributions(seed, 3, 2, 5, zeros=0.3)
    q = distributions(seed + 1, 3, 2, 5)
    torch.testing.assert_close(info.cross_entropy(p, q), info.entropy(p) + info.kl_divergence(p, q))
    assert (info.kl_divergence(p, q) >= 0).all()
    assert (info.kl_divergence(p, p) == 0).all()
    assert info.entropy(torch.full((7,), 1 / 7, dtype=DT)).item() == pytest.approx(math.log(7))


def test_float32_in_float32_out():
    p32, q32 = distributions(5, 3, 4).float(), distributions(6, 3, 4).float()
    for out in (
        info.entropy(p32),
        info.cross_entropy(p32, q32),
        info.kl_divergence(p32, q32),
        info.code_length_bits(p32, torch.tensor([0, 1, 3])),
    ):
        assert out.dtype == torch.float32


def test_gradients_match_finite_differences():
    p = distributions(7, 2, 4).requires_grad_()
    q = distributions(8, 2, 4).requires_grad_()
    assert torch.autograd.gradcheck(info.entropy, (p,))
    assert torch.autograd.gradcheck(info.cross_entropy, (p, q))
    assert torch.autograd.gradcheck(info.kl_divergence, (p, q))
    tokens = torch.tensor([1, 3])
    assert torch.autograd.gradcheck(lambda probs: info.code_length_bits(probs, tokens), (q,))


def test_gradients_are_finite_where_p_has_zeros():
    p = torch.tensor([0.5, 0.5, 0.0], dtype=DT, requires_grad=True)
    q = torch.tensor([0.2, 0.3, 0.5], dtype=DT, requires_grad=True)
    (info.entropy(p) + info.cross_entropy(p, q) + info.kl_divergence(p, q)).backward()
    assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_code_length_is_the_cross_entropy_in_bits(seed):
    T, V = 9, 5
    probs = distributions(seed, T, V)
    tokens = torch.randint(0, V, (T,), generator=torch.Generator().manual_seed(seed))
    got = info.code_length_bits(probs, tokens)
    assert got.shape == ()
    torch.testing.assert_close(got, F.cross_entropy(probs.log(), tokens, reduction="sum") / math.log(2))
    torch.testing.assert_close(got, -Categorical(probs=probs).log_prob(tokens).sum() / math.log(2))


def test_code_length_of_a_uniform_model_and_of_an_impossible_token():
    T, V = 6, 8
    tokens = torch.arange(T) % V
    assert info.code_length_bits(torch.full((T, V), 1 / V, dtype=DT), tokens).item() == pytest.approx(T * 3.0)
    probs = torch.tensor([[1.0, 0.0], [0.5, 0.5]], dtype=DT)
    assert info.code_length_bits(probs, torch.tensor([0, 1])).item() == pytest.approx(1.0)
    assert info.code_length_bits(probs, torch.tensor([1, 1])).item() == math.inf


MISTAKES = [m for m in diagnosis.mistakes("day09") if m.file == "day09/information.py"]


def test_at_least_six_mistakes_over_the_module():
    assert len(MISTAKES) >= 6
    assert {m.exercise.rsplit(".", 1)[1] for m in MISTAKES} == {
        "entropy",
        "cross_entropy",
        "kl_divergence",
        "code_length_bits",
    }
