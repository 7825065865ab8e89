"""`quiz solution`: the reference is shown only once the learner's exercise passes, or with --force,
which the workspace's history records."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quizgrader import cli, restore
from quizgrader.analysis import diagnosis
from quizgrader.catalog import load_day
from quizgrader.history import MIGRATIONS, SCHEMA_VERSION, History, Reveal
from quizgrader.paths import exercises_root, reference_root

SOFTMAX = load_day("day16").exercise("attention.softmax")
# A line only the reference's softmax has: seeing it means the solution was shown.
SOLUTION_LINE = "exps = torch.exp(shifted)"


def squash(text: str) -> str:
    return "".join(text.split())


def quiz(*args: str):
    # wide enough that no line of a solution is cut, whatever width an earlier test left the console at
    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "200"})


@pytest.fixture
def history(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "history.sqlite3"
    monkeypatch.setenv("QUIZ_HISTORY", str(path))
    return path


def reveals(path: Path) -> list[Reveal]:
    with History(path) as h:
        return h.reveals()


def workspace_from(root: Path, dest: Path) -> Path:
    shutil.copytree(root, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_refused_on_an_untouched_stub(tmp_path, history):
    ws = workspace_from(exercises_root(), tmp_path / "ws")
    run = quiz("solution", "attention.softmax", "--workspace", str(ws))
    assert run.exit_code == 1
    text = squash(run.output)
    assert squash("attention.softmax") in text and squash("not attempted") in text
    assert "--force" in run.output and squash("records that it was forced") in text
    assert squash(SOLUTION_LINE) not in text
    assert not history.exists() or reveals(history) == []


def test_refused_on_a_failing_mutant_with_its_status(tmp_path, history):
    mistake = next(m for m in diagnosis.for_exercise(SOFTMAX.id) if m.id == "softmax-normalise-all")
    ws = diagnosis.materialize(mistake, tmp_path / "ws")
    run = quiz("solution", "attention.softmax", "--workspace", str(ws))
    assert run.exit_code == 1
    text = squash(run.output)
    assert (
        squash("attention.softmax") in text and squash("fail: ") in text and squash("checks failed") in text
    )
    assert squash(SOLUTION_LINE) not in text
    assert not history.exists() or reveals(history) == []


def test_shown_once_it_passes_and_recorded_as_not_forced(tmp_path, history):
    ws = workspace_from(reference_root(), tmp_path / "ws")
    run = quiz("solution", "day16.attention.softmax", "--workspace", str(ws))
    assert run.exit_code == 0, run.output
    found, _ = restore.solution(SOFTMAX)
    for line in found.text.splitlines():
        assert squash(line)[:40] in squash(run.output), line
    [shown] = reveals(history)
    assert (shown.exercise_id, shown.forced, shown.status) == (SOFTMAX.id, False, "pass")


def test_force_shows_it_without_passing_and_the_history_records_it(tmp_path, history):
    ws = workspace_from(exercises_root(), tmp_path / "ws")
    run = quiz("solution", "attention.softmax", "--force", "--workspace", str(ws))
    assert run.exit_code == 0, run.output
    assert squash(SOLUTION_LINE) in squash(run.output) and "recorded in the history" in run.output
    [shown] = reveals(history)
    assert (shown.exercise_id, shown.forced, shown.status) == (SOFTMAX.id, True, "")
    progress = quiz("progress", "day16", "--workspace", str(ws))
    assert squash("solutions shown with --force before passing: attention.softmax") in squash(progress.output)


def test_force_with_the_history_off_still_shows_it_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("QUIZ_HISTORY", "off")
    ws = workspace_from(exercises_root(), tmp_path / "ws")
    run = quiz("solution", "attention.softmax", "--force", "--workspace", str(ws))
    assert run.exit_code == 0, run.output
    assert squash(SOLUTION_LINE) in squash(run.output)
    assert squash("could not be recorded: the history is off (QUIZ_HISTORY=off)") in squash(run.output)
    assert not (ws / ".quiz").exists()


def test_a_solution_comes_with_the_constants_it_uses_and_never_another_exercise():
    cosine = load_day("day09").exercise("embeddings.cosine_similarity")
    found, helpers = restore.solution(cosine)
    assert found.text.startswith("def cosine_similarity(")
    assert [h.text.split("=")[0].strip() for h in helpers] == ["EPS"]
    sdpa = load_day("day16").exercise("attention.scaled_dot_product_attention")
    found, helpers = restore.solution(sdpa)
    assert "softmax(scores" in found.text and helpers == []  # softmax is an exercise of its own


@pytest.mark.parametrize(
    "args, words",
    [
        (["solution", "sofmax", "--force"], ["unknown day16 exercise 'sofmax'"]),
        (
            ["solution", "attention.softmax", "--workspace", "no-such-folder"],
            ["no-such-folder is not a folder"],
        ),
    ],
)
def test_usage_errors_exit_2(args, words):
    run = quiz(*args)
    assert run.exit_code == 2
    for w in words:
        assert squash(w) in squash(run.output)


def test_a_history_of_the_previous_schema_gains_the_reveal_table_and_keeps_its_runs(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute(
        "INSERT INTO session (kind, day, started) VALUES ('grade', 'day16', '2025-01-01T12:00:00+00:00')"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    at = datetime(2025, 1, 2, tzinfo=UTC)
    with History(path) as h:  # migrated on opening
        h.record_reveal(Reveal(SOFTMAX.id, at, forced=True))
        assert [(r.exercise_id, r.at, r.forced) for r in h.reveals()] == [(SOFTMAX.id, at, True)]
        assert [(s.kind, s.day) for s in h.sessions()] == [("grade", "day16")]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    db.close()
