"""The history file (storage, transactions, concurrency, damaged files) and the progress schedule."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from quizgrader.catalog import load_day
from quizgrader.history import (
    SCHEMA_VERSION,
    History,
    HistoryError,
    RowRating,
    Session,
    default_path,
    progress,
    resolve_path,
    trend_marks,
)
from quizgrader.results import (
    Answer,
    CheckResult,
    ExerciseResult,
    GradeReport,
    QuestionResult,
    RubricRating,
    Status,
)
from quizgrader.safefs import LinkError

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"
DAY16, DAY09 = load_day("day16"), load_day("day09")
CONFIDENT, SHAKY, RESTUDY = DAY16.scale


def report(seed: int = 0) -> GradeReport:
    """A day16 run as the grader would report it: one exercise passing, one failing with known
    mistakes, questions right, wrong and unanswered, rows rated, self-rated and without evidence."""
    softmax = ExerciseResult(
        "day16.attention.softmax",
        "Softmax",
        Status.PASS,
        seconds=0.25,
        checks=[
            CheckResult("rows sum to 1", Status.PASS),
            CheckResult("stable for large inputs", Status.PASS),
        ],
    )
    mha = ExerciseResult(
        "day16.attention.multi_head",
        "Multi-head attention",
        Status.FAIL,
        checks=[CheckResult("shape", Status.PASS), CheckResult("matches", Status.FAIL)],
        diagnosis=["heads-not-split", "missing-scale"],
        seconds=1.5,
    )
    questions = [
        QuestionResult("d16-dk-per-head", 3, Answer.CORRECT),
        QuestionResult("d16-prelayer-order", 5, Answer.WRONG, "ln2 comes before the FFN"),
        QuestionResult("d16-why-scale", 2, Answer.UNANSWERED),
    ]
    rubric = [
        RubricRating(2, "Scaled dot-product equation", CONFIDENT, ["softmax: pass"], SHAKY, False),
        RubricRating(3, "Multi-head attention mechanics", SHAKY, ["multi_head: fail"]),
        RubricRating(8, "Why transformers beat RNNs", None, [], RESTUDY),
    ]
    return GradeReport(
        "day16",
        "Transformers",
        "/ws",
        seed,
        "cpu-fast",
        "cpu",
        DAY16.scale,
        [softmax, mha],
        rubric,
        seconds=2.0,
        version="0.1.0",
        questions=questions,
    )


ANSWERS = {"d16-dk-per-head": 64, "d16-prelayer-order": ["ln1", "attention", "add", "ffn", "add"]}
T0 = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def test_round_trip(tmp_path):
    first = Session.from_report(report(1), T0, answers=ANSWERS)
    earlier = Session.from_report(report(2), T0 - timedelta(days=1), answers={})
    with History(tmp_path / "h.sqlite3") as h:
        assert h.record(first) == first.id
        h.record(earlier)
        back = h.sessions()
        assert h.sessions("day09") == []
    assert back == [earlier, first]  # oldest first, whatever order they came in
    got = back[1]
    assert got.started == T0 and got.started.tzinfo is not None and got.finished == T0 + timedelta(seconds=2)
    assert (got.kind, got.seed, got.passed) == ("grade", 1, False)
    assert [(e.exercise_id, e.status, e.passed_checks, e.checks, e.diagnosis) for e in got.exercises] == [
        ("day16.attention.softmax", "pass", 2, 2, []),
        ("day16.attention.multi_head", "fail", 1, 2, ["heads-not-split", "missing-scale"]),
    ]
    assert [(q.question_id, q.outcome, q.answer) for q in got.questions] == [
        ("d16-dk-per-head", "correct", 64),
        ("d16-prelayer-order", "wrong", ANSWERS["d16-prelayer-order"]),
        ("d16-why-scale", "unanswered", None),
    ]
    assert [(r.row, r.rating, r.self_rating) for r in got.rows] == [
        (2, CONFIDENT, SHAKY),
        (3, SHAKY, None),
        (8, None, RESTUDY),
    ]


def test_answer_session_and_cascade(tmp_path):
    questions = [
        QuestionResult("d16-dk-per-head", 3, Answer.CORRECT),
        QuestionResult("d16-why-scale", 2, Answer.SELF_RATED),
    ]
    rubric = [RubricRating(3, "Multi-head attention mechanics", CONFIDENT, self_rating=CONFIDENT)]
    s = Session.answered("day16", T0, questions, rubric, answers={"d16-dk-per-head": 64})
    assert (s.kind, s.passed, s.exercises) == ("answer", True, [])
    path = tmp_path / "h.sqlite3"
    with History(path) as h:
        sid = h.record(s)
        assert h.sessions() == [s]
    with _sql(path) as db:  # the children go with their session
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("DELETE FROM session WHERE id = ?", (sid,))
        assert [
            db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("question", "row_rating")
        ] == [0, 0]
    with pytest.raises(ValueError, match="kind"):
        Session("practice", "day16", T0)


def _child(code: str, path: Path, questions: int) -> subprocess.Popen:
    """A separate Python process working on the history at `path`: it says "ready" and waits for
    a line on stdin before it writes."""
    prelude = f"""
        import sys, time
        from datetime import UTC, datetime, timedelta
        from quizgrader.history import History, RowRating, QuestionRow, Session
        h = History({str(path)!r})
        def session(i, **more):
            return Session("answer", "day16", datetime(2025, 3, 1, tzinfo=UTC) + timedelta(minutes=i), **more,
                           questions=[QuestionRow(f"q{{j}}", 1, "correct", j) for j in range({questions})],
                           rows=[RowRating(r, "area", "Confident") for r in range(1, 9)])
        print("ready", flush=True)
        sys.stdin.readline()
    """
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(prelude) + textwrap.dedent(code)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def _sql(path: Path, **kw) -> Iterator[sqlite3.Connection]:
    """A plain connection, as another program would open the file; closed after."""
    with closing(sqlite3.connect(path, **kw)) as db, db:
        yield db


def _counts(path: Path) -> list[int]:
    with _sql(path) as db:
        return [
            db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("session", "exercise", "question", "row_rating")
        ]


def test_killed_mid_write_leaves_no_partial_session(tmp_path):
    path = tmp_path / "h.sqlite3"
    with History(path) as h:
        kept = [Session.from_report(report(i), T0 + timedelta(hours=i), answers=ANSWERS) for i in range(3)]
        for s in kept:
            h.record(s)
    before = _counts(path)
    # The child writes a large session with a tiny page cache, so SQLite spills the uncommitted
    # pages into the write-ahead log, then stops inside the transaction until it is killed.
    wal = Path(f"{path}-wal")
    wal_before = wal.stat().st_size if wal.exists() else 0
    with _child(
        """
        h._db.execute("PRAGMA cache_size=2")
        insert = History._insert
        def stuck(self, s):
            insert(self, s)
            print("inside", flush=True)
            time.sleep(120)
        History._insert = stuck
        h.record(session(0))
        """,
        path,
        questions=2000,
    ) as child:
        try:
            assert child.stdout.readline().strip() == "ready"
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "inside", child.stderr.read()
            assert wal.stat().st_size > wal_before + 100_000  # the partial session is on disk
        finally:
            child.send_signal(signal.SIGKILL)
    assert child.returncode == -signal.SIGKILL
    with History(path) as h:
        assert h.integrity() == "ok"
        assert h.sessions() == kept
        assert _counts(path) == before
        later = Session.from_report(report(9), T0 + timedelta(days=1))
        h.record(later)
        assert h.sessions() == [*kept, later]


def test_two_writers_at_once(tmp_path):
    path = tmp_path / "fresh" / "h.sqlite3"  # both create it: the schema race is part of it
    children = [
        _child(
            f"""
        for i in range(40):
            h.record(session(i, device="writer{n}"))
        """,
            path,
            questions=5,
        )
        for n in range(2)
    ]
    for c in children:
        assert c.stdout.readline().strip() == "ready", c.stderr.read()
    # A third writer holds the file as both start, so both must queue on the busy timeout.
    with _sql(path, isolation_level=None) as db:
        db.execute("BEGIN IMMEDIATE")
        for c in children:
            c.stdin.write("go\n")
            c.stdin.flush()
        time.sleep(0.3)
        db.execute("COMMIT")
    for c in children:
        _out, err = c.communicate(timeout=60)
        assert c.returncode == 0, err
        assert "locked" not in err
    with History(path) as h:
        assert h.integrity() == "ok"
        sessions = h.sessions()
    assert sorted(s.device for s in sessions) == ["writer0"] * 40 + ["writer1"] * 40
    assert all(len(s.questions) == 5 and len(s.rows) == 8 for s in sessions)
    assert _counts(path) == [80, 0, 400, 640]


def test_garbage_file_is_reported_and_left_alone(tmp_path):
    path = tmp_path / "history.sqlite3"
    garbage = b"these are my notes, not a database\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(HistoryError, match=str(path)):
        History(path)
    assert path.read_bytes() == garbage


def test_other_databases_are_refused(tmp_path):
    newer, foreign = tmp_path / "newer.sqlite3", tmp_path / "foreign.sqlite3"
    with _sql(newer) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(HistoryError, match="newer"):
        History(newer)
    with _sql(foreign) as db:
        db.execute("CREATE TABLE notes (text)")
    with pytest.raises(HistoryError, match="not a quiz history"):
        History(foreign)
    with _sql(foreign) as db:  # untouched
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]


def test_paths(tmp_path, monkeypatch):
    monkeypatch.delenv("QUIZ_HISTORY", raising=False)
    assert resolve_path(tmp_path) == default_path(tmp_path) == tmp_path / ".quiz" / "history.sqlite3"
    with History(resolve_path(tmp_path)) as h:  # creates the folder
        assert h.sessions() == []
    monkeypatch.setenv("QUIZ_HISTORY", "off")
    assert resolve_path(tmp_path) is None
    monkeypatch.setenv("QUIZ_HISTORY", str(tmp_path / "elsewhere.db"))
    assert resolve_path(tmp_path) == tmp_path / "elsewhere.db"


@pytest.mark.parametrize(
    "planted",
    [
        ".quiz",
        ".quiz/history.sqlite3",
        ".quiz/history.sqlite3-journal",
        ".quiz/history.sqlite3-wal",
        ".quiz/history.sqlite3-shm",
    ],
)
def test_a_history_reached_through_a_planted_link_is_refused_and_nothing_outside_changes(tmp_path, planted):
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    (ws / ".quiz").mkdir(parents=True)
    outside.mkdir()
    with History(outside / "history.sqlite3") as h:  # the learner's own history, elsewhere
        h.record(Session.from_report(report(), T0))
    (outside / "history.sqlite3-journal").write_text("not a journal")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in outside.iterdir()}
    link, path = ws / planted, default_path(ws)
    target = (
        outside
        if planted == ".quiz"
        else outside / ("history.sqlite3" if planted.endswith("3") else "history.sqlite3-journal")
    )
    if planted == ".quiz":
        (ws / ".quiz").rmdir()
    link.symlink_to(target)
    with pytest.raises(LinkError) as caught:
        History(path, ws)
    assert str(caught.value).startswith(
        f"refused to write {path}: {link} is a link to {target}, "
        if link == path.parent
        else f"refused to write {link}: it is a link to {target}, "
    )
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in outside.iterdir()} == before
    if planted == ".quiz":
        history = subprocess.run(
            [sys.executable, "-m", "quizgrader", "progress", "day16", "--workspace", str(ws)],
            env={**os.environ, "QUIZ_HISTORY": "", "COLUMNS": "300"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert history.returncode == 2 and f"{ws / '.quiz'} is a link to {outside}" in history.stderr
        assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in outside.iterdir()} == before


# -------------------------------------------------------------------------------------------- progress


def noon(d: date) -> datetime:
    """Midday local time: the same local date whatever the machine's time zone."""
    return datetime(d.year, d.month, d.day, 12).astimezone()


