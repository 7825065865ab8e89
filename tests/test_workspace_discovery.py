"""A workspace found without --workspace: the current folder when it is one, the nearest folder above
holding quiz.toml, else exercises/; an explicit flag always wins, a planted link redirects nothing,
and the commands the CLI suggests carry the flag exactly when typing them here would need it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quizgrader import cli
from quizgrader.workspace import MARKER, NoWorkspace, find_workspace, flag


def quiz(*args: str):
    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "200"})


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace made by `quiz init`, with its marker (made here too, should `init` not write it)."""
    run = quiz("init", str(tmp_path / "ws"))
    assert run.exit_code == 0, run.output
    (tmp_path / "ws" / MARKER).touch()
    return tmp_path / "ws"


@pytest.fixture
def history(tmp_path: Path, monkeypatch) -> None:
    """The history at its default place in the workspace, so `quiz progress` names the workspace."""
    monkeypatch.delenv("QUIZ_HISTORY", raising=False)


# -- find_workspace ---------------------------------------------------------------------------------


def test_the_current_folder_with_the_marker_or_a_day_folder_is_the_workspace(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / MARKER).touch()
    (tmp_path / "b" / "day09").mkdir(parents=True)
    (tmp_path / "c" / "day16").mkdir(parents=True)
    for name in "abc":
        assert find_workspace(None, tmp_path / name) == Path(".")


def test_a_folder_inside_a_workspace_finds_the_nearest_marker_above(tmp_path):
    (tmp_path / MARKER).touch()
    (tmp_path / "inner" / MARKER).parent.mkdir()
    (tmp_path / "inner" / MARKER).touch()
    deep = tmp_path / "inner" / "day16" / "notes"
    deep.mkdir(parents=True)
    assert find_workspace(None, deep) == tmp_path / "inner"
    assert find_workspace(None, tmp_path / "inner" / "day16") == tmp_path / "inner"


def test_exercises_under_the_current_folder_comes_last(tmp_path):
    (tmp_path / "exercises" / "day16").mkdir(parents=True)
    assert find_workspace(None, tmp_path) == Path("exercises")
    (tmp_path / "day09").mkdir()  # the folder itself wins over exercises/
    assert find_workspace(None, tmp_path) == Path(".")


def test_no_workspace_says_where_it_looked_and_what_to_type(tmp_path):
    with pytest.raises(NoWorkspace) as e:
        find_workspace(None, tmp_path)
    text = str(e.value)
    for words in (
        f"looked for {MARKER}, day16/ or day09/ in {tmp_path}",
        "in its parents",
        "exercises/",
        "quiz init my-quiz",
        "--workspace FOLDER",
        "--workspace .",
    ):
        assert words in text, text


def test_an_explicit_workspace_always_wins(tmp_path):
    (tmp_path / MARKER).touch()
    assert find_workspace(Path("elsewhere"), tmp_path) == Path("elsewhere")


def test_a_linked_marker_or_day_folder_leading_out_redirects_nothing(tmp_path):
    outside = tmp_path / "outside"
    (outside / "day16").mkdir(parents=True)
    (outside / MARKER).touch()
    here = tmp_path / "top" / "here"
    here.mkdir(parents=True)
    (here / "day16").symlink_to(outside / "day16")
    (here / "day09").symlink_to(outside / "day16")
    (here / MARKER).symlink_to(outside / MARKER)
    (tmp_path / "top" / MARKER).symlink_to(outside / MARKER)
    (here / "exercises").symlink_to(outside)
    with pytest.raises(NoWorkspace):
        find_workspace(None, here)
    (here / "mine").mkdir()  # a link that stays inside is the learner's business
    (here / "day16").unlink()
    (here / "day16").symlink_to(here / "mine")
    assert find_workspace(None, here) == Path(".")


def test_the_flag_is_suggested_only_when_needed(tmp_path):
    (tmp_path / "ws" / "day16").mkdir(parents=True)
    (tmp_path / "ws" / MARKER).touch()
    assert flag(Path("ws"), tmp_path) == " --workspace ws"
    assert flag(Path("."), tmp_path / "ws") == ""
    assert flag(tmp_path / "ws", tmp_path / "ws") == ""  # the same folder, named otherwise
    assert flag(tmp_path / "ws", tmp_path / "ws" / "day16") == ""  # found above
    assert flag(Path("my quiz"), tmp_path) == " --workspace 'my quiz'"  # typed as a shell reads it
    (tmp_path / "exercises").mkdir()
    assert flag(Path("exercises"), tmp_path) == ""
    assert flag(Path("ws"), tmp_path) == " --workspace ws"


