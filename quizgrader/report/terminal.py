"""The Rich report: exercises and their checks, failures in detail, the rubric, a summary."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..catalog import Day
from ..results import Answer, ExerciseResult, GradeReport, QuestionResult, Status
from . import neutral

STYLE = {
    Status.PASS: ("✔ pass", "green"),
    Status.FAIL: ("✘ fail", "red"),
    Status.ERROR: ("✘ error", "red"),
    Status.TIMEOUT: ("⧗ timeout", "red"),
    Status.NOT_ATTEMPTED: ("· not attempted", "dim"),
    Status.BLOCKED: ("⊘ blocked", "yellow"),
    Status.SKIPPED: ("– skipped", "dim"),
}
FAILING = (Status.FAIL, Status.ERROR, Status.TIMEOUT, Status.BLOCKED)  # shown in full


def status_text(status: Status) -> Text:
    label, style = STYLE[status]
    return Text(label, style=style)


class Fitted:
    """A table drawn for the width it is given: `build(width)` chooses between the wide, boxed form
    and a narrow one, so that an exercise id is never split or cut at any width."""

    def __init__(self, build: Callable[[int], RenderableType]) -> None:
        self.build = build

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.build(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.build(options.max_width))


def boxed_width(widths: Iterable[int]) -> int:
    """The width a boxed table needs for columns this wide: a border each side of every column and
    a space of padding inside each."""
    widths = list(widths)
    return sum(widths) + 3 * len(widths) + 1


def widest(texts: Iterable[str], at_least: int = 0) -> int:
    return max([at_least, *map(cell_len, texts)])


def longest_word(texts: Iterable[str], at_least: int = 0) -> int:
    return widest((w for t in texts for w in t.split()), at_least)


def id_words(texts: Iterable[str], ids: Iterable[str], at_least: int = 0) -> int:
    """The widest word of `texts` that holds an exercise id, such as "attention.softmax:": a column
    at least this wide never breaks one."""
    ids = tuple(ids)
    return widest((w for t in texts for w in t.split() if any(i in w for i in ids)), at_least)


def short(exercise_id: str) -> str:
    """ "attention.softmax" for "day16.attention.softmax"."""
    return exercise_id.split(".", 1)[1]


WHY_AT_LEAST = 20  # below this the reasons go on lines of their own


def exercise_table(report: GradeReport) -> RenderableType:
    return Fitted(lambda width: _exercise_table(report, width))


def _exercise_table(report: GradeReport, width: int) -> RenderableType:
    title = f"{report.day}: {report.title}"
    ids = [short(e.id) for e in report.exercises]
    checks = [f"{e.passed_checks}/{len(e.checks)}" if e.checks else "–" for e in report.exercises]
    scored = [points(e.score, e.points) for e in report.exercises]
    reasons = [neutral(e.reason) for e in report.exercises]
    id_w = widest(ids, len("exercise"))
    status_w = widest((STYLE[e.status][0] for e in report.exercises), len("status"))
    why_w = min(WHY_AT_LEAST, widest(reasons, len("why")))
    if width >= boxed_width([id_w, status_w, widest(checks, 6), widest(scored, 6), why_w]):
        table = Table(title=title, title_justify="left", expand=False)
        table.add_column("exercise", no_wrap=True, min_width=id_w)
        table.add_column("status", no_wrap=True)
        table.add_column("checks", justify="right", no_wrap=True)
        table.add_column("points", justify="right", no_wrap=True)
        table.add_column("why", overflow="fold", max_width=70)
        for e, name, c, p, why in zip(report.exercises, ids, checks, scored, reasons):
            table.add_row(name, status_text(e.status), c, p, escape(why))
        return table
    # Narrow: a line per exercise, its status first, and the reason on the lines below its id.
    lines = Table.grid(padding=(0, 2))
    lines.add_column(no_wrap=True)
    lines.add_column(overflow="fold")
    for e, name, c, p, why in zip(report.exercises, ids, checks, scored, reasons):
        counts = (f"{c} checks, " if e.checks else "") + f"{p} points"
        lines.add_row(status_text(e.status), Text(f"{name}  {counts}" + (f"\n{why}" if why else "")))
    return Group(Text(title, style="table.title"), lines)


def points(score: float, worth: float) -> str:
    """ "0.67/1": a score and what it could have been, as rounded for every report."""
    return f"{score:g}/{round(worth, 2):g}"


def _check_lines(e: ExerciseResult, indent: str = "") -> list[RenderableType]:
    parts: list[RenderableType] = []
    for c in e.checks:
        parts.append(Text.assemble(indent, status_text(c.status), " ", c.name))
        if c.status in (Status.FAIL, Status.ERROR, Status.TIMEOUT) and c.message:
            parts.append(
                Text(indent + "    " + neutral(c.message).replace("\n", "\n    " + indent), style="default")
            )
    return parts


def failure_panel(e: ExerciseResult, repro_file: str | None = None) -> RenderableType:
    """An exercise's failures in full; `repro_file`: where its smallest failing example was saved."""
    parts: list[RenderableType] = _check_lines(e)
    if (other := e.with_reference) is not None:
        names = ", ".join(d.split(".", 1)[1] for d in other.substituted)
        parts.append(
            Text.assemble(
                ("with the reference ", "bold"),
                (names, "bold"),
                (" in place of yours, this exercise on its own: ", "bold"),
                status_text(other.status),
            )
        )
        if other.status is Status.PASS:
            parts.append(Text(f"  all {len(other.checks)} checks pass: what is left to fix is in {names}"))
        else:
            parts += (
                _check_lines(other, indent="  ") if other.checks else [Text("  " + neutral(other.reason))]
            )
    if (picture := next((c.heatmap for c in e.checks if c.heatmap), None)) is not None:
        parts.append(heatmap(picture))
    if e.diagnosis:
        first = next((c.diagnosis for c in e.checks if c.diagnosis), None)
        if first:
            parts.append(Text.assemble(("diagnosis: ", "bold magenta"), first))
    repro = next((c.repro for c in e.checks if c.repro), None)
    if repro:
        parts.append(Text("smallest failing example (run it from your workspace):", style="bold"))
        parts.append(Text("    " + repro.replace("\n", "\n    "), style="cyan"))
        if repro_file:
            parts.append(Text.assemble(("run it again: ", "bold"), (f"python {neutral(repro_file)}", "cyan")))
    if e.output.strip():
        parts.append(Text("your code printed (last lines):", style="bold"))
        parts.append(Text("    " + neutral(e.output.strip()[-800:]).replace("\n", "\n    "), style="dim"))
    if e.hint:
        more = f"  (more: quiz hint {e.id.split('.', 1)[1]} --level {e.hint_next})" if e.hint_next else ""
        parts.append(Text.assemble(("hint ", "bold yellow"), e.hint, (more, "dim")))
    return Panel(
        Group(*parts),
        title=Text.assemble(e.id.split(".", 1)[1], " ", status_text(e.status)),
        title_align="left",
        border_style=STYLE[e.status][1],
    )


