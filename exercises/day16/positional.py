"""Day 16: positional information — sinusoidal and learned encodings, RoPE and ALiBi.

Attention by itself is blind to order: permuting the tokens permutes the outputs and nothing
else. Each exercise here gives the model a different way to know where a token is.
"""

import math

import torch
from torch import Tensor, nn


def sinusoidal_encoding(seq_len: int, d_model: int) -> Tensor:
    """The fixed sinusoidal table of "Attention Is All You Need".

    PE[p, 2i]   = sin(p / 10000^(2i / d_model))
    PE[p, 2i+1] = cos(p / 10000^(2i / d_model))      (plus cos: some worksheets print -cos)

    Args:
        seq_len: T, the number of positions p = 0 .. T-1.
        d_model: d, the width of the table; even.

    Returns:
        float32 tensor of shape (T, d). Row p is the encoding of position p (position 0 is the
        first row, not position 1).
    """
    raise NotImplementedError


class LearnedPositionalEmbedding(nn.Module):
    """One trained vector per position, added to the token vectors."""

    def __init__(self, max_len: int, d_model: int):
        """Args:
            max_len: the number of positions that have a vector (0 .. max_len-1).
            d_model: the width of each vector.

        Must create the submodule `self.embedding = nn.Embedding(max_len, d_model)`.
        """
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Add the vectors of positions 0 .. T-1.

        Args:
            x: float tensor (B, T, d_model).

        Returns:
            (B, T, d_model): x + embedding(positions 0 .. T-1), the same positions for every
            batch element, on x's device.

        Raises:
            ValueError: when T > max_len (there is no vector for those positions).
        """
        raise NotImplementedError


def apply_rope(x: Tensor, positions: Tensor | None = None, base: float = 10000.0) -> Tensor:
    """Rotary position embedding (RoPE), interleaved convention.

    Features (2i, 2i+1) of every vector form a pair that is rotated, as a 2-D vector, by the
    angle positions * base^(-2i / d):
        out[2i]   = x[2i] * cos(angle) - x[2i+1] * sin(angle)
        out[2i+1] = x[2i] * sin(angle) + x[2i+1] * cos(angle)
    (Not the "half-split" convention that pairs feature i with feature i + d/2.)

    Args:
        x: float tensor (..., T, d), d even; e.g. queries or keys of shape (B, h, T, d_k).
        positions: optional tensor (T,) of positions (default arange(T)); it may also have
            leading dims that broadcast against x's, e.g. (B, 1, T).
        base: the base of the frequency ladder.

    Returns:
        Tensor of x's shape, dtype and device. Graded at a tolerance that admits angles computed
        in float32.
    """
    raise NotImplementedError


def alibi_slopes(num_heads: int) -> Tensor:
    """The per-head slopes of ALiBi ("Train Short, Test Long").

    For a power of two h: slope_k = 2^(-8k / h), k = 1 .. h (so 8 heads: 1/2, 1/4, ..., 1/256).
    For other h, the paper's rule: the slopes for the closest lower power of two n, followed by
    every other slope of 2n (the ones at even indices 0, 2, 4, ...), h - n of them.

    Args:
        num_heads: h, the number of attention heads (one slope each).

    Returns:
        float32 tensor of shape (h,).
    """
    raise NotImplementedError


def alibi_bias(num_heads: int, seq_len: int) -> Tensor:
    """The ALiBi bias added to the attention scores of a causal model.

    bias[k, i, j] = -slope_k * (i - j) for keys j <= i (a linear penalty on the distance back
    to the key), and 0 above the diagonal (a causal mask removes those entries anyway).

    Args:
        num_heads: h; head k uses slope_k from `alibi_slopes(num_heads)`.
        seq_len: T, the number of query and key positions.

    Returns:
        float32 tensor of shape (h, T, T). Graded by its effect on causal attention, so a form
        that differs from this by a constant along each query row passes too.
    """
    raise NotImplementedError
