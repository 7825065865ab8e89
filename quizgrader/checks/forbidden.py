"""Forbidden calls ("from scratch"): found in the source, and caught at run time.

The source scan reads the learner's file as text (it never imports it) and looks inside the
exercise's own function or class only, following the file's import aliases
(`import torch.nn.functional as F`). Names of the form `torch.Tensor.x` match any `.x` method
call on a value. The run-time trap lives in the learner's process and reports each call it saw.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class Use:
    name: str
    line: int
    how: str      # "in the source" / "at run time"


def exercise_node(tree: ast.Module, name: str) -> ast.AST | None:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node
    return None


def line_range(source: str, name: str) -> tuple[int, int] | None:
    try:
        node = exercise_node(ast.parse(source), name)
    except SyntaxError:
        return None
    return (node.lineno, node.end_lineno or node.lineno) if node else None


def _aliases(tree: ast.Module) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def scan(source: str, name: str, forbidden: tuple[str, ...]) -> list[Use]:
    """Uses of forbidden names inside the top-level function or class `name` of `source`."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    node = exercise_node(tree, name)
    if node is None:
        return []
    aliases = _aliases(tree)
    exact = set(forbidden)
    methods = {f.rsplit(".", 1)[1] for f in forbidden if f.startswith("torch.Tensor.")}
    found: list[Use] = []
    for sub in ast.walk(node):
        if not isinstance(sub, (ast.Attribute, ast.Name)):
            continue
        dotted = _dotted(sub)
        if dotted is None:
            if isinstance(sub, ast.Attribute) and sub.attr in methods:
                found.append(Use(f"torch.Tensor.{sub.attr}", sub.lineno, "in the source"))
            continue
        head, _, rest = dotted.partition(".")
        full = aliases.get(head, head) + (f".{rest}" if rest else "")
        if full in exact:
            found.append(Use(full, sub.lineno, "in the source"))
        elif isinstance(sub, ast.Attribute) and sub.attr in methods and head not in aliases:
            found.append(Use(f"torch.Tensor.{sub.attr}", sub.lineno, "in the source"))
    # an Attribute chain is visited once per link: keep the longest match per line
    unique = {(u.name, u.line): u for u in found}
    return sorted(unique.values(), key=lambda u: u.line)

