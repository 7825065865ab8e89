"""Answers that cannot fool or crash the grader: numbers as people write them (a decimal comma,
thousands separators), expressions read without running them and bounded in size and time, and
answers files of any content, each reported with what is wrong while the exercises are graded all
the same; `quiz answer` keeps every answer as it is given."""

from __future__ import annotations

import builtins
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quizgrader import cli
from quizgrader.catalog import load_day
from quizgrader.grade import Options, grade, judge_answers
from quizgrader.questions import AnswerError, Question, expression, judge, load_bank, number
from quizgrader.results import Answer

ROOT = Path(__file__).resolve().parents[1]
DAY16 = load_day("day16")
BANK = {q.id: q for q in load_bank("day16").questions}
WEIGHT = BANK["d16-bahdanau-weight"]  # a number: 0.665
PARAMS = BANK["d16-mha-params-512"]  # a number: 1050624
FFN = BANK["d16-ffn-params"]  # an expression in d: 8*d**2 + 5*d
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "QUIZ_HISTORY": "off"}


def quiz_answer(ws: Path, *args: str, text: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "quizgrader", "answer", "day16", "--workspace", str(ws), *args],
        cwd=ROOT,
        env=ENV,
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- numbers as people write them ----------------------------------------------------------------
@pytest.mark.parametrize(
    "text, value",
    [
        ("0,665", 0.665),
        ("-0,665", -0.665),
        ("2,25", 2.25),
        (",5", 0.5),
        ("0,050", 0.05),
        ("1,050,624", 1050624),
        ("1.050.624", 1050624),
        ("15 000 000", 15_000_000),
        ("1 050 624", 1050624),
        ("1\u00a0050\u00a0624", 1050624),
        ("1\u202f050\u202f624", 1050624),
        ("1'050'624", 1050624),
        ("1.050.624,5", 1050624.5),
        ("1,050,624.5", 1050624.5),
        ("1 050,5", 1050.5),
        ("6,99e-4", 6.99e-4),
        ("6.99 × 10^-4", 6.99e-4),
        ("6.99·10⁻⁴", 6.99e-4),
        ("+1,050,624", 1050624),
        ("−0.5", -0.5),
    ],
)
def test_numbers_are_read_as_people_write_them(text, value):
    assert number(text) == pytest.approx(value, rel=1e-12)


def test_the_issue_s_answers_are_judged_right():
    assert judge(WEIGHT, "0,665").correct
    assert judge(PARAMS, "1,050,624").correct and judge(PARAMS, "1 050 624").correct
    assert judge(BANK["d16-ffn-params-512"], "2\u202f099\u202f712").correct
    assert judge(load_bank("day09").question("d09-embedding-params"), "15 000 000").correct


@pytest.mark.parametrize(
    "text, readings",
    [("1,050", ("1.05", "1050")), ("-2,500", ("-2.5", "-2500")), ("3,000e3", ("3e3", "3000e3"))],
)
def test_a_comma_before_three_digits_is_never_guessed(text, readings):
    with pytest.raises(AnswerError, match=f"did you mean {readings[0]} or {readings[1]}") as e:
        number(text)
    assert e.value.readings == readings


@pytest.mark.parametrize(
    "text, why",
    [
        ("1,05,0", "digits after a thousands separator come in threes"),
        ("12,34,567", "come in threes"),
        ("1,050 624", "mixes separators"),
        ("1, 5", "two separators side by side"),
        ("66.5%", "without '%': the question says the unit"),
        ("0.5 MiB", "without 'MiB'"),
        ("1e400", "too large"),
        ("nan", "not a finite number"),
        ("-inf", "not a finite number"),
        ("1/0", "division by zero"),
        ("sqrt(1, 2)", "sqrt takes one value, not 2"),
    ],
)
def test_numbers_that_cannot_be_read_say_why(text, why):
    with pytest.raises(AnswerError, match=why):
        number(text)


