"""`quiz reset` and quizgrader.restore: an exercise goes back to its stub and nothing else moves,
every replaced byte is kept in a backup set, and --undo / --redo give back exactly what was there."""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quizgrader import cli, restore
from quizgrader.catalog import load_day
from quizgrader.paths import exercises_root, reference_root
from quizgrader.safefs import LinkError

ATTENTION = "day16/attention.py"
SOFTMAX = load_day("day16").exercise("attention.softmax")
SDPA = load_day("day16").exercise("attention.scaled_dot_product_attention")


def squash(text: str) -> str:
    """Without whitespace: Rich folds long lines (paths) wherever the terminal width falls."""
    return "".join(text.split())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stub_bytes(rel: str = ATTENTION) -> bytes:
    return (exercises_root() / rel).read_bytes()


def lines_of(text: str, name: str) -> tuple[int, int]:
    """The oracle for a definition's span: ast's own line numbers, decorators included."""
    node = next(n for n in ast.parse(text).body if getattr(n, "name", None) == name)
    return min([node.lineno] + [d.lineno for d in node.decorator_list]), node.end_lineno


def learner_attention() -> bytes:
    """A learner's attention.py: every exercise written (the reference's code), plus an import of
    their own, a decorator, and a helper at the end."""
    text = (reference_root() / ATTENTION).read_text()
    text = text.replace("import math\n", "import math\nimport os  # my own import\n", 1)
    text = text.replace(
        "def scaled_dot_product_attention(", "@torch.no_grad()\ndef scaled_dot_product_attention(", 1
    )
    return (text + "\n\ndef _my_helper(x):\n    return x  # mine, keep it\n").encode()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A fresh workspace made of the stubs, with the learner's attention.py."""
    root = tmp_path / "ws"
    shutil.copytree(exercises_root(), root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / ATTENTION).write_bytes(learner_attention())
    return root


