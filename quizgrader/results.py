"""The one result model every renderer reads: plain data, no rendering, no tensors."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    TIMEOUT = "timeout"
    NOT_ATTEMPTED = "not_attempted"
    BLOCKED = "blocked"
    SKIPPED = "skipped"

    @property
    def label(self) -> str:
        """In words: "not attempted"."""
        return self.value.replace("_", " ")


@dataclass
class CheckResult:
    name: str
    status: Status
    message: str = ""
    diagnosis: str | None = None
    repro: str | None = None
    examples: int = 0  # inputs tried
    figures: dict = field(default_factory=dict)  # what a measuring check measured
    rows: tuple[int, ...] = ()  # rubric rows it is evidence for, beyond its exercise's
    heatmap: dict | None = None  # attention weights of the failing example, yours and expected
    seconds: float = 0.0  # how long it ran (the grader's clock, calls to the learner's process included)
    # the calls of the first few examples it tried, for the diagnosis to confirm a cause on
    # other inputs than the failing ones (not written out)
    tried: list = field(default_factory=list, repr=False)


@dataclass
class ExerciseResult:
    id: str
    title: str
    status: Status
    reason: str = ""  # one line: why this status
    checks: list[CheckResult] = field(default_factory=list)
    diagnosis: list[str] = field(default_factory=list)  # named known mistakes, each confirmed
    where: str | None = None  # where a module first departs from the reference's
    hint: str | None = None  # what to read next, when not passing
    hint_next: int | None = None  # the level `quiz hint` shows next; None: that was the last
    output: str = ""  # what the learner's code printed, when it failed
    seconds: float = 0.0
    # Graded again with the reference's version of the dependencies that fail (`substituted`), so
    # the learner sees whether this exercise itself is right.
    with_reference: ExerciseResult | None = None
    substituted: list[str] = field(default_factory=list)
    points: float = 1.0  # what it is worth (the catalog's `points`)

    @property
    def passed_checks(self) -> int:
        return sum(c.status is Status.PASS for c in self.checks)

    @property
    def score(self) -> float:
        return score(self, self.points)


# Checks that are conditions of the work, not part of it: passing them earns nothing on its own,
# failing one costs the exercise's points (the work is not the learner's own, or reached around).
FROM_SCRATCH = "written from scratch (no forbidden library calls)"
KEEPS_TO_ITSELF = "reaches nothing but its inputs (no files, frames, threads or grader internals)"
CONDITIONS = (FROM_SCRATCH, KEEPS_TO_ITSELF)


def score(e: ExerciseResult, points: float) -> float:
    """`e`'s share of `points`, rounded to 2 decimals, by the one rule every report uses (README,
    "Scores"): all of them for a pass; for a failure, an error or a timeout, 0 when a condition
    (CONDITIONS) fails, else points × checks passed / its checks, the conditions left out (a check
    not run because the process ended is not passed; an exercise that fails although every check
    passes counts that as one more check); 0 otherwise. A blocked exercise scores 0: its points
    come back once what it builds on passes."""
    if e.status is Status.PASS:
        return round(points, 2)
    if e.status not in (Status.FAIL, Status.ERROR, Status.TIMEOUT) or not e.checks:
        return 0.0
    if any(c.name in CONDITIONS and c.status in (Status.FAIL, Status.ERROR) for c in e.checks):
        return 0.0
    work = [c for c in e.checks if c.name not in CONDITIONS]
    n, passed = len(work), sum(c.status is Status.PASS for c in work)
    if not n:
        return 0.0
    if passed == n:
        n += 1
    return round(points * passed / n, 2)


def total(scores: list[float]) -> float:
    """The sum of scores already rounded to 2 decimals, as they are shown: no drift from the parts."""
    return round(sum(scores), 2)


class Answer(StrEnum):
    """What became of a checkpoint question."""

    CORRECT = "correct"
    WRONG = "wrong"
    UNREADABLE = "unreadable"  # not a number / expression / choice ... that can be judged
    UNANSWERED = "unanswered"
    SELF_RATED = "self_rated"  # free-form: the learner rates it against the guide

    @property
    def judged(self) -> bool:
        return self in (Answer.CORRECT, Answer.WRONG, Answer.UNREADABLE)


@dataclass(frozen=True)
class ExerciseEvidence:
    """An exercise of a rubric row, as this run graded it."""

    exercise: str  # its id
    status: Status
    passed: int = 0  # its checks that passed
    checks: int = 0  # its checks that ran


@dataclass(frozen=True)
class FigureEvidence:
    """What a measuring check found for a rubric row: its figure's summary, or None when it has
    none (then the check stands for itself, by its name)."""

    exercise: str
    check: str
    status: Status
    summary: Any = None  # the check's figures["summary"]
    # True: a check of an exercise of other rows, declaring this one (it counts toward the rating);
    # False: what an exercise of this row measured for it (shown beside the exercise, not counted).
    declared: bool = False


@dataclass(frozen=True)
class AnswerEvidence:
    """A checkpoint question of the row that was judged."""

    question: str
    outcome: Answer

    @property
    def right(self) -> bool:
        return self.outcome is Answer.CORRECT


@dataclass
class RowEvidence:
    """Everything this run knows about one rubric row, as data (the renderers put it in words)."""

    row: int
    area: str
    exercises: list[ExerciseEvidence] = field(default_factory=list)  # the graded ones, in catalog order
    figures: list[FigureEvidence] = field(default_factory=list)  # the row's own first, then declared
    answers: list[AnswerEvidence] = field(default_factory=list)
    no_exercise: bool = False  # no exercise of the catalog gives evidence for the row, nor measures it
    not_graded: int = 0  # exercises giving evidence for the row that this run did not grade
    self_rating: str | None = None


@dataclass
class RubricRating:
    row: int
    area: str
    rating: str | None  # one of the day's scale, or None: no evidence yet
    evidence: list[str] = field(default_factory=list)  # `basis` in words, a line each
    self_rating: str | None = None  # the learner's own, from the answers file
    calibrated: bool | None = None  # self_rating == rating (None when either is missing)
    basis: RowEvidence | None = None  # what the rating was decided from


@dataclass
class QuestionResult:
    id: str
    row: int
    outcome: Answer
    feedback: str = ""
    known_mistake: bool = False
    given: Any = None  # the learner's answer, as the answers file holds it


@dataclass
class Criterion:
    row: int
    text: str
    met: bool | None  # None: the row has no rating yet


@dataclass
class Verdict:
    """What the day's rule makes of the rubric: move on, go back, or not decided yet."""

    decision: str  # ready | go_back | extra_day | not_yet | incomplete
    summary: str  # one sentence
    rows: list[int] = field(default_factory=list)  # the rows to revisit, weakest first
    checklist: list[Criterion] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "decision": self.decision,
            "summary": self.summary,
            "rows": self.rows,
            "checklist": [{"row": c.row, "text": c.text, "met": c.met} for c in self.checklist],
        }


