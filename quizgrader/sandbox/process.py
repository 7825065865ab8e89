"""Processes: a zygote, a fresh interpreter that imports torch and runs no tensor op, and
per-exercise children forked from it.

Forking a process that has already run a parallel torch op can deadlock the child (the OpenMP
thread pool does not survive fork), so the learner's processes are never forked from the grader:
they are forks of the clean, warm zygote. The zygote starts at once and imports torch while the
grader does the same, so on two cores it costs little wall time.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from . import confine, framing

# Importing this module must not import torch: the grader starts the zygote first, so that the
# two interpreters import torch at the same time. Only learner calls use the tensor wire format;
# the zygote's control channel carries small JSON messages.


# Long work in the learner's process (training) sends ("progress", done, total) messages before its
# answer; whoever shows progress sets a hook here. They count against the call's time limit.
ON_PROGRESS: ContextVar[Callable[[int, int], None] | None] = ContextVar("on_progress", default=None)


@dataclass(frozen=True)
class ChildConfig:
    """What a learner's process is told: the workspace, the device, and its limits. The defaults
    are the grader's; every process gets all of them."""

    workspace: Path
    device: str = "cpu"
    soft_timeout: float = 0.0  # seconds per call, enforced inside the process; 0: none
    forbidden: tuple[str, ...] = ()  # torch's Python routines disabled ("from scratch")
    substitute: tuple[str, ...] = ()  # exercises whose reference replaces the learner's
    cpu_seconds: float = confine.CPU_SECONDS
    memory_gib: float = confine.MEMORY_GIB  # address space it may add (CPU runs)
    forbidden_ops: tuple[str, ...] = ()  # ATen operators disabled ("from scratch")
    exercise: str = ""  # the exercise graded, for the messages of what is disabled
    forbidden_names: tuple[str, ...] = ()  # patterns of names of torch's Python functions disabled
    warm: tuple[str, ...] = ()  # what the zygote loads before forking it ("meta": tools.warm_meta)

    def to_json(self) -> dict[str, Any]:
        return {
            "workspace": str(Path(self.workspace).resolve()),
            "device": self.device,
            "soft_timeout": self.soft_timeout,
            "forbidden": list(self.forbidden),
            "forbidden_ops": list(self.forbidden_ops),
            "exercise": self.exercise,
            "forbidden_names": list(self.forbidden_names),
            "substitute": list(self.substitute),
            "cpu_seconds": self.cpu_seconds,
            "memory_bytes": int(self.memory_gib * 2**30),
            "warm": list(self.warm),
        }


_PROFILER_LINES = ("USDT:", "STAGE:")


