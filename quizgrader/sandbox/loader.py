"""Import a workspace (a folder laid out like `exercises/`) as a package under a name we choose.

Loading under a private name (`_quiz_ws.day16.attention`) keeps the learner's modules apart from
anything installed, lets sibling modules import each other relatively, and lets the reference
and each mutant of it live side by side in one process.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_workspace(root: Path, package: str) -> ModuleType:
    """Register `root` as the package `package` (idempotent) and return it."""
    if package in sys.modules:
        return sys.modules[package]
    spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
    spec.submodule_search_locations = [str(root)]
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    return module


def import_from(root: Path, package: str, module: str) -> ModuleType:
    """Import `module` (e.g. "day16.attention") from the workspace at `root`."""
    load_workspace(root, package)
    return importlib.import_module(f"{package}.{module}")


def unload(package: str) -> None:
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
