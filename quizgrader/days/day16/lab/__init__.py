"""Day 16's lab (`quiz lab day16`): the experiments, their figures and their text. What a day's
lab module offers the lab (quizgrader/lab/): EXPERIMENTS, Settings, LabError, DRAW (experiment ->
its matplotlib Figure), DETAILS (experiment -> its numbers as a Rich renderable) and headline."""

from .experiments import EXPERIMENTS, Experiment, LabError, Settings
from .plots import DRAW
from .text import DETAILS, headline

__all__ = ["DETAILS", "DRAW", "EXPERIMENTS", "Experiment", "LabError", "Settings", "headline"]
