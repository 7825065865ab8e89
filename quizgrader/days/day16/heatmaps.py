"""The Day 16 exercises whose attention weights a failing report draws (analysis/heatmap.py): where
the weights come from, a fixed example for each function, and the picture's title."""

from __future__ import annotations

from functools import partial

import torch

from quizgrader.analysis.heatmap import Source
from quizgrader.checks.api import Call


def _example(exercise: str) -> list[Call]:
    """The fixed example: six causal queries over six keys; four batch rows of six keys."""
    g = torch.Generator().manual_seed(0)

    def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    if exercise == "day16.attention.scaled_dot_product_attention":
        Q, K, V = randn(1, 6, 16), randn(1, 6, 16), randn(1, 6, 16)
        return [Call("call", exercise, (Q, K, V), {"mask": torch.ones(6, 6, dtype=torch.bool).tril()})]
    if exercise == "day16.attention.additive_attention":
        args = (
            randn(4, 8),
            randn(4, 6, 8),
            randn(4, 6, 8),
            randn(8, 8, scale=0.5),
            randn(8, 8, scale=0.5),
            randn(8),
        )
        return [Call("call", exercise, args, {})]
    return []


def _title(exercise: str, shape: tuple[int, ...], limit: int) -> str:
    if exercise.endswith("additive_attention"):
        what = "attention weights: a row per batch element, a column per key"
    else:
        lead = len(shape) - 2
        which = " (batch element 0, head 0)" if exercise.endswith("MultiHeadAttention") else ""
        what = (
            f"attention weights[{', '.join(['0'] * lead)}]{which}" if lead > 0 else "attention weights"
        ) + ": a row per query, a column per key"
    shown = f", the first {limit} rows and columns" if any(n > limit for n in shape[-2:]) else ""
    return f"{what} (of shape {tuple(shape)}{shown})"


SDPA = "day16.attention.scaled_dot_product_attention"
ADDITIVE = "day16.attention.additive_attention"
MHA = "day16.multihead.MultiHeadAttention"
SOURCES = {
    SDPA: Source("call", "attention.scaled_dot_product_attention", partial(_title, SDPA), _example),
    ADDITIVE: Source("call", "attention.additive_attention", partial(_title, ADDITIVE), _example),
    MHA: Source("method", "multihead.MultiHeadAttention.forward", partial(_title, MHA)),
}
