"""Forbidden calls ("from scratch"): found in the source, and caught at run time.

The source scan reads the learner's file as text (it never imports it) and looks inside the
exercise's own function or class only, following the file's import aliases
(`import torch.nn.functional as F`). Names of the form `torch.Tensor.x` match any `.x` method
call on a value. The run-time trap lives in the learner's process and reports each call it saw.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Use:
    name: str
    line: int
    how: str  # "in the source" / "at run time"


# What parsing a learner's file may raise: besides bad syntax and NUL bytes, a file nested or
# chained deep enough (200,000 attribute links) exhausts the parser's recursion or memory.
UNPARSABLE = (SyntaxError, ValueError, RecursionError, MemoryError)


def parse(source: str) -> ast.Module | None:
    """The file's tree, or None when it does not parse (whatever the reason)."""
    try:
        return ast.parse(source)
    except UNPARSABLE:
        return None


def parses(source: str) -> bool:
    return parse(source) is not None


def exercise_node(tree: ast.Module, name: str) -> ast.AST | None:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node
    return None


def line_range(source: str, name: str) -> tuple[int, int] | None:
    tree = parse(source)
    node = exercise_node(tree, name) if tree is not None else None
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
    tree = parse(source)
    if tree is None:
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


# -- escape hatches: what no exercise needs and a way around the grader would ----------------------
# The learner's process refuses these at run time as well (sandbox/guard.py); the scan reads the
# source in the grader's process, where nothing the learner's code does can reach it.
_GRADER = "the grader's own code"
_INTERPRETER = "the interpreter's internals (frames, objects, code objects, the import machinery)"
_FILES = "files (an exercise reads and writes nothing on disk)"
_PROCESSES = "processes, threads, signals or the network"
_DYNAMIC = "code put together at run time"
_PRIVATE = "a library's private internals"
_HOOKS = "profiling and tracing hooks"
_PATCH = "changing a library in place (monkeypatching)"

