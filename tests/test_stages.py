"""Where a function first departs, stage by stage (quizgrader/analysis/stages.py and the day
packs' stage probes): each catalogued mistake of a probed function is placed at its stage, and
the reference departs nowhere. The probes never see the catalogue: they read the learner's
answers to inputs made to separate the stages."""

from __future__ import annotations

from pathlib import Path

import pytest

from quizgrader.analysis import diagnosis, stages
from quizgrader.checks.api import local

ROOT = Path(__file__).resolve().parents[1]

PLACED = {
    "softmax-no-max-shift": "overflow for large logits",
    "softmax-global-max": "overflow for large logits",
    "softmax-normalise-all": "sum over the whole tensor",
    "softmax-normalise-dim0": "sums to 1 along dim 0",
    "sdpa-no-scaling": "the scores are not scaled",
    "sdpa-scale-by-dk": "divided by d_k",
    "sdpa-scale-by-seq-len": "divided by sqrt(T_q)",
    "sdpa-softmax-over-queries": "runs over the queries",
    "sdpa-mask-after-softmax": "mask is applied after the softmax",
    "sdpa-mask-inverted": "the wrong way round",
    "sdpa-mask-fill-zero": "the keys the mask hides get weight",
    "sdpa-reshape-not-transpose": "the scores should be Q K^T / sqrt(d_k)",
    "noam-no-warmup": "the warmup",
    "noam-no-d-model-scaling": "d_model^-0.5",
    "smoothing-eps-over-v-minus-1": "V - 1 other classes",
    "smoothing-mean-over-all-rows": "ignore_index",
    "smoothing-sums-rows": "sum over the rows",
    "smoothing-term-uses-logits": "the smoothing part",
    "backprop-sum-over-rows": "the forward pass",
    "backprop-no-divide-by-n": "dL/dW2 differs (5 times",
    "backprop-no-factor-2": "dL/dW2 differs (1/2 of",
    "backprop-no-relu-mask": "dL/dW2 and dL/db2 are right; dL/dW1 differs",
    "information-entropy-log2": "in bits",
    "information-entropy-nan-at-zero": "0 log 0",
    "information-entropy-sign": "sign is flipped",
    "information-cross-entropy-swapped": "swapped",
    "information-kl-reversed": "swapped",
    "information-bits-in-nats": "in nats",
    "stability-ln-unbiased-variance": "D - 1",
    "stability-ln-eps-outside-sqrt": "outside the square root",
    "stability-ln-whole-tensor": "whole tensor",
    "stability-ln-bias-before-weight": "the affine part",
    "stability-lr-warmup-off-by-one": "the warmup differs",
    "stability-lr-no-half": "the cosine decay differs",
    "stability-lr-no-floor-after-total": "after total_steps differs",
    "additive-no-tanh": "leave out the tanh",
    "additive-mask-ignored": "mask is not applied",
    "causal-mask-excludes-diagonal": "the diagonal is False",
    "causal-mask-upper-triangle": "on and above the diagonal",
    "padding-mask-inverted": "True where tokens are padding",
    "padding-mask-hides-queries": "(B, 1, 1, T)",
    "sinusoidal-minus-cos": "minus sign",
    "sinusoidal-sin-cos-swapped": "swapped",
    "sinusoidal-exponent-i-over-d": "10000^(i/d)",
    "sinusoidal-positions-from-1": "start at 1",
    "rope-half-split": "two halves",
    "rope-rotates-backwards": "the other way",
    "rope-exponent-i-over-d": "base^(-i/d)",
    "rope-positions-from-1": "start at 1",
    "alibi-slopes-power-of-two-rule-for-all": "not a power of two",
    "alibi-slopes-from-k-0": "k runs from 0",
    "mha-split-without-transpose": "splitting Q, K and V into heads",
    "mha-merge-without-transpose": "the heads merged",
    "mha-mask-ignored": "the mask hides",
    "gen-no-crop": "crop the context",
    "gen-first-position": "the argmax of the logits at the last position",
    "gen-temperature-multiplies": "multiplied by the temperature",
    "gen-top-k-keeps-one-more": "top_k=2 lets through 3 tokens",
    "stability-clip-per-parameter": "each parameter is clipped on its own",
    "stability-clip-always-scales": "below max_norm",
    "stability-clip-returns-norm-after": "the norm after clipping",
    "stability-clip-sum-of-norms": "norms are added",
    "embeddings-cosine-no-eps": "a zero vector gives NaN",
    "lstm-gate-order-ifog": "read as (i, f, o, g)",
    "lstm-gate-order-figo": "read as (f, i, g, o)",
    "lstm-tanh-forget-gate": "the forget gate f goes through tanh",
    "lstm-sigmoid-candidate": "the candidate g goes through a sigmoid",
    "lstm-no-input-gate": "the input gate i goes through nothing",
    "lstm-no-tanh-on-cell": "the cell state is right",
    "lstm-one-bias": "bias_hh is not added",
}
MISTAKES = {m.id: m for day in ("day16", "day09") for m in diagnosis.mistakes(day)}


def reference(day: str):
    return local(ROOT / "reference", day)


@pytest.mark.parametrize("mistake_id", PLACED)
def test_a_known_mistake_is_placed_at_its_stage(mistake_id, tmp_path):
    mistake = MISTAKES[mistake_id]
    day = mistake.exercise.split(".")[0]
    you = local(diagnosis.materialize(mistake, tmp_path / "ws"), day)
    said = stages.locate(mistake.exercise, you, reference(day))
    assert said is not None and PLACED[mistake_id] in said, said


@pytest.mark.parametrize("day", ["day16", "day09"])
def test_the_reference_departs_at_no_stage(day):
    probed = {m.exercise for m in diagnosis.mistakes(day) if stages.probe_for(m.exercise)}
    assert len(probed) >= 4
    assert all(stages.locate(e, reference(day), reference(day)) is None for e in probed)


def test_an_answer_a_probe_cannot_read_tells_nothing_and_ends_nothing(tmp_path):
    """A function that returns the wrong kind, or raises something odd inside the probe's reading:
    no stage is said (the checks say what is wrong), and nothing is raised."""
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__", ".quiz"))
    path = ws / "day16" / "attention.py"
    path.write_text(
        path.read_text()
        + "\n\ndef softmax(x, dim=-1):\n    return {'not': 'a tensor'}\n\n"
        + "def scaled_dot_product_attention(Q, K, V, mask=None):\n    return (Q, {'weights': 1})\n"
    )
    you = local(ws, "day16")
    assert stages.locate("day16.attention.softmax", you, reference("day16")) is None
    assert stages.locate("day16.attention.scaled_dot_product_attention", you, reference("day16")) is None
