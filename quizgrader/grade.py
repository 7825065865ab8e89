"""A grading run: plan -> sandbox -> checks -> diagnosis -> evidence -> rubric.

Computes a GradeReport and prints nothing; renderers turn it into text, JSON, ...
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import __version__, daypacks
from .analysis import diagnosis, heatmap, localise, repro, stages
from .catalog import Day, Exercise, load_day
from .checks import forbidden
from .checks.api import LearnerError, local, remote
from .checks.catalogue import checks_for
from .checks.common import from_scratch, keeps_to_itself
from .checks.registry import Check
from .checks.runner import Failure, run_check
from .report import rubric_text
from .results import FROM_SCRATCH, KEEPS_TO_ITSELF, CheckResult, ExerciseResult, GradeReport, Status
from .rubric import rate, verdict
from .sandbox import confine, snapshot
from .sandbox.process import ChildConfig, ChildTimeout, SandboxError, Zygote
from .sandbox.tools import one_thread
from .workspace_links import refusal


@dataclass
class Options:
    workspace: Path
    only: list[str] | None = None
    profile: str = "default"
    seed: int = 0
    device: str = "cpu"  # resolved: "cpu" or "cuda"
    timeout: float | None = None  # seconds per call; None: each exercise's own
    memory_gib: float = confine.MEMORY_GIB  # address space the learner's process may add (CPU runs)
    cpu_seconds: float = confine.CPU_SECONDS  # CPU time per exercise's process
    measure: bool = True  # False: no timings (quiz watch), every verdict still reached


def resolve_device(wanted: str) -> str:
    """auto|cpu|cuda -> cpu|cuda, without initialising CUDA here (children are forked later)."""
    if wanted == "cpu":
        return "cpu"
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import torch

    available = torch.cuda.is_available()
    if wanted == "cuda" and not available:
        raise ValueError("--device cuda was asked for, but this machine has no usable CUDA device")
    return "cuda" if available else "cpu"


def grade(
    day_name: str,
    options: Options,
    progress: Callable[[str, ExerciseResult | None], None] | None = None,
    zygote: Zygote | None = None,
    doctor: diagnosis.Diagnoser | None = None,
    earlier: dict[str, ExerciseResult] | None = None,
) -> GradeReport:
    """Grade a day. Pass a `zygote` started before this process imported torch to overlap the two
    imports, and a `doctor` to keep its mutants across runs; those made here are closed here.
    `earlier`: results of exercises not graded this time, that the ones graded may depend on."""
    day = load_day(day_name)
    plan = day.ordered([day.exercise(i).id for i in options.only] if options.only else None)
    own = zygote is None and bool(plan)
    zygote = zygote or (Zygote() if plan else None)
    started = time.perf_counter()
    reference = daypacks.get(day.id).reference
    ref = local(reference, day.id, package="_quiz_reference")
    own_doctor = doctor is None
    doctor = doctor or diagnosis.Diagnoser()
    # The learner's processes read this copy, never the workspace itself (sandbox/snapshot.py).
    snap = snapshot.take(options.workspace, sorted({ex.file.split("/")[0] for ex in plan}), reference)
    copy = Options(**{**vars(options), "workspace": snap.root})

    def refused(file: str) -> str | None:
        """Why `file`, or a workspace file it imports, is not graded (a link leading out of the
        workspace, a hard link to the reference), or None."""
        todo, seen = [file], set()
        while todo:
            f = todo.pop()
            if f in seen:
                continue
            seen.add(f)
            if (why := refusal(options.workspace, f) or snap.problem(f)) is not None:
                return why if f == file else f"{file} imports {f}, which is not graded: {why}"
            source = snap.root / f
            if source.is_file():
                todo += forbidden.workspace_imports(source.read_text(encoding="utf-8", errors="replace"), f)
        return None

    results: dict[str, ExerciseResult] = {}
    try:
        with one_thread():  # the grader judges small tensors, as the learner's process runs them
            for ex in plan:
                if progress:
                    progress(ex.id, None)
                results[ex.id] = grade_exercise(ex, day, copy, zygote, ref, doctor, refused=refused)
                if progress:
                    progress(ex.id, results[ex.id])
            # Graded again with the reference's version of what fails, only once every scored
            # grading is done: a process that holds any of the reference runs after all of those.
            for ex in plan:
                result = results[ex.id]
                if stand_ins := _stand_ins(result, ex, {**(earlier or {}), **results}):
                    result.with_reference = grade_exercise(
                        ex, day, copy, zygote, ref, doctor, substitute=stand_ins, refused=refused
                    )
                    result.with_reference.substituted = stand_ins
        graded = fingerprints(snap.root, [ex.file for ex in plan])
    finally:
        snap.remove()
        if own_doctor:
            doctor.close()
        if own and zygote is not None:
            zygote.close()
    for ex in plan:
        _blocked_by_dependencies(results[ex.id], ex, {**(earlier or {}), **results})
    exercises = list(results.values())
    answers_file, answers_error, questions, ratings = judge_answers(day, options.workspace)
    rubric = rate(day, exercises, questions, ratings, write=rubric_text.evidence_lines)
    return GradeReport(
        day=day.id,
        title=day.title,
        workspace=str(options.workspace),
        seed=options.seed,
        profile=options.profile,
        device=options.device,
        scale=day.scale,
        exercises=exercises,
        rubric=rubric,
        seconds=time.perf_counter() - started,
        version=__version__,
        questions=questions,
        answers_file=answers_file,
        answers_error=answers_error,
        verdict=verdict(day, rubric, write=rubric_text.verdict_summary),
        files={**graded, **fingerprints(options.workspace, [day.answers_file])},
        plan=[ex.id for ex in plan],
        sandbox=(zygote.confinement or {}) if zygote else {},
    )


def fingerprints(workspace: Path, files: list[str]) -> dict[str, str | None]:
    """SHA-256 of each graded file, None for one that is not there or cannot be read, so a result
    can be tied to exactly what was graded (a file missing then must be missing still). Read in
    chunks: a file may be large (an answers file is refused above its limit, not hashed whole)."""
    import hashlib

    digests: dict[str, str | None] = {}
    for f in sorted(set(files)):
        digests[f] = None
        if (workspace / f).is_file():
            try:
                if (size := (workspace / f).stat().st_size) > FINGERPRINT_LIMIT:  # refused anyway: not read
                    digests[f] = f"not hashed: {size} bytes"
                    continue
                with open(workspace / f, "rb") as data:
                    digests[f] = hashlib.file_digest(data, "sha256").hexdigest()
            except OSError:
                pass
    return digests


FINGERPRINT_LIMIT = 64 * 2**20  # bytes: a graded file is kilobytes; a larger one is refused, not read


def judge_answers(day: Day, workspace: Path):
    """The workspace's answers/DAY.toml, judged: (file, error, question results, self-ratings).
    A file that cannot be used is reported, whatever it holds; the exercises are graded all the
    same."""
    from .questions import load_bank
    from .questions.answers import AnswersFileError, judge_all, present, read_answers

    path = workspace / day.answers_file
    if (refused := refusal(workspace, day.answers_file)) is not None:
        return str(path), refused, [], {}
    if not present(path):
        return None, None, [], {}
    bank = load_bank(day.id)
    try:
        answers = read_answers(path, bank, day.scale)
    except AnswersFileError as e:
        return str(path), str(e), [], {}
    return str(path), None, judge_all(bank, answers), answers.ratings


def all_checks(ex: Exercise) -> list[Check]:
    checks = list(checks_for(ex.id))
    if ex.forbidden or ex.forbidden_ops:
        checks.append(Check(ex.id, FROM_SCRATCH, from_scratch(ex)))
    checks.append(Check(ex.id, KEEPS_TO_ITSELF, keeps_to_itself(ex)))
    return checks


def grade_exercise(
    ex: Exercise,
    day: Day,
    options: Options,
    zygote: Zygote,
    ref,
    doctor: diagnosis.Diagnoser,
    substitute: list[str] | None = None,
    refused=lambda file: None,
) -> ExerciseResult:
    """Grade one exercise in a fresh child; `substitute` lists exercises whose reference version
    replaces the learner's there. `refused(file)` says why a file was left out of the workspace's
    copy (a link leading out of the workspace), or None."""
    t0 = time.perf_counter()
    result = ExerciseResult(ex.id, ex.title, Status.PASS, points=ex.points)
    path = options.workspace / ex.file
    if (why := refused(ex.file)) is not None:
        result.status, result.reason = Status.ERROR, why
        return result
    if not path.is_file():
        result.status, result.reason = Status.NOT_ATTEMPTED, f"{ex.file} is missing from the workspace"
        return result
    source = path.read_text(encoding="utf-8", errors="replace")
    if (problem := _parse_error(source)) is not None:
        # Nothing in the file can run, so no check is run (none could pass on its merits).
        result.status, result.reason = Status.ERROR, f"your file {ex.file} does not parse: {problem}"
        return result
    if forbidden.line_range(source, ex.name) is None:
        result.status, result.reason = Status.NOT_ATTEMPTED, f"{ex.file} defines no `{ex.name}`"
        return result
    timeout = options.timeout or ex.timeout
    try:
        child = zygote.spawn(
            ChildConfig(
                options.workspace,
                options.device,
                timeout,
                ex.forbidden_routines,
                tuple(substitute or ()),
                options.cpu_seconds,
                options.memory_gib,
                ex.forbidden_ops,
                ex.id,
                ex.forbidden_names,
                tuple(dict.fromkeys(n for c in all_checks(ex) for n in c.needs)),
            ),
            hard_timeout=timeout + 5,
        )
    except SandboxError as e:
        result.status, result.reason = Status.ERROR, e.reason
        return result
    you = remote(child, day.id)
    failed: list[tuple[CheckResult, Failure]] = []
    try:
        for c in all_checks(ex):
            began = time.perf_counter()
            try:
                check_result, failure = run_check(
                    c, you, ref, options.profile, options.seed, options.device, options.measure
                )
            except SandboxError as e:
                result.status = Status.TIMEOUT if isinstance(e, ChildTimeout) else Status.ERROR
                result.reason = e.reason
                result.output = e.log_tail
                result.checks.append(
                    CheckResult(c.name, result.status, e.reason, seconds=time.perf_counter() - began)
                )
                break
            if failure and isinstance(failure.error, LearnerError) and failure.error.not_implemented:
                _not_implemented(result, ex, failure.error, source)
                break
            if failure:
                failed.append((check_result, failure))
                check_result.repro = repro.render(failure.calls, _param_names(failure.calls))
            result.checks.append(check_result)
        ran = {r.name for r in result.checks}
        for c in all_checks(ex):
            if c.name not in ran and result.status in (Status.TIMEOUT, Status.ERROR):
                result.checks.append(
                    CheckResult(c.name, Status.SKIPPED, "not run: the learner's process had ended")
                )
        if result.status is Status.PASS:
            _settle(result)
            if forbidden_call := next(
                (c for c in result.checks if c.status is Status.FAIL and _ran_forbidden(c)), None
            ):
                # what else went wrong came from the library routine it should not have called
                result.status = Status.FAIL
                result.reason = f"not written from scratch: {forbidden_call.message.splitlines()[0]}"
        ran_forbidden = any(isinstance(f.error, LearnerError) and f.error.forbidden for _, f in failed)
        if failed and result.status in (Status.FAIL, Status.ERROR) and not ran_forbidden:
            _draw(ex, failed, you, ref)
            probes = [f.calls for _, f in failed] + [f.first_calls for _, f in failed]
            others = [calls for c in result.checks for calls in c.tried]
            try:
                found = doctor.diagnose(ex.id, probes, you, ref, others)
                module = _departure(failed, you, ref)
                stage = stages.locate(ex.id, you, ref)
                departure = "; ".join(s for s in (module and module.sentence(), stage) if s) or None
            except SandboxError:
                found, departure = diagnosis.Finding(), None
            _attach(result, found, departure)
        if result.status is not Status.PASS:
            result.output = result.output or child.log_tail()
            result.hint, result.hint_next = _hint(ex, result)
    finally:
        child.end()
    result.seconds = time.perf_counter() - t0
    return result


def _ran_forbidden(check: CheckResult) -> bool:
    return "asks you to write yourself" in check.message


def _draw(ex: Exercise, failed: list[tuple[CheckResult, Failure]], you, ref) -> None:
    """One picture of attention weights per exercise, yours and expected, where they differ: on the
    fixed example made to be read at a glance (given to the first failing check), else on a failing
    check's first example found (larger than the shrunk one, so it says more as a picture), else on
    its shrunk one. A picture never costs the report: anything that stops it means no picture."""
    if heatmap.source(ex.id) is None:
        return
    try:
        if (picture := heatmap.heatmap(ex.id, heatmap.showcase(ex.id), you, ref)) is not None:
            failed[0][0].heatmap = picture
            return
        for check, f in failed:
            picture = heatmap.heatmap(ex.id, f.first_calls, you, ref) or heatmap.heatmap(
                ex.id, f.calls, you, ref
            )
            if picture is not None:
                check.heatmap = picture
                return
    except Exception:  # noqa: BLE001
        return


def _param_names(calls) -> dict[str, list[str]]:
    """Parameter names from the reference's signatures, for readable repro variables."""
    import importlib
    import inspect

    names: dict[str, list[str]] = {}
    for call in calls:
        parts = call.target.split(".")
        if call.op == "method":
            module, cls, method = ".".join(parts[:-2]), parts[-2], parts[-1]
        else:
            module, cls, method = ".".join(parts[:-1]), parts[-1], None
        try:
            obj = getattr(importlib.import_module(f"_quiz_reference.{module}"), cls)
            fn = getattr(obj, method) if method else obj
            names[call.target] = [p for p in inspect.signature(fn).parameters if p != "self"]
        except (ImportError, AttributeError, ValueError, TypeError):
            pass
    return names


