"""The `quiz` command. Commands are thin: they parse, call the pipeline, and hand the result to
a renderer."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from . import safefs
from .batch import SUBMISSION_SECONDS
from .catalog import CatalogError, day_ids, load_day, normalise_day
from .safefs import LinkError
from .sandbox.confine import CPU_SECONDS, MEMORY_GIB

if TYPE_CHECKING:
    from rich.progress import Progress

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
        from . import __version__

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


console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class Untouched(str, Enum):
    fail = "fail"
    report = "report"


class Profile(str, Enum):
    quick = "quick"
    default = "default"
    thorough = "thorough"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def usage_error(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(2)


def _day(name: str):
    try:
        return load_day(normalise_day(name))
    except CatalogError as e:
        raise usage_error(str(e)) from None


def _all_days(newest_first: bool = False) -> list:
    """Every day the installed packs provide, loaded: in id order, or the newest first."""
    ids = sorted(day_ids(), reverse=newest_first)
    return [_day(d) for d in ids]


def _exercise(ref: str):
    day_part = ref.split(".", 1)[0]
    days = []
    try:
        named = day_part.lower().startswith("day")
        days = [_day(day_part)] if named else _all_days(newest_first=True)
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


def _only(the_day, only: str | None) -> list[str] | None:
    """--only's comma-separated exercise ids, each checked against the day's catalog."""
    ids = [s.strip() for s in only.split(",") if s.strip()] if only else None
    try:
        for i in ids or []:
            the_day.exercise(i)
    except CatalogError as e:
        raise usage_error(str(e)) from None
    return ids


# The learner's process's limits, shared by `grade` and `grade-batch`.
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        min=0.1, help="Seconds each call of the learner's code may take (default: each exercise's own)"
    ),
]
MemoryOption = Annotated[
    float, typer.Option(min=0.1, help="GiB of memory the learner's process may use (CPU runs)")
]
CpuOption = Annotated[float, typer.Option(min=1, help="CPU seconds per exercise")]
# Every command that works on a workspace finds it the same way (workspace.find_workspace).
FOUND = (
    "(default: this folder when it is a workspace, else the nearest folder above holding quiz.toml, "
    "else exercises/)"
)
WorkspaceOption = Annotated[Path | None, typer.Option(help="Folder laid out like exercises/ " + FOUND)]


def _workspace(explicit: Path | None) -> Path:
    """--workspace as given, else the workspace found from the current folder; a usage error
    saying where it looked when there is none."""
    from .workspace import NoWorkspace, find_workspace

    try:
        return find_workspace(explicit, Path.cwd())
    except NoWorkspace as e:
        raise usage_error(str(e)) from None


@app.command()
def grade(
    day: Annotated[str, typer.Argument(help="day16 or day9")],
    only: Annotated[
        str | None, typer.Option(help="Comma-separated exercise ids, e.g. attention.softmax")
    ] = None,
    workspace: WorkspaceOption = None,
    profile: Annotated[Profile, typer.Option(help="How many examples each check tries")] = Profile.default,
    seed: Annotated[int, typer.Option(help="Fixes every random choice")] = 0,
    device: Annotated[Device, typer.Option(help="Where the learner's code runs")] = Device.auto,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON")] = None,
    export: Annotated[
        Path | None, typer.Option(help="Also save the report as it prints: .svg, .html or .txt")
    ] = None,
    ci: Annotated[
        bool,
        typer.Option(
            "--ci",
            help="For autograding: plain text, no history; GitHub annotations "
            "and step summary when run by GitHub Actions",
        ),
    ] = False,
    junit: Annotated[Path | None, typer.Option(help="Also write JUnit XML (a testcase per check)")] = None,
    gradescope: Annotated[Path | None, typer.Option(help="Also write Gradescope's results.json")] = None,
    untouched: Annotated[
        Untouched,
        typer.Option(
            help="A day not started (every exercise untouched, no question answered): fail, or report it and "
            "exit 0 (what the CI workflow of `quiz init` uses)"
        ),
    ] = Untouched.fail,
    timeout: TimeoutOption = None,
    memory_limit: MemoryOption = MEMORY_GIB,
    cpu_limit: CpuOption = CPU_SECONDS,
) -> None:
    """Grade a day's exercises in a workspace and print the report."""
    the_day = _day(day)
    workspace = _workspace(workspace)
    _check_workspace(the_day, workspace)
    if only and not the_day.exercises:
        raise usage_error(f"{the_day.id} has no exercises yet, so --only has nothing to pick")
    if ci:
        console.no_color, console.soft_wrap = True, True  # a CI log: no colours, lines not folded
    for out in (json_out, export, junit, gradescope):
        if out and not out.resolve().parent.is_dir():
            raise usage_error(f"cannot write {out}: the folder {out.parent} does not exist")
    if export and export.suffix not in EXPORTS:
        raise usage_error(f"--export {export}: the file must end in {', '.join(EXPORTS)}")
    ids = _only(the_day, only)

    from .report.terminal import render
    from .results import to_json

    started = datetime.now(UTC)
    report = _grade(
        the_day,
        workspace,
        ids,
        profile,
        seed,
        device,
        plain=ci,
        timeout=timeout,
        memory_gib=memory_limit,
        cpu_seconds=cpu_limit,
    )
    # A write refused (or failed) is said and costs the exit code, never the report or the other
    # writes. The report and the results go out first; the history (the workspace's own file) last.
    written = True
    repros = _saved_repros(report, workspace)
    console.print(render(report, repros))
    from .init import version_note

    if note := version_note(workspace):
        console.print(f"[yellow]note:[/] {escape(note)}")
    not_started = untouched is Untouched.report and report.not_started
    if not_started:
        console.print(
            f"{the_day.id}: not started (every exercise still a stub, no question answered); "
            "with --untouched report that does not fail the run"
        )
    if json_out:
        written &= _write(json_out, to_json(report), workspace)
    if export:
        written &= _write(
            export, _exported(render(report, repros), export, f"quiz grade {the_day.id}"), workspace
        )
    if junit or gradescope or ci:
        from .report import ci as ci_formats

        if junit:
            written &= _write(junit, ci_formats.junit_xml(report), workspace)
        if gradescope:
            written &= _write(
                gradescope,
                json.dumps(ci_formats.gradescope_json(report), indent=2, allow_nan=False) + "\n",
                workspace,
            )
        if ci and os.environ.get("GITHUB_ACTIONS") == "true":
            for line in ci_formats.github_annotations(report, os.path.relpath(workspace)):
                print(line)
        if ci and (summary_file := os.environ.get("GITHUB_STEP_SUMMARY")):
            written &= _write(Path(summary_file), ci_formats.step_summary(report), workspace, append=True)
    if not ci:  # a CI run starts from a fresh checkout: nothing to remember
        written &= _record_report(workspace, report, started)
    raise typer.Exit(0 if (report.passed or not_started) and written else 1)


