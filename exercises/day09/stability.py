"""Day 9: three tools of the training-stability cookbook — gradient clipping by global norm,
layer normalisation, and a learning-rate schedule with linear warmup and cosine decay.

Conventions for every tensor function in this file:
- `...` means any number of leading dims, including none. Shapes are noted jaxtyping-style,
  e.g. `Float[Tensor, "... D"]`, in the docstrings only.
- Works for float32 and float64; returns tensors on the input's device and dtype.
"""

import math  # noqa: F401 - for your solution

import torch  # noqa: F401 - for your solution
from torch import Tensor


def clip_grad_norm_(parameters, max_norm: float) -> Tensor:
    """Clip the gradients of `parameters` by their global L2 norm, in place.

    Treat the grads of all the parameters as one long vector and measure its L2 norm:

        total_norm = sqrt( sum over every parameter p with a grad of sum(p.grad ** 2) )

    When `max_norm / (total_norm + 1e-6)` is below 1, multiply EVERY grad, in place, by that one
    factor, so that the global norm becomes (about) max_norm and the update keeps its direction.
    Otherwise leave the grads exactly as they are. (The 1e-6 keeps the division finite when all
    grads are zero.) This is what `torch.nn.utils.clip_grad_norm_(parameters, max_norm)` does.

    Args:
        parameters: the tensors whose `.grad` to clip: an iterable of tensors (a list, or a
            generator such as `model.parameters()`, which can be iterated only once), or a
            single tensor. A parameter whose `.grad` is None (frozen with
            `requires_grad=False`, or not used by the loss) is skipped: it counts for nothing in
            the norm and its `.grad` stays None.
        max_norm: the largest global norm the grads may have after the call (a positive float).

    Returns:
        total_norm: Float[Tensor, ""], a 0-d tensor of the grads' dtype, the global norm BEFORE
        clipping (the figure worth logging: spikes show up there). When no parameter has a grad
        there is nothing to measure: return `torch.tensor(0.0)`, as torch does, and change
        nothing.

    Modifies the `.grad` tensors in place (e.g. `g.mul_(coef)`); leaves the parameters' values
    alone. From scratch: do not call `torch.nn.utils.clip_grad_norm_` (or `clip_grad_norm`,
    `get_total_norm`, `clip_grads_with_norm_`).
    """
    raise NotImplementedError


def layer_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the last dim, as `F.layer_norm(x, (D,), weight, bias, eps)`.

    For every row r = x[i, ..., :] (the D features of one position):

        mean = r.mean()
        var  = ((r - mean) ** 2).mean()          # population variance: divide by D, not D - 1
        out  = (r - mean) / sqrt(var + eps)      # eps INSIDE the square root
        out  = out * weight + bias               # per feature, when given

    Args:
        x: Float[Tensor, "... D"], any number of leading dims (none too: a single row (D,)).
        weight: Float[Tensor, "D"] or None, the per-feature gain (None: no scaling).
        bias: Float[Tensor, "D"] or None, the per-feature shift (None: no shift).
        eps: added to the variance inside the square root, so a constant row gives 0, not NaN.

    Returns:
        Float[Tensor, "... D"], same shape, dtype and device as x. Without weight and bias each
        row has mean 0 and population variance close to 1 (exactly var / (var + eps)).

    Never modifies its inputs in place and keeps autograd working: gradients reach x, weight and
    bias (the mean and variance are part of the graph too). From scratch: do not call
    `F.layer_norm`, `nn.LayerNorm` or `torch.layer_norm`.
    """
    raise NotImplementedError


def warmup_cosine_lr(step: int, max_lr: float, warmup_steps: int, total_steps: int,
                     min_lr: float = 0.0) -> float:
    """The learning rate at optimiser step `step` (counted from 0) of a warmup-cosine schedule.

        step < warmup_steps:                  max_lr * step / warmup_steps     (0 at step 0)
        warmup_steps <= step < total_steps:   min_lr + 0.5 * (1 + cos(pi * progress)) * (max_lr - min_lr)
                                              with progress = (step - warmup_steps) / (total_steps - warmup_steps)
        step >= total_steps:                  min_lr

    So the rate climbs in a straight line from 0, is exactly max_lr at step == warmup_steps,
    follows half a cosine down to min_lr at step == total_steps, and stays at min_lr after.

    Args:
        step: the step, an int >= 0.
        max_lr: the peak rate, reached at step == warmup_steps.
        warmup_steps: length of the warmup, 0 <= warmup_steps <= total_steps. With 0 there is no
            warmup: the schedule starts at max_lr at step 0 (never divide by warmup_steps then).
            With warmup_steps == total_steps there is no decay: the warmup line, then min_lr
            from total_steps on.
        total_steps: the step at which the decay reaches min_lr.
        min_lr: the floor, 0 <= min_lr <= max_lr; the rate never goes below it after warmup.

    Returns:
        The learning rate as a Python float.
    """
    raise NotImplementedError
