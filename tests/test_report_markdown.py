"""`quiz report --markdown`: the dated results table the checkpoints ask for, the weakest areas
in order, and a re-study plan that names what failed."""

from __future__ import annotations

from datetime import date

from quizgrader.catalog import load_day
from quizgrader.report.markdown import render
from quizgrader.report.rubric_text import evidence_lines, verdict_summary
from quizgrader.results import Answer, CheckResult, ExerciseResult, GradeReport, QuestionResult, Status
from quizgrader.rubric import rate, verdict

D16, D09 = load_day("day16"), load_day("day09")


def report_for(
    day, failing: dict[str, Status] | None = None, questions=(), ratings=None, graded: bool = True
) -> GradeReport:
    """A report in which every exercise passes but those in `failing`; none graded unless `graded`."""
    failing = failing or {}
    exercises = []
    for ex in day.exercises if graded else ():
        status = failing.get(ex.short, Status.PASS)
        checks = [
            CheckResult("a", Status.PASS),
            CheckResult("b", status if status is Status.FAIL else Status.PASS),
        ]
        if ex.measures:
            checks.append(CheckResult("measures", Status.PASS, rows=ex.measures, figures={"summary": "fast"}))
        exercises.append(ExerciseResult(ex.id, ex.title, status, checks=checks))
    rubric = rate(day, exercises, list(questions), ratings or {}, write=evidence_lines)
    return GradeReport(
        day.id,
        day.title,
        "ws",
        0,
        "quick",
        "cpu",
        day.scale,
        exercises,
        rubric,
        version="0",
        questions=list(questions),
        verdict=verdict(day, rubric, write=verdict_summary),
    )


def table(text: str) -> dict[int, list[str]]:
    rows = [
        line.strip("|").split(" | ")
        for line in text.splitlines()
        if line.startswith("| ") and "---" not in line
    ]
    return {int(r[0]): [c.strip() for c in r] for r in rows[1:]}


def test_dated_table_has_every_row_with_its_rating_and_notes():
    text = render(report_for(D16, {"positional.apply_rope": Status.FAIL}), on=date(2026, 3, 4))
    assert text.startswith("# Day 16 checkpoint results — 2026-03-04")
    rows = table(text)
    assert sorted(rows) == list(range(1, 9))
    assert rows[6][2] == "Shaky" and "apply_rope fail (1/2 checks)" in rows[6][3]
    assert rows[2][2] == "Confident" and rows[2][3].startswith("2/2 exercises pass")


def test_weakest_areas_come_worst_first_and_the_plan_names_what_to_redo():
    wrong = QuestionResult("d16-mha-params-bias", 3, Answer.WRONG, "that is one projection")
    rep = report_for(
        D16,
        {"positional.apply_rope": Status.FAIL, "block.FeedForward": Status.ERROR},
        questions=[wrong],
        ratings={7: "Need to re-study"},
    )
    text = render(rep)
    weakest = text.split("## Weakest areas")[1].split("## Re-study plan")[0]
    order = [line.split("**")[1].split(".")[0] for line in weakest.splitlines() if line.startswith("1.")]
    assert order[0] == "7"  # the learner's own "Need to re-study" first
    assert set(order) == {"3", "4", "6", "7"}
    plan = text.split("## Re-study plan")[1]
    assert (
        "`quiz hint positional.apply_rope --level 2`" in plan
        and "`d16-mha-params-bias`: that is one projection" in plan
    )
    assert "(revisit Day 15)" in plan and "quiz answer day16 --row 7 --all" in plan
    assert "**Verdict: go back.**" in text


def test_all_solid_has_nothing_to_restudy():
    text = render(report_for(D16))
    assert "Nothing to re-study" in text and "**Verdict: ready.**" in text


def test_day9_has_the_readiness_checklist_and_unrated_rows():
    qs = [QuestionResult("d09-ce-uniform-10", 5, Answer.CORRECT)]
    text = render(report_for(D09, questions=qs, ratings={1: "✅ Solid", 2: "❌ Weak"}, graded=False))
    assert "## Readiness criteria" in text
    checklist = [line for line in text.splitlines() if line.startswith("- [")]
    assert len(checklist) == 8
    assert (
        checklist[0].startswith("- [x]")
        and checklist[1].startswith("- [ ]")
        and checklist[4].startswith("- [x]")
    )
    assert "not rated yet" in checklist[2]
    assert "Not rated yet: 3." in text
    assert "your own rating; no evidence yet" in table(text)[1][3]


def test_quiz_report_writes_the_markdown_file_from_a_real_grading(tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "day16").mkdir()
    shutil.copy(root / "reference" / "day16" / "masks.py", tmp_path / "day16" / "masks.py")
    (tmp_path / "answers").mkdir()
    (tmp_path / "answers" / "day16.toml").write_text('[ratings]\n5 = "Need to re-study"\n')
    out = tmp_path / "checkpoint.md"
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "quizgrader",
            "report",
            "day16",
            "--workspace",
            str(tmp_path),
            "--profile",
            "quick",
            "-o",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    text = out.read_text()
    assert f"checkpoint results — {date.today().isoformat()}" in text
    rows = table(text)
    assert rows[5][2] == "Need to re-study" and "your own rating" in rows[5][3]
    assert "not attempted" in rows[2][3]  # attention.py is missing from the workspace
    # typed in the folder this ran in, a suggested command needs the workspace named
    assert f"`quiz answer day16 --row 5 --all --workspace {tmp_path}`" in text
    assert "**Verdict: go back.**" in text and "wrote " + str(out) in run.stdout.replace("\n", "")
