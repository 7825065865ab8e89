"""Day 16: the training recipe of "Attention Is All You Need" — the Noam learning-rate schedule
and label-smoothed cross-entropy."""

import torch  # noqa: F401 - for your solution
from torch import Tensor


def noam_lr(step: int, d_model: int, warmup_steps: int, factor: float = 1.0) -> float:
    """The Noam schedule: linear warmup, then inverse-square-root decay.

        lr = factor * d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)

    Args:
        step: the optimiser step, counted from 1 (the first update is step 1).
        d_model: width of the model.
        warmup_steps: number of warmup steps; the learning rate peaks at step == warmup_steps.
        factor: a constant multiplier.

    Returns:
        The learning rate as a Python float.

    Raises:
        ValueError: when step < 1 (step^-0.5 is undefined at 0).
    """
    raise NotImplementedError


def label_smoothed_cross_entropy(
    logits: Tensor, targets: Tensor, epsilon: float, ignore_index: int = -100
) -> Tensor:
    """Cross-entropy against a label-smoothed target distribution.

    For a row with target class y the target distribution is q = (1 - epsilon) * one_hot(y)
    + epsilon / V on every class (the true class included, so it gets 1 - epsilon + epsilon / V),
    and the row's loss is -sum_c q_c log softmax(logits)_c.

    Args:
        logits: float tensor (N, V), unnormalised scores for V classes.
        targets: long tensor (N,), class indices in [0, V), or ignore_index.
        epsilon: the smoothing amount, 0 <= epsilon <= 1 (0 gives plain cross-entropy).
        ignore_index: rows whose target equals this value contribute nothing and are not
            counted in the mean (their target may be out of range, e.g. -100).

    Returns:
        A 0-d tensor of logits' dtype and device: the mean of the row losses over the rows that
        are not ignored; NaN when every row is ignored. Equals
        `F.cross_entropy(logits, targets, label_smoothing=epsilon, ignore_index=ignore_index)`.
        Must stay finite for large logits (compute log-softmax stably, e.g. with logsumexp) and
        keep autograd working (gradients reach logits).

    From scratch: do not call `F.cross_entropy` (with or without label_smoothing) or
    `nn.CrossEntropyLoss`.
    """
    raise NotImplementedError
