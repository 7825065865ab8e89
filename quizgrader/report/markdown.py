"""The checkpoint write-up as Markdown: the dated results table the course asks the learner to
keep (number, topic, rating, notes), the verdict, the weakest areas and a re-study plan derived
from the evidence, and Day 9's readiness checklist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..catalog import Day, load_day
from ..results import Answer, GradeReport, RubricRating, Status
from ..rubric import by_row, standing
from . import rubric_text


@dataclass
class RowNotes:
    """What the evidence says about one rubric row, counted."""

    rating: RubricRating
    standing: str | None
    exercises: list[tuple[str, Status, str]]  # (short id, status, "3/5 checks")
    right: list[str]  # question ids answered right
    wrong: list[tuple[str, str]]  # (question id, feedback)
    measured: list[str]  # figures other exercises measured for the row

    @property
    def score(self) -> float:
        """Share of this row's evidence that passes (1.0 when there is none yet)."""
        ok = sum(s is Status.PASS for _e, s, _c in self.exercises) + len(self.right)
        total = len(self.exercises) + len(self.right) + len(self.wrong)
        return ok / total if total else 1.0


def notes(day: Day, report: GradeReport) -> list[RowNotes]:
    out = []
    for r in report.rubric:
        exercises = [
            (e.id.split(".", 1)[1], e.status, f"{e.passed_checks}/{len(e.checks)} checks" if e.checks else "")
            for e in report.exercises
            if r.row in by_row(day, e.id)
        ]
        mine = [q for q in report.questions if q.row == r.row and q.outcome.judged]
        measured = rubric_text.measured(r.basis) if r.basis else []
        out.append(
            RowNotes(
                r,
                standing(r.rating, r.self_rating, day.scale),
                exercises,
                [q.id for q in mine if q.outcome is Answer.CORRECT],
                [(q.id, q.feedback) for q in mine if q.outcome is not Answer.CORRECT],
                measured,
            )
        )
    return out


def _cell(n: RowNotes) -> str:
    parts = []
    if n.exercises:
        passing = [e for e, s, _c in n.exercises if s is Status.PASS]
        failing = [
            f"{e} {s.label}" + (f" ({c})" if c else "") for e, s, c in n.exercises if s is not Status.PASS
        ]
        parts.append(
            f"{len(passing)}/{len(n.exercises)} exercises pass"
            + (": " + ", ".join(failing) if failing else "")
        )
    if n.right or n.wrong:
        parts.append(f"{len(n.right)}/{len(n.right) + len(n.wrong)} questions right")
    parts += [f"measured {m}" for m in n.measured]
    r = n.rating
    if r.self_rating and r.rating and r.self_rating != r.rating:
        parts.append(f"you said {r.self_rating}, the evidence says {r.rating}")
    elif r.self_rating and not r.rating:
        parts.append("your own rating; no evidence yet")
    return "; ".join(parts).replace("|", "\\|") or "no evidence yet"


def render(report: GradeReport, on: date | None = None, workspace_flag: str = "") -> str:
    """The checkpoint write-up. `workspace_flag` (e.g. " --workspace my-work") goes into every
    suggested command that needs the workspace."""
    day = load_day(report.day)
    on = on or date.today()
    rows = notes(day, report)
    best = day.scale[0]
    lines = [
        f"# Day {int(day.id.removeprefix('day'))} checkpoint results — {on.isoformat()}",
        "",
        (
            f"*{day.title}* Graded with quizgrader {report.version} ({report.profile} profile, seed "
            f"{report.seed}, {report.device}); a row's rating is the worse of the evidence's and your own."
        ),
        "",
    ]
    if report.verdict:
        lines += [f"**Verdict: {report.verdict.decision.replace('_', ' ')}.** {report.verdict.summary}", ""]
    lines += ["| # | Topic | Rating | Notes |", "|---|-------|--------|-------|"]
    for n in rows:
        lines.append(f"| {n.rating.row} | {n.rating.area} | {n.standing or '–'} | {_cell(n)} |")
    weak = sorted(
        (n for n in rows if n.standing not in (best, None)),
        key=lambda n: (-day.scale.index(n.standing), n.score, n.rating.row),
    )
    lines += ["", "## Weakest areas", ""]
    if weak:
        for n in weak:
            lines.append(f"1. **{n.rating.row}. {n.rating.area}** — {n.standing}: {_cell(n)}")
    else:
        lines.append("None: every rated row is at " + best + ".")
    lines += ["", "## Re-study plan", ""]
    if weak:
        lines.append(
            "For each row below, weakest first: re-read the day that taught it, redo one of its "
            "exercises, and answer its questions again tomorrow."
        )
        lines.append("")
        for n in weak:
            revisit = day.row(n.rating.row).revisit
            lines.append(f"- **Row {n.rating.row}**" + (f" (revisit {revisit})" if revisit else "") + ":")
            for e, s, _c in n.exercises:
                if s is not Status.PASS:
                    lines.append(f"  - fix `{e}` ({s.label}); `quiz hint {e} --level 2`")
            for qid, feedback in n.wrong:
                lines.append(f"  - `{qid}`: {feedback}")
            lines.append(f"  - tomorrow: `quiz answer {day.id} --row {n.rating.row} --all{workspace_flag}`")
    else:
        lines.append(
            "Nothing to re-study. Come back to the rows in a few days to keep them fresh "
            f"(`quiz progress{workspace_flag}`)."
        )
    unrated = [n for n in rows if n.standing is None]
    if unrated:
        lines += [
            "",
            "Not rated yet: "
            + ", ".join(f"{n.rating.row}. {n.rating.area}" for n in unrated)
            + f" (answer them with `quiz answer {day.id}{workspace_flag}`).",
        ]
    if report.verdict and report.verdict.checklist:
        lines += ["", "## Readiness criteria", ""]
        for c in report.verdict.checklist:
            box = {True: "[x]", False: "[ ]", None: "[ ]"}[c.met]
            lines.append(f"- {box} {c.text} (row {c.row}{', not rated yet' if c.met is None else ''})")
    return "\n".join(lines) + "\n"
