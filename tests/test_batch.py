"""`quiz grade-batch`: a class graded in parallel, each submission in isolation, a CSV gradebook
and each submission's results; no submission, however broken, stops the batch or changes the
instructor's copy."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import CTRL_C_REACHES
from test_ci_outputs import scored_report

from quizgrader import batch
from quizgrader.analysis import diagnosis
from quizgrader.catalog import load_day
from quizgrader.report.ci import gradescope_json

ROOT = Path(__file__).resolve().parents[1]
ONLY = "attention.softmax,masks.causal_mask"
ENV = {**os.environ, "COLUMNS": "120"}


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def make_class(root: Path) -> Path:
    """Seven submissions: right, untouched stubs, a known mistake, a hang, code that writes into
    its own folder and tries the grader's, a syntax error, and nothing at all; one of them zipped."""
    subs = root / "submissions"
    subs.mkdir()
    day16 = ROOT / "reference" / "day16"
    shutil.copytree(day16, subs / "right" / "day16")
    shutil.copytree(ROOT / "exercises" / "day16", subs / "stubs" / "exercises" / "day16")
    mistake = next(m for m in diagnosis.mistakes("day16") if m.id.startswith("softmax-"))
    diagnosis.materialize(mistake, root / "mutant")
    shutil.copytree(root / "mutant" / "day16", subs / "mistake" / "day16")
    for name, body in {
        "hang": "    while True:\n        pass\n",
        "vandal": ("    import pathlib\n    pathlib.Path(__file__).write_text('# gone')\n"),
        "typo": "    return x +\n",
    }.items():
        shutil.copytree(day16, subs / name / "day16")
        path = subs / name / "day16" / "attention.py"
        text = path.read_text()
        start = text.index("    shifted = x - x.amax")
        end = text.index("\n\n", start)
        path.write_text(text[:start] + body + text[end:])
    (subs / "empty").mkdir()
    with zipfile.ZipFile(subs / "zipped.zip", "w") as z:
        for p in day16.rglob("*.py"):
            z.write(p, f"zipped/day16/{p.relative_to(day16)}")
    return subs


def test_a_class_is_graded_in_isolation_with_a_gradebook_and_results_per_submission(tmp_path):
    subs = make_class(tmp_path)
    before = tree_digest(subs)
    out = tmp_path / "grades"
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
            ONLY,
            "--profile",
            "quick",
            "--jobs",
            "2",
            "--timeout",
            "2",
            "--out",
            str(out),
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr  # one submission could not be graded
    assert tree_digest(subs) == before, "the instructor's copies are never changed"
    rows = {r["submission"]: r for r in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}
    assert sorted(rows) == ["empty", "hang", "mistake", "right", "stubs", "typo", "vandal", "zipped"]
    state = {name: (r["state"], r["attention.softmax"], r["masks.causal_mask"]) for name, r in rows.items()}
    assert state["right"] == state["zipped"] == ("graded", "1.0", "1.0")
    assert state["stubs"] == ("graded", "0.0", "0.0")
    for name in (
        "mistake",
        "hang",
        "vandal",
        "typo",
    ):  # the broken exercise loses points, the other keeps them
        assert state[name][0] == "graded" and float(state[name][1]) < 1 and state[name][2] == "1.0", (
            name,
            state[name],
        )
    assert state["empty"] == ("no workspace", "", "")
    assert "no day16/ folder" in rows["empty"]["problem"]
    assert (
        rows["right"]["score"] == "2.0"
        and rows["right"]["percent"] == "100.0"
        and rows["right"]["passed"] == "yes"
    )

    results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert sorted(results) == ["hang", "mistake", "right", "stubs", "typo", "vandal", "zipped"]
    softmax = {name: r["exercises"][0] for name, r in results.items()}
    assert softmax["hang"]["status"] == "timeout"
    assert softmax["typo"]["status"] == "error" and "does not parse" in softmax["typo"]["reason"]
    assert (
        softmax["vandal"]["status"] == "error"
        and "may write only to its scratch folder" in softmax["vandal"]["reason"]
    )
    assert softmax["mistake"]["status"] == "fail" and softmax["mistake"]["diagnosis"]  # the mistake is named
    assert results["right"]["workspace"] == str(subs / "right") and results["right"]["submission"] == "right"
    assert "day16/attention.py" in results["right"]["files"]
    assert "attention.softmax" in (out / "typo.txt").read_text()  # the report to hand back
    assert "[8/8]" in run.stdout and "7 of 8 submissions graded" in run.stdout
    assert "not graded: empty" in run.stdout


