"""Link and write tricks the safe-writes and workspace-links code was not written around, tried
as a learner (or a forged result) would. Those the code does not stop yet are marked xfail
(strict), each with what gets through, so that the day one is stopped the mark must go."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import stat
import threading
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quizgrader import batch, cli, watch
from quizgrader.catalog import load_day
from quizgrader.grade import Options, grade
from quizgrader.results import Status, to_json
from quizgrader.workspace_links import links_outside

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"
DAY = load_day("day16")


def digests(root: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()
    }


def planting_softmax(link: Path, target: Path) -> str:
    """The reference's attention.py whose softmax, each time it is called, plants `link` -> `target`."""
    text = (REFERENCE / "day16" / "attention.py").read_text()
    plant = (
        f"    import os\n    try:\n        os.symlink({str(target)!r}, {str(link)!r})\n"
        "    except OSError:\n        pass\n"
    )
    head = "def softmax(x: Tensor, dim: int = -1) -> Tensor:\n"
    return text.replace(head, head + plant, 1)


def test_a_link_planted_by_the_learners_code_during_the_run_is_refused_at_write_time(tmp_path):
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    (ws / "day16").mkdir(parents=True)
    outside.mkdir()
    (outside / "history.sqlite3").write_text("someone else's file\n")
    (ws / "day16" / "attention.py").write_text(planting_softmax(ws / ".quiz", outside))
    before = digests(outside)
    run = CliRunner().invoke(
        cli.app,
        [
            "grade",
            "day16",
            "--workspace",
            str(ws),
            "--only",
            "attention.softmax",
            "--profile",
            "quick",
            "--json",
            str(tmp_path / "r.json"),
        ],
        env={"COLUMNS": "300", "QUIZ_HISTORY": ""},
    )
    assert digests(outside) == before
    # The learner's process may write only to its scratch folder: the link is never planted, and
    # the attempt fails the exercise.
    assert not (ws / ".quiz").is_symlink()
    assert run.exit_code == 1 and "may not write" in (tmp_path / "r.json").read_text(), run.output


def test_a_helper_module_linked_to_the_reference_and_imported_by_the_exercise(tmp_path, zygote):
    ws = tmp_path / "ws"
    (ws / "day16").mkdir(parents=True)
    (ws / "day16" / "_mine.py").symlink_to(REFERENCE / "day16" / "attention.py")
    (ws / "day16" / "attention.py").write_text(
        "from ._mine import softmax as _theirs\n\n\ndef softmax(x, dim=-1):\n    return _theirs(x, dim)\n"
    )
    assert links_outside(ws, ["day16"]) == [
        ("day16/_mine.py", os.path.realpath(REFERENCE / "day16" / "attention.py"))
    ]
    [result] = grade(
        "day16", Options(ws, only=["attention.softmax"], profile="quick"), zygote=zygote
    ).exercises
    assert result.status is Status.ERROR and "_mine.py" in result.reason


def test_a_loop_of_links_is_neither_followed_forever_nor_a_crash(tmp_path, zygote):
    ws = tmp_path / "ws"
    (ws / "day16").mkdir(parents=True)
    (ws / "day16" / "attention.py").symlink_to("masks.py")
    (ws / "day16" / "masks.py").symlink_to("attention.py")
    (ws / "answers").symlink_to("answers")
    assert links_outside(ws, ["day16", "answers"]) == []
    report = grade("day16", Options(ws, only=["attention.softmax"], profile="quick"), zygote=zygote)
    assert [(e.status, e.reason) for e in report.exercises] == [
        (Status.ERROR, "day16/attention.py cannot be read: Too many levels of symbolic links")
    ]
    assert (
        "Too many levels of symbolic links" in report.answers_error
        and report.files["day16/attention.py"] is None
    )


def test_a_named_pipe_in_place_of_a_watched_file_does_not_hang_quiz_watch(tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "exercises", ws, ignore=shutil.ignore_patterns("__pycache__"))
    (ws / "answers").mkdir()
    fifo = ws / DAY.answers_file
    os.mkfifo(fifo)
    done = threading.Event()
    threading.Thread(target=lambda: (watch.snapshot(DAY, ws), done.set()), daemon=True).start()
    finished = done.wait(3)
    if not finished:
        os.close(os.open(fifo, os.O_WRONLY))  # let the blocked reader go
    assert finished, "quiz watch's snapshot blocked on a named pipe"


def test_a_forged_result_cannot_make_verify_read_files_it_did_not_grade(tmp_path, zygote):
    from quizgrader.verify import verify

    ws = tmp_path / "ws"
    (ws / "day16").mkdir(parents=True)
    shutil.copy(REFERENCE / "day16" / "masks.py", ws / "day16" / "masks.py")
    data = json.loads(
        to_json(grade("day16", Options(ws, only=["masks.causal_mask"], profile="quick"), zygote=zygote))
    )
    forged = copy.deepcopy(data)
    forged["files"].update({"../outside.txt": None, "/proc/self/environ": None})
    outcome = verify(forged, ws, "cpu", zygote)
    assert outcome.differences == [
        "the result fingerprints ../outside.txt, which its plan does not grade",
        "the result fingerprints /proc/self/environ, which its plan does not grade",
    ]


def test_a_zip_whose_link_member_a_later_member_would_be_written_through_writes_nothing(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    archive = tmp_path / "sub.zip"
    with zipfile.ZipFile(archive, "w") as z:
        link = zipfile.ZipInfo("day16")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, str(target))
        z.writestr("day16/attention.py", "print('written through the link')\n")
    with pytest.raises(batch.Refused, match="links in the submission"):
        batch._unpack(archive, tmp_path / "into")
    assert list(target.iterdir()) == [] and not (tmp_path / "into").exists()


def test_a_submission_that_is_a_link_to_another_learners_work_is_refused(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "grades"
    shutil.copytree(REFERENCE / "day16", subs / "ann" / "day16")
    (subs / "bob").symlink_to("ann")
    day = load_day("day16")
    outcomes = batch.Batch(
        batch.BatchOptions(day, out, jobs=1, only=["masks.causal_mask"], profile="quick")
    ).run(batch.find_submissions(subs))
    bob = next(o for o in outcomes if o.submission.name == "bob")
    assert bob.state == batch.REFUSED and "itself a link (to ann)" in bob.problem, (bob.state, bob.problem)


def test_link_names_with_control_characters_reach_the_gradebook_neutralised():
    problem = batch._links_problem([("day16/\x1b[31mevil\r\n.py", "/x\x07"), ("=cmd|x", "y")], "why")
    assert "\x1b" not in problem and "\r" not in problem and "\x07" not in problem
    assert problem.startswith("links in the submission (day16/\\x1b[31mevil\\r\\n.py → /x\\x07, =cmd|x → y)")
