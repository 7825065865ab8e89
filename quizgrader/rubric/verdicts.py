"""The verdict: what the day's rule decides from where each rubric row stands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..catalog import Day, VerdictRule
from ..results import Criterion, RubricRating, Verdict


def standing(rating: str | None, self_rating: str | None, scale: tuple[str, ...]) -> str | None:
    """Where a row stands for a verdict: the worse of the evidence's rating and the learner's own
    (a row the learner doubts is not settled by passing code, nor one the evidence contradicts by
    feeling sure); whichever exists when only one does."""
    known = [r for r in (rating, self_rating) if r is not None]
    return max(known, key=scale.index) if known else None


@dataclass(frozen=True)
class Standings:
    """Where each row stands (see `standing`), and the rows sorted by it."""

    stand: dict[int, str | None]  # row -> its standing
    weak: list[int]  # at the scale's worst
    shaky: list[int]  # in between
    unrated: list[int]  # no rating yet

    @property
    def solid(self) -> int:
        """How many rows stand at the scale's best."""
        return len(self.stand) - len(self.weak) - len(self.shaky) - len(self.unrated)


# Puts a verdict in one sentence (quizgrader.report.rubric_text.verdict_summary).
VerdictWriter = Callable[[Day, str, Standings], str]


def standings(day: Day, ratings: list[RubricRating]) -> Standings:
    best, _middle, worst = day.scale
    stand = {r.row: standing(r.rating, r.self_rating, day.scale) for r in ratings}
    return Standings(
        stand,
        weak=[n for n, s in stand.items() if s == worst],
        shaky=[n for n, s in stand.items() if s not in (best, worst, None)],
        unrated=[n for n, s in stand.items() if s is None],
    )


def verdict(day: Day, ratings: list[RubricRating], *, write: VerdictWriter | None = None) -> Verdict:
    """The decision the day's rule makes of where each row stands, the rows to revisit, and the
    readiness checklist; in one sentence when `write` is given."""
    stand = standings(day, ratings)
    decision, rows = decide(day.verdict, stand)
    return Verdict(decision, write(day, decision, stand) if write else "", rows, checklist(day, stand))


def decide(rule: VerdictRule, s: Standings) -> tuple[str, list[int]]:
    """The decision (ready | go_back | extra_day | not_yet | incomplete) and the rows it names,
    weakest first."""
    return none_worst(s) if rule.rule == "none_worst" else threshold(rule, s)


def none_worst(s: Standings) -> tuple[str, list[int]]:
    """Any row at the worst sends the learner back; else any unrated row leaves it open."""
    if s.weak:
        return "go_back", s.weak + s.shaky
    if s.unrated:
        return "incomplete", s.unrated
    return "ready", s.shaky


def threshold(rule: VerdictRule, s: Standings) -> tuple[str, list[int]]:
    """More than `max_worst` rows at the worst: an extra day; at least `min_best` at the best:
    ready; not decided while the unrated rows could still make it."""
    if len(s.weak) > rule.max_worst:
        return "extra_day", s.weak + s.shaky
    if s.solid >= rule.min_best:
        return "ready", s.weak + s.shaky
    if s.solid + len(s.unrated) >= rule.min_best:
        return "incomplete", s.unrated
    return "not_yet", s.weak + s.shaky


def checklist(day: Day, s: Standings) -> list[Criterion]:
    """The day's readiness criteria, each met when its row stands at the best (None: unrated)."""
    met = {n: None if at is None else at == day.scale[0] for n, at in s.stand.items()}
    return [Criterion(row.number, row.readiness, met[row.number]) for row in day.rubric if row.readiness]
