"""The Day 9 RNN reference against PyTorch's own machinery: the product of Jacobians against
torch.autograd.functional.jacobian of the unrolled RNN, the LSTM cell against torch.nn.LSTMCell
with copied weights; and its known mistakes against the reference text."""

from pathlib import Path

import pytest
import torch
from torch import nn

from quizgrader.analysis import diagnosis
from quizgrader.sandbox.loader import import_from

ROOT = Path(__file__).resolve().parents[1]
DT = torch.float64


ref = import_from(ROOT / "reference", "_ref_day09_rnn_tests", "day09.rnn")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape, g, dtype=DT, scale: float = 1.0):
    return torch.randn(*shape, generator=g, dtype=dtype) * scale


# --- rnn_jacobian_norms ------------------------------------------------------------------------
def rnn_inputs(seed: int, H: int, d_in: int, T: int, norm: float, scale: float = 1.0, dtype=DT):
    g = gen(seed)
    W_hh = randn(H, H, g=g)
    W_hh = W_hh * (norm / torch.linalg.matrix_norm(W_hh, ord=2))
    return {
        "W_hh": W_hh.to(dtype),
        "W_xh": randn(H, d_in, g=g, dtype=dtype),
        "b": randn(H, g=g, dtype=dtype, scale=0.3),
        "xs": randn(T, d_in, g=g, dtype=dtype, scale=scale),
        "h0": torch.tanh(randn(H, g=g, dtype=dtype)),
    }


def unrolled(W_hh, W_xh, b, xs, h0, t: int) -> torch.Tensor:
    h = h0
    for x in xs[:t]:
        h = torch.tanh(W_hh @ h + W_xh @ x + b)
    return h


def autograd_norms(W_hh, W_xh, b, xs, h0) -> torch.Tensor:
    """||∂h_t/∂h_0||_2 for t = 1 .. T, each Jacobian by autograd, the norm as the top singular value."""
    out = []
    for t in range(1, xs.shape[0] + 1):
        J = torch.autograd.functional.jacobian(lambda h, t=t: unrolled(W_hh, W_xh, b, xs, h, t), h0)  # (H, H)
        out.append(torch.linalg.svdvals(J)[0])
    return torch.stack(out)


@pytest.mark.parametrize(
    "seed, H, d_in, T, norm, scale",
    [
        (0, 1, 1, 4, 0.9, 1.0),
        (1, 3, 2, 6, 0.5, 2.0),
        (2, 4, 3, 8, 1.1, 1.0),
        (3, 5, 1, 5, 1.5, 0.3),
    ],
)
def test_norms_match_autograd_jacobians(seed, H, d_in, T, norm, scale):
    inputs = rnn_inputs(seed, H, d_in, T, norm, scale)
    got = ref.rnn_jacobian_norms(**inputs)
    assert got.shape == (T,) and got.dtype == DT
    torch.testing.assert_close(got, autograd_norms(**inputs))


