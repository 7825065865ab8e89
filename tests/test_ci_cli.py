"""`quiz grade --ci` as a course's CI runs it: plain text, no history, JUnit and Gradescope files,
GitHub annotations at the stub's line and a step summary; and the catalog's points."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import JUnitXml

from quizgrader.analysis import diagnosis
from quizgrader.catalog import CatalogError, load_day, parse_day

ROOT = Path(__file__).resolve().parents[1]


def test_ci_run_writes_every_format_and_points_at_the_broken_stub(tmp_path):
    ws = tmp_path / "submission"
    (ws / "day16").mkdir(parents=True)
    mistake = next(m for m in diagnosis.mistakes("day16") if m.id == "sdpa-no-scaling")
    diagnosis.materialize(mistake, tmp_path / "mutant")
    shutil.copy(tmp_path / "mutant" / "day16" / "attention.py", ws / "day16" / "attention.py")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier steps\n")
    env = {
        **os.environ,
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "COLUMNS": "100",
        "QUIZ_HISTORY": str(tmp_path / "history.sqlite3"),
        "TERM": "xterm-256color",
    }
    env.pop("NO_COLOR", None)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "quizgrader",
            "grade",
            "day16",
            "--workspace",
            "submission",
            "--only",
            "attention.softmax,attention.scaled_dot_product_attention,masks.causal_mask",
            "--profile",
            "quick",
            "--ci",
            "--junit",
            "junit.xml",
            "--gradescope",
            "results.json",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "\x1b[" not in run.stdout, "no colour codes in a CI log"
    assert not (tmp_path / "history.sqlite3").exists(), "a CI run keeps no history"
    # the annotation points at the stub's own line
    line = next(
        i
        for i, text in enumerate((ws / "day16" / "attention.py").read_text().splitlines(), start=1)
        if text.startswith("def scaled_dot_product_attention")
    )
    errors = [a for a in run.stdout.splitlines() if a.startswith("::error ")]
    assert any(f"file=submission/day16/attention.py,line={line}," in a for a in errors), errors
    assert any(
        a.startswith("::warning ") and "masks.py" in a for a in run.stdout.splitlines()
    )  # not attempted
    xml = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    cases = {(s.name, c.name): c for s in xml for c in s}
    assert any(
        name == "day16.attention.scaled_dot_product_attention" and c.result for (name, _), c in cases.items()
    )
    assert all(not c.result for (name, _), c in cases.items() if name == "day16.attention.softmax")
    grades = json.loads((tmp_path / "results.json").read_text())
    by_name = {t["name"]: t for t in grades["tests"]}
    sdpa = next(t for n, t in by_name.items() if "scaled_dot_product_attention" in n)
    assert 0 < sdpa["score"] < sdpa["max_score"]  # partial credit: some checks pass
    assert grades["max_score"] == pytest.approx(3.0) and grades["score"] < 3.0
    text = summary.read_text()
    assert text.startswith("earlier steps\n") and "scaled_dot_product_attention" in text


def test_points_weigh_exercises_and_must_be_positive():
    assert load_day("day16").exercise("lm.DecoderLM").points == 3
    assert load_day("day16").exercise("attention.softmax").points == 1
    data = {
        "id": "day16",
        "title": "t",
        "scale": ["a", "b", "c"],
        "rubric": [{"number": 1, "area": "x"}],
        "exercise": [{"id": "day16.m.f", "title": "f", "rubric": [1], "points": 0}],
    }
    with pytest.raises(CatalogError, match="points must be positive"):
        parse_day(data)
