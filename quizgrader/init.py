"""`quiz init`: a fresh learner workspace — the pristine stubs, an answers template per day, and
optionally a CI workflow that grades every push. Nothing that exists is ever overwritten, and
nothing is written through a link in the target folder."""

from __future__ import annotations

import os
from pathlib import Path

from . import __version__, safefs
from .catalog import DAYS, load_day
from .paths import exercises_root
from .questions import load_bank
from .questions.answers import HEADER

GITIGNORE = "__pycache__/\n.quiz/\n.venv/\njunit-*.xml\n"

WORKFLOW = """\
# Grades the exercises and the checkpoint answers on every push (made by `quiz init --ci github`).
name: quiz
on: [push, pull_request]
jobs:
  grade:
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      matrix:
        day: [day16, day09]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      # The CPU build of torch is a fraction of the size of the default CUDA one.
      - run: pip install torch --index-url https://download.pytorch.org/whl/cpu
      - run: pip install "{grader}"
      - run: quiz grade ${{{{ matrix.day }}}} --workspace . --ci --junit junit-${{{{ matrix.day }}}}.xml
      - if: always()
        uses: actions/upload-artifact@v4
        with:
          name: junit-${{{{ matrix.day }}}}
          path: junit-${{{{ matrix.day }}}}.xml
"""


class InitError(ValueError):
    """The target cannot take a fresh workspace without overwriting something."""


def answers_template(day_id: str) -> str:
    """An answers file with every question listed as a comment, to uncomment and fill in."""
    day = load_day(day_id)
    lines = [HEADER.format(day=day.id, scale=", ".join(day.scale)).rstrip("\n"), "", "[answers]", ""]
    for row in day.rubric:
        questions = [q for q in load_bank(day.id).questions if q.row == row.number and q.checkable]
        if not questions:
            continue
        lines += [f"# -- row {row.number}: {row.area}", ""]
        for q in questions:
            lines.append(f"# {q.prompt}")
            options = q.shown_choices or q.shown_items
            if options:
                lines.append("#   " + "   ".join(f"{letter}) {o}" for letter, o in zip("abcdefghij", options)))
            lines += [f"# {q.id} = ", ""]
    lines += ["[ratings]", f"# your own rating of each rubric row: {', '.join(day.scale)}"]
    lines += [f"# {row.number} = \"\"   # {row.area}" for row in day.rubric]
    return "\n".join(lines) + "\n"


def plan(target: Path, ci: str | None = None, grader: str | None = None) -> dict[Path, str | Path]:
    """What `init` writes: a path in `target` -> its text, or the bundled file to copy."""
    files: dict[Path, str | Path] = {}
    stubs = exercises_root()
    for day in DAYS:
        for src in sorted((stubs / day).glob("*.py")):
            files[target / day / src.name] = src
        files[target / "answers" / f"{day}.toml"] = answers_template(day)
    files[target / ".gitignore"] = GITIGNORE
    if ci == "github":
        files[target / ".github" / "workflows" / "quiz.yml"] = WORKFLOW.format(
            grader=grader or f"quizgrader=={__version__}")
    return files


def init(target: Path, ci: str | None = None, grader: str | None = None) -> list[Path]:
    """Write the workspace; refuses, writing nothing, when any of its files exists already (a
    link there too, even one to nothing) or a folder on the way to one is a link."""
    files = plan(target, ci, grader)
    if clashes := [p for p in files if os.path.lexists(p)]:
        shown = ", ".join(str(p.relative_to(target)) for p in clashes[:5])
        more = f" and {len(clashes) - 5} more" if len(clashes) > 5 else ""
        raise InitError(f"{target} already has {shown}{more}; nothing was written (start in an empty or new "
                        "folder)")
    try:
        for path in files:
            safefs.refuse_links(path, target)
    except safefs.LinkError as e:
        raise InitError(f"{e}; nothing was written") from None
    for path, content in files.items():
        safefs.write_atomic(path, content.read_bytes() if isinstance(content, Path) else content, target)
    return list(files)
