"""The package has no import cycles, lazy imports (inside functions) included: between modules,
and between its subpackages (quizgrader.checks, quizgrader.analysis, ...). Read from the source
with ast, so an import that only runs on some path counts as much as one at the top."""

from __future__ import annotations

import ast
import graphlib
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "quizgrader"


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known and "." in target:
                target = target.rpartition(".")[0]
            if target in known and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def subpackage(name: str) -> str:
    return ".".join(name.split(".")[:2])


def test_no_module_imports_itself_back():
    try:
        list(graphlib.TopologicalSorter(graph()).static_order())
    except graphlib.CycleError as e:
        pytest.fail(f"an import cycle: {' -> '.join(e.args[1])}")


def test_no_two_subpackages_import_each_other():
    edges: dict[str, set[str]] = {}
    for name, targets in graph().items():
        edges.setdefault(subpackage(name), set()).update(
            subpackage(t) for t in targets if subpackage(t) != subpackage(name)
        )
    try:
        list(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as e:
        pytest.fail(f"subpackages in a cycle: {' -> '.join(e.args[1])}")


def test_the_reader_sees_a_lazy_import(tmp_path):
    """The analysis is not blind: an import inside a function is an edge."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from .other import g\n    return g\n")
    assert imported("quizgrader.m", source, {"quizgrader.m": source, "quizgrader.other": source}) == {
        "quizgrader.other"
    }


def test_after_failure_analysis_sits_below_the_checks():
    """The analysis (replay, diagnosis, heatmap, repro) speaks the checks' Api; the checks, the
    sandbox and the day packs never import it back."""
    above = [
        (name, target)
        for name, targets in graph().items()
        for target in targets
        if target.startswith("quizgrader.analysis")
        and (name.startswith(("quizgrader.checks", "quizgrader.sandbox")) or ".checks" in name)
    ]
    assert not above, above
    assert any(t.startswith("quizgrader.checks") for t in graph()["quizgrader.analysis.replay"])


def test_the_generic_machinery_names_no_day():
    """Outside the day packs, a day's name appears in comments and docstrings as an example only:
    no string the code runs on is a day's name or an exercise of one."""
    found = []
    for name, path in modules().items():
        if name.startswith("quizgrader.days"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and re.search(r"\bday(0?9|16)\b", node.value)
            ):
                found.append(f"{name}:{node.lineno}: {node.value[:60]!r}")
    assert not found, found


# --- the commands stay thin ----------------------------------------------------------------------

LONGEST = 50  # lines, from the `def` line to the function's last line


def too_long(path: Path) -> list[str]:
    """Each function (or method) in `path` longer than LONGEST lines, as "name (n lines)"."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > LONGEST:
                found.append(f"{node.name} ({length} lines)")
    return found


def test_no_command_function_is_longer_than_50_lines():
    """A command parses, calls the library and hands the result to a renderer: in quizgrader/cli/,
    no function runs over 50 lines (decorators aside, def line to last line)."""
    cli = PACKAGE / "cli"
    assert cli.is_dir()
    long = {str(p.relative_to(PACKAGE.parent)): f for p in sorted(cli.rglob("*.py")) if (f := too_long(p))}
    assert not long, f"functions over {LONGEST} lines: {long}"


def test_the_length_check_sees_a_long_function(tmp_path):
    """The check is not blind: a 51-line function is caught, a 50-line one is not."""
    source = tmp_path / "m.py"
    source.write_text(
        "def short():\n" + "    x = 1\n" * 48 + "    return x\n"
        "\n\nclass C:\n    def long(self):\n" + "        x = 1\n" * 49 + "        return x\n"
    )
    assert too_long(source) == ["long (51 lines)"]
