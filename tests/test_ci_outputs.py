"""The CI renderers: JUnit XML (read back with junitparser), Gradescope's results.json, GitHub
Actions annotations and the step summary, from reports built by hand (nothing is graded)."""

from __future__ import annotations

import io
import json
import math
from xml.etree import ElementTree

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped
from rich.console import Console

from quizgrader.catalog import load_day
from quizgrader.report.ci import github_annotations, gradescope_json, junit_xml, step_summary
from quizgrader.report.rubric_text import evidence_lines, verdict_summary
from quizgrader.report.terminal import render
from quizgrader.results import Answer, CheckResult, ExerciseResult, GradeReport, QuestionResult, Status
from quizgrader.rubric import rate, verdict

D16 = load_day("day16")
NASTY = "shapes differ: got <B, T> & \"expected\" '(B, T, T)'\nsecond line of the message"
SOFTMAX = "day16.attention.softmax"
SDPA = "day16.attention.scaled_dot_product_attention"
ADDITIVE = "day16.attention.additive_attention"
CAUSAL = "day16.masks.causal_mask"
PADDING = "day16.masks.padding_mask"
MHA = "day16.multihead.MultiHeadAttention"
FORBIDDEN = "day16.positional.sinusoidal_encoding"
SCOPE = "day16.positional.LearnedPositionalEmbedding"


def ok(name: str) -> CheckResult:
    return CheckResult(name, Status.PASS)


def make_report(questions=None) -> GradeReport:
    exercises = [
        ExerciseResult(
            SOFTMAX,
            "Softmax",
            Status.PASS,
            checks=[ok("sums to one"), ok("stable"), ok("shape")],
            seconds=0.5,
        ),
        ExerciseResult(
            SDPA,
            "Scaled dot-product attention",
            Status.FAIL,
            reason="1 of 4 checks fails",
            checks=[
                ok("shape"),
                CheckResult(
                    "matches reference",
                    Status.FAIL,
                    NASTY,
                    diagnosis="forgot the 1/sqrt(d_k) scale",
                    repro="q = torch.ones(1, 2, 4)\nattend(q, q, q)",
                ),
                ok("mask"),
                ok("grad"),
            ],
            diagnosis=["missing-scale"],
            seconds=1.25,
        ),
        ExerciseResult(
            ADDITIVE,
            "Additive attention",
            Status.ERROR,
            reason="ImportError: no module named x",
            output="Traceback\n\x1b[31mboom\x1b[0m",
            seconds=0.1,
        ),
        ExerciseResult(
            CAUSAL,
            "Causal mask",
            Status.TIMEOUT,
            reason="took longer than 10 s",
            checks=[
                CheckResult("shape", Status.PASS, seconds=0.25),
                CheckResult("big input", Status.TIMEOUT, "took longer than 10 s", seconds=10.5),
            ],
            seconds=11.0,
        ),
        ExerciseResult(
            PADDING, "Padding mask", Status.NOT_ATTEMPTED, reason="still raises NotImplementedError"
        ),
        ExerciseResult(
            MHA,
            "Multi-head attention",
            Status.BLOCKED,
            reason="needs attention.scaled_dot_product_attention, which fails",
        ),
        # does not pass although every check does: a forbidden call
        ExerciseResult(
            FORBIDDEN,
            "Sinusoidal encoding",
            Status.FAIL,
            reason="calls torch.nn.functional.softmax",
            checks=[ok("values"), ok("shape")],
        ),
        ExerciseResult(SCOPE, "Learned positions", Status.SKIPPED, reason="needs a GPU"),
    ]
    if questions is None:
        questions = [
            QuestionResult("d16-softmax-rows", 1, Answer.CORRECT, "right"),
            QuestionResult("d16-mha-params-bias", 3, Answer.WRONG, "that is one projection & <not> four"),
            QuestionResult("d16-scale", 2, Answer.UNREADABLE, "not a number: 'sqrt d'"),
            QuestionResult("d16-free", 4, Answer.SELF_RATED),
            QuestionResult("d16-later", 5, Answer.UNANSWERED),
        ]
    rubric = rate(D16, exercises, questions, {}, write=evidence_lines)
    return GradeReport(
        "day16",
        D16.title,
        "exercises",
        0,
        "quick",
        "cpu",
        D16.scale,
        exercises,
        rubric,
        seconds=3.5,
        version="0",
        questions=questions,
        verdict=verdict(D16, rubric, write=verdict_summary),
    )


