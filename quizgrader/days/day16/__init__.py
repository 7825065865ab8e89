"""Day 16: attention, masks, multi-head attention, positional encodings, Pre-/Post-LN blocks, the
training recipe and a decoder-only language model."""

from quizgrader.daypacks import DayPack
from quizgrader.paths import exercises_root, reference_root

PACK = DayPack(
    id="day16",
    package=__name__,
    reference=reference_root(),
    exercises=exercises_root(),
    tools=f"{__name__}.tools",
    lab=f"{__name__}.lab",
    heatmaps=f"{__name__}.heatmaps",
    stages=f"{__name__}.stages",
)
