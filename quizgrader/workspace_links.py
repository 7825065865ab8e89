"""Links in a workspace that lead out of it.

The grader grades the files inside a workspace. A symbolic link there to a file elsewhere (the
reference solutions, another learner's work) or a hard link to one of the grader's own reference
files would have the grader judge a file the learner did not write, so such files are refused by
name. A link that stays inside the workspace is the learner's business and is fine.

Pure functions: they look at the file system and return what they found; nothing here prints or
changes anything.
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

from . import daypacks
from .safefs import shown, within


def links_outside(workspace: Path, roots: list[str]) -> list[tuple[str, str]]:
    """(workspace-relative path, resolved target) of every link under `roots` (folders or files
    of the workspace, "day16", "answers") that leads outside the workspace: a symbolic link, a
    root itself included, whose target resolves outside (absolute or relative, through any chain
    of links), and a hard link (st_nlink > 1) to a file of the grader's bundled reference (its
    target: that reference file). A link that resolves inside is followed and what it leads to is
    looked at in turn, each folder once. Links are not followed to outside targets; missing roots
    are skipped. Paths use "/" and are in the order met, folders' entries sorted by name."""
    ws = os.path.realpath(workspace)
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    stack = [(Path(r).as_posix().strip("/") or ".", Path(workspace) / r) for r in reversed(roots)]
    while stack:
        rel, path = stack.pop()
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                if not within(target := os.path.realpath(path), ws):
                    found.append((rel, target))
                    continue
                st = os.stat(path)  # inside: what it leads to
        except OSError:  # missing, or a link to nothing (inside): nothing to grade
            continue
        if stat.S_ISDIR(st.st_mode):
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            try:
                names = sorted(os.listdir(path))
            except OSError:
                continue
            stack.extend((n if rel == "." else f"{rel}/{n}", path / n) for n in reversed(names))
        elif (twin := _reference_twin(path, st)) is not None:
            found.append((rel, twin))
    return found


def links_leaving(root: Path) -> list[tuple[str, str]]:
    """(root-relative path, target as the link holds it) of every symbolic link under `root`
    that is absolute or resolves outside `root`, sorted: for a copy of a learner's submission,
    which must stand on its own wherever it is copied. Links are listed, never followed."""
    real = os.path.realpath(root)
    found = []
    for folder, dirs, files in os.walk(root):  # a linked folder is among `dirs`, and not entered
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                target = os.readlink(path)
                if os.path.isabs(target) or not within(os.path.realpath(path), real):
                    found.append((Path(path).relative_to(root).as_posix(), target))
    return sorted(found)


def link_out(workspace: Path, rel: str) -> tuple[str, str] | None:
    """How the workspace path `rel` leaves the workspace: (the link, itself or a folder on the way,
    as a workspace-relative path; the resolved target), or None when it stays inside. A hard link
    to a reference file counts, as in `links_outside`."""
    ws = os.path.realpath(workspace)
    parts = Path(rel).parts
    for i in range(1, len(parts) + 1):
        path = Path(workspace, *parts[:i])
        if path.is_symlink() and not within(target := os.path.realpath(path), ws):
            return Path(*parts[:i]).as_posix(), target
    path = Path(workspace) / rel
    try:
        twin = _reference_twin(path, os.stat(path))
    except OSError:
        return None
    return None if twin is None else (Path(rel).as_posix(), twin)


def refusal(workspace: Path, rel: str) -> str | None:
    """Why the workspace file `rel` is not graded, in a sentence for the learner; None when it
    is the workspace's own."""
    found = link_out(workspace, rel)
    if found is None:
        return None
    name, link, target = shown(Path(rel).as_posix()), shown(found[0]), shown(found[1])
    if found[0] != Path(rel).as_posix():
        return (
            f"{name} lies in {link}/, a link to a folder outside the workspace (→ {target}): the grader "
            "grades only files inside the workspace; copy the folder in instead"
        )
    if not (Path(workspace) / rel).is_symlink():
        return (
            f"{name} is a hard link to the grader's own reference ({target}): the grader grades only files "
            "you wrote; put your own file there instead"
        )
    return (
        f"{name} is a link to a file outside the workspace (→ {target}): the grader grades only files "
        "inside the workspace; copy the file in instead"
    )


def _reference_twin(path: Path, st: os.stat_result) -> str | None:
    """The reference file that the regular file `path` (`st` its status) is a hard link to, if any.
    The reference's own files, graded where they are, are themselves and not links."""
    if not stat.S_ISREG(st.st_mode) or st.st_nlink < 2:
        return None
    twin = _reference_files().get((st.st_dev, st.st_ino))
    return None if twin is None or twin == os.path.realpath(path) else twin


def reference_roots() -> list[str]:
    """The folders of the day packs' reference solutions, resolved, each once."""
    return list(dict.fromkeys(os.path.realpath(p.reference) for p in daypacks.packs().values()))


@functools.lru_cache(maxsize=1)
def _reference_files() -> dict[tuple[int, int], str]:
    """(device, inode) -> resolved path, of every file of the day packs' references."""
    out = {}
    for folder, _, names in (walked for root in reference_roots() for walked in os.walk(root)):
        for n in names:
            path = os.path.realpath(os.path.join(folder, n))
            try:
                st = os.stat(path)
            except OSError:
                continue
            out[(st.st_dev, st.st_ino)] = path
    return out
