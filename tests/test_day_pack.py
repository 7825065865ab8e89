"""A day shipped as a package of its own: a small pack (its catalog, a question, one exercise with
its stub, solution, checks and known mistakes) built as a wheel in a temporary folder, installed
with pip into a folder of its own, and found by the grader through its entry point. `quiz list`,
`quiz grade`, `quiz show rubric` and `quiz selftest` work on it as on the project's own days, and
the learner's process may not read the pack's reference."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from quizgrader.deploy.wheel import zipped

NAME = "quizpack_norms"
DAY = "day42"

FILES = {
    "__init__.py": """
        from pathlib import Path

        from quizgrader.daypacks import DayPack

        HERE = Path(__file__).resolve().parent
        PACK = DayPack(
            id="day42", package=__name__, reference=HERE / "reference", exercises=HERE / "exercises"
        )
        """,
    "catalog.toml": """
        id = "day42"
        title = "Normalisation"
        scale = ["Confident", "Shaky", "Need to re-study"]

        [[rubric]]
        number = 1
        area = "RMS normalisation"

        [[exercise]]
        id = "day42.norms.rms_normalize"
        title = "Divide by the root mean square over the last dimension"
        rubric = [1]
        hints = ["The mean runs over the last dimension only."]
        """,
    "questions.toml": """
        [[question]]
        id = "d42-rms-of-ones"
        row = 1
        kind = "number"
        prompt = "What is the RMS of the vector [3, 4]? Give a decimal."
        answer = 3.5355
        tolerance = 0.001
        explain = "sqrt((9 + 16) / 2)."
        """,
    "mistakes.toml": """
        [[mistake]]
        id = "rms-mean-over-all"
        exercise = "day42.norms.rms_normalize"
        summary = "the mean runs over every dimension instead of the last"
        why = "Each row is normalised on its own."
        edits = [{ old = "x.pow(2).mean(dim=-1, keepdim=True)", new = "x.pow(2).mean()" }]

        [[mistake]]
        id = "rms-no-sqrt"
        exercise = "day42.norms.rms_normalize"
        summary = "x is divided by the mean square, without its square root"
        why = "The RMS is the square root of the mean square."
        [[mistake.edits]]
        old = "torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)"
        new = "(x.pow(2).mean(dim=-1, keepdim=True) + eps)"
        """,
    "checks/__init__.py": """
        import torch
        from hypothesis import strategies as st

        from quizgrader.checks.compare import Mismatch, expect_close, expect_tensor
        from quizgrader.checks.registry import check
        from quizgrader.checks.strategies import randn, seeds

        RMS = "day42.norms.rms_normalize"
        shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3)


        @check(RMS, "matches the reference", st.tuples(shapes, seeds))
        def matches(case, you, ref):
            shape, seed = case
            x = randn(seed, *shape)
            got = expect_tensor(you("norms.rms_normalize", x), "output")
            expect_close(got, ref("norms.rms_normalize", x), "output")


        @check(RMS, "scaling x changes nothing", st.tuples(shapes, seeds))
        def scale_free(case, you, ref):
            shape, seed = case
            x = randn(seed, *shape) + 0.5
            once = expect_tensor(you("norms.rms_normalize", x), "output")
            scaled = expect_tensor(you("norms.rms_normalize", 7.0 * x), "output")
            if not torch.allclose(once, scaled, rtol=1e-4, atol=1e-5):
                raise Mismatch("rms_normalize(7 * x) differs from rms_normalize(x): the RMS scales with x")
        """,
    "reference/day42/__init__.py": "",
    "reference/day42/norms.py": """
        import torch


        def rms_normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
            return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
        """,
    "exercises/day42/__init__.py": "",
    "exercises/day42/norms.py": """
        import torch


        def rms_normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
            \"\"\"x divided by its root mean square over the last dimension.\"\"\"
            raise NotImplementedError
        """,
}


def _wheel(tmp: Path, name: str = NAME, files: dict[str, str] = FILES, day: str = DAY) -> Path:
    members = {f"{name}/{rel}": textwrap.dedent(text).lstrip().encode() for rel, text in files.items()}
    info = f"{name}-0.1.dist-info"
    members[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n".encode()
    members[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    members[f"{info}/entry_points.txt"] = f"[quizgrader.days]\n{day} = {name}:PACK\n".encode()
    record = [
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for name, data in members.items()
    ]
    members[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = tmp / f"{name}-0.1-py3-none-any.whl"
    path.write_bytes(zipped(members))
    return path


def _install(wheel: Path, target: Path) -> Path:
    """`wheel` installed by pip into the folder `target` (no index, no dependencies)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return target


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("pack")
    return _install(_wheel(tmp), tmp / "site")