MODULES = {
    **dict.fromkeys(
        [
            "ctypes",
            "cffi",
            "gc",
            "importlib",
            "runpy",
            "code",
            "codeop",
            "marshal",
            "pickle",
            "dill",
            "cloudpickle",
            "shelve",
            "copyreg",
            "builtins",
            "zipimport",
            "pkgutil",
            "site",
            "sysconfig",
            "linecache",
            "types",
            "dis",
            "tracemalloc",
            "faulthandler",
            "atexit",
            "weakref",
            "_weakref",
        ],
        _INTERPRETER,
    ),
    **dict.fromkeys(
        [
            "timeit",
            "pdb",
            "bdb",
            "trace",
            "cProfile",
            "profile",
            "pstats",
            "_lsprof",
            "sched",
            "pydoc",
            "unittest",
            "doctest",
        ],
        _HOOKS,
    ),
    **dict.fromkeys(
        [
            "socket",
            "ssl",
            "http",
            "urllib",
            "requests",
            "subprocess",
            "multiprocessing",
            "threading",
            "_thread",
            "concurrent",
            "asyncio",
            "signal",
            "select",
            "selectors",
            "pty",
            "mmap",
            "resource",
            "fcntl",
            "webbrowser",
            "ftplib",
            "smtplib",
            "telnetlib",
            "xmlrpc",
        ],
        _PROCESSES,
    ),
    **dict.fromkeys(
        [
            "io",
            "pathlib",
            "shutil",
            "tempfile",
            "glob",
            "fnmatch",
            "zipfile",
            "tarfile",
            "sqlite3",
            "fileinput",
            "filecmp",
            "csv",
            "json",
            "tomllib",
        ],
        _FILES,
    ),
}
BUILTINS = {
    "open": _FILES,
    "exec": _DYNAMIC,
    "eval": _DYNAMIC,
    "compile": _DYNAMIC,
    "__import__": _INTERPRETER,
    "breakpoint": _HOOKS,
    "input": _FILES,
    "vars": _INTERPRETER,
    "globals": _INTERPRETER,
    "locals": _INTERPRETER,
    "__builtins__": _INTERPRETER,
    "__loader__": _INTERPRETER,
    "__spec__": _INTERPRETER,
}
DUNDERS = {
    "__dict__",
    "__bases__",
    "__base__",
    "__mro__",
    "__subclasses__",
    "__globals__",
    "__code__",
    "__closure__",
    "__builtins__",
    "__wrapped__",
    "__self__",
    "__func__",
    "__getattribute__",
    "__reduce__",
    "__reduce_ex__",
    "__loader__",
    "__spec__",
    "__defaults__",
    "__kwdefaults__",
    "__traceback__",
    "__objclass__",
    "__setattr__",
    "__delattr__",
    "__import__",
    "__init_subclass__",
    "__set_name__",
    "__getstate__",
    "__setstate__",
}
ATTRIBUTES = {
    **dict.fromkeys(
        [
            "f_back",
            "f_globals",
            "f_locals",
            "f_code",
            "f_builtins",
            "tb_frame",
            "tb_next",
            "gi_frame",
            "gi_code",
            "cr_frame",
            "ag_frame",
            "co_code",
            "co_consts",
            "co_names",
        ],
        _INTERPRETER,
    ),
    **dict.fromkeys(
        ["read_text", "read_bytes", "write_text", "write_bytes", "fromfile", "tofile", "memmap", "from_file"],
        _FILES,
    ),
    **dict.fromkeys(["settrace", "setprofile", "addaudithook", "gettrace", "getprofile"], _HOOKS),
    # getters and evaluators that reach attributes and run strings on another's behalf
    **dict.fromkeys(
        [
            "get_type_hints",
            "attrgetter",
            "methodcaller",
            "Formatter",
            "locate",
            "importfile",
            "getattr_static",
            "_getframe",
        ],
        _INTERPRETER,
    ),
}
# Public names of a module that are an escape: "torch.load" reads a file, "inspect.stack" the frames.
MODULE_ATTRIBUTES = {
    "torch": {
        "load": _FILES,
        "save": _FILES,
        "ops": _PRIVATE,
        "library": _PRIVATE,
        "classes": _PRIVATE,
        "overrides": _PRIVATE,
        "profiler": _HOOKS,
    },
    "torch.autograd": {"profiler": _HOOKS, "profiler_legacy": _HOOKS},
    "torch.utils": {"cpp_extension": _PROCESSES},
    "numpy": {"load": _FILES, "save": _FILES, "loadtxt": _FILES, "savetxt": _FILES, "genfromtxt": _FILES},
    "os": dict.fromkeys(
        (
            "open",
            "read",
            "write",
            "listdir",
            "scandir",
            "walk",
            "chdir",
            "remove",
            "unlink",
            "rename",
            "replace",
            "symlink",
            "link",
            "mkdir",
            "makedirs",
            "rmdir",
            "fdopen",
            "dup",
            "dup2",
            "truncate",
            "readlink",
            "stat",
            "lstat",
        ),
        _FILES,
    )
    | dict.fromkeys(
        (
            "system",
            "popen",
            "fork",
            "forkpty",
            "kill",
            "killpg",
            "execv",
            "execve",
            "execl",
            "execlp",
            "execvp",
            "execvpe",
            "spawnl",
            "spawnv",
            "posix_spawn",
            "putenv",
            "unsetenv",
            "setsid",
            "environ",
            "getenv",
            "environb",
        ),
        _PROCESSES,
    ),
    "sys": {
        "modules": _INTERPRETER,
        "exit": _PROCESSES,
        "stdin": _FILES,
        "_current_frames": _INTERPRETER,
        "settrace": _HOOKS,
        "setprofile": _HOOKS,
        "addaudithook": _HOOKS,
        "audit": _HOOKS,
        "path": _INTERPRETER,
        "meta_path": _INTERPRETER,
        "path_hooks": _INTERPRETER,
    },
    "inspect": dict.fromkeys(
        (
            "currentframe",
            "stack",
            "trace",
            "getouterframes",
            "getinnerframes",
            "getframeinfo",
            "getsource",
            "getsourcelines",
            "getsourcefile",
            "getfile",
            "getmodule",
            "getmembers",
            "getclosurevars",
            "unwrap",
            "getattr_static",
        ),
        _INTERPRETER,
    ),
    "traceback": dict.fromkeys(
        (
            "extract_stack",
            "walk_stack",
            "walk_tb",
            "format_stack",
            "print_stack",
            "StackSummary",
            "FrameSummary",
        ),
        _INTERPRETER,
    ),
    "functools": {"_lru_cache_wrapper": _PRIVATE},
}


