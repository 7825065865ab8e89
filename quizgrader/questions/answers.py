"""The learner's answers file (answers/dayNN.toml in the workspace), read and judged.

    [answers]
    d16-dk-per-head = 64
    d16-mha-params-bias = "4*d**2 + 4*d"
    d16-prelayer-order = ["ln1", "self-attention", "add", "ln2", "feed-forward", "add"]

    [ratings]            # optional: the learner's own rating per rubric row
    1 = "Confident"

Whatever the file holds, reading it ends in answers to judge or in an AnswersFileError that says
what is wrong and where (line and column where TOML gives them): a folder or a device in its
place, more than MAX_BYTES, text that is not UTF-8, TOML that does not parse or nests deeper than
the parser can follow, sections of the wrong type, unknown question ids. An answer of the wrong
type (a table, a date, nan) is the judging's to report, question by question. Nothing in the file
is lost or rewritten.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import stat
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..results import Answer, QuestionResult
from ..safefs import write_atomic
from . import AnswerError, Bank, judge
from .reading import MAX_ITEMS, MAX_LENGTH, kind_of, shown

MAX_BYTES = 2**20  # an answers file is a few KiB; anything near this is not one
MAX_DEPTH = 10  # of [ and { (an answer needs 1); tomllib recurses on each level
MAX_KEY_PARTS = 100  # dots outside quotes on one line (a.b.c); tomllib is quadratic in them


class AnswersFileError(ValueError):
    """The answers file cannot be used as it is; the message names the file and the line."""


@dataclass
class Answers:
    answers: dict[str, Any]
    ratings: dict[int, str]


def present(path: Path) -> bool:
    """Something is where the answers file goes (a file, a folder, a broken link, or in place of
    its folder a file), so there is something to read, or to report."""
    return os.path.lexists(path) or (os.path.lexists(path.parent) and not path.parent.is_dir())


def read_text(path: Path) -> tuple[str, bool]:
    """The file's text, and whether it starts with a byte-order mark (dropped from the text).
    Only a regular file of at most MAX_BYTES is read, and never more than that."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block the run
    except OSError as e:
        raise AnswersFileError(f"{path} cannot be read: {e.strerror or e}") from None
    try:
        info = os.fstat(fd)
        mode, size = info.st_mode, info.st_size
        if stat.S_ISDIR(mode):
            raise AnswersFileError(f"{path} is a folder; the answers go in a file of that name")
        if not stat.S_ISREG(mode):
            raise AnswersFileError(f"{path} is not a regular file")
        if size > MAX_BYTES:
            raise AnswersFileError(_too_large(path, size))
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise AnswersFileError(f"{path} cannot be read: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise AnswersFileError(_too_large(path, len(data)))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line, column = _place(data, e.start)
        raise AnswersFileError(
            f"{path} is not UTF-8 text: byte 0x{data[e.start]:02x} at line {line}, column "
            f"{column}. Save it as UTF-8"
        ) from None
    bom = text.startswith("\ufeff")
    return (text[1:] if bom else text), bom


def _too_large(path: Path, size: int) -> str:
    return (
        f"{path} is {size / 2**20:.1f} MiB; an answers file is at most {MAX_BYTES // 2**20} MiB "
        "(a few KiB is usual): is it the right file?"
    )


def _place(data: bytes | str, offset: int) -> tuple[int, int]:
    """(line, column) of `offset`, both from 1."""
    newline = b"\n" if isinstance(data, bytes) else "\n"
    return data.count(newline, 0, offset) + 1, offset - (data.rfind(newline, 0, offset) + 1) + 1


# Strings and comments (skipped whole, so that brackets and dots in them do not count), brackets,
# dots and line ends.
_SCAN = re.compile(
    r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}.\n]', re.DOTALL
)


def _shape_problem(text: str) -> str | None:
    """Why tomllib must not be given `text`: arrays or inline tables nested deeper than
    MAX_DEPTH (it would recurse until Python gives up), or a key of more than MAX_KEY_PARTS
    dotted parts (its time and memory grow with the square of that). A cheap scan, before parsing."""
    depth = dots = 0
    line = 1
    for m in _SCAN.finditer(text):
        token = m.group()
        if token == "\n":
            line, dots = line + 1, 0
        elif token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return (
                    f"brackets nested more than {MAX_DEPTH} deep, at line {line}, column "
                    f"{_place(text, m.start())[1]}; an answer is a number, a text or a list of texts"
                )
        elif token in ("]", "}"):
            depth = max(0, depth - 1)
        elif token == ".":
            dots += 1
            if dots > MAX_KEY_PARTS:
                return (
                    f"line {line} has more than {MAX_KEY_PARTS} dots outside quotes (a dotted key of that "
                    "many parts?); question ids have none"
                )
        else:
            line += token.count("\n")
    return None