def _parse_error(source: str) -> str | None:
    """Why `source` is not valid Python ("invalid syntax (line 12)"), or None when it is."""
    try:
        compile(source, "<workspace>", "exec", dont_inherit=True)
    except SyntaxError as e:
        return f"{e.msg} (line {e.lineno})"
    except ValueError as e:  # a NUL byte
        return str(e)
    except (RecursionError, MemoryError):
        return "it is nested or chained too deeply for Python to parse"
    return None


def _not_implemented(result: ExerciseResult, ex: Exercise, e: LearnerError, source: str) -> None:
    origin = e.info.get("origin") or {}
    span = forbidden.line_range(source, ex.name)
    own = origin.get("file") == ex.file and span and span[0] <= (origin.get("line") or 0) <= span[1]
    if own or not origin:
        result.status, result.reason = Status.NOT_ATTEMPTED, f"`{ex.name}` still raises NotImplementedError"
    else:
        result.status = Status.BLOCKED
        result.reason = (
            f"it calls `{origin.get('function')}` ({origin.get('file')}, line {origin.get('line')}), "
            "which is not implemented yet"
        )
    result.checks.clear()


def _settle(result: ExerciseResult) -> None:
    """An exercise whose checks all ran: pass, fail or error from its checks."""
    statuses = {c.status for c in result.checks}
    if Status.ERROR in statuses:
        result.status = Status.ERROR
        bad = next(c for c in result.checks if c.status is Status.ERROR)
        result.reason = "on a valid input, " + bad.message.splitlines()[0]
    elif Status.FAIL in statuses:
        result.status = Status.FAIL
        n = sum(c.status is Status.FAIL for c in result.checks)
        result.reason = f"{n} of {len(result.checks)} checks failed"


