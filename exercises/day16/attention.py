"""Day 16: softmax, scaled dot-product attention and additive (Bahdanau) attention.

Conventions for every function in this file:
- Batch first; `...` means any number of leading dims, including none.
- Masks are bool tensors, True = may attend, broadcastable to the scores, applied to the scores
  *before* the softmax. A query row whose mask has no True entry is never checked.
- Works for float32 and float64; returns tensors on the input's device and dtype; never
  modifies an input in place; keeps autograd working (gradients reach every input).
"""

import math

import torch
from torch import Tensor


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Numerically stable softmax of `x` along `dim`.

    Args:
        x: float tensor of any shape, the logits. May hold -inf entries (as long as a slice along
            `dim` is not all -inf) and very large magnitudes such as ±1e4.
        dim: the axis to normalise over.

    Returns:
        Tensor of the same shape, dtype and device as `x`; non-negative, and every slice along
        `dim` sums to 1. Must give no inf or NaN for logits of ±1e4, and exactly 0 where `x` is
        -inf.

    From scratch: do not call `torch.softmax`, `F.softmax`, `Tensor.softmax` or log-softmax
    variants; write it with `torch.exp` and a sum.
    """
    raise NotImplementedError


def scaled_dot_product_attention(
    Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V.

    Args:
        Q: float tensor (..., T_q, d_k), the queries.
        K: float tensor (..., T_k, d_k), the keys (T_k may differ from T_q).
        V: float tensor (..., T_k, d_v), the values, one per key.
        mask: optional bool tensor broadcastable to (..., T_q, T_k), e.g. (T_q, T_k),
            (B, 1, 1, T_k) or (B, 1, T_q, T_k). True = query i may attend to key j. Masked
            scores are excluded before the softmax, so masked keys get weight exactly 0 and
            each row of weights still sums to 1.

    Returns:
        out: (..., T_q, d_v), the weighted sums of the values.
        weights: (..., T_q, T_k), the attention weights after the softmax (each row sums to 1).

    The leading dims of Q, K, V are the same (e.g. (B,) or (B, h)). You may use `softmax` from
    this file. From scratch: do not call `F.scaled_dot_product_attention`.
    """
    raise NotImplementedError


def additive_attention(
    query: Tensor,
    keys: Tensor,
    values: Tensor,
    W_q: Tensor,
    W_k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Bahdanau (additive) attention for one query per batch element.

    Energy of key j: e_j = v · tanh(W_q query + W_k keys_j); weights = softmax over j;
    context = sum_j weights_j values_j. Weight matrices are applied as `x @ W.T`.

    Args:
        query: float tensor (B, d_q), e.g. the decoder state.
        keys: float tensor (B, T, d_k), e.g. the encoder states.
        values: float tensor (B, T, d_v), one per key (often the same tensor as keys).
        W_q: float tensor (d_a, d_q), maps the query into the attention space of width d_a.
        W_k: float tensor (d_a, d_k), maps each key into the same space.
        v: float tensor (d_a,), turns each hidden vector of width d_a into a scalar energy.
        mask: optional bool tensor (B, T), True = the key may be attended to (False e.g. at
            padding). Applied to the energies before the softmax.

    Returns:
        context: (B, d_v), the weighted sum of the values.
        weights: (B, T), the attention weights (each row sums to 1; 0 where masked).

    You may use `softmax` from this file.
    """
    raise NotImplementedError
