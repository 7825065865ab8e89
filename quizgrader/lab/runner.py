"""A lab run: each experiment in its own learner's process, all forked from one zygote, so that a
broken exercise costs the experiments that call it and no others.

Computes a LabReport and prints nothing; lab/output.py writes it, lab/text.py renders it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import daypacks
from ..catalog import load_day
from ..checks import forbidden
from ..checks.api import LearnerError, remote
from ..sandbox import confine
from ..sandbox.process import ChildConfig, SandboxError, Zygote


def days() -> tuple[str, ...]:
    """The days whose pack has a lab."""
    return tuple(d for d, pack in daypacks.packs().items() if pack.lab)


def experiments_of(day: str) -> Any:
    """A day's lab module (daypacks.DayPack.lab): EXPERIMENTS, Settings, LabError, DRAW, DETAILS,
    headline."""
    return daypacks.get(day).module("lab")


@dataclass
class Outcome:
    """One experiment: its numbers, or which exercise stopped it and how."""

    name: str
    title: str
    ok: bool
    data: dict | None = None
    exercise: str | None = None  # the exercise at fault, when it failed
    error: str | None = None  # one line for the learner
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LabReport:
    day: str
    workspace: str
    reference: bool
    device: str
    settings: Any  # the day's lab Settings
    outcomes: list[Outcome]
    seconds: float = 0.0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def outcome(self, name: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.name == name), None)

    def to_dict(self) -> dict:
        return {
            "day": self.day,
            "workspace": self.workspace,
            "reference": self.reference,
            "device": self.device,
            "seed": self.settings.seed,
            "steps": self.settings.steps,
            "settings": asdict(self.settings),
            "seconds": self.seconds,
            "experiments": {o.name: o.to_dict() for o in self.outcomes},
        }


@dataclass
class LabOptions:
    day: str
    workspace: Path
    settings: Any  # the day's lab Settings
    reference: bool = False  # the reference's exercises in place of the workspace's
    device: str = "cpu"  # resolved: "cpu" or "cuda"
    only: list[str] | None = None
    memory_gib: float = confine.MEMORY_GIB


def whose(reference: bool) -> str:
    """Whose code a lab run ran, as its figures and lines name it."""
    return "the reference's" if reference else "your"


def pick(day: str, only: str | None) -> list[str] | None:
    """--only's comma-separated experiment names, each checked."""
    if not only:
        return None
    names = [n.strip() for n in only.split(",") if n.strip()]
    known = [e.name for e in experiments_of(day).EXPERIMENTS]
    if bad := [n for n in names if n not in known]:
        raise ValueError(f"unknown experiment {bad[0]!r} (known: {', '.join(known)})")
    return names


def workspace_for(options: LabOptions) -> Path:
    """With --reference nothing of the workspace is run, so a missing one is no obstacle."""
    if options.reference and not options.workspace.is_dir():
        return daypacks.get(options.day).reference
    return options.workspace


def run(
    options: LabOptions,
    progress: Callable[[Any, Outcome | None], None] | None = None,
    zygote: Zygote | None = None,
) -> LabReport:
    """Run the chosen experiments. Pass a `zygote` started before this process imported torch to
    overlap the two imports; one made here is closed here."""
    started = time.perf_counter()
    chosen = [
        e for e in experiments_of(options.day).EXPERIMENTS if options.only is None or e.name in options.only
    ]
    own = zygote is None
    zygote = zygote or Zygote()
    outcomes = []
    try:
        for exp in chosen:
            if progress:
                progress(exp, None)
            outcomes.append(run_experiment(exp, options, zygote))
            if progress:
                progress(exp, outcomes[-1])
    finally:
        if own:
            zygote.close()
    return LabReport(
        day=options.day,
        workspace=str(workspace_for(options)),
        reference=options.reference,
        device=options.device,
        settings=options.settings,
        outcomes=outcomes,
        seconds=time.perf_counter() - started,
    )


def run_experiment(exp: Any, options: LabOptions, zygote: Zygote) -> Outcome:
    """One experiment in a fresh learner's process; whatever the learner's code does, an Outcome."""
    t0 = time.perf_counter()
    root = workspace_for(options).resolve()
    # Training is the longest call: generous, and growing with the steps asked for.
    call_seconds = 120.0 + 1.0 * options.settings.steps
    outcome = Outcome(exp.name, exp.title, ok=False)
    try:
        child = zygote.spawn(
            ChildConfig(
                root,
                options.device,
                call_seconds,
                substitute=exp.uses if options.reference else (),
                cpu_seconds=max(confine.CPU_SECONDS, 3 * call_seconds),
                memory_gib=options.memory_gib,
            ),
            hard_timeout=call_seconds + 5,
        )
    except SandboxError as e:
        outcome.exercise, outcome.error = exp.uses[0], e.reason
        return outcome
    try:
        outcome.data = exp.run(remote(child, options.day), options.settings)
        outcome.ok = True
    except (LearnerError, SandboxError, experiments_of(options.day).LabError) as e:
        outcome.exercise, outcome.error = failure(e, exp, root, options.day)
    finally:
        child.end()
        outcome.seconds = time.perf_counter() - t0
    return outcome


def failure(e: Exception, exp: Any, root: Path, day: str) -> tuple[str, str]:
    """(the exercise at fault, one line that says what went wrong). The fault is placed where the
    learner's traceback ends, which may be an exercise the experiment only calls through another
    (the attention inside the LM)."""
    fallback = exp.uses[0]
    if isinstance(e, LearnerError):
        origin = e.info.get("origin") or {}
        exercise = exercise_at(root, origin, day) or fallback
        where = f" ({origin['file']}, line {origin['line']})" if origin.get("file") else ""
        if e.not_implemented:
            return exercise, f"{exercise} is not implemented yet: it raises NotImplementedError{where}"
        message = (e.info.get("message") or "").strip().splitlines()
        return exercise, f"{exercise} raised {e.info['type']}{': ' + message[0] if message else ''}{where}"
    if isinstance(e, SandboxError):
        return fallback, f"{fallback}: {e.reason}"
    return fallback, f"{fallback}: {e}"


def exercise_at(root: Path, origin: dict, day: str) -> str | None:
    """The exercise of `day` whose source holds a traceback's last line in the workspace."""
    file, line = origin.get("file"), origin.get("line")
    if not file or not line:
        return None
    try:
        source = (root / file).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for ex in load_day(day).exercises:
        if ex.file == file and (span := forbidden.line_range(source, ex.name)) and span[0] <= line <= span[1]:
            return ex.id
    return None
