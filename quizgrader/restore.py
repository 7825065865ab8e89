"""Putting a learner's files back to the pristine stubs, taking that back, and finding a
reference solution's source.

Nothing is lost. Every change first writes a backup set, a folder under WORKSPACE/.quiz/backups/
(`reset-YYYYMMDD-HHMMSS-N`, N counting every set of the workspace) with the files it is about to
replace at their paths in the workspace, and a manifest.json: what was done, when, and each
file's SHA-256 before and after. `undo` restores the newest reset's files after backing up what
it overwrites as a set of its own (`undo-...`), so an undo can be taken back too (`redo`). Each
file is replaced in one rename (temporary file + os.replace): an interrupted change leaves every
file either as it was or as it should be, never half-written. Nothing is written through a link
in the workspace (safefs): a change that would be is refused before anything is written.

Functions on paths that print nothing; `quiz reset` and `quiz solution` word the outcome.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import daypacks, safefs
from .catalog import Exercise, load_day

MANIFEST = "manifest.json"
_SET_NAME = re.compile(r"^(reset|undo|redo)-(\d{8}-\d{6})-(\d+)$")
_DEFINITION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class RestoreError(ValueError):
    """A change that cannot be made as asked. Nothing was changed; the message says why."""


class Unparsable(RestoreError):
    """The learner's file is not valid Python, so the span of one exercise cannot be told."""

    def __init__(self, file: str, line: int | None, problem: str) -> None:
        self.file, self.line, self.problem = file, line, problem
        where = f"{file}, line {line}" if line else file
        super().__init__(f"{where}: {problem}")


class NothingToTakeBack(RestoreError):
    """`undo` with no reset left to undo, or `redo` with no undo left to redo."""


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to the workspace, "day16/attention.py"
    before: str | None  # SHA-256 of the file before the change; None: it did not exist
    after: str | None  # SHA-256 after; None: the change removed it
    edited: bool = False  # undo/redo: it had changed since the set taken back was made


@dataclass
class BackupSet:
    path: Path  # WORKSPACE/.quiz/backups/reset-20250101-120000-3
    kind: str  # reset | undo | redo
    what: str  # what was reset: "day16.attention.softmax", "all of day16" (undo/redo: the same)
    at: datetime  # UTC
    seq: int
    files: list[FileChange] = field(default_factory=list)
    takes_back: str | None = None  # undo/redo: the name of the set it took back
    undone_by: str | None = None  # the name of the set that took this one back

    @property
    def name(self) -> str:
        return self.path.name

    def copy_of(self, rel: str) -> Path:
        """Where this set keeps the file `rel` as it was before the change."""
        return self.path / rel

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "what": self.what,
            "at": self.at.isoformat(timespec="microseconds"),
            "seq": self.seq,
            "takes_back": self.takes_back,
            "undone_by": self.undone_by,
            "files": [
                {"path": f.path, "before": f.before, "after": f.after, "edited": f.edited} for f in self.files
            ],
        }


@dataclass
class Outcome:
    what: str
    changes: list[FileChange]  # the files written; empty: nothing needed changing
    backup: BackupSet | None  # the set holding what was replaced; None: nothing changed
    lines: tuple[int, int] | None = None  # an exercise's reset: the learner's lines replaced
    taken_back: BackupSet | None = None  # undo/redo: the set it took back
    inserted: bool = False  # an exercise's reset: the definition was missing and was added


# ------------------------------------------------------------------------------------ backup sets


def backups_dir(workspace: Path) -> Path:
    return Path(workspace) / ".quiz" / "backups"


def sets(workspace: Path) -> list[BackupSet]:
    """The workspace's complete backup sets, oldest first. A folder without a manifest is a set
    whose writing was interrupted before anything was replaced: not a change to take back."""
    root = backups_dir(workspace)
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.is_dir() and _SET_NAME.match(path.name) and (path / MANIFEST).is_file():
            found.append(_read_set(path))
    return sorted(found, key=lambda s: (s.seq, s.name))


def _read_set(path: Path) -> BackupSet:
    try:
        data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        return BackupSet(
            path=path,
            kind=data["kind"],
            what=data["what"],
            at=datetime.fromisoformat(data["at"]),
            seq=int(data["seq"]),
            takes_back=data.get("takes_back"),
            undone_by=data.get("undone_by"),
            files=[
                FileChange(f["path"], f["before"], f["after"], bool(f.get("edited"))) for f in data["files"]
            ],
        )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise RestoreError(
            f"the backup set {path} has a manifest that cannot be read ({e}); nothing was "
            "changed. Move that folder out of .quiz/backups/ to go on"
        ) from None


