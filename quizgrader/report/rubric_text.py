"""The rubric in words: a row's evidence as the lines every report shows (the terminal's evidence
column, the JSON's "evidence"), and the verdict's sentence. The rubric decides from data; these
write it for the learner."""

from __future__ import annotations

from collections.abc import Callable

from ..catalog import Day
from ..results import ExerciseEvidence, FigureEvidence, RowEvidence
from ..rubric import Standings

NO_EXERCISE = "no exercise gives evidence for this row yet"


def evidence_lines(ev: RowEvidence) -> list[str]:
    """A line per graded exercise, then per figure measured for the row, then what this run could
    not say about it, then the questions right."""
    lines = [exercise_line(e) for e in ev.exercises] + [figure_line(f) for f in ev.figures]
    if ev.no_exercise:
        lines.append(NO_EXERCISE)
    elif ev.not_graded:
        lines.append(f"{ev.not_graded} exercise(s) not graded in this run")
    if ev.answers:
        lines.append(f"questions: {sum(a.right for a in ev.answers)}/{len(ev.answers)} right")
    return lines


def short(exercise_id: str) -> str:
    """ "attention.softmax" for "day16.attention.softmax"."""
    return exercise_id.split(".", 1)[1]


def exercise_line(e: ExerciseEvidence) -> str:
    """ "attention.softmax: pass (4/4 checks)"; no count for an exercise no check ran for."""
    return f"{short(e.exercise)}: {e.status.label}" + (f" ({e.passed}/{e.checks} checks)" if e.checks else "")


def figure_line(f: FigureEvidence) -> str:
    """ "lm.DecoderLM, measured: <summary>: pass", or the check's name when it has no figure."""
    what = f"measured: {f.summary}" if f.summary else f.check
    return f"{short(f.exercise)}, {what}: {f.status.label}"


def measured(ev: RowEvidence) -> list[str]:
    """The figures measured for the row, as the Markdown write-up's notes put them:
    "(pass) <summary>"."""
    return [f"({f.status.label}) {f.summary}" for f in ev.figures if f.summary]


# -- the verdict -------------------------------------------------------------------------------------


def rows(day: Day, numbers: list[int]) -> str:
    """ "6 Positional encoding (Day 13); 7 Training recipe": each row with the day to revisit."""
    return "; ".join(
        f"{n} {day.row(n).area}" + (f" ({day.row(n).revisit})" if day.row(n).revisit else "") for n in numbers
    )


def verdict_summary(day: Day, decision: str, s: Standings) -> str:
    """The verdict in one sentence, by the day's rule."""
    sentences = NONE_WORST if day.verdict.rule == "none_worst" else THRESHOLD
    return sentences[decision](day, s)


def _go_back(day: Day, s: Standings) -> str:
    return f"Go back before {day.verdict.next}: {len(s.weak)} row(s) need re-study: {rows(day, s.weak)}."


def _open(day: Day, s: Standings) -> str:
    return (
        f"No row needs re-study so far, but {len(s.unrated)} row(s) have no rating "
        f"yet: {rows(day, s.unrated)}. Answer their questions or rate yourself."
    )


def _move_on(day: Day, s: Standings) -> str:
    again = f" Try the shaky row(s) again tomorrow: {rows(day, s.shaky)}." if s.shaky else ""
    return f"Ready for {day.verdict.next}: no row needs re-study.{again}"


NONE_WORST: dict[str, Callable[[Day, Standings], str]] = {
    "go_back": _go_back,
    "incomplete": _open,
    "ready": _move_on,
}


def tally(day: Day, s: Standings) -> str:
    """ "5/8 rows ✅ Solid, 1 ❌ Weak"."""
    best, _middle, worst = day.scale
    return f"{s.solid}/{len(s.stand)} rows {best}, {len(s.weak)} {worst}"


def _extra_day(day: Day, s: Standings) -> str:
    rule = day.verdict
    return (
        f"Spend an extra day on review before {rule.next} ({tally(day, s)}; more than "
        f"{rule.max_worst} weak): {rows(day, s.weak + s.shaky)}."
    )


def _ready(day: Day, s: Standings) -> str:
    rule, review = day.verdict, s.weak + s.shaky
    again = f" Review these and try them again tomorrow: {rows(day, review)}." if review else ""
    return f"Ready for {rule.next} ({tally(day, s)}; {rule.min_best} needed).{again}"


def _undecided(day: Day, s: Standings) -> str:
    rule = day.verdict
    return (
        f"Not decided yet ({tally(day, s)}, {len(s.unrated)} without a rating; "
        f"{rule.min_best} {day.scale[0]} needed): rate or answer {rows(day, s.unrated)}."
    )


def _not_yet(day: Day, s: Standings) -> str:
    rule = day.verdict
    return (
        f"Not ready for {rule.next} yet ({tally(day, s)}; {rule.min_best} needed): review "
        f"{rows(day, s.weak + s.shaky)} and retry tomorrow."
    )


THRESHOLD: dict[str, Callable[[Day, Standings], str]] = {
    "extra_day": _extra_day,
    "ready": _ready,
    "incomplete": _undecided,
    "not_yet": _not_yet,
}
