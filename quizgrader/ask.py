"""`quiz answer`: the checkpoint questions asked one at a time in the terminal, each judged at
once, then a self-rating per rubric row. Reads from the console, so a test drives it with input."""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from .catalog import Day
from .questions import AnswerError, Bank, Question, canonical, judge
from .questions.answers import Answers
from .results import Answer, QuestionResult

STOP = ("q", "quit", "exit")


@dataclass
class Session:
    results: list[QuestionResult] = field(default_factory=list)  # the questions answered now
    given: dict[str, Any] = field(default_factory=dict)  # id -> the answer, as stored
    ratings: dict[int, str] = field(default_factory=dict)  # rows rated now
    stopped: bool = False  # the learner quit early
    interrupted: bool = False  # by Ctrl-C


def pick(bank: Bank, previous: Answers, rows: set[int] | None, everything: bool) -> list[Question]:
    """The checkable questions to ask: those of `rows` (all rows when None), and unless
    `everything`, only those not yet answered right in the answers file."""
    chosen = []
    for q in bank.questions:
        if not q.checkable or (rows and q.row not in rows):
            continue
        if not everything and q.id in previous.answers:
            try:
                if judge(q, previous.answers[q.id]).correct:
                    continue
            except AnswerError:
                pass
        chosen.append(q)
    return chosen


def show(console: Console, q: Question, i: int, n: int) -> None:
    console.rule(f"question {i}/{n} · row {q.row} · {q.kind}", align="left", style="dim")
    console.print(escape(q.prompt))
    if q.kind == "choice":
        for letter, c in zip(string.ascii_lowercase, q.shown_choices):
            console.print(f"  {letter}) {escape(c)}")
    elif q.kind == "ordering":
        for letter, item in zip(string.ascii_lowercase, q.shown_items):
            console.print(f"  {letter}) {escape(item)}")
        console.print("[dim]type the letters in order, e.g. 'b a c', or the items separated by commas[/]")
    elif q.kind == "expression":
        console.print(f"[dim]an expression in {', '.join(q.symbols)}, e.g. 4*d**2 + 4*d or 4d^2 + 4d[/]")


def ask_question(console: Console, q: Question) -> tuple[str, Any, QuestionResult | None]:
    """("answered" | "skipped" | "stopped", stored answer, result). An answer that cannot be read
    (or reads two ways, like 1,050) is explained and asked again; it is never judged wrong for its
    form."""
    while True:
        text = console.input("[bold]your answer[/] [dim](Enter: skip, q: stop)[/] > ").strip()
        if text.lower() in STOP:
            return "stopped", None, None
        if not text:
            return "skipped", None, None
        try:
            verdict = judge(q, text)
            value = canonical(q, text)
        except AnswerError as e:
            console.print(Text.assemble(("? ", "yellow"), str(e), " — try again"))
            continue
        except Exception as e:  # noqa: BLE001 - the last line: an answer never ends the session
            console.print(
                Text.assemble(
                    ("? ", "yellow"),
                    f"this answer could not be judged ({type(e).__name__}); write it more simply — try again",
                )
            )
            continue
        if verdict.correct:
            console.print(Text("✔ right", style="bold green"))
        else:
            console.print(Text.assemble(("✘ wrong: ", "bold red"), verdict.feedback))
        if q.explain:
            console.print(Text(q.explain, style="dim"))
        outcome = Answer.CORRECT if verdict.correct else Answer.WRONG
        return (
            "answered",
            value,
            QuestionResult(
                q.id,
                q.row,
                outcome,
                "" if verdict.correct else verdict.feedback,
                verdict.known_mistake,
                value,
            ),
        )


def ask_rating(
    console: Console, day: Day, bank: Bank, row: int, previous: str | None, tally: str
) -> str | None | bool:
    """The learner's own rating of a row: one of the day's scale, None to keep what it was, or
    False to stop."""
    area = day.row(row).area
    console.rule(f"row {row} · {area}", align="left", style="dim")
    if tally:
        console.print(f"this session: {tally}")
    for q in bank.questions:
        if q.row == row and not q.checkable:
            console.print(Text.assemble(("to rate yourself on: ", "bold"), q.prompt))
            for g in q.guide:
                console.print(f"  • {escape(g)}")
    options = "  ".join(f"{i}) {s}" for i, s in enumerate(day.scale, start=1))
    keep = f"keep {previous}" if previous else "skip"
    while True:
        text = console.input(f"[bold]your rating[/] {escape(options)} [dim](Enter: {keep}, q: stop)[/] > ")
        text = text.strip()
        if text.lower() in STOP:
            return False
        if not text:
            return None
        if text.isdigit() and 1 <= int(text) <= len(day.scale):
            return day.scale[int(text) - 1]
        if text in day.scale:
            return text
        console.print(f"[yellow]?[/] type 1 to {len(day.scale)}")


def run(
    console: Console,
    day: Day,
    bank: Bank,
    previous: Answers,
    questions: list[Question],
    rows: list[int],
    save: Callable[[dict[str, Any], dict[int, str]], None] | None = None,
) -> Session:
    """Ask `questions`, then a rating for each of `rows`, calling `save` with all the session's
    answers and ratings after each one, so that none already given is lost whatever ends the
    session. Ctrl-D or Ctrl-C ends the session like q; the caller saves what the session holds
    either way."""
    session = Session()
    failed: set[str] = set()

    def keep() -> None:
        if save is None:
            return
        try:
            save(session.given, session.ratings)
        except (ValueError, OSError) as e:  # the answers file cannot be written now: said once
            if str(e) not in failed:
                failed.add(str(e))
                console.print(
                    Text.assemble(
                        ("warning: ", "yellow"),
                        f"not saved yet ({e}); your answers are kept, and saved again at the end",
                    )
                )

    try:
        for i, q in enumerate(questions, start=1):
            show(console, q, i, len(questions))
            what, value, result = ask_question(console, q)
            if what == "stopped":
                session.stopped = True
                return session
            if result is not None:
                session.given[q.id] = value
                session.results.append(result)
                keep()
        for row in rows:
            mine = [r for r in session.results if r.row == row]
            tally = f"{sum(r.outcome is Answer.CORRECT for r in mine)}/{len(mine)} right" if mine else ""
            rating = ask_rating(console, day, bank, row, previous.ratings.get(row), tally)
            if rating is False:
                session.stopped = True
                return session
            if rating:
                session.ratings[row] = rating
                keep()
    except (EOFError, KeyboardInterrupt) as e:
        session.stopped, session.interrupted = True, isinstance(e, KeyboardInterrupt)
        console.print()
    return session
