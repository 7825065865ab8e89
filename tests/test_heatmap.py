"""The attention heatmap of a failing case: drawn for mistakes that change the weights, with the
learner's weights beside the reference's; absent when the weights are right or cannot be drawn;
and shown with the numbers written out, so it does not rest on colour."""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from rich.console import Console

from quizgrader.analysis import diagnosis
from quizgrader.grade import Options, grade
from quizgrader.report.terminal import OFF, heatmap, render
from quizgrader.results import Status

ROOT = Path(__file__).resolve().parents[1]
MISTAKES = {m.id: m for m in diagnosis.mistakes("day16")}


def graded(mistake_id: str, tmp_path: Path, zygote):
    m = MISTAKES[mistake_id]
    ws = diagnosis.materialize(m, tmp_path / "ws")
    report = grade("day16", Options(ws, only=[m.exercise], profile="quick"), zygote=zygote)
    return report.exercises[0]


def picture_of(result):
    pictures = [c.heatmap for c in result.checks if c.heatmap]
    assert len(pictures) <= 1, "one picture per exercise"
    return pictures[0] if pictures else None


@pytest.mark.parametrize(
    "mistake_id", ["sdpa-no-scaling", "sdpa-softmax-over-queries", "additive-no-tanh", "mha-keys-use-wq"]
)
def test_a_mistake_in_the_weights_is_drawn_beside_the_expected_weights(mistake_id, tmp_path, zygote):
    result = graded(mistake_id, tmp_path, zygote)
    assert result.status is Status.FAIL
    pic = picture_of(result)
    assert pic is not None, f"{mistake_id}: no heatmap"
    yours, expected = torch.tensor(pic["yours"]), torch.tensor(pic["expected"])
    assert yours.shape == expected.shape and yours.dim() == 2 and max(yours.shape) <= 8
    assert (yours - expected).abs().max() > 1e-4, "the picture shows a difference"
    if (
        mistake_id != "sdpa-softmax-over-queries"
    ):  # that one's rows are the drawn rows: rows sum to 1 on one side only
        assert torch.allclose(expected.sum(-1), torch.ones(expected.shape[0]), atol=1e-6)
    lead = ", ".join("0" * (len(pic["shape"]) - 2))
    assert str(tuple(pic["shape"])) in pic["title"] and (not lead or f"weights[{lead}]" in pic["title"])
    if mistake_id.startswith("mha"):
        assert "head 0" in pic["title"]
    if mistake_id.startswith("sdpa"):  # the fixed example: six causal queries over six keys
        assert pic["shape"] == [1, 6, 6] and torch.equal(
            expected.triu(1), torch.zeros(6, 6, dtype=expected.dtype)
        )


def test_the_expected_weights_are_those_of_torch_for_the_same_inputs(tmp_path, zygote):
    """The expected side is the reference's answer to the learner's failing example, which is
    softmax(QK^T / sqrt(d_k)) as torch computes it: scaling the learner's unscaled scores back
    (log yours = s + c per row, expected = softmax(s / sqrt(d)))."""
    pic = picture_of(graded("sdpa-no-scaling", tmp_path, zygote))
    yours = torch.tensor(pic["yours"], dtype=torch.float64)
    expected = torch.tensor(pic["expected"], dtype=torch.float64)
    shown = (yours > 1e-12).all(-1)  # rows whose scores log() can recover
    scores = yours[shown].log()
    for d in range(1, 65):
        if torch.allclose(torch.softmax(scores / math.sqrt(d), -1), expected[shown], atol=1e-4):
            break
    else:
        pytest.fail("the expected weights are not the scaled softmax of the learner's scores")


@pytest.mark.parametrize("mistake_id", ["additive-context-from-keys", "mha-no-output-projection"])
def test_no_picture_when_the_weights_are_right(mistake_id, tmp_path, zygote):
    result = graded(mistake_id, tmp_path, zygote)
    assert result.status is Status.FAIL and picture_of(result) is None


