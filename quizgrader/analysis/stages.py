"""Where a learner's function first departs from the reference's: the stage of its computation
(scores, scaling, mask, softmax, weighted sum; smoothing, log-probabilities, reduction; warmup,
decay, ...), found by inputs made to separate the stages. The probes are the day pack's (its
`stages` module: STAGES maps an exercise to a probe); a probe calls the learner's function and
the reference's, and says where the first difference lies, or None when it cannot tell.

A probe is told only what it can establish: "the weights are right; the weighted sum of V
differs", "the scores are divided by 4 instead of sqrt(d_k) = 2". A probe that fails (the
learner's code raises, or returns the wrong kind) tells nothing: the checks say that already.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import daypacks
from ..checks.api import Api
from ..sandbox.process import SandboxError

Probe = Callable[[Api, Api], "str | None"]


def probe_for(exercise: str) -> Probe | None:
    module = daypacks.day_of(exercise).module("stages")
    return None if module is None else module.STAGES.get(exercise)


def locate(exercise: str, you: Api, ref: Api) -> str | None:
    """The stage where the learner's `exercise` first departs, in a sentence; None when no probe
    is declared for it, or it cannot tell."""
    if (probe := probe_for(exercise)) is None:
        return None
    try:
        return probe(you, ref)
    except SandboxError:
        raise  # the learner's process ended: the grading says so
    except Exception:  # noqa: BLE001 - a probe that cannot read the answer tells nothing, and costs nothing
        return None


class Unreadable(Exception):
    """The learner's answer is not of a kind the probe can read (the checks say what is wrong)."""


def tensor(value: Any, *shape: int) -> torch.Tensor:
    """A float64 copy of a learner's tensor of `shape`; Unreadable when it is not one."""
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape or not value.is_floating_point():
        raise Unreadable
    return value.detach().to(torch.float64)


def number(value: Any) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise Unreadable
    return float(value)


def close(a: torch.Tensor | float, b: torch.Tensor | float, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """Equal within the tolerances; a number stands for a tensor of any shape all of it."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    b = b.expand_as(a) if b.dim() == 0 else b
    return a.shape == b.shape and torch.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
