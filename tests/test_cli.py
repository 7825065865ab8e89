"""The `quiz` command end to end, as a separate process: exit codes, the report, the JSON file,
and the errors a learner sees for a mistyped day, exercise or option."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STATUSES = {"pass", "fail", "error", "timeout", "not_attempted", "blocked", "skipped"}


def quiz(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-m", "quizgrader", *args],
        cwd=cwd,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_reference_grades_clean_with_exit_0_and_valid_json(tmp_path):
    out = tmp_path / "report.json"
    run = quiz("grade", "day16", "--workspace", "reference", "--profile", "quick", "--json", str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "attention.softmax" in run.stdout and "Confident" in run.stdout
    data = json.loads(out.read_text())
    assert {"day", "workspace", "seed", "profile", "exercises", "rubric"} <= set(data)
    assert data["day"] == "day16" and data["profile"] == "quick" and data["seed"] == 0
    from quizgrader.catalog import load_day

    assert [e["id"] for e in data["exercises"]] == [e.id for e in load_day("day16").ordered()]
    for ex in data["exercises"]:
        assert {"id", "status", "checks"} <= set(ex) and ex["status"] == "pass"
        for c in ex["checks"]:
            assert {"name", "status", "message", "diagnosis"} <= set(c) and c["status"] in STATUSES
    for row in data["rubric"]:
        assert {"row", "rating", "evidence"} <= set(row) and row["rating"] == "Confident", row
    # the measuring checks carry their figures, and the rows they are evidence for show them
    parallel = next(
        c for e in data["exercises"] for c in e["checks"] if "all T positions at once" in c["name"]
    )
    from quizgrader.days.day16.checks.attention import SCALING

    lengths = {str(T) for T in SCALING["quick"][0]}
    assert parallel["figures"]["growth_exponent"] > 1 and set(parallel["figures"]["speedup"]) == lengths
    row8 = next(r for r in data["rubric"] if r["row"] == 8)
    assert any("measured:" in line and "T^" in line for line in row8["evidence"]), row8


def test_untouched_stubs_exit_1_and_say_not_attempted(tmp_path):
    out = tmp_path / "report.json"
    run = quiz("grade", "day16", "--only", "softmax,causal_mask", "--profile", "quick", "--json", str(out))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "not attempted" in run.stdout.lower()
    data = json.loads(out.read_text())
    assert [e["status"] for e in data["exercises"]] == ["not_attempted", "not_attempted"]


def test_a_named_mistake_reaches_the_report(tmp_path):
    from quizgrader.analysis import diagnosis

    mistake = next(m for m in diagnosis.mistakes("day16") if m.id == "sdpa-no-scaling")
    ws = diagnosis.materialize(mistake, tmp_path / "ws")
    run = quiz(
        "grade",
        "day16",
        "--workspace",
        str(ws),
        "--only",
        "scaled_dot_product_attention",
        "--profile",
        "quick",
    )
    assert run.returncode == 1
    assert mistake.summary in " ".join(run.stdout.split())
    assert "quiz hint" in run.stdout or "hint" in run.stdout.lower()


@pytest.mark.parametrize(
    "args, words",
    [
        (["grade", "day17"], ["unknown day 'day17'", "did you mean day16"]),
        (
            ["grade", "day16", "--only", "sofmax"],
            ["unknown day16 exercise 'sofmax'", "did you mean attention.softmax"],
        ),
        (["grade", "day16", "--workspace", "no-such-folder"], ["no-such-folder", "not a folder"]),
        (["grade", "day16", "--profile", "fast"], ["fast"]),
        (["grade", "day16", "--json", "no-such-folder/r.json"], ["cannot write"]),
        (["grade", "day9", "--only", "entropi"], ["unknown day09 exercise 'entropi'", "information.entropy"]),
        (["show", "rubric", "day10"], ["unknown day 'day10'"]),
        (["show", "exercise", "softmx"], ["did you mean attention.softmax"]),
        (["hint", "causal"], ["did you mean masks.causal_mask"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) and v and v[0] in {"grade", "show", "hint"} else None,
)
def test_usage_errors_exit_2_with_a_specific_message(args, words):
    run = quiz(*args)
    assert run.returncode == 2, run.stdout + run.stderr
    text = " ".join(run.stderr.split())
    for w in words:
        assert w in text, text


def test_asking_for_cuda_without_it_is_a_usage_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    run = quiz("grade", "day16", "--device", "cuda", "--workspace", "reference")
    assert run.returncode == 2 and "no usable CUDA device" in run.stderr


def test_show_rubric_day9_prints_its_rows():
    from quizgrader.catalog import load_day

    run = quiz("show", "rubric", "day9")
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())
    day = load_day("day9")
    assert len(day.rubric) >= 5
    for row in day.rubric:
        assert " ".join(row.area.split())[:30] in text


def test_list_hint_and_show_exercise():
    listed = quiz("list", "day16")
    assert listed.returncode == 0
    assert all(
        name in listed.stdout
        for name in ["attention.softmax", "masks.causal_mask", "multihead.MultiHeadAttention"]
    )

    hints = quiz("hint", "softmax", "--level", "2")
    assert hints.returncode == 0
    assert "hint 1/3" in hints.stdout and "hint 2/3" in hints.stdout and "hint 3/3" not in hints.stdout
    assert "--level 3" in hints.stdout

    shown = quiz("show", "exercise", "day16.attention.scaled_dot_product_attention")
    assert shown.returncode == 0
    assert "attention.py" in shown.stdout and "batch elements are independent" in shown.stdout


def test_day9_answers_and_ratings_decide_rows_no_exercise_has_evidence_for_yet(tmp_path):
    (tmp_path / "answers").mkdir()
    (tmp_path / "answers" / "day09.toml").write_text(
        '[answers]\nd09-ce-uniform-10 = "ln(10)"\n[ratings]\n'
        '1 = "✅ Solid"\n2 = "❌ Weak"\n3 = "❌ Weak"\n4 = "❌ Weak"\n'
    )
    out = tmp_path / "r.json"
    run = quiz("grade", "day9", "--workspace", str(tmp_path), "--profile", "quick", "--json", str(out))
    assert run.returncode == 1, run.stdout + run.stderr  # no exercise attempted yet
    assert "verdict: extra day of review" in run.stdout and "[x] Draw a computation graph" in run.stdout
    data = json.loads(out.read_text())
    assert {e["status"] for e in data["exercises"]} == {"not_attempted"}
    assert data["verdict"]["decision"] == "extra_day" and data["verdict"]["rows"][:3] == [2, 3, 4]
    assert [c["met"] for c in data["verdict"]["checklist"]][:5] == [True, False, False, False, True]
