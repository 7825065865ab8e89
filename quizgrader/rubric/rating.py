"""Rating: each rubric row's rating decided from its gathered evidence, by small rules."""

from __future__ import annotations

from collections.abc import Callable

from ..catalog import Day
from ..results import ExerciseResult, QuestionResult, RowEvidence, RubricRating, Status
from .evidence import UNGRADED, gather

# Puts a row's evidence in words, a line each (quizgrader.report.rubric_text.evidence_lines).
EvidenceWriter = Callable[[RowEvidence], list[str]]


def rate(
    day: Day,
    results: list[ExerciseResult],
    questions: list[QuestionResult] | None = None,
    self_ratings: dict[int, str] | None = None,
    *,
    write: EvidenceWriter | None = None,
) -> list[RubricRating]:
    """Per row: best rating when every attempted exercise and every answered question passes,
    worst when none does, the middle one otherwise; no rating while nothing for the row has been
    attempted. The learner's own rating stands beside it, and whether the two agree. Each rating
    carries its evidence as data (`basis`), and in words when `write` is given."""
    return [rated(ev, day.scale, write) for ev in gather(day, results, questions, self_ratings)]


def rated(ev: RowEvidence, scale: tuple[str, ...], write: EvidenceWriter | None = None) -> RubricRating:
    rating = rating_of(outcomes(ev), scale)
    return RubricRating(
        ev.row,
        ev.area,
        rating,
        write(ev) if write else [],
        ev.self_rating,
        agrees(ev.self_rating, rating),
        basis=ev,
    )


def outcomes(ev: RowEvidence) -> list[bool]:
    """What counts toward the row's rating, each passed or not: its exercises that were attempted,
    the checks of other exercises that measure for it, its judged questions. What its own
    exercises measured is shown, not counted (the exercise counts)."""
    return (
        [e.status is Status.PASS for e in ev.exercises if e.status not in UNGRADED]
        + [f.status is Status.PASS for f in ev.figures if f.declared]
        + [a.right for a in ev.answers]
    )


def rating_of(outcomes: list[bool], scale: tuple[str, ...]) -> str | None:
    """The scale's best when everything passed, its worst when nothing did, the middle otherwise;
    None when nothing was attempted."""
    best, middle, worst = scale
    if not outcomes:
        return None
    if all(outcomes):
        return best
    return middle if any(outcomes) else worst


def agrees(self_rating: str | None, rating: str | None) -> bool | None:
    """Whether the learner's own rating is the evidence's; None when either is missing."""
    return None if self_rating is None or rating is None else self_rating == rating
