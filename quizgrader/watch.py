"""`quiz watch`: regrade what changed on every save, from one warm process.

The grader's process and its zygote import torch, Hypothesis and the reference once; each grading
still runs in a fresh child forked from the zygote, so a save never sees a module imported by an
earlier one. What to regrade comes from the files' contents, not from the file events: an event
only says "look now". A save that leaves an exercise's own code unchanged does not regrade it; a
change outside every exercise (an import, a helper) regrades the whole file. When no event arrives
for `poll` seconds the files are looked at anyway, so a mount or an editor that sends no events
still gets its saves graded.
"""

from __future__ import annotations

import ast
import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Self

from .catalog import Day
from .restore import span
from .results import ExerciseResult, GradeReport, Status
from .sandbox.snapshot import MAX_FILE

if TYPE_CHECKING:
    from .grade import Options
    from .sandbox.process import Zygote


@dataclass(frozen=True)
class FileState:
    """What a workspace file holds, as far as grading is concerned."""

    digest: str  # of the whole file
    parts: dict[str, str] | None  # top-level def/class name -> digest of its source; None: does not parse
    rest: str = ""  # digest of everything outside those definitions

    @classmethod
    def read(cls, path: Path, before: FileState | None = None) -> FileState | None:
        """The file's state; `before`, unparsed again, when the bytes are the same."""
        try:  # a regular file only: a named pipe or a device in its place would block or never end
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            try:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE:
                    return None
                with os.fdopen(fd, "rb", closefd=False) as f:
                    data = f.read()
            finally:
                os.close(fd)
        except OSError:
            return None
        digest = hashlib.sha256(data).hexdigest()
        if before is not None and before.digest == digest:
            return before
        source = data.decode("utf-8", errors="replace")
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return cls(digest, None)
        lines = source.splitlines(keepends=True)
        parts: dict[str, str] = {}
        outside = list(lines)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                first, last = span(node)
                parts[node.name] = _digest("".join(lines[first - 1 : last]))
                outside[first - 1 : last] = [""] * (last - first + 1)
        return cls(digest, parts, _digest("".join(outside)))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


Snapshot = dict[str, FileState | None]


def watched(day: Day) -> list[str]:
    """The files a save of which matters: those holding the day's exercises, and its answers."""
    return sorted({ex.file for ex in day.exercises}) + [day.answers_file]


def snapshot(day: Day, workspace: Path, before: Snapshot | None = None) -> Snapshot:
    """The state of every watched file. Files unchanged since `before` are not parsed again (the
    watcher looks twice a second)."""
    return {f: FileState.read(workspace / f, (before or {}).get(f)) for f in watched(day)}


@dataclass(frozen=True)
class Saved:
    """What a save changed: exercises to regrade (the day's order), and whether the answers did."""

    exercises: list[str]
    answers: bool = False


def changed_exercises(day: Day, before: Snapshot, after: Snapshot) -> list[str]:
    """The exercises whose code differs between two snapshots, in the day's order. An exercise
    changes with its own definition; every exercise of a file changes when the file appears,
    disappears, stops or starts parsing, or changes outside the definitions."""
    out = []
    for ex in day.ordered():
        old, new = before.get(ex.file), after.get(ex.file)
        if old == new or (old is not None and new is not None and old.digest == new.digest):
            continue
        whole = old is None or new is None or old.parts is None or new.parts is None or old.rest != new.rest
        if whole or old.parts.get(ex.name) != new.parts.get(ex.name):
            out.append(ex.id)
    return out


def dependents(day: Day, ids: Iterable[str]) -> list[str]:
    """Exercises that call one of `ids`, directly or not (their results may be out of date)."""
    found: set[str] = set()
    frontier = set(ids)
    while frontier:
        frontier = {ex.id for ex in day.exercises if set(ex.depends_on) & frontier} - found - set(ids)
        found |= frontier
    return [ex.id for ex in day.ordered() if ex.id in found]


def _relevant(workspace: Path, day: Day) -> Callable[[object, str], bool]:
    files = {str((workspace / f).resolve()) for f in watched(day)}

    def keep(change: object, path: str) -> bool:
        return str(Path(path).resolve()) in files

    return keep


