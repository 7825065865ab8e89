"""`quiz watch`: what a save regrades, the warm loop, the fallback when no file event comes, and the
command end to end (a save graded, Ctrl-C ends it cleanly)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import CTRL_C_REACHES

from quizgrader import watch
from quizgrader.analysis.diagnosis import for_exercise, mutate
from quizgrader.catalog import load_day
from quizgrader.grade import Options
from quizgrader.results import Status

ROOT = Path(__file__).resolve().parents[1]
DAY = load_day("day16")
SOFTMAX, SDPA, ADDITIVE = (
    f"day16.attention.{n}" for n in ("softmax", "scaled_dot_product_attention", "additive_attention")
)
ATTENTION = [e.id for e in DAY.ordered() if e.file == "day16/attention.py"]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """The stubs, with the reference's attention.py filled in."""
    shutil.copytree(ROOT / "exercises", tmp_path / "ws", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "reference" / "day16" / "attention.py", tmp_path / "ws" / "day16" / "attention.py")
    return tmp_path / "ws"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def sdpa_mistake(source: str) -> str:
    return mutate(source, next(m for m in for_exercise(SDPA) if "sqrt" in m.summary))


# -- what a save regrades ---------------------------------------------------------------------
def test_an_edit_inside_one_exercise_regrades_that_exercise_only(ws):
    before = watch.snapshot(DAY, ws)
    edit(
        ws / "day16/attention.py",
        "def softmax(x: Tensor, dim: int = -1) -> Tensor:\n",
        "def softmax(x: Tensor, dim: int = -1) -> Tensor:\n    # trying something\n",
    )
    assert watch.changed_exercises(DAY, before, watch.snapshot(DAY, ws)) == [SOFTMAX]


def test_a_save_that_changes_nothing_regrades_nothing(ws):
    before = watch.snapshot(DAY, ws)
    path = ws / "day16/attention.py"
    path.write_bytes(path.read_bytes())  # an editor saving an unchanged buffer
    assert watch.changed_exercises(DAY, before, watch.snapshot(DAY, ws)) == []


@pytest.mark.parametrize("how", ["import", "helper", "syntax error", "deleted"])
def test_a_change_outside_the_exercises_regrades_the_whole_file(ws, how):
    path = ws / "day16/attention.py"
    before = watch.snapshot(DAY, ws)
    if how == "import":
        path.write_text("import os\n" + path.read_text())
    elif how == "helper":
        path.write_text(path.read_text() + "\n\ndef _helper(x):\n    return x\n")
    elif how == "syntax error":
        edit(path, "def softmax(", "def softmax((")
    else:
        path.unlink()
    assert watch.changed_exercises(DAY, before, watch.snapshot(DAY, ws)) == ATTENTION
    others = {e.id for e in DAY.exercises} - set(ATTENTION)
    assert others and not others & set(watch.changed_exercises(DAY, before, watch.snapshot(DAY, ws)))


def test_dependents_are_those_that_call_what_changed_directly_or_not():
    found = watch.dependents(DAY, [SDPA])
    assert "day16.multihead.MultiHeadAttention" in found and "day16.lm.DecoderLM" in found
    assert SDPA not in found and SOFTMAX not in found
    assert watch.dependents(DAY, ["day16.lm.DecoderLM"]) == []


# -- the loop ---------------------------------------------------------------------------------
def test_the_loop_regrades_against_what_the_others_last_did(ws, zygote):
    with watch.Loop(DAY, Options(ws, profile="quick"), zygote) as loop:
        first = loop.grade(ATTENTION)
        assert {e.id: e.status for e in first.exercises} == dict.fromkeys(ATTENTION, Status.PASS)
        edit(ws / "day16/attention.py", "shifted = x - x.amax(dim=dim, keepdim=True)", "shifted = x")
        assert loop.grade([SOFTMAX]).exercises[0].status is Status.FAIL
        # sdpa regraded alone still learns that softmax, which it calls, fails now
        again = loop.grade([SDPA])
        assert [e.id for e in again.exercises] == [SDPA]
        assert again.exercises[0].status is Status.BLOCKED and "softmax" in again.exercises[0].reason
        assert loop.totals() == {Status.FAIL: 1, Status.BLOCKED: 1, Status.PASS: 1}
        assert loop.stale([SOFTMAX]) == [SDPA, ADDITIVE]  # tried already; the stubs are not listed


# -- file events, and the fallback when none come ---------------------------------------------
def _first_change(ws: Path, save, **kw) -> tuple[watch.Saved, list[str], float]:
    """Start watching, make the save once the watcher is running; what it yields first, whether it
    said file events were missing, and the seconds from the save to the yield."""
    stop = threading.Event()
    said: list[str] = []
    got: list[list[str]] = []

    def run() -> None:
        for saved in watch.changes(DAY, ws, stop, on_missed_events=lambda: said.append("missed"), **kw):
            got.append((saved, time.perf_counter()))
            stop.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    time.sleep(0.5)
    saved = time.perf_counter()
    save()
    t.join(timeout=20)
    stop.set()
    assert got, "no change was reported"
    return got[0][0], said, got[0][1] - saved


def test_a_save_is_seen_through_file_events(ws):
    """With the periodic look 10 s away, a save reported within a second came through an event.
    The watcher needs a moment to start, so the test saves as an editor would, every half second,
    until one is seen."""
    stop = threading.Event()
    got: list[tuple[watch.Saved, float]] = []

    def run() -> None:
        for saved in watch.changes(DAY, ws, stop, poll=10.0):
            got.append((saved, time.perf_counter()))
            stop.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    path = ws / "day16/attention.py"
    text = path.read_text()
    for k in range(1, 20):
        saved_at = time.perf_counter()
        path.write_text(text.replace("def softmax(", "def softmax(" + " " * k))
        t.join(timeout=0.5)
        if got:
            break
    stop.set()
    assert got, "no save was reported"
    saved, seen_at = got[0]
    assert saved == watch.Saved([SOFTMAX]) and seen_at - saved_at < 1.0


