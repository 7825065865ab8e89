"""The `quiz` command. Commands are thin: they parse, call the pipeline, and hand the result to
a renderer (quizgrader.report). A module per group of commands; this one makes the app, names
each command in the order `quiz --help` lists them, and runs it (`main`)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated

import typer
from rich.markup import escape

from . import answer, autograder, grade, lab, selftest, show, workspace
from .common import console, err, on_sigint, usage_error

__all__ = ["app", "console", "err", "main", "usage_error"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Self-assessment quizzes and a grader for people learning transformers.",
)
show_app = typer.Typer(no_args_is_help=True, help="Show a rubric or an exercise.")
app.add_typer(show_app, name="show")


def _version(shown: bool) -> None:
    if shown:
        from .. import __version__

        print(f"quizgrader {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the grader's version and exit"
        ),
    ] = False,
) -> None:
    """Self-assessment quizzes and a grader for people learning transformers."""


app.command()(grade.grade)
app.command("grade-batch")(grade.grade_batch)
app.command()(grade.report)
app.command()(grade.watch)
app.command("list")(show.list_)
show_app.command("rubric")(show.show_rubric)
show_app.command("exercise")(show.show_exercise)
show_app.command("questions")(show.show_questions)
app.command()(answer.answer)
app.command()(answer.progress)
app.command()(grade.verify)
app.command()(selftest.selftest)
app.command()(workspace.init)
app.command()(show.hint)
app.command()(workspace.reset)
app.command()(show.solution)
app.command()(lab.lab)

autograder_app = typer.Typer(no_args_is_help=True, help="Pack the grader as a course's autograder.")
app.add_typer(autograder_app, name="autograder")
autograder_app.command("gradescope")(autograder.gradescope)
autograder_app.command("run", hidden=True)(autograder.run)


def main() -> None:
    code: int = 0
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_sigint)
    try:
        app()
    except SystemExit as e:
        if isinstance(e.code, str):
            err.print(escape(e.code))
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:
        err.print("interrupted")
        code = 130
    # Every command closes what it opened (files, the learner's processes, temporary folders), so
    # the interpreter's own teardown of torch, Hypothesis and the rest (about half a second) is
    # skipped.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
