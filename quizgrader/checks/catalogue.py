"""The checks of an exercise, its day's registered on first use: the day's pack registers them
(quizgrader/daypacks.py) when its checks module is imported."""

from __future__ import annotations

from .. import daypacks
from .registry import REGISTRY, Check


def checks_for(exercise: str) -> list[Check]:
    daypacks.load_checks(exercise.split(".")[0])
    return REGISTRY.get(exercise, [])