def _parse(path: Path, text: str) -> dict:
    if problem := _shape_problem(text):
        raise AnswersFileError(f"{path} cannot be read: {problem}")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise AnswersFileError(f"{path} is not valid TOML: {e}{_hint(text, str(e))}") from None
    except ValueError as e:  # an integer of more digits than Python converts
        raise AnswersFileError(
            f"{path} holds a value TOML cannot be read into: {str(e).split(':')[0]}"
        ) from None
    except RecursionError:
        raise AnswersFileError(f"{path} cannot be read: it nests too deeply") from None


def _hint(text: str, error: str) -> str:
    """What to do about a TOML error, where the line it names shows a common slip."""
    if "overwrite a value" in error:
        return ". A question id or a rating row is given twice: keep one"
    if "twice" in error:
        return ". A section ([answers] or [ratings]) appears twice: merge them into one"
    m = re.search(r"at line (\d+)", error)
    lines = text.splitlines()
    if not m or not 1 <= int(m.group(1)) <= len(lines) or len(lines[int(m.group(1)) - 1]) > MAX_LENGTH:
        return ""  # (a line that long is no slip, and not worth a regular expression's time)
    entry = re.fullmatch(
        r"\s*([A-Za-z0-9_-]+)\s*=\s*([^\s\"'\[{#][^#]*?)\s*(#.*)?", lines[int(m.group(1)) - 1]
    )
    if entry is None:
        return ""
    key, value = entry.group(1), entry.group(2)
    why = (
        "a number with a comma or a space"
        if re.fullmatch(r"[-+]?[0-9][0-9., \u00a0\u202f]*", value)
        else "text"
    )
    return f". Put {why} in quotes: {key} = {json.dumps(value)}"


def read_answers(path: Path, bank: Bank, scale: tuple[str, ...]) -> Answers:
    """The answers and ratings in the file at `path`; AnswersFileError when it cannot be used."""
    return parse_answers(path, read_text(path)[0], bank, scale)


def parse_answers(path: Path, text: str, bank: Bank, scale: tuple[str, ...]) -> Answers:
    """The answers and ratings in `text`, the file at `path`."""
    data = _parse(path, text)
    unknown_sections = sorted(set(data) - {"answers", "ratings"})
    if unknown_sections:
        names = ", ".join(map(shown, unknown_sections[:3])) + (" ..." if len(unknown_sections) > 3 else "")
        raise AnswersFileError(f"{path}: unknown section(s) {names}; the file has [answers] and [ratings]")
    for name in ("answers", "ratings"):
        if not isinstance(data.get(name, {}), dict):
            value = data[name]
            raise AnswersFileError(
                f"{path}: {name} is {kind_of(value)} ({shown(value)}), not a table: write a line "
                f"[{name}], then one {'question id' if name == 'answers' else 'row'} = "
                f"{'answer' if name == 'answers' else 'rating'} per line"
            )
    answers = data.get("answers", {})
    ids = [q.id for q in bank.questions]
    for key in answers:
        if key not in ids:
            close = difflib.get_close_matches(key[:MAX_LENGTH], ids, n=1)
            hint = f"; did you mean {close[0]}?" if close else " (`quiz show questions` lists them)"
            raise AnswersFileError(f"{path}: [answers] has an unknown question id {shown(key)}{hint}")
    ratings = {}
    for key, value in data.get("ratings", {}).items():
        if not re.fullmatch(r"[0-9]{1,3}", key):
            raise AnswersFileError(f"{path}: [ratings] keys are rubric row numbers, not {shown(key)}")
        if not isinstance(value, str) or value not in scale:
            raise AnswersFileError(
                f"{path}: [ratings] row {key} is {shown(value)}; use one of {', '.join(scale)}"
            )
        ratings[int(key)] = value
    return Answers(dict(answers), ratings)