@app.command("grade-batch")
def grade_batch(
    submissions: Annotated[Path, typer.Argument(help="A folder with a folder (or .zip) per submission")],
    day: Annotated[str, typer.Option(help="day16 or day9")],
    jobs: Annotated[int, typer.Option(min=1, help="Submissions graded at once")] = 2,
    out: Annotated[Path, typer.Option(help="Where the gradebook and each submission's results go")] = Path(
        "grades"
    ),
    only: Annotated[str | None, typer.Option(help="Comma-separated exercise ids")] = None,
    profile: Annotated[Profile, typer.Option(help="How many examples each check tries")] = Profile.default,
    seed: Annotated[int, typer.Option(help="Fixes every random choice")] = 0,
    device: Annotated[Device, typer.Option(help="Where the learners' code runs")] = Device.auto,
    timeout: TimeoutOption = None,
    memory_limit: MemoryOption = MEMORY_GIB,
    cpu_limit: CpuOption = CPU_SECONDS,
    submission_timeout: Annotated[
        float, typer.Option(min=1, help="Seconds for a whole submission")
    ] = SUBMISSION_SECONDS,
) -> None:
    """Grade every submission in a folder, in parallel: a CSV gradebook and each one's results.

    Each submission is copied and graded by its own grader process; one that hangs, crashes or
    misbehaves is recorded as such and the others are graded all the same."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from . import batch

    the_day = _day(day)
    if not submissions.is_dir():
        raise usage_error(f"{submissions} is not a folder of submissions")
    ids = _only(the_day, only)
    exercise_ids = [the_day.exercise(i).id for i in ids] if ids else [e.id for e in the_day.exercises]
    found = [s for s in batch.find_submissions(submissions) if s.path.resolve() != out.resolve()]
    if not found:
        raise usage_error(f"{submissions} holds no submission (a folder or .zip file per learner)")
    out.mkdir(parents=True, exist_ok=True)
    grade_args = ["--memory-limit", str(memory_limit), "--cpu-limit", str(cpu_limit)]
    if timeout:
        grade_args += ["--timeout", str(timeout)]
    options = batch.BatchOptions(
        day=the_day,
        out=out,
        jobs=jobs,
        only=ids,
        profile=profile.value,
        seed=seed,
        device=device.value,
        submission_timeout=submission_timeout,
        grade_args=grade_args,
    )
    started = time.perf_counter()
    with Progress(
        TextColumn("grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("submissions", total=len(found))
        count = iter(range(1, len(found) + 1))

        def done(o: batch.Outcome) -> None:
            line = f"[{next(count)}/{len(found)}] {o.submission.name}: "
            if o.state == batch.GRADED:
                ex = o.results["exercises"]
                line += (
                    f"{sum(e['status'] == 'pass' for e in ex)}/{len(ex)} exercises pass, "
                    f"{o.scores['score']:g}/{o.scores['max_score']:g} points"
                )
            else:
                line += f"{o.state}: {o.problem}"
            bar.console.print(escape(line + f" ({o.seconds:.1f} s)"), soft_wrap=True)
            bar.advance(task)

        runner = batch.Batch(options, on_done=done, interrupt=_interrupted)
        outcomes = runner.run(found)
    try:
        batch.write_gradebook(out / "gradebook.csv", outcomes, exercise_ids)
        written = True
    except OSError as e:  # each submission's line and the summary are printed all the same
        _not_written(out / "gradebook.csv", e)
        written = False
    elapsed = time.perf_counter() - started
    graded = sum(o.state == batch.GRADED for o in outcomes)
    rate = len(outcomes) / elapsed * 60 if elapsed else 0.0
    console.print(
        f"{graded} of {len(found)} submissions graded in {elapsed:.0f} s "
        f"({rate:.1f} per minute, {jobs} at a time); gradebook: {escape(str(out / 'gradebook.csv'))}",
        soft_wrap=True,
    )
    for o in outcomes:
        if o.state != batch.GRADED:
            console.print(
                f"  not graded: {escape(o.submission.name)} ({o.state}: {escape(o.problem)})", soft_wrap=True
            )
    if runner.interrupted:
        err.print(f"interrupted: the gradebook lists the {len(outcomes)} submissions finished before Ctrl-C")
        raise typer.Exit(130)
    raise typer.Exit(0 if graded == len(found) and written else 1)


@app.command()
def report(
    day: Annotated[str, typer.Argument(help="day16 or day9")],
    workspace: WorkspaceOption = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the Markdown source")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the Markdown to this file")
    ] = None,
    profile: Annotated[Profile, typer.Option(help="How many examples each check tries")] = Profile.default,
    seed: Annotated[int, typer.Option(help="Fixes every random choice")] = 0,
    device: Annotated[Device, typer.Option(help="Where the learner's code runs")] = Device.auto,
) -> None:
    """Grade, then write up the checkpoint as Markdown.

    The dated results table (number, topic, rating, notes), the verdict, the weakest areas and a
    re-study plan."""
    the_day = _day(day)
    workspace = _workspace(workspace)
    _check_workspace(the_day, workspace)
    if output and not output.resolve().parent.is_dir():
        raise usage_error(f"cannot write {output}: the folder {output.parent} does not exist")
    from .report import markdown as md

    started = datetime.now(UTC)
    # the Markdown source printed on stdout stays only that: the lines go to stderr then
    result = _grade(
        the_day, workspace, None, profile, seed, device, lines=err if markdown and not output else console
    )
    recorded = _record_report(workspace, result, started)
    text = md.render(result, workspace_flag=_in(workspace))
    if output:
        if not _write(output, text, workspace):
            raise typer.Exit(1)
        console.print(f"wrote {escape(str(output))}: {result.verdict.summary if result.verdict else ''}")
    elif markdown:
        print(text, end="")
    else:
        from rich.markdown import Markdown

        console.print(Markdown(text))
    if not recorded:
        raise typer.Exit(1)


HISTORY_OFF = "the history is off (QUIZ_HISTORY=off)"


def _write_history(workspace: Path, write: Callable) -> str | None:
    """Apply `write` to the workspace's history; None when done, else why not (HISTORY_OFF when
    the history is off). A history refused for a link in the workspace raises LinkError: that is
    an error to say, not a warning."""
    from .history import History, HistoryError, resolve_path

    path = resolve_path(workspace)
    if path is None:
        return HISTORY_OFF
    try:
        with History(path, workspace) as history:
            write(history)
    except LinkError:
        raise
    except (HistoryError, OSError) as e:
        return str(e)
    return None


def _record(workspace: Path, session) -> bool:
    """Add a run to the workspace's history; a history that cannot be written costs a warning,
    never the run. False when the write was refused (a link in the workspace on its way): said
    as an error, for the command to exit non-zero."""
    try:
        problem = _write_history(workspace, lambda history: history.record(session))
    except LinkError as e:
        err.print(
            f"[bold red]error:[/] this run was not added to the history: {escape(str(e))}", soft_wrap=True
        )
        return False
    if problem not in (None, HISTORY_OFF):
        err.print(f"[yellow]warning:[/] this run was not added to the history: {escape(problem)}")
    return True


def _record_report(workspace: Path, report, started: datetime) -> bool:
    from .history import Session

    return _record(workspace, Session.from_report(report, started))


def _write(path: Path, text: str, workspace: Path, append: bool = False) -> bool:
    """Write (or append to) one of a command's output files, never through a link in the
    workspace; False, said as an error, when it could not be written."""
    try:
        (safefs.append if append else safefs.write_atomic)(path, text, workspace)
    except OSError as e:
        _not_written(path, e)
        return False
    return True


def _not_written(path: Path, e: OSError) -> None:
    message = str(e) if isinstance(e, LinkError) else f"could not write {safefs.shown(str(path))}: {e}"
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


EXPORTS = (".svg", ".html", ".txt")


def _saved_repros(report, workspace: Path) -> dict[str, str]:
    """Save each failing exercise's smallest failing example in the workspace (and remove those of
    exercises that have none now); exercise id -> the file, as the report names it. A file that
    cannot be written costs a one-line warning, never the report."""
    from .report import repro_files

    saved = repro_files.save(report, workspace)
    if saved.problem:
        err.print(
            f"[yellow]warning:[/] a smallest failing example was not saved: {escape(saved.problem)}",
            soft_wrap=True,
        )
    return repro_files.shown(saved.files, Path.cwd())


def _exported(renderable, path: Path, title: str) -> str:
    """A renderable as Rich draws it, in the format `path`'s suffix names, at a fixed width so the
    file does not depend on the terminal it was made in."""
    import io

    recorder = Console(record=True, width=110, file=io.StringIO(), highlight=False, force_terminal=True)
    recorder.print(renderable)
    if path.suffix == ".svg":
        return recorder.export_svg(title=title)
    if path.suffix == ".html":
        return recorder.export_html()
    return recorder.export_text()


def _resolved(device: Device) -> str:
    """--device as "cpu" or "cuda"; a usage error when CUDA is asked for and missing. Call it
    inside the zygote's block: it imports torch, which the zygote imports at the same time."""
    from .grade import resolve_device

    try:
        return resolve_device(device.value)
    except ValueError as e:
        raise usage_error(str(e)) from None


