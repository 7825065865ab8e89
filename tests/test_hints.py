"""Tiered hints: three per exercise (the idea, the invariant, a worked micro-example); the report
offers the one that fits where the learner is and names the next level to ask for; `quiz hint`
shows them up to a level."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from quizgrader.analysis import diagnosis
from quizgrader.catalog import load_day
from quizgrader.grade import Options, grade
from quizgrader.results import Status

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = [e for d in ("day09", "day16") for e in load_day(d).exercises]


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.id)
def test_every_exercise_has_three_distinct_hints_ending_in_a_worked_example(ex):
    assert len(ex.hints) == 3 and len(set(ex.hints)) == 3
    assert all(len(h) > 40 for h in ex.hints)
    assert re.search(r"\d", ex.hints[2]), "the worked example works with numbers"


def test_a_stub_gets_the_idea_and_is_offered_the_invariant(zygote):
    e = grade(
        "day16", Options(ROOT / "exercises", only=["attention.softmax"], profile="quick"), zygote=zygote
    ).exercises[0]
    softmax = load_day("day16").exercise("attention.softmax")
    assert e.status is Status.NOT_ATTEMPTED
    assert e.hint == f"[1/3] {softmax.hints[0]}" and e.hint_next == 2


def test_a_partly_right_exercise_gets_the_invariant_and_is_offered_the_worked_example(tmp_path, zygote):
    m = next(m for m in diagnosis.mistakes("day16") if m.id == "sdpa-no-scaling")
    ws = diagnosis.materialize(m, tmp_path / "ws")
    report = grade("day16", Options(ws, only=[m.exercise], profile="quick"), zygote=zygote)
    e = report.exercises[0]
    assert e.status is Status.FAIL and 0 < e.passed_checks < len(e.checks)
    assert e.hint.startswith("[2/3] ") and e.hint_next == 3
    assert report.to_dict()["exercises"][0]["hint_next"] == 3


def test_a_failure_in_the_report_offers_the_hint_and_names_the_next_level(tmp_path):
    m = next(m for m in diagnosis.mistakes("day16") if m.id == "causal-mask-excludes-diagonal")
    ws = diagnosis.materialize(m, tmp_path / "ws")
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "quizgrader",
            "grade",
            "day16",
            "--only",
            m.exercise,
            "--workspace",
            str(ws),
            "--profile",
            "quick",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 1
    flat = " ".join(line.strip("│ ") for line in run.stdout.splitlines())  # the panel's lines, unfolded
    assert "hint [1/3]" in flat or "hint [2/3]" in flat
    level = 2 if "hint [1/3]" in flat else 3
    assert f"(more: quiz hint masks.causal_mask --level {level})" in flat


def test_quiz_hint_shows_every_level_up_to_the_one_asked_and_no_more_beyond_the_last():
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "quizgrader", "hint", "attention.softmax", "--level", "3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    hints = load_day("day16").exercise("attention.softmax").hints
    assert run.returncode == 0 and all(f"hint {i}/3" in run.stdout for i in (1, 2, 3))
    assert "--level 4" not in run.stdout and hints[2][:40] in run.stdout.replace("\n", " ")
