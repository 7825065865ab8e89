"""Checkpoint questions: reading and judging answers, and the banks themselves."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from quizgrader.grade import Options, grade
from quizgrader.questions import (
    AnswerError,
    Bank,
    BankError,
    Question,
    Wrong,
    judge,
    load_bank,
    number,
    parse_bank,
)
from quizgrader.questions.answers import AnswersFileError, judge_all, read_answers
from quizgrader.results import Answer

MHA = Question(
    "mha",
    3,
    "expression",
    "parameters of an MHA block with biases, in d",
    answer="4*d**2 + 4*d",
    symbols=("d",),
    wrong=(Wrong("d**2 + d", "that is one projection; the block has four"),),
)
GRAD = Question(
    "grad",
    1,
    "expression",
    "dL/dW1",
    answer="2*(W2*relu(W1*x + b1) + b2 - y)*W2*Heaviside(W1*x + b1)*x",
    symbols=("W1", "W2", "b1", "b2", "x", "y"),
)


@pytest.mark.parametrize(
    "form", ["4*d**2 + 4*d", "4*d*(d + 1)", "4d^2 + 4d", "(2*d)**2 + 4*d", "4 d (d+1)", "d*(4*d + 4)"]
)
def test_equivalent_forms_are_accepted(form):
    assert judge(MHA, form).correct


@pytest.mark.parametrize("form", ["4*d**2", "4*d**2 + 4", "4*d**2 + 3*d", "4*(d + 1)**2", "3*d**2 + 4*d"])
def test_near_misses_are_rejected(form):
    verdict = judge(MHA, form)
    assert verdict.correct is False and verdict.feedback


def test_a_catalogued_wrong_answer_gets_its_own_feedback():
    verdict = judge(MHA, "d*(d + 1)")
    assert verdict.correct is False and verdict.known_mistake and "one projection" in verdict.feedback


def test_piecewise_answers_are_compared_on_both_sides_of_zero():
    assert judge(GRAD, "2*W2*x*Heaviside(W1*x + b1)*(W2*Max(0, W1*x + b1) + b2 - y)").correct
    assert not judge(GRAD, "2*W2*x*(W2*(W1*x + b1) + b2 - y)").correct  # relu' dropped


@pytest.mark.parametrize(
    "text, why",
    [
        ("relu2(d)", "unknown name"),
        ("__import__('os').system('x')", "use numbers"),
        ("d.__class__", "unknown name"),
        ("", "empty"),
        ("4*d**", "cannot read"),
    ],
)
def test_unreadable_or_hostile_expressions_are_refused(text, why):
    with pytest.raises(AnswerError, match=why):
        judge(MHA, text)


@pytest.mark.parametrize(
    "text, value",
    [
        ("64", 64.0),
        (" 6.99e-4 ", 6.99e-4),
        ("ln(10)", math.log(10)),
        ("sqrt(64)", 8.0),
        ("1/8", 0.125),
        (2.302585, 2.302585),
    ],
)
def test_numbers_are_read_in_the_usual_forms(text, value):
    assert number(text) == pytest.approx(value)


def test_number_tolerance_and_catalogued_mistake():
    q = Question(
        "ce",
        5,
        "number",
        "uniform guess over 10 classes",
        answer=math.log(10),
        tolerance=0.005,
        wrong=(Wrong(math.log2(10), "that is in bits"),),
    )
    assert judge(q, "2.3").correct and judge(q, "ln(10)").correct
    assert judge(q, 3.3219).known_mistake and not judge(q, "2.2").correct


def test_choices_by_text_number_or_letter():
    q = Question(
        "path",
        8,
        "choice",
        "longest path in a transformer",
        answer="O(1)",
        choices=("O(1)", "O(n)", "O(n^2)", "O(log n)"),
    )
    at = q.shown_choices.index("O(1)")
    assert judge(q, "o(1)").correct and judge(q, at + 1).correct and judge(q, "abcd"[at]).correct
    assert judge(q, str(at + 1)).correct
    assert judge(q, "abcd"[at - 1]).correct is False and judge(q, (at + 1) % 4 + 1).correct is False
    with pytest.raises(AnswerError, match="not one of the choices"):
        judge(q, "O(n^3)")


def test_orderings_by_text_or_position():
    q = Question(
        "pre", 4, "ordering", "a Pre-LN block", items=("ln1", "attention", "add", "ln2", "ffn", "add")
    )
    assert judge(q, "ln1, attention, add, ln2, ffn, add").correct
    verdict = judge(q, ["attention", "add", "ln1", "ffn", "add", "ln2"])
    assert verdict.correct is False and "position 1" in verdict.feedback
    with pytest.raises(AnswerError, match="every item"):
        judge(q, "ln1, attention")


@pytest.mark.parametrize(
    "q",
    [
        q
        for bank in (load_bank("day16"), load_bank("day09"))
        for q in bank.questions
        if q.kind in ("choice", "ordering")
    ],
    ids=lambda q: q.id,
)
def test_numbers_and_letters_refer_to_the_shown_order_which_gives_nothing_away(q):
    shown = q.shown_choices if q.kind == "choice" else q.shown_items
    assert sorted(shown) == sorted(q.choices or q.items) and shown == (q.shown_choices or q.shown_items)
    if q.kind == "ordering":
        assert shown != q.items, "the items must not be shown in the right order"
        assert judge(q, ", ".join(str(i + 1) for i in range(len(shown)))).correct is False
        letters = " ".join("abcdefghij"[shown.index(item)] for item in q.items)
        assert judge(q, letters).correct
    else:
        assert judge(q, "abcdefghij"[shown.index(q.answer)]).correct


def test_self_rated_items_return_their_guide():
    q = Question("essay", 8, "self", "explain", guide=("parallel", "path length"))
    assert judge(q, "anything").correct is None


@pytest.mark.parametrize(
    "raw, why",
    [
        ({"id": "x", "row": 1, "kind": "number", "prompt": "p"}, "no answer"),
        (
            {"id": "x", "row": 1, "kind": "choice", "prompt": "p", "answer": "c", "choices": ["a", "b"]},
            "not one of",
        ),
        (
            {
                "id": "x",
                "row": 1,
                "kind": "expression",
                "prompt": "p",
                "answer": "4*d",
                "symbols": ["d"],
                "wrong": [{"answer": "2*d + 2*d", "feedback": "f"}],
            },
            "judged right",
        ),
        ({"id": "x", "row": 1, "kind": "essay", "prompt": "p"}, "kind must be"),
    ],
)
def test_a_malformed_bank_names_the_question(raw, why):
    with pytest.raises(BankError, match=f"'x'.*{why}"):
        parse_bank("day16", {"question": [raw]})


BANKS = {day: load_bank(day) for day in ("day16", "day09")}
CHECKABLE = [(day, q) for day, bank in BANKS.items() for q in bank.questions if q.checkable]


@pytest.mark.parametrize("day, q", CHECKABLE, ids=[q.id for _, q in CHECKABLE])
def test_every_question_passes_its_answer_and_fails_its_wrong_ones(day, q):
    right = list(q.items) if q.kind == "ordering" else q.answer
    assert judge(q, right).correct
    assert q.wrong, "every checkable question catalogues at least one wrong answer"
    for w in q.wrong:
        verdict = judge(q, w.answer)
        assert verdict.correct is False and verdict.known_mistake and verdict.feedback == w.feedback


@pytest.mark.parametrize("day", BANKS)
def test_every_rubric_row_has_questions(day):
    from quizgrader.catalog import load_day

    rows = {r.number for r in load_day(day).rubric}
    bank = BANKS[day]
    assert {q.row for q in bank.questions if q.checkable} == rows, day


def test_there_are_enough_checkable_questions():
    assert len(CHECKABLE) >= 30


# -- the answers file ---------------------------------------------------------------------------
SMALL = Bank(
    "day16",
    (
        MHA,
        Question("path", 8, "choice", "p", answer="O(1)", choices=("O(n)", "O(1)")),
        Question("essay", 8, "self", "p", guide=("g",)),
    ),
)
SCALE = ("Confident", "Shaky", "Need to re-study")


def test_answers_are_judged_one_by_one(tmp_path):
    f = tmp_path / "day16.toml"
    f.write_text('[answers]\nmha = "4 d (d + 1)"\npath = "O(n)"\n\n[ratings]\n3 = "Shaky"\n')
    answers = read_answers(f, SMALL, SCALE)
    assert answers.ratings == {3: "Shaky"}
    results = {r.id: r for r in judge_all(SMALL, answers)}
    assert results["mha"].outcome is Answer.CORRECT
    assert results["path"].outcome is Answer.WRONG
    assert results["essay"].outcome is Answer.SELF_RATED


def test_an_unreadable_answer_is_reported_and_the_rest_still_judged(tmp_path):
    f = tmp_path / "day16.toml"
    f.write_text('[answers]\nmha = "4 dd"\npath = 2\n')
    results = {r.id: r for r in judge_all(SMALL, read_answers(f, SMALL, SCALE))}
    assert results["mha"].outcome is Answer.UNREADABLE and "unknown name 'dd'" in results["mha"].feedback
    assert results["path"].outcome is Answer.CORRECT


@pytest.mark.parametrize(
    "text, why",
    [
        ('[answers]\nmha = "4d\n', "line 2"),  # unterminated string
        ('[answers]\nmah = "4*d"\n', "did you mean mha"),
        ('[ratings]\n3 = "Great"\n', "use one of Confident"),
        ("[answer]\nmha = 1\n", "unknown section"),
    ],
)
def test_a_malformed_answers_file_says_where(tmp_path, text, why):
    f = tmp_path / "day16.toml"
    f.write_text(text)
    with pytest.raises(AnswersFileError, match=why):
        read_answers(f, SMALL, SCALE)
    assert f.read_text() == text, "the learner's file is never rewritten"


def test_logs_and_sizes_are_compared_where_they_are_real():
    q = Question(
        "hk",
        5,
        "expression",
        "entropy of the uniform distribution over K",
        answer="log(K)",
        symbols=("K",),
        wrong=(Wrong("log(K)/log(2)", "that is in bits"),),
    )
    assert judge(q, "-log(1/K)").correct and judge(q, "log(K**2)/2").correct and judge(q, "ln(K)").correct
    assert judge(q, "log(K)/log(2)").known_mistake


def test_an_answer_with_fewer_symbols_than_the_expected_one_is_judged_not_crashed():
    q = Question("lstm", 3, "expression", "p", answer="4*h*(h + x + 1)", symbols=("h", "x"))
    assert judge(q, "4*h*(h + x)").correct is False
    assert judge(q, "4*h").correct is False


# -- answers graded with the exercises ----------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def right_answers(day: str = "day16") -> dict:
    return {
        q.id: (list(q.items) if q.kind == "ordering" else q.answer)
        for q in load_bank(day).questions
        if q.checkable
    }


def workspace_with(
    tmp_path: Path, answers: dict | None = None, ratings: dict | None = None, text: str | None = None
):
    import json

    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__"))
    (ws / "answers").mkdir()
    if text is None:
        lines = ["[answers]"] + [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in (answers or {}).items()]
        lines += ["", "[ratings]"] + [f"{k} = {json.dumps(v)}" for k, v in (ratings or {}).items()]
        text = "\n".join(lines) + "\n"
    (ws / "answers" / "day16.toml").write_text(text)
    return ws


def test_right_answers_rate_every_row_from_the_questions(tmp_path, zygote):
    ws = workspace_with(tmp_path, right_answers(), {2: "Confident", 8: "Shaky"})
    report = grade("day16", Options(workspace=ws, only=["softmax"], profile="quick"), zygote=zygote)
    assert report.passed and report.answers_error is None
    assert all(r.rating == "Confident" for r in report.rubric), [(r.row, r.rating) for r in report.rubric]
    by_row = {r.row: r for r in report.rubric}
    assert by_row[2].calibrated is True and by_row[8].calibrated is False and by_row[5].calibrated is None
    assert all(any("right" in line for line in r.evidence) for r in report.rubric)


def test_a_wrong_answer_lowers_its_row_and_says_why(tmp_path, zygote):
    answers = right_answers()
    answers["d16-bahdanau-param-count"] = "d_a*(d_s + d_h)"
    report = grade(
        "day16",
        Options(workspace=workspace_with(tmp_path, answers), only=["softmax"], profile="quick"),
        zygote=zygote,
    )
    assert not report.passed
    wrong = [q for q in report.questions if q.outcome == "wrong"]
    assert (
        [q.id for q in wrong] == ["d16-bahdanau-param-count"]
        and wrong[0].known_mistake
        and "v_a" in wrong[0].feedback
    )
    assert next(r for r in report.rubric if r.row == 1).rating == "Shaky"
    data = report.to_dict()
    assert data["questions"] and data["answers_error"] is None


def test_a_malformed_answers_file_is_reported_and_the_exercises_still_graded(tmp_path, zygote):
    ws = workspace_with(tmp_path, text='[answers]\n"d16-mha-dk-per-head" = 64\n"oops = 3\n')
    report = grade("day16", Options(workspace=ws, only=["softmax"], profile="quick"), zygote=zygote)
    assert report.exercises[0].status.value == "pass"
    assert report.answers_error and "line 3" in report.answers_error and not report.passed
    assert (ws / "answers" / "day16.toml").read_text().endswith('"oops = 3\n')
