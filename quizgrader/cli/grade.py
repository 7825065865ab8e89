"""Grading: `quiz grade`, `quiz grade-batch`, `quiz report`, `quiz watch` and `quiz verify`."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from ..batch import SUBMISSION_SECONDS
from ..report import grading, messages
from ..sandbox.confine import CPU_SECONDS, MEMORY_GIB
from .common import (
    check_workspace,
    console,
    day_named,
    err,
    find_workspace,
    flag,
    interrupted,
    only_ids,
    usage_error,
)
from .options import (
    CpuOption,
    DayArgument,
    DayOption,
    Device,
    DeviceOption,
    MemoryOption,
    Profile,
    ProfileOption,
    SeedOption,
    TimeoutOption,
    Untouched,
    WorkspaceOption,
)
from .outputs import not_written, record_report, saved_repros, write
from .running import grade_day, grading_steps, progress_bar, resolved

# --- quiz grade ----------------------------------------------------------------------------------

OnlyOption = Annotated[str | None, typer.Option(help="Comma-separated exercise ids, e.g. attention.softmax")]
JsonOption = Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON")]
ExportOption = Annotated[
    Path | None, typer.Option(help="Also save the report as it prints: .svg, .html or .txt")
]
CiOption = Annotated[
    bool,
    typer.Option(
        "--ci",
        help="For autograding: plain text, no history; GitHub annotations "
        "and step summary when run by GitHub Actions",
    ),
]
JunitOption = Annotated[Path | None, typer.Option(help="Also write JUnit XML (a testcase per check)")]
GradescopeOption = Annotated[Path | None, typer.Option(help="Also write Gradescope's results.json")]
UntouchedOption = Annotated[
    Untouched,
    typer.Option(
        help="A day not started (every exercise untouched, no question answered): fail, or report it and "
        "exit 0 (what the CI workflow of `quiz init` uses)"
    ),
]


def grade(
    day: DayArgument,
    only: OnlyOption = None,
    workspace: WorkspaceOption = None,
    profile: ProfileOption = Profile.default,
    seed: SeedOption = 0,
    device: DeviceOption = Device.auto,
    json_out: JsonOption = None,
    export: ExportOption = None,
    ci: CiOption = False,
    junit: JunitOption = None,
    gradescope: GradescopeOption = None,
    untouched: UntouchedOption = Untouched.fail,
    timeout: TimeoutOption = None,
    memory_limit: MemoryOption = MEMORY_GIB,
    cpu_limit: CpuOption = CPU_SECONDS,
) -> None:
    """Grade a day's exercises in a workspace and print the report."""
    the_day = day_named(day)
    workspace = find_workspace(workspace)
    check_workspace(the_day, workspace)
    if only and not the_day.exercises:
        raise usage_error(f"{the_day.id} has no exercises yet, so --only has nothing to pick")
    if ci:
        console.no_color, console.soft_wrap = True, True  # a CI log: no colours, lines not folded
    _check_outputs(json_out, export, junit, gradescope)
    ids = only_ids(the_day, only)
    started = datetime.now(UTC)
    limits = {"timeout": timeout, "memory_gib": memory_limit, "cpu_seconds": cpu_limit}
    report = grade_day(the_day, workspace, ids, profile, seed, device, plain=ci, **limits)
    # A write refused (or failed) is said and costs the exit code, never the report or the other
    # writes. The report and the results go out first; the history (the workspace's own file) last.
    repros = saved_repros(report, workspace)
    not_started = _print_report(report, repros, workspace, untouched)
    written = _write_results(report, repros, workspace, json_out, export)
    if junit or gradescope or ci:
        written &= _write_ci(report, workspace, junit, gradescope, ci)
    if not ci:  # a CI run starts from a fresh checkout: nothing to remember
        written &= record_report(workspace, report, started)
    raise typer.Exit(0 if (report.passed or not_started) and written else 1)


def _check_outputs(json_out: Path | None, export: Path | None, *others: Path | None) -> None:
    """A usage error for an output file that cannot be written where it is asked for."""
    from ..report.export import EXPORTS

    for out in (json_out, export, *others):
        if out and not out.resolve().parent.is_dir():
            raise usage_error(f"cannot write {out}: the folder {out.parent} does not exist")
    if export and export.suffix not in EXPORTS:
        raise usage_error(f"--export {export}: the file must end in {', '.join(EXPORTS)}")


def _print_report(report, repros: dict[str, str], workspace: Path, untouched: Untouched) -> bool:
    """The report, a note when the workspace was made by another grader version, and whether the
    day counts as not started (with --untouched report)."""
    from ..init import version_note
    from ..report.terminal import render

    console.print(render(report, repros))
    if note := version_note(workspace):
        console.print(messages.note(note))
    not_started = untouched is Untouched.report and report.not_started
    if not_started:
        console.print(grading.not_started(report.day))
    return not_started


