"""The learner's history: every grading and answering run of a workspace and every reference
solution shown, kept in one SQLite file, and the progress per rubric row computed from it (what
`quiz progress` shows).

The file lives at WORKSPACE/.quiz/history.sqlite3 unless QUIZ_HISTORY names another file, or is
`off`. Several runs may write at once (two terminals, an editor's test task): the file is in WAL
mode with a long busy timeout, and each run is written in one transaction, so a run that is killed
part-way leaves nothing of itself behind. A file that cannot be read as a history is reported and
left exactly as it is: it is the learner's record, never ours to replace.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from . import __version__, safefs
from .catalog import Day
from .results import Answer, GradeReport, QuestionResult, RubricRating
from .rubric import standing
from .safefs import LinkError

KINDS = ("grade", "answer")
MAX_INTERVAL = 30  # days: the longest a row the learner is sure of stays away
SIDE_FILES = ("-journal", "-wal", "-shm")  # what SQLite keeps beside a database file

# Schema steps: step i takes a file from user_version i to i + 1. A later version appends a step;
# a file is never taken backwards.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE session (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('grade', 'answer')),
            day TEXT NOT NULL,
            started TEXT NOT NULL,          -- ISO-8601, UTC
            finished TEXT,
            version TEXT NOT NULL DEFAULT '',
            seed INTEGER,
            profile TEXT NOT NULL DEFAULT '',
            device TEXT NOT NULL DEFAULT '',
            passed INTEGER CHECK (passed IN (0, 1)))""",
        "CREATE INDEX session_day_started ON session (day, started)",
        """CREATE TABLE exercise (
            session_id INTEGER NOT NULL REFERENCES session (id) ON DELETE CASCADE,
            exercise_id TEXT NOT NULL,
            status TEXT NOT NULL,
            passed_checks INTEGER NOT NULL,
            checks INTEGER NOT NULL,
            seconds REAL NOT NULL,
            diagnosis TEXT NOT NULL DEFAULT '',   -- known mistake ids, comma-joined
            PRIMARY KEY (session_id, exercise_id))""",
        """CREATE TABLE question (
            session_id INTEGER NOT NULL REFERENCES session (id) ON DELETE CASCADE,
            question_id TEXT NOT NULL,
            "row" INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            answer TEXT,                          -- the learner's answer as JSON; NULL: none given
            PRIMARY KEY (session_id, question_id))""",
        """CREATE TABLE row_rating (
            session_id INTEGER NOT NULL REFERENCES session (id) ON DELETE CASCADE,
            "row" INTEGER NOT NULL,
            area TEXT NOT NULL,
            rating TEXT,
            self_rating TEXT,
            PRIMARY KEY (session_id, "row"))""",
    ),
    (  # 2: a reference solution shown (`quiz solution`), forced: before the exercise passed
        """CREATE TABLE reveal (
            id INTEGER PRIMARY KEY,
            exercise_id TEXT NOT NULL,
            at TEXT NOT NULL,                     -- ISO-8601, UTC
            forced INTEGER NOT NULL CHECK (forced IN (0, 1)),
            status TEXT NOT NULL DEFAULT '')      -- the exercise's status then; '' when not graded""",
        "CREATE INDEX reveal_exercise ON reveal (exercise_id)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


WRITE_SECONDS = 20.0  # the longest any use of the history may take (a thousand runs take well under 1 s)


class HistoryError(RuntimeError):
    """The history file cannot be opened, read or written; the message names the file."""


def default_path(workspace: Path) -> Path:
    return Path(workspace) / ".quiz" / "history.sqlite3"


def resolve_path(workspace: Path) -> Path | None:
    """The history file for `workspace`: QUIZ_HISTORY when set (a file, or `off`: keep none)."""
    value = os.environ.get("QUIZ_HISTORY", "").strip()
    if value.lower() == "off":
        return None
    return Path(value).expanduser() if value else default_path(workspace)


# ---------------------------------------------------------------------------------------------- data


@dataclass
class ExerciseRow:
    exercise_id: str
    status: str
    passed_checks: int
    checks: int
    seconds: float
    diagnosis: list[str] = field(default_factory=list)


@dataclass
class QuestionRow:
    question_id: str
    row: int
    outcome: str
    answer: Any = None  # what the learner wrote (JSON-able); None: no answer given


@dataclass
class RowRating:
    row: int
    area: str
    rating: str | None  # from the evidence; None: nothing in this run spoke for the row
    self_rating: str | None = None


@dataclass
class Session:
    """One run, as stored. Plain strings rather than the result enums, so that a history written
    by an older version still reads after a status or an outcome is renamed."""

    kind: str
    day: str
    started: datetime
    finished: datetime | None = None
    version: str = __version__
    seed: int | None = None
    profile: str = ""
    device: str = ""
    passed: bool | None = None
    exercises: list[ExerciseRow] = field(default_factory=list)
    questions: list[QuestionRow] = field(default_factory=list)
    rows: list[RowRating] = field(default_factory=list)
    id: int | None = field(default=None, compare=False)  # set once stored

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"session kind must be one of {KINDS}, not {self.kind!r}")
        self.started = _utc(self.started)
        self.finished = None if self.finished is None else _utc(self.finished)

    @classmethod
    def from_report(
        cls,
        report: GradeReport,
        started: datetime,
        kind: str = "grade",
        answers: dict[str, object] | None = None,
    ) -> Session:
        """A grading run; `answers` maps question ids to what the learner wrote."""
        finished = started + timedelta(seconds=report.seconds) if report.seconds else datetime.now(UTC)
        return cls(
            kind=kind,
            day=report.day,
            started=started,
            finished=finished,
            version=report.version or __version__,
            seed=report.seed,
            profile=report.profile,
            device=report.device,
            passed=report.passed if kind == "grade" else report.questions_ok,
            exercises=[
                ExerciseRow(e.id, str(e.status), e.passed_checks, len(e.checks), e.seconds, list(e.diagnosis))
                for e in report.exercises
            ],
            questions=_question_rows(report.questions, answers),
            rows=_rating_rows(report.rubric),
        )

    @classmethod
    def answered(
        cls,
        day: str,
        started: datetime,
        questions: Iterable[QuestionResult],
        rubric: Iterable[RubricRating],
        answers: dict[str, object] | None = None,
        finished: datetime | None = None,
    ) -> Session:
        """A run that only judged the answers file (no code graded): passed when no answer is
        wrong or unreadable."""
        questions = list(questions)
        return cls(
            kind="answer",
            day=day,
            started=started,
            finished=finished or datetime.now(UTC),
            passed=all(q.outcome not in (Answer.WRONG, Answer.UNREADABLE) for q in questions),
            questions=_question_rows(questions, answers),
            rows=_rating_rows(rubric),
        )


