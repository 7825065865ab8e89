"""Evidence -> rubric: each row's rating from the exercises that give evidence for it."""

from __future__ import annotations

from ..catalog import Day
from ..results import Answer, Criterion, ExerciseResult, QuestionResult, RubricRating, Status, Verdict

UNGRADED = (Status.NOT_ATTEMPTED, Status.SKIPPED)


def by_row(day: Day, exercise_id: str) -> tuple[int, ...]:
    return next((e.rubric for e in day.exercises if e.id == exercise_id), ())


def rate(
    day: Day,
    results: list[ExerciseResult],
    questions: list[QuestionResult] | None = None,
    self_ratings: dict[int, str] | None = None,
) -> list[RubricRating]:
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
        evidence = [
            f"{r.id.split('.', 1)[1]}: {r.status.label}"
            + (f" ({r.passed_checks}/{len(r.checks)} checks)" if r.checks else "")
            for r in graded
        ]
        # What an exercise's own checks measured for its row (a check measuring for other rows
        # declares them, and shows there).
        evidence += [
            f"{r.id.split('.', 1)[1]}, measured: {c.figures['summary']}: {c.status.label}"
            for r in graded
            for c in r.checks
            if c.figures.get("summary") and not c.rows
        ]
        # Checks of other exercises that measure something this row is about (e.g. the trained
        # model without positions, for the positional-encoding row).
        measured = [
            (r, c)
            for r in results
            for c in r.checks
            if row.number in c.rows and c.status not in UNGRADED and row.number not in by_row(day, r.id)
        ]
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
        answered = [q for q in questions if q.row == row.number and q.outcome.judged]
        if answered:
            right = sum(q.outcome is Answer.CORRECT for q in answered)
            evidence.append(f"questions: {right}/{len(answered)} right")
            outcomes += [q.outcome is Answer.CORRECT for q in answered]
        if not outcomes:
            rating = None
        elif all(outcomes):
            rating = best
        elif any(outcomes):
            rating = middle
        else:
            rating = worst
        mine = self_ratings.get(row.number)
        ratings.append(
            RubricRating(
                row.number,
                row.area,
                rating,
                evidence,
                mine,
                None if mine is None or rating is None else mine == rating,
            )
        )
    return ratings


def standing(rating: str | None, self_rating: str | None, scale: tuple[str, ...]) -> str | None:
    """Where a row stands for a verdict: the worse of the evidence's rating and the learner's own
    (a row the learner doubts is not settled by passing code, nor one the evidence contradicts by
    feeling sure); whichever exists when only one does."""
    known = [r for r in (rating, self_rating) if r is not None]
    return max(known, key=scale.index) if known else None


def verdict(day: Day, ratings: list[RubricRating]) -> Verdict:
    """The decision the day's rule makes of where each row stands (see `standing`)."""
    best, _middle, worst = day.scale
    rule = day.verdict
    stand = {r.row: standing(r.rating, r.self_rating, day.scale) for r in ratings}
    unrated = [n for n, s in stand.items() if s is None]
    weak = [n for n, s in stand.items() if s == worst]
    shaky = [n for n, s in stand.items() if s not in (best, worst, None)]
    solid = len(stand) - len(unrated) - len(weak) - len(shaky)
    checklist = [
        Criterion(row.number, row.readiness, None if stand[row.number] is None else stand[row.number] == best)
        for row in day.rubric
        if row.readiness
    ]

    def rows(numbers: list[int]) -> str:
        return "; ".join(
            f"{n} {day.row(n).area}" + (f" ({day.row(n).revisit})" if day.row(n).revisit else "")
            for n in numbers
        )

    if rule.rule == "none_worst":
        if weak:
            return Verdict(
                "go_back",
                f"Go back before {rule.next}: {len(weak)} row(s) need re-study: {rows(weak)}.",
                weak + shaky,
                checklist,
            )
        if unrated:
            return Verdict(
                "incomplete",
                f"No row needs re-study so far, but {len(unrated)} row(s) have no rating "
                f"yet: {rows(unrated)}. Answer their questions or rate yourself.",
                unrated,
                checklist,
            )
        again = f" Try the shaky row(s) again tomorrow: {rows(shaky)}." if shaky else ""
        return Verdict("ready", f"Ready for {rule.next}: no row needs re-study.{again}", shaky, checklist)
    # threshold
    tally = f"{solid}/{len(stand)} rows {best}, {len(weak)} {worst}"
    if len(weak) > rule.max_worst:
        return Verdict(
            "extra_day",
            f"Spend an extra day on review before {rule.next} ({tally}; more than "
            f"{rule.max_worst} weak): {rows(weak + shaky)}.",
            weak + shaky,
            checklist,
        )
    if solid >= rule.min_best:
        again = f" Review these and try them again tomorrow: {rows(weak + shaky)}." if weak or shaky else ""
        return Verdict(
            "ready",
            f"Ready for {rule.next} ({tally}; {rule.min_best} needed).{again}",
            weak + shaky,
            checklist,
        )
    if solid + len(unrated) >= rule.min_best:
        return Verdict(
            "incomplete",
            f"Not decided yet ({tally}, {len(unrated)} without a rating; "
            f"{rule.min_best} {best} needed): rate or answer {rows(unrated)}.",
            unrated,
            checklist,
        )
    return Verdict(
        "not_yet",
        f"Not ready for {rule.next} yet ({tally}; {rule.min_best} needed): review "
        f"{rows(weak + shaky)} and retry tomorrow.",
        weak + shaky,
        checklist,
    )
