"""The grade report in the formats CI systems read: JUnit XML, Gradescope's results.json, GitHub
Actions annotations and a step summary. Pure functions of the result model; only
`github_annotations` reads anything (the learner's stub files, to point at the right line)."""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..checks.forbidden import line_range
from ..results import Answer, CheckResult, ExerciseResult, GradeReport, Status, score, total
from . import neutral

QUESTIONS_SUITE = "checkpoint questions"
_FAILED = (Status.FAIL,)
_ERRORED = (Status.ERROR, Status.TIMEOUT)
_SKIPPED = (Status.SKIPPED, Status.NOT_ATTEMPTED, Status.BLOCKED)
# In JUnit a stub left as it is fails (the work is not done); a blocked or skipped one is skipped.
_JUNIT_FAILED = (Status.FAIL, Status.NOT_ATTEMPTED)
_JUNIT_SKIPPED = (Status.SKIPPED, Status.BLOCKED)
# Gradescope's documented visibilities (autograder specifications, results.json)
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
# Characters XML 1.0 cannot carry at all (a learner's program may print terminal escapes).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _short(exercise_id: str) -> str:
    return exercise_id.split(".", 1)[1] if "." in exercise_id else exercise_id


def _outcome(e: ExerciseResult) -> list[tuple[str, Status, str, str, float]]:
    """(name, status, message, details, seconds) per testcase: one per check, or one for the
    exercise when it has no checks, or when it does not pass although none of its checks says why
    (timed with what the exercise took beyond its checks)."""
    cases = []
    for c in e.checks:
        cases.append((c.name, c.status, _first_line(c.message) or e.reason, _check_details(c), c.seconds))
    if not e.checks or (e.status is not Status.PASS and all(c.status is Status.PASS for c in e.checks)):
        details = "\n\n".join(p for p in (e.reason, "\n".join(e.diagnosis), e.output.strip()) if p)
        message = _first_line(e.reason) or e.status.label
        if e.status is Status.NOT_ATTEMPTED:
            message = f"not attempted: {message}"
        rest = max(0.0, e.seconds - sum(c.seconds for c in e.checks))
        cases.append((e.id, e.status, message, details, rest))
    return cases


def _check_details(c: CheckResult) -> str:
    parts = [c.message.strip()]
    if c.diagnosis:
        parts.append("diagnosis: " + c.diagnosis)
    if c.repro:
        parts.append("smallest failing example:\n" + c.repro)
    return "\n\n".join(p for p in parts if p)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _testcase(
    suite: ET.Element,
    classname: str,
    name: str,
    status: Status | None,
    message: str,
    details: str,
    seconds: float = 0.0,
) -> str | None:
    """Adds one <testcase>; returns the kind of its outcome element ("failure", "error",
    "skipped"), or None when it passes."""
    case = ET.SubElement(
        suite, "testcase", classname=_xml_text(classname), name=_xml_text(name), time=f"{seconds:.3f}"
    )
    if status in _JUNIT_FAILED:
        kind = "failure"
    elif status in _ERRORED:
        kind = "error"
    elif status in _JUNIT_SKIPPED:
        kind = "skipped"
    else:
        return None
    child = ET.SubElement(case, kind, message=_xml_text(message))
    if status is not None and kind != "skipped":
        child.set("type", status.value)
    if details and kind != "skipped":
        child.text = _xml_text(details)
    return kind


def _suite(parent: ET.Element, name: str) -> tuple[ET.Element, dict[str, int]]:
    suite = ET.SubElement(parent, "testsuite", name=_xml_text(name))
    return suite, {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}


def _close(suite: ET.Element, counts: dict[str, int], seconds: float) -> None:
    for key, n in counts.items():
        suite.set(key, str(n))
    suite.set("time", f"{seconds:.3f}")


_COUNT = {"failure": "failures", "error": "errors", "skipped": "skipped"}


