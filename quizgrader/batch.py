"""Grading a class: every submission in its own `quiz grade` process, several at a time.

Each submission is copied to a fresh temporary folder and graded there by a separate grader
process, with no history and no CI environment, under a wall-clock limit for the whole
submission. Whatever one submission does (its code runs confined in that grader's child
processes, and the grader itself can only crash or be killed), the others are graded all the
same, and the instructor's copy of every submission is left untouched. Links are copied as
links, never followed; a submission holding one that leads out of it (absolute, or out with ..),
or a zip file holding one, is refused with the link named: what would be graded is not its own.

Outputs, in the output folder: a CSV gradebook (a row per submission, a points column per
exercise), and per submission NAME.json (the full results) and NAME.txt (the report as printed,
to hand back to the learner).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from . import safefs
from .catalog import Day
from .report import neutral
from .results import total
from .safefs import shown
from .workspace_links import links_leaving

GRADED = "graded"
NO_WORKSPACE = "no workspace"
TIMED_OUT = "timed out"
GRADER_ERROR = "grader error"
REFUSED = "refused"  # it holds a link leading out of it: what would be graded is not its own
SUBMISSION_SECONDS = 900.0  # wall clock for a whole submission
ZIP_LIMIT = 200 * 2**20  # bytes a zipped submission may unpack to
_NOT_GRADED = shutil.ignore_patterns(".quiz", "__pycache__", ".git", ".venv", "*.pyc")


def _IGNORE(folder: str, names: list[str]) -> set[str]:
    """What a submission's copy leaves out: the grader's and tools' folders, and anything that is
    neither a folder, a regular file nor a link (a named pipe would block the copy for ever)."""

    def special(name: str) -> bool:
        try:
            mode = os.lstat(os.path.join(folder, name)).st_mode
        except OSError:
            return True
        return not (stat.S_ISDIR(mode) or stat.S_ISREG(mode) or stat.S_ISLNK(mode))

    return set(_NOT_GRADED(folder, names)) | {n for n in names if special(n)}


@dataclass
class Submission:
    name: str  # as the instructor named it (folder or zip file, without .zip)
    path: Path


@dataclass
class Outcome:
    """One submission's result: `state` is GRADED or why it could not be."""

    submission: Submission
    state: str
    problem: str = ""
    seconds: float = 0.0
    results: dict | None = None  # `quiz grade --json` with this run's paths
    scores: dict | None = None  # Gradescope results.json: score, max_score, a test per exercise


@dataclass
class BatchOptions:
    day: Day
    out: Path
    jobs: int = 2
    only: list[str] | None = None
    profile: str = "default"
    seed: int = 0
    device: str = "auto"
    submission_timeout: float = SUBMISSION_SECONDS
    grade_args: list[str] = field(default_factory=list)  # limits passed on to `quiz grade`


def find_submissions(root: Path) -> list[Submission]:
    """Every folder and .zip file directly in `root`, by name; hidden ones are skipped."""
    return [
        Submission(p.stem if p.suffix == ".zip" else p.name, p)
        for p in sorted(root.iterdir())
        if not p.name.startswith(".") and (p.is_dir() or (p.is_file() and p.suffix == ".zip"))
    ]


def file_stem(name: str, taken: set[str]) -> str:
    """A file name for a submission's outputs: its name with anything unusual replaced, unique."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "submission"
    candidate, n = stem, 1
    while candidate.lower() in taken or candidate.lower() == "gradebook":
        n += 1
        candidate = f"{stem}-{n}"
    taken.add(candidate.lower())
    return candidate


def locate_workspace(folder: Path, day: str) -> Path | None:
    """The folder holding DAY/: the submission itself, or one level down (exercises/, a single
    folder a zip file unpacked to)."""
    if (folder / day).is_dir():
        return folder
    inner = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    for p in inner:
        if (p / day).is_dir() and (p.name == "exercises" or len(inner) == 1):
            return p
    return None


class Refused(ValueError):
    """A submission that is not graded because of what it holds; the message says what and why."""


def _unpack(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as z:
        if sum(i.file_size for i in z.infolist()) > ZIP_LIMIT:
            raise ValueError(f"{archive.name} would unpack to more than {ZIP_LIMIT // 2**20} MiB")
        # A symbolic link is stored as a member whose mode says so and whose data is its target.
        links = [
            (i.filename, z.read(i).decode("utf-8", errors="replace"))
            for i in z.infolist()
            if stat.S_ISLNK(i.external_attr >> 16)
        ]
        if links:
            raise Refused(
                _links_problem(
                    links,
                    "the zip file holds links, which are not unpacked: only its "
                    "files are graded; zip the files themselves instead",
                )
            )
        z.extractall(into)  # member names with .. or a leading / stay inside `into`


def _links_problem(links: list[tuple[str, str]], why: str) -> str:
    """A gradebook's problem cell: which links (three at most) and why they cost the submission."""
    named = [f"{shown(name)} → {shown(target)}" for name, target in links[:3]]
    more = f" and {len(links) - 3} more" if len(links) > 3 else ""
    return f"links in the submission ({', '.join(named)}{more}): {why}"


