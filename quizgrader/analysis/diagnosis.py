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
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch

from .. import daypacks
from ..checks.api import Api, Call, local
from ..sandbox import tools
from .replay import replay

CHOSEN = 6  # inputs a cause is confirmed on, at the most


@dataclass(frozen=True)
class Finding:
    """What the diagnosis found: the known mistakes whose answers equal the learner's on the failing
    examples and on inputs chosen to tell each apart (`confirmed`, stated as the cause), and those
    equal on the failing examples only (`resembles`, never stated as the cause)."""

    confirmed: list[Mistake] = field(default_factory=list)
    resembles: list[Mistake] = field(default_factory=list)


class _Answers:
    """The answers of the reference (None) and of the known mistakes to other inputs, each made once."""

    def __init__(self, doctor: Diagnoser, ref: Api, probes: list[list[Call]]) -> None:
        self.doctor, self.ref, self.probes = doctor, ref, probes
        self._made: dict[tuple[str | None, int], Any] = {}

    def of(self, m: Mistake | None, i: int) -> Any:
        key = (None if m is None else m.id, i)
        if key not in self._made:
            self._made[key] = replay(self.ref if m is None else self.doctor.api(m), self.probes[i])
        return self._made[key]


def _replayable(probes: list[list[Call]]) -> list[list[Call]]:
    """A failure that rests on training or timing is not made again (the grader's routines that
    are not exact and cheap): the other examples still tell the mistake."""
    return [p for p in probes if p and all(c.op != "tool" or tools.replayable(c.args[0]) for c in p)]


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

    def diagnose(
        self, exercise: str, probes: list[list[Call]], you: Api, ref: Api, others: list[list[Call]] = ()
    ) -> Finding:
        """The known mistakes whose answers equal the learner's on every probe (a probe is the
        calls of one failing example), each confirmed or not on `others` (the calls of other
        examples the checks tried). Nothing is found when the learner's answers equal the
        reference's on the probes: then they cannot tell a mistake from a right answer."""
        probes, others = _replayable(probes), _replayable(others)
        if not probes:
            return Finding()
        yours = [replay(you, p) for p in probes]
        if all(same(y, replay(ref, p)) for y, p in zip(yours, probes)):
            return Finding()
        with warnings.catch_warnings():  # the mutants run here: their warnings are not the learner's
            warnings.simplefilter("ignore")
            found = [
                m
                for m in for_exercise(exercise)
                if all(same(y, replay(self.api(m), p)) for y, p in zip(yours, probes))
            ]
            if not found:
                return Finding()
            answers = _Answers(self, ref, others)
            confirmed = [m for m in found if self._confirmed(m, for_exercise(exercise), answers, you)]
        return Finding(confirmed, [m for m in found if m not in confirmed])

    def _confirmed(self, m: Mistake, known: list[Mistake], answers: _Answers, you: Api) -> bool:
        """Whether the learner's answers equal `m`'s on inputs chosen to tell `m` apart: the first
        other input where `m` differs from the reference, and for each other known mistake of the
        exercise the first where `m` differs from it too. Unconfirmed when no input tried tells `m`
        from a right answer."""
        differs = [i for i in range(len(answers.probes)) if not same(answers.of(m, i), answers.of(None, i))]
        if not differs:
            return False
        chosen = dict.fromkeys([differs[0]])
        for n in known:
            telling = (i for i in differs if not same(answers.of(m, i), answers.of(n, i)))
            if n.id != m.id and (i := next(telling, None)) is not None:
                chosen[i] = None
        return all(same(replay(you, answers.probes[i]), answers.of(m, i)) for i in list(chosen)[:CHOSEN])

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
