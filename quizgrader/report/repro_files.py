"""The smallest failing example of each failing exercise, as a script in the workspace:
`.quiz/repro/<exercise id>.py`, to run, edit and run again. One file per exercise, kept only
while the exercise's latest grading found one: an exercise graded again without one (it passes
now) loses its file.

Written with safefs (atomically, never through a link planted in the workspace); a file is
removed only when it is a regular file, reached without a link. Nothing here prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import safefs
from ..results import GradeReport

FOLDER = Path(".quiz") / "repro"

HEADER = """\
# The smallest failing example of {id}, as `quiz grade {day}` found it.
# `python {name}` runs it; from any folder, it imports your code from the workspace holding .quiz/.
# The grader writes this file again on every grading that fails, and removes it once the exercise passes.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

"""


@dataclass
class Saved:
    files: dict[str, Path] = field(default_factory=dict)  # exercise id -> the script written
    problem: str | None = None  # why some file could not be written or removed


def script(exercise_id: str, day: str, repro: str) -> str:
    """The file's text: a header that makes the learner's code importable, then the repro."""
    return (
        HEADER.format(id=exercise_id, day=day, name=(FOLDER / f"{exercise_id}.py").as_posix())
        + repro.rstrip()
        + "\n"
    )


def path(workspace: Path, exercise_id: str) -> Path:
    return Path(workspace) / FOLDER / f"{exercise_id}.py"


def save(report: GradeReport, workspace: Path) -> Saved:
    """Write the repro of each graded exercise that has one; remove the file of each graded exercise
    that has none now. A file that cannot be written or removed is skipped; the first such problem
    is kept for a warning."""
    saved = Saved()
    for e in report.exercises:
        repro = next((c.repro for c in e.checks if c.repro), None)
        target = path(workspace, e.id)
        try:
            if repro:
                safefs.write_atomic(target, script(e.id, report.day, repro), workspace)
                saved.files[e.id] = target
            else:
                safefs.remove_regular(target, workspace)
        except OSError as err:
            saved.problem = saved.problem or (
                str(err)
                if isinstance(err, safefs.LinkError)
                else f"{safefs.shown(str(target))}: {err.strerror or err}"
            )
    return saved


def shown(files: dict[str, Path], cwd: Path) -> dict[str, str]:
    """Each file as the report names it: relative to `cwd` when it lies under it, else absolute."""
    out = {}
    here = os.path.abspath(cwd)
    for exercise_id, file in files.items():
        full = os.path.abspath(file)
        out[exercise_id] = os.path.relpath(full, here) if safefs.within(full, here) else full
    return out
