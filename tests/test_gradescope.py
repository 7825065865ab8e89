"""`quiz autograder gradescope`: the zip a course uploads, and its run_autograder run as Gradescope
runs it (a simulated /autograder root, the script through bash) on the reference, the stubs, a
file that does not parse, a submission that reaches for the reference, and the layouts a learner
may upload. Every results.json holds Gradescope's documented keys only."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from test_ci_outputs import TEST_KEYS, TOP_KEYS  # Gradescope's documented keys, written once
from typer.testing import CliRunner

from quizgrader.cli import app
from quizgrader.paths import exercises_root, reference_root

VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}
BIN = str(Path(sys.executable).parent)


def build(out: Path, *args: str) -> Path:
    result = CliRunner().invoke(app, ["autograder", "gradescope", str(out), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out / "autograder.zip"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The autograder for day16 (quick profile, the questions not graded, the model's test hidden),
    unpacked as Gradescope unpacks it."""
    out = tmp_path_factory.mktemp("out")
    archive = build(
        out, "--day", "day16", "--profile", "quick", "--questions-points", "0", "--hidden", "lm.DecoderLM"
    )
    folder = tmp_path_factory.mktemp("source")
    with zipfile.ZipFile(archive) as z:
        z.extractall(folder)
    return folder


def autograde(source: Path, tmp_path: Path, fill) -> tuple[dict, float]:
    """Lay out tmp/ag as /autograder, fill its submission with `fill(submission)`, run
    source/run_autograder with bash, and return results.json and the run's wall time."""
    import time

    root = tmp_path / "ag"
    shutil.copytree(source, root / "source")
    (root / "submission").mkdir()
    (root / "results").mkdir()
    fill(root / "submission")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    started = time.perf_counter()
    run = subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    seconds = time.perf_counter() - started
    path = root / "results" / "results.json"
    assert path.is_file(), run.stdout + run.stderr
    data = json.loads(path.read_text())
    documented(data)
    return data, seconds


def two_decimals(x) -> bool:
    return isinstance(x, (int, float)) and round(x, 2) == x


def documented(data: dict) -> None:
    """Only the keys Gradescope documents, scores within their maxima, 2 decimals at most."""
    assert set(data) <= TOP_KEYS, set(data) - TOP_KEYS
    assert data.get("output_format", "text") in ("text", "md", "simple_format", "html", "ansi")
    assert two_decimals(data["score"]) and two_decimals(data["max_score"])
    assert 0 <= data["score"] <= data["max_score"]
    for t in data["tests"]:
        assert set(t) <= TEST_KEYS, set(t) - TEST_KEYS
        assert t["status"] in ("passed", "failed") and t.get("visibility", "visible") in VISIBILITIES
        assert two_decimals(t["score"]) and two_decimals(t["max_score"]) and 0 <= t["score"] <= t["max_score"]
    assert data["score"] == round(sum(t["score"] for t in data["tests"]), 2)
    assert data["max_score"] == round(sum(t["max_score"] for t in data["tests"]), 2)


def copy_reference(submission: Path, *files: str) -> None:
    """The reference's day16 folder, or only `files` of it (the others are then not attempted, which
    costs no learner's process: a quicker run)."""
    keep = {"__init__.py", *files} if files else None
    shutil.copytree(
        reference_root() / "day16",
        submission / "day16",
        ignore=lambda folder, names: [n for n in names if n == "__pycache__" or keep and n not in keep],
    )


MASKS = ("day16.masks.causal_mask", "day16.masks.padding_mask")


def by_id(data: dict) -> dict:
    return {t["name"].split(":")[0]: t for t in data["tests"]}


# --- the zip -------------------------------------------------------------------------------------


def test_the_zip_holds_the_wheel_its_digest_setup_run_autograder_and_config(tmp_path):
    archive = build(
        tmp_path / "made" / "here",
        "--day",
        "day16",
        "--day",
        "day9",
        "--hidden",
        "attention.*",
        "--hidden-until",
        "after_published",
    )
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        wheel = next(n for n in names if n.endswith(".whl"))
        assert names == {wheel, f"{wheel}.sha256", "setup.sh", "run_autograder", "config.json"}
        digest = hashlib.sha256(z.read(wheel)).hexdigest()
        setup = z.read("setup.sh").decode()
        config = json.loads(z.read("config.json"))
        assert z.getinfo("run_autograder").external_attr >> 16 & 0o111
    assert f"{digest}  {wheel}" in setup and "sha256sum --check" in setup and f"./{wheel}" in setup
    import importlib.metadata

    torch = importlib.metadata.version("torch").split("+")[0]
    assert f"torch=={torch} --index-url https://download.pytorch.org/whl/cpu" in setup
    assert "python3.11-venv" in setup and "/venv" in setup
    (tmp_path / "setup.sh").write_text(setup)
    subprocess.run(["bash", "-n", str(tmp_path / "setup.sh")], check=True)
    assert config["days"] == ["day16", "day09"] and config["profile"] == "default"
    assert config["visibility"]["day16.attention.softmax"] == "after_published"
    assert all(k.startswith("day16.attention.") for k in config["visibility"])


def test_an_unknown_hidden_exercise_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(
        app, ["autograder", "gradescope", str(tmp_path), "--day", "day16", "--hidden", "no.such"]
    )
    assert result.exit_code == 2 and "no.such" in result.output


