"""quizgrader: a self-assessment quiz and grader for people learning transformers."""

__version__ = "0.1.0"
