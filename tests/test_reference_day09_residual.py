"""The Day 9 residual reference: ResidualBlock against the formula with nn.Linear and against
gradcheck, and layer_gradient_norms against one backward pass per depth; the deep-stack figures
that the grader's measuring check relies on, over several seeds; the grader's
stack_gradient_norms routine."""

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from quizgrader.days.day09 import tools
from quizgrader.sandbox.loader import import_from

ROOT = Path(__file__).resolve().parents[1]
R = import_from(ROOT / "reference", "_ref_day09_residual_tests", "day09.residual")
DT = torch.float64


def test_block_is_the_formula_with_nn_linear():
    torch.manual_seed(0)
    block = R.ResidualBlock(5, zero_init=False).double()
    fc1, fc2 = nn.Linear(5, 5).double(), nn.Linear(5, 5).double()
    fc1.load_state_dict(block.fc1.state_dict())
    fc2.load_state_dict(block.fc2.state_dict())
    x = torch.randn(2, 3, 5, dtype=DT)
    torch.testing.assert_close(block(x), x + fc2(torch.relu(fc1(x))))
    assert sorted(block.state_dict()) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]


def test_default_init_is_nn_linear_and_zero_init_zeroes_fc2_only():
    torch.manual_seed(1)
    plain = R.ResidualBlock(4, zero_init=False)
    torch.manual_seed(1)
    fc1, fc2 = nn.Linear(4, 4), nn.Linear(4, 4)
    for name, layer in (("fc1", fc1), ("fc2", fc2)):
        for k, v in layer.state_dict().items():
            assert torch.equal(plain.state_dict()[f"{name}.{k}"], v)
    torch.manual_seed(1)
    zero = R.ResidualBlock(4)
    assert torch.equal(zero.fc1.weight, fc1.weight)
    assert not zero.fc2.weight.any() and not zero.fc2.bias.any()


def test_zero_init_is_exactly_the_identity_and_can_learn():
    block = R.ResidualBlock(6)
    x = torch.randn(4, 6) * 100
    assert torch.equal(block(x), x)
    x.requires_grad_(True)
    out = block(x)
    c = torch.randn_like(out)
    (out * c).sum().backward()
    assert torch.equal(x.grad, c)
    assert block.fc2.weight.grad.abs().sum() > 0 and not block.fc1.weight.grad.any()


def test_block_gradcheck():
    block = R.ResidualBlock(3, zero_init=False).double()
    x = torch.randn(2, 3, dtype=DT, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,))


def one_backward_per_depth(layers, x):
    """norms[l] from its own backward pass: h_l as a fresh leaf, through layers[l:] only."""
    hs = [x]
    with torch.no_grad():
        for layer in layers:
            hs.append(layer(hs[-1]))
    norms = []
    for i, h in enumerate(hs):
        leaf = h.clone().requires_grad_(True)
        out = leaf
        for layer in list(layers)[i:]:
            out = layer(out)
        (g,) = torch.autograd.grad(out.sum(), leaf)
        norms.append(g.norm())
    return torch.stack(norms)


CONTAINERS = {"list": list, "sequential": lambda layers: nn.Sequential(*layers), "modulelist": nn.ModuleList}


@pytest.mark.parametrize("container", CONTAINERS)
def test_norms_match_one_backward_per_depth(container):
    torch.manual_seed(2)
    layers = [nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2), nn.ReLU(), R.ResidualBlock(2, zero_init=False)]
    layers = [m.double() for m in layers]
    stack = CONTAINERS[container](layers)
    x = torch.randn(4, 3, dtype=DT)
    got = R.layer_gradient_norms(stack, x)
    assert got.shape == (6,) and got.dtype == DT and not got.requires_grad
    torch.testing.assert_close(got, one_backward_per_depth(layers, x))
    assert float(got[-1]) == pytest.approx(math.sqrt(4 * 2))


def test_norms_leave_x_and_parameters_alone_and_work_under_no_grad():
    torch.manual_seed(3)
    layers = [nn.Linear(4, 4), nn.Tanh()]
    x = torch.randn(2, 4)
    with torch.no_grad():
        got = R.layer_gradient_norms(layers, x)
    assert got.shape == (3,) and not x.requires_grad and x.grad is None
    assert all(p.grad is None for p in layers[0].parameters())


def test_identity_blocks_keep_every_norm():
    x = torch.randn(3, 5)
    got = R.layer_gradient_norms([R.ResidualBlock(5) for _ in range(4)], x)
    torch.testing.assert_close(got, torch.full((5,), math.sqrt(15.0)))


def test_hint_worked_example():
    layer = nn.Linear(1, 1).double()
    with torch.no_grad():
        layer.weight.fill_(0.5)
        layer.bias.zero_()
    got = R.layer_gradient_norms([layer], torch.tensor([[2.0], [4.0]], dtype=DT))
    torch.testing.assert_close(got, torch.tensor([0.5 * math.sqrt(2), math.sqrt(2)], dtype=DT))


@pytest.mark.parametrize("seed", range(4))
def test_deep_stack_figures_sit_far_from_the_checks_thresholds(seed):
    """The measuring check asks norms[0]/norms[L] <= 1e-3 through 30 plain tanh layers and every
    norm within 10x of the top's through 30 residual blocks (zero_init=False)."""
    torch.manual_seed(seed)
    d, L = 16, 30
    x = torch.randn(8, d)
    plain = R.layer_gradient_norms([nn.Sequential(nn.Linear(d, d), nn.Tanh()) for _ in range(L)], x)
    res = R.layer_gradient_norms([R.ResidualBlock(d, zero_init=False) for _ in range(L)], x)
    assert plain[0] / plain[-1] < 1e-5
    assert float(res.min() / res[-1]) > 0.3 and float(res.max() / res[-1]) < 5


def test_stack_gradient_norms_builds_the_described_stack():
    g = torch.Generator().manual_seed(4)
    w, b = torch.randn(2, 3, generator=g, dtype=DT), torch.randn(2, generator=g, dtype=DT)
    spec = [
        {"kind": "linear", "d_in": 3, "d_out": 2, "state": {"weight": w, "bias": b}},
        {"kind": "tanh"},
        {"kind": "sequential", "layers": [{"kind": "block", "d": 2, "zero_init": True}, {"kind": "relu"}]},
    ]
    x = torch.randn(5, 3, generator=g, dtype=DT)
    seen = {}

    def fn(stack, x):
        seen["stack"] = stack
        return R.layer_gradient_norms(stack, x)

    fn.__module__ = R.__name__  # where the routine finds the block class
    for container, kind in (("list", list), ("sequential", nn.Sequential), ("modulelist", nn.ModuleList)):
        got = tools.stack_gradient_norms(fn, layers=spec, x=x, container=container)
        assert isinstance(seen["stack"], kind) and len(seen["stack"]) == 3
        lin = nn.Linear(3, 2).double()
        lin.load_state_dict({"weight": w, "bias": b})
        want = R.layer_gradient_norms(
            [lin, nn.Tanh(), nn.Sequential(R.ResidualBlock(2).double(), nn.ReLU())], x
        )
        torch.testing.assert_close(got, want)