def quiz(site: Path | str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "160", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "quizgrader", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


def graded(site: Path, ws: Path) -> tuple[int, dict]:
    """`quiz grade day42` on `ws`: its exit code and its one exercise's results."""
    out = ws.parent / "results.json"
    run = quiz(site, "grade", DAY, "--workspace", str(ws), "--json", str(out))
    assert out.is_file(), run.stdout + run.stderr
    (exercise,) = json.loads(out.read_text())["exercises"]
    return run.returncode, exercise


def workspace(site: Path, tmp: Path, body: str | None = None) -> Path:
    ws = tmp / "ws"
    shutil.copytree(site / NAME / "exercises", ws)
    (ws / "quiz.toml").write_text("")
    if body is not None:
        (ws / DAY / "norms.py").write_text(textwrap.dedent(body).lstrip())
    return ws


SOLVED = """
    import torch


    def rms_normalize(x, eps=1e-8):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps)
    """


def test_quiz_list_shows_the_pack_beside_the_projects_days(site):
    run = quiz(site, "list")
    assert run.returncode == 0, run.stderr
    assert "day42: Normalisation" in run.stdout and "day42.norms.rms_normalize" in run.stdout
    assert "day16" in run.stdout and "day09" in run.stdout  # the project's own days are still there


def test_a_learners_solution_of_the_pack_passes(site, tmp_path):
    code, exercise = graded(site, workspace(site, tmp_path, SOLVED))
    assert code == 0 and exercise["id"] == "day42.norms.rms_normalize" and exercise["status"] == "pass"
    assert [c["name"] for c in exercise["checks"]][:2] == [
        "matches the reference",
        "scaling x changes nothing",
    ]


def test_the_stub_is_not_attempted_and_a_known_mistake_is_named(site, tmp_path):
    code, stub = graded(site, workspace(site, tmp_path))
    assert code == 1 and stub["status"] == "not_attempted"
    shutil.rmtree(tmp_path / "ws")
    wrong = SOLVED.replace("(x * x).mean(-1, keepdim=True)", "(x * x).mean()")
    code, exercise = graded(site, workspace(site, tmp_path, wrong))
    assert code == 1 and exercise["status"] == "fail"
    assert exercise["diagnosis"] == ["rms-mean-over-all"], exercise["diagnosis"]


def test_show_rubric_lists_the_packs_rows(site):
    run = quiz(site, "show", "rubric", "day42")
    assert run.returncode == 0, run.stderr
    assert "RMS normalisation" in run.stdout and "rms_normalize" in run.stdout


def test_selftest_proves_the_packs_checks_and_mistakes(site):
    run = quiz(site, "selftest", "day42")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 exercise, 3 checks, 2 known mistakes: all hold" in " ".join(run.stdout.split())


def test_selftest_says_which_check_no_mistake_fails(site, tmp_path):
    """The tests of the tests are not blind: without its mistake that breaks the scale, the pack's
    second check fails on no known mistake, and selftest says so."""
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    mistakes = copy / NAME / "mistakes.toml"
    mistakes.write_text(mistakes.read_text().split('[[mistake]]\nid = "rms-no-sqrt"')[0])
    run = quiz(copy, "selftest", "day42")
    assert run.returncode == 1
    assert "no known mistake fails day42.norms.rms_normalize: scaling x changes nothing" in " ".join(
        run.stdout.split()
    )


def test_the_learners_process_cannot_read_the_packs_reference(site, tmp_path):
    reference = site / NAME / "reference" / DAY / "norms.py"
    cheat = f"""
    import importlib.util


    def rms_normalize(x, eps=1e-8):
        spec = importlib.util.spec_from_file_location("answer", {str(reference)!r})
        answer = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(answer)
        return answer.rms_normalize(x, eps)
    """
    code, exercise = graded(site, workspace(site, tmp_path, cheat))
    assert code == 1 and exercise["status"] != "pass", exercise
    assert "the learner's process may not" in json.dumps(exercise), exercise


def test_a_pack_that_does_not_load_is_reported_and_the_others_still_work(site, tmp_path):
    broken = {"__init__.py": 'raise ImportError("this pack needs a library that is not installed")\n'}
    other = _install(_wheel(tmp_path, "quizpack_broken", broken, "day43"), tmp_path / "broken")
    both = os.pathsep.join([str(site), str(other)])
    run = quiz(both, "list")
    assert run.returncode == 0, run.stderr
    assert "day42.norms.rms_normalize" in run.stdout and "day16.attention.softmax" in run.stdout
    said = " ".join(run.stderr.split())
    assert "warning: the day pack 'day43' (quizpack_broken:PACK) did not load: ImportError: this pack" in said
    run = quiz(both, "grade", "day43", "--workspace", str(tmp_path))
    assert run.returncode == 2
    assert "unknown day 'day43'" in run.stderr and "this pack needs a library" in " ".join(run.stderr.split())


def test_the_gradescope_autograder_refuses_a_day_it_would_not_carry(site, tmp_path):
    run = quiz(site, "autograder", "gradescope", str(tmp_path / "out"), "--day", "day42")
    assert run.returncode == 2 and not (tmp_path / "out").exists()
    said = " ".join(run.stderr.split())
    assert "day42 comes from the day pack quizpack_norms, which the autograder does not carry" in said