def run(d: date, ratings: dict[int, tuple[str | None, str | None]], day=DAY16, kind="grade") -> Session:
    return Session(
        kind, day.id, noon(d), rows=[RowRating(n, day.row(n).area, *r) for n, r in ratings.items()]
    )


D = date(2025, 3, 1)


def test_trend_order_skips_and_standing():
    sessions = [
        run(D + timedelta(2), {1: (CONFIDENT, None), 2: (None, None)}),  # row 2 not graded this time
        run(D, {1: (RESTUDY, None), 2: (CONFIDENT, SHAKY)}, kind="answer"),
        run(D + timedelta(1), {1: (SHAKY, CONFIDENT), 2: (RESTUDY, CONFIDENT), 3: (None, SHAKY)}),
        run(D + timedelta(1), {5: ("✅ Solid", None)}, day=DAY09),  # another day's run
    ]
    rows = {p.row: p for p in progress(sessions, DAY16, D + timedelta(5))}
    assert [(a.date, a.kind, a.standing) for a in rows[1].trend] == [
        (D, "answer", RESTUDY),
        (D + timedelta(1), "grade", SHAKY),
        (D + timedelta(2), "grade", CONFIDENT),
    ]
    # standing: the worse of the evidence's rating and the learner's own
    assert [(a.rating, a.self_rating, a.standing) for a in rows[2].trend] == [
        (CONFIDENT, SHAKY, SHAKY),
        (RESTUDY, CONFIDENT, RESTUDY),
    ]
    assert [(a.rating, a.self_rating, a.standing) for a in rows[3].trend] == [(None, SHAKY, SHAKY)]
    assert trend_marks(rows[1], DAY16.scale) == "✘ ~ ✔"
    assert (rows[2].last, rows[2].streak) == (RESTUDY, 0)
    not_started = rows[5]
    assert (not_started.trend, not_started.last, not_started.streak, not_started.due) == ([], None, 0, None)
    assert not not_started.is_due(D + timedelta(365)) and trend_marks(not_started, DAY16.scale) == ""
    assert [p.row for p in progress(sessions, DAY16, D)] == [r.number for r in DAY16.rubric]