def only_set(ws: Path) -> Path:
    found = [p for p in restore.backups_dir(ws).iterdir() if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------------- one exercise


def test_reset_of_one_exercise_keeps_everything_else_byte_for_byte(ws):
    mine = learner_attention()
    outcome = restore.reset_exercise(ws, SOFTMAX)
    after = (ws / ATTENTION).read_bytes()

    a, b = lines_of(mine.decode(), "softmax")
    s0, s1 = lines_of(stub_bytes().decode(), "softmax")
    old, stub = mine.decode().splitlines(keepends=True), stub_bytes().decode().splitlines(keepends=True)
    assert after.decode() == "".join(old[: a - 1] + stub[s0 - 1 : s1] + old[b:])
    assert outcome.lines == (a, b)
    # the other exercises, the import and the helper are exactly the learner's
    for name in ("scaled_dot_product_attention", "additive_attention", "_my_helper"):
        assert (
            restore.definition(after.decode(), name, ATTENTION).text
            == restore.definition(mine.decode(), name, ATTENTION).text
        )
    assert b"import os  # my own import\n" in after and after.endswith(b"    return x  # mine, keep it\n")
    # the backup holds the learner's exact bytes, and the manifest says what happened
    backup = only_set(ws)
    assert backup.name.startswith("reset-") and backup == outcome.backup.path
    assert (backup / ATTENTION).read_bytes() == mine
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["kind"] == "reset" and manifest["what"] == "day16.attention.softmax"
    assert manifest["files"] == [
        {"path": ATTENTION, "before": sha(mine), "after": sha(after), "edited": False}
    ]


def test_the_decorators_go_with_the_definition(ws):
    mine = learner_attention()
    restore.reset_exercise(ws, SDPA)
    after = (ws / ATTENTION).read_text()
    assert "@torch.no_grad()" not in after
    stub_def = restore.definition(stub_bytes().decode(), SDPA.name, ATTENTION)
    assert restore.definition(after, SDPA.name, ATTENTION).text == stub_def.text
    a, b = lines_of(mine.decode(), SDPA.name)
    kept = mine.decode().splitlines(keepends=True)
    assert after.startswith("".join(kept[: a - 1])) and after.endswith("".join(kept[b:]))


def test_crlf_line_endings_are_kept(ws):
    mine = learner_attention().replace(b"\n", b"\r\n")
    (ws / ATTENTION).write_bytes(mine)
    restore.reset_exercise(ws, SOFTMAX)
    after = (ws / ATTENTION).read_bytes()
    assert b"\n" not in after.replace(b"\r\n", b"")
    assert b"raise NotImplementedError" in after
    assert after.count(b"\r\n") > 20 and (only_set(ws) / ATTENTION).read_bytes() == mine


def test_a_deleted_definition_is_added_back_after_the_one_before_it(ws):
    text = learner_attention().decode()
    a, b = lines_of(text, SDPA.name)
    lines = text.splitlines(keepends=True)
    without = "".join(lines[: a - 1] + lines[b:])
    (ws / ATTENTION).write_text(without)
    outcome = restore.reset_exercise(ws, SDPA)
    after = (ws / ATTENTION).read_text()
    assert outcome.inserted and outcome.lines is None
    names = [n.name for n in ast.parse(after).body if isinstance(n, ast.FunctionDef)]
    assert names == ["softmax", "scaled_dot_product_attention", "additive_attention", "_my_helper"]
    assert (only_set(ws) / ATTENTION).read_text() == without


def test_a_missing_file_is_restored_whole_and_undo_removes_it_again(ws):
    (ws / "day16/masks.py").unlink()
    masks = load_day("day16").exercise("masks.causal_mask")
    outcome = restore.reset_exercise(ws, masks)
    assert (ws / "day16/masks.py").read_bytes() == stub_bytes("day16/masks.py")
    assert outcome.changes == [restore.FileChange("day16/masks.py", None, sha(stub_bytes("day16/masks.py")))]
    assert not (outcome.backup.path / "day16/masks.py").exists()  # nothing to keep

    undone = restore.undo(ws)
    assert not (ws / "day16/masks.py").exists()
    assert (undone.backup.path / "day16/masks.py").read_bytes() == stub_bytes("day16/masks.py")


def test_a_file_identical_to_the_stub_has_nothing_to_reset_and_no_backup(ws):
    (ws / ATTENTION).write_bytes(stub_bytes())
    outcome = restore.reset_exercise(ws, SOFTMAX)
    assert outcome.backup is None and outcome.changes == []
    assert not restore.backups_dir(ws).exists()


def test_an_exercise_that_is_still_the_stub_has_nothing_to_reset(ws):
    text = stub_bytes().decode().replace("import math\n", "import math  # edited elsewhere\n")
    (ws / ATTENTION).write_text(text)
    assert restore.reset_exercise(ws, SOFTMAX).backup is None
    assert (ws / ATTENTION).read_text() == text and not restore.backups_dir(ws).exists()


def test_an_unparsable_file_is_left_alone_and_the_error_names_the_line(ws):
    broken = learner_attention() + b"\ndef oops(:\n    pass\n"
    (ws / ATTENTION).write_bytes(broken)
    with pytest.raises(restore.Unparsable) as e:
        restore.reset_exercise(ws, SOFTMAX)
    assert e.value.file == ATTENTION and e.value.line == broken.count(b"\n") - 1
    assert (ws / ATTENTION).read_bytes() == broken and not restore.backups_dir(ws).exists()


def test_a_name_defined_twice_is_not_guessed(ws):
    doubled = learner_attention() + b"\n\ndef softmax(x, dim=-1):\n    return x\n"
    (ws / ATTENTION).write_bytes(doubled)
    with pytest.raises(restore.RestoreError, match="defines `softmax` 2 times"):
        restore.reset_exercise(ws, SOFTMAX)
    assert (ws / ATTENTION).read_bytes() == doubled


def test_the_graders_own_stubs_and_reference_are_no_workspace_to_reset():
    with pytest.raises(restore.RestoreError, match="grader's own copy of the stubs"):
        restore.reset_exercise(exercises_root(), SOFTMAX)
    with pytest.raises(restore.RestoreError, match="reference solutions"):
        restore.reset_all(reference_root(), ["day16"])


def test_reset_sets_leave_the_answers_backups_alone(ws):
    backups = restore.backups_dir(ws)
    backups.mkdir(parents=True)
    answers = backups / "day16-20250101-120000-42.toml"
    answers.write_text("[answers]\n")
    restore.reset_exercise(ws, SOFTMAX)
    assert answers.read_text() == "[answers]\n"
    assert [s.kind for s in restore.sets(ws)] == ["reset"]


# ------------------------------------------------------------------------------- undo and redo


def test_undo_restores_the_exact_bytes_and_walks_back_one_reset_at_a_time(ws):
    mine = learner_attention()
    restore.reset_exercise(ws, SOFTMAX)
    after_first = (ws / ATTENTION).read_bytes()
    restore.reset_exercise(ws, SDPA)

    first = restore.undo(ws)
    assert (ws / ATTENTION).read_bytes() == after_first
    assert first.taken_back.what == SDPA.id and first.backup.kind == "undo"
    second = restore.undo(ws)
    assert (ws / ATTENTION).read_bytes() == mine
    assert second.taken_back.what == SOFTMAX.id
    with pytest.raises(restore.NothingToTakeBack, match="nothing to undo"):
        restore.undo(ws)
    assert (ws / ATTENTION).read_bytes() == mine
    # each undo kept what it overwrote
    assert (first.backup.path / ATTENTION).read_bytes() != after_first
    assert (second.backup.path / ATTENTION).read_bytes() == after_first


def test_an_undo_can_itself_be_undone(ws):
    mine = learner_attention()
    restore.reset_exercise(ws, SOFTMAX)
    reset_state = (ws / ATTENTION).read_bytes()
    restore.undo(ws)
    assert (ws / ATTENTION).read_bytes() == mine
    redone = restore.redo(ws)
    assert (ws / ATTENTION).read_bytes() == reset_state
    assert redone.backup.kind == "redo" and (redone.backup.path / ATTENTION).read_bytes() == mine
    restore.undo(ws)  # and the redo is undone in turn
    assert (ws / ATTENTION).read_bytes() == mine
    with pytest.raises(restore.NothingToTakeBack):
        restore.undo(ws)


def test_no_redo_once_a_new_reset_came_after_the_undo(ws):
    restore.reset_exercise(ws, SOFTMAX)
    restore.undo(ws)
    restore.reset_exercise(ws, SDPA)
    before = (ws / ATTENTION).read_bytes()
    with pytest.raises(restore.NothingToTakeBack, match="nothing to redo"):
        restore.redo(ws)
    assert (ws / ATTENTION).read_bytes() == before


def test_edits_made_after_a_reset_survive_its_undo_in_a_backup(ws):
    mine = learner_attention()
    restore.reset_exercise(ws, SOFTMAX)
    edited = (ws / ATTENTION).read_bytes() + b"\n# worked on this after the reset\n"
    (ws / ATTENTION).write_bytes(edited)
    outcome = restore.undo(ws)
    assert (ws / ATTENTION).read_bytes() == mine
    assert outcome.changes[0].edited
    assert (outcome.backup.path / ATTENTION).read_bytes() == edited
    # and redo brings the edited version back, not just the reset's
    restore.redo(ws)
    assert (ws / ATTENTION).read_bytes() == edited


def test_reset_all_restores_every_differing_file_in_one_set_and_undo_brings_all_back(ws):
    mine = learner_attention()
    masks = b"# my masks\n" + stub_bytes("day16/masks.py")
    (ws / "day16/masks.py").write_bytes(masks)
    (ws / "day09/rnn.py").unlink()
    outcome = restore.reset_all(ws, ["day09", "day16"])
    assert {c.path for c in outcome.changes} == {ATTENTION, "day16/masks.py", "day09/rnn.py"}
    for rel in restore.stub_files(["day09", "day16"]):
        assert (ws / rel).read_bytes() == stub_bytes(rel), rel
    backup = only_set(ws)
    assert (backup / ATTENTION).read_bytes() == mine and (backup / "day16/masks.py").read_bytes() == masks

    restore.undo(ws)
    assert (ws / ATTENTION).read_bytes() == mine and (ws / "day16/masks.py").read_bytes() == masks
    assert not (ws / "day09/rnn.py").exists()
    assert restore.reset_all(ws, ["day09"]).changes[0].path == "day09/rnn.py"


# ----------------------------------------------------------------------------------- the command


def quiz(*args: str, input: str | None = None):
    return CliRunner().invoke(cli.app, list(args), input=input)


def test_cli_reset_says_what_changed_and_where_the_backup_is(ws):
    run = quiz("reset", "day16.attention.softmax", "--workspace", str(ws))
    assert run.exit_code == 0, run.output
    backup = only_set(ws)
    text = squash(run.output)
    assert squash(f"reset `softmax` in {ws / ATTENTION}") in text
    assert squash(str(backup)) in text and squash(f"quiz reset --undo --workspace {ws}") in text
    assert (backup / ATTENTION).read_bytes() == learner_attention()

    again = quiz("reset", "attention.softmax", "--workspace", str(ws))
    assert again.exit_code == 0 and "nothing to reset" in again.output and only_set(ws) == backup

    undo = quiz("reset", "--undo", "--workspace", str(ws))
    assert undo.exit_code == 0, undo.output
    assert (ws / ATTENTION).read_bytes() == learner_attention()
    assert squash("undid the reset of day16.attention.softmax") in squash(undo.output)


def test_cli_undo_says_where_edits_made_after_the_reset_are(ws):
    quiz("reset", "attention.softmax", "--workspace", str(ws))
    edited = (ws / ATTENTION).read_bytes() + b"# later work\n"
    (ws / ATTENTION).write_bytes(edited)
    run = quiz("reset", "--undo", "--workspace", str(ws))
    assert run.exit_code == 0, run.output
    kept = next(s for s in restore.sets(ws) if s.kind == "undo").copy_of(ATTENTION)
    assert kept.read_bytes() == edited
    assert squash(f"had changed since that reset: the changed version is kept in {kept}") in squash(
        run.output
    )
    nothing = quiz("reset", "--undo", "--workspace", str(ws))
    assert nothing.exit_code == 1 and "nothing to undo" in nothing.output


def test_cli_unparsable_file_changes_nothing_and_offers_a_whole_file_reset(ws):
    broken = b"import torch\n\ndef softmax(x, dim=-1:\n    return x\n"
    (ws / ATTENTION).write_bytes(broken)
    run = quiz("reset", "attention.softmax", "--workspace", str(ws))
    assert run.exit_code == 2
    text = squash(run.output)
    for words in (
        f"{ws / ATTENTION} is not valid Python",
        "line 3",
        "nothing was changed",
        f"quiz reset attention.softmax --file --workspace {ws}",
        f"quiz reset --all --workspace {ws}",
    ):
        assert squash(words) in text, words
    assert (ws / ATTENTION).read_bytes() == broken and not restore.backups_dir(ws).exists()

    whole = quiz("reset", "attention.softmax", "--file", "--workspace", str(ws))
    assert whole.exit_code == 0, whole.output
    assert (ws / ATTENTION).read_bytes() == stub_bytes() and (only_set(ws) / ATTENTION).read_bytes() == broken


@pytest.mark.parametrize(
    "args, words",
    [
        (["reset", "sofmax"], ["unknown day16 exercise 'sofmax'", "did you mean attention.softmax"]),
        (["reset", "day16.attention.sofmax"], ["unknown day16 exercise 'attention.sofmax'"]),
        (["reset"], ["say what to reset"]),
        (["reset", "attention.softmax", "--undo"], ["not an exercise id and --undo at once"]),
        (["reset", "--all", "--day", "day17"], ["unknown day 'day17'"]),
        (["reset", "--file"], ["--file resets the file of an exercise"]),
    ],
)
def test_cli_usage_errors_exit_2_and_change_nothing(ws, args, words):
    run = quiz(*args, "--workspace", str(ws))
    assert run.exit_code == 2, run.output
    for w in words:
        assert squash(w) in squash(run.output), run.output
    assert (ws / ATTENTION).read_bytes() == learner_attention() and not restore.backups_dir(ws).exists()


def test_cli_reset_all_needs_yes_when_it_cannot_ask(ws):
    run = quiz("reset", "--all", "--workspace", str(ws))
    assert run.exit_code == 2
    assert squash("would reset 1 file(s)") in squash(run.output) and "--yes" in run.output
    assert (ws / ATTENTION).read_bytes() == learner_attention() and not restore.backups_dir(ws).exists()

    run = quiz("reset", "--all", "--day", "day16", "--yes", "--workspace", str(ws))
    assert run.exit_code == 0, run.output
    assert (ws / ATTENTION).read_bytes() == stub_bytes()
    assert (only_set(ws) / ATTENTION).read_bytes() == learner_attention()


def test_cli_reset_all_asks_and_a_no_changes_nothing(ws, monkeypatch):
    monkeypatch.setattr(cli.workspace, "_interactive", lambda: True)
    run = quiz("reset", "--all", "--workspace", str(ws), input="n\n")
    assert run.exit_code == 1 and "nothing was reset" in run.output and ATTENTION in run.output
    assert (ws / ATTENTION).read_bytes() == learner_attention() and not restore.backups_dir(ws).exists()

    run = quiz("reset", "--all", "--workspace", str(ws), input="y\n")
    assert run.exit_code == 0, run.output
    assert (ws / ATTENTION).read_bytes() == stub_bytes()


@pytest.mark.parametrize("planted", [".quiz", ".quiz/backups", "day16"])
def test_a_reset_through_a_planted_link_changes_nothing_anywhere(ws, tmp_path, planted):
    outside = tmp_path / "outside"
    shutil.copytree(ws / "day16", outside)  # the learner's attention.py, and a folder to write into
    if planted != ".quiz":
        (ws / ".quiz").mkdir()
    if planted == "day16":
        shutil.rmtree(ws / "day16")
    (ws / planted).symlink_to(outside)

    def digests() -> dict[str, str]:
        return {
            str(p.relative_to(tmp_path)): sha(p.read_bytes())
            for p in sorted(tmp_path.rglob("*"))
            if p.is_file() and not p.is_symlink()
        }

    before = digests()
    run = quiz("reset", "attention.softmax", "--workspace", str(ws))
    assert run.exit_code == 1, run.output
    writing = ws / (ATTENTION if planted == "day16" else ".quiz/backups")
    link = "it is" if ws / planted == writing else f"{ws / planted} is"
    assert squash(f"error: refused to write {writing}: {link} a link to {outside}") in squash(run.output)
    assert squash("Nothing was changed.") in squash(run.output)
    assert digests() == before
    with pytest.raises(LinkError, match="a link to"):
        restore.reset_all(ws, ["day16"])
    assert digests() == before