def junit_xml(report: GradeReport) -> str:
    """JUnit XML: a <testsuite> per exercise with a <testcase> per check (its time the check's
    own), and one for the checkpoint questions that were judged. A stub left as it is (not
    attempted) is a failure; a blocked or skipped exercise is skipped, with its reason."""
    root = ET.Element("testsuites", name=f"quiz grade {report.day}")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for e in report.exercises:
        suite, counts = _suite(root, e.id)
        properties = ET.SubElement(suite, "properties")
        for key, value in (("score", e.score), ("max_score", round(e.points, 2))):
            ET.SubElement(properties, "property", name=key, value=f"{value:g}")
        for name, status, message, details, seconds in _outcome(e):
            kind = _testcase(suite, e.id, name, status, message, details, seconds)
            counts["tests"] += 1
            if kind:
                counts[_COUNT[kind]] += 1
        if e.output.strip():
            ET.SubElement(suite, "system-out").text = _xml_text(e.output)
        _close(suite, counts, e.seconds)
        for key in total:
            total[key] += counts[key]
    judged = [q for q in report.questions if q.outcome.judged]
    if judged or report.answers_error:
        suite, counts = _suite(root, QUESTIONS_SUITE)
        if report.answers_error:
            cases = [("answers file", Status.ERROR, report.answers_error)]
        else:
            status_of = {
                Answer.CORRECT: Status.PASS,
                Answer.WRONG: Status.FAIL,
                Answer.UNREADABLE: Status.ERROR,
            }
            cases = [(q.id, status_of[q.outcome], q.feedback) for q in judged]
        for name, status, feedback in cases:
            kind = _testcase(
                suite, QUESTIONS_SUITE, name, status, _first_line(feedback) or status.label, feedback.strip()
            )
            counts["tests"] += 1
            if kind:
                counts[_COUNT[kind]] += 1
        _close(suite, counts, 0.0)
        for key in total:
            total[key] += counts[key]
    _close(root, total, report.seconds)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _failures(e: ExerciseResult) -> list[str]:
    """Why an exercise does not pass, in lines: its reason, each failing check's first message
    line, the diagnosis."""
    lines = [f"{e.status.label}: {e.reason}" if e.reason else e.status.label]
    for c in e.checks:
        if c.status is not Status.PASS and c.status not in _SKIPPED:
            lines.append(f"- {c.name}: {_first_line(c.message) or c.status.label}")
    diagnoses = [c.diagnosis for c in e.checks if c.diagnosis and c.status is not Status.PASS] or e.diagnosis
    lines += [f"diagnosis: {d}" for d in diagnoses]
    return lines


def _summary_line(report: GradeReport) -> str:
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in report.counts().items())
    line = f"quiz grade {report.day}: " + (
        f"{len(report.exercises)} exercises ({counts})" if report.exercises else "no exercises graded"
    )
    judged = [q for q in report.questions if q.outcome.judged]
    if judged:
        right = sum(q.outcome is Answer.CORRECT for q in judged)
        line += f"; {right}/{len(judged)} checkpoint questions right"
    return line + (" - passed" if report.passed else " - not everything passes yet")


def gradescope_json(
    report: GradeReport,
    points: dict[str, float] | None = None,
    *,
    visibility: dict[str, str] | None = None,
    questions_points: float = 1.0,
    asked: int | None = None,
) -> dict:
    """Gradescope's results.json as a dict, with the keys its autograder specifications document
    and no others (what else there is to keep goes under `extra_data`): one test per exercise,
    worth `points[id]` (what the exercise is worth by default), scored by results.SCORE_RULE, and
    one for the checkpoint questions, worth `questions_points` × the questions right / the
    questions asked (those that can be judged). The questions' test is there when the workspace
    has an answers file, or when `asked` (the day's questions that can be judged) is given, so
    that a submission without one scores 0 of the same total. `visibility`: exercise id (or
    QUESTIONS_SUITE) -> one of VISIBILITIES, "visible" otherwise. The total is the sum of the
    tests' rounded scores."""
    points, visibility = points or {}, visibility or {}
    tests = []
    for e in report.exercises:
        max_score = round(float(points.get(e.id, e.points)), 2)
        checks = f"{e.passed_checks}/{len(e.checks)} checks pass" if e.checks else ""
        if e.status is Status.PASS:
            output = checks or "pass"
        else:
            output = "\n".join(_failures(e) + ([checks] if checks else []))
        tests.append(
            {
                "score": score(e, max_score),
                "max_score": max_score,
                "status": "passed" if e.status is Status.PASS else "failed",
                "name": f"{e.id}: {e.title}" if e.title else e.id,
                "output": output,
                "output_format": "text",
                "tags": [report.day, e.status.value],
                "visibility": visibility.get(e.id, "visible"),
                "extra_data": {
                    "id": e.id,
                    "status": e.status.value,
                    "checks_passed": e.passed_checks,
                    "checks": len(e.checks),
                    "seconds": round(e.seconds, 2),
                },
            }
        )
    if (question := _questions_test(report, questions_points, asked)) is not None:
        question["visibility"] = visibility.get(QUESTIONS_SUITE, "visible")
        tests.append(question)
    for i, t in enumerate(tests, 1):
        t["number"] = str(i)
    output = _summary_line(report)
    if report.verdict:
        output += "\n" + report.verdict.summary
    return {
        "score": total([t["score"] for t in tests]),
        "max_score": total([t["max_score"] for t in tests]),
        "output": output,
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "execution_time": round(report.seconds, 2),
        "tests": tests,
        "extra_data": {
            "day": report.day,
            "version": report.version,
            "profile": report.profile,
            "seed": report.seed,
            "device": report.device,
            "passed": report.passed,
            "verdict": report.verdict.decision if report.verdict else None,
        },
    }


