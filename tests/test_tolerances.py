"""Correct code is never rejected by a tolerance its contract does not state: formulations of the
attention exercises other than the reference's, right but rounded differently in float32, pass
every check (RoPE's float32 angles are in test_reference_positional.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from quizgrader.grade import Options, grade
from quizgrader.results import Status

ROOT = Path(__file__).resolve().parents[1]

# A softmax through logsumexp (x - logsumexp(x) rounds at the scale of x), and attention that
# scales Q before the product (as torch's own scaled_dot_product_attention does), in einsum.
OTHER_ATTENTION = """def softmax(x, dim=-1):
    return torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True))


def scaled_dot_product_attention(Q, K, V, mask=None):
    scores = torch.einsum("...qd,...kd->...qk", Q * Q.shape[-1] ** -0.5, K)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax(scores, dim=-1)
    return torch.einsum("...qk,...kd->...qd", weights, V), weights


"""


@pytest.fixture(scope="module")
def other_attention(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("attention") / "ws"
    shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__"))
    path = ws / "day16" / "attention.py"
    text = path.read_text()
    start, end = text.index("def softmax("), text.index("def additive_attention(")
    path.write_text(text[:start] + OTHER_ATTENTION + text[end:])
    return ws


# Profiles and seeds whose cases of logits or scores near ±1e4 once failed these formulations.
@pytest.mark.parametrize("profile, seed", [("quick", 1), ("quick", 4), ("default", 1)])
def test_other_right_formulations_of_attention_pass_the_stability_checks(
    other_attention, profile, seed, zygote
):
    report = grade(
        "day16",
        Options(
            other_attention,
            only=["attention.softmax", "attention.scaled_dot_product_attention"],
            profile=profile,
            seed=seed,
        ),
        zygote=zygote,
    )
    for result in report.exercises:
        assert result.status is Status.PASS, [
            (c.name, c.message) for c in result.checks if c.status is not Status.PASS
        ]