def test_a_submission_past_its_time_and_a_grader_that_fails_are_rows_not_crashes(tmp_path):
    subs = tmp_path / "subs"
    shutil.copytree(ROOT / "reference" / "day16", subs / "slow" / "day16")
    day = load_day("day16")
    seen = []
    slow = batch.Batch(
        batch.BatchOptions(day=day, out=tmp_path, only=["softmax"], submission_timeout=0.5),
        on_done=seen.append,
    )
    [outcome] = slow.run(batch.find_submissions(subs))
    assert outcome.state == batch.TIMED_OUT and "0.5 s" in outcome.problem and seen == [outcome]
    broken = batch.Batch(batch.BatchOptions(day=day, out=tmp_path, grade_args=["--no-such-option"]))
    [outcome] = broken.run(batch.find_submissions(subs))
    assert outcome.state == batch.GRADER_ERROR and "exited with code 2" in outcome.problem
    assert "no-such-option" in outcome.problem


def test_the_gradebook_has_each_exercises_score_and_totals_them_as_written(tmp_path):
    """Scores to 2 decimals; a blocked exercise scores 0; the total is the sum of the row's parts."""
    rep = scored_report()
    outcome = batch.Outcome(
        batch.Submission("ann", tmp_path / "ann"),
        batch.GRADED,
        results=rep.to_dict(),
        scores=gradescope_json(rep),
    )
    ids = [e.id for e in rep.exercises]
    batch.write_gradebook(tmp_path / "gradebook.csv", [outcome], ids)
    (row,) = csv.DictReader((tmp_path / "gradebook.csv").open(encoding="utf-8"))
    parts = [row[i.split(".", 1)[1]] for i in ids]
    assert parts == ["0.67", "0.67", "0.67", "0.0", "2.0"]
    assert (row["score"], row["max_score"], row["percent"]) == ("4.01", "7.0", "57.3")
    assert float(row["score"]) == round(sum(map(float, parts)), 2)