# -- expressions: read safely, bounded -------------------------------------------------------------
@pytest.mark.parametrize(
    "text, why",
    [
        ("8*d**2, 5*d", "two expressions separated by a comma: give one"),
        ("(8*d**2, 5*d)", "two expressions separated by a comma"),
        ("0,5*d", "a decimal comma\\? in an expression write 0.5"),
        ("8 000*d", "two numbers side by side"),
        ("sqrt", "cannot read 'sqrt' as an expression"),
        ("((d)", "the parentheses do not match"),
        ("d^^2", "incomplete, or operators out of place"),
    ],
)
def test_a_malformed_expression_is_named_never_a_crash(text, why):
    with pytest.raises(AnswerError, match=why):
        judge(FFN, text)


def test_an_expression_never_reaches_eval(tmp_path, monkeypatch):
    canary = tmp_path / "ran"

    def no_eval(*args, **kwargs):
        raise AssertionError("eval was called")

    monkeypatch.setattr(builtins, "eval", no_eval)
    assert judge(FFN, "8d^2 + 5d").correct and judge(FFN, "d(8d + 5)").correct
    for text, why in [
        (f"__import__('os').system('touch {canary}')", "has no place in an answer"),
        ("E.n", "'.' here is not part of a number"),
        ("d.__class__", "unknown name '__class__'"),
    ]:
        q = Question("q", 1, "expression", "p", answer="n**2", symbols=("n", "d"))
        with pytest.raises(AnswerError, match=why):
            judge(q, text)
    assert not canary.exists()


@pytest.mark.parametrize(
    "text, why",
    [
        ("10**10**10", "exponent here is at most 256"),
        ("9**9**9**9", "at most 256"),
        ("((2**200)**200)**200", "a number of about 2,408,360 digits"),
        ("(2**200)**200", "too large to judge"),
        ("2**(1/10**6)", "at most 256"),
        ("exp(exp(exp(10)))", "exp of more than 921"),
        ("1e99999999", "too large or too small"),
        ("9" * 301, "at most 300"),
    ],
)
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


def test_an_answer_too_slow_to_compare_is_unreadable_not_wrong(monkeypatch):
    from quizgrader.questions import reading

    monkeypatch.setattr(reading, "SECONDS", 0.3)
    with pytest.raises(AnswerError, match="took more than 0.3 s; write it more simply"):
        judge(FFN, "d**d**d**d")  # sympy's simplify would take many seconds


# -- answers files of any content -----------------------------------------------------------------
def workspace(tmp_path: Path, content: bytes | str | None = None) -> Path:
    (tmp_path / "answers").mkdir()
    if content is not None:
        path = tmp_path / "answers" / "day16.toml"
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return tmp_path


DEEP = 100_000
FILE_ERRORS = {
    "arrays 100,000 deep": (
        f"[answers]\nd16-bahdanau-weight = {'[' * DEEP}{']' * DEEP}\n",
        "brackets nested more than 10 deep, at line 2, column 33",
    ),
    "inline tables 100,000 deep": (
        f"[answers]\nd16-bahdanau-weight = {'{a = ' * DEEP}1{'}' * DEEP}\n",
        "nested more than 10 deep, at line 2",
    ),
    "a key of 100,000 dotted parts": (
        f"[answers]\nd16-bahdanau-weight{'.a' * DEEP} = 1\n",
        "line 2 has more than 100 dots outside quotes",
    ),
    "answers as a text": (
        'answers = "oops"\n',
        "answers is a text ('oops'), not a table: write a line [answers]",
    ),
    "answers as a list": ("answers = [0.665, 64]\n", "answers is a list ([0.665, 64]), not a table"),
    "answers as tables": ("[[answers]]\nd16-bahdanau-weight = 0.665\n", "answers is a list"),
    "ratings as a number": ("ratings = 3\n", "ratings is a whole number (3), not a table"),
    "an unknown section": ("[answer]\nx = 1\n", "unknown section(s) 'answer'"),
    "a duplicate id": (
        "[answers]\nd16-mha-dk-per-head = 64\nd16-mha-dk-per-head = 8\n",
        ("line 3, column 24", "given twice: keep one"),
    ),
    "an unterminated string": (
        '[answers]\nd16-mha-params-bias = "4*d**2\n',
        ("line 2, column 30", "Illegal character"),
    ),
    "a duplicate section": ("[answers]\n[ratings]\n[answers]\n", "appears twice: merge them"),
    "an unquoted decimal comma": (
        "[answers]\nd16-bahdanau-weight = 0,665\n",
        ("line 2, column 24", 'in quotes: d16-bahdanau-weight = "0,665"'),
    ),
    "invalid UTF-8": (
        b'[answers]\nd16-mha-dk-per-head = "\xff"\n',
        "not UTF-8 text: byte 0xff at line 2, column 24",
    ),
    "an integer of 5,000 digits": (
        f"[answers]\nd16-mha-dk-per-head = {'9' * 5000}\n",
        "a value TOML cannot be read into: Exceeds the limit",
    ),
    "a fullwidth rating row": ('[ratings]\n"３" = "Shaky"\n', "keys are rubric row numbers, not '３'"),
}


