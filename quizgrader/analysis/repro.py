"""Turn the calls of a failing example into a script the learner can run in their workspace."""

from __future__ import annotations

from typing import Any

import torch

from ..checks.api import Call
from ..checks.strategies import RandomState
from ..sandbox import tools

MAX_LITERAL = 256  # numbers written out in full; larger tensors are described instead


def literal(x: Any) -> str:
    if isinstance(x, RandomState):
        return x.recipe()
    if isinstance(x, torch.Tensor):
        dtype = str(x.dtype)
        if x.numel() <= MAX_LITERAL:
            return f"torch.tensor({x.tolist()!r}, dtype={dtype})"
        return f"torch.randn({tuple(x.shape)}, dtype={dtype})  # {x.numel()} values, not the failing ones"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {literal(v)}" for k, v in x.items()) + "}"
    if isinstance(x, (list, tuple)):
        inner = ", ".join(literal(v) for v in x)
        return f"[{inner}]" if isinstance(x, list) else f"({inner}{',' if len(x) == 1 else ''})"
    if isinstance(x, torch.dtype):
        return str(x)
    return repr(x)


def render(calls: list[Call], names: dict[str, list[str]] | None = None) -> str:
    """A runnable script. `names` maps a target to its parameter names (for readable variables)."""
    names = names or {}
    imports: dict[str, set[str]] = {}
    body: list[str] = []
    handles: dict[int, str] = {}
    n = 0
    for call in calls:
        module, _, obj = call.target.rpartition(".")
        method = None
        if call.op == "method":
            method = obj
            module, _, obj = module.rpartition(".")
        imports.setdefault(module, set()).add(obj)
        if call.op == "new":
            var = f"m{len(handles) + 1}"
            handles[call.handle] = var
            body.append(f"{var} = {obj}({_arguments(call, names.get(call.target, []), body)})")
        elif call.op == "load":
            body.append(f"{handles[call.handle]}.load_state_dict({literal(call.args[0])})")
        elif call.op == "to":
            body.append(f"{handles[call.handle]}.to({literal(call.args[0])})")
        elif call.op == "tool":
            imports.setdefault(tools.get(call.args[0]).__module__, set()).add(call.args[0])
            subject = handles[call.handle] if call.handle is not None else obj
            n += 1
            kwargs = ", ".join(f"{k}={literal(v)}" for k, v in call.kwargs.items())
            body.append(f"result{n} = {call.args[0]}({subject}, {kwargs})  # the grader's own routine")
            body.append(f"print(result{n})")
        else:
            n += 1
            params = names.get(call.target, [])
            args = _arguments(call, params, body)
            fn = obj
            if call.op == "method":
                fn = handles[call.handle] + (f".{method}" if method not in ("forward", "__call__") else "")
            body.append(f"result{n} = {fn}({args})")
            body.append(f"print(result{n})")
    days = sorted({m.split(".")[0] for m in imports if m.startswith("day")}) or ["dayNN"]
    head = [
        f"# Run this from your workspace folder (the one holding {', '.join(d + '/' for d in days)}).",
        "import torch",
    ]
    if any("random_state(" in line for line in body):
        imports.setdefault("quizgrader.checks.strategies", set()).add("random_state")
    head += [f"from {m} import {', '.join(sorted(objs))}" for m, objs in imports.items()]
    return "\n".join(head + [""] + body)


def _arguments(call: Call, params: list[str], body: list[str]) -> str:
    parts = []
    for i, a in enumerate(call.args):
        if isinstance(a, torch.Tensor) and i < len(params):
            body.append(f"{params[i]} = {literal(a)}")
            parts.append(params[i])
        else:
            parts.append(literal(a))
    for k, v in call.kwargs.items():
        if isinstance(v, torch.Tensor):
            body.append(f"{k} = {literal(v)}")
            parts.append(f"{k}={k}")
        else:
            parts.append(f"{k}={literal(v)}")
    return ", ".join(parts)
