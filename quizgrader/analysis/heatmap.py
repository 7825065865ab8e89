"""The attention weights of a failing example, the learner's beside the reference's, for the
report's heatmap: where a number says "0.0624 off", a grid shows which keys got too much weight.

A fixed example is tried first, chosen by the day pack to be read at a glance; when the learner's
weights are right there, the failing example's calls are made again instead. Either way both
sides answer the same calls (the learner's in their process), and the weights are cut to one
matrix: the first batch element and head, at most MAX rows and columns.

Which exercises return weights, and how to title them, is the day pack's (its heatmaps module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .. import daypacks
from ..checks.api import Api, Call
from ..results import json_number
from .replay import replay

MAX = 8


@dataclass(frozen=True)
class Source:
    """Where an exercise's attention weights come from, as a day pack's heatmaps module declares
    it (SOURCES: exercise -> Source): `op` "call" (a function returning (out, weights)) or
    "method" (a module's forward doing so), on `target` ("attention.additive_attention");
    `example`, the calls of a fixed example chosen to be read at a glance (none for a module);
    `title(shape, shown)`, the picture's title for weights of `shape`, of which the first `shown`
    rows and columns are drawn."""

    op: str
    target: str
    title: Callable[[tuple[int, ...], int], str]
    example: Callable[[str], list[Call]] = lambda exercise: []


def source(exercise: str) -> Source | None:
    """The exercise's Source, when its day's pack draws its weights."""
    module = daypacks.day_of(exercise).module("heatmaps")
    return None if module is None else module.SOURCES.get(exercise)


def showcase(exercise: str) -> list[Call]:
    """The fixed example's calls for `exercise`; none where the weights come from a module."""
    found = source(exercise)
    return found.example(exercise) if found is not None else []


def heatmap(exercise: str, calls: list[Call], you: Api, ref: Api) -> dict[str, Any] | None:
    """{"title", "shape", "yours", "expected"} (rows of numbers, as _rows writes them) for the first
    call in `calls` that returns weights
    unlike the reference's; None when there is none, or the learner's cannot be drawn (their
    shape or type is already what the check's message is about)."""
    if (found := source(exercise)) is None:
        return None
    op, target = found.op, found.target
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
            "title": found.title(full, MAX),
            "shape": list(full),
            "yours": _rows(yours),
            "expected": _rows(expected),
        }
    return None


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