@pytest.mark.parametrize("case", FILE_ERRORS)
def test_an_answers_file_that_cannot_be_used_says_what_is_wrong(tmp_path, case):
    content, why = FILE_ERRORS[case]
    file, error, questions, ratings = judge_answers(DAY16, workspace(tmp_path, content))
    assert file == str(tmp_path / "answers" / "day16.toml") and (questions, ratings) == ([], {})
    assert error is not None and str(tmp_path) in error
    assert all(part in error for part in ((why,) if isinstance(why, str) else why)), error
    assert "in quotes" not in error or "0,665" in error, "a hint only where the line shows the slip it names"


def test_a_50_mb_file_is_refused_without_being_read(tmp_path):
    import tracemalloc

    ws = workspace(tmp_path, "")
    with open(ws / "answers" / "day16.toml", "r+b") as f:
        f.truncate(50 * 2**20)  # sparse: 50 MiB long, nothing written
    tracemalloc.start()
    try:
        _, error, _, _ = judge_answers(DAY16, ws)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "is 50.0 MiB; an answers file is at most 1 MiB" in error and peak < 8 * 2**20  # not read: 50 MiB


def test_a_folder_a_fifo_a_broken_link_and_an_unreadable_file_are_reported(tmp_path, monkeypatch):
    path = workspace(tmp_path) / "answers" / "day16.toml"
    path.mkdir()
    assert "is a folder; the answers go in a file of that name" in judge_answers(DAY16, tmp_path)[1]
    path.rmdir()
    os.mkfifo(path)  # opening a FIFO for reading would wait for a writer
    assert "is not a regular file" in judge_answers(DAY16, tmp_path)[1]
    path.unlink()
    path.symlink_to(tmp_path / "nowhere.toml")
    assert "cannot be read: No such file or directory" in judge_answers(DAY16, tmp_path)[1]
    path.unlink()
    path.write_text("[answers]\n")
    real_open = os.open

    def refused(p, *args, **kwargs):
        if Path(p) == path:
            raise PermissionError(13, "Permission denied", str(p))
        return real_open(p, *args, **kwargs)

    monkeypatch.setattr(os, "open", refused)  # as chmod 000 does, for a user other than root
    assert "cannot be read: Permission denied" in judge_answers(DAY16, tmp_path)[1]


def test_an_empty_file_and_a_byte_order_mark_are_fine(tmp_path):
    _, error, questions, _ = judge_answers(DAY16, workspace(tmp_path, ""))
    assert error is None and {q.outcome for q in questions} == {Answer.UNANSWERED, Answer.SELF_RATED}
    (tmp_path / "answers" / "day16.toml").write_text("\ufeff[answers]\nd16-mha-dk-per-head = 64\n")
    _, error, questions, _ = judge_answers(DAY16, tmp_path)
    assert (
        error is None
        and next(q for q in questions if q.id == "d16-mha-dk-per-head").outcome is Answer.CORRECT
    )