def escapes(source: str) -> list[tuple[int, str, str]]:
    """Everything in a workspace file that reaches around the exercise: (line, what, why), where
    `what` is the code as written. Looks at the whole file (a helper or a line at the top runs as
    much as the exercise does). A file that does not parse has none (it is reported as such)."""
    tree = parse(source)
    if tree is None:
        return []
    aliases = _aliases(tree)
    found: list[tuple[int, str, str]] = []

    def hit(node: ast.AST, what: str, why: str) -> None:
        found.append((getattr(node, "lineno", 0), what, why))

    for node in ast.walk(tree):
        targets = (
            node.targets
            if isinstance(node, (ast.Assign, ast.Delete))
            else [node.target]
            if isinstance(node, (ast.AugAssign, ast.AnnAssign))
            else []
        )
        for target in targets:
            dotted = _dotted(target) if isinstance(target, ast.Attribute) else None
            if dotted is not None and dotted.partition(".")[0] in aliases:
                hit(node, f"{dotted} = ...", _PATCH)
        if isinstance(node, ast.Import):
            for a in node.names:
                _module_hit(node, a.name, hit)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                _module_hit(node, node.module, hit)
                for a in node.names:
                    if a.name in ATTRIBUTES or a.name in DUNDERS:
                        hit(node, f"from {node.module} import {a.name}", ATTRIBUTES.get(a.name, _INTERPRETER))
                    else:
                        _attribute_hit(node, node.module, a.name, hit)
        elif isinstance(node, ast.Name) and node.id in BUILTINS:
            hit(node, node.id, BUILTINS[node.id])
        elif isinstance(node, ast.Attribute):
            attr = node.attr
            if attr in DUNDERS:
                hit(node, f".{attr}", _INTERPRETER)
            elif attr in ATTRIBUTES:
                hit(node, f".{attr}", ATTRIBUTES[attr])
            else:
                dotted = _dotted(node.value)
                head = dotted.partition(".")[0] if dotted is not None else None
                if dotted is not None and head in aliases:
                    rest = dotted.partition(".")[2]
                    module = aliases[head] + (f".{rest}" if rest else "")
                    _attribute_hit(node, module, attr, hit, shown=f"{dotted}.{attr}")
                elif (
                    attr.startswith("_")
                    and not attr.startswith("__")
                    and _root(node.value) not in ("self", "cls")
                ):
                    hit(node, f"{dotted or '...'}.{attr}", _PRIVATE)  # another's private attribute
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "delattr", "hasattr")
            and len(node.args) >= 2
        ):
            name = node.args[1]
            if (
                isinstance(name, ast.Constant)
                and isinstance(name.value, str)
                and (name.value in DUNDERS or name.value in ATTRIBUTES or name.value.startswith("_"))
            ):
                hit(node, f"{node.func.id}(..., {name.value!r})", _INTERPRETER)
    unique = {(line, what): (line, what, why) for line, what, why in found}
    return sorted(unique.values())


def _root(node: ast.AST) -> str | None:
    """The name an attribute chain starts from (`self` in self.attn.W_q), None for an expression."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _module_hit(node: ast.AST, module: str, hit) -> None:
    top = module.split(".")[0]
    if top == "quizgrader" or top.startswith("_quiz"):
        hit(node, f"import {module}", _GRADER)
    elif top in MODULES:
        hit(node, f"import {module}", MODULES[top])
    elif any(part.startswith("_") and not part.endswith("__") for part in module.split(".")):
        hit(node, f"import {module}", _PRIVATE)  # (__future__ is no one's internals)
    elif module in ("torch.profiler", "torch.autograd.profiler", "torch.utils.cpp_extension"):
        hit(node, f"import {module}", _HOOKS)


def _attribute_hit(node: ast.AST, module: str, attr: str, hit, shown: str | None = None) -> None:
    """`module.attr` (or `from module import attr` when `shown` is None)."""
    shown = shown or f"from {module} import {attr}"
    if attr in MODULE_ATTRIBUTES.get(module, {}):
        hit(node, shown, MODULE_ATTRIBUTES[module][attr])
    elif attr.startswith("_") and not attr.startswith("__"):
        hit(node, shown, _PRIVATE)


def workspace_imports(source: str, file: str) -> list[str]:
    """The workspace files a module imports relatively (`from .multihead import X`, `from . import
    masks`, `from ..day09 import rnn`), as paths like "day16/multihead.py"; `file` is the module's own
    path. Absolute imports are the libraries'."""
    tree = parse(source)
    if tree is None:
        return []
    here = file.split("/")[:-1]
    found = []
    for node in ast.walk(tree):
        absolute = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            )
        )
        for name in absolute:  # `import day09.numerics`: the workspace on the path
            if re.fullmatch(r"day\d\d(\.\w+)*", name):
                found.append(name.replace(".", "/") + ".py")
                if isinstance(node, ast.ImportFrom):
                    found += [name.replace(".", "/") + f"/{a.name}.py" for a in node.names]
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = here[: len(here) - (node.level - 1)] if node.level - 1 <= len(here) else []
            parts = base + (node.module.split(".") if node.module else [])
            if node.module:
                found.append("/".join(parts) + ".py")
            found += ["/".join(parts + [a.name]) + ".py" for a in node.names]
    return found
