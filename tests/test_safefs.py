"""The grader's own writes: atomic, and never through a link planted in the workspace (safefs),
for every file `quiz grade` writes."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import pytest

from quizgrader import safefs
from quizgrader.safefs import LinkError


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, str]:
    """Every file under `root` (links not followed) with its SHA-256: what must not change."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(folder, n)
            out[str(p.relative_to(root))] = (
                ("-> " + os.readlink(p)) if p.is_symlink() else (sha(p) if p.is_file() else "dir")
            )
    return out


@pytest.fixture
def places(tmp_path):
    """A workspace and, outside it, a folder with a file the learner's links point at."""
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    ws.mkdir()
    outside.mkdir()
    (outside / "precious.txt").write_text("the learner must not overwrite this\n")
    return ws, outside


def new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def test_a_linked_folder_in_the_workspace_is_refused_naming_the_link_and_its_target(places):
    ws, outside = places
    (ws / "out").symlink_to(outside)
    before = tree(outside)
    with pytest.raises(LinkError) as caught:
        safefs.write_atomic(ws / "out" / "precious.txt", "overwritten", ws)
    message = str(caught.value)
    assert message == (
        f"refused to write {ws / 'out' / 'precious.txt'}: {ws / 'out'} is a link to {outside}, and "
        "the grader never writes through a link in the workspace (remove the link, then run again)"
    )
    assert isinstance(caught.value, OSError)
    assert tree(outside) == before  # nothing written there, not even a temporary file


def test_a_link_deeper_down_and_a_missing_folder_made_on_the_way(places):
    ws, outside = places
    (ws / "a").mkdir()
    (ws / "a" / "b").symlink_to(outside)
    before = tree(outside)
    with pytest.raises(LinkError, match=r"/a/b is a link to "):
        safefs.write_atomic(ws / "a" / "b" / "c" / "new.txt", b"x", ws)
    with pytest.raises(LinkError, match=r"/a/b is a link to "):
        safefs.make_dirs(ws / "a" / "b" / "c", ws)
    assert tree(outside) == before
    safefs.write_atomic(ws / "a" / "fresh" / "deep" / "new.txt", "made", ws)
    assert (ws / "a" / "fresh" / "deep" / "new.txt").read_text() == "made"


def test_a_link_at_the_final_name_is_replaced_never_followed(places):
    ws, outside = places
    (ws / "result.json").symlink_to(outside / "precious.txt")
    before = tree(outside)
    safefs.write_atomic(ws / "result.json", '{"passed": true}\n', ws)
    assert not (ws / "result.json").is_symlink() and (ws / "result.json").read_text() == '{"passed": true}\n'
    assert tree(outside) == before
    assert stat.S_IMODE((ws / "result.json").stat().st_mode) == new_file_mode()
    assert sorted(p.name for p in ws.iterdir()) == ["result.json"]  # no temporary file left


def test_permissions_are_a_new_files_or_those_of_the_file_replaced(places):
    ws, _ = places
    safefs.write_atomic(ws / "new.txt", "a", ws)
    assert stat.S_IMODE((ws / "new.txt").stat().st_mode) == new_file_mode()
    (ws / "private.txt").write_text("old")
    os.chmod(ws / "private.txt", 0o4600)  # a set-id bit is never carried over
    safefs.write_atomic(ws / "private.txt", "new", ws)
    assert stat.S_IMODE((ws / "private.txt").stat().st_mode) == 0o600
    assert (ws / "private.txt").read_text() == "new"


def test_folders_outside_the_workspace_are_followed_as_the_system_resolves_them(places, tmp_path):
    ws, outside = places
    (tmp_path / "grades").symlink_to(outside)  # the instructor's own link, outside the workspace
    safefs.write_atomic(tmp_path / "grades" / "r.json", "{}", ws)
    assert (outside / "r.json").read_text() == "{}"
    (outside / "into").symlink_to(ws)  # a way into the workspace from outside ...
    (ws / "sub").symlink_to(outside)  # ... meets a link inside it: refused
    with pytest.raises(LinkError, match="/sub is a link to"):
        safefs.write_atomic(outside / "into" / "sub" / "precious.txt", "x", ws)
    assert (outside / "precious.txt").read_text() == "the learner must not overwrite this\n"