def changes(
    day: Day,
    workspace: Path,
    stop: threading.Event,
    *,
    since: Snapshot | None = None,
    poll: float = 0.5,
    step_ms: int = 50,
    force_polling: bool = False,
    on_missed_events: Callable[[], None] | None = None,
) -> Iterator[Saved]:
    """Yield what each save changed, once it settles: `step_ms` after the last file event of a
    burst (an editor's save is often several), or on the next look every `poll` seconds when no
    event came. Saves made since the snapshot `since` (taken before the first grading, say) come
    first. Ends when `stop` is set. `on_missed_events` is called once if a change is found that no
    event announced."""
    from watchfiles import watch

    seen = since if since is not None else snapshot(day, workspace)
    told = False
    settling = True  # the first look also covers the moment before the watcher started
    now = snapshot(day, workspace, seen)
    if (saved := _saved(day, seen, now)) is not None:
        yield saved
    seen = now
    for events in watch(
        workspace,
        watch_filter=_relevant(workspace, day),
        step=step_ms,
        debounce=1600,
        rust_timeout=int(poll * 1000),
        yield_on_timeout=True,
        force_polling=force_polling,
        poll_delay_ms=int(poll * 1000),
        stop_event=stop,
        raise_interrupt=True,
    ):
        now = snapshot(day, workspace, seen)
        saved, seen = _saved(day, seen, now), now
        missed = saved is not None and not events and not settling
        settling = False
        if saved is None:
            continue
        if missed and not told and not force_polling and on_missed_events:
            told = True
            on_missed_events()
        yield saved


def _saved(day: Day, before: Snapshot, after: Snapshot) -> Saved | None:
    answers = day.answers_file
    saved = Saved(
        changed_exercises(day, before, after), _digest_of(before, answers) != _digest_of(after, answers)
    )
    return saved if saved.exercises or saved.answers else None


def _digest_of(state: Snapshot, file: str) -> str | None:
    return s.digest if (s := state.get(file)) is not None else None


class Loop:
    """The latest result of every exercise, kept across saves, and the grading of what changed."""

    def __init__(self, day: Day, options: Options, zygote: Zygote) -> None:
        from .analysis.diagnosis import Diagnoser

        self.day, self.options, self.zygote = day, options, zygote
        self.doctor = Diagnoser()  # its mutants are built once, on the first failure that needs them
        self.results: dict[str, ExerciseResult] = {}

    def grade(
        self,
        ids: list[str] | None = None,
        progress: Callable[[str, ExerciseResult | None], None] | None = None,
    ) -> GradeReport:
        """Grade `ids` (all: None), each in a fresh child, against what the others last did."""
        from .grade import grade

        earlier = {k: v for k, v in self.results.items() if ids is None or k not in ids}
        report = grade(
            self.day.id, replace(self.options, only=ids), progress, self.zygote, self.doctor, earlier
        )
        self.results.update((e.id, e) for e in report.exercises)
        return report

    def answers(self) -> tuple[str | None, str | None, list, set[int]]:
        """The answers file judged as it is now: (its path, why it cannot be used, the questions,
        the rubric rows given a rating of the learner's own)."""
        from .grade import judge_answers

        file, error, questions, ratings = judge_answers(self.day, self.options.workspace)
        return file, error, questions, {row for row, rating in (ratings or {}).items() if rating}

    def stale(self, ids: list[str]) -> list[str]:
        """The exercises, tried already, whose last result may be out of date now that `ids`
        changed: those that call them."""
        return [
            d
            for d in dependents(self.day, ids)
            if (r := self.results.get(d)) is not None and r.status is not Status.NOT_ATTEMPTED
        ]

    def totals(self) -> dict[Status, int]:
        counts: dict[Status, int] = {}
        for ex in self.day.ordered():
            if (r := self.results.get(ex.id)) is not None:
                counts[r.status] = counts.get(r.status, 0) + 1
        return counts

    def close(self) -> None:
        self.doctor.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["FileState", "Loop", "Saved", "changed_exercises", "changes", "dependents", "snapshot"]
