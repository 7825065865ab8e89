"""A known mistake is stated as the cause only when the learner's answers equal it on other inputs
too, chosen to tell it apart from a right answer and from the exercise's other known mistakes.
Two mistakes outside the catalogue used to be reported as catalogued causes they are not: a
temperature applied to the probabilities, and a top-k that keeps k - 1 tokens."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from quizgrader.analysis import diagnosis
from quizgrader.analysis.diagnosis import Mistake
from quizgrader.grade import Options, grade
from quizgrader.results import Status

ROOT = Path(__file__).resolve().parents[1]
LM = "day16.lm.DecoderLM"
STATED = "your output equals what you get when"

NOVEL = {
    "temperature-on-probabilities": [
        ("                logits = logits / temperature\n", ""),
        ("probs = F.softmax(logits, dim=-1)", "probs = F.softmax(logits, dim=-1) / temperature"),
    ],
    "top-k-keeps-k-minus-one": [("logits.masked_fill(logits < kth,", "logits.masked_fill(logits <= kth,")],
}


def graded(tmp_path: Path, zygote, edits: list[tuple[str, str]], mistake_id: str = "novel"):
    ws = diagnosis.materialize(Mistake(mistake_id, LM, "", "", tuple(edits)), tmp_path / "ws")
    (exercise,) = grade("day16", Options(workspace=ws, only=[LM], profile="quick"), zygote=zygote).exercises
    return exercise


WHERE = {
    "temperature-on-probabilities": "the temperature is not applied to the logits",
    "top-k-keeps-k-minus-one": "top_k=2 lets through only 1 token",
}


@pytest.mark.parametrize("name", NOVEL)
def test_a_mistake_outside_the_catalogue_is_not_given_a_catalogued_cause(name, tmp_path, zygote):
    """Not stated as a catalogued cause; placed instead at the stage where it departs."""
    result = graded(tmp_path, zygote, NOVEL[name])
    assert result.status is Status.FAIL, result.reason
    assert result.diagnosis == [], f"stated as the cause: {result.diagnosis}"
    said = [c.diagnosis for c in result.checks if c.diagnosis]
    assert not any(STATED in s for s in said), said
    assert result.where and WHERE[name] in result.where, result.where
    assert said and all(WHERE[name] in s for s in said)


def test_a_catalogued_mistake_is_still_stated_once_confirmed(tmp_path, zygote):
    mistake = next(m for m in diagnosis.mistakes("day16") if m.id == "lm-final-ln-always")
    result = graded(tmp_path, zygote, list(mistake.edits), mistake.id)
    assert result.diagnosis == ["lm-final-ln-always"]
    assert any(STATED in (c.diagnosis or "") and mistake.summary in c.diagnosis for c in result.checks)


def test_a_cause_that_matches_only_the_failing_example_is_said_to_resemble(tmp_path, zygote):
    """A softmax that normalises along dim 0 for 2-D inputs only: on the failing example (2-D) it
    equals the catalogued "normalised along dim 0 instead of along dim", on the inputs of other
    shapes it is right where that mistake is not, so it is said to resemble it, not stated."""
    source = (ROOT / "reference" / "day16" / "attention.py").read_text()
    old = "return exps / exps.sum(dim=dim, keepdim=True)"
    assert source.count(old) == 1
    new = "return exps / exps.sum(dim=0 if x.dim() == 2 else dim, keepdim=True)"
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__", ".quiz"))
    (ws / "day16" / "attention.py").write_text(source.replace(old, new))
    options = Options(workspace=ws, only=["day16.attention.softmax"], profile="quick")
    (result,) = grade("day16", options, zygote=zygote).exercises
    assert result.status is Status.FAIL
    assert result.diagnosis == []
    said = [c.diagnosis for c in result.checks if c.diagnosis]
    assert said and all(
        s.startswith("it resembles what you get when the exponentials are normalised") for s in said
    )