def test_no_picture_and_no_crash_when_the_weights_cannot_be_drawn(tmp_path, zygote):
    """Weights of the wrong shape: the check's message is about that; the run goes on."""
    m = MISTAKES["sdpa-no-scaling"]
    ws = diagnosis.materialize(m, tmp_path / "ws")
    path = ws / "day16" / "attention.py"
    source = path.read_text()
    old = "return weights @ V, weights  #"
    assert source.count(old) == 1
    path.write_text(source.replace(old, "return weights @ V, weights.unsqueeze(0)  #"))
    report = grade("day16", Options(ws, only=[m.exercise], profile="quick"), zygote=zygote)
    assert report.exercises[0].status is Status.FAIL and picture_of(report.exercises[0]) is None


def test_the_reference_passes_with_no_picture(zygote):
    report = grade(
        "day16",
        Options(
            ROOT / "reference",
            only=["attention.scaled_dot_product_attention", "multihead.MultiHeadAttention"],
            profile="quick",
        ),
        zygote=zygote,
    )
    assert all(e.status is Status.PASS and picture_of(e) is None for e in report.exercises)


def test_the_heatmap_prints_every_weight_and_marks_the_wrong_ones_without_colour():
    pic = {
        "title": "attention weights: a row per query, a column per key (of shape (2, 2))",
        "shape": [2, 2],
        "yours": [[1.0, 0.0], [0.5, 0.5]],
        "expected": [[1.0, 0.0], [0.25, 0.75]],
    }
    out = io.StringIO()
    Console(file=out, width=100, no_color=True).print(heatmap(pic))
    text = out.getvalue()
    assert "yours" in text and "expected" in text and pic["title"] in text
    yours_rows = [line.split("expected")[0] for line in text.splitlines()]
    assert any("0.50*" in row for row in yours_rows) and "1.00*" not in text  # only the wrong ones marked
    assert "0.25 " in text and "0.75 " in text and f"more than {OFF:g}" in text


def test_nan_and_inf_weights_are_judged_drawn_and_written_as_strict_json(tmp_path, zygote):
    """Weights with NaN and inf: the check fails at the finite stage, the heatmap writes them out
    (marked as wrong) instead of ending the report, and the results are strict JSON, with them as
    strings."""
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws)
    path = ws / "day16" / "attention.py"
    old = "    return weights @ V, weights  #"
    assert path.read_text().count(old) == 1
    path.write_text(
        path.read_text().replace(
            old,
            "    weights = torch.where(weights > 0.4, torch.nan, torch.where("
            "weights == 0, torch.inf, weights))\n" + old,
        )
    )
    report = grade(
        "day16", Options(ws, only=["attention.scaled_dot_product_attention"], profile="quick"), zygote=zygote
    )
    out = io.StringIO()
    Console(file=out, width=140, no_color=True).print(render(report))
    assert "NaN*" in out.getvalue() and "inf*" in out.getvalue(), out.getvalue()

    def no_nan(constant):
        raise AssertionError(f"{constant} is not JSON")

    data = json.loads(json.dumps(report.to_dict(), allow_nan=False), parse_constant=no_nan)
    (exercise,) = data["exercises"]
    assert exercise["status"] == "fail"
    messages = [c["message"] for c in exercise["checks"]]
    assert any(
        m.startswith("weights: ") and "values are NaN where the expected values are finite" in m
        for m in messages
    ), messages
    (picture,) = [c["heatmap"] for c in exercise["checks"] if "heatmap" in c]
    assert picture["yours"][0][0] == "NaN" and picture["yours"][0][1] == "inf"
    assert picture["expected"][0][:2] == [1.0, 0.0]


def test_the_heatmap_draws_nan_and_infinities_without_colour_alone():
    pic = {
        "title": "t",
        "shape": [2, 2],
        "yours": [["NaN", "-inf"], [0.5, "inf"]],
        "expected": [[1.0, 0.0], [0.5, "inf"]],
    }
    out = io.StringIO()
    Console(file=out, width=100, no_color=True).print(heatmap(pic))
    yours = "\n".join(line.split("expected")[0][:40] for line in out.getvalue().splitlines())
    assert "NaN*" in yours and "-inf*" in yours and "0.50 " in yours
    assert "inf " in yours and "inf*" not in yours.replace("-inf*", "")  # the same infinity is no mistake