def _write_results(report, repros: dict[str, str], workspace: Path, json_out, export) -> bool:
    """--json and --export; False when one could not be written."""
    from ..report.export import exported
    from ..report.terminal import render
    from ..results import to_json

    written = True
    if json_out:
        written &= write(json_out, to_json(report), workspace)
    if export:
        title = f"quiz grade {report.day}"
        written &= write(export, exported(render(report, repros), export, title), workspace)
    return written


def _write_ci(report, workspace: Path, junit: Path | None, gradescope: Path | None, ci: bool) -> bool:
    """--junit, --gradescope, and under GitHub Actions with --ci its annotations and step summary."""
    from ..report import ci as ci_formats

    written = True
    if junit:
        written &= write(junit, ci_formats.junit_xml(report), workspace)
    if gradescope:
        text = json.dumps(ci_formats.gradescope_json(report), indent=2, allow_nan=False) + "\n"
        written &= write(gradescope, text, workspace)
    if ci and os.environ.get("GITHUB_ACTIONS") == "true":
        for line in ci_formats.github_annotations(report, os.path.relpath(workspace)):
            print(line)
    if ci and (summary_file := os.environ.get("GITHUB_STEP_SUMMARY")):
        written &= write(Path(summary_file), ci_formats.step_summary(report), workspace, append=True)
    return written


# --- quiz grade-batch ----------------------------------------------------------------------------

SubmissionsArgument = Annotated[Path, typer.Argument(help="A folder with a folder (or .zip) per submission")]
JobsOption = Annotated[int, typer.Option(min=1, help="Submissions graded at once")]
GradesOption = Annotated[Path, typer.Option(help="Where the gradebook and each submission's results go")]
BatchOnlyOption = Annotated[str | None, typer.Option(help="Comma-separated exercise ids")]
BatchDeviceOption = Annotated[Device, typer.Option(help="Where the learners' code runs")]
SubmissionTimeoutOption = Annotated[float, typer.Option(min=1, help="Seconds for a whole submission")]


def grade_batch(
    submissions: SubmissionsArgument,
    day: DayOption,
    jobs: JobsOption = 2,
    out: GradesOption = Path("grades"),
    only: BatchOnlyOption = None,
    profile: ProfileOption = Profile.default,
    seed: SeedOption = 0,
    device: BatchDeviceOption = Device.auto,
    timeout: TimeoutOption = None,
    memory_limit: MemoryOption = MEMORY_GIB,
    cpu_limit: CpuOption = CPU_SECONDS,
    submission_timeout: SubmissionTimeoutOption = SUBMISSION_SECONDS,
) -> None:
    """Grade every submission in a folder, in parallel: a CSV gradebook and each one's results.

    Each submission is copied and graded by its own grader process; one that hangs, crashes or
    misbehaves is recorded as such and the others are graded all the same."""
    import time

    from .. import batch

    the_day = day_named(day)
    if not submissions.is_dir():
        raise usage_error(f"{submissions} is not a folder of submissions")
    ids = only_ids(the_day, only)
    found = [s for s in batch.find_submissions(submissions) if s.path.resolve() != out.resolve()]
    if not found:
        raise usage_error(f"{submissions} holds no submission (a folder or .zip file per learner)")
    out.mkdir(parents=True, exist_ok=True)
    grade_args = ["--memory-limit", str(memory_limit), "--cpu-limit", str(cpu_limit)]
    grade_args += ["--timeout", str(timeout)] if timeout else []
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
    runner, outcomes = _run_batch(options, found)
    written = _write_gradebook(out / "gradebook.csv", outcomes, the_day, ids)
    _batch_done(runner, outcomes, len(found), time.perf_counter() - started, options, written)


def _run_batch(options, found: list) -> tuple:
    """The batch runner and its outcomes, a line for each submission as it finishes."""
    from .. import batch
    from ..report.gradebook import submission_line
    from ..report.progress import batch_bar

    with batch_bar(console) as bar:
        task = bar.add_task("submissions", total=len(found))
        count = iter(range(1, len(found) + 1))

        def done(o: batch.Outcome) -> None:
            line = submission_line(next(count), len(found), o, o.state == batch.GRADED)
            bar.console.print(line, soft_wrap=True)
            bar.advance(task)

        runner = batch.Batch(options, on_done=done, interrupt=interrupted)
        return runner, runner.run(found)