def kept(value: Any) -> Any:
    """An answer as a report keeps it: as written when it is a number, a text or a list of texts,
    else (a table, a date, nan) as short text, so that every report format can hold it."""
    if isinstance(value, str):
        return value if len(value) <= MAX_LENGTH else value[:MAX_LENGTH] + "…"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):  # bool is an int
        return value
    if isinstance(value, list) and len(value) <= MAX_ITEMS and all(isinstance(v, (str, int)) for v in value):
        return [kept(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return shown(value, MAX_LENGTH)


def judge_all(bank: Bank, answers: Answers) -> list[QuestionResult]:
    """Every question's result. An answer that cannot be read is reported as such, and never
    keeps the others from being judged."""
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
            results.append(QuestionResult(q.id, q.row, Answer.UNREADABLE, str(e), given=kept(given)))
            continue
        except Exception as e:  # noqa: BLE001 - the last line: one answer never costs the report
            results.append(
                QuestionResult(
                    q.id,
                    q.row,
                    Answer.UNREADABLE,
                    f"this answer could not be judged ({type(e).__name__}); write it more simply",
                    given=kept(given),
                )
            )
            continue
        results.append(
            QuestionResult(
                q.id,
                q.row,
                Answer.CORRECT if verdict.correct else Answer.WRONG,
                "" if verdict.correct else verdict.feedback,
                verdict.known_mistake,
                kept(given),
            )
        )
    return results


HEADER = """\
# Checkpoint answers for {day}, judged by `quiz grade {day}` and kept up to date by `quiz answer {day}`.
# [answers]: question id = your answer (`quiz show questions {day}` lists them).
# [ratings]: rubric row = your own rating, one of {scale}.
"""


def save_answers(
    path: Path,
    bank: Bank,
    scale: tuple[str, ...],
    answers: dict[str, Any],
    ratings: dict[int, str],
    backups: Path | None,
    workspace: Path | None = None,
) -> Path | None:
    """Merge `answers` and `ratings` into the answers file, keeping everything else in it (other
    answers, comments, layout, a byte-order mark). The file as it was is copied into `backups`
    first, unless that is None, and the copy returned. The new file replaces the old in one
    rename, and it must read back as what was written, or the old one is put back the same way.
    A file that cannot be read is never rewritten, and nothing is written through a link inside
    `workspace` (default: the folder holding answers/)."""
    workspace = workspace if workspace is not None else path.parent.parent
    import tomlkit

    old, bom = read_text(path) if present(path) else (None, False)
    if old is not None:
        parse_answers(path, old, bank, scale)
    doc = tomlkit.parse(old if old is not None else HEADER.format(day=bank.day, scale=", ".join(scale)))
    for name, values in (("answers", answers), ("ratings", {str(k): v for k, v in sorted(ratings.items())})):
        if not values:
            continue
        if name not in doc:
            doc.add(name, tomlkit.table())
        for key, value in values.items():
            doc[name][key] = value
    mark = "\ufeff" if bom else ""
    backup = None
    if old is not None and backups is not None:
        backup = backups / f"{path.stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.toml"
        n = 1
        while os.path.lexists(backup):
            n += 1
            backup = backup.with_name(f"{path.stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{n}.toml")
        write_atomic(backup, mark + old, workspace)
    write_atomic(path, mark + tomlkit.dumps(doc), workspace)
    try:
        back = read_answers(path, bank, scale)
        if any(back.answers.get(k) != v for k, v in answers.items()) or any(
            back.ratings.get(k) != v for k, v in ratings.items()
        ):
            raise AnswersFileError(f"{path} did not read back as written")
    except AnswersFileError:
        if old is not None:
            write_atomic(path, mark + old, workspace)
        else:
            path.unlink(missing_ok=True)
        raise
    return backup


class Saver:
    """The answers and ratings of a `quiz answer` session, saved as they are given, so that an
    interruption loses none already given. The file as it was before the session is backed up
    once, at the first save; a save that would change nothing is skipped."""

    def __init__(
        self, path: Path, bank: Bank, scale: tuple[str, ...], backups: Path, workspace: Path | None = None
    ) -> None:
        self.path, self.bank, self.scale, self.backups, self.workspace = path, bank, scale, backups, workspace
        self.backup: Path | None = None
        self.saved: tuple[dict, dict] | None = None  # what the file holds from this session

    def save(self, answers: dict[str, Any], ratings: dict[int, str]) -> None:
        """Raises AnswersFileError or OSError when the file cannot be written (or read) now."""
        if self.saved == (answers, ratings):
            return
        backup = save_answers(
            self.path,
            self.bank,
            self.scale,
            answers,
            ratings,
            None if self.backup else self.backups,
            self.workspace,
        )
        self.backup = self.backup or backup
        self.saved = (dict(answers), dict(ratings))