OFF = 0.01  # a weight this far from the expected one is marked


def _shade(value: float) -> str:
    """A grey from black (0) to white (1), with text that stays readable on it; NaN and ±inf, which
    are no weight at all, in red."""
    if not math.isfinite(value):
        return "white on red"
    level = 232 + round(min(max(value, 0.0), 1.0) * 23)
    return f"{'black' if level > 243 else 'white'} on color({level})"


def _weight(v: float | str) -> float:
    """A heatmap cell as a number: the strings "NaN", "inf" and "-inf" stand for those values."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _off(v: float, other: float) -> bool:
    """Shown as wrong: more than OFF away, or not the same NaN or infinity."""
    if math.isnan(v) or math.isnan(other):
        return not (math.isnan(v) and math.isnan(other))
    return v != other and not abs(v - other) <= OFF


def _written(v: float) -> str:
    return f"{v:.2f}" if math.isfinite(v) else "NaN" if math.isnan(v) else "inf" if v > 0 else "-inf"


def _grid(title: str, rows: list[list[float | str]], other: list[list[float | str]] | None) -> Table:
    table = Table(title=title, title_justify="left", show_header=True, box=None, padding=(0, 1))
    table.add_column("q\\k", style="dim", justify="right")
    for j in range(max(map(len, rows), default=0)):
        table.add_column(str(j), justify="right")
    for i, row in enumerate(rows):
        cells = []
        for j, v in enumerate(map(_weight, row)):
            off = other is not None and _off(v, _weight(other[i][j]))
            cells.append(
                Text(_written(v) + ("*" if off else " "), style=_shade(v) + (" bold" if off else ""))
            )
        table.add_row(str(i), *cells)
    return table


def heatmap(picture: dict) -> RenderableType:
    """Yours beside the expected, each weight written out and shaded; a * marks a weight more than
    OFF away from the expected one, so the picture does not rest on colour."""
    from rich.columns import Columns

    return Group(
        Text(picture["title"], style="bold"),
        Columns(
            [
                _grid("yours", picture["yours"], picture["expected"]),
                _grid("expected", picture["expected"], None),
            ],
            padding=(0, 4),
        ),
        Text(f"* more than {OFF:g} away from the expected weight", style="dim"),
    )


def rubric_table(report: GradeReport) -> RenderableType:
    return Fitted(lambda width: _rubric_table(report, width))


def _rubric_table(report: GradeReport, width: int) -> RenderableType:
    title = "Self-assessment rubric (from the evidence so far)"
    best, middle, worst = report.scale
    colour = {best: "green", middle: "yellow", worst: "red"}
    said = any(r.self_rating for r in report.rubric)
    ratings = [
        Text(r.rating, style=colour[r.rating]) if r.rating else Text("no evidence yet", style="dim")
        for r in report.rubric
    ]
    yours = [
        Text(
            (r.self_rating or "–") + {True: " ✓", False: " ≠"}.get(r.calibrated, ""),
            style="bold" if r.calibrated is False else "",
        )
        for r in report.rubric
    ]
    evidence = [e for r in report.rubric for e in r.evidence]
    number_w = widest((str(r.row) for r in report.rubric), 1)
    area_w = longest_word((r.area for r in report.rubric), 10)
    fixed = [number_w, widest((t.plain for t in ratings), len("rating"))]
    fixed += [widest((t.plain for t in yours), len("you said"))] if said else []
    evidence_w = id_words(evidence, (short(e.id) for e in report.exercises), 20)
    room = width - boxed_width([*fixed, 0, 0])  # for the area and the evidence together
    if room >= area_w + evidence_w:
        table = Table(title=title, title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("area", max_width=room - evidence_w)
        table.add_column("rating", no_wrap=True)
        if said:
            table.add_column("you said", no_wrap=True)
        table.add_column("evidence", overflow="fold", min_width=evidence_w, max_width=max(60, evidence_w))
        for r, rating, mine in zip(report.rubric, ratings, yours):
            table.add_row(
                str(r.row), r.area, rating, *([mine] if said else []), escape("\n".join(r.evidence))
            )
        return table
    # Narrow: a row's area and rating on one line, its evidence an item a line below.
    rows = Table.grid(padding=(0, 1))
    rows.add_column(justify="right")
    rows.add_column(overflow="fold")
    for r, rating, mine in zip(report.rubric, ratings, yours):
        head = Text.assemble(r.area, "  ", rating, *(["  (you said ", mine, ")"] if r.self_rating else []))
        evidence = Padding(Text("\n".join(r.evidence)), (0, 0, 0, 2), expand=False)
        rows.add_row(str(r.row), Group(head, evidence))
    return Group(Text(title, style="table.title"), rows)


def rated_rows(report: GradeReport) -> set[int]:
    """The rubric rows the learner gave a rating of their own."""
    return {r.row for r in report.rubric if r.self_rating}


def answered(questions: list[QuestionResult], rated: set[int]) -> str:
    """What was judged, and no more: "14 of 14 answered are right; 58 questions unanswered". A
    free-form question counts as self-rated only when its row was given a rating."""
    counts = Counter(q.outcome for q in questions)
    judged = sum(n for k, n in counts.items() if k.judged)
    parts = [f"{counts[Answer.CORRECT]} of {judged} answered {'is' if judged == 1 else 'are'} right"]
    if counts[Answer.WRONG]:
        parts[0] += f", {counts[Answer.WRONG]} wrong"
    if counts[Answer.UNREADABLE]:
        parts[0] += f", {counts[Answer.UNREADABLE]} unreadable"
    if counts[Answer.UNANSWERED]:
        n = counts[Answer.UNANSWERED]
        parts.append(f"{n} question{'s' if n != 1 else ''} unanswered")
    free = [q for q in questions if q.outcome is Answer.SELF_RATED]
    if by_you := sum(q.row in rated for q in free):
        parts.append(f"{by_you} free-form self-rated")
    if not_yet := len(free) - by_you:
        parts.append(f"{not_yet} free-form not rated yet")
    return "; ".join(parts)


def questions_panel(report: GradeReport) -> RenderableType | None:
    """The checkpoint answers: counts, and each wrong or unreadable answer with its feedback."""
    return answers_panel(report.answers_file, report.answers_error, report.questions, rated_rows(report))


def answers_panel(
    file: str | None,
    error: str | None,
    questions: list[QuestionResult],
    rated: set[int] | frozenset[int] = frozenset(),
) -> RenderableType | None:
    """Why the file is not used, or the counts and each wrong or unreadable answer with its feedback:
    wrapped to the panel's width even in a CI log, where lines are otherwise not folded (and a
    panel's would be cut)."""
    if error:
        return Panel(
            Text(neutral(error), no_wrap=False, overflow="fold"),
            title="checkpoint answers: not used",
            border_style="red",
            title_align="left",
        )
    if not questions:
        return None
    parts: list[RenderableType] = [Text(answered(questions, set(rated)))]
    bad = [q for q in questions if q.outcome in (Answer.WRONG, Answer.UNREADABLE)]
    for q in bad:
        label = ("✘ wrong", "red") if q.outcome is Answer.WRONG else ("? unreadable", "yellow")
        parts.append(
            Text.assemble(
                label, f" {q.id} (row {q.row}): ", neutral(q.feedback), no_wrap=False, overflow="fold"
            )
        )
    return Panel(
        Group(*parts),
        title=f"checkpoint answers ({file})",
        title_align="left",
        border_style="red" if bad else "green",
    )


