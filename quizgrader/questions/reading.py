"""Reading an answer as people write it, and never running it.

Numbers: `0.665`, `6.99e-4`, `6.99 × 10^-4`, `+64`, and with a decimal comma or thousands
separators: `0,665`, `1,050,624`, `1.050.624`, `1 050 624` (a space, a no-break space or a narrow
one), `1_050_624`, `1'050'624`, `1.050.624,5`, `1,050,624.5`. Digits after a thousands separator
come in groups of three. A single `.` is always the decimal point. A single `,` is a decimal comma
when the part before it is 0 (`0,665`) or when other than exactly three digits follow it (`1,5`,
`2,25`); `1,050` could be 1.05 or 1050, and is never guessed: it is refused as ambiguous, with
both readings. No kind of question takes a unit or a percent sign: the question says the unit.

Expressions: sympy's tokenizer turns `4d^2 + 4d` into Python syntax, which is checked node by
node (numbers, the question's symbols, a few functions, arithmetic) and built from sympy objects
here, never handed to eval. Sizes are bounded before they are computed (an exponent above
MAX_EXPONENT, a power with more than MAX_BITS bits), and the work on one answer is stopped after
SECONDS: `10**10**10` is refused, not computed.
"""

from __future__ import annotations

import ast
import datetime
import math
import operator
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any

MAX_LENGTH = 300  # characters in one answer
MAX_ITEMS = 50  # entries in an answer that is a list
MAX_EXPONENT = 256  # of a power with a number as exponent (beyond it, simplifying takes seconds)
MAX_BITS = 100_000  # in an exact number built by a power
MAX_MAGNITUDE = 400  # decimal exponent of a number written out (sympy builds 1e99999999 digit by digit)
SECONDS = 5.0  # to read and judge one answer


class AnswerError(ValueError):
    """An answer that cannot be read (not a number, an expression with an unknown name, ...)."""


class AmbiguousNumber(AnswerError):
    """A number that reads two ways (`1,050`: 1.05 or 1050): the learner says which."""

    def __init__(self, text: str, readings: tuple[str, str]) -> None:
        self.readings = readings
        super().__init__(
            f"{shown(text)} could be {readings[0]} (a decimal comma) or {readings[1]} (a thousands "
            f"separator): did you mean {readings[0]} or {readings[1]}? Write it one of those ways"
        )


class TooSlow(AnswerError):
    """Judging an answer ran past SECONDS."""


# -- saying what an answer is, safely ----------------------------------------------------------------
def shown(value: Any, limit: int = 60) -> str:
    """`value` for a message: Python's repr (so control characters and the like are escaped, never
    sent to a terminal as they are; a date as its ISO form), shortened in the middle beyond `limit`
    characters."""
    text = value.isoformat() if isinstance(value, (datetime.date, datetime.time)) else repr(value)
    return (
        text
        if len(text) <= limit
        else f"{text[: limit // 2]}…{text[-(limit // 2) :]} ({len(text):,} characters)"
    )