@pytest.mark.parametrize("day", [DAY16, DAY09], ids=lambda d: d.id)
@pytest.mark.parametrize("level", [1, 2])
def test_not_best_comes_back_tomorrow(day, level):
    not_best = day.scale[level]
    sessions = [
        run(D, {1: (day.scale[0], None)}, day=day),
        run(D + timedelta(3), {1: (not_best, None)}, day=day),
    ]
    row = progress(sessions, day, D + timedelta(3))[0]
    assert (row.last, row.streak, row.due) == (not_best, 0, D + timedelta(4))
    assert not row.is_due(D + timedelta(3)) and row.is_due(D + timedelta(4)) and row.is_due(D + timedelta(9))


@pytest.mark.parametrize("day", [DAY16, DAY09], ids=lambda d: d.id)
def test_streak_at_best_doubles_up_to_30_days(day):
    best, middle, worst = day.scale
    sessions = [run(D, {2: (worst, None)}, day=day)]
    for streak, wait in enumerate([2, 4, 8, 16, 30, 30], start=1):
        last = D + timedelta(streak)
        sessions.append(run(last, {2: (best, None)}, day=day))
        row = progress(sessions, day, last)[1]
        assert (row.last, row.streak, row.due) == (best, streak, last + timedelta(wait))
    assert trend_marks(row, day.scale) == "✘ ✔ ✔ ✔ ✔ ✔ ✔"
    # one doubt (the learner's own rating) breaks the streak; it starts again from 1
    sessions.append(run(last + timedelta(1), {2: (best, middle)}, day=day))
    sessions.append(run(last + timedelta(2), {2: (best, None)}, day=day))
    row = progress(sessions, day, last + timedelta(2))[1]
    assert (row.streak, row.due) == (1, last + timedelta(4))
    assert trend_marks(row, day.scale) == "✘ ✔ ✔ ✔ ✔ ✔ ✔ ~ ✔"
    # the streak counts days, not runs: grading again the same day moves nothing further away
    sessions += [run(last + timedelta(2), {2: (best, None)}, day=day) for _ in range(3)]
    row = progress(sessions, day, last + timedelta(2))[1]
    assert (row.streak, row.due) == (1, last + timedelta(4))