class Batch:
    """Grades submissions `jobs` at a time; `on_done` is called (from a worker thread) as each
    ends. A Ctrl-C (KeyboardInterrupt, or `interrupt` set) stops every grader; `run` then returns
    what had finished, and `interrupted` is true."""

    def __init__(
        self,
        options: BatchOptions,
        on_done: Callable[[Outcome], None] | None = None,
        interrupt: threading.Event | None = None,
    ) -> None:
        self.options = options
        self.on_done = on_done
        self.interrupt = interrupt or threading.Event()
        self.interrupted = False
        self._running: dict[int, subprocess.Popen] = {}
        self._finished: list[Outcome] = []
        self._lock = threading.Lock()

    def run(self, submissions: list[Submission]) -> list[Outcome]:
        taken: set[str] = set()
        stems = {id(s): file_stem(s.name, taken) for s in submissions}
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.jobs), thread_name_prefix="grade")
        pending: set[Future] = {pool.submit(self._grade, s, stems[id(s)]) for s in submissions}
        try:
            while pending and not self.interrupt.is_set():
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for f in done:
                    f.result()  # a bug of the batch itself is raised here
        except KeyboardInterrupt:
            self.interrupt.set()
        finally:
            if self.interrupt.is_set():
                self.interrupted = True
                self._stop()
            pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            return sorted(self._finished, key=lambda o: o.submission.name)

    def _stop(self) -> None:
        with self._lock:
            for proc in self._running.values():
                _kill_group(proc)

    def _grade(self, submission: Submission, stem: str) -> Outcome | None:
        """One submission; None when the batch was stopped before it finished."""
        if self.interrupt.is_set():
            return None
        started = time.perf_counter()
        outcome = Outcome(submission, GRADER_ERROR)
        try:
            with tempfile.TemporaryDirectory(prefix="quiz-batch-") as tmp:
                self._grade_in(Path(tmp), submission, stem, outcome)
        except Refused as e:
            outcome.state, outcome.problem = REFUSED, str(e)
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            outcome.state, outcome.problem = GRADER_ERROR, f"could not prepare or read the submission: {e}"
        except Exception as e:  # noqa: BLE001 - one submission never stops the batch
            outcome.state, outcome.problem = GRADER_ERROR, f"{type(e).__name__}: {e}"
        if self.interrupt.is_set():
            return None
        outcome.seconds = time.perf_counter() - started
        with self._lock:
            self._finished.append(outcome)
        if self.on_done:
            self.on_done(outcome)
        return outcome

    def _grade_in(self, tmp: Path, submission: Submission, stem: str, outcome: Outcome) -> None:
        opts = self.options
        copy = tmp / "submission"
        if submission.path.is_symlink():
            raise Refused(
                f"the submission is itself a link (to {shown(os.readlink(submission.path))}): "
                "grade-batch grades folders and zip files that are in the submissions folder; "
                "copy the submission in instead"
            )
        if submission.path.is_dir():
            shutil.copytree(submission.path, copy, symlinks=True, ignore=_IGNORE)  # links copied as links
        else:
            _unpack(submission.path, copy)
        if leaving := links_leaving(copy):
            raise Refused(
                _links_problem(
                    leaving,
                    "they lead outside the submission (absolute, or out of it with "
                    "..), and only its own files are graded; copy the files in "
                    "instead",
                )
            )
        workspace = locate_workspace(copy, opts.day.id)
        if workspace is None:
            outcome.state = NO_WORKSPACE
            outcome.problem = f"no {opts.day.id}/ folder in the submission (nor in exercises/ inside it)"
            return
        results, scores = tmp / "results.json", tmp / "gradescope.json"
        command = [
            sys.executable,
            "-m",
            "quizgrader",
            "grade",
            opts.day.id,
            "--workspace",
            str(workspace),
            "--ci",
            "--json",
            str(results),
            "--gradescope",
            str(scores),
            "--profile",
            opts.profile,
            "--seed",
            str(opts.seed),
            "--device",
            opts.device,
            *opts.grade_args,
        ]
        if opts.only:
            command += ["--only", ",".join(opts.only)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
        package_parent = str(Path(__file__).resolve().parents[1])  # this grader, installed or not
        env.update(
            QUIZ_HISTORY="off",
            NO_COLOR="1",
            COLUMNS="100",
            TMPDIR=str(tmp),
            PYTHONPATH=os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p),
        )
        report_txt = tmp / "report.txt"  # NAME.txt once the grader has ended, whatever its end
        try:
            with open(report_txt, "wb") as log:
                with self._lock:
                    if self.interrupt.is_set():
                        return
                    proc = subprocess.Popen(
                        command,
                        cwd=tmp,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.PIPE,
                        start_new_session=True,
                    )
                    self._running[proc.pid] = proc
                try:
                    _, stderr = proc.communicate(timeout=opts.submission_timeout)
                except subprocess.TimeoutExpired:
                    _kill_group(proc)
                    _, stderr = proc.communicate()
                    outcome.state = TIMED_OUT
                    outcome.problem = (
                        f"grading took longer than {opts.submission_timeout:g} s and was stopped"
                    )
                    return
                finally:
                    with self._lock:
                        self._running.pop(proc.pid, None)
                    _kill_group(proc)  # anything the grader left behind
        finally:
            safefs.write_atomic(opts.out / f"{stem}.txt", report_txt.read_bytes(), opts.out)
        if proc.returncode not in (0, 1) or not results.is_file():
            tail = stderr.decode(errors="replace").strip().splitlines()[-5:]
            outcome.problem = f"the grader exited with code {proc.returncode}" + (
                ": " + " / ".join(tail) if tail else ""
            )
            return
        data = json.loads(results.read_text(encoding="utf-8"))
        data["workspace"] = str(submission.path)
        data["submission"] = submission.name
        outcome.results = data
        outcome.scores = json.loads(scores.read_text(encoding="utf-8"))
        safefs.write_atomic(opts.out / f"{stem}.json", json.dumps(data, indent=2) + "\n", opts.out)
        outcome.state = GRADED


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def gradebook_rows(outcomes: list[Outcome], exercise_ids: list[str]) -> list[dict]:
    """A row per submission: totals, then the points of each exercise."""
    rows = []
    for o in outcomes:
        row = {
            "submission": o.submission.name,
            "state": o.state,
            "score": "",
            "max_score": "",
            "percent": "",
            "exercises_passed": "",
            "exercises": "",
            "questions_right": "",
            "questions_judged": "",
            "verdict": "",
            "passed": "",
            "seconds": f"{o.seconds:.1f}",
            "problem": o.problem,
        }
        if o.results is not None and o.scores is not None:
            exercises = o.results["exercises"]
            # the exercises' tests come first; the checkpoint questions have columns of their own
            tests = o.scores["tests"][: len(exercises)]
            score, top = total([t["score"] for t in tests]), total([t["max_score"] for t in tests])
            judged = [q for q in o.results["questions"] if q["outcome"] in ("correct", "wrong")]
            verdict = o.results.get("verdict") or {}
            row.update(
                score=score,
                max_score=top,
                percent=f"{100 * score / top:.1f}" if top else "",
                exercises_passed=sum(e["status"] == "pass" for e in exercises),
                exercises=len(exercises),
                questions_right=sum(q["outcome"] == "correct" for q in judged),
                questions_judged=len(judged),
                verdict=verdict.get("decision", ""),
                passed="yes" if o.results["passed"] else "no",
            )
            row["problem"] = row["problem"] or _why_not(exercises)
            per_exercise = {e["id"]: t["score"] for e, t in zip(exercises, tests, strict=True)}
            row.update({_column(i): per_exercise.get(i, "") for i in exercise_ids})
        else:
            row.update({_column(i): "" for i in exercise_ids})
        rows.append(row)
    return rows


