"""The days the grader knows: day packs, found through the Python entry points of the group
`quizgrader.days` (this project's own days included), so a course can ship a day as a package of
its own.

An entry point names a `DayPack` (`day16 = "quizgrader.days.day16:PACK"`). A pack is a Python
package holding its data files, read with importlib.resources:

    catalog.toml      the day, its rubric and its exercises (required)
    questions.toml    the checkpoint questions (optional)
    mistakes.toml     known mistakes, and/or mistakes/*.toml (optional)
    checks/           importing it registers the checks (quizgrader.checks.registry.check)

and it names two folders, each holding a folder named after the day: the reference solutions and
the stubs a learner's workspace starts from. A pack may add routines that run beside the learner's
objects (`tools`), experiments for `quiz lab` (`lab`) and the attention heatmaps of its failing
examples (`heatmaps`), each a module.

This module sits at the bottom: it imports nothing of the grader, and loads the packs by name, so
the machinery that asks for a day never names one.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path

GROUP = "quizgrader.days"


class DayPackError(ValueError):
    """A day no installed pack provides, or a pack that is not well made."""


@dataclass(frozen=True)
class DayPack:
    id: str  # the day's name, and the folder of its modules in a workspace ("day16")
    package: str  # the pack's package: its data files, and `<package>.checks`
    reference: Path  # holds `<id>/`: the reference solutions
    exercises: Path  # holds `<id>/`: the stubs
    tools: str = ""  # a module that registers routines run in the learner's process
    lab: str = ""  # a module with EXPERIMENTS for `quiz lab`
    heatmaps: str = ""  # a module with SOURCES: the exercises whose attention weights are drawn
    stages: str = ""  # a module with STAGES: probes that find the stage where a function departs

    @property
    def own(self) -> bool:
        """Whether the pack ships inside this grader (its wheel carries it)."""
        return self.package.split(".")[0] == __package__

    def files(self) -> Traversable:
        return resources.files(self.package)

    def text(self, name: str) -> str | None:
        """A data file of the pack, or None when it has none."""
        f = self.files().joinpath(name)
        return f.read_text(encoding="utf-8") if f.is_file() else None

    def mistake_files(self) -> list[Traversable]:
        """mistakes.toml, then mistakes/*.toml in name order: those that exist."""
        root = self.files()
        found = [root.joinpath("mistakes.toml")]
        folder = root.joinpath("mistakes")
        if folder.is_dir():
            found += sorted((f for f in folder.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)
        return [f for f in found if f.is_file()]

    def folder(self) -> Path:
        """Where the pack's package lies on disk."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise DayPackError(f"the day pack {self.id} names {self.package!r}, which is not a package")
        return Path(next(iter(spec.submodule_search_locations))).resolve()

    def module(self, which: str) -> object | None:
        """The pack's `tools`, `lab`, `heatmaps` or `stages` module, imported; None when it has none."""
        name = getattr(self, which)
        return importlib.import_module(name) if name else None


@dataclass(frozen=True)
class _Found:
    packs: dict[str, DayPack]
    problems: tuple[str, ...]


def _entry_points() -> list[metadata.EntryPoint]:
    found = list(metadata.entry_points(group=GROUP))
    if any(ep.value.startswith(f"{__package__}.") for ep in found):
        return found
    # The grader run from a source tree nobody installed has no metadata of its own: its own
    # days are still its own.
    try:
        metadata.distribution(__package__)
    except metadata.PackageNotFoundError:
        days = Path(__file__).with_name("days")
        found += [
            metadata.EntryPoint(d.name, f"{__package__}.days.{d.name}:PACK", GROUP)
            for d in sorted(days.iterdir())
            if (d / "__init__.py").is_file()
        ]
    return found


@cache
def _found() -> _Found:
    packs: dict[str, DayPack] = {}
    problems: list[str] = []
    for ep in sorted(_entry_points(), key=lambda e: (e.name, e.value)):
        try:
            pack = ep.load()
        except Exception as e:  # noqa: BLE001 - a broken pack is reported; the others still load
            problems.append(f"the day pack {ep.name!r} ({ep.value}) did not load: {type(e).__name__}: {e}")
            continue
        if not isinstance(pack, DayPack):
            problems.append(
                f"the day pack {ep.name!r} ({ep.value}) is a {type(pack).__name__}, not a DayPack"
            )
            continue
        if (seen := packs.get(pack.id)) is not None:
            if seen != pack:
                problems.append(
                    f"two packs provide {pack.id}: {seen.package} and {pack.package}; {seen.package} is used"
                )
            continue
        packs[pack.id] = pack
    return _Found(dict(sorted(packs.items())), tuple(problems))


def packs() -> dict[str, DayPack]:
    """Every day an installed pack provides, by id, in id order."""
    return _found().packs


def ids() -> tuple[str, ...]:
    return tuple(packs())


def problems() -> tuple[str, ...]:
    """What went wrong loading the packs: one line each, for a warning."""
    return _found().problems


def get(day: str) -> DayPack:
    try:
        return packs()[day]
    except KeyError:
        raise DayPackError(f"no installed day pack provides {day!r}") from None


def day_of(exercise: str) -> DayPack:
    """The pack of an exercise id ("day16.attention.softmax")."""
    return get(exercise.split(".")[0])


@cache
def load_checks(day: str) -> None:
    """Register the checks of `day` (import `<package>.checks`)."""
    importlib.import_module(f"{get(day).package}.checks")


@cache
def load_tools() -> None:
    """Import every pack's tools module: it registers its routines. Done by the grader, and by
    the zygote before it forks a learner's process (which cannot read the packs)."""
    for pack in packs().values():
        pack.module("tools")


def denied() -> list[Path]:
    """What a learner's process may not read of the packs: their packages and their folders of
    reference solutions and stubs."""
    out = []
    for pack in packs().values():
        for path in (pack.reference, pack.exercises):
            out.append(Path(os.path.realpath(path)))
        try:
            out.append(pack.folder())
        except DayPackError:
            continue
    return out
