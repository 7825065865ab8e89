"""The Day 9 stability reference (gradient clipping, layer norm, warmup-cosine schedule) against
PyTorch's own implementations, and its known mistakes against the reference text."""

import math
import re
import tomllib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from quizgrader.sandbox.loader import import_from
from quizgrader.sandbox.tools import call_on_parameters

ROOT = Path(__file__).resolve().parents[1]
MISTAKES = tomllib.loads(
    (ROOT / "quizgrader" / "days" / "day09" / "mistakes" / "stability.toml").read_text()
)["mistake"]
DT = torch.float64


SOURCE = ROOT / "reference" / "day09" / "stability.py"
ref = import_from(ROOT / "reference", "_ref_day09_stability_tests", "day09.stability")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- clip_grad_norm_ ---------------------------------------------------------------------------
def make_params(shapes, seed: int, dtype=DT, scale: float = 1.0, no_grad=()) -> list[torch.nn.Parameter]:
    """Parameters with grads (None for the indices in no_grad; those are frozen when even)."""
    g = gen(seed)
    params = []
    for i, shape in enumerate(shapes):
        p = torch.nn.Parameter(torch.randn(shape, generator=g, dtype=dtype))
        if i in no_grad:
            p.requires_grad_(i % 2 == 1)
        else:
            p.grad = torch.randn(shape, generator=g, dtype=dtype) * scale
        params.append(p)
    return params


def twins(*args, **kwargs):
    """Two independent copies of the same parameters: one for the reference, one for torch."""
    a = make_params(*args, **kwargs)
    b = make_params(*args, **kwargs)
    return a, b


def assert_same_grads(a, b):
    for p, q in zip(a, b):
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad)
        torch.testing.assert_close(p.detach(), q.detach())


@pytest.mark.parametrize("max_norm", [0.05, 0.5, 1.0, 3.0, 100.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 10.0])
def test_clip_matches_torch(max_norm, dtype, scale):
    shapes = [(3, 4), (4,), (), (2, 2, 2)]
    mine, theirs = twins(shapes, seed=int(max_norm * 100), dtype=dtype, scale=scale)
    got = ref.clip_grad_norm_(mine, max_norm)
    want = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert got.dtype == want.dtype and got.shape == ()
    torch.testing.assert_close(got, want)
    assert_same_grads(mine, theirs)


def test_clip_returns_the_norm_before_clipping_and_clips_to_max_norm():
    a, b = make_params([(2,), (2,)], seed=0)
    a.grad, b.grad = torch.tensor([3.0, 0.0], dtype=DT), torch.tensor([0.0, 4.0], dtype=DT)
    total = ref.clip_grad_norm_([a, b], 1.0)
    assert float(total) == pytest.approx(5.0)
    torch.testing.assert_close(a.grad, torch.tensor([0.6, 0.0], dtype=DT))
    torch.testing.assert_close(b.grad, torch.tensor([0.0, 0.8], dtype=DT))
    after = math.sqrt(float(a.grad.pow(2).sum() + b.grad.pow(2).sum()))
    assert after == pytest.approx(5.0 / (5.0 + 1e-6))


def test_clip_modifies_the_grad_tensors_in_place():
    params = make_params([(3,), (2, 2)], seed=1, scale=10.0)
    grads = [p.grad for p in params]
    ref.clip_grad_norm_(params, 0.1)
    assert all(p.grad is g for p, g in zip(params, grads))


def test_clip_below_max_norm_changes_nothing():
    params = make_params([(3,), (2, 2)], seed=2)
    before = [p.grad.clone() for p in params]
    ref.clip_grad_norm_(params, 1e3)
    assert all(torch.equal(p.grad, b) for p, b in zip(params, before))


def test_clip_skips_parameters_without_grad():
    shapes = [(3,), (2,), (4,), (2, 3)]
    mine, theirs = twins(shapes, seed=3, no_grad=(1, 2))
    torch.testing.assert_close(ref.clip_grad_norm_(mine, 0.2), torch.nn.utils.clip_grad_norm_(theirs, 0.2))
    assert mine[1].grad is None and mine[2].grad is None
    assert_same_grads(mine, theirs)


