"""`quiz init`: a fresh workspace with the pristine stubs, answers templates that list every
question, a CI workflow on request, and never a file overwritten."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from quizgrader import __version__
from quizgrader.catalog import day_ids, load_day
from quizgrader.init import answers_template
from quizgrader.questions import load_bank
from quizgrader.questions.answers import judge_all, read_answers
from quizgrader.results import Answer

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


def quiz(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "quizgrader", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def grade_quickly(ws: Path, only: str, *options: str) -> subprocess.CompletedProcess:
    """`quiz grade day16` on `ws`, the exercises `only`, in the quick profile."""
    return quiz("grade", "day16", "--workspace", str(ws), "--only", only, "--profile", "quick", *options)


def test_init_makes_a_workspace_that_grades_as_not_attempted(tmp_path):
    ws = tmp_path / "ws"
    run = quiz("init", str(ws), "--ci", "github", "--grader", "git+https://example.org/quizgrader.git")
    assert run.returncode == 0, run.stderr
    for day in day_ids():
        for stub in (ROOT / "exercises" / day).glob("*.py"):
            assert (ws / day / stub.name).read_bytes() == stub.read_bytes()
    workflow = (ws / ".github" / "workflows" / "quiz.yml").read_text()
    assert "run: pip install git+https://example.org/quizgrader.git\n" in workflow
    assert not (ws / "grader").exists(), "a grader named with --grader needs no wheel in the workspace"
    assert "quiz grade ${{ matrix.day }} --ci --untouched report --junit" in workflow
    assert ".quiz/" in (ws / ".gitignore").read_text()
    assert f'grader = "{__version__}"' in (ws / "quiz.toml").read_text()
    graded = grade_quickly(ws, "softmax,causal_mask", "--json", str(tmp_path / "r.json"))
    assert graded.returncode == 1 and "not attempted" in graded.stdout and "not started" not in graded.stdout
    reported = grade_quickly(ws, "softmax,causal_mask", "--untouched", "report")
    assert reported.returncode == 0 and "day16: not started" in reported.stdout, reported.stdout


def test_a_day_with_one_answer_given_is_started_and_untouched_report_does_not_hide_it(tmp_path):
    ws = tmp_path / "ws"
    assert quiz("init", str(ws)).returncode == 0
    bank = load_bank("day16")
    q = next(q for q in bank.questions if q.kind == "number")
    answers = ws / "answers" / "day16.toml"
    answers.write_text(answers.read_text().replace(f"# {q.id} = ", f"{q.id} = 123456789"))
    graded = grade_quickly(ws, "softmax", "--untouched", "report")
    assert graded.returncode == 1 and "not started" not in graded.stdout, graded.stdout


@pytest.mark.parametrize(
    "content, said",
    [
        ('[workspace]\ngrader = "0.0.9"\n', "made for quizgrader 0.0.9, and this is"),
        ("[workspace]\ngrader = " + "[" * 5_000 + "\n", "quiz.toml cannot be read (RecursionError"),
        ("[workspace]\ngrader = " + "[" * 100_000 + "\n", "quiz.toml is larger than 64 KiB; it was not read"),
        ("grader = 3\n", "quiz.toml cannot be read"),
    ],
)
def test_a_workspace_made_for_another_grader_version_is_said_and_still_graded(tmp_path, content, said):
    ws = tmp_path / "ws"
    assert quiz("init", str(ws)).returncode == 0
    (ws / "quiz.toml").write_text(content)
    graded = grade_quickly(ws, "softmax", "--json", str(tmp_path / "r.json"))
    assert said in " ".join(graded.stdout.split()), graded.stdout
    assert graded.returncode == 1 and (tmp_path / "r.json").is_file()


def test_the_answers_template_lists_every_question_and_reads_as_empty(tmp_path):
    for day in day_ids():
        text = answers_template(day)
        bank = load_bank(day)
        for q in bank.questions:
            assert text.count(f"# {q.id} = ") == (1 if q.checkable else 0), q.id
        path = tmp_path / f"{day}.toml"
        path.write_text(text)
        answers = read_answers(path, bank, load_day(day).scale)
        assert answers.answers == {} and answers.ratings == {}


def test_uncommenting_a_template_line_answers_that_question(tmp_path):
    bank = load_bank("day16")
    q = next(q for q in bank.questions if q.kind == "number")
    path = tmp_path / "day16.toml"
    path.write_text(answers_template("day16").replace(f"# {q.id} = ", f"{q.id} = {q.answer}"))
    results = {r.id: r for r in judge_all(bank, read_answers(path, bank, load_day("day16").scale))}
    assert results[q.id].outcome is Answer.CORRECT


def test_init_never_overwrites_and_writes_nothing_when_it_refuses(tmp_path):
    ws = tmp_path / "ws"
    (ws / "day16").mkdir(parents=True)
    mine = ws / "day16" / "attention.py"
    mine.write_text("# my solution\n")
    run = quiz("init", str(ws))
    assert run.returncode == 2 and "day16/attention.py" in run.stderr and "nothing was written" in run.stderr
    assert mine.read_text() == "# my solution\n"
    assert sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*")) == ["day16", "day16/attention.py"]