def _check_workspace(the_day, workspace: Path) -> None:
    if not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not a folder (it should hold {the_day.id}/...)")
    answers = workspace / the_day.answers_file
    if not the_day.exercises and not answers.is_file():
        raise usage_error(
            f"{the_day.id} has no exercises to grade yet, and {answers} does not exist: answer "
            f"the checkpoint questions there (or run `quiz answer {the_day.id}{_in(workspace)}`)"
        )


def _grade(
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

    from .sandbox.process import Zygote

    # The zygote imports torch in its own interpreter while this one does the same.
    with Zygote() if the_day.exercises else nullcontext() as zygote:
        from .grade import Options
        from .grade import grade as run

        resolved = _resolved(device)
        options = Options(
            workspace=workspace, only=ids, profile=profile.value, seed=seed, device=resolved, **limits
        )
        plan = the_day.ordered([the_day.exercise(i).id for i in ids] if ids else None)  # as grade() plans it
        with _grading_progress(len(plan), lines, plain) as on_progress:
            report = run(the_day.id, options, on_progress, zygote)
    _stop_if_interrupted()  # never record or print a run that Ctrl-C was meant to stop
    return report


@contextmanager
def _progress_bar(
    total: int, doing: str = "grading"
) -> Iterator[tuple[Progress, Callable[[str | None], None]]]:
    """A bar over `total` steps, gone once the report prints, with the step under way named and,
    while the learner's process trains, its training step. Yields the bar and `step(name)`:
    a name starts that step, None ends it. Ctrl-C is honoured at each."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from .sandbox.process import ON_PROGRESS

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(doing, total=total)
        now = [doing]

        def step(name: str | None) -> None:
            _stop_if_interrupted()
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
def _grading_progress(
    total: int, lines: Console | None, plain: bool
) -> Iterator[Callable[[str, object], None]]:
    """grade()'s progress callback. On a terminal, the transient bar; piped or in a CI log
    (`plain`), where a bar shows nothing until the end, a plain line per exercise on `lines` as
    soon as it finishes (none when `lines` is None)."""
    if console.is_terminal and not plain:
        with _progress_bar(total) as (_, step):
            yield _grading_steps(step)
        return
    done = [0]

    def finished(ex_id: str, result) -> None:
        _stop_if_interrupted()
        if result is None or lines is None:
            return
        done[0] += 1
        lines.print(escape(progress_line(done[0], total, result)), soft_wrap=True, highlight=False)

    yield finished


def progress_line(n: int, total: int, result) -> str:
    """ "[3/17] day16.attention.softmax  pass  (4/4 checks, 1.2 s)": one exercise just graded."""
    checks = f"{result.passed_checks}/{len(result.checks)} checks, " if result.checks else ""
    return f"[{n}/{total}] {result.id}  {result.status.label}  ({checks}{result.seconds:.1f} s)"


def _grading_steps(step: Callable[[str | None], None]) -> Callable[[str, object], None]:
    """grade()'s progress callback (exercise id, result or None) as steps of the bar."""
    return lambda ex_id, result: step(ex_id.split(".", 1)[1] if result is None else None)


@app.command()
def watch(
    day: Annotated[str, typer.Argument(help="day16 or day9")],
    workspace: WorkspaceOption = None,
    profile: Annotated[Profile, typer.Option(help="How many examples each check tries")] = Profile.quick,
    seed: Annotated[int, typer.Option(help="Fixes every random choice")] = 0,
    device: Annotated[Device, typer.Option(help="Where the learner's code runs")] = Device.auto,
    poll: Annotated[
        bool,
        typer.Option(
            "--poll",
            help="Look at the files every --every seconds instead of "
            "waiting for file events (network drives, some containers)",
        ),
    ] = False,
    every: Annotated[
        float, typer.Option(min=0.05, help="Seconds between looks at the files when no file event comes")
    ] = 0.5,
    debounce: Annotated[
        int,
        typer.Option(
            min=0,
            help="Milliseconds of quiet after a file event before "
            "grading (an editor's save is often several writes)",
        ),
    ] = 50,
    timeout: TimeoutOption = None,
    memory_limit: MemoryOption = MEMORY_GIB,
    cpu_limit: CpuOption = CPU_SECONDS,
) -> None:
    """Grade the day, then regrade each exercise whose code changes, on every save, until Ctrl-C.

    One process stays warm (torch and the checks imported once); every grading still runs in a
    fresh process of its own. Saving answers/DAY.toml judges the answers again. The history is not
    written: run `quiz grade` for a run to keep."""
    the_day = _day(day)
    workspace = _workspace(workspace)
    _check_workspace(the_day, workspace)
    if not the_day.exercises:
        raise usage_error(f"{the_day.id} has no exercises yet: nothing to watch")

    from .report.terminal import answers_panel, exercise_table, questions_panel, watch_round, watching
    from .sandbox.process import Zygote
    from .watch import Loop, changes, snapshot

    with Zygote() as zygote:
        from .grade import Options

        resolved = _resolved(device)
        # Each save gets its verdicts at once; timings are for `quiz grade`.
        options = Options(
            workspace=workspace,
            profile=profile.value,
            seed=seed,
            device=resolved,
            timeout=timeout,
            memory_gib=memory_limit,
            cpu_seconds=cpu_limit,
            measure=False,
        )
        stop = threading.Event()
        try:
            with Loop(the_day, options, zygote) as loop:
                before = snapshot(the_day, workspace)  # a save during the first grading is not lost
                with _progress_bar(len(the_day.exercises)) as (_, step):
                    first = loop.grade(None, _grading_steps(step))
                console.print(exercise_table(first))
                if (answers := questions_panel(first)) is not None:
                    console.print(answers)
                console.print(watching(the_day, loop.totals(), workspace))

                def missed() -> None:
                    console.print(
                        f"[yellow]no file events arrive from {escape(str(workspace))}; looking at the "
                        f"files every {every:g} s instead[/]"
                    )

                for saved in changes(
                    the_day,
                    workspace,
                    stop,
                    since=before,
                    poll=every,
                    step_ms=debounce,
                    force_polling=poll,
                    on_missed_events=missed,
                ):
                    files = sorted({the_day.exercise(i).file for i in saved.exercises})
                    files += [the_day.answers_file] if saved.answers else []
                    console.rule(
                        f"[bold]{datetime.now():%H:%M:%S}[/] {escape(', '.join(files))} changed", align="left"
                    )
                    if saved.exercises:
                        report = loop.grade(saved.exercises)
                        console.print(watch_round(report, loop.stale(saved.exercises)))
                    if saved.answers:
                        console.print(
                            answers_panel(*loop.answers())
                            or f"no answers in {escape(str(workspace / the_day.answers_file))}"
                        )
                    console.print(watching(the_day, loop.totals(), workspace))
        except KeyboardInterrupt:
            stop.set()
            console.print("stopped watching")


@app.command("list")
def list_(day: Annotated[str | None, typer.Argument(help="day16 or day9 (default: both)")] = None) -> None:
    """List the exercises."""
    from .report.terminal import exercise_list

    days = [_day(day)] if day else _all_days()
    for d in days:
        console.print(exercise_list(d))


@show_app.command("rubric")
def show_rubric(day: Annotated[str, typer.Argument(help="day16 or day9")] = "day16") -> None:
    """Show a day's self-assessment rubric."""
    from .report.terminal import rubric_only

    console.print(rubric_only(_day(day)))


@show_app.command("exercise")
def show_exercise(exercise: Annotated[str, typer.Argument(help="e.g. attention.softmax")]) -> None:
    """Show an exercise: where it lives, what it depends on, what it may not call, its checks."""
    ex = _exercise(exercise)
    from .checks.catalogue import checks_for

    console.print(f"[bold]{ex.id}[/] — {escape(ex.title)}")
    console.print(f"  file: {ex.file}   rubric rows: {', '.join(map(str, ex.rubric))}")
    if ex.depends_on:
        console.print(f"  may call: {', '.join(ex.depends_on)}")
    if ex.forbidden:
        console.print(f"  must not call: {', '.join(ex.forbidden)}")
    console.print("  checks:")
    for c in checks_for(ex.id):
        console.print(f"    • {escape(c.name)}")
    if ex.forbidden:
        console.print("    • written from scratch (no forbidden library calls)")


@show_app.command("questions")
def show_questions(
    day: Annotated[str, typer.Argument(help="day16 or day9")] = "day16",
    row: Annotated[list[int] | None, typer.Option(help="Only this rubric row (repeatable)")] = None,
) -> None:
    """List a day's checkpoint questions with their ids, for answering in answers/DAY.toml."""
    from .questions import load_bank

    the_day = _day(day)
    for q in load_bank(the_day.id).questions:
        if row and q.row not in row:
            continue
        kind = "self-rated" if not q.checkable else q.kind
        console.print(f"[bold]{q.id}[/] [dim](row {q.row}, {kind})[/]")
        console.print(f"  {escape(q.prompt)}")
        for letter, option in zip("abcdefghij", q.shown_choices or q.shown_items):
            console.print(f"    {letter}) {escape(option)}")
        if q.symbols:
            console.print(f"    [dim]symbols: {', '.join(q.symbols)}[/]")
        for g in q.guide:
            console.print(f"    • {escape(g)}")


@app.command()
def answer(
    day: Annotated[str, typer.Argument(help="day16 or day9")],
    workspace: Annotated[
        Path | None, typer.Option(help="The workspace whose answers/DAY.toml to update " + FOUND)
    ] = None,
    row: Annotated[list[int] | None, typer.Option(help="Only this rubric row (repeatable)")] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Ask again the questions already answered right")
    ] = False,
) -> None:
    """Answer the checkpoint questions one at a time, each judged at once.

    Then you rate yourself per rubric row. Answers and ratings go into answers/DAY.toml in the
    workspace, where `quiz grade` judges them too."""
    from .ask import pick, run
    from .questions import load_bank
    from .questions.answers import Answers, AnswersFileError, Saver, present, read_answers
    from .results import Answer

    the_day = _day(day)
    workspace = _workspace(workspace)
    bank = load_bank(the_day.id)
    if not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not a folder")
    if bad := sorted(set(row or ()) - {r.number for r in the_day.rubric}):
        raise usage_error(f"{the_day.id} has no rubric row {bad[0]} (rows 1-{len(the_day.rubric)})")
    path = workspace / the_day.answers_file
    try:
        previous = read_answers(path, bank, the_day.scale) if present(path) else Answers({}, {})
    except AnswersFileError as e:
        raise usage_error(f"{e}. Fix it first: nothing was asked and the file is unchanged") from None
    questions = pick(bank, previous, set(row or ()), everything)
    rows = sorted(set(row or ()) or {r.number for r in the_day.rubric})
    if questions:
        console.print(
            f"{len(questions)} question(s) for {the_day.id}"
            + ("" if everything else " not yet answered right (--all asks every one)")
        )
    else:
        console.print(
            f"every checkable question{' of these rows' if row else ''} is answered right in {path}; "
            "--all asks them again. On to the self-ratings."
        )
    started = datetime.now(UTC)
    saver = Saver(path, bank, the_day.scale, workspace / ".quiz" / "backups", workspace)
    session = run(console, the_day, bank, previous, questions, rows, saver.save)  # saved as it goes
    recorded = True
    if session.given or session.ratings:
        try:
            saver.save(session.given, session.ratings)  # whatever was not saved yet
            backup = saver.backup
        except (AnswersFileError, OSError) as e:
            import tomlkit

            err.print(
                f"[bold red]error:[/] could not save the answers: {escape(str(e))}. So that nothing "
                f"is lost, here they are to paste into {path}:"
            )
            err.print(
                escape(
                    tomlkit.dumps(
                        {"answers": session.given, "ratings": {str(k): v for k, v in session.ratings.items()}}
                    )
                )
            )
            raise typer.Exit(1) from None
        kept = f" (the previous version is in {backup})" if backup else ""
        console.print(
            f"saved {len(session.given)} answer(s) and {len(session.ratings)} rating(s) to {path}{kept}"
        )
        from .history import Session
        from .rubric import rate

        recorded = _record(
            workspace,
            Session.answered(
                the_day.id, started, session.results, rate(the_day, [], session.results, session.ratings)
            ),
        )
    right = sum(r.outcome is Answer.CORRECT for r in session.results)
    console.print(
        f"{right}/{len(session.results)} right this session"
        + (" (stopped early)" if session.stopped else "")
        + escape(f". `quiz grade {the_day.id}{_in(workspace)}` gives the verdict with your code's evidence.")
    )
    if session.interrupted:
        raise typer.Exit(130)
    if not recorded:
        raise typer.Exit(1)