def test_forced_polling_sees_a_save(ws):
    saved, said, _ = _first_change(
        ws,
        lambda: edit(ws / "day16/attention.py", "shifted = x -", "shifted = x  -"),
        poll=0.2,
        force_polling=True,
    )
    assert saved == watch.Saved([SOFTMAX]) and said == []


def test_a_save_without_any_file_event_is_still_graded_and_said(ws, monkeypatch):
    """A mount that sends no events: the watcher only ever times out; the periodic look finds the
    save and says once that events are missing."""
    import watchfiles

    def silent(*args, stop_event, rust_timeout, **kw):
        while not stop_event.is_set():
            time.sleep(rust_timeout / 1000)
            yield set()

    monkeypatch.setattr(watchfiles, "watch", silent)
    saved, said, _ = _first_change(
        ws, lambda: edit(ws / "day16/attention.py", "shifted = x -", "shifted = x  -"), poll=0.1
    )
    assert saved == watch.Saved([SOFTMAX]) and said == ["missed"]


def test_a_save_made_before_the_watcher_starts_is_not_lost(ws):
    """quiz watch takes its snapshot before the first grading: a save made during it (seconds,
    before any watcher runs) is the first thing yielded, and is no sign of missing events."""
    before = watch.snapshot(DAY, ws)
    edit(ws / "day16/attention.py", "shifted = x -", "shifted = x  -")
    stop = threading.Event()
    said: list[str] = []
    got: list[watch.Saved] = []
    saves = watch.changes(
        DAY, ws, stop, since=before, poll=0.5, on_missed_events=lambda: said.append("missed")
    )
    first = threading.Thread(target=lambda: got.append(next(saves)), daemon=True)
    first.start()
    first.join(timeout=5)
    stop.set()
    assert got == [watch.Saved([SOFTMAX])], "the save made before the watcher started was lost"
    assert said == []


def test_saving_the_answers_file_is_seen_apart_from_the_exercises(ws):
    def answer() -> None:
        (ws / "answers").mkdir(exist_ok=True)
        (ws / "answers" / "day16.toml").write_text("[answers]\nd16-mha-dk-per-head = 64\n")

    saved, _, _ = _first_change(ws, answer, poll=0.5)
    assert saved == watch.Saved([], answers=True)


# -- the command ------------------------------------------------------------------------------
def test_quiz_watch_grades_each_save_and_stops_cleanly_on_ctrl_c(ws, tmp_path):
    log = tmp_path / "out.txt"
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, *CTRL_C_REACHES, "watch", "day16", "--workspace", str(ws), "--device", "cpu"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

        def wait_for(text: str, count: int = 1) -> None:
            deadline = time.monotonic() + 120
            while log.read_text().count(text) < count:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)

        try:
            wait_for("watching")
            first = log.read_text()
            assert "attention.softmax" in first and "3 pass" in first and "14 not attempted" in first
            path = ws / "day16/attention.py"
            path.write_text(sdpa_mistake(path.read_text()))
            wait_for("watching", 2)
            round_ = log.read_text()[len(first) :]
            assert "day16/attention.py changed" in round_
            assert "✘ fail  attention.scaled_dot_product_attention" in round_
            assert "not divided by sqrt(d_k)" in round_  # the diagnosis, in the round's report
            assert "attention.softmax" not in round_.split("╭")[0]  # softmax's code did not change
            assert "2 pass, 1 fail, 14 not attempted" in round_
            (ws / "answers").mkdir(exist_ok=True)
            (ws / "answers" / "day16.toml").write_text("[answers]\nd16-mha-dk-per-head = 32\n")
            wait_for("watching", 3)
            answers = log.read_text()[len(first) + len(round_) :]
            assert "answers/day16.toml changed" in answers and "checkpoint answers" in answers
            assert "✘ wrong d16-mha-dk-per-head" in answers  # judged, with its feedback
            assert "attention.scaled_dot_product_attention" not in answers  # no code was regraded
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=30)
    assert code == 0 and "stopped watching" in log.read_text()


def test_quiz_watch_refuses_a_day_or_workspace_it_cannot_watch(tmp_path):
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "quizgrader", "watch", "day99"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2 and "day99" in run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "quizgrader", "watch", "day16", "--workspace", str(tmp_path / "nowhere")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2 and "is not a folder" in run.stderr


def test_without_timings_every_verdict_is_still_reached(ws, zygote):
    """quiz watch skips the timing of attention (evidence for `quiz grade`), not the check that a
    loop over positions fails."""
    from quizgrader.grade import grade

    def parallel_check(options: Options):
        e = grade("day16", options, zygote=zygote).exercises[0]
        return next(c for c in e.checks if "all T positions" in c.name)

    fast = parallel_check(Options(ws, only=[SDPA], profile="quick", measure=False))
    assert fast.status is Status.PASS and fast.figures["ops"] > 0 and "growth_exponent" not in fast.figures
    timed = parallel_check(Options(ws, only=[SDPA], profile="quick"))
    assert timed.status is Status.PASS and timed.figures["growth_exponent"] > 1
    path = ws / "day16/attention.py"
    path.write_text(
        mutate(path.read_text(), next(m for m in for_exercise(SDPA) if m.id == "sdpa-loop-over-queries"))
    )
    assert parallel_check(Options(ws, only=[SDPA], profile="quick", measure=False)).status is Status.FAIL
