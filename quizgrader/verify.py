"""`quiz verify RESULTS.json`: is this result what grading gives? The graded files must be the
ones fingerprinted in the result, and grading them again (same day, exercises, seed and profile)
must give the same status for every exercise and every check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .grade import Options, fingerprints, grade
from .results import GradeReport


class ResultsFileError(ValueError):
    """A results file that is not a `quiz grade --json` result."""


@dataclass
class Verification:
    report: GradeReport                                    # the grading done now
    differences: list[str] = field(default_factory=list)   # what does not match, in words
    notes: list[str] = field(default_factory=list)         # what differs without mattering

    @property
    def ok(self) -> bool:
        return not self.differences


def verify(data: dict, workspace: Path, device: str, zygote=None) -> Verification:
    try:
        day, files, exercises = data["day"], data["files"], data["exercises"]
        seed, profile = int(data["seed"]), str(data["profile"])
        ids = [e["id"] for e in exercises]
    except (KeyError, TypeError, ValueError) as e:
        raise ResultsFileError(f"not a result of `quiz grade --json` (missing or malformed {e})") from None
    differences, notes = [], []
    now = fingerprints(workspace, list(files))
    for name, digest in files.items():
        if name not in now:
            differences.append(f"{name} is not in {workspace}")
        elif now[name] != digest:
            differences.append(f"{name} is not the file that was graded (its SHA-256 differs)")
    if data.get("version") != __version__:
        notes.append(f"graded by quizgrader {data.get('version')}, verified by {__version__}")
    if data.get("device") != device:
        notes.append(f"graded on {data.get('device')}, verified on {device}")
    report = grade(day, Options(workspace=workspace, only=ids or None, profile=profile, seed=seed, device=device),
                   zygote=zygote)
    again = {e.id: e for e in report.exercises}
    for e in exercises:
        mine = again.get(e["id"])
        if mine is None:
            differences.append(f"{e['id']} was not graded again")
            continue
        if mine.status.value != e["status"]:
            differences.append(f"{e['id']}: the result says {e['status']}, grading again gives {mine.status.value}")
        checks = {c.name: c.status.value for c in mine.checks}
        for c in e.get("checks", []):
            if c["name"] in checks and checks[c["name"]] != c["status"]:
                differences.append(f"{e['id']}, check {c['name']!r}: the result says {c['status']}, grading again "
                                   f"gives {checks[c['name']]}")
    if bool(data.get("passed")) != report.passed:
        differences.append(f"the result says passed={data.get('passed')}, grading again gives {report.passed}")
    return Verification(report, differences, notes)