def _write_gradebook(path: Path, outcomes: list, the_day, ids: list[str] | None) -> bool:
    """The CSV gradebook, a column per exercise graded; False, said as an error, when it could
    not be written."""
    from .. import batch

    exercise_ids = [the_day.exercise(i).id for i in ids] if ids else [e.id for e in the_day.exercises]
    try:
        batch.write_gradebook(path, outcomes, exercise_ids)
    except OSError as e:  # each submission's line and the summary are printed all the same
        not_written(path, e)
        return False
    return True


def _batch_done(runner, outcomes: list, found: int, elapsed: float, options, written: bool) -> NoReturn:
    """The totals and each submission not graded; exit 0 when every one was graded and the
    gradebook written, 130 after Ctrl-C, else 1."""
    from .. import batch
    from ..report import gradebook

    not_graded = [o for o in outcomes if o.state != batch.GRADED]
    book = options.out / "gradebook.csv"
    for line in gradebook.totals(len(outcomes), not_graded, found, elapsed, options.jobs, book):
        console.print(line, soft_wrap=True)
    if runner.interrupted:
        err.print(gradebook.interrupted(len(outcomes)))
        raise typer.Exit(130)
    raise typer.Exit(0 if len(outcomes) - len(not_graded) == found and written else 1)


# --- quiz report ---------------------------------------------------------------------------------

MarkdownOption = Annotated[bool, typer.Option("--markdown", help="Print the Markdown source")]
OutputOption = Annotated[Path | None, typer.Option("--output", "-o", help="Write the Markdown to this file")]


def report(
    day: DayArgument,
    workspace: WorkspaceOption = None,
    markdown: MarkdownOption = False,
    output: OutputOption = None,
    profile: ProfileOption = Profile.default,
    seed: SeedOption = 0,
    device: DeviceOption = Device.auto,
) -> None:
    """Grade, then write up the checkpoint as Markdown.

    The dated results table (number, topic, rating, notes), the verdict, the weakest areas and a
    re-study plan."""
    the_day = day_named(day)
    workspace = find_workspace(workspace)
    check_workspace(the_day, workspace)
    if output and not output.resolve().parent.is_dir():
        raise usage_error(f"cannot write {output}: the folder {output.parent} does not exist")
    from ..report import markdown as md

    started = datetime.now(UTC)
    # the Markdown source printed on stdout stays only that: the lines go to stderr then
    lines = err if markdown and not output else console
    result = grade_day(the_day, workspace, None, profile, seed, device, lines=lines)
    recorded = record_report(workspace, result, started)
    text = md.render(result, workspace_flag=flag(workspace))
    if output:
        if not write(output, text, workspace):
            raise typer.Exit(1)
        console.print(grading.markdown_written(output, result.verdict.summary if result.verdict else ""))
    elif markdown:
        print(text, end="")
    else:
        from rich.markdown import Markdown

        console.print(Markdown(text))
    if not recorded:
        raise typer.Exit(1)


# --- quiz watch ----------------------------------------------------------------------------------

PollOption = Annotated[
    bool,
    typer.Option(
        "--poll",
        help="Look at the files every --every seconds instead of "
        "waiting for file events (network drives, some containers)",
    ),
]
EveryOption = Annotated[
    float, typer.Option(min=0.05, help="Seconds between looks at the files when no file event comes")
]
DebounceOption = Annotated[
    int,
    typer.Option(
        min=0,
        help="Milliseconds of quiet after a file event before "
        "grading (an editor's save is often several writes)",
    ),
]


def watch(
    day: DayArgument,
    workspace: WorkspaceOption = None,
    profile: ProfileOption = Profile.quick,
    seed: SeedOption = 0,
    device: DeviceOption = Device.auto,
    poll: PollOption = False,
    every: EveryOption = 0.5,
    debounce: DebounceOption = 50,
    timeout: TimeoutOption = None,
    memory_limit: MemoryOption = MEMORY_GIB,
    cpu_limit: CpuOption = CPU_SECONDS,
) -> None:
    """Grade the day, then regrade each exercise whose code changes, on every save, until Ctrl-C.

    One process stays warm (torch and the checks imported once); every grading still runs in a
    fresh process of its own. Saving answers/DAY.toml judges the answers again. The history is not
    written: run `quiz grade` for a run to keep."""
    the_day = day_named(day)
    workspace = find_workspace(workspace)
    check_workspace(the_day, workspace)
    if not the_day.exercises:
        raise usage_error(f"{the_day.id} has no exercises yet: nothing to watch")

    from ..sandbox.process import Zygote
    from ..watch import Loop

    with Zygote() as zygote:
        from ..grade import Options

        # Each save gets its verdicts at once; timings are for `quiz grade`.
        options = Options(
            workspace=workspace,
            profile=profile.value,
            seed=seed,
            device=resolved(device),
            timeout=timeout,
            memory_gib=memory_limit,
            cpu_seconds=cpu_limit,
            measure=False,
        )
        stop = threading.Event()
        try:
            with Loop(the_day, options, zygote) as loop:
                _watch(the_day, workspace, loop, stop, every=every, debounce=debounce, poll=poll)
        except KeyboardInterrupt:
            stop.set()
            console.print(grading.STOPPED_WATCHING)