@app.command()
def progress(
    day: Annotated[str | None, typer.Argument(help="day16 or day9 (default: both)")] = None,
    workspace: Annotated[
        Path | None, typer.Option(help="The workspace whose history to read " + FOUND)
    ] = None,
) -> None:
    """Each rubric row's trend over your attempts, and what is due again.

    A row below the best rating comes back the next day, one at the best after 2, 4, 8 ... days."""
    from rich.table import Table

    from .history import History, HistoryError, progress, resolve_path, trend_marks

    days = [_day(day)] if day else _all_days()
    workspace = _workspace(workspace)
    path = resolve_path(workspace)
    if path is None:
        raise usage_error("the history is turned off (QUIZ_HISTORY=off)")
    if not path.is_file():
        console.print(
            escape(
                f"No history yet in {path}: `quiz grade DAY{_in(workspace)}` and `quiz answer "
                f"DAY{_in(workspace)}` add to it."
            ),
            soft_wrap=True,
        )
        return
    try:
        with History(path, workspace) as history:
            sessions = history.sessions()
            forced = sorted({r.exercise_id for r in history.reveals() if r.forced})
    except (HistoryError, LinkError) as e:
        raise usage_error(str(e)) from None
    today = date.today()
    for d in days:
        runs = [s for s in sessions if s.day == d.id]
        rows = progress(runs, d, today)
        table = Table(title=f"{d.id}: {len(runs)} run(s) recorded", title_justify="left")
        for name in ("#", "area", "trend (oldest first)", "now", "due"):
            table.add_column(name, no_wrap=name in ("#", "now", "due"))
        due_rows = []
        for r in rows:
            if r.due is None:
                when = "[dim]not started[/]"
            elif r.is_due(today):
                when = "[bold]due now[/]"
                due_rows.append(r.row)
            else:
                days_away = (r.due - today).days
                when = f"{'tomorrow' if days_away == 1 else f'in {days_away} days'}, {r.due.isoformat()}"
            table.add_row(str(r.row), r.area, trend_marks(r, d.scale), r.last or "–", when)
        console.print(table)
        if due_rows:
            console.print(
                escape(
                    f"due now: row(s) {', '.join(map(str, due_rows))}: `quiz answer {d.id} "
                    + " ".join(f"--row {n}" for n in due_rows)
                    + f" --all{_in(workspace)}`, then "
                    f"`quiz grade {d.id}{_in(workspace)}`"
                )
            )
        if shown := [i.split(".", 1)[1] for i in forced if i.startswith(d.id + ".")]:
            console.print(f"solutions shown with --force before passing: {', '.join(shown)}")