DECISION = {
    "ready": ("ready", "green"),
    "go_back": ("go back", "red"),
    "extra_day": ("extra day of review", "red"),
    "not_yet": ("not ready yet", "yellow"),
    "incomplete": ("not decided yet", "yellow"),
}


def verdict_panel(report: GradeReport) -> RenderableType | None:
    """The day's decision, and the readiness checklist where the day has one."""
    v = report.verdict
    if v is None:
        return None
    label, colour = DECISION[v.decision]
    parts: list[RenderableType] = [Text(v.summary)]
    if v.checklist:
        parts.append(Text("readiness criteria:", style="bold"))
        for c in v.checklist:
            box = {True: ("[x]", "green"), False: ("[ ]", "red"), None: ("[?]", "dim")}[c.met]
            parts.append(Text.assemble("  ", box, f" {c.text} (row {c.row})"))
    return Panel(Group(*parts), title=f"verdict: {label}", title_align="left", border_style=colour)


def summary(report: GradeReport) -> Text:
    counts = report.counts()
    parts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items())
    answers = answered(report.questions, rated_rows(report)) if report.questions else ""
    if not report.passed:
        verdict = "not everything passes yet"
    elif report.exercises:
        verdict = "all graded exercises pass" + (f"; {answers}" if answers else "")
    else:
        verdict = answers
    graded = (
        f"{len(report.exercises)} exercises: {parts}; {points(report.score, report.max_score)} points. "
        if report.exercises
        else "answers only. "
    )
    return Text.assemble(
        (f"{report.day}: ", "bold"),
        graded,
        (verdict, "bold green" if report.passed else "bold red"),
        (f"  [{report.profile} profile, seed {report.seed}, {report.device}, {report.seconds:.1f} s]", "dim"),
        *(
            [(f"\n  not enforced on this machine: {'; '.join(missing)}", "dim")]
            if (missing := report.sandbox.get("missing"))
            else []
        ),
    )


