"""The learner's answers file (answers/dayNN.toml in the workspace), read and judged.

    [answers]
    d16-dk-per-head = 64
    d16-mha-params-bias = "4*d**2 + 4*d"
    d16-prelayer-order = ["ln1", "self-attention", "add", "ln2", "feed-forward", "add"]

    [ratings]            # optional: the learner's own rating per rubric row
    1 = "Confident"

A file that does not parse is reported with its line; nothing in it is lost or rewritten.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..results import Answer
from ..results import QuestionResult
from . import AnswerError, Bank, judge


class AnswersFileError(ValueError):
    """The answers file cannot be used as it is; the message names the file and the line."""


@dataclass
class Answers:
    answers: dict[str, Any]
    ratings: dict[int, str]


def read_answers(path: Path, bank: Bank, scale: tuple[str, ...]) -> Answers:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise AnswersFileError(f"{path} is not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise AnswersFileError(f"{path} cannot be read: {e}") from None
    unknown_sections = sorted(set(data) - {"answers", "ratings"})
    if unknown_sections:
        raise AnswersFileError(f"{path}: unknown section(s) {unknown_sections}; the file has [answers] and "
                               "[ratings]")
    answers = data.get("answers", {})
    ids = [q.id for q in bank.questions]
    for key in answers:
        if key not in ids:
            close = difflib.get_close_matches(key, ids, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise AnswersFileError(f"{path}: [answers] has an unknown question id {key!r}{hint}")
    ratings = {}
    for key, value in data.get("ratings", {}).items():
        if not str(key).isdigit():
            raise AnswersFileError(f"{path}: [ratings] keys are rubric row numbers, not {key!r}")
        if value not in scale:
            raise AnswersFileError(f"{path}: [ratings] row {key} is {value!r}; use one of {', '.join(scale)}")
        ratings[int(key)] = value
    return Answers(dict(answers), ratings)


def judge_all(bank: Bank, answers: Answers) -> list[QuestionResult]:
    results = []
    for q in bank.questions:
        if not q.checkable:
            results.append(QuestionResult(q.id, q.row, Answer.SELF_RATED, "; ".join(q.guide)))
            continue
        if q.id not in answers.answers:
            results.append(QuestionResult(q.id, q.row, Answer.UNANSWERED))
            continue
        given = answers.answers[q.id]
        try:
            verdict = judge(q, given)
        except AnswerError as e:
            results.append(QuestionResult(q.id, q.row, Answer.UNREADABLE, str(e)))
            continue
        results.append(QuestionResult(q.id, q.row, Answer.CORRECT if verdict.correct else Answer.WRONG,
                                      "" if verdict.correct else verdict.feedback, verdict.known_mistake))
    return results