class SandboxError(Exception):
    """The learner's process could not answer; `reason` says why in a learner's words."""

    def __init__(self, reason: str, log_tail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.log_tail = log_tail


class ChildTimeout(SandboxError):
    pass


class ChildDied(SandboxError):
    pass


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        what = {
            "SIGSEGV": "a segmentation fault",
            "SIGKILL": "a kill signal (often: out of memory)",
            "SIGABRT": "an abort",
            "SIGBUS": "a bus error",
            "SIGXCPU": "its CPU-time limit",
        }.get(name, name)
        return f"the process was ended by {what} ({name})"
    if os.WIFEXITED(status):
        return f"the process exited with code {os.WEXITSTATUS(status)} (sys.exit / os._exit in the code?)"
    return f"the process ended (status {status})"


def _progress(payload: bytes) -> None:
    hook = ON_PROGRESS.get()
    try:
        done, total = (int(x) for x in payload[len(framing.PROGRESS) :].split(b"/", 1))
    except ValueError:
        return  # not ours to judge: progress is only ever shown
    if hook is not None:
        hook(done, total)


def _zygote_loop(control: socket.socket) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    live: set[int] = set()
    warmed = False
    while True:
        try:
            req = json.loads(framing.recv(control))
        except (framing.ConnectionClosed, OSError):
            break
        if req["op"] == "spawn":
            if "meta" in req["config"].get("warm", ()) and not warmed:
                from . import tools

                tools.warm_meta()  # what a call on the meta device loads first, before the fork
                warmed = True
            ours, theirs = socket.socketpair()
            zygote = os.getpid()
            pid = os.fork()
            if pid == 0:
                control.close()
                ours.close()
                code = 0
                try:
                    from . import child, confine

                    confine.die_with(zygote)
                    child.serve(theirs, req["config"])
                except BaseException:  # noqa: BLE001 - the grader's own failure: into the process's log
                    import traceback

                    traceback.print_exc()
                    code = 70
                os._exit(code)
            theirs.close()
            live.add(pid)
            socket.send_fds(control, [json.dumps({"pid": pid}).encode()], [ours.fileno()])
            ours.close()
        elif req["op"] == "end":
            pid = req["pid"]
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                _, status = os.waitpid(pid, 0)
                answer = {"status": status}
            except ChildProcessError:
                answer = {"status": None}
            live.discard(pid)
            framing.send(control, json.dumps(answer).encode())
    for pid in live:
        try:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
    os._exit(0)


@dataclass
class Child:
    """One learner process: a connection, its pid and where its output goes."""

    pid: int
    sock: socket.socket
    log: Path
    zygote: Zygote
    hard_timeout: float
    root: str = ""
    ended: str | None = None
    status: int | None = None  # its wait status once ended (None: unknown)

    def request(self, message: dict, timeout: float | None = None) -> dict:
        """Send a request and return the learner's process's answer. Every request carries a fresh
        nonce that the answer must repeat: an answer written by the learner's code onto the
        socket, not the grader's server's, is told apart and ends the process."""
        from . import wire

        if self.ended:
            raise ChildDied(self.ended, self.log_tail())
        limit = self.hard_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        nonce = secrets.token_hex(16)
        try:
            framing.send(self.sock, wire.encode({**message, "nonce": nonce}))
            while True:
                self.sock.settimeout(max(deadline - time.monotonic(), 1e-3))
                payload = framing.recv(self.sock)
                if not payload.startswith(framing.PROGRESS):
                    break
                _progress(payload)
        except TimeoutError:
            self.end()
            self.ended = f"the call did not finish within {limit:g} s and was stopped"
            raise ChildTimeout(self.ended, self.log_tail()) from None
        except (framing.ConnectionClosed, ConnectionError, BrokenPipeError):
            how = self.end()
            self.ended = f"the learner's process ended during the call: {how}"
            past_cpu_limit = (
                self.status is not None
                and os.WIFSIGNALED(self.status)
                and os.WTERMSIG(self.status) == signal.SIGXCPU
            )
            raise (ChildTimeout if past_cpu_limit else ChildDied)(self.ended, self.log_tail()) from None
        except framing.MessageTooLarge as e:
            self.end()
            self.ended = f"the answer was too large to check: {e}"
            raise ChildDied(self.ended, self.log_tail()) from None
        try:
            response = wire.decode(payload)
            problem = _malformed(response, nonce)
        except wire.WireError as e:
            problem = f"an unreadable answer ({e})"
        if problem:
            self.end()
            self.ended = (
                f"the learner's process sent {problem}: was something other than the grader writing to it?"
            )
            raise ChildDied(self.ended, self.log_tail()) from None
        return response

    def end(self) -> str:
        """Stop the process and everything it started; say how it had ended."""
        if self.pid <= 0:
            return self.ended or "ended"
        try:
            self.sock.close()
        except OSError:
            pass
        self.status = self.zygote.end(self.pid)
        self.pid = -1
        return describe_status(self.status) if self.status is not None else "unknown"

    def log_tail(self, limit: int = 2000) -> str:
        try:
            with open(self.log, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - limit))
                text = f.read().decode(errors="replace")
            # torch's profiler (the op count) announces its start and stop: not the learner's output
            return "".join(
                line for line in text.splitlines(keepends=True) if not line.startswith(_PROFILER_LINES)
            )
        except OSError:
            return ""


