"""The grader as a wheel, made from this installation: what a course's CI workflow or Gradescope
autograder installs, so that they grade with exactly the grader that made them and need no
package index for it.

The wheel holds the package, its bundled reference solutions and stubs (wherever this
installation keeps them: inside the package, or beside it in a checkout) and the installed
distribution's own metadata. The same files give the same bytes (fixed timestamps and order), so
its SHA-256 identifies the grader."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import stat
import zipfile
from pathlib import Path

from .. import __version__
from ..paths import exercises_root, reference_root

NAME = "quizgrader"
TAG = "py3-none-any"
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__", "_bundled"}
_WHEEL = f"Wheel-Version: 1.0\nGenerator: {NAME} {__version__}\nRoot-Is-Purelib: true\nTag: {TAG}\n"


class WheelError(RuntimeError):
    """This installation cannot be packed (its metadata is missing)."""


def filename(version: str = __version__) -> str:
    return f"{NAME}-{version}-{TAG}.whl"


def _files(root: Path, under: str) -> list[tuple[str, Path]]:
    """(name in the wheel, file) for each regular file below `root`, links and caches left out."""
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in _SKIP_DIRS for part in rel.parts[:-1]) or path.name in _SKIP_DIRS:
            continue
        if path.is_symlink() or not path.is_file() or path.suffix in (".pyc", ".pyo"):
            continue
        found.append((f"{under}/{rel.as_posix()}", path))
    return found


def _metadata() -> tuple[str, str]:
    """This installation's METADATA and entry_points.txt."""
    try:
        dist = importlib.metadata.distribution(NAME)
    except importlib.metadata.PackageNotFoundError:
        raise WheelError(
            f"{NAME} is not installed (pip install -e . in a checkout), so its metadata is missing"
        ) from None
    metadata, entry_points = dist.read_text("METADATA"), dist.read_text("entry_points.txt")
    if not metadata or not entry_points or dist.version != __version__:
        raise WheelError(
            f"the installed metadata of {NAME} ({dist.version}) does not match this copy "
            f"({__version__}); reinstall it"
        )
    return metadata, entry_points


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def contents() -> dict[str, bytes]:
    """Every file of the wheel, by its name in the wheel, RECORD last."""
    package = Path(__file__).resolve().parents[1]
    members = _files(package, NAME)
    members += _files(reference_root(), f"{NAME}/_bundled/reference")
    members += _files(exercises_root(), f"{NAME}/_bundled/exercises")
    out = {name: path.read_bytes() for name, path in members}
    metadata, entry_points = _metadata()
    info = f"{NAME}-{__version__}.dist-info"
    out[f"{info}/METADATA"] = metadata.encode()
    out[f"{info}/entry_points.txt"] = entry_points.encode()
    out[f"{info}/WHEEL"] = _WHEEL.encode()
    record = "".join(f"{name},{_digest(data)},{len(data)}\n" for name, data in out.items())
    out[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    return out


def zipped(members: dict[str, bytes], executable: frozenset[str] = frozenset()) -> bytes:
    """A zip file of `members` (name -> bytes) that is the same bytes for the same members: fixed
    timestamps, their order, mode 0644 (0755 for the names in `executable`)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            entry = zipfile.ZipInfo(name, _EPOCH)
            entry.external_attr = ((0o755 if name in executable else 0o644) | stat.S_IFREG) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    return buffer.getvalue()


def pack() -> bytes:
    """The wheel's bytes."""
    return zipped(contents())


def torch_version() -> str:
    """The torch release this grader runs with, without its local tag ("2.13.0+cpu" -> "2.13.0")."""
    return importlib.metadata.version("torch").split("+", 1)[0]


def build(folder: Path) -> Path:
    """Write the wheel into `folder` (which must exist) and return its path."""
    path = folder / filename()
    path.write_bytes(pack())
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