@app.command()
def verify(
    results: Annotated[Path, typer.Argument(help="A results file written by `quiz grade --json`")],
    workspace: Annotated[
        Path | None,
        typer.Option(
            help="The graded workspace (default: the one in the file, "
            "else the one found as `quiz grade` finds it)"
        ),
    ] = None,
    device: Annotated[Device, typer.Option(help="Where to grade again")] = Device.cpu,
    allow_version_change: Annotated[
        bool,
        typer.Option(
            "--allow-version-change",
            help="Verify a result of another grader version all the same (a note, not a refusal)",
        ),
    ] = False,
) -> None:
    """Check a result of `quiz grade --json` by grading again.

    The result must list exactly the exercises of its plan, fingerprint each one's file and the
    answers file, and come from this grader version; the workspace's files must be the ones
    graded, and grading them again with the same seed and profile must give the same status for
    every exercise, check and question. Exit 0 when it does, 1 when anything differs or the file
    is not a result."""
    from .verify import ResultsFileError, load
    from .verify import verify as check

    try:
        data = load(results)
    except OSError as e:
        raise usage_error(f"cannot read {results}: {e}") from None
    except ResultsFileError as e:
        _not_verified(results, e)
    # --workspace, else the one the result names (when it is a folder here), else the one found here
    if workspace is None:
        workspace = Path(data["workspace"]) if Path(data["workspace"]).is_dir() else _workspace(None)
    if not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not a folder (pass --workspace)")
    from .grade import resolve_device
    from .sandbox.process import Zygote

    try:
        resolved = resolve_device(device.value)
    except ValueError as e:
        raise usage_error(str(e)) from None
    try:
        with Zygote() as zygote, console.status("grading again…"):
            outcome = check(data, workspace, resolved, zygote, allow_version_change)
    except ResultsFileError as e:
        _not_verified(results, e)
    for note in outcome.notes:
        console.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)
    for line in outcome.differences:
        console.print(f"[red]✘[/] {escape(line)}", soft_wrap=True)
    if outcome.ok:
        console.print(
            "[green]✔[/] "
            + escape(
                f"{results} matches: {len(outcome.report.exercises)} exercise(s) graded again "
                f"({data['day']}, seed {data['seed']}, {data['profile']} profile) give the same "
                f"results, and {sum(d is not None for d in data['files'].values())} file(s) are the "
                "ones graded."
            ),
            soft_wrap=True,
        )
    raise typer.Exit(0 if outcome.ok else 1)


@app.command()
def selftest(
    day: Annotated[str, typer.Argument(help="The day whose checks to prove (a day pack's too)")],
    profile: Annotated[Profile, typer.Option(help="How many examples each check draws")] = Profile.default,
) -> None:
    """Prove a day's checks: the reference passes every one, the stubs are not attempted, every
    known mistake fails a check and is named, and every check fails on some known mistake.

    For a course writing a day pack of its own (docs/adding-a-day.md). Exit 0 when all of it
    holds, 1 with a line per problem when it does not."""
    from .report.selftest import summary
    from .selftest import selftest as prove

    the_day = _day(day)
    with console.status(f"proving {the_day.id}'s checks…") as status:
        result = prove(the_day.id, profile.value, progress=lambda what: status.update(f"grading {what}…"))
    for problem in result.problems:
        console.print(f"[red]✘[/] {escape(problem)}", soft_wrap=True)
    mark = "[green]✔[/]" if result.ok else "[red]✘[/]"
    console.print(f"{mark} {escape(summary(result))}", soft_wrap=True)
    raise typer.Exit(0 if result.ok else 1)