@dataclass
class Reveal:
    """A reference solution shown to the learner; `forced` when their code did not pass first."""

    exercise_id: str
    at: datetime
    forced: bool
    status: str = ""  # the exercise's status when shown; "" when it was not graded
    id: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.at = _utc(self.at)


def _question_rows(
    questions: Iterable[QuestionResult], answers: dict[str, object] | None
) -> list[QuestionRow]:
    answers = answers or {}
    return [QuestionRow(q.id, q.row, str(q.outcome), answers.get(q.id, q.given)) for q in questions]


def _rating_rows(rubric: Iterable[RubricRating]) -> list[RowRating]:
    return [RowRating(r.row, r.area, r.rating, r.self_rating) for r in rubric]


def _utc(moment: datetime) -> datetime:
    """Aware UTC (a naive time is taken as local, as `datetime.astimezone` does)."""
    return moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _utc(moment).isoformat(timespec="microseconds")


def _json(value: Any) -> str | None:
    # TOML dates and times are not JSON: kept as their text rather than lost.
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


# ------------------------------------------------------------------------------------------- storage


class History:
    """The history file of one workspace, open for reading and writing."""

    def __init__(self, path: Path, workspace: Path | None = None) -> None:
        """Open (or make) the file at `path`. A link inside `workspace` (default: the file's
        folder) on the way to it, or at the file or at one of the files SQLite keeps beside it,
        is refused with LinkError: SQLite would write through it. (Python's sqlite3 cannot ask
        SQLite not to follow links, SQLITE_OPEN_NOFOLLOW being a flag no URI parameter sets.)"""
        self.path = Path(path)
        inside = Path(workspace) if workspace is not None else self.path.parent
        try:
            safefs.make_dirs(self.path.parent, inside, writing=self.path)
            for name in (self.path.name, *(self.path.name + suffix for suffix in SIDE_FILES)):
                safefs.refuse_links(self.path.with_name(name), inside)
        except LinkError:
            raise
        except OSError as e:
            raise HistoryError(f"{self.path}: cannot create its folder ({e})") from None
        try:
            # Transactions are ours (BEGIN IMMEDIATE ... COMMIT), not the sqlite3 module's.
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as e:
            raise HistoryError(f"{self.path} cannot be opened as a history database ({e})") from None
        self._db.row_factory = sqlite3.Row
        # A history file is the workspace's, and a workspace is the learner's: no statement of ours
        # may run past a deadline (a trigger planted to loop forever), and only our own schema is used.
        deadline = time.monotonic() + WRITE_SECONDS
        self._db.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            with self._errors("cannot be opened as a history database"):
                planted = [
                    r[0]
                    for r in self._db.execute(
                        "SELECT name FROM sqlite_master WHERE type IN ('trigger', 'view')"
                    )
                ]
                if planted:
                    raise HistoryError(
                        f"{self.path} holds triggers or views ({', '.join(planted[:3])}) that the "
                        "grader never makes: it is not used; move it away to start a new history"
                    )
                self._db.execute("PRAGMA foreign_keys=ON")
                self._wal()
                self._migrate()
        except BaseException:
            self._db.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """SQLite's errors as HistoryError naming the file ("file is not a database", "database is
        locked" after the busy timeout, a full disk ...)."""
        try:
            yield
        except sqlite3.Error as e:
            raise HistoryError(f"{self.path} {doing} ({e}); the file is left as it is") from None

    @contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[None]:
        """IMMEDIATE takes the write lock up front, so two writers queue on the busy timeout rather
        than one failing on a lock upgrade; DEFERRED is a read snapshot."""
        self._db.execute(f"BEGIN {mode}")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _wal(self, patience: float = 30.0) -> None:
        """Switch the file to write-ahead logging (readers never wait for a writer). The switch
        needs the file to itself and SQLite reports a second run switching at the same moment as
        locked at once, without its busy timeout, so the wait is here."""
        deadline = time.monotonic() + patience
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _user_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        if self._user_version() == SCHEMA_VERSION:
            return
        with self._transaction():
            current = self._user_version()  # again, under the lock: another run may have done it
            if current > SCHEMA_VERSION:
                raise HistoryError(
                    f"{self.path} was written by a newer quizgrader (history schema "
                    f"{current}, this one knows up to {SCHEMA_VERSION}); upgrade quizgrader "
                    "or set QUIZ_HISTORY to another file"
                )
            if current == 0 and self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise HistoryError(
                    f"{self.path} is an SQLite database but not a quiz history; "
                    "set QUIZ_HISTORY to another file"
                )
            for step in MIGRATIONS[current:]:
                for statement in step:
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def record(self, session: Session) -> int:
        """Store `session` in one transaction; its id."""
        with self._errors("could not be written"), self._transaction():
            session.id = self._insert(session)
        return session.id

    def _insert(self, s: Session) -> int:
        sid = self._db.execute(
            "INSERT INTO session (kind, day, started, finished, version, seed, profile, device, passed)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                s.kind,
                s.day,
                _iso(s.started),
                _iso(s.finished),
                s.version,
                s.seed,
                s.profile,
                s.device,
                None if s.passed is None else int(s.passed),
            ),
        ).lastrowid
        self._db.executemany(
            "INSERT INTO exercise VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (sid, e.exercise_id, e.status, e.passed_checks, e.checks, e.seconds, ",".join(e.diagnosis))
                for e in s.exercises
            ],
        )
        self._db.executemany(
            "INSERT INTO question VALUES (?, ?, ?, ?, ?)",
            [(sid, q.question_id, q.row, q.outcome, _json(q.answer)) for q in s.questions],
        )
        self._db.executemany(
            "INSERT INTO row_rating VALUES (?, ?, ?, ?, ?)",
            [(sid, r.row, r.area, r.rating, r.self_rating) for r in s.rows],
        )
        return sid

    def sessions(self, day: str | None = None) -> list[Session]:
        """Every stored session (of `day`, when given), oldest first, with all its rows."""
        where, args = ("WHERE day = ?", (day,)) if day is not None else ("", ())
        of = f"WHERE session_id IN (SELECT id FROM session {where}) ORDER BY rowid"
        with self._errors("could not be read"), self._transaction("DEFERRED"):
            heads = self._db.execute(f"SELECT * FROM session {where} ORDER BY started, id", args).fetchall()
            children = {
                table: self._db.execute(f"SELECT * FROM {table} {of}", args).fetchall()
                for table in ("exercise", "question", "row_rating")
            }
        out = {
            h["id"]: Session(
                kind=h["kind"],
                day=h["day"],
                started=datetime.fromisoformat(h["started"]),
                finished=None if h["finished"] is None else datetime.fromisoformat(h["finished"]),
                version=h["version"],
                seed=h["seed"],
                profile=h["profile"],
                device=h["device"],
                passed=None if h["passed"] is None else bool(h["passed"]),
                id=h["id"],
            )
            for h in heads
        }
        for e in children["exercise"]:
            out[e["session_id"]].exercises.append(
                ExerciseRow(
                    e["exercise_id"],
                    e["status"],
                    e["passed_checks"],
                    e["checks"],
                    e["seconds"],
                    e["diagnosis"].split(",") if e["diagnosis"] else [],
                )
            )
        for q in children["question"]:
            out[q["session_id"]].questions.append(
                QuestionRow(
                    q["question_id"],
                    q["row"],
                    q["outcome"],
                    None if q["answer"] is None else json.loads(q["answer"]),
                )
            )
        for r in children["row_rating"]:
            out[r["session_id"]].rows.append(RowRating(r["row"], r["area"], r["rating"], r["self_rating"]))
        return list(out.values())

    def record_reveal(self, reveal: Reveal) -> int:
        """Store a reveal; its id."""
        with self._errors("could not be written"), self._transaction():
            reveal.id = self._db.execute(
                "INSERT INTO reveal (exercise_id, at, forced, status) VALUES (?, ?, ?, ?)",
                (reveal.exercise_id, _iso(reveal.at), int(reveal.forced), reveal.status),
            ).lastrowid
        return reveal.id

    def reveals(self, exercise_id: str | None = None) -> list[Reveal]:
        """Every reveal (of `exercise_id`, when given), oldest first."""
        where, args = ("WHERE exercise_id = ?", (exercise_id,)) if exercise_id is not None else ("", ())
        with self._errors("could not be read"):
            rows = self._db.execute(f"SELECT * FROM reveal {where} ORDER BY at, id", args).fetchall()
        return [
            Reveal(
                r["exercise_id"], datetime.fromisoformat(r["at"]), bool(r["forced"]), r["status"], id=r["id"]
            )
            for r in rows
        ]

    def integrity(self) -> str:
        """SQLite's own check of the file: "ok", or what is wrong."""
        with self._errors("could not be checked"):
            return "\n".join(r[0] for r in self._db.execute("PRAGMA integrity_check"))


