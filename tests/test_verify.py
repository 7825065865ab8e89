"""Integrity: a result carries the SHA-256 of every graded file, the grader's version, seed and
profile, and `quiz verify` grades again and compares."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


def quiz(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quizgrader", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture
def graded(tmp_path):
    (tmp_path / "ws" / "day16").mkdir(parents=True)
    shutil.copy(ROOT / "reference" / "day16" / "masks.py", tmp_path / "ws" / "day16" / "masks.py")
    run = quiz("grade", "day16", "--workspace", "ws", "--only", "causal_mask,padding_mask", "--profile", "quick",
               "--json", "result.json", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    return tmp_path


def test_the_result_fingerprints_what_was_graded(graded):
    data = json.loads((graded / "result.json").read_text())
    digest = hashlib.sha256((graded / "ws" / "day16" / "masks.py").read_bytes()).hexdigest()
    assert data["files"] == {"day16/masks.py": digest}
    assert data["version"] and data["seed"] == 0 and data["profile"] == "quick"


def test_an_untouched_result_verifies(graded):
    run = quiz("verify", "result.json", cwd=graded)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "matches: 2 exercise(s)" in run.stdout


def test_an_edited_result_is_caught_and_named(graded):
    data = json.loads((graded / "result.json").read_text())
    data["exercises"][1]["status"] = "fail"                       # a pass turned into a fail ...
    data["exercises"][0]["checks"][0]["status"] = "fail"
    (graded / "result.json").write_text(json.dumps(data))
    run = quiz("verify", "result.json", cwd=graded)
    assert run.returncode == 1
    assert f"{data['exercises'][1]['id']}: the result says fail, grading again gives pass" in run.stdout
    assert f"check {data['exercises'][0]['checks'][0]['name']!r}" in run.stdout


def test_a_file_changed_after_grading_is_caught(graded):
    with (graded / "ws" / "day16" / "masks.py").open("a") as f:
        f.write("# edited after grading\n")
    run = quiz("verify", "result.json", cwd=graded)
    assert run.returncode == 1 and "day16/masks.py is not the file that was graded" in run.stdout


def test_a_file_that_is_not_a_result_is_a_usage_error(tmp_path):
    (tmp_path / "r.json").write_text('{"hello": 1}')
    run = quiz("verify", "r.json", cwd=tmp_path)
    assert run.returncode == 2 and "not a result of `quiz grade --json`" in run.stderr
    (tmp_path / "r.json").write_text("{broken")
    run = quiz("verify", "r.json", cwd=tmp_path)
    assert run.returncode == 2 and "cannot read r.json" in run.stderr
