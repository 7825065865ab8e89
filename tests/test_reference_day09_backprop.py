"""The Day 9 manual backprop reference against torch's autograd (including at relu's kink), the
worked example of its hints, and the "from scratch" rule on a version that calls autograd."""

import shutil
from pathlib import Path

import torch
from hypothesis import given
from hypothesis import strategies as st

from quizgrader.grade import Options, grade
from quizgrader.results import Status
from quizgrader.sandbox.loader import import_from

ROOT = Path(__file__).resolve().parents[1]
BP = import_from(ROOT / "reference", "_ref_day09_backprop_tests", "day09.backprop")


def autograd_oracle(x, y, W1, b1, W2, b2):
    """The same network and loss, differentiated by torch."""
    params = [t.detach().clone().requires_grad_(True) for t in (W1, b1, W2, b2)]
    w1, c1, w2, c2 = params
    y_hat = torch.relu(x @ w1.T + c1) @ w2.T + c2
    loss = ((y_hat - y) ** 2).sum(-1).mean()
    grads = torch.autograd.grad(loss, params)
    return loss.detach(), dict(zip(("W1", "b1", "W2", "b2"), grads))


def random_inputs(seed, N, d_in, d_h, d_out, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    shapes = [(N, d_in), (N, d_out), (d_h, d_in), (d_h,), (d_out, d_h), (d_out,)]
    return [torch.randn(*s, generator=g, dtype=torch.float64).to(dtype) for s in shapes]


@given(st.integers(0, 2**16), st.integers(1, 6), st.integers(1, 5), st.integers(1, 6), st.integers(1, 4))
def test_matches_autograd(seed, N, d_in, d_h, d_out):
    inputs = random_inputs(seed, N, d_in, d_h, d_out)
    loss, grads = BP.mlp_forward_backward(*inputs)
    want_loss, want = autograd_oracle(*inputs)
    torch.testing.assert_close(loss, want_loss)
    assert loss.shape == () and set(grads) == set(want)
    for name in want:
        torch.testing.assert_close(grads[name], want[name], msg=name)


def test_relu_kink_follows_torch():
    """Units whose pre-activation is exactly 0 get relu'(0) = 0, as torch's relu does."""
    x, y, W1, b1, W2, b2 = random_inputs(3, 4, 3, 5, 2)
    W1[[1, 3]] = 0.0
    b1[[1, 3]] = 0.0
    _, grads = BP.mlp_forward_backward(x, y, W1, b1, W2, b2)
    _, want = autograd_oracle(x, y, W1, b1, W2, b2)
    for name in want:
        torch.testing.assert_close(grads[name], want[name], msg=name)
    assert torch.equal(grads["b1"][[1, 3]], torch.zeros(2, dtype=torch.float64))


def test_float32_in_float32_out_and_inputs_untouched():
    inputs = random_inputs(5, 3, 2, 4, 3, dtype=torch.float32)
    before = [t.clone() for t in inputs]
    loss, grads = BP.mlp_forward_backward(*inputs)
    assert loss.dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads.values())
    assert all(torch.equal(a, b) for a, b in zip(inputs, before))


def test_hint_worked_example():
    def t(v):
        return torch.tensor(v, dtype=torch.float64)

    loss, g = BP.mlp_forward_backward(t([[1.0]]), t([[1.0]]), t([[2.0]]), t([0.0]), t([[3.0]]), t([0.0]))
    assert float(loss) == 25.0
    assert [float(g[k]) for k in ("W2", "b2", "W1", "b1")] == [20.0, 10.0, 30.0, 30.0]
    loss, g = BP.mlp_forward_backward(t([[1.0]]), t([[1.0]]), t([[2.0]]), t([-2.0]), t([[3.0]]), t([0.0]))
    assert float(loss) == 1.0
    assert [float(g[k]) for k in ("W2", "b2", "W1", "b1")] == [0.0, -2.0, 0.0, 0.0]


def test_calling_autograd_fails_written_from_scratch(tmp_path, zygote):
    """A version that lets autograd do the backward pass fails: autograd is disabled in its process,
    so the call fails naming it, and the "from scratch" check names the line."""
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws)
    path = ws / "day09" / "backprop.py"
    old = '    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}'
    new = (
        "    params = [t.detach().requires_grad_(True) for t in (W1, b1, W2, b2)]\n"
        "    out = torch.relu(x @ params[0].T + params[1]) @ params[2].T + params[3]\n"
        "    grads = torch.autograd.grad(((out - y) ** 2).sum(-1).mean(), params)\n"
        '    return loss, dict(zip(("W1", "b1", "W2", "b2"), grads))'
    )
    assert path.read_text().count(old) == 1
    path.write_text(path.read_text().replace(old, new))
    result = grade(
        "day09", Options(workspace=ws, only=["mlp_forward_backward"], profile="quick"), zygote=zygote
    ).exercises[-1]
    failed = [c for c in result.checks if c.status is not Status.PASS]
    scratch = next(c for c in failed if c.name == "written from scratch (no forbidden library calls)")
    assert result.status is Status.FAIL and "not written from scratch" in result.reason, result.reason
    assert "torch.autograd.grad" in scratch.message and "line" in scratch.message, scratch.message
    assert all("asks you to write yourself" in c.message for c in failed if c is not scratch), failed
