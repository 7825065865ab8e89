"""Which workspace a command works on when no `--workspace` is given.

In order: the current folder when it is a workspace (it holds the marker file `quiz.toml`, which
`quiz init` writes, or a day folder such as `day16/`); else the nearest folder above holding
`quiz.toml` (so a learner inside `day16/` is in their workspace); else `exercises/` under the
current folder (the project's own checkout). The marker's contents are not read here: only its
presence counts.

A marker, a day folder or `exercises/` that is a link leading out of the folder it is found in
counts for nothing: a planted link does not take the grader elsewhere.

Pure functions: they look at the file system and return what they found; nothing here prints.
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from .catalog import day_ids
from .safefs import shown
from .workspace_links import link_out

MARKER = "quiz.toml"
DEFAULT = Path("exercises")


class NoWorkspace(ValueError):
    """No workspace was found; the message says where it was looked for and what to type."""


def _holds(folder: Path, name: str, kind: int) -> bool:
    """Whether `folder` holds `name`, of `kind` (stat.S_IFREG or S_IFDIR), and it does not lead out
    of `folder` (a link is followed only when it stays inside)."""
    path = folder / name
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_IFMT(mode) == kind and link_out(folder, name) is None


def is_workspace(folder: Path) -> bool:
    """Whether `folder` is a workspace itself: it holds the marker or a day folder."""
    return _holds(folder, MARKER, stat.S_IFREG) or any(_holds(folder, d, stat.S_IFDIR) for d in day_ids())


def find_workspace(explicit: Path | None, cwd: Path) -> Path:
    """The workspace a command run in `cwd` works on: `explicit` when given (as given); else the
    first found of `cwd` itself, the nearest folder above it holding the marker, and `exercises/`
    under it. `cwd` itself is returned as ".", and `exercises/` as "exercises" (paths relative to
    `cwd`, as a message shows them best), a folder above as an absolute path. Raises NoWorkspace."""
    if explicit is not None:
        return explicit
    here = Path(os.path.abspath(cwd))
    if is_workspace(here):
        return Path(".")
    for above in here.parents:
        if _holds(above, MARKER, stat.S_IFREG):
            return above
    if _holds(here, str(DEFAULT), stat.S_IFDIR):
        return DEFAULT
    days = " or ".join(f"{d}/" for d in sorted(day_ids(), reverse=True))
    raise NoWorkspace(
        f"no workspace here: looked for {MARKER}, {days} in {shown(str(here))} and {MARKER} in its "
        f"parents, and {DEFAULT}/; run `quiz init my-quiz` to make one, or pass `--workspace FOLDER` "
        "(`--workspace .` for this folder)"
    )


def _same(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def flag(workspace: Path, cwd: Path) -> str:
    """` --workspace FOLDER` for a suggested command typed in `cwd`, or "" when that command would
    find `workspace` by itself. `workspace` is as the command was given it (relative to `cwd`)."""
    try:
        found = find_workspace(None, cwd)
    except NoWorkspace:
        found = None
    if found is not None and _same(Path(cwd) / found, Path(cwd) / workspace):
        return ""
    return f" --workspace {shlex.quote(shown(str(workspace)))}"