@pytest.fixture(scope="module")
def report() -> GradeReport:
    return make_report()


@pytest.fixture(scope="module")
def junit(report, tmp_path_factory) -> JUnitXml:
    path = tmp_path_factory.mktemp("junit") / "report.xml"
    path.write_text(junit_xml(report), encoding="utf-8")
    return JUnitXml.fromfile(str(path))


def suites(xml: JUnitXml) -> dict:
    return {s.name: s for s in xml}


def outcome(case):
    """The (kind, message, text) of a testcase's outcome element, or None when it passes."""
    results = case.result
    assert len(results) <= 1
    if not results:
        return None
    r = results[0]
    kind = {Failure: "failure", Error: "error", Skipped: "skipped"}[type(r)]
    return kind, r.message, r.text


# --- JUnit ------------------------------------------------------------------------------------------


def test_junit_has_a_suite_per_exercise_and_one_for_the_questions_with_counts(junit, report):
    by_name = suites(junit)
    assert list(by_name) == [e.id for e in report.exercises] + ["checkpoint questions"]
    sdpa = by_name[SDPA]
    assert (sdpa.tests, sdpa.failures, sdpa.errors, sdpa.skipped) == (4, 1, 0, 0)
    assert sdpa.time == pytest.approx(1.25)
    causal = by_name[CAUSAL]
    assert (causal.tests, causal.failures, causal.errors, causal.skipped) == (2, 0, 1, 0)
    assert [c.name for c in sdpa] == ["shape", "matches reference", "mask", "grad"]
    assert {c.classname for c in sdpa} == {SDPA}
    # 3 + 4 + 1 + 2 + 1 + 1 + (2 checks + 1 for the exercise) + 1 = 16 exercise cases, 3 judged questions
    # a stub left as it is fails; blocked and skipped exercises are skipped
    assert (junit.tests, junit.failures, junit.errors, junit.skipped) == (19, 4, 3, 2)
    assert junit.time == pytest.approx(3.5)


def test_junit_testcases_carry_their_checks_time(junit):
    by_name = suites(junit)
    assert {c.name: c.time for c in by_name[CAUSAL]} == {
        "shape": pytest.approx(0.25),
        "big input": pytest.approx(10.5),
    }
    assert by_name[CAUSAL].time == pytest.approx(11.0)
    (additive,) = list(by_name[ADDITIVE])  # no checks: the exercise's own time
    assert additive.time == pytest.approx(0.1)


def test_junit_root_is_named_after_the_day(report):
    assert '<testsuites name="quiz grade day16"' in junit_xml(report)


def test_junit_failure_keeps_first_line_as_message_and_special_characters(junit):
    case = next(c for c in suites(junit)[SDPA] if c.name == "matches reference")
    kind, message, text = outcome(case)
    assert kind == "failure"
    assert message == "shapes differ: got <B, T> & \"expected\" '(B, T, T)'"
    assert NASTY in text
    assert "forgot the 1/sqrt(d_k) scale" in text
    assert "q = torch.ones(1, 2, 4)\nattend(q, q, q)" in text
    assert all(outcome(c) is None for c in suites(junit)[SDPA] if c.name != "matches reference")


def test_junit_exercises_without_checks_are_one_case_with_the_right_element(junit):
    by_name = suites(junit)
    expected = {ADDITIVE: "error", PADDING: "failure", MHA: "skipped", SCOPE: "skipped"}
    for ex_id, kind in expected.items():
        (case,) = list(by_name[ex_id])
        assert case.name == ex_id and case.classname == ex_id
        assert outcome(case)[0] == kind
    kind, message, _ = outcome(next(iter(by_name[PADDING])))
    assert message == "not attempted: still raises NotImplementedError"
    assert outcome(next(iter(by_name[MHA])))[1] == "needs attention.scaled_dot_product_attention, which fails"


def test_junit_timeout_is_an_error_and_failing_exercise_with_passing_checks_still_fails(junit):
    by_name = suites(junit)
    big = next(c for c in by_name[CAUSAL] if c.name == "big input")
    assert outcome(big)[:2] == ("error", "took longer than 10 s")
    cases = {c.name: outcome(c) for c in by_name[FORBIDDEN]}
    assert cases["values"] is None and cases[FORBIDDEN][:2] == (
        "failure",
        "calls torch.nn.functional.softmax",
    )