def _not_verified(results: Path, e: Exception) -> NoReturn:
    err.print(f"[red]✘[/] {escape(f'cannot verify {results}: {e}')}", soft_wrap=True)
    raise typer.Exit(1)


class CI(str, Enum):
    github = "github"


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Where to make the workspace (new or empty)")],
    ci: Annotated[CI | None, typer.Option(help="Also add a workflow that grades every push")] = None,
    grader: Annotated[
        str | None,
        typer.Option(help="What the workflow pip-installs instead of the grader's wheel, e.g. a git URL"),
    ] = None,
    untouched: Annotated[
        Untouched,
        typer.Option(help="In the workflow: a day not started is reported (the job passes) or fails the job"),
    ] = Untouched.report,
    torch: Annotated[
        str | None,
        typer.Option(
            help="The torch release the workflow installs (CPU build; default: the one this grader runs with)"
        ),
    ] = None,
) -> None:
    """Make a fresh workspace for a learner; never overwrites a file.

    The stubs of both days, an answers template per day, a .gitignore and quiz.toml (which marks
    the folder as a workspace). With --ci github: a GitHub Actions workflow that grades every push,
    and this grader as a wheel in grader/ with its SHA-256, which the workflow checks and installs."""
    from .init import InitError
    from .init import init as make

    try:
        written = make(folder, ci.value if ci else None, grader, untouched.value, torch)
    except InitError as e:
        raise usage_error(str(e)) from None
    console.print(
        escape(
            f"made {folder} ({len(written)} files). Next: fill in {folder / 'day16' / 'attention.py'}, "
            f"then `quiz grade day16{_in(folder)}`; answer the questions with `quiz answer "
            f"day16{_in(folder)}`."
        )
    )


@app.command()
def hint(
    exercise: Annotated[str, typer.Argument(help="e.g. attention.softmax")],
    level: Annotated[
        int, typer.Option(min=1, help="1 = the idea, 2 = the invariant, 3 = a worked example")
    ] = 1,
) -> None:
    """Show the hints for an exercise, up to --level."""
    ex = _exercise(exercise)
    if not ex.hints:
        console.print(f"{ex.id} has no hints yet.")
        return
    for i, text in enumerate(ex.hints[: min(level, len(ex.hints))], start=1):
        console.print(f"[bold yellow]hint {i}/{len(ex.hints)}[/] {escape(text)}")
    if level < len(ex.hints):
        console.print(f"[dim](more: quiz hint {ex.short} --level {level + 1})[/]")


def _interactive() -> bool:
    """Whether a question can be put to the learner (stdin is a terminal)."""
    return sys.stdin.isatty()


def _in(workspace: Path) -> str:
    """The --workspace to repeat in a suggested command: none when the command, typed in this
    folder, finds that workspace by itself."""
    from .workspace import flag

    return flag(workspace, Path.cwd())


