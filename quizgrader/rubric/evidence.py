"""Gathering: per rubric row, what the run's results say about it, as data (no words: the renderers
in quizgrader.report write those)."""

from __future__ import annotations

from ..catalog import Day, Exercise, RubricRow
from ..results import (
    AnswerEvidence,
    ExerciseEvidence,
    ExerciseResult,
    FigureEvidence,
    QuestionResult,
    RowEvidence,
    Status,
)

UNGRADED = (Status.NOT_ATTEMPTED, Status.SKIPPED)


def by_row(day: Day, exercise_id: str) -> tuple[int, ...]:
    """The rubric rows the catalog says `exercise_id` gives evidence for."""
    return next((e.rubric for e in day.exercises if e.id == exercise_id), ())


def gather(
    day: Day,
    results: list[ExerciseResult],
    questions: list[QuestionResult] | None = None,
    self_ratings: dict[int, str] | None = None,
) -> list[RowEvidence]:
    """Per row of `day`'s rubric, in order: its exercises as graded, the figures measured for it,
    its judged questions, what the run could not say, and the learner's own rating."""
    questions, self_ratings = questions or [], self_ratings or {}
    return [row_evidence(day, row, results, questions, self_ratings.get(row.number)) for row in day.rubric]


def row_evidence(
    day: Day,
    row: RubricRow,
    results: list[ExerciseResult],
    questions: list[QuestionResult],
    self_rating: str | None,
) -> RowEvidence:
    by_id = {r.id: r for r in results}
    exercises = [e for e in day.exercises if row.number in e.rubric]
    measuring = [e for e in day.exercises if row.number in e.measures]
    graded = [by_id[e.id] for e in exercises if e.id in by_id]
    return RowEvidence(
        row.number,
        row.area,
        exercises=[graded_exercise(r) for r in graded],
        figures=own_figures(graded) + declared_figures(day, row.number, results),
        answers=judged(questions, row.number),
        no_exercise=not exercises and not measuring,
        not_graded=not_graded(exercises + measuring, by_id),
        self_rating=self_rating,
    )


def graded_exercise(r: ExerciseResult) -> ExerciseEvidence:
    return ExerciseEvidence(r.id, r.status, r.passed_checks, len(r.checks))


def own_figures(graded: list[ExerciseResult]) -> list[FigureEvidence]:
    """What the row's own exercises measured for it: their checks with a figure's summary that
    declare no rows (a check measuring for other rows declares them, and shows there)."""
    return [
        FigureEvidence(r.id, c.name, c.status, c.figures["summary"])
        for r in graded
        for c in r.checks
        if c.figures.get("summary") and not c.rows
    ]


def declared_figures(day: Day, row: int, results: list[ExerciseResult]) -> list[FigureEvidence]:
    """Checks of other rows' exercises that measure something this row is about (e.g. the trained
    model without positions, for the positional-encoding row), when they ran."""
    return [
        FigureEvidence(r.id, c.name, c.status, c.figures.get("summary"), declared=True)
        for r in results
        for c in r.checks
        if row in c.rows and c.status not in UNGRADED and row not in by_row(day, r.id)
    ]


def judged(questions: list[QuestionResult], row: int) -> list[AnswerEvidence]:
    """The row's questions that were judged (right, wrong or unreadable), in the bank's order."""
    return [AnswerEvidence(q.id, q.outcome) for q in questions if q.row == row and q.outcome.judged]


def not_graded(exercises: list[Exercise], by_id: dict[str, ExerciseResult]) -> int:
    """How many of the row's exercises (and those measuring for it) this run left out (`--only`);
    0 when the row has none at all (see RowEvidence.no_exercise)."""
    return sum(e.id not in by_id for e in exercises)
