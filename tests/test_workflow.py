"""The CI workflow that `quiz init --ci github` writes works as written: it is valid against
GitHub's workflow schema, and its `run:` steps, executed in order in a fresh clone of the
workspace with a fresh virtual environment (the CPU torch from PyTorch's index swapped for the
local torch==2.13.0), pass on the reference, pass on a day not started, and fail on a wrong stub."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from quizgrader import __version__, cli
from quizgrader.deploy import wheel
from quizgrader.paths import reference_root

WORKFLOW = Path(".github/workflows/quiz.yml")
TORCH_STEP = re.compile(r'pip install "torch==[^"]+" --index-url https://download\.pytorch\.org/whl/cpu')


def init(target: Path, *options: str) -> None:
    run = CliRunner().invoke(cli.app, ["init", str(target), "--ci", "github", *options])
    assert run.exit_code == 0, run.output


def git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "learner",
        "GIT_AUTHOR_EMAIL": "learner@example.org",
        "GIT_COMMITTER_NAME": "learner",
        "GIT_COMMITTER_EMAIL": "learner@example.org",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=60)


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_steps(clone: Path, bin_dir: Path, day: str, install: bool) -> subprocess.CompletedProcess:
    """The workflow's `run:` steps for one matrix entry, in order, each in bash -e as Actions runs
    them, stopping at the first that fails; the install steps only when `install`."""
    steps = yaml.safe_load((clone / WORKFLOW).read_text())["jobs"]["grade"]["steps"]
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(clone.parent / f"summary-{clone.name}.md"),
        "COLUMNS": "100",
    }
    env.pop("VIRTUAL_ENV", None)
    run = None
    for step in steps:
        if "run" not in step or ("pip install" in step["run"] and not install):
            continue
        script = TORCH_STEP.sub("pip install -q torch==2.13.0", step["run"]).replace("${{ matrix.day }}", day)
        run = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if run.returncode != 0:
            break
    assert run is not None
    return run


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    """A learner's repository made by `quiz init --ci github`, committed, and a fresh virtual
    environment with the install steps of its workflow run in a fresh clone of it."""
    root = tmp_path_factory.mktemp("workflow")
    origin = root / "origin"
    init(origin)
    git(origin, "init", "-q")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "quiz init")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    clone = fresh_clone(origin, root / "first")
    installed = run_steps(clone, env_dir / "bin", "day16", install=True)
    return origin, env_dir / "bin", installed


def fresh_clone(origin: Path, where: Path) -> Path:
    git(origin.parent, "clone", "-q", str(origin), str(where))
    return where


def test_the_workflow_is_valid_against_githubs_schema_and_the_validator_is_not_lenient(tmp_path):
    init(tmp_path / "ws")
    checked = validate(tmp_path / "ws" / WORKFLOW)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text((tmp_path / "ws" / WORKFLOW).read_text().replace("runs-on:", "runs_on:"))
    assert validate(broken).returncode != 0


def test_the_workflow_installs_the_graders_own_wheel_checked_by_its_sha256(tmp_path):
    init(tmp_path / "ws")
    ws = tmp_path / "ws"
    name = wheel.filename()
    digest, listed = (ws / "grader" / "SHA256SUMS").read_text().split()
    assert listed == f"grader/{name}" and wheel.sha256(ws / "grader" / name) == digest
    text = (ws / WORKFLOW).read_text()
    assert f"sha256sum --check grader/SHA256SUMS && pip install grader/{name}" in text
    assert "timeout-minutes:" in text and "cache: pip" in text and TORCH_STEP.search(text)
    # the same grader gives the same bytes: the digest identifies it
    init(tmp_path / "again")
    assert (tmp_path / "again" / "grader" / name).read_bytes() == (ws / "grader" / name).read_bytes()


def test_the_install_steps_pass_in_a_fresh_clone_and_install_this_grader(repository):
    _, bin_dir, installed = repository
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    shown = subprocess.run(
        [str(bin_dir / "python"), "-c", "import quizgrader; print(quizgrader.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert shown.stdout.strip() == __version__


def test_a_day_not_started_is_reported_and_does_not_fail_the_job(repository):
    origin, bin_dir, _ = repository
    clone = fresh_clone(origin, origin.parent / "untouched")
    for day in ("day16", "day09"):
        graded = run_steps(clone, bin_dir, day, install=False)
        assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-2000:]
        assert f"{day}: not started" in graded.stdout
        assert (clone / "junit.xml").is_file()


def test_the_reference_passes_and_a_wrong_stub_fails_the_job(repository):
    origin, bin_dir, _ = repository
    right = fresh_clone(origin, origin.parent / "right")
    shutil.rmtree(right / "day16")
    shutil.copytree(reference_root() / "day16", right / "day16", ignore=shutil.ignore_patterns("__pycache__"))
    graded = run_steps(right, bin_dir, "day16", install=False)
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-2000:]
    assert "not started" not in graded.stdout

    wrong = fresh_clone(origin, origin.parent / "wrong")
    stub = wrong / "day16" / "attention.py"
    stub.write_text(stub.read_text().replace("    raise NotImplementedError", "    return x", 1))
    graded = run_steps(wrong, bin_dir, "day16", install=False)
    assert graded.returncode == 1, graded.stdout[-3000:] + graded.stderr[-2000:]
    assert "::error" in graded.stdout and "softmax" in graded.stdout