def test_the_zip_is_never_written_through_a_link(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (out / "autograder.zip").symlink_to(victim)
    result = CliRunner().invoke(app, ["autograder", "gradescope", str(out), "--day", "day16"])
    assert result.exit_code == 1 and "link" in result.output
    assert victim.read_text() == "keep me\n"


# --- run_autograder --------------------------------------------------------------------------------


def test_the_reference_scores_full_marks(source, tmp_path):
    data, seconds = autograde(source, tmp_path, copy_reference)
    assert data["score"] == data["max_score"] == 21.0, data["output"]
    assert by_id(data)["day16.lm.DecoderLM"]["visibility"] == "hidden"
    assert all(t["status"] == "passed" for t in data["tests"])
    assert seconds < 120


def test_the_pristine_stubs_score_0(source, tmp_path):
    data, _ = autograde(source, tmp_path, lambda s: shutil.copytree(exercises_root() / "day16", s / "day16"))
    assert data["score"] == 0.0 and data["max_score"] == 21.0
    assert "not attempted" in by_id(data)["day16.attention.softmax"]["output"]


def test_a_file_that_does_not_parse_scores_0_for_its_exercises_and_says_why(source, tmp_path):
    def fill(submission: Path) -> None:
        copy_reference(submission, "attention.py", "masks.py")
        with open(submission / "day16" / "attention.py", "a") as f:
            f.write("\ndef broken(:\n")

    data, _ = autograde(source, tmp_path, fill)
    tests = by_id(data)
    for name in ("softmax", "scaled_dot_product_attention", "additive_attention"):
        assert tests[f"day16.attention.{name}"]["score"] == 0.0
        assert "does not parse" in tests[f"day16.attention.{name}"]["output"]
    assert tests["day16.masks.causal_mask"]["score"] == 1.0


CHEATS = {
    "reads the reference": (
        "def softmax(x, dim=-1):\n"
        "    import importlib.resources\n"
        "    path = importlib.resources.files('quizgrader') / '_bundled' / 'reference' / 'day16' / "
        "'attention.py'\n"
        "    scope = {}\n"
        "    exec(path.read_text(), scope)\n"
        "    return scope['softmax'](x, dim)\n"
    ),
    "calls torch.softmax": (
        "def softmax(x, dim=-1):\n    import torch\n    return torch.softmax(x, dim=dim)\n"
    ),
}


WHY = {
    "reads the reference": r"reaches nothing but its inputs.*may not read",
    "calls torch.softmax": r"written from scratch.*softmax",
}


@pytest.mark.parametrize("how", CHEATS)
def test_a_cheating_softmax_scores_0_and_the_output_says_why(source, tmp_path, how):
    def fill(submission: Path) -> None:
        copy_reference(submission, "attention.py")
        path = submission / "day16" / "attention.py"
        text = path.read_text()
        start = text.index("def softmax(")
        end = text.index("\ndef ", start + 1)
        path.write_text(text[:start] + CHEATS[how] + "\n" + text[end:])

    data, _ = autograde(source, tmp_path, fill)
    softmax = by_id(data)["day16.attention.softmax"]
    assert softmax["score"] == 0.0 and softmax["status"] == "failed", softmax
    assert re.search(WHY[how], softmax["output"]), softmax["output"]


@pytest.mark.parametrize("layout", ["exercises", "one folder deeper", "one folder deeper, exercises"])
def test_the_layouts_a_learner_may_upload(source, tmp_path, layout):
    inner = {
        "exercises": "exercises",
        "one folder deeper": "my-work",
        "one folder deeper, exercises": "my-work/exercises",
    }[layout]
    data, _ = autograde(source, tmp_path, lambda s: copy_reference(s / inner, "masks.py"))
    tests = by_id(data)
    assert all(tests[m]["score"] == tests[m]["max_score"] == 1.0 for m in MASKS), data["output"]
    assert data["score"] == 2.0 and data["max_score"] == 21.0


def test_a_submission_with_nothing_to_grade_scores_0_and_says_what_was_expected(source, tmp_path):
    def fill(submission: Path) -> None:
        (submission / "notes.txt").write_text("I did it on paper\n")
        (submission / "day16").symlink_to(reference_root() / "day16")  # a link is not a workspace

    data, _ = autograde(source, tmp_path, fill)
    assert data["score"] == 0.0 and data["max_score"] == 21.0
    assert "Nothing to grade was found" in data["output"] and "day16/" in data["output"]


def test_results_are_written_even_when_the_config_is_broken(source, tmp_path):
    broken = tmp_path / "broken-source"
    shutil.copytree(source, broken)
    (broken / "config.json").write_text("{not json")
    data, _ = autograde(broken, tmp_path, copy_reference)
    assert data["score"] == 0.0 and "autograder failed" in data["output"]


def test_two_days_merge_into_one_results_file_with_the_questions(tmp_path):
    out = tmp_path / "out"
    archive = build(out, "--day", "day16", "--day", "day9", "--profile", "quick", "--hidden", "questions")
    folder = tmp_path / "source"
    with zipfile.ZipFile(archive) as z:
        z.extractall(folder)
    data, _ = autograde(folder, tmp_path, lambda s: copy_reference(s, "masks.py"))
    names = [t["name"] for t in data["tests"]]
    assert names[0].startswith("day16.") and names[-1] == "day09: checkpoint questions"
    assert "day16: checkpoint questions" in names
    assert [t["number"] for t in data["tests"]] == [str(i) for i in range(1, len(names) + 1)]
    assert (data["score"], data["max_score"]) == (2.0, 21.0 + 19.0 + 2 * 1.0)
    questions = by_id(data)["day09"]
    assert questions["visibility"] == "hidden" and "answers/day09.toml" in questions["output"]