def test_junit_questions_suite_has_only_judged_questions(junit):
    cases = {c.name: outcome(c) for c in suites(junit)["checkpoint questions"]}
    assert set(cases) == {"d16-softmax-rows", "d16-mha-params-bias", "d16-scale"}
    assert cases["d16-softmax-rows"] is None
    assert cases["d16-mha-params-bias"][:2] == ("failure", "that is one projection & <not> four")
    assert cases["d16-scale"][:2] == ("error", "not a number: 'sqrt d'")


def test_junit_is_well_formed_even_with_terminal_escapes_in_output(report):
    # the ERROR exercise printed "\x1b[31m", which XML 1.0 cannot hold: a strict parser reads it
    root = ElementTree.fromstring(junit_xml(report).encode())
    out = root.find(f"testsuite[@name='{ADDITIVE}']/system-out")
    assert out is not None and out.text == "Traceback\n\ufffd[31mboom\ufffd[0m"


def test_junit_without_questions_has_no_questions_suite():
    xml = JUnitXml.fromstring(junit_xml(make_report(questions=[])))
    assert "checkpoint questions" not in suites(xml)


# --- Gradescope -------------------------------------------------------------------------------------

# Gradescope's autograder specifications: every key results.json may hold
TEST_KEYS = {
    "score",
    "max_score",
    "status",
    "name",
    "name_format",
    "number",
    "output",
    "output_format",
    "tags",
    "visibility",
    "extra_data",
}
TOP_KEYS = {
    "score",
    "max_score",
    "output",
    "output_format",
    "visibility",
    "stdout_visibility",
    "tests",
    "leaderboard",
    "execution_time",
    "extra_data",
}


def test_gradescope_has_documented_keys_and_types(report):
    data = gradescope_json(report)
    assert set(data) <= TOP_KEYS and data["output_format"] in ("text", "md")
    assert json.loads(json.dumps(data)) == data
    assert len(data["tests"]) == len(report.exercises) + 1  # and the checkpoint questions
    for t in data["tests"]:
        assert set(t) <= TEST_KEYS and t["output_format"] in ("text", "md")
        assert isinstance(t["score"], float) and isinstance(t["max_score"], float)
        assert isinstance(t["name"], str) and isinstance(t["number"], str) and isinstance(t["output"], str)
        assert t["status"] in ("passed", "failed") and t["visibility"] == "visible"
        assert 0 <= t["score"] <= t["max_score"]
    assert [t["status"] for t in data["tests"]] == ["passed"] + ["failed"] * 8
    assert [t["number"] for t in data["tests"]] == [str(i) for i in range(1, 10)]
    assert isinstance(data["execution_time"], float) and data["execution_time"] == 3.5
    assert data["extra_data"]["day"] == "day16"


def test_gradescope_checkpoint_questions_are_one_test(report):
    questions = gradescope_json(report)["tests"][-1]
    # 4 questions can be judged (one is rated by the learner): 1 right
    assert (questions["score"], questions["max_score"]) == (0.25, 1.0)
    assert questions["name"] == "day16: checkpoint questions" and questions["status"] == "failed"
    assert questions["output"].startswith("1/4 right")
    assert "d16-mha-params-bias: wrong: that is one projection" in questions["output"]
    assert "d16-later: unanswered" in questions["output"]
    worth = gradescope_json(report, questions_points=4)["tests"][-1]
    assert (worth["score"], worth["max_score"]) == (1.0, 4.0)


def test_gradescope_without_an_answers_file_scores_the_questions_0_when_asked_for():
    rep = make_report(questions=[])
    assert all("questions" not in t["name"] for t in gradescope_json(rep)["tests"])
    questions = gradescope_json(rep, asked=5)["tests"][-1]
    assert (questions["score"], questions["max_score"], questions["status"]) == (0.0, 1.0, "failed")
    assert "answers/day16.toml" in questions["output"]


def test_gradescope_hidden_tests(report):
    data = gradescope_json(report, visibility={SDPA: "hidden", "checkpoint questions": "after_published"})
    seen = {t["name"].split(":")[0]: t["visibility"] for t in data["tests"]}
    assert seen[SDPA] == "hidden" and seen["day16"] == "after_published" and seen[SOFTMAX] == "visible"