@app.command()
def reset(
    exercise: Annotated[
        str | None, typer.Argument(help="The exercise to reset, e.g. attention.softmax")
    ] = None,
    everything: Annotated[
        bool,
        typer.Option(
            "--all", help="Every stub file that differs (of --day, or of each day folder in the workspace)"
        ),
    ] = False,
    day: Annotated[str | None, typer.Option(help="With --all: only this day")] = None,
    whole_file: Annotated[
        bool, typer.Option("--file", help="Reset the whole file the exercise is in")
    ] = False,
    undo: Annotated[bool, typer.Option("--undo", help="Bring back what the last reset replaced")] = False,
    redo: Annotated[bool, typer.Option("--redo", help="Take back the last --undo")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --all: do not ask first")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Put an exercise back to its stub, your version backed up first; --undo brings it back.

    `quiz reset attention.softmax` replaces only that function in your file: the other exercises,
    your imports and helpers stay. --file resets the exercise's whole file, --all every stub file.
    What a reset replaces is kept in .quiz/backups/ in the workspace; --undo restores it (and backs
    up what it overwrites, so --redo can take the undo back). Nothing is ever lost."""
    from . import restore

    if whole_file and exercise is None:
        raise usage_error(
            "--file resets the file of an exercise: give its id, e.g. `quiz reset attention.softmax --file`"
        )
    modes = [
        name
        for name, on in (
            ("an exercise id", exercise is not None),
            ("--all", everything),
            ("--undo", undo),
            ("--redo", redo),
        )
        if on
    ]
    if len(modes) != 1:
        raise usage_error(
            "say what to reset: an exercise id (`quiz reset attention.softmax`), --all, --undo or "
            "--redo" + (f", not {' and '.join(modes)} at once" if modes else "")
        )
    if day and not everything:
        raise usage_error("--day picks the day for --all; an exercise id names its day itself")
    ex = _exercise(exercise) if exercise is not None else None
    workspace = _workspace(workspace)
    if not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not a folder")
    try:
        if undo or redo:
            _said_taken_back((restore.undo if undo else restore.redo)(workspace), workspace)
            return
        restore.check_workspace(workspace)
        if ex is None:
            outcome = _reset_all(workspace, day, yes)
        elif whole_file:
            outcome = restore.reset_files(workspace, [ex.file], f"the whole of {ex.file}")
        else:
            outcome = restore.reset_exercise(workspace, ex)
    except restore.Unparsable as e:
        assert ex is not None
        raise usage_error(
            f"{workspace / e.file} is not valid Python ({e.problem}"
            + (f", line {e.line}" if e.line else "")
            + f"), so where `{ex.name}` begins and ends "
            "cannot be told; nothing was changed. Fix that line, or reset the whole file with "
            f"`quiz reset {ex.short} --file{_in(workspace)}` (or every file with `quiz reset "
            f"--all{_in(workspace)}`): your version is backed up first either way"
        ) from None
    except restore.NothingToTakeBack as e:
        err.print(escape(str(e)))
        raise typer.Exit(1) from None
    except restore.RestoreError as e:
        raise usage_error(str(e)) from None
    except LinkError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}. Nothing was changed.", soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as e:
        err.print(
            f"[bold red]error:[/] {escape(str(e))}. Whatever was replaced is backed up in "
            f"{escape(str(restore.backups_dir(workspace)))}"
        )
        raise typer.Exit(1) from None
    _said_reset(outcome, workspace, ex, whole_file)


def _reset_all(workspace: Path, day: str | None, yes: bool):
    """--all: the stub files that differ, after asking (unless --yes)."""
    from . import restore

    days = [_day(day).id] if day else [d for d in day_ids() if (workspace / d).is_dir()]
    if not days:
        raise usage_error(f"{workspace} has no day folder ({', '.join(day_ids())}); --day DAY restores one")
    rels = restore.stub_files(days)
    todo = restore.differing(workspace, rels)
    if todo and not yes:
        listed = ", ".join(todo)
        if not _interactive():
            raise usage_error(
                f"--all would reset {len(todo)} file(s) in {workspace} ({listed}); nothing was "
                "changed. Run it in a terminal to be asked, or add --yes"
            )
        console.print(f"These {len(todo)} file(s) in {escape(str(workspace))} differ from the stubs:")
        for rel in todo:
            console.print(f"  {escape(rel)}" + ("" if (workspace / rel).exists() else " (missing)"))
        if not typer.confirm("Reset them to the stubs? Each is backed up first"):
            console.print("nothing was reset")
            raise typer.Exit(1)
    return restore.reset_all(workspace, days)


def _said_reset(outcome, workspace: Path, ex, whole_file: bool) -> None:
    """What a reset changed, where the old version is, and how to take it back."""
    if outcome.backup is None:
        what = (
            f"`{ex.name}` in {workspace / ex.file} is"
            if ex is not None and not whole_file
            else f"{workspace / ex.file} is"
            if ex is not None
            else f"every stub file of {outcome.what.removeprefix('all of ')} in {workspace} is"
        )
        console.print(
            escape(f"{what} already the stub's: nothing to reset (no backup made)."), soft_wrap=True
        )
        return
    for change in outcome.changes:
        path = workspace / change.path
        if change.before is None:
            line = f"restored {path} from the stub (it was missing)"
        elif ex is not None and not whole_file and outcome.inserted:
            line = f"added the stub's `{ex.name}` to {path} (it had none); the rest of the file is unchanged"
        elif ex is not None and not whole_file and outcome.lines:
            first, last = outcome.lines
            line = (
                f"reset `{ex.name}` in {path}: your lines {first}-{last} are replaced by the stub's; the "
                "rest "
                "of the file (other exercises, imports, helpers) is unchanged"
            )
        else:
            line = f"restored {path} from the stub"
        console.print(escape(line), soft_wrap=True)
    kept = [c for c in outcome.changes if c.before is not None]
    if kept:
        console.print(
            escape(
                f"your version{'s are' if len(kept) > 1 else ' is'} backed up in {outcome.backup.path}"
                + (f" ({kept[0].path})" if len(kept) == 1 else "")
            ),
            soft_wrap=True,
        )
    console.print(escape(f"to take this back: quiz reset --undo{_in(workspace)}"), soft_wrap=True)


def _said_taken_back(outcome, workspace: Path) -> None:
    """What an undo or redo restored, and where the files it overwrote went."""
    done, back = outcome.backup, outcome.taken_back
    when = back.at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    verb = "undid" if done.kind == "undo" else "took back"
    console.print(escape(f"{verb} the {back.kind} of {back.what} ({back.name}, {when}):"), soft_wrap=True)
    for change in outcome.changes:
        path = workspace / change.path
        if change.after is None:
            console.print(
                escape(f"  removed {path}: it did not exist before that {back.kind}"), soft_wrap=True
            )
        else:
            console.print(escape(f"  {path} is back as it was before that {back.kind}"), soft_wrap=True)
        if change.edited and change.before is not None:
            console.print(
                escape(
                    f"  {path} had changed since that {back.kind}: the changed version is kept in "
                    f"{done.copy_of(change.path)}"
                ),
                soft_wrap=True,
            )
    console.print(
        escape(
            f"what this {done.kind} replaced is backed up in {done.path}; "
            + (
                f"`quiz reset --redo{_in(workspace)}` takes the undo back"
                if done.kind == "undo"
                else f"`quiz reset --undo{_in(workspace)}` undoes it again"
            )
        ),
        soft_wrap=True,
    )


@app.command()
def solution(
    exercise: Annotated[str, typer.Argument(help="e.g. attention.softmax")],
    force: Annotated[
        bool, typer.Option("--force", help="Show it although yours does not pass (recorded in the history)")
    ] = False,
    workspace: Annotated[
        Path | None, typer.Option(help="The workspace whose exercise must pass " + FOUND)
    ] = None,
) -> None:
    """Show the reference solution of an exercise, once yours passes.

    Your exercise is graded first (quick profile). --force shows the solution without grading, and
    the workspace's history records that it was shown before passing."""
    from rich.syntax import Syntax

    from . import restore
    from .results import Status

    ex = _exercise(exercise)
    the_day = _day(ex.day)
    workspace = _workspace(workspace)
    if not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not a folder (it should hold {ex.file})")
    status = ""
    if not force:
        result = _grade(the_day, workspace, [ex.id], Profile.quick, 0, Device.auto, lines=None).exercises[0]
        status = str(result.status)
        if result.status is not Status.PASS:
            err.print(
                escape(
                    f"{ex.short} in {workspace}: {result.status.label}"
                    + (f": {result.reason}" if result.reason else "")
                )
            )
            err.print(
                escape(
                    f"The solution is shown once your `{ex.name}` passes: `quiz grade {the_day.id} "
                    f"--only {ex.short}{_in(workspace)}` says what is wrong, `quiz hint {ex.short}` "
                    "helps. `--force` shows it now, and your history records that it was forced."
                )
            )
            raise typer.Exit(1)
    try:
        found, helpers = restore.solution(ex)
    except restore.RestoreError as e:
        raise usage_error(str(e)) from None
    try:
        problem, refused = _record_reveal(workspace, ex.id, force, status), False
    except LinkError as e:
        problem, refused = str(e), True
    console.print(f"[bold]{ex.id}[/] — the reference solution ({ex.file}, lines {found.start}-{found.end})")
    for h in helpers:
        console.print(
            Syntax(h.text.rstrip("\n"), "python", line_numbers=True, start_line=h.start, word_wrap=True)
        )
        console.print("[dim]   …[/]")
    console.print(
        Syntax(found.text.rstrip("\n"), "python", line_numbers=True, start_line=found.start, word_wrap=True)
    )
    if force and problem:
        err.print(f"[yellow]note:[/] this forced reveal could not be recorded: {escape(problem)}")
    elif force:
        console.print("[dim]shown with --force before it passed; recorded in the history[/]")
    elif problem not in (None, HISTORY_OFF):
        err.print(f"[yellow]warning:[/] this reveal was not added to the history: {escape(problem)}")
    if refused:
        raise typer.Exit(1)


def _record_reveal(workspace: Path, exercise_id: str, forced: bool, status: str) -> str | None:
    """Add a solution shown to the history; why it could not be, or None."""
    from .history import Reveal

    return _write_history(
        workspace,
        lambda history: history.record_reveal(Reveal(exercise_id, datetime.now(UTC), forced, status)),
    )


@app.command()
def lab(
    day: Annotated[str, typer.Argument(help="day16 (the day with a lab)")],
    workspace: WorkspaceOption = None,
    out: Annotated[Path, typer.Option(help="Where the PNGs and results.json go")] = Path("lab"),
    device: Annotated[Device, typer.Option(help="Where the learner's code runs")] = Device.auto,
    reference: Annotated[
        bool, typer.Option("--reference", help="Run the reference solutions in place of yours, to compare")
    ] = False,
    text: Annotated[bool, typer.Option("--text", help="Show the results as text instead of PNGs")] = False,
    only: Annotated[
        str | None,
        typer.Option(help="Comma-separated experiments: attention_maps, positional, throughput, pre_post_ln"),
    ] = None,
    steps: Annotated[
        int, typer.Option(min=1, help="Training steps of the LM and of each Pre-/Post-LN stack")
    ] = 150,
    seed: Annotated[int, typer.Option(help="Fixes every random choice")] = 0,
) -> None:
    """Run experiments on your Day 16 code and draw what it does.

    Attention maps per head of your DecoderLM trained on a copy task, your sinusoidal encoding, your
    attention's time against the library's, Pre-LN against Post-LN training. PNGs with matplotlib
    (the `lab` extra), text without it; every number also goes to results.json. Each experiment runs
    in its own sandboxed process: one that fails leaves the others running."""
    from . import lab as experiments
    from .lab import text as lab_text
    from .sandbox.process import Zygote

    the_day = _day(day)
    if the_day.id not in experiments.days():
        with_lab = ", ".join(experiments.days()) or "no day"
        raise usage_error(f"{the_day.id} has no lab; {with_lab} has one")
    try:
        names = experiments.pick(the_day.id, only)
    except ValueError as e:
        raise usage_error(str(e)) from None
    # the reference's own run reads no workspace: none need be found
    workspace = _workspace(workspace) if not reference else workspace or Path(".")
    if not reference and not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not a folder (it should hold {the_day.id}/...)")
    if out.exists() and not out.is_dir():
        raise usage_error(f"--out {out} is a file, not a folder")
    whose = experiments.whose(reference)
    with Zygote() as zygote:  # imports torch in its own interpreter while this one does the same
        resolved = _resolved(device)
        options = experiments.LabOptions(
            day=the_day.id,
            workspace=workspace,
            settings=experiments.experiments_of(the_day.id).Settings(seed=seed, steps=steps),
            reference=reference,
            device=resolved,
            only=names,
        )
        everything = experiments.experiments_of(the_day.id).EXPERIMENTS
        with _progress_bar(len(names or everything), "running") as (bar, step):

            def progress(exp, outcome) -> None:
                if outcome is not None:
                    bar.console.print(lab_text.outcome_line(outcome, the_day.id, whose), soft_wrap=True)
                step(exp.name if outcome is None else None)

            report = experiments.run(options, progress, zygote)
    try:
        saved = experiments.save(report, out, images=not text)
    except OSError as e:  # the results are shown all the same
        _not_written(out, e)
        console.print(lab_text.details(report))
        raise typer.Exit(1) from None
    if saved.no_images:
        console.print(f"[yellow]note:[/] {escape(saved.no_images)}; the results as text:")
    if text or saved.no_images:
        console.print(lab_text.details(report))
    console.print(
        f"wrote {', '.join(escape(str(f)) for f in saved.files)} in {report.seconds:.0f} s", soft_wrap=True
    )
    raise typer.Exit(1 if report.failed else 0)


_interrupted = threading.Event()


def _on_sigint(signum, frame) -> None:
    """Ctrl-C. Also remembered, because a KeyboardInterrupt that lands in a garbage-collector
    callback or a __del__ is dropped by the interpreter; the grading checks the flag after each
    exercise, so no Ctrl-C is lost."""
    _interrupted.set()
    raise KeyboardInterrupt


def _stop_if_interrupted() -> None:
    if _interrupted.is_set():
        raise KeyboardInterrupt


def main() -> None:
    code: int = 0
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
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


# --- quiz autograder: the grader packed for a course's autograder ---------------------------------

autograder_app = typer.Typer(no_args_is_help=True, help="Pack the grader as a course's autograder.")
app.add_typer(autograder_app, name="autograder")


class Visibility(str, Enum):
    hidden = "hidden"
    after_due_date = "after_due_date"
    after_published = "after_published"


@autograder_app.command("gradescope")
def autograder_gradescope(
    out: Annotated[Path, typer.Argument(help="Folder to write autograder.zip into (made when missing)")],
    day: Annotated[list[str], typer.Option(help="A day to grade (repeat for several): day16, day9")],
    profile: Annotated[Profile, typer.Option(help="How many examples each check tries")] = Profile.default,
    seed: Annotated[int, typer.Option(help="Fixes every random choice")] = 0,
    hidden: Annotated[
        list[str] | None,
        typer.Option(
            help="An exercise whose test the learner does not see (repeatable; an id such as "
            'attention.softmax, a glob, or "questions")'
        ),
    ] = None,
    hidden_until: Annotated[
        Visibility, typer.Option(help="What hidden means, in Gradescope's words")
    ] = Visibility.hidden,
    questions_points: Annotated[
        float, typer.Option(min=0, help="What each day's checkpoint questions are worth (0: not graded)")
    ] = 1.0,
) -> None:
    """Write OUT/autograder.zip for a Gradescope programming assignment: the grader's wheel,
    setup.sh, run_autograder and its config."""
    from .deploy import gradescope
    from .deploy.wheel import WheelError

    days = [_day(d).id for d in day]
    days = list(dict.fromkeys(days))
    try:
        visibility = gradescope.hidden_tests(days, hidden or [], hidden_until.value)
    except ValueError as e:
        raise usage_error(str(e)) from None
    config = gradescope.Config(
        days=days, profile=profile.value, seed=seed, visibility=visibility, questions_points=questions_points
    )
    try:
        path = gradescope.build(out, config)
    except WheelError as e:
        raise usage_error(str(e)) from None
    except OSError as e:
        _not_written(out / gradescope.ZIP, e)
        raise typer.Exit(1) from None
    console.print(
        f"wrote {escape(str(path))}: grades {', '.join(days)} ({profile.value} profile, seed {seed})"
        + (f"; {len(visibility)} test(s) {hidden_until.value}" if visibility else ""),
        soft_wrap=True,
    )


@autograder_app.command("run", hidden=True)
def autograder_run(
    root: Annotated[Path, typer.Option(help="The autograder's root (/autograder)")] = Path("/autograder"),
    config: Annotated[
        Path | None, typer.Option(help="Its config.json (default: ROOT/source/config.json)")
    ] = None,
) -> None:
    """Grade ROOT/submission and write ROOT/results/results.json (what run_autograder calls)."""
    from .deploy import gradescope

    raise typer.Exit(gradescope.run(root, config or root / "source" / gradescope.CONFIG))
