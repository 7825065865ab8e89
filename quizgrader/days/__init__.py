"""This project's own days, each a day pack (quizgrader/daypacks.py): one folder holding its
catalog, questions, checks, known mistakes and the routines only that day needs."""
