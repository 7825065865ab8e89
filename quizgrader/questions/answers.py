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
import os
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..results import Answer, QuestionResult
from ..safefs import write_atomic
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
            results.append(QuestionResult(q.id, q.row, Answer.UNREADABLE, str(e), given=given))
            continue
        results.append(QuestionResult(q.id, q.row, Answer.CORRECT if verdict.correct else Answer.WRONG,
                                      "" if verdict.correct else verdict.feedback, verdict.known_mistake, given))
    return results


HEADER = """\
# Checkpoint answers for {day}, judged by `quiz grade {day}` and kept up to date by `quiz answer {day}`.
# [answers]: question id = your answer (`quiz show questions {day}` lists them).
# [ratings]: rubric row = your own rating, one of {scale}.
"""


def save_answers(path: Path, bank: Bank, scale: tuple[str, ...], answers: dict[str, Any], ratings: dict[int, str],
                 backups: Path, workspace: Path | None = None) -> Path | None:
    """Merge `answers` and `ratings` into the answers file, keeping everything else in it (other
    answers, comments, layout). The previous file is copied into `backups` first (returned), the
    new one replaces it in one rename, and it must read back as what was written, or the previous
    file is put back. Nothing is written through a link inside `workspace` (default: the folder
    holding answers/)."""
    workspace = workspace if workspace is not None else path.parent.parent
    import tomlkit

    old = path.read_text(encoding="utf-8") if path.is_file() else None
    if old is not None:
        read_answers(path, bank, scale)          # a file that cannot be read is never rewritten
    doc = tomlkit.parse(old) if old is not None else tomlkit.parse(
        HEADER.format(day=bank.day, scale=", ".join(scale)))
    for name, values in (("answers", answers), ("ratings", {str(k): v for k, v in sorted(ratings.items())})):
        if not values:
            continue
        if name not in doc:
            doc.add(name, tomlkit.table())
        for key, value in values.items():
            doc[name][key] = value
    backup = None
    if old is not None:
        backup = backups / f"{path.stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.toml"
        write_atomic(backup, path.read_bytes(), workspace)
    write_atomic(path, tomlkit.dumps(doc), workspace)
    try:
        back = read_answers(path, bank, scale)
        if any(back.answers.get(k) != v for k, v in answers.items()) or any(
                back.ratings.get(k) != v for k, v in ratings.items()):
            raise AnswersFileError(f"{path} did not read back as written")
    except AnswersFileError:
        if backup is not None:
            write_atomic(path, backup.read_bytes(), workspace)
        raise
    return backup
