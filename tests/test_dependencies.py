"""An exercise that builds on a failing one is reported blocked by it, and is graded a second time
with the reference's version of that dependency in place, so the learner learns whether the
exercise itself is right."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from quizgrader.analysis import diagnosis
from quizgrader.grade import Options, grade
from quizgrader.results import Status

ROOT = Path(__file__).resolve().parents[1]
MISTAKES = {m.id: m for m in diagnosis.mistakes("day16")}
BLOCK_AND_DEPS = ["MultiHeadAttention", "FeedForward", "TransformerBlock"]


def workspace(tmp_path: Path, *mistake_ids: str) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__"))
    for mid in mistake_ids:
        m = MISTAKES[mid]
        path = ws / m.file
        path.write_text(diagnosis.mutate(path.read_text(), m))
    return ws


def graded(ws: Path, zygote, only=BLOCK_AND_DEPS) -> dict:
    report = grade("day16", Options(workspace=ws, only=only, profile="quick"), zygote=zygote)
    return {e.id.rsplit(".", 1)[1]: e for e in report.exercises}


def test_right_block_on_wrong_attention_is_blocked_and_passes_with_the_reference(tmp_path, zygote):
    r = graded(workspace(tmp_path, "mha-no-output-projection"), zygote)
    assert r["MultiHeadAttention"].status is Status.FAIL
    block = r["TransformerBlock"]
    assert block.status is Status.BLOCKED, block.reason
    assert "depends on multihead.MultiHeadAttention (fail)" in block.reason
    other = block.with_reference
    assert other is not None and other.substituted == ["day16.multihead.MultiHeadAttention"]
    assert other.status is Status.PASS and other.checks, [(c.name, c.message) for c in other.checks]
    assert "With the reference MultiHeadAttention in place of yours: all checks pass" in block.reason
    assert r["FeedForward"].status is Status.PASS and r["FeedForward"].with_reference is None


def test_wrong_block_on_wrong_attention_is_still_wrong_with_the_reference(tmp_path, zygote):
    r = graded(workspace(tmp_path, "mha-no-output-projection", "block-pre-post-swapped"), zygote)
    block = r["TransformerBlock"]
    assert block.status is Status.BLOCKED
    other = block.with_reference
    assert other.status is Status.FAIL and "block-pre-post-swapped" in other.diagnosis, other.diagnosis
    assert any("behaves like Post-LN" in c.message for c in other.checks if c.status is Status.FAIL)
    assert "checks pass" in block.reason and "all checks pass" not in block.reason


def test_block_on_unwritten_attention_can_be_graded_before_it(tmp_path, zygote):
    """The learner wrote the block first: it is blocked (it calls a stub), and the reference
    attention shows the block itself is right."""
    ws = workspace(tmp_path)
    shutil.copy(ROOT / "exercises" / "day16" / "multihead.py", ws / "day16" / "multihead.py")
    r = graded(ws, zygote)
    assert r["MultiHeadAttention"].status is Status.NOT_ATTEMPTED
    block = r["TransformerBlock"]
    assert block.status is Status.BLOCKED and "not implemented yet" in block.reason
    assert block.with_reference is not None and block.with_reference.status is Status.PASS


def test_the_json_report_carries_the_second_grading(tmp_path, zygote):
    report = grade(
        "day16",
        Options(
            workspace=workspace(tmp_path, "mha-no-output-projection"), only=BLOCK_AND_DEPS, profile="quick"
        ),
        zygote=zygote,
    )
    block = next(e for e in report.to_dict()["exercises"] if e["id"].endswith("TransformerBlock"))
    assert block["status"] == "blocked"
    assert block["with_reference"]["substituted"] == ["day16.multihead.MultiHeadAttention"]
    assert block["with_reference"]["status"] == "pass" and block["with_reference"]["checks"]


@pytest.mark.parametrize("broken", ["syntax", "import"])
def test_a_dependency_that_does_not_even_import_is_replaced_whole(tmp_path, zygote, broken):
    ws = workspace(tmp_path)
    path = ws / "day16" / "multihead.py"
    path.write_text(
        path.read_text() + ("\ndef oops(:\n" if broken == "syntax" else "\nimport no_such_module\n")
    )
    block = graded(ws, zygote)["TransformerBlock"]
    assert block.status is Status.BLOCKED
    assert block.with_reference is not None and block.with_reference.status is Status.PASS