def kind_of(value: Any) -> str:
    """What a TOML value is, in words: "a list", "a table", "a date", ..."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    for kinds, name in (
        (int, "a whole number"),
        (float, "a number"),
        (str, "a text"),
        (list, "a list"),
        (dict, "a table"),
        (datetime.datetime, "a date and time"),
        (datetime.date, "a date"),
        (datetime.time, "a time of day"),
    ):
        if isinstance(value, kinds):
            return name
    return type(value).__name__


def text_of(value: Any) -> str:
    """An answer as text, stripped; refused when longer than MAX_LENGTH."""
    text = str(value).strip()
    if len(text) > MAX_LENGTH:
        raise AnswerError(
            f"the answer is {len(text):,} characters long; an answer here has at most {MAX_LENGTH}"
        )
    return text


# -- a time limit ------------------------------------------------------------------------------------
_limited = False  # a limit is running (the outermost one counts)


@contextmanager
def time_limit(seconds: float | None = None) -> Iterator[None]:
    """Stop the work inside after `seconds` (SECONDS by default) with TooSlow, by SIGALRM. The
    signal repeats until the block ends, in case the code interrupted catches the first one. Only
    the main thread can be interrupted so, and a limit inside another, or beside a timer someone
    else set, adds nothing."""
    global _limited
    seconds = SECONDS if seconds is None else seconds
    if (
        _limited
        or threading.current_thread() is not threading.main_thread()
        or signal.getitimer(signal.ITIMER_REAL)[0]
    ):
        yield
        return

    def expire(signum, frame) -> None:
        if _limited:
            raise TooSlow(f"judging this answer took more than {seconds:g} s; write it more simply")

    previous = signal.signal(signal.SIGALRM, expire)
    _limited = True
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield
    finally:
        _limited = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def bounded(fn: Callable) -> Callable:
    """`fn` under time_limit()."""

    @wraps(fn)
    def within(*args, **kwargs):
        with time_limit():
            return fn(*args, **kwargs)

    return within


# -- numbers -----------------------------------------------------------------------------------------
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻", "0123456789+-")
_SUPERSCRIPTS = re.compile("[⁺⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+")
_SEPARATORS = ".,_'’ \u00a0\u202f\u2009"  # no-break, narrow no-break and thin spaces among them
_PLAIN = re.compile(
    rf"(?P<sign>[+-]?)(?P<mantissa>[0-9](?:[0-9{_SEPARATORS}]*[0-9])?|[.,][0-9]+)"
    r"(?P<exponent>(?:[eE]|\s*[*×xX·]\s*10\s*(?:\^|\*\*)\s*)[+-]?[0-9]+)?"
)
_UNIT = re.compile(r"(?P<number>.*?[0-9.])\s*(?P<unit>%|[A-Za-zµ]+)")


def normalised(text: str) -> str:
    """Typographic forms as ASCII: − as -, × and · as *, superscript powers (10⁻⁴, d²) as ^."""
    text = text.replace("\u2212", "-")
    return _SUPERSCRIPTS.sub(lambda m: "^" + m.group().translate(_SUPERSCRIPT), text)


def plain_number(text: str) -> int | float | None:
    """A number written out, with the separators people use (see the module's docstring); None
    when `text` is not one (an expression, say). Raises AmbiguousNumber for `1,050`, and
    AnswerError for digits grouped wrongly (`1,05,0`) or mixed separators."""
    m = _PLAIN.fullmatch(normalised(text).strip())
    if m is None:
        return None
    whole, fraction = _mantissa(m["mantissa"], text, m["sign"], m["exponent"] or "")
    exponent = re.search(r"[+-]?[0-9]+$", m["exponent"]).group() if m["exponent"] else ""
    if not fraction and not exponent:
        return int(m["sign"] + whole)
    if exponent and abs(int(exponent)) > MAX_MAGNITUDE:
        raise AnswerError(f"{shown(text)} is too large or too small to work with")
    return float(f"{m['sign']}{whole}.{fraction or '0'}e{exponent or '0'}")


def _mantissa(mantissa: str, text: str, sign: str, exponent: str) -> tuple[str, str]:
    """(whole digits, fraction digits) of a number's mantissa with its separators."""
    parts = re.split(f"([{_SEPARATORS}]+)", mantissa)
    groups, seps = parts[0::2], [" " if s.isspace() else s for s in parts[1::2]]
    if any(len(s) > 1 for s in seps):
        raise AnswerError(f"cannot read {shown(text)} as a number: two separators side by side")
    if not seps:
        return groups[0], ""
    if groups[0] == "":  # .5 or ,5
        return "0", groups[1]
    last = seps[-1]
    if len(seps) == 1 and last == ".":
        return groups[0], groups[1]
    if len(seps) == 1 and last == ",":
        if groups[0].strip("0") == "" or len(groups[1]) != 3:
            return groups[0], groups[1]  # a decimal comma: 0,665 or 2,25
        decimal = f"{groups[0]}.{groups[1]}".rstrip("0").rstrip(".")
        raise AmbiguousNumber(text, (sign + decimal + exponent, sign + groups[0] + groups[1] + exponent))
    fraction = ""
    if last in ".," and len(seps) > 1 and seps[-2] != last:  # 1,050.5 or 1.050,5: the last one is the point
        fraction, groups, seps = groups[-1], groups[:-1], seps[:-1]
    if len(set(seps)) > 1:
        raise AnswerError(f"cannot read {shown(text)} as a number: it mixes separators")
    if not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:]):
        raise AnswerError(
            f"cannot read {shown(text)} as a number: digits after a thousands separator come in "
            "threes (1050624, 1,050,624 or 1 050 624)"
        )
    return "".join(groups), fraction


