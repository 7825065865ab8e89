"""What several commands share, each defined once: the days the commands know, the choices, and
the options and arguments as `Annotated` aliases."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ..catalog import Day

# --- the days: the one place the commands name them ---------------------------------------------

DAY_HELP = "day16 or day9"
DAYS_HELP = "day16, day9"  # as a list, for an option given once per day
LAB_DAY_HELP = "day16 (the day with a lab)"
DEFAULT_DAY = "day16"  # what `quiz show` shows when no day is given


def all_days() -> list[Day]:
    """Every day the grader knows, loaded, in the catalog's order (the oldest first)."""
    from ..catalog import DAYS, load_day

    return [load_day(d) for d in DAYS]


def lab_days() -> tuple[str, ...]:
    """The ids of the days with a lab."""
    from ..lab import DAYS

    return DAYS


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
EitherDayArgument = Annotated[str | None, typer.Argument(help=f"{DAY_HELP} (default: both)")]
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
