"""Known mistakes: each is a mutant of the reference, written once as text edits.

When a check fails, the calls of its failing examples are replayed against every mutant of the
exercise; a mutant whose every answer equals the learner's names the mistake. The project's tests
grade the same mutants to prove that the checks catch them.
"""

from __future__ import annotations

import shutil
import tempfile
import tomllib
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch

from .. import daypacks
from ..checks.api import Api, Call, local
from ..sandbox import tools
from .replay import replay


@dataclass(frozen=True)
class Mistake:
    id: str
    exercise: str
    summary: str
    why: str
    edits: tuple[tuple[str, str], ...]

    @property
    def file(self) -> str:
        return self.exercise.rsplit(".", 1)[0].replace(".", "/") + ".py"


@cache
def mistakes(day: str) -> tuple[Mistake, ...]:
    """A day's known mistakes: its pack's mistakes.toml, and mistakes/*.toml (one per module)."""
    out = []
    for f in daypacks.get(day).mistake_files():
        out += [
            Mistake(
                m["id"],
                m["exercise"],
                m["summary"],
                m["why"],
                tuple((e["old"], e["new"]) for e in m["edits"]),
            )
            for m in tomllib.loads(f.read_text(encoding="utf-8")).get("mistake", [])
        ]
    if len({m.id for m in out}) != len(out):
        raise ValueError(f"{day}: a known mistake id is used twice")
    return tuple(out)


def for_exercise(exercise: str) -> list[Mistake]:
    return [m for m in mistakes(exercise.split(".")[0]) if m.exercise == exercise]


def mutate(source: str, mistake: Mistake) -> str:
    for old, new in mistake.edits:
        if source.count(old) != 1:
            raise ValueError(
                f"mistake {mistake.id}: its edit must match the reference exactly once, "
                f"found {source.count(old)} times: {old[:60]!r}"
            )
        source = source.replace(old, new)
    return source


def materialize(mistake: Mistake, dest: Path, reference: Path | None = None) -> Path:
    """A full workspace at `dest`: the reference with this mistake applied."""
    reference = reference or daypacks.day_of(mistake.exercise).reference
    shutil.copytree(reference, dest, ignore=shutil.ignore_patterns("__pycache__", ".quiz"))
    target = dest / mistake.file
    target.write_text(mutate(target.read_text(), mistake))
    return dest


class Diagnoser:
    """Mutant workspaces built on first use, under a temporary folder, run in this process."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="quiz-mutants-")
        self._apis: dict[str, Api] = {}

    def api(self, mistake: Mistake) -> Api:
        if mistake.id not in self._apis:
            root = materialize(mistake, Path(self._tmp.name) / mistake.id)
            self._apis[mistake.id] = local(root, mistake.exercise.split(".")[0])
        return self._apis[mistake.id]

    def diagnose(self, exercise: str, probes: list[list[Call]], you: Api, ref: Api) -> list[Mistake]:
        """The mistakes whose answers equal the learner's on every probe (a probe is the calls of
        one failing example). Nothing is named when the learner's answers equal the reference's:
        then the probes cannot tell a mistake from a right answer."""
        # a failure that rests on training or timing is not replayed (the other failing checks
        # still name the mistake)
        probes = [p for p in probes if p and all(c.op != "tool" or tools.replayable(c.args[0]) for c in p)]
        if not probes:
            return []
        yours = [replay(you, p) for p in probes]
        if all(same(y, replay(ref, p)) for y, p in zip(yours, probes)):
            return []
        with warnings.catch_warnings():  # the mutants run here: their warnings are not the learner's
            warnings.simplefilter("ignore")
            return [
                m
                for m in for_exercise(exercise)
                if all(same(y, replay(self.api(m), p)) for y, p in zip(yours, probes))
            ]

    def close(self) -> None:
        self._tmp.cleanup()


def same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype == torch.bool or not a.is_floating_point():
            return torch.equal(a, b)
        return torch.allclose(a.to(torch.float64), b.to(torch.float64), rtol=1e-4, atol=1e-6, equal_nan=True)
    if isinstance(a, torch.Generator) and isinstance(b, torch.Generator):
        return a.initial_seed() == b.initial_seed()
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b