def _why_not(exercises: list[dict], shown: int = 3) -> str:
    """What keeps a graded submission from full marks, one clause per exercise that does not pass
    (the first few), for the gradebook's problem column."""
    bad = [e for e in exercises if e.get("status") != "pass"]
    clauses = [
        f"{_column(e['id'])}: {str(e.get('status', '')).replace('_', ' ')}"
        + (f", {str(e['reason']).splitlines()[0][:160]}" if e.get("reason") else "")
        for e in bad[:shown]
    ]
    return "; ".join(clauses) + (f"; and {len(bad) - shown} more" if len(bad) > shown else "")


def _cell(value):
    """A gradebook cell a spreadsheet shows as text: learner-controlled text (a submission's name,
    a reason quoting its code) that starts like a formula, or has one after a separator, gets an
    apostrophe before it, and control characters are written out."""
    if not isinstance(value, str):
        return value
    # after a separator too: a spreadsheet that splits on ";" (most European locales) starts a cell there
    value = re.sub(r"([;,|])(\s*)([=+\-@])", r"\1\2'\3", neutral(value))
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _column(exercise_id: str) -> str:
    return exercise_id.split(".", 1)[1]


def write_gradebook(path: Path, outcomes: list[Outcome], exercise_ids: list[str]) -> None:
    rows = gradebook_rows(outcomes, exercise_ids)
    fields = [
        "submission",
        "state",
        "score",
        "max_score",
        "percent",
        "exercises_passed",
        "exercises",
        "questions_right",
        "questions_judged",
        "verdict",
        "passed",
        "seconds",
        "problem",
        *map(_column, exercise_ids),
    ]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    safefs.write_atomic(path, text.getvalue(), path.parent)