def test_gradescope_partial_credit_per_check(report):
    scores = [t["score"] for t in gradescope_json(report)["tests"]]
    # softmax 3/3, sdpa 3/4, additive error 0, causal 1/2, not attempted 0, blocked 0,
    # forbidden call 2 checks pass but the exercise fails: 2/3, skipped 0; to 2 decimals; the questions
    assert scores == [1.0, 0.75, 0.0, 0.5, 0.0, 0.0, 0.67, 0.0, 0.25]


def test_gradescope_custom_points_and_totals(report):
    data = gradescope_json(report, {SDPA: 4.0, CAUSAL: 3.0, SOFTMAX: 2.5})
    by_name = {t["name"].split(":")[0]: t for t in data["tests"]}
    assert by_name[SDPA]["max_score"] == 4.0 and by_name[SDPA]["score"] == 3.0
    assert by_name[CAUSAL]["score"] == 1.5 and by_name[SOFTMAX]["score"] == 2.5
    assert by_name[PADDING]["max_score"] == 1.0
    assert data["max_score"] == 4.0 + 3.0 + 2.5 + 5 * 1.0 + 1.0
    assert data["score"] == round(3.0 + 1.5 + 2.5 + 0.67 + 0.25, 2)
    assert data["score"] <= data["max_score"]


def test_gradescope_output_explains_failures_and_carries_the_verdict(report):
    data = gradescope_json(report)
    sdpa = data["tests"][1]["output"]
    assert "1 of 4 checks fails" in sdpa
    assert "matches reference: shapes differ: got <B, T>" in sdpa and "second line" not in sdpa
    assert "diagnosis: forgot the 1/sqrt(d_k) scale" in sdpa
    assert data["tests"][4]["output"].startswith("not attempted: still raises NotImplementedError")
    assert data["output"].startswith("quiz grade day16: 8 exercises")
    assert "1/3 checkpoint questions right" in data["output"]
    assert report.verdict.summary in data["output"]


def scored_report() -> GradeReport:
    """Three exercises that pass 2 of their 3 checks (0.67 each: 2.01 together, not 2), one blocked
    although 3 of its 4 checks pass, one worth 2 points that passes."""

    def two_of_three(last: Status = Status.FAIL) -> list[CheckResult]:
        return [ok("a"), ok("b"), CheckResult("c", last, "off")]

    exercises = [
        ExerciseResult(SOFTMAX, "Softmax", Status.FAIL, checks=two_of_three()),
        ExerciseResult(SDPA, "SDPA", Status.ERROR, checks=two_of_three(Status.ERROR)),
        ExerciseResult(ADDITIVE, "Additive", Status.TIMEOUT, checks=two_of_three(Status.TIMEOUT)),
        ExerciseResult(
            MHA,
            "MHA",
            Status.BLOCKED,
            reason="it depends on scaled_dot_product_attention (error)",
            checks=[ok("a"), ok("b"), ok("c"), CheckResult("d", Status.FAIL, "off")],
            points=2.0,
        ),
        ExerciseResult(CAUSAL, "Causal mask", Status.PASS, checks=[ok("a")], points=2.0),
    ]
    return GradeReport(
        "day16",
        D16.title,
        "exercises",
        0,
        "quick",
        "cpu",
        D16.scale,
        exercises,
        rate(D16, exercises, [], {}, write=evidence_lines),
        seconds=1.0,
        version="0",
    )


def test_every_output_scores_by_one_rule_and_totals_the_rounded_parts():
    """A blocked exercise scores 0 (its points come back once what it builds on passes), whatever its
    own checks did; scores are rounded to 2 decimals and a total is the sum of the parts as shown."""
    rep = scored_report()
    expected = [0.67, 0.67, 0.67, 0.0, 2.0]
    data = gradescope_json(rep)
    assert [t["score"] for t in data["tests"]] == expected
    assert (data["score"], data["max_score"]) == (4.01, 7.0)

    results = rep.to_dict()
    assert [e["score"] for e in results["exercises"]] == expected
    assert (results["score"], results["max_score"]) == (4.01, 7.0)

    root = ElementTree.fromstring(junit_xml(rep).encode())
    props = {s.get("name"): {p.get("name"): p.get("value") for p in s.iter("property")} for s in root}
    assert props[MHA] == {"score": "0", "max_score": "2"} and props[SOFTMAX] == {
        "score": "0.67",
        "max_score": "1",
    }

    summary = step_summary(rep)
    assert "| `multihead.MultiHeadAttention` | blocked | 3/4 | 0/2 |" in summary
    assert "| **total** | | | **4.01/7** |" in summary

    out = io.StringIO()
    Console(file=out, width=200, no_color=True).print(render(rep))
    lines = out.getvalue().splitlines()
    assert any("multihead.MultiHeadAttention" in line and " 0/2 " in line for line in lines)
    assert any("attention.softmax" in line and " 0.67/1 " in line for line in lines)
    assert "4.01/7 points" in out.getvalue()