def test_the_order_of_the_product_matters_and_is_right():
    """With saturating inputs the per-step Jacobians do not commute: the reversed product has
    other norms, and the reference agrees with autograd, not with it."""
    inputs = rnn_inputs(4, 3, 2, 5, 1.2, scale=2.0)
    want = autograd_norms(**inputs)
    torch.testing.assert_close(ref.rnn_jacobian_norms(**inputs), want)
    h, J = inputs["h0"], torch.eye(3, dtype=DT)
    reversed_norms = []
    for x in inputs["xs"]:
        h = torch.tanh(inputs["W_hh"] @ h + inputs["W_xh"] @ x + inputs["b"])
        J = J @ ((1 - h**2)[:, None] * inputs["W_hh"])
        reversed_norms.append(torch.linalg.matrix_norm(J, ord=2))
    assert not torch.allclose(torch.stack(reversed_norms), want, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("norm", [0.5, 0.9, 1.3])
def test_norms_never_exceed_the_spectral_norm_to_the_t(norm):
    inputs = rnn_inputs(5, 4, 3, 12, norm, scale=0.5)
    got = ref.rnn_jacobian_norms(**inputs)
    bound = norm ** torch.arange(1, 13, dtype=DT)
    assert (got <= bound * (1 + 1e-12)).all()
    if norm < 1:
        assert (got[1:] < got[:-1]).all()


def test_linear_regime_is_exactly_geometric():
    """h0 = 0, b = 0, xs = 0: every state is 0, tanh' = 1, and the norms are ||W_hh||^t exactly for
    a scaled orthogonal W_hh."""
    q, _ = torch.linalg.qr(randn(6, 6, g=gen(6)))
    zeros = {
        "W_xh": torch.zeros(6, 2, dtype=DT),
        "b": torch.zeros(6, dtype=DT),
        "xs": torch.zeros(10, 2, dtype=DT),
        "h0": torch.zeros(6, dtype=DT),
    }
    for s in (0.9, 1.1):
        torch.testing.assert_close(ref.rnn_jacobian_norms(s * q, **zeros), s ** torch.arange(1, 11, dtype=DT))


def test_norms_float32_and_inputs_untouched():
    inputs = rnn_inputs(7, 3, 2, 4, 0.9, dtype=torch.float32)
    copies = {k: v.clone() for k, v in inputs.items()}
    got = ref.rnn_jacobian_norms(**inputs)
    assert got.dtype == torch.float32
    assert all(torch.equal(inputs[k], copies[k]) for k in inputs)
    torch.testing.assert_close(
        got.double(),
        ref.rnn_jacobian_norms(**{k: v.double() for k, v in inputs.items()}),
        rtol=1e-4,
        atol=1e-5,
    )


def test_norms_gradcheck():
    inputs = {k: v.requires_grad_() for k, v in rnn_inputs(8, 3, 2, 3, 0.9).items()}
    assert torch.autograd.gradcheck(ref.rnn_jacobian_norms, tuple(inputs.values()))


# --- LSTMCell --------------------------------------------------------------------------------
def twins(input_size: int, hidden: int, seed: int, dtype=DT):
    """The reference cell and torch.nn.LSTMCell with the same random weights."""
    torch_cell = nn.LSTMCell(input_size, hidden).to(dtype)
    mine = ref.LSTMCell(input_size, hidden).to(dtype)
    g = gen(seed)
    with torch.no_grad():
        for p in torch_cell.parameters():
            p.copy_(randn(*p.shape, g=g, dtype=dtype, scale=0.7))
    mine.load_state_dict(torch_cell.state_dict())
    return mine, torch_cell


def test_lstm_parameters_have_the_torch_layout():
    mine, torch_cell = ref.LSTMCell(3, 5), nn.LSTMCell(3, 5)
    assert {k: v.shape for k, v in mine.state_dict().items()} == {
        k: v.shape for k, v in torch_cell.state_dict().items()
    }
    bound = 1 / 5**0.5
    assert all(p.abs().max() <= bound for p in mine.parameters())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lstm_matches_torch_with_and_without_state(dtype):
    mine, torch_cell = twins(4, 3, 0, dtype)
    g = gen(1)
    x, h, c = (
        randn(5, 4, g=g, dtype=dtype),
        randn(5, 3, g=g, dtype=dtype),
        randn(5, 3, g=g, dtype=dtype, scale=2.0),
    )
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {}
    for got, want in ((mine(x, (h, c)), torch_cell(x, (h, c))), (mine(x), torch_cell(x))):
        assert got[0].dtype == got[1].dtype == dtype
        torch.testing.assert_close(got[0], want[0], **tol)
        torch.testing.assert_close(got[1], want[1], **tol)


def test_lstm_unbatched_matches_torch():
    mine, torch_cell = twins(2, 4, 2)
    g = gen(3)
    x, h, c = randn(2, g=g), randn(4, g=g), randn(4, g=g)
    for got, want in ((mine(x, (h, c)), torch_cell(x, (h, c))), (mine(x), torch_cell(x))):
        assert got[0].shape == got[1].shape == (4,)
        torch.testing.assert_close(got, want)


def test_lstm_unrolled_over_a_sequence_matches_torch():
    mine, torch_cell = twins(3, 2, 4)
    xs = randn(6, 2, 3, g=gen(5))
    a = b = None
    for x in xs:
        a, b = mine(x, a), torch_cell(x, b)
    torch.testing.assert_close(a, b)


def test_cell_state_jacobian_is_the_forget_gate():
    mine, _ = twins(3, 4, 6)
    g = gen(7)
    x, h, c = randn(3, g=g), randn(4, g=g), randn(4, g=g)
    J = torch.autograd.functional.jacobian(lambda c_: mine(x, (h, c_))[1], c)  # (H, H)
    pre = mine.weight_ih @ x + mine.bias_ih + mine.weight_hh @ h + mine.bias_hh
    f = torch.sigmoid(pre[4:8]).detach()
    torch.testing.assert_close(J, torch.diag(f))


def test_lstm_gradients_match_torch():
    mine, torch_cell = twins(3, 2, 8)
    g = gen(9)
    x, h, c = randn(4, 3, g=g), randn(4, 2, g=g), randn(4, 2, g=g)
    weights = randn(4, 2, g=g)
    grads = []
    for cell in (mine, torch_cell):
        inputs = [t.clone().requires_grad_() for t in (x, h, c)]
        h1, c1 = cell(inputs[0], (inputs[1], inputs[2]))
        ((h1 * weights).sum() + c1.pow(2).sum()).backward()
        grads.append([t.grad for t in inputs] + [p.grad for p in cell.parameters()])
    assert all(gr is not None for gr in grads[0])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_lstm_leaves_the_state_alone():
    mine, _ = twins(2, 3, 10)
    g = gen(11)
    x, h, c = randn(2, 2, g=g), randn(2, 3, g=g), randn(2, 3, g=g)
    copies = [t.clone() for t in (x, h, c)]
    mine(x, (h, c))
    assert all(torch.equal(a, b) for a, b in zip((x, h, c), copies))


# --- the known mistakes ----------------------------------------------------------------------
MISTAKES = [m for m in diagnosis.mistakes("day09") if m.file == "day09/rnn.py"]


def test_enough_mistakes_for_each_exercise():
    by_exercise = {
        e: [m for m in MISTAKES if m.exercise == e]
        for e in ("day09.rnn.rnn_jacobian_norms", "day09.rnn.LSTMCell")
    }
    assert len(by_exercise["day09.rnn.rnn_jacobian_norms"]) >= 3
    assert len(by_exercise["day09.rnn.LSTMCell"]) >= 4
