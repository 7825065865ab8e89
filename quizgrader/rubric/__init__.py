"""Evidence -> rubric, in steps: gather each row's evidence as data (`evidence`), rate it
(`rating`), and decide the day's verdict from where the rows stand (`verdicts`). The words are
the renderers' (quizgrader.report.rubric_text), passed in as `write`."""

from __future__ import annotations

from .evidence import UNGRADED, by_row, gather
from .rating import EvidenceWriter, agrees, outcomes, rate, rating_of
from .verdicts import Standings, VerdictWriter, standing, standings, verdict

__all__ = [
    "UNGRADED",
    "EvidenceWriter",
    "Standings",
    "VerdictWriter",
    "agrees",
    "by_row",
    "gather",
    "outcomes",
    "rate",
    "rating_of",
    "standing",
    "standings",
    "verdict",
]