# --- GitHub annotations -----------------------------------------------------------------------------


STUB = '''"""Attention."""

import torch


def softmax(x):
    raise NotImplementedError


def scaled_dot_product_attention(q, k, v, mask=None):
    return q
'''


def test_annotations_point_at_the_stub_file_and_line(tmp_path, monkeypatch):
    (tmp_path / "exercises" / "day16").mkdir(parents=True)
    (tmp_path / "exercises" / "day16" / "attention.py").write_text(STUB)
    monkeypatch.chdir(tmp_path)
    lines = github_annotations(make_report(), "exercises")
    by_file = {line.split("file=")[1].split(",")[0]: line for line in lines}
    sdpa = next(line for line in lines if "scaled_dot_product_attention%3A fail" in line)
    assert sdpa.startswith("::error file=exercises/day16/attention.py,line=10,title=")
    additive = next(line for line in lines if "additive_attention" in line)
    assert ",line=1," in additive  # no such function in the file: line 1
    assert "exercises/day16/masks.py" in by_file  # no such file: still named, line 1
    assert ",line=1," in by_file["exercises/day16/masks.py"]


def test_annotation_levels_one_per_exercise_that_does_not_pass(tmp_path):
    lines = github_annotations(make_report(), str(tmp_path))
    levels = [line.split(" ", 1)[0] for line in lines]
    # sdpa, additive, causal, padding, mha, forbidden, skipped; softmax passes
    assert levels == ["::error", "::error", "::error", "::warning", "::warning", "::error", "::notice"]


def test_annotation_escaping_of_message_and_properties(tmp_path):
    rep = make_report()
    rep.exercises[1].reason = "50% off: a, b\r\nnext"
    line = github_annotations(rep, "ws,odd:root")[0]
    props, message = line.removeprefix("::error ").split("::", 1)
    assert props.startswith("file=ws%2Codd%3Aroot/day16/attention.py,line=1,")
    assert props.endswith("title=attention.scaled_dot_product_attention%3A fail")
    assert message.startswith("fail: 50%25 off: a, b%0D%0Anext%0A- matches reference: shapes differ")
    assert "\n" not in line and "\r" not in line
    assert "diagnosis: forgot the 1/sqrt(d_k) scale" in message


# --- step summary -----------------------------------------------------------------------------------


def test_step_summary_table_and_verdict(report):
    text = step_summary(report)
    assert text.startswith("## quiz grade day16: ❌")
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| `")]
    cells = {r[0].strip().strip("`"): (r[1].strip(), r[2].strip()) for r in rows}
    assert len(rows) == len(report.exercises)
    assert cells["attention.softmax"] == ("pass", "3/3")
    assert cells["attention.scaled_dot_product_attention"] == ("fail", "3/4")
    assert cells["masks.padding_mask"] == ("not attempted", "–")
    assert cells["multihead.MultiHeadAttention"] == ("blocked", "–")
    assert f"**Verdict: {report.verdict.decision.replace('_', ' ')}.** {report.verdict.summary}" in text
    assert "Checkpoint questions: 1/3 right." in text


def test_step_summary_says_passed_when_everything_passes():
    rep = make_report(questions=[])
    rep.exercises = rep.exercises[:1]
    assert step_summary(rep).startswith("## quiz grade day16: ✅ passed")


# --- JSON -------------------------------------------------------------------------------------------


def test_the_json_results_are_strict_json_whatever_the_numbers():
    rep = make_report()
    rep.exercises[0].checks[0].figures = {
        "growth_exponent": math.nan,
        "speedup": {64: math.inf},
        "ms": [-math.inf],
    }
    rep.questions[0].given = math.nan
    text = json.dumps(rep.to_dict(), allow_nan=False)
    data = json.loads(text)
    assert data["exercises"][0]["checks"][0]["figures"] == {
        "growth_exponent": "NaN",
        "speedup": {"64": "inf"},
        "ms": ["-inf"],
    }
    assert data["questions"][0]["given"] == "NaN"
