"""Hypothesis strategies shared by every check (one place, as in minitorch's strategies.py).

Shapes and a seed are drawn; values come from a seeded torch generator, so examples are cheap,
reproducible, and shrink towards small shapes. Everything is drawn in float64; `as_dtype` gives
the learner's copy and `f64` the reference's copy of the very same (rounded) numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from hypothesis import strategies as st

from .registry import context

FLOATS = (torch.float32, torch.float64)

seeds = st.integers(0, 2**20)
small = st.integers(1, 5)
lead_dims = st.lists(st.integers(1, 3), max_size=2)  # none, (B,), (B, h)
dtypes = st.sampled_from(FLOATS)


def _tiered(dtype: torch.dtype) -> torch.dtype:
    return torch.bfloat16 if dtype == torch.float32 and context().device == "cuda" else dtype


# Modules are checked as they run: on a GPU the float32 cases run in bfloat16 (as models are
# trained there) and are judged with bfloat16's tolerances; float64 cases stay exact.
model_dtypes = dtypes.map(_tiered)


def untiered(case: Case) -> Case:
    """The case in float32 where the tier put it in bfloat16. Gradient checks use it: a gradient
    through a block or a model in bfloat16 can be off by 15-100% for right code (the reference
    failed one draw in three at the tier's tolerance), so gradients are judged in float32 on a
    GPU too."""
    return replace(case, dtype=torch.float32) if case.dtype == torch.bfloat16 else case


scales = st.sampled_from([1.0, 0.3, 3.0])


def randn(seed: int, *shape: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


@dataclass
class Case:
    """Named inputs (float64) plus the dtype the learner gets them in."""

    values: dict[str, Any]
    dtype: torch.dtype = torch.float64
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def as_dtype(self, name: str) -> Any:
        v = self.values[name]
        return v.to(self.dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v

    def f64(self, name: str) -> Any:
        v = self.as_dtype(name)
        return v.to(torch.float64) if isinstance(v, torch.Tensor) and v.is_floating_point() else v

    def __repr__(self) -> str:
        shapes = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else v for k, v in self.values.items()}
        return f"Case({shapes}, dtype={self.dtype}, {self.meta})"


def random_mask(seed: int, shape: tuple[int, ...], p: float = 0.6) -> torch.Tensor:
    """A boolean mask (..., T_q, T_k) with at least one True per row (the contract's domain)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(*shape, generator=g) < p
    first = torch.randint(0, shape[-1], shape[:-1], generator=g)
    mask.scatter_(-1, first.unsqueeze(-1), True)
    return mask


def causal(t_q: int, t_k: int) -> torch.Tensor:
    """Query i sees keys up to i + (t_k - t_q): the last query sees every key."""
    return torch.ones(t_q, t_k, dtype=torch.bool).tril(t_k - t_q)


@st.composite
def attention_case(
    draw,
    masks: tuple[str, ...] = ("none", "full", "causal", "keys", "random"),
    dtype: st.SearchStrategy = dtypes,
) -> Case:
    """Q (..., T_q, d_k), K (..., T_k, d_k), V (..., T_k, d_v) and an optional mask of one of
    the shapes the contract allows."""
    lead = tuple(draw(lead_dims))
    t_q, t_k, d_k, d_v = draw(small), draw(small), draw(st.integers(1, 8)), draw(st.integers(1, 6))
    seed, scale = draw(seeds), draw(scales)
    kind = draw(st.sampled_from(masks))
    if kind == "causal" and t_k < t_q:
        t_k = t_q
    mask = None
    if kind == "full":  # (..., T_q, T_k)
        mask = random_mask(seed + 3, lead + (t_q, t_k))
    elif kind == "causal":  # (T_q, T_k), broadcast over the leading dims
        mask = causal(t_q, t_k)
    elif kind == "keys":  # (..., 1, T_k): hide some keys from every query
        mask = random_mask(seed + 3, lead + (1, t_k))
    elif kind == "random":  # (T_q, T_k), shared by the batch
        mask = random_mask(seed + 3, (t_q, t_k))
    return Case(
        {
            "Q": randn(seed, *lead, t_q, d_k, scale=scale),
            "K": randn(seed + 1, *lead, t_k, d_k, scale=scale),
            "V": randn(seed + 2, *lead, t_k, d_v),
            "mask": mask,
        },
        draw(dtype),
        {"mask": kind},
    )


class RandomState(dict):
    """A state_dict made by `random_state`, which remembers how, so that a repro can make it again
    in one line instead of printing every weight."""

    def __init__(
        self, values: dict, shapes: dict[str, tuple[int, ...]], seed: int, dtype: torch.dtype = torch.float64
    ) -> None:
        super().__init__(values)
        self.shapes, self.seed, self.dtype = shapes, seed, dtype

    def to(self, dtype: torch.dtype) -> RandomState:
        return RandomState({k: v.to(dtype) for k, v in self.items()}, self.shapes, self.seed, dtype)

    def recipe(self) -> str:
        return f"random_state({self.shapes!r}, {self.seed}, dtype={self.dtype})"


def random_state(shapes: dict[str, Any], seed: int, dtype: torch.dtype = torch.float64) -> RandomState:
    """Random weights for a state_dict with these shapes (tensors or shapes): matrices scaled by
    1/sqrt(fan_in), embedding tables unit normal, LayerNorm gains near 1, biases small.
    Non-trivial LayerNorm parameters make a swapped or skipped LayerNorm visible."""
    sizes = {name: tuple(v.shape if isinstance(v, torch.Tensor) else v) for name, v in shapes.items()}
    state = {}
    for i, (name, shape) in enumerate(sizes.items()):
        x = randn(seed + 7919 * i, *shape)
        if len(shape) == 1:
            state[name] = 1.0 + 0.3 * x if name.endswith("weight") else 0.2 * x
        elif "emb" in name:
            state[name] = x
        else:
            state[name] = x * shape[-1] ** -0.5
    return RandomState(state, sizes, seed).to(dtype)