# ------------------------------------------------------------------------------------------ progress


@dataclass(frozen=True)
class Attempt:
    date: date  # local date of the run
    kind: str
    rating: str | None
    self_rating: str | None
    standing: str  # the worse of the two: what the verdict and the schedule go by


@dataclass
class RowProgress:
    row: int
    area: str
    trend: list[Attempt]  # oldest first
    last: str | None  # standing of the latest attempt; None: not started
    streak: int  # days of the latest attempts in a row at the best rating
    due: date | None  # when to come back to the row; None: not started

    def is_due(self, today: date) -> bool:
        return self.due is not None and self.due <= today


def interval(streak: int) -> int:
    """Days until a row comes back: tomorrow while it is not at the best rating (the course's
    advice: try the question again the next day); then doubling with each attempt in a row at the
    best (2, 4, 8 ...), up to MAX_INTERVAL."""
    return 1 if streak == 0 else min(2**streak, MAX_INTERVAL)


def progress(sessions: list[Session], day: Day, today: date) -> list[RowProgress]:
    """Per rubric row of `day`, its trend over the runs up to `today` (local dates). A run that
    said nothing about a row (a grade of some exercises only, no self rating) is no attempt at it."""
    runs = sorted((s for s in sessions if s.day == day.id), key=lambda s: s.started)
    best = day.scale[0]
    out = []
    for row in day.rubric:
        trend = []
        for s in runs:
            when = s.started.astimezone().date()
            r = next((r for r in s.rows if r.row == row.number), None)
            if r is None or when > today:
                continue
            # A rating outside the scale (the catalog renamed one since) counts as none.
            rating, mine = (v if v in day.scale else None for v in (r.rating, r.self_rating))
            if (now := standing(rating, mine, day.scale)) is not None:
                trend.append(Attempt(when, s.kind, r.rating, r.self_rating, now))
        # Days (not runs) in a row at the best rating: grading three times in one afternoon does
        # not push a row three steps away.
        at_best = next((i for i, a in enumerate(reversed(trend)) if a.standing != best), len(trend))
        streak = len({a.date for a in trend[len(trend) - at_best :]})
        out.append(
            RowProgress(
                row.number,
                row.area,
                trend,
                trend[-1].standing if trend else None,
                streak,
                trend[-1].date + timedelta(days=interval(streak)) if trend else None,
            )
        )
    return out


def trend_marks(row: RowProgress, scale: tuple[str, ...]) -> str:
    """The trend at a glance, oldest first: ✔ best, ~ middle, ✘ worst (e.g. "✘ ~ ✔ ✔")."""
    marks = dict(zip(scale, ("✔", "~", "✘")))
    return " ".join(marks.get(a.standing, "?") for a in row.trend)
