"""An exercise id is never split or cut, at any width from 60 to 200 columns: in every table of the
grade report (and the watch report, which draws the same exercise table), in `quiz list` and in
`quiz show rubric`. Each day's reference is graded once; its report is drawn at each width here."""

from __future__ import annotations

import copy
import io
import re
import shutil

import pytest
from rich.console import Console
from typer.testing import CliRunner

from quizgrader import cli
from quizgrader.catalog import load_day
from quizgrader.grade import Options, grade
from quizgrader.paths import reference_root
from quizgrader.report.terminal import exercise_table, render, rubric_table
from quizgrader.results import Status

DAYS = ("day16", "day09")
NARROW = (60, 80, 100)
WIDE = 200


def ids_of(day: str) -> list[str]:
    """Every exercise id of the day, in its full ("day16.attention.softmax") and short form."""
    full = [e.id for e in load_day(day).exercises]
    return full + [i.split(".", 1)[1] for i in full]


def whole(exercise_id: str, text: str) -> int:
    """How many times the id appears whole on a line: not as part of a longer id or word."""
    return sum(
        len(re.findall(rf"(?<![\w.]){re.escape(exercise_id)}(?!\w)", line)) for line in text.splitlines()
    )


def drawn(renderable, width: int) -> str:
    console = Console(width=width, record=True, highlight=False, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def assert_ids_whole(day: str, wide: str, narrow: str) -> None:
    shown = {i: n for i in ids_of(day) if (n := whole(i, wide))}
    assert shown, "the wide rendering names no exercise"
    assert {i: whole(i, narrow) for i in shown} == shown, narrow
    for line in narrow.splitlines():
        for cut in re.findall(r"([\w.]+)…", line):
            assert not any(i.startswith(cut) for i in ids_of(day)), line


@pytest.fixture(scope="module")
def reports(tmp_path_factory, zygote):
    """Each day's reference graded once, and the same report with long reasons, as a learner who
    has not started sees them."""
    out = {}
    for day in DAYS:
        ws = tmp_path_factory.mktemp(day)
        shutil.copytree(reference_root() / day, ws / day)
        report = grade(day, Options(workspace=ws, profile="quick"), zygote=zygote)
        started = copy.deepcopy(report)
        for e in started.exercises[::2]:
            e.status = Status.NOT_ATTEMPTED
            e.reason = "the function still raises NotImplementedError: write it in the file named above"
        out[day] = report
        out[day + "-started"] = started
    return out


@pytest.mark.parametrize("width", NARROW)
@pytest.mark.parametrize("key", [*DAYS, *(d + "-started" for d in DAYS)])
@pytest.mark.parametrize(
    "part", [exercise_table, rubric_table, render], ids=["exercises", "rubric", "report"]
)
def test_every_table_of_the_grade_report_keeps_each_id_whole(reports, key, part, width):
    report = reports[key]
    assert_ids_whole(report.day, drawn(part(report), WIDE), drawn(part(report), width))


@pytest.mark.parametrize("key", DAYS)
def test_the_exported_report_keeps_its_boxed_tables_and_each_id_whole(reports, key):
    """At the width of `--export` (110 columns), with the learner's own ratings beside the evidence."""
    report = copy.deepcopy(reports[key])
    for r in report.rubric:
        r.self_rating, r.calibrated = r.rating, True
    text = drawn(render(report), 110)
    assert "┃ exercise" in text and "┃ you said" in text and "┃ evidence" in text
    assert_ids_whole(report.day, drawn(render(report), WIDE), text)


def quiz(width: int, *args: str) -> str:
    run = CliRunner().invoke(cli.app, list(args), env={"COLUMNS": str(width), "NO_COLOR": "1"})
    assert run.exit_code == 0, run.output
    return run.output


@pytest.mark.parametrize("width", (60, 80))
@pytest.mark.parametrize(
    "args",
    [("list", "day16"), ("list", "day9"), ("show", "rubric", "day16"), ("show", "rubric", "day9")],
    ids=" ".join,
)
def test_the_list_and_the_rubric_keep_each_id_whole(args, width):
    day = "day09" if args[-1] == "day9" else args[-1]
    assert_ids_whole(day, quiz(WIDE, *args), quiz(width, *args))
