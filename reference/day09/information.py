"""Entropy, cross-entropy and KL divergence in nats, and the code length of a sequence in bits."""

import torch
from torch import Tensor


def entropy(p: Tensor, dim: int = -1) -> Tensor:
    # H(p) = -sum_i p_i ln p_i. An outcome that never happens carries no surprise, and
    # p ln p -> 0 as p -> 0, so 0 ln 0 counts as 0. Computing 0 * ln(0) directly gives
    # 0 * -inf = NaN; taking the log of 1 instead where p = 0 gives the right term, and its
    # gradient is finite too (a torch.where around p * ln(p) would still back-propagate a NaN).
    p_safe = torch.where(p > 0, p, torch.ones_like(p))
    return -(p * torch.log(p_safe)).sum(dim=dim)  # p's shape without `dim`


def cross_entropy(p: Tensor, q: Tensor, dim: int = -1) -> Tensor:
    # H(p, q) = -sum_i p_i ln q_i: the average surprise of outcomes drawn from p when they are
    # coded with the model q. Outcomes with p_i = 0 never occur and contribute nothing, whatever
    # q_i is; an outcome with p_i > 0 that q calls impossible (q_i = 0) costs ln(1/0) = +inf.
    q_safe = torch.where(p > 0, q, torch.ones_like(q))
    return -(p * torch.log(q_safe)).sum(dim=dim)


def kl_divergence(p: Tensor, q: Tensor, dim: int = -1) -> Tensor:
    # KL(p || q) = sum_i p_i ln(p_i / q_i) = H(p, q) - H(p): the extra nats paid for coding p with
    # q instead of with p itself. Written as one sum rather than as a difference of the two, so
    # that a small divergence is not lost to cancellation between two large numbers.
    # As in the two functions above, the terms with p_i = 0 are exactly 0.
    positive = p > 0
    p_safe = torch.where(positive, p, torch.ones_like(p))
    q_safe = torch.where(positive, q, torch.ones_like(q))
    return (p * (torch.log(p_safe) - torch.log(q_safe))).sum(dim=dim)  # +inf where q = 0 < p


def code_length_bits(probs: Tensor, tokens: Tensor) -> Tensor:
    # A symbol the model gave probability q costs -log2 q bits under an ideal code (arithmetic
    # coding comes within a couple of bits of this for a whole sequence): the better the model
    # predicts, the shorter the code. probs[t] is the model's distribution for position t, so it
    # is scored against tokens[t].
    T = tokens.shape[0]
    picked = probs[torch.arange(T, device=probs.device), tokens]  # (T,) probability of each actual token
    return -torch.log2(picked).sum()  # 0-d; +inf if an actual token had probability 0
