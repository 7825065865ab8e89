"""Integrity: a result carries the SHA-256 of every graded file, the grader's version, seed and
profile, and `quiz verify` grades again and compares."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


def quiz(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "quizgrader", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def graded(tmp_path):
    (tmp_path / "ws" / "day16").mkdir(parents=True)
    shutil.copy(ROOT / "reference" / "day16" / "masks.py", tmp_path / "ws" / "day16" / "masks.py")
    run = quiz(
        "grade",
        "day16",
        "--workspace",
        "ws",
        "--only",
        "causal_mask,padding_mask",
        "--profile",
        "quick",
        "--json",
        "result.json",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return tmp_path


def test_the_result_fingerprints_what_was_graded_and_records_the_plan(graded):
    data = json.loads((graded / "result.json").read_text())
    digest = hashlib.sha256((graded / "ws" / "day16" / "masks.py").read_bytes()).hexdigest()
    assert data["files"] == {"answers/day16.toml": None, "day16/masks.py": digest}  # None: not there
    assert data["plan"] == ["day16.masks.causal_mask", "day16.masks.padding_mask"]
    assert data["version"] and data["seed"] == 0 and data["profile"] == "quick"


def test_an_untouched_result_verifies(graded):
    run = quiz("verify", "result.json", cwd=graded)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "matches: 2 exercise(s)" in run.stdout


def test_an_edited_result_is_caught_and_named(graded):
    data = json.loads((graded / "result.json").read_text())
    data["exercises"][1]["status"] = "fail"  # a pass turned into a fail ...
    data["exercises"][0]["checks"][0]["status"] = "fail"
    (graded / "result.json").write_text(json.dumps(data))
    run = quiz("verify", "result.json", cwd=graded)
    assert run.returncode == 1
    assert f"{data['exercises'][1]['id']}: the result says fail, grading again gives pass" in run.stdout
    assert f"check {data['exercises'][0]['checks'][0]['name']!r}" in run.stdout


def test_a_file_changed_after_grading_is_caught(graded):
    with (graded / "ws" / "day16" / "masks.py").open("a") as f:
        f.write("# edited after grading\n")
    run = quiz("verify", "result.json", cwd=graded)
    assert run.returncode == 1 and "day16/masks.py is not the file that was graded" in run.stdout


def test_a_file_that_is_not_a_result_is_refused_with_what_is_wrong(tmp_path):
    (tmp_path / "r.json").write_text('{"hello": 1}')
    run = quiz("verify", "r.json", cwd=tmp_path)
    assert run.returncode == 1 and run.stderr == (
        "✘ cannot verify r.json: it is not a result of `quiz grade "
        "--json` (it has no `day` or no `exercises`)\n"
    )
    (tmp_path / "r.json").write_text("{broken")
    run = quiz("verify", "r.json", cwd=tmp_path)
    assert (
        run.returncode == 1
        and "cannot verify r.json: it is not JSON that can be read (Expecting" in run.stderr
    )
    run = quiz("verify", "missing.json", cwd=tmp_path)
    assert run.returncode == 2 and "cannot read missing.json" in run.stderr


# -- every claim re-derived (in-process, one grading shared) --------------------------------------
SOFTMAX, CAUSAL = "day16.attention.softmax", "day16.masks.causal_mask"


@pytest.fixture(scope="module")
def result(tmp_path_factory, zygote):
    """A workspace with masks.py only, graded for softmax (not attempted: attention.py is missing,
    so the result does not pass) and causal_mask (passes); the result as `--json` writes it."""
    from quizgrader.grade import Options, grade
    from quizgrader.results import to_json

    ws = tmp_path_factory.mktemp("verify") / "ws"
    (ws / "day16").mkdir(parents=True)
    shutil.copy(ROOT / "reference" / "day16" / "masks.py", ws / "day16" / "masks.py")
    report = grade(
        "day16", Options(ws, only=["masks.causal_mask", "softmax"], profile="quick"), zygote=zygote
    )
    return ws, json.loads(to_json(report))


def check(result, zygote, edit=None, **kw):
    from quizgrader.verify import verify

    ws, data = result
    data = copy.deepcopy(data)
    if edit:
        edit(data)
    return verify(data, ws, "cpu", zygote, **kw)


def test_the_plan_is_the_exercises_asked_for_in_dependency_order(result, zygote):
    ws, data = result
    assert data["plan"] == [SOFTMAX, CAUSAL] and [e["id"] for e in data["exercises"]] == [SOFTMAX, CAUSAL]
    assert data["files"] == {
        "answers/day16.toml": None,
        "day16/attention.py": None,
        "day16/masks.py": hashlib.sha256((ws / "day16" / "masks.py").read_bytes()).hexdigest(),
    }
    assert data["passed"] is False
    outcome = check(result, zygote)
    assert outcome.ok, outcome.differences


def test_a_deleted_failing_exercise_and_an_extra_one_are_refused(result, zygote):
    def forge(data):
        data["exercises"] = [e for e in data["exercises"] if e["id"] != SOFTMAX]
        data["passed"] = True
        data["exercises"].append({"id": "day16.masks.padding_mask", "status": "pass", "checks": []})

    outcome = check(result, zygote, forge)
    assert outcome.differences == [
        f"{SOFTMAX} is in the plan but missing from the result's exercises",
        "day16.masks.padding_mask is among the result's exercises but not in its plan",
        "the result says passed=true, grading again gives false",
    ]


def test_a_plan_that_the_grader_would_not_write_is_refused(result, zygote):
    outcome = check(result, zygote, lambda d: d.update(plan=[CAUSAL, SOFTMAX, "day16.nope", CAUSAL]))
    assert outcome.differences == [
        f"the plan names {CAUSAL} 2 times",
        "the plan names day16.nope, which is not an exercise of day16",
        "day16.nope is in the plan but missing from the result's exercises",
    ]
    outcome = check(result, zygote, lambda d: d.update(plan=[CAUSAL, SOFTMAX]))
    assert outcome.differences == [f"the plan is not in the order the grader grades it ({SOFTMAX}, {CAUSAL})"]


def test_an_empty_or_partial_files_map_is_refused(result, zygote):
    outcome = check(result, zygote, lambda d: d.update(files={}))
    assert outcome.differences == [
        "the result has no fingerprint of answers/day16.toml, which was graded",
        "the result has no fingerprint of day16/attention.py, which was graded",
        "the result has no fingerprint of day16/masks.py, which was graded",
    ]
    outcome = check(result, zygote, lambda d: d["files"].pop("day16/masks.py"))
    assert outcome.differences == ["the result has no fingerprint of day16/masks.py, which was graded"]

    def judged_without_answers(data):
        data["questions"] = [{"id": "d16-mha-dk-per-head", "outcome": "correct"}]

    outcome = check(result, zygote, judged_without_answers)
    assert outcome.differences[0] == (
        "questions were judged, yet the result has no fingerprint of the answers file answers/day16.toml"
    )
    assert (
        "question d16-mha-dk-per-head: the result says correct, judging the answers again gives nothing"
        in outcome.differences
    )


def test_another_grader_version_is_refused_unless_allowed(result, zygote):
    from quizgrader import __version__

    outcome = check(result, zygote, lambda d: d.update(version="0.0.1"))
    assert outcome.differences == [
        (
            f"graded by quizgrader 0.0.1, verified by {__version__}: another version may "
            "grade differently (--allow-version-change verifies it all the same)"
        )
    ]
    outcome = check(result, zygote, lambda d: d.update(version="0.0.1"), allow_version_change=True)
    assert outcome.ok and outcome.notes == [f"graded by quizgrader 0.0.1, verified by {__version__}"]


def test_a_graded_file_swapped_for_a_link_out_of_the_workspace_is_refused(result, zygote, tmp_path):
    ws, _ = result
    mine = ws / "day16" / "masks.py"
    outside = tmp_path / "masks.py"
    shutil.copy(mine, outside)  # the same bytes, so the same SHA-256
    before = hashlib.sha256(outside.read_bytes()).hexdigest()
    kept = mine.with_name("kept.py")
    mine.rename(kept)
    mine.symlink_to(outside)
    try:
        outcome = check(result, zygote)
    finally:
        mine.unlink()
        kept.rename(mine)
    assert outcome.differences[0] == (
        f"day16/masks.py is a link to a file outside the workspace (→ {outside}): "
        "the grader grades only files inside the workspace; copy the file in instead"
    )
    assert f"{CAUSAL}: the result says pass, grading again gives error" in outcome.differences
    assert hashlib.sha256(outside.read_bytes()).hexdigest() == before


@pytest.mark.parametrize(
    "text, says",
    [
        ('{"day": "day16", "exercises": [], "seed": NaN}', "it holds NaN, which is not a number in JSON"),
        (
            '{"day": "day16", "exercises": [], "seed": 1e999}',
            "it holds the number 1e999, too large to be a number",
        ),
        ('{"day": "day16", "day": "day09", "exercises": []}', "an object in it gives the key 'day' twice"),
        ("[" * 100_000 + "]" * 100_000, "it is nested too deeply to be a result"),
        (
            '{"day": "day16", "exercises": [], "x": ' + "[" * 40 + "]" * 40 + "}",
            "it nests more than 32 levels deep",
        ),
        ('["day16"]', "it holds a list, not a result of `quiz grade --json` (an object)"),
        ('"day16"', "it holds a string ('day16'), not a result of `quiz grade --json` (an object)"),
        ("{}", "it is not a result of `quiz grade --json` (it has no `day` or no `exercises`)"),
        (b'{"day": "\xff"}', "it is not UTF-8 text (byte 9 is not)"),
    ],
)
def test_odd_json_is_refused_with_what_is_odd(tmp_path, text, says):
    from quizgrader.verify import ResultsFileError, load

    path = tmp_path / "r.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ResultsFileError) as caught:
        load(path)
    assert str(caught.value).startswith(says), str(caught.value)


@pytest.mark.parametrize(
    "edit, says",
    [
        (lambda d: d.update(seed="0"), "`seed` is a string ('0'), not an integer"),
        (lambda d: d.update(seed=True), "`seed` is true, not an integer"),
        (lambda d: d.update(passed="yes"), "`passed` is a string ('yes'), not true or false"),
        (lambda d: d.pop("plan"), "it has no `plan`, which every result has"),
        (
            lambda d: d.update(plan="day16.masks.causal_mask"),
            "`plan` is a string ('day16.masks.causal_mask'), not a list",
        ),
        (
            lambda d: d["exercises"][1].update(status="passed"),
            "`exercises[1].status` is 'passed', not one of pass, fail, error, timeout, not_attempted, "
            "blocked, skipped",
        ),
        (
            lambda d: d["exercises"][1]["checks"].insert(1, 7),
            "`exercises[1].checks[1]` is a number (7), not an object",
        ),
        (
            lambda d: d["files"].update({"day16/masks.py": "abc"}),
            "`files` gives day16/masks.py the fingerprint 'abc', not a SHA-256 (64 hexadecimal digits) or "
            "null",
        ),
        (
            lambda d: d.update(profile="\x1b[31mfast"),
            "`profile` is '\\x1b[31mfast', not one of quick, default, thorough",
        ),
    ],
)
def test_wrong_types_are_refused_naming_the_field(result, tmp_path, edit, says):
    from quizgrader.verify import ResultsFileError, load

    data = copy.deepcopy(result[1])
    edit(data)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsFileError) as caught:
        load(path)
    assert str(caught.value) == says


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path):
    from quizgrader.verify import MAX_BYTES, ResultsFileError, load

    path = tmp_path / "r.json"
    with path.open("wb") as f:
        f.write(b'{"day": "day16", "pad": "')
        f.truncate(MAX_BYTES + 10)
    with pytest.raises(ResultsFileError, match="it is larger than 8 MiB, far more than a result holds"):
        load(path)


def test_quiz_verify_exits_1_on_an_odd_file_without_a_traceback(tmp_path):
    from typer.testing import CliRunner

    from quizgrader import cli

    (tmp_path / "r.json").write_text('{"day": "day16", "exercises": [], "seed": NaN}')
    run = CliRunner().invoke(cli.app, ["verify", str(tmp_path / "r.json")], env={"COLUMNS": "300"})
    assert run.exit_code == 1 and "Traceback" not in run.output
    assert " ".join(run.stderr.split()) == (
        f"✘ cannot verify {tmp_path / 'r.json'}: it holds NaN, which is not a "
        "number in JSON (the grader writes none)"
    )
