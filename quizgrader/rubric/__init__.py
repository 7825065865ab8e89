"""Evidence -> rubric: each row's rating from the exercises that give evidence for it."""

from __future__ import annotations

from ..catalog import Day
from ..results import ExerciseResult, RubricRating, Status

UNGRADED = (Status.NOT_ATTEMPTED, Status.SKIPPED)


def by_row(day: Day, exercise_id: str) -> tuple[int, ...]:
    return next((e.rubric for e in day.exercises if e.id == exercise_id), ())


def rate(day: Day, results: list[ExerciseResult]) -> list[RubricRating]:
    """Per row: best rating when every attempted exercise passes, worst when none does, the
    middle one otherwise; no rating while nothing for the row has been attempted."""
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
        if not exercises and not measured:
            evidence.append("no exercise gives evidence for this row yet")
        elif missing := [e for e in exercises if e.id not in by_id]:
            evidence.append(f"{len(missing)} exercise(s) not graded in this run")
        if not attempted:
            rating = None
        elif all(r.status is Status.PASS for r in attempted):
            rating = best
        elif any(r.status is Status.PASS for r in attempted):
            rating = middle
        else:
            rating = worst
        ratings.append(RubricRating(row.number, row.area, rating, evidence))
    return ratings
