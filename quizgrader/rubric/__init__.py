"""Evidence -> rubric: each row's rating from the exercises that give evidence for it."""

from __future__ import annotations

from ..catalog import Day
from ..results import ExerciseResult, QuestionResult, RubricRating, Status

UNGRADED = (Status.NOT_ATTEMPTED, Status.SKIPPED)


def by_row(day: Day, exercise_id: str) -> tuple[int, ...]:
    return next((e.rubric for e in day.exercises if e.id == exercise_id), ())


def rate(day: Day, results: list[ExerciseResult], questions: list[QuestionResult] | None = None,
         self_ratings: dict[int, str] | None = None) -> list[RubricRating]:
    """Per row: best rating when every attempted exercise and every answered question passes,
    worst when none does, the middle one otherwise; no rating while nothing for the row has been
    attempted. The learner's own rating stands beside it, and whether the two agree."""
    questions, self_ratings = questions or [], self_ratings or {}
    best, middle, worst = day.scale
    by_id = {r.id: r for r in results}
    ratings = []
    for row in day.rubric:
        exercises = [e for e in day.exercises if row.number in e.rubric]
        graded = [by_id[e.id] for e in exercises if e.id in by_id]
        attempted = [r for r in graded if r.status not in UNGRADED]
        evidence = [f"{r.id.split('.', 1)[1]}: {r.status.label}"
                    + (f" ({r.passed_checks}/{len(r.checks)} checks)" if r.checks else "") for r in graded]
        # Checks of other exercises that measure something this row is about (e.g. the trained
        # model without positions, for the positional-encoding row).
        measured = [(r, c) for r in results for c in r.checks
                    if row.number in c.rows and c.status not in UNGRADED and row.number not in by_row(day, r.id)]
        for r, c in measured:
            summary = c.figures.get("summary") if c.figures else None
            what = f"measured: {summary}" if summary else c.name
            evidence.append(f"{r.id.split('.', 1)[1]}, {what}: {c.status.label}")
        attempted += [c for _r, c in measured]
        measuring = [e for e in day.exercises if row.number in e.measures]
        if not exercises and not measuring:
            evidence.append("no exercise gives evidence for this row yet")
        elif missing := [e for e in exercises + measuring if e.id not in by_id]:
            evidence.append(f"{len(missing)} exercise(s) not graded in this run")
        outcomes = [r.status is Status.PASS for r in attempted]
        answered = [q for q in questions if q.row == row.number and q.outcome in ("correct", "wrong", "unreadable")]
        if answered:
            right = sum(q.outcome == "correct" for q in answered)
            evidence.append(f"questions: {right}/{len(answered)} right")
            outcomes += [q.outcome == "correct" for q in answered]
        if not outcomes:
            rating = None
        elif all(outcomes):
            rating = best
        elif any(outcomes):
            rating = middle
        else:
            rating = worst
        mine = self_ratings.get(row.number)
        ratings.append(RubricRating(row.number, row.area, rating, evidence, mine,
                                    None if mine is None or rating is None else mine == rating))
    return ratings
