"""A grading's own copy of the workspace: what the learner's processes read, and what the grader
scans and fingerprints, so that all of them see the same bytes.

Only the Python files of the day folders are copied, as regular files: a link is followed only when
it resolves inside the workspace, and a file that is a link to somewhere outside it (the reference,
another submission, the rest of the machine), or a hard link to one of the reference's files, is not
copied but refused, with the reason. The learner's processes may read the copy and nothing of the
workspace itself, and may write to neither.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import confine

MAX_FILE = 4 * 2**20  # bytes: an exercise module is a few kilobytes


@dataclass
class Snapshot:
    workspace: Path  # the learner's folder
    root: Path  # the copy
    refused: dict[str, str] = field(default_factory=dict)  # workspace-relative path -> why it was left out

    def problem(self, file: str) -> str | None:
        """Why `file` (or a folder holding it) was left out of the copy, or None."""
        parts = file.split("/")
        for i in range(len(parts), 0, -1):
            if (why := self.refused.get("/".join(parts[:i]))) is not None:
                return why
        return None

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def take(workspace: Path, folders: list[str], reference: Path | None = None) -> Snapshot:
    """Copy the `.py` files of `folders` ("day16", ...) of `workspace` into a new temporary folder."""
    real = Path(os.path.realpath(workspace))
    snap = Snapshot(workspace=workspace, root=Path(tempfile.mkdtemp(prefix="quiz-ws-")))
    os.chmod(snap.root, 0o755)
    protected = _inodes(reference) if reference is not None else set()
    names: dict[tuple[int, int], tuple[int, list[str]]] = {}
    for folder in folders:
        _copy_tree(real, real / folder, folder, snap, protected, seen=set(), names=names)
    for links, rels in names.values():
        if links > len(rels):  # a hard link: the same file also has a name outside these folders
            for rel in rels:
                snap.refused[rel] = (
                    f"{rel} is a hard link to a file that has {links - len(rels)} other name(s) "
                    "outside the graded folders"
                )
                (snap.root / rel).unlink(missing_ok=True)
    # Readable by every user, whatever the umask: a grader run as root runs the code as nobody.
    confine.open_to_others(snap.root)
    return snap


def _outside(real_root: Path, path: str) -> bool:
    return not (path == str(real_root) or path.startswith(str(real_root) + os.sep))


def _copy_tree(
    root: Path, folder: Path, rel: str, snap: Snapshot, protected: set, seen: set, names: dict
) -> None:
    try:
        info = os.lstat(folder)
    except OSError:
        return  # no such folder: its exercises are missing
    if stat.S_ISLNK(info.st_mode):
        target = os.path.realpath(folder)
        if _outside(root, target):
            snap.refused[rel] = f"{rel} is a link to {target}, outside the workspace"
            return
        folder = Path(target)
    if not folder.is_dir() or str(folder) in seen:
        return
    seen.add(str(folder))
    (snap.root / rel).mkdir(parents=True, exist_ok=True)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        name = f"{rel}/{entry.name}"
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir(follow_symlinks=False) or (entry.is_symlink() and os.path.isdir(entry.path)):
            _copy_tree(root, Path(entry.path), name, snap, protected, seen, names)
        elif entry.name.endswith(".py"):
            _copy_file(root, Path(entry.path), name, snap, protected, names)


def _copy_file(root: Path, path: Path, rel: str, snap: Snapshot, protected: set, names: dict) -> None:
    source = path
    if path.is_symlink():
        target = os.path.realpath(path)
        if _outside(root, target):
            snap.refused[rel] = f"{rel} is a link to {target}, outside the workspace"
            return
        source = Path(target)
    try:
        info = os.stat(source)
        if not stat.S_ISREG(info.st_mode):
            snap.refused[rel] = f"{rel} is not a regular file"
            return
        if info.st_nlink > 1 and (info.st_dev, info.st_ino) in protected:
            snap.refused[rel] = f"{rel} is a hard link to the grader's own reference solution"
            return
        if info.st_nlink > 1:
            names.setdefault((info.st_dev, info.st_ino), (info.st_nlink, []))[1].append(rel)
        if info.st_size > MAX_FILE:
            snap.refused[rel] = (
                f"{rel} is {info.st_size:,} bytes; an exercise file may be {MAX_FILE // 2**20} MiB"
            )
            return
        data = source.read_bytes()
    except OSError as e:
        snap.refused[rel] = f"{rel} cannot be read: {e.strerror or e}"
        return
    dest = snap.root / rel
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _inodes(folder: Path) -> set[tuple[int, int]]:
    found = set()
    for path in Path(folder).rglob("*.py"):
        try:
            info = path.stat()
            found.add((info.st_dev, info.st_ino))
        except OSError:
            pass
    return found
