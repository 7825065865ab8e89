"""Checkpoint questions: the bank (data, one TOML file per day) and the judging of an answer.

Kinds: a number (within a tolerance), an expression (equal to the answer for sympy, over the
question's declared symbols), a choice, an ordering, and a self-rated free-form item. Each
checkable question lists common wrong answers with feedback that says what the learner computed.
"""

from __future__ import annotations

import cmath
import math
import random
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .. import daypacks
from .reading import (
    MAX_ITEMS,
    AmbiguousNumber,
    AnswerError,
    bounded,
    expression,
    kind_of,
    number,
    plain_number,
    shown,
    text_of,
)

KINDS = ("number", "expression", "choice", "ordering", "self")


class BankError(ValueError):
    """A question bank that does not follow the schema."""


@dataclass(frozen=True)
class Wrong:
    answer: Any
    feedback: str


@dataclass(frozen=True)
class Question:
    id: str
    row: int
    kind: str
    prompt: str
    answer: Any = None
    tolerance: float = 0.0
    symbols: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    guide: tuple[str, ...] = ()
    explain: str = ""
    wrong: tuple[Wrong, ...] = ()

    @property
    def checkable(self) -> bool:
        return self.kind != "self"

    @property
    def shown_choices(self) -> tuple[str, ...]:
        """The choices in the order a learner sees them, and that numbers and letters refer to:
        shuffled, the same way every time, so the bank's order gives nothing away."""
        return _shuffled(self.id, self.choices)

    @property
    def shown_items(self) -> tuple[str, ...]:
        """The items of an ordering as a learner sees them: never already in the right order."""
        return _shuffled(self.id, self.items, avoid=self.items)


def _shuffled(key: str, seq: tuple[str, ...], avoid: tuple[str, ...] | None = None) -> tuple[str, ...]:
    order = list(seq)
    random.Random(key).shuffle(order)  # seeded by a string: the same order in every process
    if avoid is not None and tuple(order) == avoid and len(order) > 1:
        order = order[1:] + order[:1]
    return tuple(order)


@dataclass(frozen=True)
class Verdict:
    correct: bool | None  # None: self-rated, nothing to check
    feedback: str = ""  # why it is wrong (a catalogued mistake, or what differs)
    known_mistake: bool = False  # the answer is one of the question's catalogued wrong answers


@dataclass(frozen=True)
class Bank:
    day: str
    questions: tuple[Question, ...] = field(default=())

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)


@cache
def load_bank(day: str) -> Bank:
    """The bank of a day ("day16", "day09"); an empty bank when the day has none."""
    text = daypacks.get(day).text("questions.toml")
    if text is None:
        return Bank(day)
    return parse_bank(day, tomllib.loads(text))


def parse_bank(day: str, data: dict) -> Bank:
    questions, seen = [], set()
    for raw in data.get("question", []):
        qid = raw.get("id", "?")
        try:
            q = _question(raw)
        except (KeyError, TypeError, ValueError) as e:
            raise BankError(f"{day} question {qid!r}: {e}") from None
        if q.id in seen:
            raise BankError(f"{day}: question id {q.id!r} is used twice")
        seen.add(q.id)
        questions.append(q)
    return Bank(day, tuple(questions))


def _question(raw: dict) -> Question:
    kind = raw["kind"]
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    wrong = tuple(Wrong(w["answer"], w["feedback"]) for w in raw.get("wrong", []))
    q = Question(
        id=raw["id"],
        row=int(raw["row"]),
        kind=kind,
        prompt=raw["prompt"],
        answer=raw.get("answer"),
        tolerance=float(raw.get("tolerance", 0.0)),
        symbols=tuple(raw.get("symbols", ())),
        choices=tuple(raw.get("choices", ())),
        items=tuple(raw.get("items", ())),
        guide=tuple(raw.get("guide", ())),
        explain=raw.get("explain", ""),
        wrong=wrong,
    )
    if kind == "self":
        if not q.guide:
            raise ValueError("a self-rated question needs a guide")
        return q
    if kind == "ordering":
        if len(q.items) < 2:
            raise ValueError("an ordering needs at least two items")
    elif q.answer is None:
        raise ValueError("no answer")
    if kind == "choice" and q.answer not in q.choices:
        raise ValueError(f"answer {q.answer!r} is not one of the choices")
    if kind == "expression":
        expression(str(q.answer), q.symbols)  # the answer itself must parse
    for w in wrong:  # and a wrong answer must not be judged right
        if judge(q, w.answer, use_catalogue=False).correct:
            raise ValueError(f"wrong answer {w.answer!r} is judged right")
    return q