def test_append_keeps_its_meaning_but_never_through_a_link_in_the_workspace(places, tmp_path):
    ws, outside = places
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    safefs.append(summary, "| a | b |\n", ws)
    assert summary.read_text() == "# earlier step\n| a | b |\n"
    (ws / "summary.md").symlink_to(outside / "precious.txt")
    (ws / "folder").symlink_to(outside)
    before = tree(outside)
    with pytest.raises(LinkError, match="it is a link to"):
        safefs.append(ws / "summary.md", "x", ws)
    with pytest.raises(LinkError, match="/folder is a link to"):
        safefs.append(ws / "folder" / "new.md", "x", ws)
    assert tree(outside) == before


def test_refuse_links_names_a_linked_file_or_folder_and_accepts_what_is_not_there(places):
    ws, outside = places
    safefs.refuse_links(ws / "nothing" / "here.sqlite3", ws)
    (ws / "db-wal").symlink_to(outside / "precious.txt")
    with pytest.raises(LinkError, match="db-wal: it is a link to .*precious.txt"):
        safefs.refuse_links(ws / "db-wal", ws)


def test_unlink_removes_a_link_itself_and_refuses_a_linked_folder(places):
    ws, outside = places
    (ws / "l").symlink_to(outside / "precious.txt")
    safefs.unlink(ws / "l", ws)
    assert not (ws / "l").is_symlink() and (outside / "precious.txt").exists()
    (ws / "d").symlink_to(outside)
    with pytest.raises(LinkError):
        safefs.unlink(ws / "d" / "precious.txt", ws)
    assert (outside / "precious.txt").exists()
    safefs.unlink(ws / "missing" / "file", ws)  # nothing there: nothing to do


def test_shown_escapes_what_a_terminal_or_a_csv_would_act_on():
    assert safefs.shown("day16/\x1b[31mred\n\x07.py") == "day16/\\x1b[31mred\\n\\x07.py"
    assert safefs.shown("naïve ok.py") == "naïve ok.py"


# -- every file `quiz grade` writes -------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def quiz(*args: str, **env: str):
    from typer.testing import CliRunner

    from quizgrader import cli

    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1", **env})


@pytest.fixture
def planted(places):
    """A workspace whose learner's code planted links to the outside for each of the grader's writes."""
    ws, outside = places
    (ws / "day16").mkdir()
    (ws / "day16" / "masks.py").write_bytes((ROOT / "reference" / "day16" / "masks.py").read_bytes())
    (outside / "history").mkdir()
    (ws / ".quiz").symlink_to(outside / "history")  # the history's folder
    (ws / "out").symlink_to(outside)  # an output folder
    (ws / "junit.xml").symlink_to(outside / "precious.txt")  # an output file
    (ws / "summary.md").symlink_to(outside / "precious.txt")  # the CI step summary
    return ws, outside


def test_quiz_grade_writes_nothing_through_a_planted_link_and_still_reports(planted):
    ws, outside = planted
    before = tree(outside)
    run = quiz(
        "grade",
        "day16",
        "--workspace",
        str(ws),
        "--only",
        "masks.causal_mask",
        "--profile",
        "quick",
        "--json",
        str(ws / "out" / "result.json"),
        "--export",
        str(ws / "out" / "report.txt"),
        "--junit",
        str(ws / "junit.xml"),
        "--gradescope",
        str(ws / "gradescope.json"),
        QUIZ_HISTORY="",
    )
    assert tree(outside) == before, "a file outside the workspace changed"
    assert run.exit_code == 1, run.output  # the exercise passes: 1 for the refused writes
    assert "causal_mask" in run.stdout and "pass" in run.stdout  # the report is printed all the same
    for refused, link in (
        (".quiz/history.sqlite3", ".quiz"),
        ("out/result.json", "out"),
        ("out/report.txt", "out"),
    ):
        assert f"refused to write {ws / refused}: {ws / link} is a link to {outside}" in " ".join(
            run.stderr.split()
        ), (refused, run.stderr)
    assert not (ws / "junit.xml").is_symlink() and "<testsuites" in (ws / "junit.xml").read_text()
    assert '"score"' in (ws / "gradescope.json").read_text()


