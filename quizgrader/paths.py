"""Where the grader's own copies of the reference and the stubs are."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """`reference` or `exercises`: inside the installed package, or beside it in a checkout."""
    for candidate in (_HERE / "_bundled" / name, _HERE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the grader's `{name}/` folder is missing from this installation")


def reference_root() -> Path:
    return bundled("reference")


def exercises_root() -> Path:
    return bundled("exercises")
