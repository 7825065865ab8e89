"""How checks call code: the learner's (in the sandbox) and the reference's (in this process)
through one interface, so a check is written once and runs against both.

Every value crosses the wire encoding, even in-process, so the two sides behave the same: results
arrive detached and on the CPU, and nothing a call does can touch the caller's tensors.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..sandbox import child, loader, wire
from ..sandbox.process import Child, ChildDied, ChildTimeout


class LearnerError(Exception):
    """The called code raised. `info` is the child's description (type, message, traceback, origin)."""

    def __init__(self, info: dict, target: str) -> None:
        super().__init__(f"{info['type']}: {info['message']}")
        self.info = info
        self.target = target

    @property
    def not_implemented(self) -> bool:
        return bool(self.info.get("not_implemented"))

    @property
    def forbidden(self) -> bool:
        """It raised because it ran a routine the exercise asks the learner to write (disabled in
        the learner's process: sandbox/guard.py)."""
        return bool(self.info.get("forbidden"))


@dataclass
class Outcome:
    value: Any
    grads: dict | None = None
    args_after: list | None = None
    kwargs_after: dict | None = None


RAISED = object()  # a Call's answer when the call raised


@dataclass
class Call:
    """A call as made, kept so that a failing example can be written out as a repro, and its
    answer (RAISED when it raised), so that the runner can judge what came back afterwards."""

    op: str
    target: str
    args: tuple
    kwargs: dict
    handle: int | None = None
    answer: Any = field(default=None, repr=False, compare=False)
    probe: dict = field(default_factory=dict, repr=False, compare=False)  # grad_seed, keep_args as asked


@dataclass
class Api:
    """Calls into one workspace. `send` takes a request dict and returns the response dict."""

    send: Callable[[dict], dict]
    day: str
    root: Path | None = None  # the workspace folder (read as text, never imported here)
    log: list[Call] = field(default_factory=list)
    # What the learner's process stopped or refused (sandbox/guard.py): {"kind": "forbidden" |
    # "refused", "name", "message", "stack": [[file, line, function], ...] innermost first}
    records: list[dict] = field(default_factory=list)
    _handles: itertools.count = field(default_factory=lambda: itertools.count(1))

    def source(self, file: str) -> str:
        """The text of a workspace file ("" when missing)."""
        try:
            return (self.root / file).read_text(encoding="utf-8", errors="replace") if self.root else ""
        except OSError:
            return ""

    def _request(self, req: dict, target: str, record: Call | None = None) -> dict:
        """Send `req`; `record` (the Call logged for it) keeps the answer."""
        response = self.send(req)
        self.records.extend(response.get("records", []))
        if record is not None:
            record.answer = response.get("value") if response["ok"] else RAISED
        if not response["ok"]:
            raise LearnerError(response["error"], target)
        return response

    def _qualify(self, name: str) -> str:
        return name if name.startswith(self.day + ".") else f"{self.day}.{name}"

    def call(
        self, name: str, *args, grad_seed: int | None = None, keep_args: bool = False, **kwargs
    ) -> Outcome:
        """Call a function of the workspace, e.g. call("attention.softmax", x, dim=-1)."""
        target = self._qualify(name)
        self.log.append(made := Call("call", target, args, kwargs, probe=_probe(grad_seed, keep_args)))
        r = self._request(
            {
                "op": "call",
                "target": target,
                "args": list(args),
                "kwargs": kwargs,
                "grad_seed": grad_seed,
                "keep_args": keep_args,
            },
            target,
            made,
        )
        return Outcome(r["value"], r.get("grads"), r.get("args_after"), r.get("kwargs_after"))

    def __call__(self, name: str, *args, **kwargs) -> Any:
        return self.call(name, *args, **kwargs).value

    def tool(self, tool: str, name: str, **kwargs) -> Any:
        """Apply one of the grader's routines (sandbox/tools.py) to a function of the workspace."""
        target = self._qualify(name)
        self.log.append(made := Call("tool", target, (tool,), kwargs))
        return self._request({"op": "tool", "tool": tool, "target": target, "kwargs": kwargs}, target, made)[
            "value"
        ]

    def new(self, name: str, *args, **kwargs) -> Handle:
        target = self._qualify(name)
        handle = next(self._handles)
        self.log.append(Call("new", target, args, kwargs, handle))
        self._request(
            {"op": "new", "target": target, "handle": handle, "args": list(args), "kwargs": kwargs}, target
        )
        return Handle(self, handle, target)


