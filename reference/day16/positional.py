"""Positional information: sinusoidal and learned encodings, RoPE and ALiBi."""

import math

import torch
from torch import Tensor, nn


def sinusoidal_encoding(seq_len: int, d_model: int) -> Tensor:
    # Pair i oscillates with angular frequency 10000^(-2i/d): from one turn per 2*pi positions
    # (i = 0) down to one per 2*pi*10000 (the last pair), a geometric ladder of wavelengths.
    position = torch.arange(seq_len, dtype=torch.float64)[:, None]  # (T, 1)
    inv_freq = torch.pow(10000.0, -torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (d/2,)
    angle = position * inv_freq  # (T, d/2)
    pe = torch.empty(seq_len, d_model, dtype=torch.float64)
    # sin on even features, cos on odd: each (sin, cos) pair at p + k is the pair at p rotated by
    # k * freq, so a fixed linear map takes PE[p] to PE[p + k] whatever p is.
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.to(torch.float32)


class LearnedPositionalEmbedding(nn.Module):
    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)  # one trained vector per position

    def forward(self, x: Tensor) -> Tensor:
        T = x.size(1)
        if T > self.max_len:
            # There is no row for position max_len or later: nothing was ever learned for it.
            raise ValueError(f"sequence length {T} exceeds max_len {self.max_len}")
        positions = torch.arange(T, device=x.device)  # 0 .. T-1, shared by every batch element
        return x + self.embedding(positions)  # (B, T, d) + (T, d) broadcasts over the batch


def apply_rope(x: Tensor, positions: Tensor | None = None, base: float = 10000.0) -> Tensor:
    T, d = x.shape[-2], x.shape[-1]
    if positions is None:
        positions = torch.arange(T, device=x.device)
    # Angles in float64: position * frequency loses digits in float32 at long positions.
    inv_freq = base ** (-torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d)  # (d/2,)
    angle = positions.to(torch.float64)[..., None] * inv_freq  # (..., T, d/2)
    cos, sin = torch.cos(angle).to(x.dtype), torch.sin(angle).to(x.dtype)
    # Interleaved pairs: features (2i, 2i+1) form one 2-D vector, rotated by angle[..., i].
    x1, x2 = x[..., 0::2], x[..., 1::2]  # (..., T, d/2) each
    rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # (..., T, d/2, 2)
    # A rotation keeps every pair's length, and <R(m) q, R(n) k> = <q, R(n - m) k>: the score of
    # a query and a key depends on their positions only through the offset n - m.
    return rotated.flatten(-2)  # back to (..., T, d) with the pairs in place


def alibi_slopes(num_heads: int) -> Tensor:
    def power_of_two(n: int) -> list[float]:
        # A geometric sequence starting at 2^(-8/n) with the same ratio: 2^(-8k/n), k = 1..n.
        return [2.0 ** (-8.0 * k / n) for k in range(1, n + 1)]

    if math.log2(num_heads).is_integer():
        slopes = power_of_two(num_heads)
    else:
        # The paper's rule for other counts: the slopes of the closest lower power of two, then
        # every other slope of twice that count, which interleaves between them.
        n = 2 ** math.floor(math.log2(num_heads))
        slopes = power_of_two(n) + power_of_two(2 * n)[0::2][: num_heads - n]
    return torch.tensor(slopes, dtype=torch.float32)


def alibi_bias(num_heads: int, seq_len: int) -> Tensor:
    slopes = alibi_slopes(num_heads)  # (h,)
    i = torch.arange(seq_len)[:, None]  # query positions (T, 1)
    j = torch.arange(seq_len)[None, :]  # key positions (1, T)
    # Each head penalises a key linearly in its distance to the query: no embedding at all, the
    # position enters only through the scores. Above the diagonal the causal mask removes the
    # entries, so they are left at 0.
    offset = (j - i).clamp(max=0).to(torch.float32)  # -(i - j) on and below the diagonal, (T, T)
    return slopes[:, None, None] * offset  # (h, T, T)
