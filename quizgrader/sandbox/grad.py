"""The cotangents both sides use for gradient checks, so a learner's gradients and the
reference's can be compared without a second round trip."""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.variable import Variable

# The autograd engine itself: in a learner's process graded on not using autograd, every Python
# road into it (Tensor.backward, torch.autograd.backward, ...) raises, but the grader's own
# gradient checks still need it.
_ENGINE = Variable._execution_engine


def backward(loss: torch.Tensor) -> None:
    """loss.backward(), straight through the engine."""
    _ENGINE.run_backward(
        (loss,), (torch.ones_like(loss),), False, False, (), allow_unreachable=True, accumulate_grad=True
    )


def tensors_in(value: Any) -> list[torch.Tensor]:
    """The tensors of a (nested) result, in a fixed order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_in(v)]
    if isinstance(value, dict):
        return [t for k in value for t in tensors_in(value[k])]
    return []


def pullback_loss(output: Any, seed: int) -> torch.Tensor | None:
    """sum_i <output_i, c_i> for fixed random cotangents c_i; None when nothing carries a graph."""
    total = None
    for i, out in enumerate(tensors_in(output)):
        if not (out.is_floating_point() and out.requires_grad):
            continue
        g = torch.Generator().manual_seed(seed + i)
        c = torch.randn(out.shape, generator=g, dtype=torch.float64).to(out.dtype).to(out.device)
        term = (out * c).sum()
        total = term if total is None else total + term
    return total


def make_leaves(value: Any) -> Any:
    """Fresh leaf copies of every floating tensor, each requiring grad."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            return value.detach().clone().requires_grad_(True)
        return value
    if isinstance(value, list):
        return [make_leaves(v) for v in value]
    if isinstance(value, tuple):
        return tuple(make_leaves(v) for v in value)
    if isinstance(value, dict):
        return {k: make_leaves(v) for k, v in value.items()}
    return value


def grads_of(value: Any) -> Any:
    """The .grad of each leaf made by make_leaves, in the same structure (None elsewhere)."""
    if isinstance(value, torch.Tensor):
        return value.grad if value.requires_grad else None
    if isinstance(value, (list, tuple)):
        return type(value)(grads_of(v) for v in value)
    if isinstance(value, dict):
        return {k: grads_of(v) for k, v in value.items()}
    return None