def test_the_ci_step_summary_is_never_appended_to_through_a_link_in_the_workspace(planted):
    ws, outside = planted
    before = tree(outside)
    args = (
        "grade",
        "day16",
        "--workspace",
        str(ws),
        "--only",
        "masks.causal_mask",
        "--profile",
        "quick",
        "--ci",
    )
    run = quiz(*args, GITHUB_STEP_SUMMARY=str(ws / "summary.md"))
    assert tree(outside) == before
    assert run.exit_code == 1 and "causal_mask" in run.stdout
    assert f"refused to write {ws / 'summary.md'}: it is a link to {outside / 'precious.txt'}" in " ".join(
        run.stderr.split()
    )


# -- the other writes: answers, quiz init, the lab, a class's gradebook ---------------------------
def test_saved_answers_never_go_through_a_planted_link(places):
    from quizgrader.catalog import load_day
    from quizgrader.questions import load_bank
    from quizgrader.questions.answers import save_answers

    ws, outside = places
    day = load_day("day16")
    bank = load_bank("day16")
    (outside / "day16.toml").write_text('[ratings]\n1 = "Confident"\n')
    (ws / "answers").symlink_to(outside)  # the answers folder itself
    before = tree(outside)
    with pytest.raises(LinkError, match=f"{ws / 'answers'} is a link to {outside}"):
        save_answers(ws / day.answers_file, bank, day.scale, {}, {2: "Shaky"}, ws / ".quiz" / "backups", ws)
    (ws / "answers").unlink()
    (ws / "answers").mkdir()
    shutil.rmtree(ws / ".quiz")  # the backup of the file read through the link
    mine = '[ratings]\n1 = "Shaky"\n'
    (ws / day.answers_file).write_text(mine)
    (ws / ".quiz").symlink_to(outside)  # where the previous version is kept
    with pytest.raises(LinkError, match=f"{ws / '.quiz'} is a link to {outside}"):
        save_answers(ws / day.answers_file, bank, day.scale, {}, {2: "Shaky"}, ws / ".quiz" / "backups", ws)
    assert tree(outside) == before and (ws / day.answers_file).read_text() == mine


def test_quiz_init_writes_nothing_when_a_folder_of_the_target_is_a_link(places):
    from quizgrader.init import InitError, init

    ws, outside = places
    (ws / "day16").symlink_to(outside)
    before = tree(outside)
    with pytest.raises(InitError) as caught:
        init(ws)
    assert f"{ws / 'day16'} is a link to {outside}" in str(caught.value)
    assert str(caught.value).endswith("; nothing was written")
    assert tree(outside) == before and sorted(p.name for p in ws.iterdir()) == ["day16"]
    (ws / "day16").unlink()
    (ws / ".gitignore").symlink_to(outside / "nothing-there")  # a link to nothing is there all the same
    with pytest.raises(InitError, match=r"already has \.gitignore"):
        init(ws)
    assert not (outside / "nothing-there").exists()


def test_the_labs_files_never_go_through_a_planted_link(places):
    from quizgrader import lab
    from quizgrader.days.day16.lab import Settings

    ws, outside = places
    report = lab.LabReport(
        day="day16", workspace=str(ws), reference=False, device="cpu", settings=Settings(), outcomes=[]
    )
    (ws / "lab").symlink_to(outside)
    before = tree(outside)
    with pytest.raises(LinkError, match=f"{ws / 'lab'}: it is a link to {outside}"):
        lab.save(report, ws / "lab", images=False)
    assert tree(outside) == before
    (ws / "lab").unlink()
    (ws / "lab").mkdir()
    (ws / "lab" / lab.RESULTS).symlink_to(outside / "precious.txt")
    saved = lab.save(report, ws / "lab", images=False)
    assert (
        saved.files == [ws / "lab" / lab.RESULTS]
        and '"day":"day16"' in (ws / "lab" / lab.RESULTS).read_text()
    )
    assert tree(outside) == before
