"""The grader's own writes: atomic, and never through a link in the workspace.

The learner's code runs with write access to its workspace, so it can plant a symbolic link
there (`.quiz -> ~`, `report.json -> ~/.bashrc`) for the grader to write through after the run.
Every file the grader writes goes through this module:

- Folders inside the workspace are opened one component at a time with O_NOFOLLOW, relative to
  the folder opened before (no path is looked up twice), so a link anywhere on the way is
  refused with LinkError, naming the link and where it points. Folders outside the workspace
  (an output folder the person running the grader chose) are opened as the system resolves them.
- A file is written to a fresh temporary file in its folder (O_EXCL|O_NOFOLLOW), flushed to disk
  and renamed over the final name: a reader sees the old file or the new one, and a link at the
  final name is replaced, never followed. The new file has the permissions of a new file (those
  of the file it replaces, when that was a regular file).

Paths are named in messages as `shown` makes them: learner-chosen names reach a terminal, a CSV
or a log without control characters.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class LinkError(OSError):
    """A write refused because a link inside the workspace lies on its path. An OSError, so a
    caller that reports failed writes reports this one too."""

    def __init__(self, path: Path, link: Path, target: str) -> None:
        self.path, self.link, self.target = path, link, target
        what = "it is a link" if link == path else f"{shown(str(link))} is a link"
        self.message = (
            f"refused to write {shown(str(path))}: {what} to {shown(target)}, and the grader never "
            "writes through a link in the workspace (remove the link, then run again)"
        )
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def shown(text: str) -> str:
    """`text` with control and other unprintable characters written as escapes (\\x1b, \\n):
    safe to put on one line of a terminal, a CSV cell, a CI log or an XML attribute."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def within(path: str, root: str) -> bool:
    """Whether the (resolved) `path` is `root` or lies under it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _open_folder(folder: Path, workspace: Path, create: bool, writing: Path) -> tuple[int, bool]:
    """A descriptor of `folder`, and whether it lies inside `workspace`. The components after the
    first one that resolves inside the workspace are opened without following links (made first
    when `create`); those before it as the system resolves them. `writing`: the path a refusal
    names."""
    folder = Path(os.path.abspath(folder))
    root = os.path.realpath(workspace)
    parts = folder.parts
    start = next(
        (i for i in range(len(parts)) if within(os.path.realpath(Path(*parts[: i + 1])), root)), None
    )
    outside = folder if start is None else Path(*parts[: start + 1])
    if create:
        os.makedirs(outside, exist_ok=True)
    fd = os.open(outside, _DIR)
    if start is None:
        return fd, False
    here = outside
    try:
        for name in parts[start + 1 :]:
            here = here / name
            child = _open_child(fd, name, here, create, writing)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd, True


def _open_child(fd: int, name: str, here: Path, create: bool, writing: Path) -> int:
    """The folder `name` in the folder `fd`, never through a link (made first when missing and
    `create`)."""
    try:
        return os.open(name, _DIR | os.O_NOFOLLOW, dir_fd=fd)
    except FileNotFoundError:
        if not create:
            raise
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            _refuse_link(fd, name, here, writing)
        raise
    try:
        os.mkdir(name, dir_fd=fd)
    except FileExistsError:  # made meanwhile: opened, and checked, all the same
        pass
    return _open_child(fd, name, here, False, writing)


def _refuse_link(fd: int, name: str, link: Path, path: Path) -> None:
    """Raise LinkError when `name` in the folder `fd` is a link (`link` is how it is named)."""
    try:
        os.readlink(name, dir_fd=fd)
    except OSError:
        return
    raise LinkError(path, link, os.path.realpath(link))


def _split(path: Path) -> tuple[Path, str]:
    path = Path(os.path.abspath(path))
    if not path.name:
        raise IsADirectoryError(errno.EISDIR, "not a file name", str(path))
    return path.parent, path.name


def write_atomic(path: Path, data: bytes | str, workspace: Path) -> None:
    """Write `data` (str: as UTF-8) to `path` in one rename, its folders made as needed. No link
    inside `workspace` is followed: one on the way raises LinkError, one at `path` is replaced."""
    if isinstance(data, str):
        data = data.encode("utf-8", "backslashreplace")  # a lone surrogate is written as \udcff
    parent, name = _split(path)
    fd, _ = _open_folder(parent, workspace, True, parent / name)
    try:
        tmp, out = _temporary(fd, name)
        try:
            with os.fdopen(out, "wb") as f:
                f.write(data)
                f.flush()
                _keep_mode(fd, name, f.fileno())
                os.fsync(f.fileno())
            os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=fd)
            except FileNotFoundError:
                pass
            raise
        try:
            os.fsync(fd)  # the rename itself reaches the disk
        except OSError:
            pass  # some file systems cannot sync a folder
    finally:
        os.close(fd)


def _temporary(fd: int, name: str) -> tuple[str, int]:
    """A new file beside `name`, made by this call (O_EXCL: nothing planted there is reused)."""
    for _ in range(100):
        tmp = f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return tmp, os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=fd
            )
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", name)


def _keep_mode(fd: int, name: str, out: int) -> None:
    """Give the new file the permissions of the regular file it replaces (never set-id bits)."""
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode):
        os.fchmod(out, stat.S_IMODE(st.st_mode) & 0o777)


def append(path: Path, text: str, workspace: Path) -> None:
    """Add `text` to the end of `path` (made when missing), as `open(path, "a")` does, except that
    no link inside `workspace` is followed, the file itself included."""
    parent, name = _split(path)
    fd, inside = _open_folder(parent, workspace, False, parent / name)
    try:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | (os.O_NOFOLLOW if inside else 0)
        try:
            out = os.open(name, flags, 0o666, dir_fd=fd)
        except OSError as e:
            if inside and e.errno in (errno.ELOOP, errno.EMLINK):
                _refuse_link(fd, name, parent / name, parent / name)
            raise
        with os.fdopen(out, "a", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
    finally:
        os.close(fd)


def make_dirs(folder: Path, workspace: Path, writing: Path | None = None) -> None:
    """`os.makedirs(folder, exist_ok=True)`, refusing a link inside `workspace` on the way (the
    refusal names `writing`, the file the folder is made for, when given)."""
    fd, _ = _open_folder(folder, workspace, True, Path(os.path.abspath(writing or folder)))
    os.close(fd)


def unlink(path: Path, workspace: Path) -> None:
    """Remove the file `path` if it is there (a link there is removed, not what it points to);
    a link inside `workspace` on the way is refused."""
    parent, name = _split(path)
    try:
        fd, _ = _open_folder(parent, workspace, False, parent / name)
    except FileNotFoundError:
        return
    try:
        os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def refuse_links(path: Path, workspace: Path, writing: Path | None = None) -> None:
    """Raise LinkError when `path`, or a folder on the way to it, is a link inside `workspace`:
    for files another library opens by name (SQLite), and to check before a change of several
    files. Nothing there yet is nothing to refuse. The refusal names `writing` when given."""
    parent, name = _split(path)
    writing = Path(os.path.abspath(writing)) if writing is not None else parent / name
    try:
        fd, inside = _open_folder(parent, workspace, False, writing)
    except FileNotFoundError:
        return
    try:
        if inside:
            _refuse_link(fd, name, parent / name, writing)
    finally:
        os.close(fd)


def remove_regular(path: Path, workspace: Path) -> bool:
    """Remove `path` when it is a regular file; anything else there (a link, a folder) is left
    alone, and a link inside `workspace` on the way is refused. Whether a file was removed."""
    parent, name = _split(path)
    try:
        fd, _ = _open_folder(parent, workspace, False, parent / name)
    except FileNotFoundError:
        return False
    try:
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        os.unlink(name, dir_fd=fd)
        return True
    finally:
        os.close(fd)