def _new_set(workspace: Path, kind: str, now: datetime) -> tuple[Path, int]:
    """A fresh, empty set folder; its number is one more than any set's so far, so the order of
    the sets never depends on the clock."""
    root = backups_dir(workspace)
    safefs.make_dirs(root, workspace)
    numbers = [int(m.group(3)) for p in root.iterdir() if (m := _SET_NAME.match(p.name))]
    seq = max(numbers, default=0) + 1
    stamp = now.astimezone().strftime("%Y%m%d-%H%M%S")
    while True:
        path = root / f"{kind}-{stamp}-{seq}"
        try:
            path.mkdir()
            return path, seq
        except FileExistsError:
            seq += 1


def _write_manifest(backup: BackupSet, workspace: Path) -> None:
    safefs.write_atomic(backup.path / MANIFEST, json.dumps(backup.to_dict(), indent=2) + "\n", workspace)


# ------------------------------------------------------------------------------------------ files


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _apply(
    workspace: Path,
    new: dict[str, bytes | None],
    kind: str,
    what: str,
    now: datetime | None,
    takes_back: str | None = None,
    edited: Iterable[str] = (),
) -> BackupSet:
    """Back up the current version of every file in `new`, then write `new` (None: remove). The
    manifest is written before any file is replaced, so the set can be taken back whatever
    happens next. A link in the workspace on the way to any of them is refused first."""
    for rel in new:
        safefs.refuse_links(Path(workspace, rel).parent, workspace, writing=Path(workspace, rel))
    now = (now or datetime.now(UTC)).astimezone(UTC)
    path, seq = _new_set(workspace, kind, now)
    edited = set(edited)
    changes = []
    for rel, data in new.items():
        current = _read(Path(workspace) / rel)
        if current is not None:
            safefs.write_atomic(path / rel, current, workspace)
            if _read(path / rel) != current:
                raise RestoreError(
                    f"the backup of {rel} in {path} does not read back as written; nothing was changed"
                )
        changes.append(
            FileChange(
                rel,
                None if current is None else sha256(current),
                None if data is None else sha256(data),
                rel in edited,
            )
        )
    backup = BackupSet(path, kind, what, now, seq, changes, takes_back=takes_back)
    _write_manifest(backup, workspace)
    for rel, data in new.items():
        target = Path(workspace) / rel
        if data is None:
            safefs.unlink(target, workspace)
        else:
            safefs.write_atomic(target, data, workspace)
    return backup


def check_workspace(workspace: Path, stubs: Path | None = None) -> None:
    """The stubs and the reference are the grader's own: never a workspace to reset."""
    here = Path(workspace).resolve()
    packs = daypacks.packs().values()
    if here in {Path(p).resolve() for p in ([stubs] if stubs else [p.exercises for p in packs])}:
        raise RestoreError(
            f"{workspace} is the grader's own copy of the stubs, so there is no separate "
            "pristine copy to restore it from. Work in a workspace of your own (`quiz init DIR`), "
            "or restore these files from version control"
        )
    if here in {p.reference.resolve() for p in packs}:
        raise RestoreError(
            f"{workspace} holds the reference solutions the grader compares against; "
            "it is not a workspace to reset"
        )


# ------------------------------------------------------------------------------------ definitions


def _definitions(tree: ast.Module, name: str) -> list[ast.stmt]:
    return [n for n in tree.body if isinstance(n, _DEFINITION) and n.name == name]


def span(node: ast.stmt) -> tuple[int, int]:
    """First and last line of a top-level definition, its decorators included."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return first, node.end_lineno or node.lineno


def _lines(text: str) -> list[str]:
    """Lines with their own endings, split where Python's tokenizer splits (\\n, \\r\\n, \\r)."""
    return io.StringIO(text, newline="").readlines()


def _parse(text: str, file: str) -> ast.Module:
    try:
        return ast.parse(text.removeprefix("\ufeff"))
    except SyntaxError as e:
        raise Unparsable(file, e.lineno, e.msg) from None
    except ValueError as e:  # null bytes
        raise Unparsable(file, None, str(e)) from None
    except (RecursionError, MemoryError):
        raise Unparsable(file, None, "nested or chained too deeply to parse") from None


@dataclass(frozen=True)
class Snippet:
    file: str  # "day16/attention.py"
    start: int  # first line in that file
    end: int
    text: str


