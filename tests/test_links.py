"""Links in a workspace that lead out of it: found (workspace_links), refused by name in
`quiz grade`, `quiz watch` and `quiz verify` while the rest of the run completes, and a class's
submission holding one is refused with a row that says which link and why."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quizgrader import cli, watch, workspace_links
from quizgrader.catalog import load_day
from quizgrader.grade import Options, grade
from quizgrader.results import Status
from quizgrader.workspace_links import links_outside

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"
DAY = load_day("day16")
MASKS = "day16.masks.causal_mask"


def digests(*roots: Path) -> dict[str, str]:
    """SHA-256 of every file under `roots`, links followed: what the links point at must not change."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for r in roots
        for p in sorted(r.rglob("*"))
        if p.is_file()
    }


def real(path: Path) -> str:
    return os.path.realpath(path)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "day16").mkdir(parents=True)
    (root / "answers").mkdir()
    return root


# -- finding them -------------------------------------------------------------------------------
def test_a_linked_day_folder_file_or_answers_folder_is_found_with_where_it_leads(ws, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (ws / "day16").rmdir()
    (ws / "day16").symlink_to(REFERENCE / "day16")
    assert links_outside(ws, ["day16", "answers"]) == [("day16", real(REFERENCE / "day16"))]
    (ws / "day16").unlink()
    (ws / "day16").mkdir()
    (ws / "day16" / "masks.py").symlink_to(REFERENCE / "day16" / "masks.py")
    (ws / "answers").rmdir()
    (ws / "answers").symlink_to(os.path.relpath(outside, ws))  # relative, and out all the same
    assert links_outside(ws, ["day16", "answers"]) == [
        ("day16/masks.py", real(REFERENCE / "day16" / "masks.py")),
        ("answers", real(outside)),
    ]


def test_links_that_stay_inside_are_fine_and_followed_to_what_they_lead_to(ws, tmp_path):
    (ws / "lib").mkdir()
    (ws / "lib" / "helpers.py").write_text("X = 1\n")
    (ws / "day16" / "helpers.py").symlink_to("../lib/helpers.py")
    (ws / "day16" / "absolute.py").symlink_to(ws / "lib" / "helpers.py")
    (ws / "day16" / "dangling.py").symlink_to("nowhere.py")
    (ws / "day16" / "loop").symlink_to(".")
    assert links_outside(ws, ["day16", "answers", "missing"]) == []
    (ws / "day16" / "lib").symlink_to("../lib")  # inside, to a folder holding ...
    (ws / "lib" / "sneaky.py").symlink_to(REFERENCE / "day16" / "attention.py")  # ... a way out
    assert links_outside(ws, ["day16"]) == [
        ("day16/lib/sneaky.py", real(REFERENCE / "day16" / "attention.py"))
    ]


def test_a_hard_link_to_a_reference_file_is_found_and_the_reference_itself_is_not(ws, tmp_path, monkeypatch):
    reference = tmp_path / "reference"  # on the same file system as the workspace
    shutil.copytree(REFERENCE / "day16", reference / "day16")
    monkeypatch.setattr(workspace_links, "reference_roots", lambda: [str(reference)])
    workspace_links._reference_files.cache_clear()
    try:
        os.link(reference / "day16" / "masks.py", ws / "day16" / "masks.py")
        shutil.copy(
            reference / "day16" / "attention.py", ws / "day16" / "attention.py"
        )  # a copy is the learner's
        assert links_outside(ws, ["day16"]) == [("day16/masks.py", real(reference / "day16" / "masks.py"))]
        assert workspace_links.refusal(ws, "day16/masks.py") == (
            "day16/masks.py is a hard link to the grader's own reference "
            f"({real(reference / 'day16' / 'masks.py')}):"
            " the grader grades only files you wrote; put your own file there instead"
        )
        assert (
            links_outside(reference, ["day16"]) == []
            and workspace_links.refusal(reference, "day16/masks.py") is None
        )
    finally:
        workspace_links._reference_files.cache_clear()


# -- quiz grade, quiz watch ----------------------------------------------------------------------
def test_grading_refuses_each_linked_exercise_by_name_and_grades_the_rest(ws, tmp_path, zygote):
    outside = tmp_path / "outside"
    shutil.copytree(REFERENCE / "day16", outside / "day16")
    (outside / "answers").mkdir()
    (outside / "answers" / "day16.toml").write_text("[answers]\nd16-mha-dk-per-head = 64\n")
    before = digests(outside)
    shutil.copy(REFERENCE / "day16" / "attention.py", ws / "day16" / "attention.py")
    (ws / "day16" / "masks.py").symlink_to(outside / "day16" / "masks.py")
    (ws / "answers").rmdir()
    (ws / "answers").symlink_to(outside / "answers")
    options = Options(ws, only=["attention.softmax", "masks.causal_mask"], profile="quick")
    report = grade("day16", options, zygote=zygote)
    status = {e.id: (e.status, e.reason) for e in report.exercises}
    assert status["day16.attention.softmax"] == (Status.PASS, "")
    assert status[MASKS] == (
        Status.ERROR,
        (
            f"day16/masks.py is a link to a file outside the workspace (→ "
            f"{real(outside / 'day16' / 'masks.py')}): the grader grades only "
            "files inside the workspace; copy the file in instead"
        ),
    )
    assert report.answers_error == (
        f"answers/day16.toml lies in answers/, a link to a folder outside the "
        f"workspace (→ {real(outside / 'answers')}): the grader grades only files "
        "inside the workspace; copy the folder in instead"
    )
    assert not report.passed and report.questions == []
    (ws / "answers").unlink()  # a link that stays inside is fine
    (ws / "day16" / "masks.py").unlink()
    (ws / "lib").mkdir()
    shutil.copy(REFERENCE / "day16" / "masks.py", ws / "lib" / "masks.py")
    (ws / "day16" / "masks.py").symlink_to("../lib/masks.py")
    with watch.Loop(DAY, Options(ws, profile="quick"), zygote) as loop:
        assert loop.grade([MASKS]).exercises[0].status is Status.PASS
        (ws / "day16").rename(ws / "mine")  # now the whole day folder leads out
        (ws / "day16").symlink_to(outside / "day16")
        again = loop.grade([MASKS]).exercises[0]
    assert again.status is Status.ERROR and again.reason.startswith(
        "day16/masks.py lies in day16/, a link to a folder outside the workspace (→ "
        f"{real(outside / 'day16')})"
    )
    assert digests(outside) == before


def test_quiz_grade_exits_1_naming_the_link_and_changes_nothing(ws, tmp_path):
    (ws / "day16").rmdir()
    (ws / "day16").symlink_to(REFERENCE / "day16")
    before = digests(REFERENCE)
    run = CliRunner().invoke(
        cli.app,
        [
            "grade",
            "day16",
            "--workspace",
            str(ws),
            "--only",
            "masks.causal_mask",
            "--profile",
            "quick",
            "--json",
            str(tmp_path / "r.json"),
        ],
        env={"COLUMNS": "300", "NO_COLOR": "1"},
    )
    assert run.exit_code == 1, run.output
    assert "masks.causal_mask" in run.stdout and "error" in run.stdout, run.stdout  # the JSON holds the words
    [result] = json.loads((tmp_path / "r.json").read_text())["exercises"]
    assert (result["status"], result["reason"]) == (
        "error",
        (
            "day16/masks.py lies in day16/, a link to a folder outside the workspace (→ "
            f"{real(REFERENCE / 'day16')}): "
            "the grader grades only files inside the workspace; copy the folder in instead"
        ),
    )
    assert digests(REFERENCE) == before


# -- a class -------------------------------------------------------------------------------------
def test_a_class_with_linked_submissions_scores_only_the_one_that_is_its_own(tmp_path):
    subs, grades, outside = tmp_path / "submissions", tmp_path / "grades", tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("never overwritten\n")
    shutil.copytree(REFERENCE / "day16", subs / "right" / "day16")
    (subs / "right" / ".venv").mkdir()
    (subs / "right" / ".venv" / "python").symlink_to(sys.executable)  # not copied: not graded, not refused
    (subs / "folder").mkdir()
    (subs / "folder" / "day16").symlink_to(REFERENCE / "day16")
    shutil.copytree(REFERENCE / "day16", subs / "file" / "day16")
    (subs / "file" / "day16" / "attention.py").unlink()
    (subs / "file" / "day16" / "attention.py").symlink_to("../../right/day16/attention.py")
    shutil.copytree(REFERENCE / "day16", subs / "answers" / "day16")
    (subs / "answers" / "answers").symlink_to(outside)
    with zipfile.ZipFile(subs / "zipped.zip", "w") as z:
        z.write(REFERENCE / "day16" / "masks.py", "day16/masks.py")
        member = zipfile.ZipInfo("day16/attention.py")
        member.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(member, str(REFERENCE / "day16" / "attention.py"))
    grades.mkdir()
    (grades / "right.json").symlink_to(outside / "precious.txt")  # planted where results go
    (grades / "right.txt").symlink_to(outside / "precious.txt")
    before = digests(subs, outside, REFERENCE)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "quizgrader",
            "grade-batch",
            str(subs),
            "--day",
            "day16",
            "--only",
            "attention.softmax",
            "--profile",
            "quick",
            "--out",
            str(grades),
        ],
        env={**os.environ, "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert digests(subs, outside, REFERENCE) == before
    rows = {r["submission"]: r for r in csv.DictReader((grades / "gradebook.csv").open(encoding="utf-8"))}
    assert {n: (r["state"], r["score"]) for n, r in rows.items()} == {
        "right": ("graded", "1.0"),
        "folder": ("refused", ""),
        "file": ("refused", ""),
        "answers": ("refused", ""),
        "zipped": ("refused", ""),
    }
    leads_out = (
        "they lead outside the submission (absolute, or out of it with ..), and only its own files are "
        "graded; copy the files in instead"
    )
    assert (
        rows["folder"]["problem"] == f"links in the submission (day16 → {REFERENCE / 'day16'}): {leads_out}"
    )
    assert rows["file"]["problem"] == (
        f"links in the submission (day16/attention.py → ../../right/day16/attention.py): {leads_out}"
    )
    assert rows["answers"]["problem"] == f"links in the submission (answers → {outside}): {leads_out}"
    assert rows["zipped"]["problem"] == (
        f"links in the submission (day16/attention.py → {REFERENCE / 'day16'}"
        "/attention.py): the zip file holds links, which are not unpacked: only "
        "its files are graded; zip the files themselves instead"
    )
    assert (
        not (grades / "right.json").is_symlink()
        and '"submission": "right"' in (grades / "right.json").read_text()
    )
    assert not (grades / "right.txt").is_symlink() and "softmax" in (grades / "right.txt").read_text()
    assert "not graded: folder (refused: links in the submission (day16 →" in " ".join(run.stdout.split())
