"""Day 9: the foundations (backpropagation, embeddings, information, residual connections, RNNs and
the LSTM, sequence-to-sequence, numerical stability)."""

from quizgrader.daypacks import DayPack
from quizgrader.paths import exercises_root, reference_root

PACK = DayPack(
    id="day09",
    package=__name__,
    reference=reference_root(),
    exercises=exercises_root(),
    tools=f"{__name__}.tools",
    stages=f"{__name__}.stages",
)
