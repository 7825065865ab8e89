"""`quiz init`: a fresh learner workspace — the pristine stubs, an answers template per day, and
optionally a CI workflow that grades every push. Nothing that exists is ever overwritten, and
nothing is written through a link in the target folder."""

from __future__ import annotations

import hashlib
import os
import shlex
import tomllib
from pathlib import Path

from . import __version__, daypacks, safefs
from .catalog import day_ids, load_day
from .deploy import wheel
from .questions import load_bank
from .questions.answers import HEADER

GITIGNORE = "__pycache__/\n.quiz/\n.venv/\njunit*.xml\n"

MARKER = "quiz.toml"
GRADER_FOLDER = "grader"
UNTOUCHED = ("report", "fail")

WORKSPACE_FILE = """\
# A quizgrader workspace, made by `quiz init`: the grader finds it from this folder or any
# folder below it. `grader` is the version that made it; another version grading it says so.
[workspace]
grader = "{version}"
"""

WORKFLOW = """\
# Grades the exercises and the checkpoint answers on every push (made by `quiz init --ci github`).
# A day whose exercises are all untouched and whose questions are all unanswered is {untouched_rule}
# (`--untouched {untouched}`; `--untouched {other}` {other_rule}).
name: quiz
on: [push, pull_request, workflow_dispatch]
permissions:
  contents: read
jobs:
  grade:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    strategy:
      fail-fast: false
      matrix:
        day: [{days}]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
          cache: pip
          cache-dependency-path: quiz.toml
      - name: PyTorch, CPU build (a fraction of the size of the default CUDA one)
        run: pip install "torch=={torch}" --index-url https://download.pytorch.org/whl/cpu
      - name: the grader
        run: {install}
      - name: grade
        run: quiz grade ${{{{ matrix.day }}}} --ci --untouched {untouched} --junit junit.xml
      - if: always()
        uses: actions/upload-artifact@v4
        with:
          name: junit-${{{{ matrix.day }}}}
          path: junit.xml
          if-no-files-found: ignore
"""

_RULES = {"report": "reported and does not fail the job", "fail": "fails the job"}


def workflow(install: str, untouched: str = "report", torch: str | None = None) -> str:
    """The GitHub Actions workflow: `install` is the shell command that installs the grader."""
    other = next(u for u in UNTOUCHED if u != untouched)
    return WORKFLOW.format(
        # the days the installed grader carries; a course's own pack is installed by the course
        days=", ".join(d for d in day_ids() if daypacks.get(d).own),
        torch=torch or wheel.torch_version(),
        install=install,
        untouched=untouched,
        other=other,
        untouched_rule=_RULES[untouched],
        other_rule=_RULES[other],
    )


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
                lines.append(
                    "#   " + "   ".join(f"{letter}) {o}" for letter, o in zip("abcdefghij", options))
                )
            lines += [f"# {q.id} = ", ""]
    lines += ["[ratings]", f"# your own rating of each rubric row: {', '.join(day.scale)}"]
    lines += [f'# {row.number} = ""   # {row.area}' for row in day.rubric]
    return "\n".join(lines) + "\n"


def plan(
    target: Path,
    ci: str | None = None,
    grader: str | None = None,
    untouched: str = "report",
    torch: str | None = None,
) -> dict[Path, str | Path | bytes]:
    """What `init` writes: a path in `target` -> its text, its bytes, or the bundled file to copy.
    With `ci`, the grader travels in the workspace as a wheel (with its SHA-256) that the workflow
    checks and installs, unless `grader` names what to pip-install instead."""
    files: dict[Path, str | Path | bytes] = {}
    for day in day_ids():
        for src in sorted((daypacks.get(day).exercises / day).glob("*.py")):
            files[target / day / src.name] = src
        files[target / "answers" / f"{day}.toml"] = answers_template(day)
    files[target / ".gitignore"] = GITIGNORE
    files[target / MARKER] = WORKSPACE_FILE.format(version=__version__)
    if ci == "github":
        if grader:
            install = f"pip install {shlex.quote(grader)}"
        else:
            name = wheel.filename()
            data = wheel.pack()
            files[target / GRADER_FOLDER / name] = data
            files[target / GRADER_FOLDER / "SHA256SUMS"] = (
                f"{hashlib.sha256(data).hexdigest()}  {GRADER_FOLDER}/{name}\n"
            )
            install = f"sha256sum --check {GRADER_FOLDER}/SHA256SUMS && pip install {GRADER_FOLDER}/{name}"
        files[target / ".github" / "workflows" / "quiz.yml"] = workflow(install, untouched, torch)
    return files


def init(
    target: Path,
    ci: str | None = None,
    grader: str | None = None,
    untouched: str = "report",
    torch: str | None = None,
) -> list[Path]:
    """Write the workspace; refuses, writing nothing, when any of its files exists already (a
    link there too, even one to nothing) or a folder on the way to one is a link."""
    files = plan(target, ci, grader, untouched, torch)
    if clashes := [p for p in files if os.path.lexists(p)]:
        shown = ", ".join(str(p.relative_to(target)) for p in clashes[:5])
        more = f" and {len(clashes) - 5} more" if len(clashes) > 5 else ""
        raise InitError(
            f"{target} already has {shown}{more}; nothing was written (start in an empty or new folder)"
        )
    try:
        for path in files:
            safefs.refuse_links(path, target)
    except safefs.LinkError as e:
        raise InitError(f"{e}; nothing was written") from None
    for path, content in files.items():
        safefs.write_atomic(path, content.read_bytes() if isinstance(content, Path) else content, target)
    return list(files)


MARKER_LIMIT = 64 * 1024


def version_note(workspace: Path) -> str | None:
    """A line for the report when the workspace's quiz.toml names another grader version than
    this one, or cannot be read; None when it agrees or there is none. Never raises, never
    follows a link."""
    path = workspace / MARKER
    try:
        if not os.path.lexists(path):
            return None
        if path.is_symlink() or not path.is_file():
            return f"{MARKER} is not a regular file; it was not read"
        if path.stat().st_size > MARKER_LIMIT:
            return f"{MARKER} is larger than {MARKER_LIMIT // 1024} KiB; it was not read"
        made_by = tomllib.loads(path.read_text(encoding="utf-8"))["workspace"]["grader"]
    except (
        OSError,
        UnicodeDecodeError,
        tomllib.TOMLDecodeError,
        RecursionError,
        MemoryError,
        KeyError,
        TypeError,
    ) as e:
        return f"{MARKER} cannot be read ({type(e).__name__}: {e}); the grader version it names is not known"
    if made_by == __version__:
        return None
    return (
        f"this workspace was made for quizgrader {safefs.shown(str(made_by))[:40]}, and this is "
        f"{__version__}: checks and points may differ from what the course set"
    )