@pytest.mark.parametrize("container", ["single", "generator"])
def test_clip_accepts_a_single_tensor_and_a_generator(container):
    shapes = [(3, 2)] if container == "single" else [(3, 2), (4,)]
    mine, theirs = twins(shapes, seed=4, scale=5.0)
    if container == "single":
        got, want = ref.clip_grad_norm_(mine[0], 1.0), torch.nn.utils.clip_grad_norm_(theirs[0], 1.0)
    else:
        got = ref.clip_grad_norm_((p for p in mine), 1.0)
        want = torch.nn.utils.clip_grad_norm_((p for p in theirs), 1.0)
    torch.testing.assert_close(got, want)
    assert_same_grads(mine, theirs)


def test_clip_without_any_grad_returns_zero_like_torch():
    for shapes in ([], [(2,), (3,)]):
        mine, theirs = twins(shapes, seed=5, no_grad=range(len(shapes)))
        got, want = ref.clip_grad_norm_(mine, 1.0), torch.nn.utils.clip_grad_norm_(theirs, 1.0)
        torch.testing.assert_close(got, want)
        assert all(p.grad is None for p in mine)


@pytest.mark.parametrize("container", ["list", "generator", "single"])
def test_the_graders_parameter_routine_equals_calling_torch_directly(container):
    """call_on_parameters (the grader's routine in the learner's process) builds parameters with
    their grads and reports what the clipping function left in them."""
    n = 1 if container == "single" else 3
    params = make_params([(2, 3)] * n, seed=6, scale=3.0, no_grad=(1,) if n > 1 else ())
    specs = [{"data": p.detach(), "grad": p.grad, "requires_grad": p.requires_grad} for p in params]
    sent = [None if p.grad is None else p.grad.clone() for p in params]
    out = call_on_parameters(torch.nn.utils.clip_grad_norm_, params=specs, args=[0.5], container=container)
    assert all(g is None or torch.equal(p.grad, g) for p, g in zip(params, sent))  # it clipped copies
    want = torch.nn.utils.clip_grad_norm_(params[0] if container == "single" else params, 0.5)
    torch.testing.assert_close(out["value"], want)
    assert_same_grads([_with_grad(d, g) for d, g in zip(out["weights"], out["grads"])], params)


def _with_grad(data, grad):
    p = torch.nn.Parameter(data)
    p.grad = grad
    return p


# --- layer_norm --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5,), (3, 5), (2, 3, 5), (2, 2, 3, 5), (4, 1)])
@pytest.mark.parametrize("affine", ["both", "none", "weight", "bias"])
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_layer_norm_matches_torch(shape, affine, eps):
    g = gen(7)
    D = shape[-1]
    x = torch.randn(shape, generator=g, dtype=DT) * 3 + 1
    w = torch.randn(D, generator=g, dtype=DT) if affine in ("both", "weight") else None
    b = torch.randn(D, generator=g, dtype=DT) if affine in ("both", "bias") else None
    torch.testing.assert_close(ref.layer_norm(x, w, b, eps=eps), F.layer_norm(x, (D,), w, b, eps))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_layer_norm_keeps_dtype_and_handles_constant_and_quiet_rows(dtype):
    x = torch.tensor([[2.0, 2.0, 2.0], [0.0, 1e-3, 2e-3], [1.0, 5.0, -3.0]], dtype=dtype)
    got = ref.layer_norm(x, None, None)
    assert got.dtype == dtype and torch.isfinite(got).all()
    torch.testing.assert_close(got, F.layer_norm(x, (3,)))
    assert torch.equal(got[0], torch.zeros(3, dtype=dtype))


def test_layer_norm_default_eps_is_torchs():
    x = torch.tensor([[0.0, 1e-3, 3e-3]], dtype=DT)  # variance near eps: eps matters here
    torch.testing.assert_close(ref.layer_norm(x, None, None), F.layer_norm(x, (3,)))


