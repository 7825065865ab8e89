"""The attention weights of a failing example, the learner's beside the reference's, for the
report's heatmap: where a number says "0.0624 off", a grid shows which keys got too much weight.

A fixed example is tried first, chosen to be read at a glance (six causal queries over six keys;
four batch rows of six keys); when the learner's weights are right there, the failing example's
calls are made again instead. Either way both sides answer the same calls (the learner's in their
process), and the weights are cut to one matrix: the first batch element and head, at most MAX
rows and columns.
"""

from __future__ import annotations

from typing import Any

import torch

from ..results import json_number
from .api import Api, Call
from .replay import replay

MAX = 8

# exercise -> what returns (out, weights): a function, or a module's forward
SOURCES = {
    "day16.attention.scaled_dot_product_attention": ("call", "attention.scaled_dot_product_attention"),
    "day16.attention.additive_attention": ("call", "attention.additive_attention"),
    "day16.multihead.MultiHeadAttention": ("method", "multihead.MultiHeadAttention.forward"),
}


def heatmap(exercise: str, calls: list[Call], you: Api, ref: Api) -> dict[str, Any] | None:
    """{"title", "shape", "yours", "expected"} (rows of numbers, as _rows writes them) for the first
    call in `calls` that returns weights
    unlike the reference's; None when there is none, or the learner's cannot be drawn (their
    shape or type is already what the check's message is about)."""
    if exercise not in SOURCES:
        return None
    op, target = SOURCES[exercise]
    for k, c in enumerate(calls):
        if c.op != op or not c.target.endswith(target):
            continue
        yours, expected = (_weights(replay(api, calls[: k + 1])[-1]) for api in (you, ref))
        if yours is None or expected is None or yours.shape != expected.shape:
            continue
        if torch.allclose(yours, expected, rtol=1e-4, atol=1e-5, equal_nan=True):
            continue
        full = tuple(expected.shape)
        yours, expected = (_cut(w) for w in (yours, expected))
        return {
            "title": _title(exercise, full),
            "shape": list(full),
            "yours": _rows(yours),
            "expected": _rows(expected),
        }
    return None


def showcase(exercise: str) -> list[Call]:
    """The fixed example's calls for `exercise`; none where the weights come from a module."""
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


def _weights(answer: Any) -> torch.Tensor | None:
    """The weights tensor of a replayed call's answer ([value, args_after, kwargs_after, grads])."""
    value = answer[0] if isinstance(answer, list) and answer else None
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return None
    w = value[1]
    if not isinstance(w, torch.Tensor) or not w.is_floating_point() or w.dim() < 1:
        return None
    return w.detach().to("cpu", torch.float64)


def _cut(w: torch.Tensor) -> torch.Tensor:
    while w.dim() > 2:
        w = w[0]
    if w.dim() == 1:
        w = w.unsqueeze(0)
    return w[:MAX, :MAX]


def _rows(w: torch.Tensor) -> list[list[float | str]]:
    """The weights as numbers; NaN and ±inf as the strings "NaN", "inf" and "-inf", which JSON
    can carry (and float() reads back)."""
    return [[json_number(float(x)) for x in row] for row in w]


def _title(exercise: str, shape: tuple[int, ...]) -> str:
    if exercise.endswith("additive_attention"):
        what = "attention weights: a row per batch element, a column per key"
    else:
        lead = len(shape) - 2
        which = " (batch element 0, head 0)" if exercise.endswith("MultiHeadAttention") else ""
        what = (
            f"attention weights[{', '.join(['0'] * lead)}]{which}" if lead > 0 else "attention weights"
        ) + ": a row per query, a column per key"
    shown = f", the first {MAX} rows and columns" if any(n > MAX for n in shape[-2:]) else ""
    return f"{what} (of shape {tuple(shape)}{shown})"
