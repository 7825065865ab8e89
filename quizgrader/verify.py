"""`quiz verify RESULTS.json`: is this result what grading gives? Every claim in it is derived
again: its plan (the exercises asked for, in dependency order) must be what the grader makes of
it, its exercises exactly those of the plan, its fingerprints those of every planned exercise's
file and of the answers file, its grader version this one; and grading the files again (same
day, plan, seed and profile) must give the same status for every exercise, check and question.

A results file is read strictly, as the untrusted input it is: a bounded size, JSON with no NaN
or infinity and no key given twice, a bounded depth, and the fields and types `quiz grade --json`
writes. Anything else is refused with what is wrong, never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .catalog import CatalogError, Day, load_day
from .grade import Options, fingerprints, grade
from .results import Answer, GradeReport, Status
from .safefs import shown
from .workspace_links import refusal

MAX_BYTES = 8 * 2**20  # a full result, every heatmap and repro in it, is well under 1 MiB
MAX_DEPTH = 32  # a result nests about ten deep
PROFILES = ("quick", "default", "thorough")
STATUSES = tuple(s.value for s in Status)
OUTCOMES = tuple(a.value for a in Answer)
JUDGED = tuple(a.value for a in Answer if a.judged)


class ResultsFileError(ValueError):
    """A results file that is not a `quiz grade --json` result; the message says what is wrong."""


@dataclass
class Verification:
    report: GradeReport  # the grading done now
    differences: list[str] = field(default_factory=list)  # what does not match, in words
    notes: list[str] = field(default_factory=list)  # what differs without mattering

    @property
    def ok(self) -> bool:
        return not self.differences


# ------------------------------------------------------------------------------------- reading


def load(path: Path) -> dict:
    """The result in the file at `path`, read strictly (see the module's docstring). OSError when
    the file cannot be read; ResultsFileError, saying what is wrong, when it is not a result."""
    with open(path, "rb") as f:
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ResultsFileError(f"it is larger than {MAX_BYTES // 2**20} MiB, far more than a result holds")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ResultsFileError(f"it is not UTF-8 text (byte {e.start} is not)") from None
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_once)
    except RecursionError:
        raise ResultsFileError("it is nested too deeply to be a result") from None
    except ResultsFileError:
        raise
    except ValueError as e:  # not JSON; or an integer too long to read
        raise ResultsFileError(f"it is not JSON that can be read ({e})") from None
    check_shape(data)
    return data


def _no_constant(name: str) -> Any:
    raise ResultsFileError(f"it holds {name}, which is not a number in JSON (the grader writes none)")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ResultsFileError(
            f"it holds the number {shown(text[:40])}, too large to be a number in a result"
        )
    return value


def _once(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ResultsFileError(
                f"an object in it gives the key {shown(repr(key))[:80]} twice, so which one "
                "counts would depend on the reader"
            )
        out[key] = value
    return out


def check_shape(data: Any) -> None:
    """Raise ResultsFileError unless `data` has the fields and types of a `quiz grade --json`
    result and nests at most MAX_DEPTH deep."""
    if not isinstance(data, dict):
        raise ResultsFileError(f"it holds {_kind(data)}, not a result of `quiz grade --json` (an object)")
    if (depth := _depth(data)) > MAX_DEPTH:
        raise ResultsFileError(
            f"it nests more than {MAX_DEPTH} levels deep ({depth} at least), far more than a result"
        )
    if "day" not in data or "exercises" not in data:
        raise ResultsFileError(
            "it is not a result of `quiz grade --json` (it has no `day` or no `exercises`)"
        )
    _need(
        data,
        "",
        {
            "day": str,
            "workspace": str,
            "seed": int,
            "profile": str,
            "device": str,
            "version": str,
            "passed": bool,
            "plan": list,
            "exercises": list,
            "files": dict,
            "questions": list,
            "answers_file": (str, None),
            "answers_error": (str, None),
        },
    )
    _one_of(data["profile"], PROFILES, "profile")
    for i, name in enumerate(data["plan"]):
        _fits(name, str, f"plan[{i}]")
    for i, e in enumerate(data["exercises"]):
        _fits(e, dict, f"exercises[{i}]")
        _need(e, f"exercises[{i}].", {"id": str, "status": str, "checks": list})
        _one_of(e["status"], STATUSES, f"exercises[{i}].status")
        for j, c in enumerate(e["checks"]):
            _fits(c, dict, f"exercises[{i}].checks[{j}]")
            _need(c, f"exercises[{i}].checks[{j}].", {"name": str, "status": str})
            _one_of(c["status"], STATUSES, f"exercises[{i}].checks[{j}].status")
    for i, q in enumerate(data["questions"]):
        _fits(q, dict, f"questions[{i}]")
        _need(q, f"questions[{i}].", {"id": str, "outcome": str})
        _one_of(q["outcome"], OUTCOMES, f"questions[{i}].outcome")
    for name, digest in data["files"].items():
        if digest is not None and not (
            isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
        ):
            raise ResultsFileError(
                f"`files` gives {shown(name)} the fingerprint {_value(digest)}, not a SHA-256 "
                "(64 hexadecimal digits) or null"
            )


def _depth(value: Any) -> int:
    """How deep `value` nests (a scalar: 0), counted no further than MAX_DEPTH + 1."""
    deepest, todo = 0, [(value, 1)]
    while todo and deepest <= MAX_DEPTH:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            todo.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _need(obj: dict, where: str, fields: dict[str, Any]) -> None:
    """Each of `fields` is in `obj`, of its type (a tuple: one of those; None: null)."""
    for key, kind in fields.items():
        if key not in obj:
            raise ResultsFileError(f"it has no `{where}{key}`, which every result has")
        _fits(obj[key], kind, f"{where}{key}")


def _fits(value: Any, kind: Any, name: str) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not any(
        value is None if k is None else isinstance(value, k) and not (k is int and isinstance(value, bool))
        for k in kinds
    ):
        wanted = " or ".join("null" if k is None else _NAMES[k] for k in kinds)
        raise ResultsFileError(f"`{name}` is {_kind(value)}, not {wanted}")


def _one_of(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise ResultsFileError(f"`{name}` is {_value(value)}, not one of {', '.join(allowed)}")


_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "an object"}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    for k in (int, float, str):
        if isinstance(value, k):
            return f"{'a number' if k is not str else 'a string'} ({_value(value)})"
    return "a list" if isinstance(value, list) else "an object"


def _value(value: Any) -> str:
    text = repr(value)
    return shown(text if len(text) <= 60 else text[:57] + "...")


# ----------------------------------------------------------------------------------- verifying


def verify(
    data: dict, workspace: Path, device: str, zygote=None, allow_version_change: bool = False
) -> Verification:
    """Check the result `data` against the files in `workspace`, grading them again on `device`.
    `allow_version_change`: a result from another grader version is verified all the same (a
    note), rather than refused."""
    check_shape(data)
    try:
        day = load_day(data["day"])
    except CatalogError as e:
        raise ResultsFileError(f"`day`: {e}") from None
    differences, notes = _plan(data, day), []
    planned = [i for i in data["plan"] if _known(day, i)]
    differences += _files(data, day, planned, workspace)
    if data["version"] != __version__:
        said = f"graded by quizgrader {shown(data['version'])}, verified by {__version__}"
        if allow_version_change:
            notes.append(said)
        else:
            differences.append(
                f"{said}: another version may grade differently (--allow-version-change verifies "
                "it all the same)"
            )
    if data["device"] != device:
        notes.append(f"graded on {shown(data['device'])}, verified on {device}")
    report = grade(
        day.id,
        Options(
            workspace=workspace,
            only=planned or None,
            profile=data["profile"],
            seed=data["seed"],
            device=device,
        ),
        zygote=zygote,
    )
    differences += _statuses(data, report)
    if data["passed"] != report.passed:
        differences.append(
            f"the result says passed={str(data['passed']).lower()}, grading again gives "
            f"{str(report.passed).lower()}"
        )
    return Verification(report, differences, notes)


def _known(day: Day, exercise_id: str) -> bool:
    return any(e.id == exercise_id for e in day.exercises)


def _plan(data: dict, day: Day) -> list[str]:
    """What is wrong with the result's plan and with its exercises against that plan."""
    out = []
    plan, ids = data["plan"], [e["id"] for e in data["exercises"]]
    for i in dict.fromkeys(plan):
        if not _known(day, i):
            out.append(f"the plan names {shown(i)}, which is not an exercise of {day.id}")
        elif plan.count(i) > 1:
            out.append(f"the plan names {shown(i)} {plan.count(i)} times")
    if not plan and day.exercises:
        out.append(f"the plan is empty, yet grading {day.id} grades every exercise unless --only picks some")
    elif not out and plan != (ordered := [e.id for e in day.ordered(plan)]):
        out.append(f"the plan is not in the order the grader grades it ({', '.join(ordered)})")
    for i in dict.fromkeys(plan):
        if i not in ids:
            out.append(f"{shown(i)} is in the plan but missing from the result's exercises")
    for i in dict.fromkeys(ids):
        if i not in plan:
            out.append(f"{shown(i)} is among the result's exercises but not in its plan")
        elif ids.count(i) > 1:
            out.append(f"{shown(i)} is listed {ids.count(i)} times among the result's exercises")
    return out


def _files(data: dict, day: Day, planned: list[str], workspace: Path) -> list[str]:
    """The fingerprints: one for the file of every planned exercise and for the answers file, each
    the file's as it is now (or missing now as it was then), none reached through a link out of
    the workspace."""
    out = []
    files = data["files"]
    expected = {day.exercise(i).file for i in planned} | {day.answers_file}
    for name in sorted(expected - set(files)):
        out.append(f"the result has no fingerprint of {name}, which was graded")
    for name in sorted(set(files) - expected):
        out.append(f"the result fingerprints {shown(name)}, which its plan does not grade")
    if any(q["outcome"] in JUDGED for q in data["questions"]) and files.get(day.answers_file) is None:
        out.append(
            f"questions were judged, yet the result has no fingerprint of the answers file {day.answers_file}"
        )
    now = fingerprints(workspace, sorted(expected))
    for name in sorted(expected & set(files)):
        if files[name] == now[name]:
            continue
        if now[name] is None:
            out.append(f"{name} is not in {shown(str(workspace))}")
        elif files[name] is None:
            out.append(f"{name} is in {shown(str(workspace))}, but was not there when graded")
        else:
            out.append(f"{name} is not the file that was graded (its SHA-256 differs)")
    out += [why for name in sorted(expected) if (why := refusal(workspace, name)) is not None]
    return out


def _statuses(data: dict, report: GradeReport) -> list[str]:
    """Every exercise, check and question whose status differs from grading again."""
    out = []
    again = {e.id: e for e in report.exercises}
    for e in data["exercises"]:
        if e["id"] not in data["plan"]:
            continue  # said already
        name = shown(e["id"])
        mine = again.get(e["id"])
        if mine is None:
            out.append(f"{name} was not graded again")
            continue
        if mine.status.value != e["status"]:
            out.append(f"{name}: the result says {e['status']}, grading again gives {mine.status.value}")
        checks = {c.name: c.status.value for c in mine.checks}
        listed = {c["name"]: c["status"] for c in e["checks"]}
        for check, status in listed.items():
            if check not in checks:
                out.append(
                    f"{name}: the result lists a check {shown(repr(check))} that grading again does not run"
                )
            elif checks[check] != status:
                out.append(
                    f"{name}, check {shown(repr(check))}: the result says {status}, grading again gives "
                    f"{checks[check]}"
                )
        for check in checks.keys() - listed.keys():
            out.append(f"{name}: grading again runs the check {check!r}, which the result does not list")
    judged = {q.id: q.outcome.value for q in report.questions}
    claimed = {q["id"]: q["outcome"] for q in data["questions"]}
    for q in sorted(judged.keys() | claimed.keys()):
        if judged.get(q) != claimed.get(q):
            out.append(
                f"question {shown(q)}: the result says {claimed.get(q, 'nothing')}, judging the answers "
                f"again gives {judged.get(q, 'nothing')}"
            )
    return out