@bounded
def number(value: Any) -> float:
    """A number question's answer as a float: a TOML number, a number written out (see the
    module's docstring), or arithmetic on numbers (`1/8`, `ln(10)`, `2**-10`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise AnswerError(f"expected a number, not {kind_of(value)}")
    if isinstance(value, (int, float)):
        return _finite(value, value)
    text = text_of(value)
    if not text:
        raise AnswerError("the answer is empty")
    plain = plain_number(text)
    if plain is not None:
        return _finite(plain, text)
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise AnswerError(f"{shown(text)} is not a finite number that can be judged")
    if (m := _UNIT.fullmatch(text)) and m["unit"] not in FUNCTIONS + CONSTANTS:
        try:
            number(m["number"])
        except AnswerError:
            pass
        else:
            raise AnswerError(
                f"write the number alone, without {shown(m['unit'])}: the question says the unit"
            )
    try:
        v = complex(expression(text, ()).evalf())
    except AnswerError:
        raise
    except (TypeError, ValueError, OverflowError) as e:
        raise AnswerError(f"cannot read {shown(text)} as a number") from e
    if v.imag:
        raise AnswerError(f"{shown(text)} is not a real number")
    return _finite(v.real, text)


def _finite(v: float, text: Any) -> float:
    try:
        v = float(v)
    except OverflowError:
        v = math.inf
    if math.isnan(v):
        raise AnswerError(f"{shown(text)} is not a number")
    if math.isinf(v):
        raise AnswerError(f"{shown(text)} is too large to judge as a number")
    return v


# -- expressions -------------------------------------------------------------------------------------
FUNCTIONS = ("sqrt", "exp", "log", "ln", "sin", "cos", "tanh", "Max", "Min", "Heaviside", "relu", "Abs")
CONSTANTS = ("pi", "E")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ALLOWED = re.compile(r"^[A-Za-z0-9_+\-*/^().,\s]*$")
_ARITY = {"Max": (1, MAX_ITEMS), "Min": (1, MAX_ITEMS), "log": (1, 2)}  # (fewest, most); others: one
_ARITY_WORDS = {
    "Max": "one or more values",
    "Min": "one or more values",
    "log": "a value, and optionally a base",
}
_EXP_LIMIT = MAX_MAGNITUDE * math.log(10)  # exp beyond it has more than MAX_MAGNITUDE digits
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


@bounded
def expression(text: str, symbols: tuple[str, ...] | list[str]):
    """`text` as a sympy expression over `symbols`. Only those names, a few functions and
    constants, numbers and arithmetic are accepted, and the text never reaches eval."""
    import sympy
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        standard_transformations,
        stringify_expr,
    )

    text = normalised(text_of(text)).replace("×", "*").replace("·", "*")
    if not text:
        raise AnswerError("the answer is empty")
    if not _ALLOWED.match(text):
        odd = next(c for c in text if not _ALLOWED.match(c))
        raise AnswerError(
            f"{shown(odd)} has no place in an answer here: use numbers, the symbols, + - * / ^ ** "
            "and parentheses only"
        )
    allowed = set(symbols) | set(FUNCTIONS) | set(CONSTANTS)
    unknown = sorted({n for n in _NAME.findall(text) if n not in allowed})
    if unknown:
        names = ", ".join(symbols) if symbols else "none"
        raise AnswerError(
            f"unknown name {', '.join(map(shown, unknown))}: the symbols here are {names}; "
            f"functions: {', '.join(FUNCTIONS)}"
        )
    if m := re.search(r"[0-9]\s+[0-9]", text):
        raise AnswerError(
            f"two numbers side by side ({shown(m.group())}): write one number without spaces, "
            "or put * between them"
        )
    values: dict[str, Any] = {s: sympy.Symbol(s, real=True) for s in symbols} | {"pi": sympy.pi, "E": sympy.E}
    functions = {
        "sqrt": sympy.sqrt,
        "exp": sympy.exp,
        "log": sympy.log,
        "ln": sympy.log,
        "sin": sympy.sin,
        "cos": sympy.cos,
        "tanh": sympy.tanh,
        "Max": sympy.Max,
        "Min": sympy.Min,
        "Abs": sympy.Abs,
        "Heaviside": sympy.Heaviside,
        "relu": lambda z: sympy.Max(0, z),
    }
    try:
        code = stringify_expr(
            text,
            values | functions,
            {"Integer": sympy.Integer, "Float": sympy.Float},
            standard_transformations + (implicit_multiplication_application, convert_xor),
        )
        tree = ast.parse(code.strip(), mode="eval")
    except Exception as e:  # noqa: BLE001 - the tokenizer's and the parser's errors alike: the learner's to fix
        raise AnswerError(f"cannot read {shown(text)} as an expression ({_why(e)})") from None
    try:
        value = _Builder(text, values, functions).build(tree.body)
    except AnswerError:
        raise
    except (TypeError, ValueError, ArithmeticError) as e:
        raise AnswerError(f"cannot read {shown(text)} as an expression ({_why(e)})") from None
    if value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise AnswerError(f"{shown(text)} is not finite (a division by zero?)")
    return value


def _why(e: Exception) -> str:
    """Why the tokenizer or the parser gave up, in a learner's words."""
    message = str(e.msg if isinstance(e, SyntaxError) else e.args[0] if e.args else "")
    if any(clue in message for clue in ("'('", "')'", "EOF", "parenthes", "never closed", "unmatched")):
        return "the parentheses do not match"
    return "incomplete, or operators out of place" if isinstance(e, SyntaxError) else type(e).__name__