@dataclass
class GradeReport:
    day: str
    title: str
    workspace: str
    seed: int
    profile: str
    device: str
    scale: tuple[str, ...]
    exercises: list[ExerciseResult]
    rubric: list[RubricRating]
    seconds: float = 0.0
    version: str = ""
    questions: list[QuestionResult] = field(default_factory=list)
    answers_file: str | None = None  # the answers file graded, when there is one
    answers_error: str | None = None  # why it could not be used
    verdict: Verdict | None = None
    # graded file (workspace-relative) -> SHA-256; None: it was not there
    files: dict[str, str | None] = field(default_factory=dict)
    sandbox: dict[str, list[str]] = field(default_factory=dict)  # limits "applied" and "missing"
    plan: list[str] = field(default_factory=list)  # the exercises asked for (--only), in dependency order

    @property
    def questions_ok(self) -> bool:
        return self.answers_error is None and all(
            q.outcome not in (Answer.WRONG, Answer.UNREADABLE) for q in self.questions
        )

    @property
    def passed(self) -> bool:
        """Something was graded, every graded exercise passes, and every answered question is
        right."""
        graded = bool(self.exercises) or any(q.outcome.judged for q in self.questions)
        return graded and all(e.status is Status.PASS for e in self.exercises) and self.questions_ok

    @property
    def not_started(self) -> bool:
        """The learner has not begun this day: it has exercises, none was attempted (each stub
        still raises NotImplementedError, or its file or function is missing) and no checkpoint
        question was answered."""
        return (
            bool(self.exercises)
            and all(e.status is Status.NOT_ATTEMPTED for e in self.exercises)
            and self.answers_error is None
            and all(q.outcome in (Answer.UNANSWERED, Answer.SELF_RATED) for q in self.questions)
        )

    @property
    def score(self) -> float:
        return total([e.score for e in self.exercises])

    @property
    def max_score(self) -> float:
        return total([round(e.points, 2) for e in self.exercises])

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.exercises:
            out[e.status.value] = out.get(e.status.value, 0) + 1
        return out

    def to_dict(self) -> dict:
        """Plain data that is also strict JSON: NaN and ±inf anywhere (a measurement, an answer)
        are written as the strings "NaN", "inf" and "-inf"."""
        return strict(
            {
                "day": self.day,
                "workspace": self.workspace,
                "seed": self.seed,
                "profile": self.profile,
                "device": self.device,
                "version": self.version,
                "passed": self.passed,
                "seconds": round(self.seconds, 3),
                "plan": self.plan,
                "exercises": [_exercise_dict(e) for e in self.exercises],
                "rubric": [
                    {
                        "row": r.row,
                        "area": r.area,
                        "rating": r.rating,
                        "evidence": r.evidence,
                        "self_rating": r.self_rating,
                        "calibrated": r.calibrated,
                    }
                    for r in self.rubric
                ],
                "answers_file": self.answers_file,
                "answers_error": self.answers_error,
                "questions": [
                    {
                        "id": q.id,
                        "row": q.row,
                        "outcome": q.outcome,
                        "feedback": q.feedback,
                        "known_mistake": q.known_mistake,
                        "given": q.given,
                    }
                    for q in self.questions
                ],
                "verdict": self.verdict.to_dict() if self.verdict else None,
                "files": self.files,
                "sandbox": self.sandbox,
                "score": self.score,
                "max_score": self.max_score,
            }
        )


