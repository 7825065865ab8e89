"""Reports that read well anywhere: the smallest failing example saved as a script in the workspace,
a line per exercise as it finishes when the output is not a terminal, and a summary that says no
more than was judged."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from quizgrader import cli
from quizgrader.analysis import diagnosis
from quizgrader.catalog import load_day
from quizgrader.grade import all_checks
from quizgrader.paths import reference_root
from quizgrader.report.terminal import answered, summary
from quizgrader.results import Answer, GradeReport, QuestionResult, RubricRating

REPRO = Path(".quiz") / "repro" / "day16.attention.softmax.py"


def quiz(*args: str):
    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "200"})


def wrong_softmax(tmp_path: Path) -> Path:
    mistake = next(m for m in diagnosis.mistakes("day16") if m.id == "softmax-normalise-all")
    return diagnosis.materialize(mistake, tmp_path / "ws")


def test_the_smallest_failing_example_is_saved_named_and_removed_once_it_passes(tmp_path, monkeypatch):
    ws = wrong_softmax(tmp_path)
    monkeypatch.chdir(tmp_path)
    run = quiz("grade", "day16", "--workspace", "ws", "--only", "softmax", "--profile", "quick")
    assert run.exit_code == 1, run.output
    saved = ws / REPRO
    assert saved.is_file()
    compile(saved.read_text(), str(saved), "exec")
    assert f"python {Path('ws') / REPRO}" in run.output
    shutil.copy(reference_root() / "day16" / "attention.py", ws / "day16" / "attention.py")
    run = quiz("grade", "day16", "--workspace", "ws", "--only", "softmax", "--profile", "quick")
    assert run.exit_code == 0, run.output
    assert not saved.exists() and str(REPRO) not in run.output


def test_a_repro_folder_planted_as_a_link_costs_a_warning_never_the_report(tmp_path, monkeypatch):
    ws = wrong_softmax(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "day16.attention.softmax.py").write_text("kept\n")
    (ws / ".quiz").mkdir(exist_ok=True)
    (ws / ".quiz" / "repro").symlink_to(outside)
    monkeypatch.chdir(tmp_path)
    run = quiz("grade", "day16", "--workspace", "ws", "--only", "softmax", "--profile", "quick")
    assert run.exit_code == 1, run.output
    assert "warning: a smallest failing example was not saved" in run.output
    assert "smallest failing example (run it from your workspace)" in run.output  # the report all the same
    assert (outside / "day16.attention.softmax.py").read_text() == "kept\n"
    assert [p.name for p in outside.iterdir()] == ["day16.attention.softmax.py"]


def test_not_on_a_terminal_a_line_per_exercise_comes_as_each_finishes(tmp_path, monkeypatch):
    ws = wrong_softmax(tmp_path)
    monkeypatch.chdir(tmp_path)
    run = quiz(
        "grade", "day16", "--workspace", str(ws), "--only", "softmax,causal_mask", "--profile", "quick"
    )
    lines = run.output.splitlines()
    first = next(
        i for i, line in enumerate(lines) if line.startswith("[1/2] day16.attention.softmax  fail  (")
    )
    n = len(all_checks(load_day("day16").exercise("causal_mask")))
    assert lines[first + 1].startswith(f"[2/2] day16.masks.causal_mask  pass  ({n}/{n} checks, ")
    assert "day16: Do you really understand attention?" in "\n".join(
        lines[first + 2 :]
    )  # the report after them


def test_the_markdown_source_on_stdout_carries_no_progress_line(tmp_path):
    run = CliRunner().invoke(
        cli.app, ["report", "day16", "--workspace", str(reference_root()), "--profile", "quick", "--markdown"]
    )
    assert run.exit_code == 0, run.stdout + run.stderr
    assert run.stdout.startswith("# ") and "[1/17]" not in run.stdout
    assert "[17/17] " in run.stderr


def _q(outcome: Answer, row: int = 1) -> QuestionResult:
    return QuestionResult(f"q-{outcome}-{row}", row, outcome)


def test_the_counts_say_what_was_judged_and_self_ratings_only_when_given():
    questions = [_q(Answer.CORRECT)] * 14 + [_q(Answer.UNANSWERED)] * 58 + [_q(Answer.SELF_RATED, 2)] * 3
    assert answered(questions, set()) == (
        "14 of 14 answered are right; 58 questions unanswered; 3 free-form not rated yet"
    )
    assert answered(questions, {2}).endswith("58 questions unanswered; 3 free-form self-rated")
    assert answered([_q(Answer.CORRECT), _q(Answer.WRONG)], set()) == "1 of 2 answered are right, 1 wrong"


def test_the_summary_of_a_passing_run_does_not_claim_unanswered_questions_are_right():
    questions = [_q(Answer.CORRECT)] * 2 + [_q(Answer.UNANSWERED)] * 5 + [_q(Answer.SELF_RATED)]
    report = GradeReport(
        day="day09",
        title="t",
        workspace=".",
        seed=0,
        profile="quick",
        device="cpu",
        scale=("✅ Solid", "⚠️ Shaky", "❌ Need to re-study"),
        exercises=[],
        rubric=[RubricRating(1, "area", None)],
        questions=questions,
    )
    assert report.passed
    text = summary(report).plain
    assert "every answer" not in text and "self rated" not in text
    assert "2 of 2 answered are right; 5 questions unanswered; 1 free-form not rated yet" in text