def _failing_dependencies(ex: Exercise, done: dict[str, ExerciseResult]) -> list[str]:
    return [d for d in ex.depends_on if d in done and done[d].status is not Status.PASS]


def _stand_ins(result: ExerciseResult, ex: Exercise, done: dict[str, ExerciseResult]) -> list[str]:
    """The dependencies to replace by the reference's for a second grading: those that do not pass,
    when this exercise was attempted and does not pass either."""
    if result.status in (Status.PASS, Status.NOT_ATTEMPTED):
        return []
    return _failing_dependencies(ex, done)


def _blocked_by_dependencies(result: ExerciseResult, ex: Exercise, done: dict[str, ExerciseResult]) -> None:
    """A failing exercise that calls a failing one is blocked: fix the one it calls first. When it
    was graded again with the reference in place of those, say how that went."""
    if result.status not in (Status.FAIL, Status.ERROR, Status.BLOCKED):
        return
    blockers = _failing_dependencies(ex, done)
    if blockers and result.status is not Status.BLOCKED:
        result.status = Status.BLOCKED
        result.reason += (
            "; it depends on "
            + ", ".join(f"{d.split('.', 1)[1]} ({done[d].status.label})" for d in blockers)
            + ", fix that first"
        )
    if (other := result.with_reference) is not None:
        names = ", ".join(d.rsplit(".", 1)[1] for d in other.substituted)
        verdict = (
            "all checks pass"
            if other.status is Status.PASS
            else f"{other.passed_checks}/{len(other.checks)} checks pass"
            if other.checks
            else other.status.label
        )
        result.reason += f". With the reference {names} in place of yours: {verdict}"


