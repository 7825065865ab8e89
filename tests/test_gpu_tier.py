"""The GPU path: `--device cuda` runs the model checks on the GPU, where float32 cases run in
bfloat16 and are judged with bfloat16's (norm-wise) tolerance. The tier itself is exercised on the
CPU here, by running the checks with the device set to cuda in their context (only the dtypes and
tolerances follow it; the arithmetic stays on the CPU); a real CUDA run is skipped without one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from quizgrader.analysis import diagnosis
from quizgrader.checks.api import local
from quizgrader.checks.catalogue import checks_for
from quizgrader.checks.runner import run_check
from quizgrader.grade import Options, grade
from quizgrader.results import Status

ROOT = Path(__file__).resolve().parents[1]
MODELS = [
    "day16.multihead.MultiHeadAttention",
    "day16.block.FeedForward",
    "day16.block.TransformerBlock",
    "day16.block.DecoderBlock",
    "day16.lm.DecoderLM",
]
TRAINS = "learns to copy"  # its GPU configuration is sized for a GPU: not run on the CPU


@pytest.fixture(scope="module")
def ref():
    return local(ROOT / "reference", "day16", package="_quiz_reference")


def tier_results(you, ref, exercise: str):
    return [
        run_check(c, you, ref, "default", 0, device="cuda")[0]
        for c in checks_for(exercise)
        if not c.name.startswith(TRAINS)
    ]


@pytest.mark.parametrize("exercise", MODELS, ids=[m.rsplit(".", 1)[1] for m in MODELS])
def test_reference_passes_the_bfloat16_tier(ref, exercise):
    you = local(ROOT / "reference", "day16")
    results = tier_results(you, ref, exercise)
    assert all(r.status is Status.PASS for r in results), [
        (r.name, r.message[:300]) for r in results if r.status is not Status.PASS
    ]


@pytest.mark.parametrize(
    "mistake",
    [
        "lm-final-ln-always",
        "lm-scaled-embedding",
        "block-pre-post-swapped",
        "block-ff-no-residual",
        "mha-no-output-projection",
    ],
)
def test_the_bfloat16_tier_still_catches_mistakes(ref, tmp_path, mistake):
    m = next(x for x in diagnosis.mistakes("day16") if x.id == mistake)
    you = local(diagnosis.materialize(m, tmp_path / "ws"), "day16")
    failed = [r for r in tier_results(you, ref, m.exercise) if r.status is Status.FAIL]
    assert failed, "no check failed"
    assert any("bfloat16" in r.message for r in failed), [r.message[:200] for r in failed]


def test_normwise_message_names_the_tier():
    from quizgrader.checks.compare import Mismatch, expect_close

    want = torch.linspace(-1, 1, 16, dtype=torch.float64)
    expect_close((want * 1.03).to(torch.bfloat16), want, "x", dtype=torch.bfloat16)  # 3% off: within the tier
    with pytest.raises(Mismatch, match="relative error of the whole tensor 0.2"):
        expect_close((want * 1.2).to(torch.bfloat16), want, "x", dtype=torch.bfloat16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_models_grade_on_the_gpu(tmp_path, zygote):
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws)
    report = grade(
        "day16",
        Options(workspace=ws, device="cuda", only=["MultiHeadAttention", "TransformerBlock", "DecoderLM"]),
        zygote=zygote,
    )
    assert report.device == "cuda" and report.passed, [(e.id, e.reason) for e in report.exercises]
    learns = next(c for e in report.exercises for c in e.checks if c.name.startswith(TRAINS))
    assert learns.figures["accuracy"] >= 0.9 and learns.figures["accuracy_without_positions"] <= 0.6
