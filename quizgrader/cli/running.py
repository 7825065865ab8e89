"""Running the grading for a command: the device, the warm process, and the progress shown while
it runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from .common import console, stop_if_interrupted, usage_error
from .options import Device, Profile

if TYPE_CHECKING:
    from pathlib import Path

    from rich.progress import Progress


def resolved(device: Device) -> str:
    """--device as "cpu" or "cuda"; a usage error when CUDA is asked for and missing. Call it
    inside the zygote's block: it imports torch, which the zygote imports at the same time."""
    from ..grade import resolve_device

    try:
        return resolve_device(device.value)
    except ValueError as e:
        raise usage_error(str(e)) from None


def grade_day(
    the_day,
    workspace: Path,
    ids: list[str] | None,
    profile: Profile,
    seed: int,
    device: Device,
    lines: Console | None = console,
    plain: bool = False,
    **limits,
):
    """Run the grading with a status line; a day with no exercises yet grades its answers only.
    Not on a terminal (or `plain`: a CI log), a line per exercise on `lines` as it finishes instead
    (none when `lines` is None). `limits`: Options' timeout, memory_gib and cpu_seconds."""
    from contextlib import nullcontext

    from ..sandbox.process import Zygote

    # The zygote imports torch in its own interpreter while this one does the same.
    with Zygote() if the_day.exercises else nullcontext() as zygote:
        from ..grade import Options
        from ..grade import grade as run

        options = Options(
            workspace=workspace, only=ids, profile=profile.value, seed=seed, device=resolved(device), **limits
        )
        plan = the_day.ordered([the_day.exercise(i).id for i in ids] if ids else None)  # as grade() plans it
        with grading_progress(len(plan), lines, plain) as on_progress:
            report = run(the_day.id, options, on_progress, zygote)
    stop_if_interrupted()  # never record or print a run that Ctrl-C was meant to stop
    return report


@contextmanager
def progress_bar(
    total: int, doing: str = "grading"
) -> Iterator[tuple[Progress, Callable[[str | None], None]]]:
    """A bar over `total` steps, gone once the report prints, with the step under way named and,
    while the learner's process trains, its training step. Yields the bar and `step(name)`:
    a name starts that step, None ends it. Ctrl-C is honoured at each."""
    from ..report.progress import step_bar
    from ..sandbox.process import ON_PROGRESS

    with step_bar(console) as bar:
        task = bar.add_task(doing, total=total)
        now = [doing]

        def step(name: str | None) -> None:
            stop_if_interrupted()
            if name is None:
                bar.advance(task)
            else:
                now[0] = f"{doing} {name}"
                bar.update(task, description=now[0])

        def training(done: int, of: int) -> None:
            bar.update(task, description=f"{now[0]}: training step {done}/{of}")

        token = ON_PROGRESS.set(training)
        try:
            yield bar, step
        finally:
            ON_PROGRESS.reset(token)


@contextmanager
def grading_progress(
    total: int, lines: Console | None, plain: bool
) -> Iterator[Callable[[str, object], None]]:
    """grade()'s progress callback. On a terminal, the transient bar; piped or in a CI log
    (`plain`), where a bar shows nothing until the end, a plain line per exercise on `lines` as
    soon as it finishes (none when `lines` is None)."""
    if console.is_terminal and not plain:
        with progress_bar(total) as (_, step):
            yield grading_steps(step)
        return
    from ..report.terminal import progress_line

    done = [0]

    def finished(ex_id: str, result) -> None:
        stop_if_interrupted()
        if result is None or lines is None:
            return
        done[0] += 1
        lines.print(escape(progress_line(done[0], total, result)), soft_wrap=True, highlight=False)

    yield finished


def grading_steps(step: Callable[[str | None], None]) -> Callable[[str, object], None]:
    """grade()'s progress callback (exercise id, result or None) as steps of the bar."""
    return lambda ex_id, result: step(ex_id.split(".", 1)[1] if result is None else None)