ODD_ANSWERS = {  # question id: (the answer in TOML, what the feedback says)
    "d16-bahdanau-weight": ("true", "true/false is not an answer to this question: give one number"),
    "d16-mha-params-512": ("1979-05-27", "a date is not an answer"),
    "d16-mha-dk-per-head": ("1979-05-27T07:32:00", "a date and time is not an answer"),
    "d16-ffn-params-512": ("07:32:00", "a time of day is not an answer"),
    "d16-sdpa-softmax-small": ("nan", "nan is not an answer"),
    "d16-pe-pos1-dim0": ("inf", "inf is not an answer"),
    "d16-pe-pos1-dim1": ("[0.54, 0.55]", "a list is not an answer to this question: give one number"),
    "d16-alibi-bias": ("{ value = -1.5 }", "a table is not an answer"),
    "d16-noam-peak": ("{ a = { b = { c = 1 } } }", "a table is not an answer"),
    "d16-noam-decay": (str(10**400), "too large to judge as a number"),
    "d16-mha-params-bias": ('"8*d**2, 5*d"', "two expressions separated by a comma"),
    "d16-ffn-params": ('["8*d**2", "5*d"]', "a list is not an answer to this question: give one expression"),
    "d16-preln-order": ('["LayerNorm 1", { a = 1 }]', "item 2 of the list is a table"),
    "d16-data-flow-order": (json.dumps(["x"] * 100), "a list of 100 items"),
    "d16-bahdanau-energy": ("3.5", "'3.5' is not one of the choices"),
    "d16-bahdanau-context": (
        json.dumps("a" * 100_000),
        "100,000 characters long; an answer here has at most 300",
    ),
    "d16-label-smoothing-true": ('"1,050"', "did you mean 1.05 or 1050"),
    "d16-score-memory-512": ('"0,5"', None),  # right: a decimal comma
    "d16-score-memory-ratio": ('"1\u202f6"', "come in threes"),
}


def test_odd_answers_are_each_reported_and_the_rest_judged(tmp_path):
    lines = ["[answers]"] + [f"{qid} = {toml}" for qid, (toml, _) in ODD_ANSWERS.items()]
    _, error, questions, _ = judge_answers(DAY16, workspace(tmp_path, "\n".join(lines) + "\n"))
    assert error is None
    by_id = {q.id: q for q in questions}
    for qid, (_, why) in ODD_ANSWERS.items():
        if why is None:
            assert by_id[qid].outcome is Answer.CORRECT
        else:
            assert by_id[qid].outcome is Answer.UNREADABLE and why in by_id[qid].feedback, (
                qid,
                by_id[qid].feedback,
            )
    # what the report keeps of each answer is plain JSON: no NaN, no dates, nothing unbounded
    given = json.dumps([q.given for q in questions], allow_nan=False)
    assert "1979-05-27T07:32:00" in given and len(given) < 10_000
    assert by_id["d16-sdpa-softmax-small"].given == "nan"


def test_a_full_run_with_a_file_nested_100000_deep_still_grades_and_reports(tmp_path, zygote):
    from rich.console import Console

    from quizgrader.report import ci
    from quizgrader.report.terminal import render

    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__"))
    workspace(ws, FILE_ERRORS["arrays 100,000 deep"][0])
    report = grade("day16", Options(workspace=ws, only=["softmax"], profile="quick"), zygote=zygote)
    assert [e.status.value for e in report.exercises] == ["pass"] and not report.passed
    assert "nested more than 10 deep" in report.answers_error
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(render(report))
    shown = " ".join(console.export_text().replace("│", " ").split())  # as read, whatever the wrapping
    assert "checkpoint answers: not used" in shown and "brackets nested more than 10 deep, at line 2" in shown
    assert json.loads(json.dumps(report.to_dict(), allow_nan=False))["answers_error"] == report.answers_error
    assert "answers file" in ci.junit_xml(report) and "nested more than 10 deep" in ci.junit_xml(report)
    assert ci.gradescope_json(report)["score"] == 1.0


