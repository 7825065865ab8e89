"""What several commands share, each defined once: the days the commands know, the choices, and
the options and arguments as `Annotated` aliases."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .. import daypacks
from ..catalog import shown

if TYPE_CHECKING:
    from ..catalog import Day

# --- the days: the one place the commands name them, as the installed day packs provide them ---


def _ids(with_lab: bool = False) -> list[str]:
    """The days' ids as a learner types them ("day9"), the newest first."""
    packs = daypacks.packs()
    return [shown(d) for d in sorted(packs, reverse=True) if packs[d].lab or not with_lab]


def _either(names: list[str]) -> str:
    return " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names) or "no day"


DAY_HELP = _either(_ids())
DAYS_HELP = ", ".join(_ids())  # as a list, for an option given once per day
LAB_DAY_HELP = f"{_either(_ids(with_lab=True))} (a day with a lab)"
DEFAULT_DAY = next(iter(sorted(daypacks.ids(), reverse=True)), "")  # `quiz show`'s day: the newest


def all_days() -> list[Day]:
    """Every day the grader knows, loaded, in id order (the oldest first)."""
    from ..catalog import day_ids, load_day

    return [load_day(d) for d in day_ids()]


def lab_days() -> tuple[str, ...]:
    """The ids of the days with a lab."""
    from ..lab import days

    return days()


# --- the choices ---------------------------------------------------------------------------------


class Untouched(str, Enum):
    fail = "fail"
    report = "report"


class Profile(str, Enum):
    quick = "quick"
    default = "default"
    thorough = "thorough"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class CI(str, Enum):
    github = "github"


class Visibility(str, Enum):
    hidden = "hidden"
    after_due_date = "after_due_date"
    after_published = "after_published"


# --- the options and arguments -------------------------------------------------------------------

DayArgument = Annotated[str, typer.Argument(help=DAY_HELP)]
DayOption = Annotated[str, typer.Option(help=DAY_HELP)]
EitherDayArgument = Annotated[str | None, typer.Argument(help=f"{DAY_HELP} (default: every day)")]
ExerciseArgument = Annotated[str, typer.Argument(help="e.g. attention.softmax")]
ProfileOption = Annotated[Profile, typer.Option(help="How many examples each check tries")]
SeedOption = Annotated[int, typer.Option(help="Fixes every random choice")]
DeviceOption = Annotated[Device, typer.Option(help="Where the learner's code runs")]
RowOption = Annotated[list[int] | None, typer.Option(help="Only this rubric row (repeatable)")]

# The learner's process's limits, shared by `grade`, `grade-batch` and `watch`.
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        min=0.1, help="Seconds each call of the learner's code may take (default: each exercise's own)"
    ),
]
MemoryOption = Annotated[
    float, typer.Option(min=0.1, help="GiB of memory the learner's process may use (CPU runs)")
]
CpuOption = Annotated[float, typer.Option(min=1, help="CPU seconds per exercise")]

# Every command that works on a workspace finds it the same way (workspace.find_workspace).
FOUND = (
    "(default: this folder when it is a workspace, else the nearest folder above holding quiz.toml, "
    "else exercises/)"
)
WorkspaceOption = Annotated[Path | None, typer.Option(help="Folder laid out like exercises/ " + FOUND)]