@dataclass
class Handle:
    """An object (usually an nn.Module) living on the other side."""

    api: Api
    id: int
    target: str

    def call(
        self, *args, method: str = "forward", grad_seed: int | None = None, keep_args: bool = False, **kwargs
    ) -> Outcome:
        self.api.log.append(
            made := Call(
                "method", f"{self.target}.{method}", args, kwargs, self.id, probe=_probe(grad_seed, keep_args)
            )
        )
        r = self.api._request(
            {
                "op": "call",
                "handle": self.id,
                "method": method,
                "args": list(args),
                "kwargs": kwargs,
                "grad_seed": grad_seed,
                "keep_args": keep_args,
            },
            f"{self.target}.{method}",
            made,
        )
        return Outcome(r["value"], r.get("grads"), r.get("args_after"), r.get("kwargs_after"))

    def __call__(self, *args, **kwargs) -> Any:
        return self.call(*args, **kwargs).value

    def tool(self, tool: str, **kwargs) -> Any:
        """Apply one of the grader's routines (sandbox/tools.py) to this object, e.g. train it."""
        self.api.log.append(made := Call("tool", self.target, (tool,), kwargs, self.id))
        return self.api._request(
            {"op": "tool", "tool": tool, "handle": self.id, "kwargs": kwargs}, self.target, made
        )["value"]

    def to(self, dtype) -> Handle:
        self.api.log.append(Call("to", self.target, (dtype,), {}, self.id))
        self.api._request({"op": "to", "handle": self.id, "dtype": dtype}, self.target)
        return self

    def state_dict(self) -> dict:
        return self.api._request({"op": "state_dict", "handle": self.id}, self.target)["value"]

    def load_state_dict(self, state: dict, strict: bool = True) -> dict:
        self.api.log.append(Call("load", self.target, (state,), {}, self.id))
        r = self.api._request(
            {"op": "load_state_dict", "handle": self.id, "state": state, "strict": strict}, self.target
        )
        return {"missing": r["missing"], "unexpected": r["unexpected"]}


def _probe(grad_seed: int | None, keep_args: bool) -> dict:
    return {k: v for k, v in (("grad_seed", grad_seed), ("keep_args", keep_args)) if v}


def remote(c: Child, day: str) -> Api:
    """The learner's workspace, through the sandbox. Timeouts and crashes propagate as
    ChildTimeout / ChildDied; after either, every further call fails at once."""

    def send(req: dict) -> dict:
        response = c.request(req)
        if not response["ok"] and response["error"]["type"] == "Timeout":
            c.end()
            where = response["error"].get("origin")
            at = f" (it was at {where['file']}, line {where['line']})" if where else ""
            c.ended = response["error"]["message"] + at
            raise ChildTimeout(c.ended, c.log_tail())
        return response

    return Api(send=send, day=day, root=Path(c.root) if c.root else None)


_local_count = itertools.count()


def local(root: Path, day: str, package: str | None = None) -> Api:
    """A trusted workspace (the reference, or a mutant of it) run in this process."""
    package = package or f"_quiz_local_{next(_local_count)}"
    loader.load_workspace(root, package)
    server = child.Server({"workspace": str(root), "device": "cpu"}, package=package, install=False)

    def send(req: dict) -> dict:
        return wire.decode(wire.encode(server.handle(wire.decode(wire.encode(req)))))

    return Api(send=send, day=day, root=root)


__all__ = ["Api", "ChildDied", "ChildTimeout", "Handle", "LearnerError", "Outcome", "local", "remote"]