def test_grade_batch_grades_a_submission_with_a_decimal_comma(tmp_path):
    sub = tmp_path / "subs" / "learner"
    shutil.copytree(ROOT / "reference" / "day16", sub / "day16", ignore=shutil.ignore_patterns("__pycache__"))
    workspace(
        sub,
        '[answers]\nd16-bahdanau-weight = "0,665"\nd16-mha-params-512 = "1 050 624"\n'
        'd16-mha-dk-per-head = "1,050"\nd16-ffn-params = "8*d**2, 5*d"\n'
        'd16-noam-peak = "10**10**10"\n',
    )
    out = tmp_path / "grades"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "quizgrader",
            "grade-batch",
            str(tmp_path / "subs"),
            "--day",
            "day16",
            "--only",
            "attention.softmax",
            "--profile",
            "quick",
            "--out",
            str(out),
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    row = next(csv.DictReader((out / "gradebook.csv").open(encoding="utf-8")))
    assert (row["state"], row["score"], row["questions_right"]) == ("graded", "1.0", "2")
    results = json.loads((out / "learner.json").read_text())
    outcomes = {q["id"]: q["outcome"] for q in results["questions"] if q["outcome"] != "unanswered"}
    assert outcomes == {
        "d16-bahdanau-weight": "correct",
        "d16-mha-params-512": "correct",
        "d16-mha-dk-per-head": "unreadable",
        "d16-ffn-params": "unreadable",
        "d16-noam-peak": "unreadable",
        **{q: "self_rated" for q in outcomes if "-self-" in q},
    }
    report = (out / "learner.txt").read_text()
    assert "did you mean 1.05 or 1050?" in report and "two expressions separated by a comma" in report


# -- quiz answer: each answer kept as it is given -----------------------------------------------------
def test_quiz_answer_saves_each_answer_as_it_is_given_and_asks_again_when_one_is_ambiguous(tmp_path):
    row1 = [q for q in load_bank("day16").questions if q.row == 1 and q.checkable]
    path = workspace(tmp_path, "# my notes\n") / "answers" / "day16.toml"
    log = tmp_path / "out.txt"
    typed = ["" for _ in row1[: row1.index(WEIGHT)]] + ["1,050", "0,665"]  # skip the questions before it
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "quizgrader",
                "answer",
                "day16",
                "--workspace",
                str(tmp_path),
                "--row",
                "1",
            ],
            cwd=ROOT,
            env=ENV,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        proc.stdin.write("\n".join(typed) + "\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        while f"question {row1.index(WEIGHT) + 2}/" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.kill()  # a crash, or the terminal closed: no chance to save at the end
        proc.wait(timeout=30)
    shown = log.read_text()
    assert "did you mean 1.05 or 1050?" in shown and "try again" in shown and "✔ right" in shown, shown
    text = path.read_text()
    assert text.startswith("# my notes\n") and tomllib.loads(text)["answers"] == {WEIGHT.id: 0.665}
    assert sorted(p.name for p in path.parent.iterdir()) == ["day16.toml"], "no half-written file left"
    # a second session saves twice; each session backs up the file as it was before it, once
    first, second = [q for q in load_bank("day16").questions if q.row == 3 and q.checkable][:2]
    again = quiz_answer(tmp_path, "--row", "3", text=f"{first.answer}\n{second.answer}\nq\n")
    assert again.returncode == 0, again.stdout + again.stderr
    assert tomllib.loads(path.read_text())["answers"] == {
        WEIGHT.id: 0.665,
        first.id: first.answer,
        second.id: second.answer,
    }
    assert sorted(b.read_text() for b in (tmp_path / ".quiz" / "backups").iterdir()) == ["# my notes\n", text]


def test_quiz_answer_refuses_a_folder_in_place_of_the_file_before_asking(tmp_path):
    (workspace(tmp_path) / "answers" / "day16.toml").mkdir()
    run = CliRunner().invoke(cli.app, ["answer", "day16", "--workspace", str(tmp_path)], input="64\n")
    assert run.exit_code == 2 and "is a folder" in run.output and "question 1" not in run.output
