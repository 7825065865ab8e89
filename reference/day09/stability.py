"""Three tools of the training-stability cookbook: clipping the gradient by its global norm, layer
normalisation, and a learning-rate schedule with linear warmup and cosine decay."""

import math

import torch
from torch import Tensor


def clip_grad_norm_(parameters, max_norm: float) -> Tensor:
    if isinstance(parameters, Tensor):
        parameters = [parameters]      # one tensor, not an iterable of them (iterating would give its rows)
    # One pass over `parameters`: model.parameters() is a generator and can be read only once.
    # A parameter without a grad (frozen, or unused by the loss) takes no part at all.
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)       # nothing to measure or clip: a norm of 0, as torch returns
    # The global norm treats every grad as part of one long vector: the square root of the sum
    # of all squared entries, i.e. the L2 norm of the per-parameter norms.
    total_norm = torch.sqrt(sum((g.detach() ** 2).sum() for g in grads))
    # One factor for all grads, so the update keeps its direction and only gets shorter.
    # The 1e-6 keeps the division finite when every grad is zero.
    clip_coef = max_norm / (total_norm + 1e-6)
    if clip_coef < 1:
        for g in grads:
            g.mul_(clip_coef)          # in place: p.grad is still the same tensor, now scaled
    return total_norm                  # the norm before clipping: worth logging, spikes show here


def layer_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float = 1e-5) -> Tensor:
    # Statistics of each row (each position's feature vector) over the last dim only, so every
    # example is normalised on its own, whatever the batch.
    mean = x.mean(dim=-1, keepdim=True)                          # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)           # (..., 1), population variance (/ D)
    # eps inside the square root: a constant row gives 0 / sqrt(eps) = 0, never 0 / 0.
    x_hat = (x - mean) / torch.sqrt(var + eps)                   # (..., D), mean 0, variance ~1
    # The learned gain and shift act per feature and let the layer undo the normalisation
    # where that helps.
    if weight is not None:
        x_hat = x_hat * weight                                   # (D,) broadcast over the rows
    if bias is not None:
        x_hat = x_hat + bias
    return x_hat


def warmup_cosine_lr(step: int, max_lr: float, warmup_steps: int, total_steps: int,
                     min_lr: float = 0.0) -> float:
    if step < warmup_steps:
        # Linear warmup from 0: Adam's moment estimates are poor at first, so the first updates
        # are kept small. (warmup_steps == 0 never gets here: there is no warmup to divide by.)
        return max_lr * step / warmup_steps
    if step >= total_steps:
        # The end of the schedule, and the whole decay phase when warmup_steps == total_steps.
        return min_lr
    # Half a cosine period from max_lr (progress 0) down to min_lr (progress 1): slow at both
    # ends, fastest in the middle.
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)