def definition(source: str, name: str, file: str) -> Snippet | None:
    """The top-level def or class `name` of `source`, as written (decorators included)."""
    tree = _parse(source, file)
    nodes = _definitions(tree, name)
    if not nodes:
        return None
    start, end = span(nodes[-1])  # the one Python keeps when a name is defined twice
    return Snippet(file, start, end, "".join(_lines(source)[start - 1 : end]))


def splice_stub(learner: str, stub: str, name: str, file: str) -> tuple[str, tuple[int, int] | None]:
    """`learner` with its top-level `name` replaced by the stub's (added, after the definitions that
    come before it in the stub, when the learner's file lacks it); everything else stays as it is.
    Also the learner's lines that were replaced (None: added)."""
    mine = _parse(learner, file)
    theirs = _parse(stub, f"the stub of {file}")
    stub_nodes = _definitions(theirs, name)
    if len(stub_nodes) != 1:
        raise RestoreError(f"the stub of {file} does not define `{name}` once")
    s0, s1 = span(stub_nodes[0])
    newline = "\r\n" if "\r\n" in learner else "\n"
    chunk = [line.rstrip("\r\n") + newline for line in _lines(stub)[s0 - 1 : s1]]
    lines = _lines(learner)
    found = _definitions(mine, name)
    if len(found) > 1:
        where = ", ".join(str(span(n)[0]) for n in found)
        raise RestoreError(
            f"{file} defines `{name}` {len(found)} times (lines {where}); which one to reset is not guessed"
        )
    if found:
        a, b = span(found[0])
        replaced: tuple[int, int] | None = (a, b)
        new = lines[: a - 1] + chunk + lines[b:]
    else:
        replaced = None
        before = [n.name for n in theirs.body if isinstance(n, _DEFINITION)]
        before = before[: before.index(name)]
        ends = [span(n)[1] for n in mine.body if isinstance(n, _DEFINITION) and n.name in before]
        at = max(ends) if ends else len(lines)
        head = lines[:at]
        if head and not head[-1].endswith(("\n", "\r")):
            head[-1] += newline
        new = head + [newline, newline] + chunk + lines[at:]
    result = "".join(new)
    after = _definitions(_parse(result, file), name)
    if len(after) != 1 or ast.dump(after[0]) != ast.dump(stub_nodes[0]):
        raise RestoreError(
            f"resetting `{name}` in {file} did not give the stub's definition back; nothing "
            "was changed (`--file` resets the whole file)"
        )
    return result, replaced


# ---------------------------------------------------------------------------------------- resets


def _stub(rel: str, stubs: Path | None = None) -> Path:
    """The stub of `rel` ("day16/attention.py", or a day's folder "day16"): under `stubs` when
    given, else in the stubs of the day's pack."""
    return (stubs or daypacks.get(rel.split("/")[0]).exercises) / rel


def stub_files(days: Iterable[str], stubs: Path | None = None) -> list[str]:
    """The stub files of `days`, relative to a workspace: "day16/attention.py", ..."""
    return [f"{d}/{p.name}" for d in days for p in sorted(_stub(d, stubs).glob("*.py"))]


def differing(workspace: Path, rels: Iterable[str], stubs: Path | None = None) -> list[str]:
    """Those of `rels` whose workspace copy is missing or differs from the stub."""
    return [r for r in rels if _read(Path(workspace) / r) != _stub(r, stubs).read_bytes()]


def reset_files(
    workspace: Path, rels: list[str], what: str, stubs: Path | None = None, now: datetime | None = None
) -> Outcome:
    """Restore whole files from the stubs: those that differ, in one backup set."""
    check_workspace(workspace, stubs)
    todo = differing(workspace, rels, stubs)
    if not todo:
        return Outcome(what, [], None)
    backup = _apply(workspace, {r: _stub(r, stubs).read_bytes() for r in todo}, "reset", what, now)
    return Outcome(what, backup.files, backup)


def reset_all(
    workspace: Path, days: Iterable[str], stubs: Path | None = None, now: datetime | None = None
) -> Outcome:
    days = list(days)
    return reset_files(workspace, stub_files(days, stubs), f"all of {', '.join(days)}", stubs, now)