def _departure(failed: list[tuple[CheckResult, Failure]], you, ref) -> localise.Departure | None:
    """Where a module first departs from the reference's, on the first failing example that runs
    its forward (the smallest one first)."""
    for calls in [f.calls for _, f in failed] + [f.first_calls for _, f in failed]:
        if any(c.op == "method" for c in calls) and (found := localise.locate(calls, you, ref)) is not None:
            return found
    return None


def _attach(result: ExerciseResult, found: diagnosis.Finding, departure: str | None) -> None:
    """A confirmed cause is stated, with why it is wrong; one that only resembles is said to; and
    where the exercise first departs from the reference (the submodule of a module, the stage of
    a function), when no cause is confirmed."""
    if departure is not None:
        result.where = departure
    if found.confirmed:
        text = " or ".join(m.summary for m in found.confirmed)
        sentence = f"your output equals what you get when {text}. {found.confirmed[0].why}"
        result.diagnosis = [m.id for m in found.confirmed]
    elif found.resembles or result.where:
        text = " or ".join(m.summary for m in found.resembles)
        resembles = (
            f"it resembles what you get when {text}: your output equals that on the failing example, "
            "but other inputs do not confirm it, so the mistake may be another"
        )
        where = f"where yours first departs from the reference: {result.where}"
        sentence = ". ".join([s for s, keep in ((where, result.where), (resembles, found.resembles)) if keep])
    else:
        return
    for c in result.checks:
        if c.status in (Status.FAIL, Status.ERROR):
            c.diagnosis = sentence


def _hint(ex: Exercise, result: ExerciseResult) -> tuple[str | None, int | None]:
    """The hint for where the learner is, and the level to ask for next: the idea when nothing
    works yet, the invariant once some checks pass (the worked example is theirs to ask for)."""
    if not ex.hints:
        return None, None
    level = min(
        1 if result.status in (Status.NOT_ATTEMPTED, Status.BLOCKED) or not result.passed_checks else 2,
        len(ex.hints),
    )
    return f"[{level}/{len(ex.hints)}] {ex.hints[level - 1]}", (level + 1 if level < len(ex.hints) else None)


__all__ = ["Options", "grade", "resolve_device"]
