"""`quiz lab`: experiments on the learner's own code that draw what it does — attention maps of
a trained LM, the positional encoding, attention's cost against the library's, Pre-LN against
Post-LN training — as PNGs, or as text where matplotlib is not installed."""

from __future__ import annotations

from .experiments import EXPERIMENTS, Experiment, Settings
from .output import RESULTS, Saved, save
from .runner import DAYS, LabOptions, LabReport, Outcome, pick, run, whose

__all__ = [
    "DAYS",
    "EXPERIMENTS",
    "RESULTS",
    "Experiment",
    "LabOptions",
    "LabReport",
    "Outcome",
    "Saved",
    "Settings",
    "pick",
    "run",
    "save",
    "whose",
]