def reset_exercise(
    workspace: Path, ex: Exercise, stubs: Path | None = None, now: datetime | None = None
) -> Outcome:
    """Put the stub's definition of one exercise back, leaving the rest of its file as it is. A
    missing file is restored whole; a file that is not valid Python is left alone (Unparsable)."""
    check_workspace(workspace, stubs)
    target = Path(workspace) / ex.file
    stub = _stub(ex.file, stubs).read_bytes()
    current = _read(target)
    if current is None:
        return reset_files(workspace, [ex.file], ex.id, stubs, now)
    if current == stub:
        return Outcome(ex.id, [], None)
    try:
        text = current.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Unparsable(ex.file, current[: e.start].count(b"\n") + 1, "this is not UTF-8 text") from None
    result, replaced = splice_stub(text, stub.decode("utf-8"), ex.name, ex.file)
    if result == text:
        return Outcome(ex.id, [], None)
    backup = _apply(workspace, {ex.file: result.encode("utf-8")}, "reset", ex.id, now)
    return Outcome(ex.id, backup.files, backup, lines=replaced, inserted=replaced is None)


# -------------------------------------------------------------------------------- undo and redo


def undo(workspace: Path, now: datetime | None = None) -> Outcome:
    """Bring back what the newest reset (or redo) not yet undone replaced. The files it
    overwrites are backed up first as an `undo-` set, which `redo` takes back."""
    all_sets = sets(workspace)
    targets = [s for s in all_sets if s.kind in ("reset", "redo") and s.undone_by is None]
    if not targets:
        why = (
            "every reset there is undone already"
            if any(s.kind == "reset" for s in all_sets)
            else "there is no reset there"
        )
        raise NothingToTakeBack(f"nothing to undo in {backups_dir(workspace)}: {why}")
    return _take_back(workspace, targets[-1], "undo", now)


def redo(workspace: Path, now: datetime | None = None) -> Outcome:
    """Take back the newest undo that is not taken back already, as long as no reset came after it."""
    all_sets = sets(workspace)
    last_reset = max((s.seq for s in all_sets if s.kind == "reset"), default=0)
    targets = [s for s in all_sets if s.kind == "undo" and s.undone_by is None and s.seq > last_reset]
    if not targets:
        raise NothingToTakeBack(f"nothing to redo in {backups_dir(workspace)}: no undo since the last reset")
    return _take_back(workspace, targets[-1], "redo", now)


def _take_back(workspace: Path, target: BackupSet, kind: str, now: datetime | None) -> Outcome:
    new: dict[str, bytes | None] = {}
    edited = []
    for f in target.files:
        if f.before is None:
            new[f.path] = None  # it did not exist before that change
        else:
            saved = _read(target.copy_of(f.path))
            if saved is None or sha256(saved) != f.before:
                raise RestoreError(
                    f"{target.copy_of(f.path)} is missing or not the file the backup set "
                    f"{target.name} saved; nothing was changed"
                )
            new[f.path] = saved
        current = _read(Path(workspace) / f.path)
        if (None if current is None else sha256(current)) != f.after:
            edited.append(f.path)
    backup = _apply(workspace, new, kind, target.what, now, takes_back=target.name, edited=edited)
    target.undone_by = backup.name
    _write_manifest(target, workspace)
    return Outcome(backup.what, backup.files, backup, taken_back=target)


# -------------------------------------------------------------------------------------- solutions


def solution(ex: Exercise, reference: Path | None = None) -> tuple[Snippet, list[Snippet]]:
    """The reference's definition of `ex`, and the file's own constants and private helpers it
    uses (never another exercise's solution)."""
    reference = reference or daypacks.day_of(ex.id).reference
    source = (reference / ex.file).read_text(encoding="utf-8")
    found = definition(source, ex.name, ex.file)
    if found is None:
        raise RestoreError(f"the reference's {ex.file} has no `{ex.name}`")
    tree = _parse(source, ex.file)
    node = _definitions(tree, ex.name)[-1]
    used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    exercises = {e.name for e in load_day(ex.day).exercises if e.module == ex.module}
    lines = _lines(source)
    helpers = []
    for top in tree.body:
        names = _bound(top)
        if (
            names & used
            and not names & exercises
            and (isinstance(top, (ast.Assign, ast.AnnAssign)) or all(n.startswith("_") for n in names))
        ):
            a, b = span(top) if isinstance(top, _DEFINITION) else (top.lineno, top.end_lineno or top.lineno)
            helpers.append(Snippet(ex.file, a, b, "".join(lines[a - 1 : b])))
    return found, helpers


def _bound(node: ast.stmt) -> set[str]:
    """The names a top-level statement binds (definitions and plain assignments only)."""
    if isinstance(node, _DEFINITION):
        return {node.name}
    targets = (
        node.targets
        if isinstance(node, ast.Assign)
        else [node.target]
        if isinstance(node, ast.AnnAssign)
        else []
    )
    return {t.id for t in targets if isinstance(t, ast.Name)}
