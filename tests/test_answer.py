"""`quiz answer`: the interactive session driven with input as a learner types it, and the
answers file it keeps (merged, comments kept, the previous version backed up, never rewritten
when it cannot be read)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from conftest import CTRL_C_REACHES

from quizgrader.questions import load_bank

ROOT = Path(__file__).resolve().parents[1]
ROW3 = [q for q in load_bank("day16").questions if q.row == 3 and q.checkable]
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def quiz(*args: str, text: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "quizgrader", *args],
        cwd=ROOT,
        env=ENV,
        input=text,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def typed(q, value=None) -> str:
    """What a learner types for `value` (the right answer by default): choices and orderings by
    the letters they see on screen."""
    letters = "abcdefghij"
    if q.kind == "choice":
        return letters[q.shown_choices.index(q.answer if value is None else value)]
    if q.kind == "ordering":
        return " ".join(letters[q.shown_items.index(i)] for i in (q.items if value is None else value))
    return str(q.answer if value is None else value)


def saved(ws: Path) -> dict:
    return tomllib.loads((ws / "answers" / "day16.toml").read_text())


def test_each_answer_is_judged_at_once_and_the_session_is_saved(tmp_path):
    first, second, third = ROW3[:3]
    mistake = second.wrong[0]
    lines = [typed(first), typed(second, mistake.answer), "no_such_name(", typed(third)]
    lines += [""] * (len(ROW3) - 3) + ["2"]  # skip the rest, then rate row 3 as Shaky
    run = quiz("answer", "day16", "--workspace", str(tmp_path), "--row", "3", text="\n".join(lines) + "\n")
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert out.count("✔ right") == 2 and "✘ wrong: " + mistake.feedback[:40] in out
    assert "try again" in out  # the unreadable answer is asked again, not judged
    assert "2/3 right this session" in out
    data = saved(tmp_path)
    assert set(data["answers"]) == {first.id, second.id, third.id}
    assert data["ratings"] == {"3": "Shaky"}
    # kept in the bank's own words, so the file reads the same whatever order the screen showed
    for q in (first, third):
        expected = list(q.items) if q.kind == "ordering" else q.answer
        assert data["answers"][q.id] == expected or float(data["answers"][q.id]) == float(expected)


def test_the_next_session_asks_what_is_not_yet_right_and_keeps_the_file(tmp_path):
    first, second = ROW3[:2]
    (tmp_path / "answers").mkdir()
    path = tmp_path / "answers" / "day16.toml"
    original = (
        f"# my notes: revise heads\n[answers]\n{first.id} = {typed(first)!r}\n"
        f"{second.id} = {typed(second, second.wrong[0].answer)!r}\n"
    )
    original = original.replace("'", '"')
    path.write_text(original)
    run = quiz("answer", "day16", "--workspace", str(tmp_path), "--row", "3", text=typed(second) + "\nq\n")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(ROW3) - 1} question(s)" in run.stdout  # the right one is not asked again
    assert second.prompt[:50] in run.stdout and first.prompt[:50] not in run.stdout
    text = path.read_text()
    assert text.startswith("# my notes: revise heads") and "stopped early" in run.stdout
    data = tomllib.loads(text)
    assert set(data["answers"]) == {first.id, second.id}
    backups = list((tmp_path / ".quiz" / "backups").iterdir())
    assert [b.read_text() for b in backups] == [original]
    again = quiz("answer", "day16", "--workspace", str(tmp_path), "--row", "3", "--all", text="q\n")
    assert f"{len(ROW3)} question(s)" in again.stdout and first.prompt[:50] in again.stdout


def test_a_malformed_answers_file_is_reported_with_its_line_and_left_alone(tmp_path):
    (tmp_path / "answers").mkdir()
    path = tmp_path / "answers" / "day16.toml"
    path.write_bytes(b"[answers]\nd16-mha-dk-per-head = 64\nd16-mha-params-bias = 4*d\n")
    before = path.read_bytes()
    run = quiz("answer", "day16", "--workspace", str(tmp_path), text="64\n")
    assert run.returncode == 2
    assert "line 3" in run.stderr and "unchanged" in run.stderr and "question 1" not in run.stdout
    assert path.read_bytes() == before and not (tmp_path / ".quiz").exists()


def test_end_of_input_keeps_what_was_answered(tmp_path):
    run = quiz("answer", "day16", "--workspace", str(tmp_path), "--row", "3", text=typed(ROW3[0]) + "\n")
    assert run.returncode == 0 and "stopped early" in run.stdout
    assert list(saved(tmp_path)["answers"]) == [ROW3[0].id]


# `python -m quizgrader` with Python's own Ctrl-C handler, even where these tests run with SIGINT
# ignored (a job started in the background inherits SIG_IGN, and Python keeps it).


def test_ctrl_c_keeps_what_was_answered_and_exits_130(tmp_path):
    log = tmp_path / "out.txt"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, *CTRL_C_REACHES, "answer", "day16", "--workspace", str(tmp_path), "--row", "3"],
            cwd=ROOT,
            env=ENV,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        proc.stdin.write(typed(ROW3[0]) + "\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        while "question 2/" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130, log.read_text()
    assert list(saved(tmp_path)["answers"]) == [ROW3[0].id]


def test_unknown_row_is_a_usage_error():
    run = quiz("answer", "day16", "--workspace", str(ROOT), "--row", "9")
    assert run.returncode == 2 and "no rubric row 9" in run.stderr


def test_show_questions_lists_ids_and_the_options_in_the_order_letters_refer_to():
    run = quiz("show", "questions", "day16", "--row", "3")
    assert run.returncode == 0, run.stderr
    for q in ROW3:
        assert q.id in run.stdout
    choice = next(q for q in load_bank("day16").questions if q.kind == "choice" and q.row == 3)
    assert f"a) {choice.shown_choices[0]}" in run.stdout
