"""Softmax, scaled dot-product attention and Bahdanau's additive attention."""

import math

import torch
from torch import Tensor


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    # Softmax does not change when the same constant is subtracted from every logit along `dim`.
    # Subtracting the maximum keeps each exponent <= 0, so exp cannot overflow, and the largest
    # entry becomes exp(0) = 1, so the denominator is at least 1 even when other logits are -inf.
    shifted = x - x.amax(dim=dim, keepdim=True)
    exps = torch.exp(shifted)
    return exps / exps.sum(dim=dim, keepdim=True)


def scaled_dot_product_attention(
    Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    d_k = Q.size(-1)
    # A dot product of d_k independent unit-variance terms has variance d_k. Dividing by
    # sqrt(d_k) brings the scores back to unit variance, so the softmax does not saturate
    # (and its gradients do not vanish) as the head dimension grows.
    scores = Q @ K.transpose(-2, -1) / math.sqrt(d_k)  # (..., T_q, T_k)
    if mask is not None:
        # exp(-inf) = 0: a masked key gets exactly zero weight, and the weights that are left
        # still sum to 1 because the softmax renormalises over the allowed keys only.
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax(scores, dim=-1)  # (..., T_q, T_k), each row sums to 1 over the keys
    return weights @ V, weights  # (..., T_q, d_v), (..., T_q, T_k)


def additive_attention(
    query: Tensor,
    keys: Tensor,
    values: Tensor,
    W_q: Tensor,
    W_k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    # Bahdanau scores each key with a one-hidden-layer network instead of a dot product:
    # both sides are mapped into a shared space of width d_a, so d_q and d_k may differ.
    q = query @ W_q.T  # (B, d_a)
    k = keys @ W_k.T  # (B, T, d_a)
    # The query is the same for every key position: broadcast it over T.
    energies = torch.tanh(q[:, None, :] + k) @ v  # (B, T)
    if mask is not None:
        energies = energies.masked_fill(~mask, float("-inf"))
    weights = softmax(energies, dim=-1)  # (B, T), a distribution over key positions
    # The context vector is the weighted average of the values.
    context = torch.einsum("bt,btd->bd", weights, values)  # (B, d_v)
    return context, weights
