"""The positional-encoding reference against independent formulations: the worked example (with
the errata of the course notes), RoPE as multiplication by complex numbers, ALiBi slopes as the
paper's code computes them, and the learned table as nn.Embedding."""

import math
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from quizgrader.grade import Options, grade
from quizgrader.results import Status
from quizgrader.sandbox.loader import import_from

ROOT = Path(__file__).resolve().parents[1]
P = import_from(ROOT / "reference", "_ref_positional_tests", "day16.positional")


def test_sinusoidal_worked_example_and_errata():
    pe = P.sinusoidal_encoding(101, 8)
    assert pe.dtype == torch.float32 and pe.shape == (101, 8)
    assert torch.equal(pe[0], torch.tensor([0.0, 1.0] * 4))
    torch.testing.assert_close(
        pe[1], torch.tensor([0.841, 0.540, 0.100, 0.995, 0.010, 1.000, 0.001, 1.000]), atol=1e-3, rtol=0
    )
    # The course module prints -0.999, 0.045 for dims 2-3 of position 100; the formula gives:
    torch.testing.assert_close(
        pe[100], torch.tensor([-0.506, 0.862, -0.544, -0.839, 0.841, 0.540, 0.100, 0.995]), atol=1e-3, rtol=0
    )
    assert pe.abs().max() <= 1.0


@given(st.integers(1, 50), st.integers(1, 8).map(lambda n: 2 * n))
def test_sinusoidal_is_the_formula(T, d):
    pe = P.sinusoidal_encoding(T, d).double()
    for p in {0, T - 1}:
        for i in range(d // 2):
            angle = p / 10000 ** (2 * i / d)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def rope_complex(x: torch.Tensor, positions: torch.Tensor, base: float) -> torch.Tensor:
    """RoPE as in LLaMA: interleaved pairs as complex numbers, multiplied by e^(i·angle)."""
    d = x.shape[-1]
    freqs = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angle = positions.double()[..., None] * freqs
    z = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(z * torch.polar(torch.ones_like(angle), angle)).flatten(-2)


@given(
    st.integers(1, 6),
    st.integers(1, 6).map(lambda n: 2 * n),
    st.sampled_from([10000.0, 100.0]),
    st.integers(0, 2**16),
)
def test_rope_is_complex_multiplication(T, d, base, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, T, d, generator=g, dtype=torch.float64)
    positions = torch.randint(0, 500, (T,), generator=g)
    torch.testing.assert_close(P.apply_rope(x, positions, base=base), rope_complex(x, positions, base))
    torch.testing.assert_close(P.apply_rope(x), rope_complex(x, torch.arange(T), 10000.0))


def test_rope_broadcast_positions_and_gradcheck():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 4, 6, generator=g, dtype=torch.float64, requires_grad=True)
    positions = torch.randint(0, 50, (2, 1, 4), generator=g)
    torch.testing.assert_close(P.apply_rope(x, positions), rope_complex(x.detach(), positions, 10000.0))
    assert torch.autograd.gradcheck(lambda t: P.apply_rope(t, positions), (x,))


def alibi_paper_slopes(n: int) -> list[float]:
    """The slopes as the ALiBi authors' code computes them."""

    def power_of_2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + alibi_paper_slopes(2 * closest)[0::2][: n - closest]


@pytest.mark.parametrize("h", [1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 32])
def test_alibi_slopes_match_the_paper(h):
    got = P.alibi_slopes(h)
    assert got.dtype == torch.float32 and got.shape == (h,)
    torch.testing.assert_close(
        got.double(), torch.tensor(alibi_paper_slopes(h), dtype=torch.float64), rtol=1e-6, atol=0
    )


def test_alibi_bias_entries():
    h, T = 3, 5
    bias, slopes = P.alibi_bias(h, T), P.alibi_slopes(h)
    for k in range(h):
        for i in range(T):
            for j in range(T):
                want = -slopes[k].item() * (i - j) if j <= i else 0.0
                assert bias[k, i, j].item() == pytest.approx(want)


def test_learned_embedding_is_nn_embedding_plus_x():
    m = P.LearnedPositionalEmbedding(6, 4).double()
    assert isinstance(m.embedding, nn.Embedding) and list(m.state_dict()) == ["embedding.weight"]
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(m(x), x + m.embedding.weight[:5])
    with pytest.raises(ValueError, match="max_len"):
        m(torch.randn(1, 7, 4, dtype=torch.float64))


ROPE_EVERY_TWO = '''def apply_rope(x, positions=None, base=10000.0):
    """Rotate-every-two RoPE, as GPT-J writes it, with its angles computed in float32."""
    T, d = x.shape[-2], x.shape[-1]
    if positions is None:
        positions = torch.arange(T, device=x.device)
    inv_freq = 1.0 / base ** (torch.arange(0, d, 2, dtype=torch.float32, device=x.device) / d)
    angles = positions.to(torch.float32)[..., None] * inv_freq
    sin = angles.sin().repeat_interleave(2, dim=-1).to(x.dtype)
    cos = angles.cos().repeat_interleave(2, dim=-1).to(x.dtype)
    rotated = torch.stack((-x[..., 1::2], x[..., ::2]), dim=-1).flatten(-2)
    return x * cos + rotated * sin


'''


@pytest.fixture(scope="module")
def every_two(tmp_path_factory) -> Path:
    """A workspace whose apply_rope is an independent, correct formulation: the contract admits its
    float32 angles, in every check (values, gradients, relative scores)."""
    ws = tmp_path_factory.mktemp("rope") / "ws"
    shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__"))
    path = ws / "day16" / "positional.py"
    text = path.read_text()
    start, end = text.index("def apply_rope("), text.index("def alibi_slopes(")
    path.write_text(text[:start] + ROPE_EVERY_TWO + text[end:])
    return ws


@pytest.mark.parametrize(
    "profile, seed",
    [(p, s) for p in ("quick", "default") for s in range(6)] + [("thorough", 0), ("thorough", 1)],
)
def test_rope_with_float32_angles_passes_every_check(every_two, profile, seed, zygote):
    report = grade(
        "day16", Options(every_two, only=["positional.apply_rope"], profile=profile, seed=seed), zygote=zygote
    )
    (result,) = report.exercises
    assert result.status is Status.PASS, [
        (c.name, c.message) for c in result.checks if c.status is not Status.PASS
    ]
