"""Mistakes that used to pass every profile, each now failed with a message that names it: a mask
made on the CPU whatever device is asked for, positions made with torch.arange(T) beside inputs
on another device, an error message without the numbers the contract asks for, an entropy whose
gradient is NaN where a probability is exactly 0, a code length that underflows on a long
sequence, a one-hot that hard-codes float32, and an analogy that returns a tensor for an int.
The device ones are caught without a GPU: the call runs with its inputs on the meta device."""

from __future__ import annotations

import pytest

from quizgrader.analysis import diagnosis
from quizgrader.grade import Options, grade
from quizgrader.results import Status

SAID = {
    "causal-mask-ignores-device": ("honours device", "gave a mask on cpu"),
    "learned-pe-positions-on-cpu": ("on x's device", "made a tensor on the CPU (arange)"),
    "mha-message-without-numbers": ("says both numbers", "say both numbers in the message"),
    "information-entropy-nan-grad-at-zero": ("gradient stays finite", "gradient is nan where p is exactly 0"),
    "information-bits-log-of-product": ("long sequence", "inf where the expected values are finite"),
    "embeddings-one-hot-float32": ("default dtype", "returned float32"),
    "embeddings-analogy-returns-tensor": ("returns a Python int", "returned a 0-d int64 tensor"),
}
MISTAKES = {m.id: m for day in ("day16", "day09") for m in diagnosis.mistakes(day)}


@pytest.mark.parametrize("mistake_id", SAID)
def test_a_former_survivor_fails_with_a_message_that_names_it(mistake_id, tmp_path, zygote):
    mistake = MISTAKES[mistake_id]
    ws = diagnosis.materialize(mistake, tmp_path / "ws")
    day = mistake.exercise.split(".")[0]
    options = Options(workspace=ws, only=[mistake.exercise], profile="quick")
    (result,) = grade(day, options, zygote=zygote).exercises
    check, message = SAID[mistake_id]
    failed = [c for c in result.checks if c.status in (Status.FAIL, Status.ERROR)]
    assert result.status is Status.FAIL and failed, result.reason
    assert [c.name for c in failed if check in c.name], [c.name for c in failed]
    assert any(message in c.message for c in failed if check in c.name), [c.message for c in failed]
    assert result.diagnosis == [mistake_id]