def render(report: GradeReport, repro_files: dict[str, str] | None = None) -> Group:
    """The whole report; `repro_files`: exercise id -> where its smallest failing example was saved."""
    files = repro_files or {}
    parts: list[RenderableType] = [exercise_table(report)] if report.exercises else []
    parts += [failure_panel(e, files.get(e.id)) for e in report.exercises if e.status in FAILING]
    if (answers := questions_panel(report)) is not None:
        parts.append(answers)
    parts.append(rubric_table(report))
    if (decision := verdict_panel(report)) is not None:
        parts.append(decision)
    parts.append(summary(report))
    return Group(*parts)


def watch_round(report: GradeReport, stale: list[str]) -> Group:
    """What one save changed: a line per regraded exercise, the failures in full, and the
    exercises whose last result may be out of date because they call what changed."""
    parts: list[RenderableType] = []
    for e in report.exercises:
        checks = f"  {e.passed_checks}/{len(e.checks)} checks" if e.checks else ""
        parts.append(
            Text.assemble(
                status_text(e.status),
                "  ",
                (e.id.split(".", 1)[1], "bold"),
                checks,
                (f"  {e.seconds:.2f} s", "dim"),
                *([f"  {neutral(e.reason)}"] if e.status is not Status.PASS and not e.checks else []),
            )
        )
    parts += [failure_panel(e) for e in report.exercises if e.status in FAILING]
    if stale:
        parts.append(
            Text(
                "may be out of date, as they call what changed: "
                + ", ".join(s.split(".", 1)[1] for s in stale),
                style="dim",
            )
        )
    return Group(*parts)


