"""The learner's side: a process that imports the workspace and serves calls.

Everything here runs in a forked child. It answers each request with a value or a description
of what went wrong; it never judges anything.
"""

from __future__ import annotations

import errno
import functools
import inspect
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from . import framing, grad, guard, loader, tools, wire

PACKAGE = "_quiz_ws"


OUTPUT_LIMIT = 8 * 2**20  # bytes the learner's process may print (and write to any file)


class UnsupportedResult(Exception):
    """A result the grader cannot judge as it is: a tensor on the meta device, or on another device
    than the inputs. The grader tells it as what the learner's code returned."""


class CallTimedOut(BaseException):
    """Raised inside the learner's code when a call runs past its time (BaseException, so a
    bare `except Exception` in a stub cannot swallow it)."""


class Server:
    def __init__(
        self,
        config: dict,
        package: str = PACKAGE,
        install: bool = True,
        substitutes: dict[str, Any] | None = None,
    ) -> None:
        """`install` is for the learner's process only: it puts the workspace on sys.path and the
        reference's versions of `substitutes` (exercise id -> the reference's module, loaded before
        the process was confined) in place of the learner's, neither of which the grader's own
        process may do."""
        self.root = Path(config["workspace"]).resolve()
        self.package = package
        self.device = torch.device(config.get("device", "cpu"))
        self.soft_timeout = float(config.get("soft_timeout", 0))
        # the memory limit binds CPU runs only (confine.confine): a CUDA run's note must not name it
        self.memory_bytes = config.get("memory_bytes") if self.device.type != "cuda" else None
        self.handles: dict[int, Any] = {}
        self.in_grader = not install  # the reference (or a mutant) run in the grader's own process
        if install:
            sys.path.insert(0, str(self.root))
            self._substitute(substitutes or {})

    # -- the reference in place of a learner's dependency ---------------------------------------
    def _substitute(self, substitutes: dict[str, Any]) -> None:
        """Put the reference's version of each exercise ("day16.multihead.MultiHeadAttention") in
        place of the learner's, before any workspace module that imports it is loaded, so that an
        exercise can be graded on its own merits while something it builds on is still wrong."""
        for ex_id, theirs in substitutes.items():
            module, _, name = ex_id.rpartition(".")
            try:
                mine = loader.import_from(self.root, self.package, module)
            except BaseException:  # noqa: BLE001 - the learner's module does not even import: use the reference's
                sys.modules[f"{self.package}.{module}"] = theirs
                continue
            setattr(mine, name, getattr(theirs, name))

    # -- requests ------------------------------------------------------------------------
    def handle(self, req: dict) -> dict:
        op = req["op"]
        try:
            with self._deadline():
                if op == "new":
                    cls = self._resolve(req["target"])
                    # Seeded construction: the same call builds the same initial weights here, in
                    # the reference and in every mutant, so replays can be compared.
                    with torch.random.fork_rng(devices=[]):
                        torch.manual_seed(0)
                        module = cls(*self._to_device(req["args"]), **self._to_device(req["kwargs"]))
                    if isinstance(module, torch.nn.Module):
                        module = module.to(self.device)
                    self.handles[req["handle"]] = module
                    value = None
                    extra = {}
                elif op == "call":
                    value, extra = self._call(req)
                elif op == "tool":
                    value, extra = self._tool(req), {}
                elif op == "to":
                    self.handles[req["handle"]].to(req["dtype"])
                    value, extra = None, {}
                elif op == "state_dict":
                    value, extra = dict(self.handles[req["handle"]].state_dict()), {}
                elif op == "load_state_dict":
                    state = self._to_device(req["state"])
                    result = self.handles[req["handle"]].load_state_dict(
                        state, strict=req.get("strict", True)
                    )
                    value, extra = (
                        None,
                        {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys)},
                    )
                else:
                    raise ValueError(f"unknown op {op!r}")
            response = {"ok": True, "value": value, **extra}
        except BaseException as e:  # every failure of the code is reported, never raised
            if isinstance(e, KeyboardInterrupt) and self.in_grader:
                raise  # Ctrl-C (the learner's process ignores it; there it is the code's own)
            response = {"ok": False, "error": self._describe(e)}
        if not self.in_grader and (records := guard.take_records()):
            response["records"] = records
        return response

    def _call(self, req: dict) -> tuple[Any, dict]:
        if req.get("handle") is not None:
            obj = self.handles[req["handle"]]
            fn = getattr(obj, req.get("method") or "__call__")
            module = obj if isinstance(obj, torch.nn.Module) else None
        else:
            fn, module = self._resolve(req["target"]), None
        args, kwargs = self._to_device(req["args"]), self._to_device(req["kwargs"])
        seed = req.get("grad_seed")
        if seed is not None:
            args, kwargs = grad.make_leaves(args), grad.make_leaves(kwargs)
            if module is not None:
                module.zero_grad(set_to_none=True)
        extra: dict = {}
        if seed is None:
            value = fn(*args, **kwargs)
            _on_device(value, args, kwargs, module)
        else:
            with torch.enable_grad():
                value = fn(*args, **kwargs)
                _on_device(value, args, kwargs, module)
                loss = grad.pullback_loss(value, seed)
                if loss is not None:
                    grad.backward(loss)
            extra["grads"] = {
                "args": list(grad.grads_of(args)),
                "kwargs": grad.grads_of(kwargs),
                "params": {n: p.grad for n, p in module.named_parameters()} if module is not None else {},
                "graph": loss is not None,
            }
        if req.get("keep_args"):
            extra["args_after"] = list(args)
            extra["kwargs_after"] = kwargs
        return value, extra

    def _tool(self, req: dict) -> Any:
        """One of the grader's own routines (sandbox/tools.py, and those day packs register),
        applied to a learner's object."""
        subject = (
            self.handles[req["handle"]] if req.get("handle") is not None else self._resolve(req["target"])
        )
        tool = tools.get(req["tool"])
        kwargs = self._to_device(req["kwargs"])
        if "device" in inspect.signature(tool).parameters:  # a tool that makes its own tensors
            kwargs["device"] = str(self.device)
        return tool(subject, **kwargs)

    def _resolve(self, target: str) -> Any:
        module, _, name = target.rpartition(".")
        mod = loader.import_from(self.root, self.package, module)
        if not hasattr(mod, name):
            raise AttributeError(f"{module.replace('.', '/')}.py defines no `{name}`")
        return getattr(mod, name)

    def _to_device(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.to(self.device)
        if isinstance(value, torch.Generator) and value.device != self.device:
            return torch.Generator(self.device).manual_seed(value.initial_seed())
        if isinstance(value, list):
            return [self._to_device(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._to_device(v) for v in value)
        if isinstance(value, dict):
            return {k: self._to_device(v) for k, v in value.items()}
        return value

    def _deadline(self):
        server = self

        class Deadline:
            def __enter__(self):
                if server.soft_timeout > 0:
                    signal.signal(signal.SIGALRM, _raise_timeout)
                    signal.setitimer(signal.ITIMER_REAL, server.soft_timeout)

            def __exit__(self, *exc):
                signal.setitimer(signal.ITIMER_REAL, 0)
                return False

        return Deadline()

    def _describe(self, e: BaseException) -> dict:
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename.startswith(str(self.root))]
        origin = frames[-1] if frames else None
        kind = type(e).__name__
        message = str(e)
        if isinstance(e, SystemExit):
            message = f"the code called sys.exit({e.code!r})"
        elif not self.in_grader and (note := self._limit_note(e, message)):
            message = f"{message} ({note})" if message else note
        elif isinstance(e, CallTimedOut):
            kind, message = "Timeout", f"a call ran past its time limit of {self.soft_timeout:g} s"
        elif isinstance(e, SyntaxError) and e.filename:
            origin_file = _rel(e.filename, self.root)
            return {
                "type": kind,
                "message": f"{e.msg} ({origin_file}, line {e.lineno})",
                "traceback": "".join(traceback.format_exception_only(e)),
                "origin": {"file": origin_file, "line": e.lineno, "function": None},
                "not_implemented": False,
            }
        lines = [
            f"  {_rel(f.filename, self.root)}, line {f.lineno}, in {f.name}\n    {f.line}\n" for f in frames
        ]
        return {
            "type": kind,
            "message": message[:2000],
            "traceback": "".join(lines) + f"{kind}: {message[:2000]}",
            "origin": (
                {"file": _rel(origin.filename, self.root), "line": origin.lineno, "function": origin.name}
                if origin
                else None
            ),
            "not_implemented": isinstance(e, NotImplementedError),
            "forbidden": isinstance(e, RuntimeError) and message.startswith("forbidden: "),
        }

    def _limit_note(self, e: BaseException, message: str) -> str | None:
        """Why the learner's process met one of its limits (sandbox/confine.py), in their words."""
        if isinstance(e, MemoryError) or "can't allocate memory" in message:
            gib = (self.memory_bytes or 0) / 2**30
            return (
                f"the learner's process may use {gib:g} GiB of memory; the exercises need far less"
                if gib
                else "out of memory"
            )
        if isinstance(e, PermissionError) and e.errno == errno.EPERM:
            return "the learner's process may not start processes or signal other processes"
        if isinstance(e, PermissionError) and e.errno == errno.EACCES:
            return "the learner's process may write only inside the workspace"
        return None


def _on_device(value: Any, args: Any, kwargs: Any, module: torch.nn.Module | None) -> None:
    """Tensors given, tensors returned on their device (a function of sizes alone, such as a mask or
    a table, may return CPU tensors); never on the meta device, where a tensor holds no values."""
    given = grad.tensors_in([args, kwargs]) + (list(module.parameters()) if module is not None else [])
    for t in grad.tensors_in(value):
        if t.device.type == "meta" and not given:
            raise UnsupportedResult("a tensor on the meta device, which holds no values")
        if given and t.device.type != given[0].device.type:
            raise UnsupportedResult(
                f"a tensor on the {t.device.type} device, while its inputs are on "
                f"{given[0].device.type}: return tensors on the device of the inputs"
            )


def _raise_timeout(signum, frame):
    raise CallTimedOut()


def _rel(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return path


def _reporter(sock, every: float = 0.2):
    """Progress messages to the grader, at most one per `every` seconds, and always the last."""
    last = 0.0

    def report(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if done < total and now - last < every:
            return
        last = now
        framing.send(sock, framing.PROGRESS + f"{int(done)}/{int(total)}".encode())

    return report


def serve(sock, config: dict) -> None:
    """Run in the forked child: set up, confine, then answer requests until the grader hangs up."""
    from . import confine

    os.setsid()  # own process group: the grader can end it with everything it started
    # What the code prints goes to a log file; confine() caps its size at OUTPUT_LIMIT.
    log = os.open(config["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    scratch = Path(config["log"]).with_suffix(".tmp")
    scratch.mkdir(exist_ok=True)
    os.environ["TMPDIR"] = tempfile.tempdir = str(scratch)
    os.chdir(scratch)
    workspace = Path(config["workspace"]).resolve()
    cuda = str(config.get("device", "cpu")).startswith("cuda")
    substitutes = _load_substitutes(config.get("substitute", []))
    access = confine.Access(
        read=(workspace, *library_roots(), *confine.system_roots(cuda)),
        # CUDA's driver opens its device files, and files of this process's own /proc entry, for writing
        write=(scratch,),
        devices=(Path(os.devnull), *([Path("/dev"), Path(f"/proc/{os.getpid()}")] if cuda else [])),
    )
    if os.geteuid() == 0:
        # What the grader's tools load later, loaded while root can still read the interpreter's
        # files (a Python installed in root's home is closed to nobody).
        import cProfile  # noqa: F401
    # Run as root (a Gradescope container), the code runs as nobody: before any of it is loaded,
    # and before seccomp and Landlock, which would refuse the change.
    confinement = confine.confine(
        access=access,
        output_bytes=OUTPUT_LIMIT,
        cuda=cuda,
        memory_bytes=config.get("memory_bytes"),
        cpu_seconds=float(config.get("cpu_seconds", confine.CPU_SECONDS)),
        user=confine.NOBODY if os.geteuid() == 0 else None,
        workspace=workspace,
    )
    # The exercises' tensors are small: threads would only wait for each other (badly so on a
    # busy machine). One thread also makes every run of a check do the same arithmetic.
    torch.set_num_threads(1)
    if cuda:  # CUDA starts up before the guard: its loader's own use of ctypes is not the learner's
        torch.empty(1, device=config["device"]).add_(1)
    exercise = str(config.get("exercise", "")).rpartition(".")[2] or "this exercise"
    disabled = guard.disable_operators(config.get("forbidden_ops", []), exercise)
    disabled += guard.disable_routines(config.get("forbidden", []), exercise)
    disabled += guard.disable_named(config.get("forbidden_names", []), exercise)
    guard.install(
        workspace=str(workspace),
        package=PACKAGE,
        read=[*access.read, *access.write, *access.devices],
        write=[*access.write, *access.devices],
        profilers=[tools.count_ops.__code__.co_filename],
    )
    confinement.applied.append("file, frame and code access checked by an audit hook")
    tools.report_progress = _reporter(sock)
    server = Server(config, substitutes=substitutes)
    while True:
        try:
            req = wire.decode(framing.recv(sock))
        except (framing.ConnectionClosed, OSError):
            break
        if not isinstance(req, dict):
            break
        if req.get("op") == "bye":
            break
        if req.get("op") == "confinement":
            response = {
                "ok": True,
                "value": {
                    "applied": confinement.applied,
                    "missing": confinement.missing,
                    "disabled": disabled,
                },
            }
        else:
            response = server.handle(req)
        response["nonce"] = req.get("nonce")
        try:
            payload = wire.encode(response)
        except Exception as e:  # noqa: BLE001 - also a tensor subclass whose methods raise
            payload = wire.encode(
                {
                    "ok": False,
                    "nonce": req.get("nonce"),
                    "error": {
                        "type": "UnsupportedResult",
                        "message": f"the result cannot be checked: {e}",
                        "traceback": "",
                        "origin": None,
                        "not_implemented": False,
                    },
                }
            )
        framing.send(sock, payload)


@functools.cache
def library_roots() -> tuple[Path, ...]:
    """What the learner's process may read of the Python libraries (confine.library_roots). The
    same for every learner's process: the zygote works it out once, before it forks any."""
    from . import confine

    return tuple(confine.library_roots(*_grader_paths()))


def _grader_paths() -> tuple[list[Path], list[Path]]:
    """What the learner's process may not read: the grader's package (with the reference and the
    stubs it bundles), every other copy of it on sys.path, and every day pack's package, reference
    and stubs; and the entries of sys.path not to open up: a checkout's own root (it holds the
    reference, the tests, .git)."""
    from .. import daypacks

    package = Path(__file__).resolve().parents[1]
    denied = [package, *daypacks.denied()]
    for entry in sys.path:
        if entry and os.path.isdir(os.path.join(entry, package.name)):
            denied.append(Path(entry, package.name))
    checkout = package.parent.name not in ("site-packages", "dist-packages")
    return denied, [package.parent] if checkout else []


def _load_substitutes(ids: list[str]) -> dict[str, Any]:
    """The reference's modules for the exercises that stand in for the learner's, loaded while the
    reference can still be read. Only a grading that is not scored (the second one of a blocked
    exercise) asks for them."""
    if not ids:
        return {}
    from .. import daypacks

    return {
        ex_id: loader.import_from(
            daypacks.day_of(ex_id).reference, "_quiz_substitute", ex_id.rpartition(".")[0]
        )
        for ex_id in ids
    }