def _questions_test(report: GradeReport, worth: float, asked: int | None) -> dict | None:
    """The checkpoint questions as one Gradescope test, or None when there is nothing to judge."""
    judgeable = [q for q in report.questions if q.outcome is not Answer.SELF_RATED]
    if not judgeable and report.answers_error is None and not asked:
        return None
    n = len(judgeable) or asked or 0
    right = sum(q.outcome is Answer.CORRECT for q in judgeable)
    max_score = round(float(worth), 2)
    got = round(max_score * right / n, 2) if n and report.answers_error is None else 0.0
    if report.answers_error is not None:
        lines = [f"answers file not used: {report.answers_error}"]
    elif not judgeable:
        lines = [
            f"no answers file: write your answers in answers/{report.day}.toml (`quiz answer {report.day}`)"
        ]
    else:
        lines = [f"{right}/{n} right"]
        for q in judgeable:
            if q.outcome is not Answer.CORRECT:
                why = _first_line(q.feedback)
                lines.append(f"- {q.id}: {q.outcome.value}" + (f": {why}" if why else ""))
    return {
        "score": got,
        "max_score": max_score,
        "status": "passed" if n and right == n and report.answers_error is None else "failed",
        "name": f"{report.day}: {QUESTIONS_SUITE}",
        "output": "\n".join(lines),
        "output_format": "text",
        "tags": [report.day, "questions"],
        "extra_data": {
            "right": right,
            "asked": n,
            "outcomes": {q.id: q.outcome.value for q in report.questions},
        },
    }


def merge_gradescope(results: list[dict], output: str = "") -> dict:
    """One results.json from several (one per day): their tests in order, renumbered, the total
    the sum of their scores, their outputs one after the other."""
    tests = [dict(t) for r in results for t in r["tests"]]
    for i, t in enumerate(tests, 1):
        t["number"] = str(i)
    return {
        "score": total([t["score"] for t in tests]),
        "max_score": total([t["max_score"] for t in tests]),
        "output": "\n\n".join(p for p in [output, *(r["output"] for r in results)] if p),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "execution_time": round(sum(r.get("execution_time", 0.0) for r in results), 2),
        "tests": tests,
        "extra_data": {"days": [r.get("extra_data", {}) for r in results]},
    }


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def exercise_file(exercise_id: str) -> str:
    """ "day16.attention.softmax" -> "day16/attention.py"."""
    return exercise_id.rsplit(".", 1)[0].replace(".", "/") + ".py"


def _line(workspace_root: str, exercise_id: str) -> int:
    try:
        source = (Path(workspace_root) / exercise_file(exercise_id)).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return 1
    found = line_range(source, exercise_id.rsplit(".", 1)[1])
    return found[0] if found else 1


def github_annotations(report: GradeReport, workspace_root: str) -> list[str]:
    """GitHub Actions workflow commands, one per exercise that does not pass: an error for a
    failure, error or timeout, a warning for one not attempted or blocked, a notice for one
    skipped. Each points at the line where the exercise starts in the learner's stub."""
    out = []
    for e in report.exercises:
        if e.status is Status.PASS:
            continue
        level = (
            "error"
            if e.status in _FAILED + _ERRORED
            else "notice"
            if e.status is Status.SKIPPED
            else "warning"
        )
        path = posixpath.normpath(posixpath.join(workspace_root.replace("\\", "/"), exercise_file(e.id)))
        title = f"{_short(e.id)}: {e.status.label}"
        props = (
            f"file={_escape_property(path)},line={_line(workspace_root, e.id)},"
            f"title={_escape_property(title)}"
        )
        message = neutral("\n".join(_failures(e)), keep="\r")  # _escape_data escapes CR and LF
        out.append(f"::{level} {props}::{_escape_data(message)}")
    return out


def step_summary(report: GradeReport) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY: the day and whether it passes, a table of the
    exercises, the verdict."""
    mark = "✅ passed" if report.passed else "❌ not passing yet"
    lines = [f"## quiz grade {report.day}: {mark}", ""]
    if report.title:
        lines += [f"*{report.title}*", ""]
    if report.exercises:
        lines += ["| exercise | status | checks passed | points |", "|---|---|---|---|"]
        for e in report.exercises:
            checks = f"{e.passed_checks}/{len(e.checks)}" if e.checks else "–"
            lines.append(
                f"| `{_short(e.id)}` | {e.status.label} | {checks} | {e.score:g}/{round(e.points, 2):g} |"
            )
        lines += [f"| **total** | | | **{report.score:g}/{report.max_score:g}** |", ""]
    judged = [q for q in report.questions if q.outcome.judged]
    if judged:
        right = sum(q.outcome is Answer.CORRECT for q in judged)
        lines += [f"Checkpoint questions: {right}/{len(judged)} right.", ""]
    if report.answers_error:
        lines += [f"Answers file not used: {neutral(report.answers_error)}", ""]
    if report.verdict:
        lines.append(f"**Verdict: {report.verdict.decision.replace('_', ' ')}.** {report.verdict.summary}")
    return "\n".join(lines).rstrip() + "\n"