def _malformed(response: Any, nonce: str) -> str | None:
    """What is wrong with an answer from the learner's process, or None. Nothing it sends is
    trusted: the shape of the answer is checked before anything reads it."""
    if not isinstance(response, dict) or not isinstance(response.get("ok"), bool):
        return "an answer that is not one"
    if response.get("nonce") != nonce:
        return "an answer to a request it was not sent"
    if not response["ok"]:
        error = response.get("error")
        if not (
            isinstance(error, dict)
            and isinstance(error.get("type"), str)
            and isinstance(error.get("message"), str)
            and isinstance(error.get("traceback", ""), str)
            and isinstance(error.get("not_implemented", False), bool)
            and isinstance(error.get("forbidden", False), bool)
            and _origin_ok(error.get("origin"))
        ):
            return "an error without a proper description"
    records = response.get("records", [])
    if not isinstance(records, list) or not all(
        isinstance(r, dict)
        and isinstance(r.get("name"), str)
        and isinstance(r.get("message", ""), str)
        and isinstance(r.get("stack", []), list)
        and all(
            isinstance(f, list)
            and len(f) == 3
            and isinstance(f[0], str)
            and isinstance(f[1], int)
            and isinstance(f[2], str)
            for f in r.get("stack", [])
        )
        for r in records
    ):
        return "a malformed record of what it did"
    return None


def _origin_ok(origin: Any) -> bool:
    return origin is None or (
        isinstance(origin, dict)
        and isinstance(origin.get("file"), str)
        and isinstance(origin.get("line"), int | None)
        and isinstance(origin.get("function"), str | None)
    )


def _zygote_main(fd: int) -> None:
    """Entry point of the zygote interpreter."""
    import torch  # noqa: F401 - warm: every child inherits the imported module

    from . import child, tools

    child.library_roots()  # worked out once, inherited by every learner's process
    tools.load()  # the day packs' routines, which a learner's process cannot import

    _zygote_loop(socket.socket(fileno=fd))


class Zygote:
    """Forks learner processes from a clean interpreter that has imported torch and run nothing."""

    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="quiz-")
        if os.geteuid() == 0:  # its children run as nobody: they pass through to their own folder
            os.chmod(self.tmp.name, 0o711)
        self._count = 0
        self.confinement: dict[str, list[str]] | None = None  # what the kernel enforced on a child
        self._start()

    def _start(self) -> None:
        self.control, theirs = socket.socketpair()
        package_parent = str(Path(__file__).resolve().parents[2])
        # The learner's processes are forks of this one: they get a reduced environment (no
        # tokens, no CI variables), and write no bytecode next to the workspace.
        env = {
            **confine.reduced_environment(dict(os.environ)),
            "HOME": self.tmp.name,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from quizgrader.sandbox.process import _zygote_main; _zygote_main({theirs.fileno()})",
            ],
            pass_fds=[theirs.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
            cwd=self.tmp.name,
        )
        self.pid = self.proc.pid
        theirs.close()

    def _restart(self) -> None:
        """A learner's process can end its parent; the next exercise then gets a new zygote."""
        self.control.close()
        try:
            self.proc.kill()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._start()

    def spawn(self, config: ChildConfig, hard_timeout: float) -> Child:
        self._count += 1
        log = Path(self.tmp.name) / f"child-{self._count}.log"
        wire = config.to_json()
        request = json.dumps({"op": "spawn", "config": {**wire, "log": str(log)}}).encode()
        for attempt in range(2):
            if attempt or self.proc.poll() is not None:
                self._restart()
            try:
                framing.send(self.control, request)
                msg, fds, _, _ = socket.recv_fds(self.control, 1 << 16, 1)
                info = json.loads(msg)
            except (OSError, framing.ConnectionClosed, ValueError):
                continue
            child = Child(
                pid=info["pid"],
                sock=socket.socket(fileno=fds[0]),
                log=log,
                zygote=self,
                hard_timeout=hard_timeout,
                root=wire["workspace"],
            )
            if self.confinement is None:
                try:
                    self.confinement = child.request({"op": "confinement"})["value"]
                except SandboxError:
                    pass  # the learner's code ended it already: the checks will say how
            return child
        raise ChildDied("could not start a process for the learner's code (the zygote did not answer)")

    def end(self, pid: int) -> int | None:
        """Kill a child and everything it started; its wait status, or None if the zygote is gone."""
        try:
            framing.send(self.control, json.dumps({"op": "end", "pid": pid}).encode())
            return json.loads(framing.recv(self.control))["status"]
        except (OSError, framing.ConnectionClosed, ValueError):
            try:
                os.killpg(pid, signal.SIGKILL)  # its own group (setsid); nobody else can reap it now
            except OSError:
                pass
            return None

    def close(self) -> None:
        if self.pid > 0:
            self.control.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.pid = -1
            self.tmp.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