def _watch(the_day, workspace: Path, loop, stop: threading.Event, every: float, debounce: int, poll: bool):
    """The first grading, then a round for each save until `stop` or Ctrl-C."""
    from ..report.terminal import answers_panel, exercise_table, questions_panel, watch_round, watching
    from ..watch import changes, snapshot

    before = snapshot(the_day, workspace)  # a save during the first grading is not lost
    with progress_bar(len(the_day.exercises)) as (_, step):
        first = loop.grade(None, grading_steps(step))
    console.print(exercise_table(first))
    if (answers := questions_panel(first)) is not None:
        console.print(answers)
    console.print(watching(the_day, loop.totals(), workspace))
    for saved in changes(
        the_day,
        workspace,
        stop,
        since=before,
        poll=every,
        step_ms=debounce,
        force_polling=poll,
        on_missed_events=lambda: console.print(grading.events_missed(workspace, every)),
    ):
        files = sorted({the_day.exercise(i).file for i in saved.exercises})
        files += [the_day.answers_file] if saved.answers else []
        console.rule(grading.changed(datetime.now(), files), align="left")
        if saved.exercises:
            report = loop.grade(saved.exercises)
            console.print(watch_round(report, loop.stale(saved.exercises)))
        if saved.answers:
            console.print(
                answers_panel(*loop.answers()) or grading.no_answers(workspace / the_day.answers_file)
            )
        console.print(watching(the_day, loop.totals(), workspace))


# --- quiz verify ---------------------------------------------------------------------------------

ResultsArgument = Annotated[Path, typer.Argument(help="A results file written by `quiz grade --json`")]
VerifyWorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        help="The graded workspace (default: the one in the file, "
        "else the one found as `quiz grade` finds it)"
    ),
]
VerifyDeviceOption = Annotated[Device, typer.Option(help="Where to grade again")]
AllowVersionChangeOption = Annotated[
    bool,
    typer.Option(
        "--allow-version-change",
        help="Verify a result of another grader version all the same (a note, not a refusal)",
    ),
]


def verify(
    results: ResultsArgument,
    workspace: VerifyWorkspaceOption = None,
    device: VerifyDeviceOption = Device.cpu,
    allow_version_change: AllowVersionChangeOption = False,
) -> None:
    """Check a result of `quiz grade --json` by grading again.

    The result must list exactly the exercises of its plan, fingerprint each one's file and the
    answers file, and come from this grader version; the workspace's files must be the ones
    graded, and grading them again with the same seed and profile must give the same status for
    every exercise, check and question. Exit 0 when it does, 1 when anything differs or the file
    is not a result."""
    from ..grade import resolve_device
    from ..sandbox.process import Zygote
    from ..verify import ResultsFileError
    from ..verify import verify as check

    data = _read_results(results)
    # --workspace, else the one the result names (when it is a folder here), else the one found here
    if workspace is None:
        workspace = Path(data["workspace"]) if Path(data["workspace"]).is_dir() else find_workspace(None)
    if not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not a folder (pass --workspace)")
    try:
        where = resolve_device(device.value)
    except ValueError as e:
        raise usage_error(str(e)) from None
    try:
        with Zygote() as zygote, console.status("grading again…"):
            outcome = check(data, workspace, where, zygote, allow_version_change)
    except ResultsFileError as e:
        _not_verified(results, e)
    for note in outcome.notes:
        console.print(grading.verify_note(note), soft_wrap=True)
    for line in outcome.differences:
        console.print(grading.verify_difference(line), soft_wrap=True)
    if outcome.ok:
        console.print(grading.verified(results, len(outcome.report.exercises), data), soft_wrap=True)
    raise typer.Exit(0 if outcome.ok else 1)


def _read_results(results: Path) -> dict:
    from ..verify import ResultsFileError, load

    try:
        return load(results)
    except OSError as e:
        raise usage_error(f"cannot read {results}: {e}") from None
    except ResultsFileError as e:
        _not_verified(results, e)


def _not_verified(results: Path, e: Exception) -> NoReturn:
    err.print(grading.not_verified(results, e), soft_wrap=True)
    raise typer.Exit(1)