class _Builder:
    """Builds the sympy expression from the tokenizer's Python syntax tree, node by node: only
    numbers, the allowed names, calls of the allowed functions and + - * / ** are accepted."""

    def __init__(self, text: str, values: dict[str, Any], functions: dict[str, Callable]) -> None:
        self.text, self.values, self.functions = text, values, functions

    def build(self, node: ast.AST):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return self.power(self.build(node.left), self.build(node.right))
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](self.build(node.left), self.build(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.build(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Name) and node.id in self.values:
            return self.values[node.id]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            name = node.func.id
            if (
                name in ("Integer", "Float")
                and len(node.args) == 1
                and isinstance(node.args[0], ast.Constant)
            ):
                return self.literal(name, str(node.args[0].value))
            if name in self.functions:
                fewest, most = _ARITY.get(name, (1, 1))
                if not fewest <= len(node.args) <= most:
                    raise AnswerError(
                        f"{name} takes {_ARITY_WORDS.get(name, 'one value')}, not {len(node.args)}"
                    )
                args = [self.build(a) for a in node.args]
                if name == "exp" and args[0].is_number and abs(complex(args[0].evalf())) > _EXP_LIMIT:
                    raise AnswerError(
                        f"{shown(self.text)} is too large to work with: exp of more than {_EXP_LIMIT:.0f}"
                    )
                return self.functions[name](*args)
        if isinstance(node, ast.Tuple):
            decimal = re.search(r"[0-9],[0-9]", self.text)
            raise AnswerError(
                f"{shown(self.text)} is two expressions separated by a comma: give one"
                + (" (a decimal comma? in an expression write 0.5, not 0,5)" if decimal else "")
            )
        if isinstance(node, ast.Attribute):
            raise AnswerError(f"{shown(self.text)}: '.' here is not part of a number; write arithmetic only")
        raise AnswerError(f"cannot read {shown(self.text)} as an expression")

    def literal(self, kind: str, digits: str):
        import sympy

        if kind == "Integer":
            return sympy.Integer(digits)
        try:
            magnitude = Decimal(digits).adjusted()
        except InvalidOperation:
            raise AnswerError(f"cannot read {shown(digits)} as a number") from None
        if abs(magnitude) > MAX_MAGNITUDE:
            raise AnswerError(f"{shown(digits)} is too large or too small to work with")
        return sympy.Float(digits)

    def power(self, base, exponent):
        """base ** exponent, unless the result would be too large to compute: an exact exponent
        above MAX_EXPONENT (numerator or denominator), or an exact result of more than MAX_BITS."""
        import sympy

        if exponent.is_Rational and not (base.is_Float or base in (0, 1, -1)):
            p, q = abs(int(exponent.p)), int(exponent.q)
            if p > MAX_EXPONENT or q > MAX_EXPONENT:
                raise AnswerError(
                    f"{shown(self.text)} is too large to work with: an exponent here is at most "
                    f"{MAX_EXPONENT}"
                )
            bits = sum(int(r.p).bit_length() + int(r.q).bit_length() for r in base.atoms(sympy.Rational))
            if bits * p > MAX_BITS:
                raise AnswerError(
                    f"{shown(self.text)} is too large to work with: a number of about "
                    f"{int(bits * p * math.log10(2)):,} digits"
                )
        return base**exponent


__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_ITEMS",
    "MAX_LENGTH",
    "SECONDS",
    "AmbiguousNumber",
    "AnswerError",
    "TooSlow",
    "bounded",
    "expression",
    "kind_of",
    "number",
    "plain_number",
    "shown",
    "text_of",
    "time_limit",
]
