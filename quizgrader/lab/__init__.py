"""`quiz lab DAY`: experiments on the learner's own code that draw what it does, for a day whose
pack has a lab (Day 16: attention maps of a trained LM, the positional encoding, attention's cost
against the library's, Pre-LN against Post-LN training), as PNGs, or as text where matplotlib is
not installed. The experiments are the day's (daypacks.DayPack.lab); running them, saving and
showing them is here."""

from __future__ import annotations

from .output import RESULTS, Saved, save
from .runner import LabOptions, LabReport, Outcome, days, experiments_of, pick, run, whose

__all__ = [
    "RESULTS",
    "LabOptions",
    "LabReport",
    "Outcome",
    "Saved",
    "days",
    "experiments_of",
    "pick",
    "run",
    "save",
    "whose",
]