def equivalent(a, b, symbols: tuple[str, ...], trials: int = 6) -> bool:
    """sympy says a - b simplifies to 0, or (where simplify gives up, e.g. with Heaviside) the two
    agree at random points: at positive ones (sizes, counts), and at points of mixed signs
    wherever both are real (a Heaviside or a Max only differs on one side of 0)."""
    import sympy

    diff = sympy.simplify(a - b)
    if diff == 0:
        return True
    free = sorted(a.free_symbols | b.free_symbols, key=str)
    if not free:
        try:
            return bool(abs(complex(diff.evalf())) < 1e-9)
        except AnswerError:  # out of time: not a reason to call the answer wrong
            raise
        except (TypeError, ValueError, OverflowError):
            return False
    rng = random.Random(0)
    for i in range(2 * trials):
        signs = [1] * len(free) if i < trials else [rng.choice((1, -1)) for _ in free]
        point = {s: sympy.Float(rng.uniform(0.3, 3.0) * sign) for s, sign in zip(free, signs)}
        try:
            a_v, b_v = complex(a.subs(point).evalf()), complex(b.subs(point).evalf())
        except AnswerError:
            raise
        except (TypeError, ValueError, OverflowError):
            return False
        if i >= trials and (a_v.imag or b_v.imag):
            continue
        if not (cmath.isfinite(a_v) and cmath.isfinite(b_v)) or abs(a_v - b_v) > 1e-9 * max(1.0, abs(b_v)):
            return False
    return True


def _position(token: Any, on_screen: tuple[str, ...]) -> str | None:
    """A number (1, 2, ...) or a letter (a, b, ...) standing for one of `on_screen`, else None."""
    if isinstance(token, bool):
        return None
    text = str(token).strip().lower()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= len(on_screen):
        return on_screen[int(text) - 1]
    if len(text) == 1 and "a" <= text <= "z" and ord(text) - ord("a") < len(on_screen):
        return on_screen[ord(text) - ord("a")]
    return None


def _choice(q: Question, given: Any) -> str:
    text = str(given).strip()
    for c in q.choices:
        if c.strip().lower() == text.lower():
            return c
    if (picked := _position(given, q.shown_choices)) is not None:
        return picked
    raise AnswerError(
        f"{shown(text)} is not one of the choices ({', '.join(q.shown_choices)}); give the choice, "
        "its number (1, 2, ...) or its letter (a, b, ...) as `quiz show questions` lists them"
    )


def _ordering(q: Question, given: Any) -> list[str]:
    if isinstance(given, list):
        parts = given
    else:
        parts = [p for p in re.split(r"[,;\n]|->|→", str(given)) if p.strip()]
        if len(parts) == 1 and all(_position(t, q.shown_items) for t in parts[0].split()):
            parts = parts[0].split()  # "c a b d": letters (or numbers) in a row
    out = []
    for p in parts:
        match = [i for i in q.items if i.strip().lower() == str(p).strip().lower()]
        if not match and (picked := _position(p, q.shown_items)) is not None:
            match = [picked]
        if not match:
            raise AnswerError(f"{shown(str(p).strip())} is not one of the items ({'; '.join(q.shown_items)})")
        out.append(match[0])
    if sorted(out) != sorted(q.items):
        raise AnswerError(f"put every item in the order once: {len(q.items)} items, you gave {len(out)}")
    return out


@bounded
def canonical(q: Question, given: Any) -> Any:
    """An answer as the answers file keeps it: a number as a number where it is one (`1 050 624`
    as 1050624, `0,665` as 0.665), a choice or an ordering in its own words (letters and positions
    only mean something on screen). Raises AnswerError when the answer cannot be read."""
    _acceptable(q, given)
    if q.kind == "number":
        number(given)
        if not isinstance(given, str):
            return given
        plain = plain_number(given)
        return plain if plain is not None and abs(plain) < 2**63 else text_of(given)
    if q.kind == "choice":
        return _choice(q, given)
    if q.kind == "ordering":
        return _ordering(q, given)
    return str(given).strip()


