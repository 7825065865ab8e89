"""Answers that cannot fool or crash the grader: numbers as people write them (a decimal comma,
thousands separators), and expressions read without running them, bounded in size and time."""

from __future__ import annotations

import builtins
import signal
import time

import pytest

from quizgrader.questions import AnswerError, Question, expression, judge, load_bank, number

BANK = {q.id: q for q in load_bank("day16").questions}
WEIGHT = BANK["d16-bahdanau-weight"]          # a number: 0.665
PARAMS = BANK["d16-mha-params-512"]           # a number: 1050624
FFN = BANK["d16-ffn-params"]                  # an expression in d: 8*d**2 + 5*d


# -- numbers as people write them ----------------------------------------------------------------
@pytest.mark.parametrize("text, value", [
    ("0,665", 0.665), ("-0,665", -0.665), ("2,25", 2.25), (",5", 0.5), ("0,050", 0.05),
    ("1,050,624", 1050624), ("1.050.624", 1050624), ("15 000 000", 15_000_000), ("1 050 624", 1050624),
    ("1\u00a0050\u00a0624", 1050624), ("1\u202f050\u202f624", 1050624),
    ("1'050'624", 1050624), ("1.050.624,5", 1050624.5), ("1,050,624.5", 1050624.5), ("1 050,5", 1050.5),
    ("6,99e-4", 6.99e-4), ("6.99 × 10^-4", 6.99e-4), ("6.99·10⁻⁴", 6.99e-4), ("+1,050,624", 1050624),
    ("−0.5", -0.5),
])
def test_numbers_are_read_as_people_write_them(text, value):
    assert number(text) == pytest.approx(value, rel=1e-12)


def test_the_issue_s_answers_are_judged_right():
    assert judge(WEIGHT, "0,665").correct
    assert judge(PARAMS, "1,050,624").correct and judge(PARAMS, "1 050 624").correct
    assert judge(BANK["d16-ffn-params-512"], "2\u202f099\u202f712").correct
    assert judge(load_bank("day09").question("d09-embedding-params"), "15 000 000").correct


@pytest.mark.parametrize("text, readings", [("1,050", ("1.05", "1050")), ("-2,500", ("-2.5", "-2500")),
                                            ("3,000e3", ("3e3", "3000e3"))])
def test_a_comma_before_three_digits_is_never_guessed(text, readings):
    with pytest.raises(AnswerError, match=f"did you mean {readings[0]} or {readings[1]}") as e:
        number(text)
    assert e.value.readings == readings


@pytest.mark.parametrize("text, why", [
    ("1,05,0", "digits after a thousands separator come in threes"), ("12,34,567", "come in threes"),
    ("1,050 624", "mixes separators"), ("1, 5", "two separators side by side"),
    ("66.5%", "without '%': the question says the unit"), ("0.5 MiB", "without 'MiB'"),
    ("1e400", "too large"), ("nan", "not a finite number"), ("-inf", "not a finite number"),
    ("1/0", "division by zero"), ("sqrt(1, 2)", "sqrt takes one value, not 2"),
])
def test_numbers_that_cannot_be_read_say_why(text, why):
    with pytest.raises(AnswerError, match=why):
        number(text)


# -- expressions: read safely, bounded -------------------------------------------------------------
@pytest.mark.parametrize("text, why", [
    ("8*d**2, 5*d", "two expressions separated by a comma: give one"),
    ("(8*d**2, 5*d)", "two expressions separated by a comma"),
    ("0,5*d", "a decimal comma\\? in an expression write 0.5"),
    ("8 000*d", "two numbers side by side"),
    ("sqrt", "cannot read 'sqrt' as an expression"),
    ("((d)", "the parentheses do not match"),
])
def test_a_malformed_expression_is_named_never_a_crash(text, why):
    with pytest.raises(AnswerError, match=why):
        judge(FFN, text)


def test_an_expression_never_reaches_eval(tmp_path, monkeypatch):
    canary = tmp_path / "ran"

    def no_eval(*args, **kwargs):
        raise AssertionError("eval was called")

    monkeypatch.setattr(builtins, "eval", no_eval)
    assert judge(FFN, "8d^2 + 5d").correct and judge(FFN, "d(8d + 5)").correct
    for text, why in [(f"__import__('os').system('touch {canary}')", "has no place in an answer"),
                      ("E.n", "'.' here is not part of a number"), ("d.__class__", "unknown name '__class__'")]:
        q = Question("q", 1, "expression", "p", answer="n**2", symbols=("n", "d"))
        with pytest.raises(AnswerError, match=why):
            judge(q, text)
    assert not canary.exists()


@pytest.mark.parametrize("text, why", [
    ("10**10**10", "exponent here is at most 256"), ("9**9**9**9", "at most 256"),
    ("((2**200)**200)**200", "a number of about 2,408,360 digits"), ("(2**200)**200", "too large to judge"),
    ("2**(1/10**6)", "at most 256"), ("exp(exp(exp(10)))", "exp of more than 921"),
    ("1e99999999", "too large or too small"), ("9" * 301, "at most 300"),
])
def test_huge_numbers_are_refused_before_they_are_computed(text, why):
    started = time.perf_counter()
    with pytest.raises(AnswerError, match=why):
        judge(WEIGHT, text)
    assert time.perf_counter() - started < 2


def test_a_huge_power_of_a_symbol_is_refused():
    with pytest.raises(AnswerError, match="at most 256"):
        expression("(d + 1)**100000", ("d",))


def test_judging_is_stopped_after_its_time_limit():
    from quizgrader.questions.reading import TooSlow, time_limit

    started = time.perf_counter()
    with pytest.raises(TooSlow, match="took more than 0.2 s"), time_limit(0.2):
        while True:
            pass
    assert time.perf_counter() - started < 1.5
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0), "the timer is disarmed afterwards"
