"""The training recipe of "Attention Is All You Need": the Noam learning-rate schedule and
label-smoothed cross-entropy."""

import torch
from torch import Tensor


def noam_lr(step: int, d_model: int, warmup_steps: int, factor: float = 1.0) -> float:
    if step < 1:
        # step^-0.5 is undefined at 0: the schedule counts optimiser steps from 1.
        raise ValueError(f"step must be >= 1 (steps are counted from 1), got {step}")
    # Linear warmup (step * warmup^-1.5) until the two terms meet at step == warmup_steps, then
    # inverse-square-root decay (step^-0.5). The peak is factor * (d_model * warmup_steps)^-0.5:
    # wider models get a smaller learning rate.
    return factor * d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


def label_smoothed_cross_entropy(
    logits: Tensor, targets: Tensor, epsilon: float, ignore_index: int = -100
) -> Tensor:
    # log-softmax = logits - logsumexp: logsumexp subtracts the row max internally, so no
    # exp overflows and no log(0) appears even for very confident logits.
    log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)  # (N, V)
    keep = targets != ignore_index  # (N,)
    # An ignored target may be out of range (e.g. -100): gather at class 0 instead, then drop it.
    safe_targets = torch.where(keep, targets, torch.zeros_like(targets))
    nll = -log_probs.gather(1, safe_targets[:, None]).squeeze(1)  # (N,), -log p(target)
    # The smoothed target puts (1 - eps) on the true class and eps/V on every class (the true one
    # included), so its cross-entropy splits into (1 - eps) * NLL + eps * (mean over classes of
    # -log p). The second term is the cross-entropy with the uniform distribution: it penalises
    # pushing any class's probability to 0, so the model cannot grow its logits without bound.
    smooth = -log_probs.mean(dim=-1)  # (N,)
    per_row = (1.0 - epsilon) * nll + epsilon * smooth  # (N,)
    # Mean over the rows that count. With none left this is 0 / 0 = NaN, as F.cross_entropy gives.
    # where (not multiplication by the mask) keeps an inf in an ignored row from becoming NaN.
    per_row = torch.where(keep, per_row, torch.zeros_like(per_row))
    return per_row.sum() / keep.sum().to(per_row.dtype)