@pytest.fixture
def ahead_of_utc(monkeypatch):
    """Local time well ahead of UTC: an early-morning run is still the previous day in UTC."""
    monkeypatch.setenv("TZ", "NZST-12")  # POSIX form: UTC+12, needs no time zone database
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_progress_as_of_a_day_and_local_dates(ahead_of_utc):
    early = datetime(2025, 3, 1, 8, 0).astimezone()
    assert early.astimezone(UTC).date() == D - timedelta(1)
    sessions = [
        Session("grade", "day16", early, rows=[RowRating(1, "a", SHAKY)]),
        run(D + timedelta(10), {1: (CONFIDENT, None)}),
    ]
    row = progress(sessions, DAY16, D + timedelta(2))[0]  # before the later run: it does not count yet
    assert ([a.date for a in row.trend], row.due) == ([D], D + timedelta(1))
    assert progress(sessions, DAY16, D + timedelta(10))[0].due == D + timedelta(12)


# ------------------------------------------------------------------ the history of real `quiz` runs


def _quiz(*args: str, history: Path, **popen) -> subprocess.Popen:
    env = {**os.environ, "QUIZ_HISTORY": str(history), "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.Popen(
        [sys.executable, *CTRL_C_REACHES, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(REFERENCE / "day16", ws / "day16")
    return ws


def test_two_quiz_grade_runs_at_once_both_land(workspace, tmp_path):
    db = tmp_path / "history.sqlite3"
    args = (
        "grade",
        "day16",
        "--workspace",
        str(workspace),
        "--only",
        "attention.softmax",
        "--profile",
        "quick",
    )
    runs = [_quiz(*args, history=db) for _ in range(2)]
    outputs = [r.communicate(timeout=240)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    assert not any("not added to the history" in o for o in outputs), outputs
    with History(db) as h:
        assert h.integrity() == "ok"
        sessions = h.sessions("day16")
    assert len(sessions) == 2
    for s in sessions:
        assert s.kind == "grade" and s.passed
        assert [(e.exercise_id, e.status) for e in s.exercises] == [("day16.attention.softmax", "pass")]
        assert {r.row: r.rating for r in s.rows}[2] == "Confident"


# `python -m quizgrader` with Python's own Ctrl-C handler, even where these tests run with SIGINT
# ignored (a job started in the background inherits SIG_IGN, and Python keeps it).
CTRL_C_REACHES = [
    "-c",
    (
        "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "runpy.run_module('quizgrader', run_name='__main__', alter_sys=True)"
    ),
]


def test_an_interrupted_quiz_grade_leaves_the_history_intact(workspace, tmp_path):
    db = tmp_path / "history.sqlite3"
    first = _quiz(
        "grade",
        "day16",
        "--workspace",
        str(workspace),
        "--only",
        "causal_mask",
        "--profile",
        "quick",
        history=db,
    )
    first.communicate(timeout=240)
    assert first.returncode == 0
    with History(db) as h:
        before = h.sessions()
    assert len(before) == 1
    for sig in (signal.SIGINT, signal.SIGKILL):
        run = _quiz(
            "grade",
            "day16",
            "--workspace",
            str(workspace),
            "--profile",
            "quick",
            history=db,
            start_new_session=True,
        )
        time.sleep(4)  # torch imported, grading under way (a full run takes longer)
        assert run.poll() is None, "the run ended before it could be interrupted"
        os.killpg(run.pid, sig)
        run.communicate(timeout=60)
        assert run.returncode in (130, -signal.SIGKILL), (sig, run.returncode)
        with History(db) as h:
            assert h.integrity() == "ok"
            assert h.sessions() == before  # nothing half-written, nothing lost


def test_quiz_progress_shows_trends_and_what_is_due(tmp_path):
    db = tmp_path / "history.sqlite3"
    today = date.today()
    with History(db) as h:
        h.record(run(today - timedelta(3), {1: (RESTUDY, None), 2: (CONFIDENT, None)}))
        h.record(run(today - timedelta(1), {1: (SHAKY, None), 2: (CONFIDENT, None)}, kind="answer"))
    proc = _quiz("progress", "day16", "--workspace", str(tmp_path), history=db)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, out
    lines = {
        int(line.split("│")[1]): line
        for line in out.splitlines()
        if line.startswith("│ ") and line.split("│")[1].strip().isdigit()
    }
    assert "✘ ~" in lines[1] and "due now" in lines[1]  # Shaky yesterday: back today
    assert "✔ ✔" in lines[2] and f"in 3 days, {(today + timedelta(3)).isoformat()}" in lines[2]
    assert "not started" in lines[3]
    assert "quiz answer day16 --row 1 --all" in out
    empty = _quiz("progress", "--workspace", str(tmp_path), history=tmp_path / "none.sqlite3")
    assert "No history yet" in empty.communicate(timeout=60)[0] and empty.returncode == 0