# -- the commands -----------------------------------------------------------------------------------


def _graded_workspace(tmp_path: Path) -> str:
    out = tmp_path / "r.json"
    run = quiz("grade", "day16", "--only", "causal_mask", "--profile", "quick", "--json", str(out))
    assert run.exit_code == 1, run.output  # the stubs: not attempted
    assert "not attempted" in run.output
    return json.loads(out.read_text())["workspace"]


def test_grade_in_a_fresh_workspace_needs_no_flag(ws, tmp_path, monkeypatch):
    monkeypatch.chdir(ws)
    assert _graded_workspace(tmp_path) == "."


def test_grade_in_a_day_folder_of_a_workspace_grades_the_workspace(ws, tmp_path, monkeypatch):
    monkeypatch.chdir(ws / "day16")
    assert os.path.realpath(_graded_workspace(tmp_path)) == os.path.realpath(ws)


def test_a_folder_holding_only_day09_is_a_workspace(tmp_path, monkeypatch, history):
    (tmp_path / "day09").mkdir()
    monkeypatch.chdir(tmp_path)
    run = quiz("progress", "day09")
    assert run.exit_code == 0, run.output
    assert f"No history yet in {Path('.quiz/history.sqlite3')}" in squash(run.output)
    assert "--workspace" not in run.output


def test_a_folder_with_exercises_uses_it(tmp_path, monkeypatch, history):
    (tmp_path / "exercises").mkdir()
    monkeypatch.chdir(tmp_path)
    run = quiz("progress")
    assert run.exit_code == 0, run.output
    assert f"No history yet in {Path('exercises/.quiz/history.sqlite3')}" in squash(run.output)
    assert "--workspace" not in run.output


@pytest.mark.parametrize(
    "args",
    [
        ["grade", "day16"],
        ["report", "day16"],
        ["watch", "day16"],
        ["answer", "day16"],
        ["progress"],
        ["reset", "--undo"],
        ["solution", "softmax"],
        ["lab", "day16"],
    ],
    ids=lambda a: a[0],
)
def test_an_empty_folder_is_a_usage_error_naming_the_flag(args, tmp_path, monkeypatch, history):
    monkeypatch.chdir(tmp_path)
    run = quiz(*args)
    assert run.exit_code == 2, run.output
    text = squash(run.output)
    assert "no workspace here" in text and "--workspace FOLDER" in text and "quiz init my-quiz" in text, text


def test_an_explicit_flag_overrides_the_workspace_one_is_in(ws, tmp_path, monkeypatch, history):
    other = tmp_path / "other"
    (other / "day16").mkdir(parents=True)
    monkeypatch.chdir(ws)
    run = quiz("progress", "--workspace", str(other))
    assert run.exit_code == 0, run.output
    assert f"No history yet in {other / '.quiz' / 'history.sqlite3'}" in squash(run.output)
    assert f"--workspace {other}" in squash(run.output)  # and suggested commands keep it


def _reset_undo_line(ws: Path, *flag_args: str) -> str:
    masks = ws / "day16" / "masks.py"
    masks.write_text(masks.read_text() + "\n# edited\n")
    run = quiz("reset", "causal_mask", "--file", *flag_args)
    assert run.exit_code == 0, run.output
    return next(line for line in run.output.splitlines() if "to take this back" in line)


def test_suggested_commands_omit_the_flag_where_the_workspace_is_found(ws, monkeypatch):
    monkeypatch.chdir(ws)
    assert _reset_undo_line(ws).endswith("quiz reset --undo")
    assert _reset_undo_line(ws, "--workspace", ".").endswith("quiz reset --undo")
    monkeypatch.chdir(ws / "day16")
    assert _reset_undo_line(ws).endswith("quiz reset --undo")


def test_suggested_commands_carry_the_flag_where_it_is_needed(ws, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _reset_undo_line(ws, "--workspace", "ws").endswith("quiz reset --undo --workspace ws")
    run = quiz("init", "ws2")
    assert "`quiz grade day16 --workspace ws2`" in squash(run.output)
    monkeypatch.chdir(tmp_path / "ws2")
    run = quiz("init", ".")  # refused (not empty), but a fresh one in "." needs no flag
    assert run.exit_code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    run = quiz("init", ".")
    assert "`quiz grade day16`" in squash(run.output), run.output