def test_layer_norm_gradients_match_torch_and_pass_gradcheck():
    g = gen(8)
    x = torch.randn(2, 3, 4, generator=g, dtype=DT, requires_grad=True)
    w = torch.randn(4, generator=g, dtype=DT, requires_grad=True)
    b = torch.randn(4, generator=g, dtype=DT, requires_grad=True)
    c = torch.randn(2, 3, 4, generator=g, dtype=DT)
    mine = torch.autograd.grad((ref.layer_norm(x, w, b) * c).sum(), (x, w, b))
    theirs = torch.autograd.grad((F.layer_norm(x, (4,), w, b) * c).sum(), (x, w, b))
    for m, t in zip(mine, theirs):
        torch.testing.assert_close(m, t)
    assert torch.autograd.gradcheck(ref.layer_norm, (x, w, b))


def test_layer_norm_leaves_its_inputs_alone():
    x, w, b = torch.randn(3, 4, dtype=DT), torch.randn(4, dtype=DT), torch.randn(4, dtype=DT)
    copies = [t.clone() for t in (x, w, b)]
    ref.layer_norm(x, w, b)
    assert all(torch.equal(t, c) for t, c in zip((x, w, b), copies))


# --- warmup_cosine_lr --------------------------------------------------------------------------
def cosine_annealing(max_lr: float, min_lr: float, steps: int) -> list[float]:
    """torch's CosineAnnealingLR, stepped: the rate at each of steps + 1 steps from 0."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=max_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=min_lr)
    rates = []
    for _ in range(steps + 1):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


@pytest.mark.parametrize(
    "max_lr, warmup, total, min_lr",
    [
        (1.0, 10, 100, 0.0),
        (3e-4, 5, 37, 3e-5),
        (0.1, 0, 20, 0.01),
        (1.0, 1, 2, 0.1),
    ],
)
def test_schedule_decay_matches_cosine_annealing_and_warmup_is_linear(max_lr, warmup, total, min_lr):
    for step in range(warmup):
        assert ref.warmup_cosine_lr(step, max_lr, warmup, total, min_lr) == pytest.approx(
            max_lr * step / warmup
        )
    decay = cosine_annealing(max_lr, min_lr, total - warmup)
    for k, want in enumerate(decay):
        got = ref.warmup_cosine_lr(warmup + k, max_lr, warmup, total, min_lr)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (warmup + k, got, want)
    for step in (total, total + 1, 10 * total + 3):
        assert ref.warmup_cosine_lr(step, max_lr, warmup, total, min_lr) == min_lr


def test_schedule_worked_example_and_edges():
    rates = [ref.warmup_cosine_lr(s, 1.0, 2, 6, 0.1) for s in range(7)]
    assert rates == pytest.approx(
        [
            0.0,
            0.5,
            1.0,
            0.1 + 0.45 * (1 + math.cos(math.pi / 4)),
            0.55,
            0.1 + 0.45 * (1 - math.cos(math.pi / 4)),
            0.1,
        ]
    )
    assert ref.warmup_cosine_lr(0, 1.0, 0, 4) == 1.0  # no warmup
    assert [ref.warmup_cosine_lr(s, 1.0, 3, 3, 0.1) for s in range(6)] == pytest.approx(
        [0.0, 1 / 3, 2 / 3, 0.1, 0.1, 0.1]
    )  # no decay
    assert ref.warmup_cosine_lr(5, 1.0, 2, 10) == pytest.approx(
        0.5 * (1 + math.cos(math.pi * 3 / 8))
    )  # default min_lr
    assert isinstance(ref.warmup_cosine_lr(3, 1.0, 2, 6), float)


# --- the known mistakes ------------------------------------------------------------------------
def test_mistake_catalogue_is_well_formed():
    ids = [m["id"] for m in MISTAKES]
    assert len(ids) == len(set(ids)) and len(ids) >= 6
    text = SOURCE.read_text()
    for m in MISTAKES:
        assert set(m) == {"id", "exercise", "summary", "why", "edits"}, m["id"]
        assert re.fullmatch(r"stability(-[a-z0-9]+)+", m["id"])
        day, module, name = m["exercise"].split(".")
        assert (day, module) == ("day09", "stability") and hasattr(ref, name), m["id"]
        assert m["summary"].strip() and m["why"].strip() and m["edits"]
        for edit in m["edits"]:
            assert text.count(edit["old"]) == 1, f"{m['id']}: {edit['old']!r} is not unique"
            assert edit["old"] != edit["new"]