# -- judging ---------------------------------------------------------------------------------------
HOW = {
    "number": "give one number, e.g. 0.665 or 1050624",
    "expression": 'give one expression as text, e.g. "4*d**2 + 4*d"',
    "choice": "give the choice's text, or its number or letter as `quiz show questions` lists them",
    "ordering": 'give the items in order: a list of texts, or one text such as "b a c"',
}


def _acceptable(q: Question, given: Any) -> None:
    """Refuses an answer of a type the question cannot take (a table, a date, true, nan, a list
    where one value is asked for), saying what it is and what to give instead."""
    if q.kind == "ordering" and isinstance(given, list):
        if len(given) > MAX_ITEMS:
            raise AnswerError(f"a list of {len(given):,} items; this ordering has {len(q.items)}")
        for i, item in enumerate(given, start=1):
            if isinstance(item, bool) or not isinstance(item, (str, int)):
                raise AnswerError(f"item {i} of the list is {kind_of(item)}: {HOW['ordering']}")
            text_of(item)
        return
    if (
        isinstance(given, bool)
        or not isinstance(given, (str, int, float))
        or (isinstance(given, float) and not math.isfinite(given))
    ):
        raise AnswerError(f"{kind_of(given)} is not an answer to this question: {HOW[q.kind]}")
    if isinstance(given, str):
        text_of(given)


@bounded
def judge(q: Question, given: Any, use_catalogue: bool = True) -> Verdict:
    """Is `given` right? Wrong answers the bank knows get their own feedback. Raises AnswerError
    when the answer cannot be read, AmbiguousNumber (one) when it reads two ways."""
    if q.kind == "self":
        return Verdict(None, "rate yourself against: " + "; ".join(q.guide))
    _acceptable(q, given)
    right = _same(q, given, q.answer if q.kind != "ordering" else list(q.items))
    if right:
        return Verdict(True)
    if use_catalogue:
        for w in q.wrong:
            if _same(q, given, w.answer):
                return Verdict(False, w.feedback, known_mistake=True)
    return Verdict(False, _difference(q, given))


def _same(q: Question, given: Any, target: Any) -> bool:
    if q.kind == "number":
        return abs(number(given) - float(target)) <= q.tolerance + 1e-12 * max(1.0, abs(float(target)))
    if q.kind == "expression":
        return equivalent(expression(str(given), q.symbols), expression(str(target), q.symbols), q.symbols)
    if q.kind == "choice":
        return _choice(q, given) == target
    if q.kind == "ordering":
        return _ordering(q, given) == list(target)
    raise ValueError(q.kind)


def _difference(q: Question, given: Any) -> str:
    if q.kind == "number":
        return f"{number(given):g} is not within {q.tolerance:g} of the expected value"
    if q.kind == "expression":
        import sympy

        mine, want = expression(str(given), q.symbols), expression(str(q.answer), q.symbols)
        point = {sympy.Symbol(s, real=True): 3 for s in q.symbols}
        try:
            a, b = float(mine.subs(point).evalf()), float(want.subs(point).evalf())
            at = ", ".join(f"{s} = 3" for s in q.symbols)
            return f"not equal to the expected expression: at {at} yours gives {a:g}" + (
                "" if math.isclose(a, b) else ", which is not the expected value"
            )
        except AnswerError:
            raise
        except (TypeError, ValueError, OverflowError):
            return "not equal to the expected expression"
    if q.kind == "ordering":
        got = _ordering(q, given)
        first = next(i for i, (a, b) in enumerate(zip(got, q.items)) if a != b)
        return f"position {first + 1} should not be {got[first]!r}"
    return "that is not the answer"


__all__ = [
    "AmbiguousNumber",
    "AnswerError",
    "Bank",
    "BankError",
    "Question",
    "Verdict",
    "Wrong",
    "canonical",
    "equivalent",
    "expression",
    "judge",
    "load_bank",
    "number",
    "parse_bank",
    "plain_number",
]