def watching(day: Day, totals: dict[Status, int], workspace: object) -> Text:
    counts = ", ".join(f"{n} {s.label}" for s, n in totals.items())
    return Text.assemble(
        (f"{day.id}: ", "bold"), counts, (f"  · watching {workspace} for saves (Ctrl-C to stop)", "dim")
    )


def rubric_only(day: Day) -> RenderableType:
    return Fitted(lambda width: _rubric_only(day, width))


def _rubric_only(day: Day, width: int) -> RenderableType:
    title = f"{day.id} rubric: {day.title}"
    giving = []
    for row in day.rubric:
        ex = [e.short for e in day.exercises if row.number in e.rubric]
        ex += [f"{e.short} (measured)" for e in day.exercises if row.number in e.measures]
        giving.append(", ".join(ex) or "–")
    number_w = widest((str(row.number) for row in day.rubric), 1)
    area_w = longest_word((row.area for row in day.rubric), 10)
    evidence_w = id_words(giving, (e.short for e in day.exercises), 10)
    room = width - boxed_width([number_w, *map(cell_len, day.scale), 0, 0])
    if room >= area_w + evidence_w:
        table = Table(title=title, title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("area", max_width=room - evidence_w)
        for s in day.scale:
            table.add_column(s, justify="center", no_wrap=True)
        table.add_column("exercises giving evidence", overflow="fold", min_width=evidence_w)
        for row, ex in zip(day.rubric, giving):
            table.add_row(str(row.number), row.area, *([""] * len(day.scale)), ex)
        return table
    # Narrow: each row's area, and the exercises giving evidence for it indented below.
    rows = Table.grid(padding=(0, 1))
    rows.add_column(justify="right")
    rows.add_column(overflow="fold")
    for row, ex in zip(day.rubric, giving):
        rows.add_row(
            str(row.number),
            Group(
                Text(row.area), Padding(Text(f"exercises giving evidence: {ex}"), (0, 0, 0, 2), expand=False)
            ),
        )
    return Group(Text(title, style="table.title"), Text("rate each row: " + " · ".join(day.scale)), rows)


def exercise_list(day: Day) -> RenderableType:
    """`quiz list`: a day's exercises, their titles, rubric rows and what each may call."""
    return Fitted(lambda width: _exercise_list(day, width))


def _exercise_list(day: Day, width: int) -> RenderableType:
    title = f"{day.id}: {day.title}"
    rows = [
        (e.id, e.title, ", ".join(map(str, e.rubric)), ", ".join(map(short, e.depends_on)) or "–")
        for e in day.exercises
    ] or [("–", "no exercises yet", "", "")]
    id_w = widest((r[0] for r in rows), len("id"))
    title_w = min(longest_word(r[1] for r in rows), 12)
    rubric_w = widest((r[2] for r in rows), len("rubric rows"))
    depends_w = id_words((r[3] for r in rows), (e.short for e in day.exercises), len("depends on"))
    room = width - boxed_width([id_w, rubric_w, 0, 0])  # for the title and what it depends on
    if room >= title_w + depends_w:
        table = Table(title=title, title_justify="left")
        table.add_column("id", no_wrap=True, min_width=id_w)
        table.add_column("title", overflow="fold", max_width=room - depends_w)
        table.add_column("rubric rows", no_wrap=True)
        table.add_column("depends on", overflow="fold", min_width=depends_w)
        for row in rows:
            table.add_row(*row)
        return table
    # Narrow: each id on a line of its own, the rest indented below it.
    parts: list[RenderableType] = [Text(title, style="table.title")]
    for exercise_id, name, rubric, depends in rows:
        about = name + (f"\nrubric rows: {rubric}; depends on: {depends}" if rubric else "")
        parts += [Text(exercise_id), Padding(Text(about, overflow="fold"), (0, 0, 0, 4), expand=False)]
    return Group(*parts)


def progress_line(n: int, total: int, result: ExerciseResult) -> str:
    """ "[3/17] day16.attention.softmax  pass  (4/4 checks, 1.2 s)": one exercise just graded."""
    checks = f"{result.passed_checks}/{len(result.checks)} checks, " if result.checks else ""
    return f"[{n}/{total}] {result.id}  {result.status.label}  ({checks}{result.seconds:.1f} s)"