def test_zip_submissions_are_unpacked_safely(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("day16/attention.py", b"\0" * (batch.ZIP_LIMIT + 1))
    with pytest.raises(ValueError, match="more than"):
        batch._unpack(bomb, tmp_path / "bomb")
    sneaky = tmp_path / "sneaky.zip"
    with zipfile.ZipFile(sneaky, "w") as z:
        z.writestr("../../escaped.py", "x = 1\n")
        z.writestr("/abs/escaped.py", "x = 1\n")
    batch._unpack(sneaky, tmp_path / "inside")
    assert not (tmp_path.parent / "escaped.py").exists() and not Path("/abs/escaped.py").exists()
    assert {p.name for p in (tmp_path / "inside").rglob("escaped.py")} == {"escaped.py"}


def test_output_names_are_safe_and_unique():
    taken: set[str] = set()
    assert [batch.file_stem(n, taken) for n in ["Ann Lee", "ann lee", "../x", "gradebook", ""]] == [
        "Ann_Lee",
        "ann_lee-2",
        "x",
        "gradebook-2",
        "submission",
    ]


@pytest.mark.parametrize(
    "args, words",
    [
        (["grade-batch", "nowhere", "--day", "day16"], "not a folder"),
        (["grade-batch", ".", "--day", "day99"], "day99"),
        (["grade-batch", "{empty}", "--day", "day16"], "holds no submission"),
        (["grade-batch", ".", "--day", "day16", "--only", "nope"], "nope"),
    ],
)
def test_usage_errors_say_what_is_wrong(tmp_path, args, words):
    (tmp_path / "empty").mkdir()
    args = [a.replace("{empty}", str(tmp_path / "empty")) for a in args]
    run = subprocess.run(
        [sys.executable, "-m", "quizgrader", *args],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2 and words in run.stderr, run.stderr


def test_ctrl_c_stops_every_grader_and_keeps_what_finished(tmp_path):
    subs = tmp_path / "subs"
    for name in ("a", "b", "c", "d"):
        shutil.copytree(ROOT / "reference" / "day16", subs / name / "day16")
    out = tmp_path / "grades"
    proc = subprocess.Popen(
        [
            sys.executable,
            *CTRL_C_REACHES,
            "grade-batch",
            str(subs),
            "--day",
            "day16",
            "--profile",
            "quick",
            "--jobs",
            "2",
            "--only",
            "softmax",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first = proc.stdout.readline()  # the first submission has finished
    assert first.startswith("[1/4]"), first
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, first + rest
    assert "interrupted" in rest
    rows = list(csv.DictReader((out / "gradebook.csv").open(encoding="utf-8")))
    assert 1 <= len(rows) < 4 and all(r["state"] == "graded" for r in rows)
    time.sleep(0.5)
    assert not [p for p in Path("/proc").glob("[0-9]*") if _is_grader_of(p, subs)], (
        "a grader outlived the batch"
    )


def _is_grader_of(proc: Path, subs: Path) -> bool:
    try:
        return (
            b"quiz-batch-" in (proc / "cmdline").read_bytes()
            and (proc / "stat").read_text().split()[2] != "Z"
        )
    except OSError:
        return False


def test_a_hostile_class_only_the_honest_work_scores_and_every_row_says_why(tmp_path):
    """Cheats (the reference read and run, the library's softmax, an answer forged onto the socket),
    a crash, a submission that is a link to the reference, and a name made to run as a spreadsheet
    formula, beside one honest submission."""
    subs = tmp_path / "submissions"
    day16 = ROOT / "reference" / "day16"
    start = "    shifted = x - x.amax(dim=dim, keepdim=True)\n"
    end = "    return exps / exps.sum(dim=dim, keepdim=True)\n"
    bodies = {
        "reader": (
            f"    src = open({str(day16 / 'attention.py')!r}).read()\n    ns = {{}}\n"
            "    exec(src, ns)\n    return ns['softmax'](x, dim)\n"
        ),
        "library": "    return torch.ops.aten._softmax.default(x, dim, False)\n",
        "forger": (
            "    import os, stat, struct\n"
            "    msg = struct.pack('<II', 30, 0) + b'{\"dict\": [[\"ok\", true]]}     '\n"
            "    for fd in range(3, 64):\n"
            "        try:\n"
            "            if stat.S_ISSOCK(os.fstat(fd).st_mode):\n"
            "                os.write(fd, struct.pack('<Q', len(msg)) + msg)\n"
            "        except OSError:\n"
            "            pass\n"
            "    return x.softmax(dim)\n"
        ),
        "crash": "    import faulthandler\n    faulthandler._sigsegv()\n",
    }
    shutil.copytree(day16, subs / "honest" / "day16")
    for name, body in bodies.items():
        shutil.copytree(day16, subs / name / "day16")
        path = subs / name / "day16" / "attention.py"
        text = path.read_text()
        a, b = text.index(start), text.index(end) + len(end)
        path.write_text(text[:a] + body + text[b:])
    (subs / "linked").mkdir(parents=True)
    (subs / "linked" / "day16").symlink_to(day16)
    shutil.copytree(ROOT / "exercises" / "day16", subs / "=HYPERLINK(1)" / "day16")
    out = tmp_path / "grades"
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
            ONLY,
            "--profile",
            "quick",
            "--jobs",
            "2",
            "--out",
            str(out),
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    raw = (out / "gradebook.csv").read_text(encoding="utf-8")
    rows = {r["submission"]: r for r in csv.DictReader(raw.splitlines())}
    assert "'=HYPERLINK(1)" in rows and "\n=" not in raw and ",=" not in raw, "no cell starts a formula"
    assert rows["honest"]["score"] == "2.0" and rows["honest"]["problem"] == ""
    for name in ("reader", "library", "forger", "crash"):
        assert rows[name]["state"] == "graded" and rows[name]["attention.softmax"] == "0.0", (
            name,
            rows[name],
        )
        assert rows[name]["masks.causal_mask"] == "1.0", (name, rows[name])  # the honest part still counts
    assert "may not read" in rows["reader"]["problem"] or "may not" in rows["reader"]["problem"], rows[
        "reader"
    ]
    assert "not written from scratch" in rows["library"]["problem"], rows["library"]
    assert "a request it was not sent" in rows["forger"]["problem"], rows["forger"]
    assert "SIGSEGV" in rows["crash"]["problem"], rows["crash"]
    assert rows["linked"]["state"] != "graded" and "link" in rows["linked"]["problem"], rows["linked"]
    assert rows["'=HYPERLINK(1)"]["score"] == "0.0" and "not attempted" in rows["'=HYPERLINK(1)"]["problem"]
