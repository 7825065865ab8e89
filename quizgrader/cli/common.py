"""What every command uses: the consoles, usage errors, finding the day, the exercise and the
workspace a command names, and the Ctrl-C flag."""

from __future__ import annotations

import threading
from pathlib import Path

import typer
from rich.console import Console

from .. import daypacks
from ..catalog import CatalogError, load_day, normalise_day
from ..report import messages
from .options import all_days

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def usage_error(message: str) -> typer.Exit:
    err.print(messages.error(message))
    return typer.Exit(2)


def day_named(name: str):
    try:
        return load_day(normalise_day(name))
    except CatalogError as e:
        raise usage_error("; ".join([str(e), *daypacks.problems()])) from None


def pack_problems() -> None:
    """A warning for each day pack that did not load (the others are used all the same)."""
    for problem in daypacks.problems():
        err.print(messages.warning(problem), soft_wrap=True)


def _names_a_day(part: str) -> bool:
    try:
        normalise_day(part)
    except CatalogError:
        return part.lower().startswith("day")  # "day17.x": a day, unknown
    return True


def exercise_named(ref: str):
    """An exercise by its id: "day16.attention.softmax", or "attention.softmax" looked up in each
    day, the newest first."""
    day_part = ref.split(".", 1)[0]
    named = _names_a_day(day_part)
    try:
        days = [day_named(day_part)] if named else list(reversed(all_days()))
        rest = ref.split(".", 1)[1] if named and "." in ref else ref
        errors = []
        for day in days:
            try:
                return day.exercise(rest)
            except CatalogError as e:
                errors.append(str(e))
        raise CatalogError(errors[0])
    except CatalogError as e:
        raise usage_error(str(e)) from None


def only_ids(the_day, only: str | None) -> list[str] | None:
    """--only's comma-separated exercise ids, each checked against the day's catalog."""
    ids = [s.strip() for s in only.split(",") if s.strip()] if only else None
    try:
        for i in ids or []:
            the_day.exercise(i)
    except CatalogError as e:
        raise usage_error(str(e)) from None
    return ids


def find_workspace(explicit: Path | None) -> Path:
    """--workspace as given, else the workspace found from the current folder; a usage error
    saying where it looked when there is none."""
    from ..workspace import NoWorkspace, find_workspace

    try:
        return find_workspace(explicit, Path.cwd())
    except NoWorkspace as e:
        raise usage_error(str(e)) from None


def flag(workspace: Path) -> str:
    """The --workspace to repeat in a suggested command: none when the command, typed in this
    folder, finds that workspace by itself."""
    from ..workspace import flag

    return flag(workspace, Path.cwd())


def check_workspace(the_day, workspace: Path) -> None:
    if not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not a folder (it should hold {the_day.id}/...)")
    answers = workspace / the_day.answers_file
    if not the_day.exercises and not answers.is_file():
        raise usage_error(
            f"{the_day.id} has no exercises to grade yet, and {answers} does not exist: answer "
            f"the checkpoint questions there (or run `quiz answer {the_day.id}{flag(workspace)}`)"
        )


# --- Ctrl-C --------------------------------------------------------------------------------------

interrupted = threading.Event()


def on_sigint(signum, frame) -> None:
    """Ctrl-C. Also remembered, because a KeyboardInterrupt that lands in a garbage-collector
    callback or a __del__ is dropped by the interpreter; the grading checks the flag after each
    exercise, so no Ctrl-C is lost."""
    interrupted.set()
    raise KeyboardInterrupt


def stop_if_interrupted() -> None:
    if interrupted.is_set():
        raise KeyboardInterrupt
