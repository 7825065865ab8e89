"""The verdicts the two checkpoints prescribe, from where each rubric row stands: Day 16 sends
the learner back for any row that needs re-study; Day 9 is ready at 6 of 8 rows solid and asks
for an extra day of review with more than 2 weak rows, and prints its readiness checklist."""

from __future__ import annotations

import pytest

from quizgrader import rubric
from quizgrader.catalog import CatalogError, load_day, parse_day
from quizgrader.report.rubric_text import evidence_lines, verdict_summary
from quizgrader.results import RubricRating
from quizgrader.rubric import standing

D16, D09 = load_day("day16"), load_day("day09")


def verdict(day, ratings):
    """The verdict, with its sentence written as the reports write it."""
    return rubric.verdict(day, ratings, write=verdict_summary)


def ratings(day, evidence: list[int | None], said: list[int | None] | None = None) -> list[RubricRating]:
    """Rows rated by scale index (0 best .. 2 worst, None: no rating), evidence and self."""
    said = said or [None] * len(evidence)

    def pick(i):
        return None if i is None else day.scale[i]

    return [
        RubricRating(row.number, row.area, pick(e), [], pick(s))
        for row, e, s in zip(day.rubric, evidence, said)
    ]


def test_standing_is_the_worse_of_evidence_and_self_rating():
    best, middle, worst = D16.scale
    assert standing(best, middle, D16.scale) == middle
    assert standing(worst, best, D16.scale) == worst
    assert standing(None, middle, D16.scale) == middle
    assert standing(best, None, D16.scale) == best
    assert standing(None, None, D16.scale) is None


def test_day16_all_confident_is_ready_for_day17():
    v = verdict(D16, ratings(D16, [0] * 8))
    assert v.decision == "ready" and "Day 17" in v.summary and v.rows == []


def test_day16_shaky_rows_still_move_on_but_come_back_tomorrow():
    v = verdict(D16, ratings(D16, [0, 1, 0, 0, 0, 0, 0, 0]))
    assert v.decision == "ready" and v.rows == [2] and "tomorrow" in v.summary


def test_day16_any_row_to_restudy_sends_the_learner_back_to_its_day():
    v = verdict(D16, ratings(D16, [0, 0, 0, 0, 0, 2, 1, 0]))
    assert v.decision == "go_back"
    assert v.rows == [6, 7]  # the row to re-study first, then the shaky one
    assert "Day 13" in v.summary and "Positional encoding" in v.summary


def test_day16_a_learner_who_says_restudy_goes_back_even_when_the_code_passes():
    v = verdict(D16, ratings(D16, [0] * 8, said=[None, None, 2, None, None, None, None, None]))
    assert v.decision == "go_back" and v.rows == [3]


def test_day16_unrated_rows_leave_the_verdict_open():
    v = verdict(D16, ratings(D16, [0, 0, None, 0, 0, 0, 0, None]))
    assert v.decision == "incomplete" and v.rows == [3, 8]


@pytest.mark.parametrize(
    ("rows", "decision"),
    [
        ([0, 0, 0, 0, 0, 0, 2, 2], "ready"),  # 6 solid, 2 weak: the bar is met
        ([0, 0, 0, 0, 0, 0, 0, 1], "ready"),
        ([0, 0, 0, 0, 0, 1, 1, 1], "not_yet"),  # 5 solid
        ([0, 0, 0, 0, 0, 2, 2, 2], "extra_day"),  # more than 2 weak, whatever else
        ([2, 2, 2, 0, 0, 0, 0, 0], "extra_day"),
        ([0, 0, 0, 0, 0, None, None, 1], "incomplete"),  # 6 solid still reachable
        ([0, 0, 1, 1, 1, 1, None, None], "not_yet"),  # 2 + 2 unrated < 6: decided already
    ],
)
def test_day9_threshold(rows, decision):
    v = verdict(D09, ratings(D09, rows))
    assert v.decision == decision, v.summary
    assert "Phase II" in v.summary or decision == "incomplete"


def test_day9_verdict_names_the_rows_to_review_with_their_days():
    v = verdict(D09, ratings(D09, [0, 0, 0, 0, 0, 2, 2, 2]))
    assert v.rows == [6, 7, 8] and "Day 5" in v.summary and "Day 6" in v.summary and "Day 7" in v.summary


def test_day9_checklist_has_the_eight_readiness_criteria_ticked_by_solid_rows():
    v = verdict(
        D09, ratings(D09, [0, 1, 2, None, 0, 0, 0, 0], said=[None, None, None, 0, 1, None, None, None])
    )
    assert [c.row for c in v.checklist] == list(range(1, 9))
    assert all(c.text for c in v.checklist)
    assert [c.met for c in v.checklist] == [True, False, False, True, False, True, True, True]


def test_day16_has_no_checklist():
    assert verdict(D16, ratings(D16, [0] * 8)).checklist == []


def test_an_unknown_verdict_rule_is_a_catalog_error():
    data = {
        "id": "day16",
        "title": "t",
        "scale": list(D16.scale),
        "rubric": [{"number": 1, "area": "a"}],
        "verdict": {"rule": "majority"},
    }
    with pytest.raises(CatalogError, match="unknown verdict rule 'majority'"):
        parse_day(data)


def test_a_figure_an_exercise_measures_for_its_own_row_is_that_rows_evidence():
    from quizgrader.results import CheckResult, ExerciseResult, Status
    from quizgrader.rubric import rate

    check = CheckResult("deep stacks", Status.PASS, figures={"summary": "plain 4e-08, residual 3.1"})
    declared = CheckResult("learns", Status.PASS, figures={"summary": "elsewhere"}, rows=(6,))
    ex = ExerciseResult("day09.residual.layer_gradient_norms", "t", Status.PASS, checks=[check, declared])
    row2 = next(r for r in rate(D09, [ex], write=evidence_lines) if r.row == 2)
    assert "residual.layer_gradient_norms, measured: plain 4e-08, residual 3.1: pass" in row2.evidence
    assert not any("elsewhere" in line for line in row2.evidence)  # shown on the row it declares