def json_number(x: float) -> float | str:
    """A float JSON can carry: itself, or "NaN", "inf", "-inf" (which float() reads back)."""
    return x if math.isfinite(x) else "NaN" if math.isnan(x) else "inf" if x > 0 else "-inf"


def strict(x: Any) -> Any:
    """`x` with every non-finite float replaced by json_number's string, at any depth."""
    if isinstance(x, float):
        return json_number(x)
    if isinstance(x, dict):
        return {k: strict(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [strict(v) for v in x]
    return x


def to_json(report: GradeReport) -> str:
    """`quiz grade --json`: standard JSON that any reader takes. A NaN or an infinity (a learner's
    weights in a heatmap, a figure measured on broken code) is written as null."""
    return json.dumps(_finite(report.to_dict()), indent=2, default=str, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _exercise_dict(e: ExerciseResult) -> dict:
    out = {
        "id": e.id,
        "status": e.status.value,
        "reason": e.reason,
        "diagnosis": e.diagnosis,
        "where": e.where,
        "hint": e.hint,
        "hint_next": e.hint_next,
        "score": e.score,
        "max_score": round(e.points, 2),
        "seconds": round(e.seconds, 3),
        "checks": [
            {
                "name": c.name,
                "status": c.status.value,
                "message": c.message,
                "diagnosis": c.diagnosis,
                "repro": c.repro,
                "examples": c.examples,
                **({"figures": c.figures} if c.figures else {}),
                **({"heatmap": c.heatmap} if c.heatmap else {}),
            }
            for c in e.checks
        ],
    }
    if e.with_reference is not None:
        out["with_reference"] = {
            "substituted": e.with_reference.substituted,
            **{
                k: v
                for k, v in _exercise_dict(e.with_reference).items()
                if k not in ("id", "score", "max_score")
            },
        }
    return out


@dataclass
class SelfTest:
    """`quiz selftest DAY`: what was proven of a day's checks (quizgrader/selftest.py)."""

    day: str
    exercises: int = 0
    checks: int = 0
    mistakes: int = 0
    problems: list[str] = field(default_factory=list)  # one line each; none when all holds

    @property
    def ok(self) -> bool:
        return not self.problems
