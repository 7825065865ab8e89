"""The rubric in its steps: gather() turns a run's results into each row's evidence as data, small
rules rate that data, and report.rubric_text puts it in words. Built by hand from Day 16's
catalog: row 1 has additive attention, row 2 softmax and scaled dot-product attention (which also
measures row 8, a row no exercise of its own covers), row 6 the positional encodings (which the
language model measures)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from quizgrader.catalog import load_day
from quizgrader.report.rubric_text import evidence_lines, measured, verdict_summary
from quizgrader.results import (
    Answer,
    AnswerEvidence,
    CheckResult,
    ExerciseEvidence,
    ExerciseResult,
    FigureEvidence,
    QuestionResult,
    RowEvidence,
    RubricRating,
    Status,
)
from quizgrader.rubric import agrees, gather, outcomes, rate, rating_of, standings, verdict

D16, D09 = load_day("day16"), load_day("day09")
BEST, MIDDLE, WORST = D16.scale
SOFTMAX, SDPA, ADDITIVE = (
    f"day16.attention.{n}" for n in ("softmax", "scaled_dot_product_attention", "additive_attention")
)
LM, ROPE = "day16.lm.DecoderLM", "day16.positional.apply_rope"


def check(name: str, status: Status = Status.PASS, **kw) -> CheckResult:
    return CheckResult(name, status, **kw)


def results() -> list[ExerciseResult]:
    """Softmax passes, SDPA fails one of its checks but its timing (for row 8) passes, additive
    attention is not attempted, RoPE passes and measures a figure for its own row, and the
    language model fails its check that trains without positions (for row 6)."""
    return [
        ExerciseResult(SOFTMAX, "t", Status.PASS, checks=[check("a"), check("b")]),
        ExerciseResult(
            SDPA,
            "t",
            Status.FAIL,
            checks=[
                check("values"),
                check("masking", Status.FAIL),
                check("timing", rows=(8,), figures={"summary": "8x faster"}),
            ],
        ),
        ExerciseResult(ADDITIVE, "t", Status.NOT_ATTEMPTED),
        ExerciseResult(ROPE, "t", Status.PASS, checks=[check("norms", figures={"summary": "keeps lengths"})]),
        ExerciseResult(
            LM, "t", Status.PASS, checks=[check("learns without positions", Status.FAIL, rows=(6,))]
        ),
    ]


def questions() -> list[QuestionResult]:
    return [
        QuestionResult("q-right", 1, Answer.CORRECT),
        QuestionResult("q-wrong", 1, Answer.WRONG),
        QuestionResult("q-unreadable", 2, Answer.UNREADABLE),
        QuestionResult("q-unanswered", 1, Answer.UNANSWERED),
        QuestionResult("q-self", 1, Answer.SELF_RATED),
    ]


def row(evidence: list[RowEvidence], number: int) -> RowEvidence:
    return next(e for e in evidence if e.row == number)


# -- gathering ---------------------------------------------------------------------------------------


def test_gather_gives_each_row_its_graded_exercises_with_status_and_checks():
    ev = gather(D16, results())
    assert [e.row for e in ev] == [r.number for r in D16.rubric]
    assert row(ev, 2).exercises == [
        ExerciseEvidence(SOFTMAX, Status.PASS, passed=2, checks=2),
        ExerciseEvidence(SDPA, Status.FAIL, passed=2, checks=3),
    ]
    assert row(ev, 1).exercises == [ExerciseEvidence(ADDITIVE, Status.NOT_ATTEMPTED, 0, 0)]
    # the exercises the run did not grade are not made up as evidence
    assert row(ev, 6).exercises == [ExerciseEvidence(ROPE, Status.PASS, 1, 1)]
    assert row(ev, 6).not_graded == 4 and not row(ev, 6).no_exercise


def test_a_measuring_check_of_another_rows_exercise_is_declared_evidence_where_it_points():
    ev = gather(D16, results())
    assert row(ev, 8).figures == [FigureEvidence(SDPA, "timing", Status.PASS, "8x faster", declared=True)]
    assert row(ev, 8).exercises == [] and not row(ev, 8).no_exercise and row(ev, 8).not_graded == 0
    # shown on the row it declares, not on its exercise's own row
    assert all(f.check != "timing" for f in row(ev, 2).figures)
    # one without a figure stands by its name
    assert (
        FigureEvidence(LM, "learns without positions", Status.FAIL, None, declared=True) in row(ev, 6).figures
    )


def test_a_figure_an_exercise_measures_for_its_own_row_is_shown_but_not_declared():
    assert row(gather(D16, results()), 6).figures[0] == FigureEvidence(
        ROPE, "norms", Status.PASS, "keeps lengths", declared=False
    )


def test_a_measuring_check_that_did_not_run_is_no_evidence():
    skipped = [ExerciseResult(SDPA, "t", Status.FAIL, checks=[check("timing", Status.SKIPPED, rows=(8,))])]
    assert row(gather(D16, skipped), 8).figures == []


def test_a_row_no_exercise_covers_says_so_and_one_left_out_of_the_run_is_counted():
    without_sdpa = dataclasses.replace(D16, exercises=tuple(e for e in D16.exercises if e.id != SDPA))
    ev = row(gather(without_sdpa, []), 8)
    assert ev.no_exercise and ev.not_graded == 0
    # with the catalog whole, a run that left SDPA out (--only) cannot speak for row 8
    ev = row(gather(D16, [r for r in results() if r.id != SDPA]), 8)
    assert not ev.no_exercise and ev.not_graded == 1


def test_only_judged_questions_are_evidence_and_the_self_rating_is_carried():
    ev = gather(D16, results(), questions(), {1: BEST})
    assert row(ev, 1).answers == [
        AnswerEvidence("q-right", Answer.CORRECT),
        AnswerEvidence("q-wrong", Answer.WRONG),
    ]
    assert [a.right for a in row(ev, 2).answers] == [False]  # unreadable counts as not right
    assert row(ev, 1).self_rating == BEST and row(ev, 2).self_rating is None


# -- rating ------------------------------------------------------------------------------------------


def test_outcomes_count_attempted_exercises_declared_checks_and_answers_only():
    ev = RowEvidence(
        6,
        "area",
        exercises=[
            ExerciseEvidence("day16.x.a", Status.PASS),
            ExerciseEvidence("day16.x.b", Status.NOT_ATTEMPTED),
            ExerciseEvidence("day16.x.c", Status.SKIPPED),
            ExerciseEvidence("day16.x.d", Status.BLOCKED),
        ],
        figures=[
            FigureEvidence("day16.x.a", "own", Status.FAIL, "s"),
            FigureEvidence("day16.y.e", "declared", Status.FAIL, declared=True),
        ],
        answers=[AnswerEvidence("q", Answer.CORRECT)],
    )
    # a pass, a blocked exercise, the declared check's failure, the right answer
    assert outcomes(ev) == [True, False, False, True]


@pytest.mark.parametrize(
    ("results", "expected"),
    [([], None), ([True], BEST), ([True, True], BEST), ([True, False], MIDDLE), ([False, False], WORST)],
)
def test_rating_is_best_when_all_pass_worst_when_none_does_the_middle_otherwise(results, expected):
    assert rating_of(results, D16.scale) == expected


def test_self_rating_agrees_only_when_both_exist_and_match():
    assert agrees(BEST, BEST) is True
    assert agrees(MIDDLE, BEST) is False
    assert agrees(None, BEST) is None and agrees(BEST, None) is None


def test_rate_decides_each_row_from_the_gathered_evidence():
    rated = {r.row: r for r in rate(D16, results(), questions(), {1: BEST, 2: MIDDLE, 3: BEST, 8: WORST})}
    assert rated[2].rating == MIDDLE and rated[2].calibrated is True  # softmax passes, SDPA fails
    assert rated[1].rating == MIDDLE and rated[1].calibrated is False  # not attempted; 1 of 2 right
    assert rated[3].rating is None and rated[3].calibrated is None  # nothing attempted
    assert rated[8].rating == BEST and rated[8].calibrated is False  # SDPA's timing passes
    assert rated[6].rating == MIDDLE  # RoPE passes, the model without positions does not
    assert rated[6].basis == row(gather(D16, results(), questions(), {}), 6)


def test_rate_writes_no_words_itself_and_the_writer_puts_the_basis_in_words():
    bare = rate(D16, results())
    assert all(r.evidence == [] and r.basis is not None for r in bare)
    worded = rate(D16, results(), write=evidence_lines)
    assert [r.evidence for r in worded] == [evidence_lines(r.basis) for r in bare]


# -- words -------------------------------------------------------------------------------------------


def test_the_evidence_lines_say_each_item_in_order():
    rated = {r.row: r for r in rate(D16, results(), questions(), write=evidence_lines)}
    assert rated[2].evidence == [
        "attention.softmax: pass (2/2 checks)",
        "attention.scaled_dot_product_attention: fail (2/3 checks)",
        "questions: 0/1 right",
    ]
    assert rated[1].evidence == ["attention.additive_attention: not attempted", "questions: 1/2 right"]
    assert rated[6].evidence == [
        "positional.apply_rope: pass (1/1 checks)",
        "positional.apply_rope, measured: keeps lengths: pass",
        "lm.DecoderLM, learns without positions: fail",
        "4 exercise(s) not graded in this run",
    ]
    assert rated[8].evidence == ["attention.scaled_dot_product_attention, measured: 8x faster: pass"]


def test_a_row_without_exercises_says_so_rather_than_counting_what_was_not_graded():
    ev = RowEvidence(8, "area", no_exercise=True, not_graded=0, answers=[AnswerEvidence("q", Answer.WRONG)])
    assert evidence_lines(ev) == ["no exercise gives evidence for this row yet", "questions: 0/1 right"]
    assert evidence_lines(RowEvidence(8, "area")) == []


def test_the_markdown_notes_take_the_figures_with_their_status_first():
    ev = row(gather(D16, results()), 6)
    assert measured(ev) == ["(pass) keeps lengths"]  # the model's check has no figure to show


def test_the_verdict_is_decided_without_words_and_written_by_the_report():
    ratings = [
        RubricRating(
            r.number, r.area, WORST if r.number == 6 else BEST, [], MIDDLE if r.number == 2 else None
        )
        for r in D16.rubric
    ]
    bare = verdict(D16, ratings)
    assert (bare.decision, bare.rows, bare.summary) == ("go_back", [6, 2], "")
    s = standings(D16, ratings)
    assert (s.weak, s.shaky, s.unrated, s.solid) == ([6], [2], [], 6)
    assert verdict_summary(D16, "go_back", s) == (
        "Go back before Day 17: 1 row(s) need re-study: "
        "6 Positional encoding (sinusoidal, RoPE, ALiBi) (Day 13)."
    )
    assert verdict(D16, ratings, write=verdict_summary).summary == verdict_summary(D16, "go_back", s)


def test_the_threshold_verdict_tallies_the_rows():
    best, _middle, worst = D09.scale
    ratings = [RubricRating(r.number, r.area, worst if r.number > 5 else best) for r in D09.rubric]
    v = verdict(D09, ratings, write=verdict_summary)
    assert v.decision == "extra_day" and v.rows == [6, 7, 8]
    assert v.summary.startswith(f"Spend an extra day on review before Phase II (5/8 rows {best}, 3 {worst}; ")


def test_the_rubric_package_holds_no_sentences_for_the_learner():
    """Its strings are keys and short labels; the English is the reports'. Docstrings aside."""
    package = Path(__file__).resolve().parents[1] / "quizgrader" / "rubric"
    found = []
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        found += [
            f"{path.name}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and len(node.value.split()) > 2
        ]
    assert found == []
