"""The grader's own routines that must run where the learner's objects live: counting the tensor
ops of a call, timing a call, calling a function on parameters that carry gradients, and those a
day pack registers (training a learner's model). They run in the learner's process (the model
cannot leave it), but they are the grader's code, and they only measure: every verdict is made in
the grader from what they return.

A routine is asked for by name (`Api.tool`, `Handle.tool`). The day packs' routines are
registered when their tools modules are imported (`load`), which the zygote does before it forks
a learner's process: that process cannot read the packs.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from contextlib import contextmanager
from time import perf_counter
from typing import Any

import torch
from torch.autograd.profiler import profile
from torch.utils._python_dispatch import TorchDispatchMode


def _no_progress(done: int, total: int) -> None:
    pass


# How far a long routine has got (training steps). The learner's process sends it to the grader
# (child.serve sets it); elsewhere it goes nowhere.
report_progress: Callable[[int, int], None] = _no_progress


@contextmanager
def one_thread():
    """Small models on a CPU: one thread. Intra-op threads buy little on tensors this small, and on
    a busy machine (a CI runner, a laptop running other work) threads that wait for each other at
    every op make a training run several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# -- measuring a call ------------------------------------------------------------------------
def count_ops(fn, *, args: list, kwargs: dict | None = None) -> dict:
    """How much one call of `fn` runs, counted twice over: the ATen operators, as torch's profiler
    records them at the dispatcher (C++; whatever Python does, torch-function or dispatch modes
    turned off, torch._C called directly, every operator passes there), and the function calls,
    Python's and C's (cProfile), which catch a loop that runs outside torch (numpy). Threads cannot
    carry work away: the learner's process may start none. A call that stops either count fails.

    The call is made as the checks make theirs, with gradients on, on inputs that require them, and
    what it returns is made into plain tensors inside the count (a tensor that computes itself
    later is counted all the same): {"ops", "calls", "value", "graph": whether its first output
    carries a gradient}. The grader judges that value, so a call that knows it is counted cannot
    answer with less work than the answer takes (a detour through numpy loses the graph)."""
    import cProfile

    args = [
        a.detach().clone().requires_grad_(True)
        if isinstance(a, torch.Tensor) and a.is_floating_point()
        else a
        for a in args
    ]
    calls = cProfile.Profile()
    prof = profile()
    with _profiler_quiet():
        prof.__enter__()
    try:
        with torch.enable_grad():
            calls.enable()
            try:
                value = _plain(fn(*args, **(kwargs or {})))
            finally:
                calls.disable()
    finally:
        with _profiler_quiet():
            prof.__exit__(None, None, None)
    first = value[0] if isinstance(value, (tuple, list)) and value else value
    return {
        "ops": sum(1 for e in prof.kineto_results.events() if e.name().startswith("aten::")),
        "calls": sum(entry.callcount for entry in calls.getstats()),
        "value": value,
        "graph": isinstance(first, torch.Tensor) and first.requires_grad,
    }


@contextmanager
def _profiler_quiet():
    """torch's profiler writes lines of its own to the process's stderr as it starts and stops
    ("USDT: ... profiler_start"); they are nobody's output, so stderr goes to the null device for
    those two moments only, never while the learner's code runs."""
    try:
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _plain(value: Any) -> Any:
    """Plain tensors all the way down (a subclass's own computation, if any, runs now)."""
    if isinstance(value, torch.Tensor):
        plain = value.as_subclass(torch.Tensor) if type(value) is not torch.Tensor else value
        return plain.clone() if plain is not value else plain
    if isinstance(value, (list, tuple)):
        return (
            type(value)(_plain(v) for v in value)
            if type(value) in (list, tuple)
            else [_plain(v) for v in value]
        )
    return value


def median_seconds(call, repeats: int, device: torch.device) -> float:
    call()  # warm up (allocator, kernels)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = perf_counter()
        call()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(perf_counter() - t0)
    return statistics.median(times)


# -- calling a function on parameters that carry gradients ------------------------------------
def call_on_parameters(fn, *, params: list[dict], args: list | None = None, container: str = "list") -> dict:
    """Build parameters with `.grad` set here (a grad cannot cross the wire), call
    `fn(parameters, *args)`, and return what it returned with every parameter's value and grad
    after the call (the function may change them in place, as a gradient clipper must).

    `params`: one dict per parameter, {"data": tensor, "grad": tensor or None, "requires_grad":
    bool}. `container`: how they are passed: "list", "generator" (as model.parameters() gives
    them: iterable once) or "single" (the one tensor itself, not wrapped)."""
    built = []
    for spec in params:
        p = torch.nn.Parameter(spec["data"].clone(), requires_grad=spec.get("requires_grad", True))
        if spec.get("grad") is not None:
            p.grad = spec["grad"].clone()
        built.append(p)
    if container == "single":
        if len(built) != 1:
            raise ValueError("container='single' takes exactly one parameter")
        passed = built[0]
    elif container == "generator":
        passed = (p for p in built)
    else:
        passed = list(built)
    value = fn(passed, *(args or []))
    return {
        "value": value,
        "grads": [None if p.grad is None else p.grad.detach().clone() for p in built],
        "weights": [p.detach().clone() for p in built],
    }


# -- where a module's computation goes: its submodules' inputs and outputs, in order ---------------
def trace_modules(model: torch.nn.Module, *, args: list, kwargs: dict | None = None) -> dict:
    """Call `model(*args, **kwargs)` with hooks on every named submodule, and return the events in
    the order they happened: ["in", name, its tensor arguments, its class's name] as a submodule
    starts and ["out", name, what it returned, its class's name] as it ends (the first call of
    each only), and the model's "value".
    The diagnosis compares these with the reference's to find where the two first part."""
    events: list[list] = []
    seen_in: set[str] = set()
    seen_out: set[str] = set()

    def tensors(value: Any) -> list:
        if isinstance(value, torch.Tensor):
            return [value.detach().clone()]
        if isinstance(value, (list, tuple)):
            return [t for v in value for t in tensors(v)]
        if isinstance(value, dict):
            return [t for v in value.values() for t in tensors(v)]
        return []

    def before(name: str):
        def hook(module, args, kwargs):
            if name not in seen_in:
                seen_in.add(name)
                events.append(["in", name, tensors(list(args)) + tensors(kwargs), type(module).__name__])

        return hook

    def after(name: str):
        def hook(module, args, kwargs, output):
            if name not in seen_out:
                seen_out.add(name)
                events.append(["out", name, tensors(output), type(module).__name__])

        return hook

    handles = []
    for name, sub in model.named_modules():
        if name:
            handles.append(sub.register_forward_pre_hook(before(name), with_kwargs=True))
            handles.append(sub.register_forward_hook(after(name), with_kwargs=True))
    try:
        with torch.no_grad():
            value = model(*args, **(kwargs or {}))
    finally:
        for h in handles:
            h.remove()
    return {"events": events, "value": tensors(value)}


# -- where what a call makes lives: the meta device --------------------------------------------------
def on_meta(subject: Any, *, args: list, kwargs: dict | None = None, method: str = "forward") -> dict:
    """Call `subject` (a function, or a module's `method`) with every tensor argument, and the
    module itself, moved to the meta device: tensors with shapes and dtypes but no data, so that a
    tensor the code makes on the CPU when its inputs are elsewhere (torch.arange(T) without
    device=) shows, with no GPU. {"raised": "Type: message" or None, "devices": the device of
    each tensor returned, "dtypes": their dtypes, "cpu": the operators that made a tensor on the
    CPU meanwhile}."""

    def moved(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.to("meta")
        if isinstance(value, (list, tuple)):
            return type(value)(moved(v) for v in value)
        if isinstance(value, dict):
            return {k: moved(v) for k, v in value.items()}
        return value

    fn = getattr(subject.to("meta"), method) if isinstance(subject, torch.nn.Module) else subject
    made = _OnTheCpu()
    try:
        with torch.no_grad(), made:
            value = fn(*moved(list(args)), **moved(kwargs or {}))
    except Exception as e:  # noqa: BLE001 - what the code raised on meta is the answer
        return {"raised": f"{type(e).__name__}: {e}", "devices": [], "dtypes": [], "cpu": made.ops}
    found: list[torch.Tensor] = []

    def collect(v: Any) -> None:
        if isinstance(v, torch.Tensor):
            found.append(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                collect(x)

    collect(value)
    return {
        "raised": None,
        "devices": [str(t.device) for t in found],
        "dtypes": [str(t.dtype) for t in found],
        "cpu": made.ops,
    }


class _OnTheCpu(TorchDispatchMode):
    """The operators that made a tensor (not a single number) on the CPU while the call's inputs
    were on the meta device: some kernels take a CPU index beside meta weights without complaint,
    where on a GPU the same code fails."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.device.type == "cpu" and t.dim() > 0 and len(self.ops) < 5:
                self.ops.append(str(func.overloadpacket.__name__))
        return out


def warm_meta() -> None:
    """Load what torch loads the first time a call runs on the meta device, mixed devices
    included (its meta kernels, and the symbolic shapes they check devices with), while loading is
    still allowed: in a learner's process it is not, and the learner's code would be blamed."""
    import torch._meta_registrations  # noqa: F401
    import torch.fx.experimental.symbolic_shapes  # noqa: F401

    weight = torch.empty(3, 2, device="meta")
    try:
        torch.nn.functional.embedding(torch.arange(2), weight) + torch.arange(2)
    except RuntimeError:  # the device check this warms up
        pass


def under_default_dtype(fn: Any, *, dtype: str, args: list, kwargs: dict | None = None) -> Any:
    """Call `fn` with torch's default dtype set to `dtype` ("float64"), as a learner's code may find
    it: a contract that says "the default dtype" means torch.get_default_dtype(), not float32."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        return fn(*args, **(kwargs or {}))
    finally:
        torch.set_default_dtype(before)


TOOLS: dict[str, Callable[..., Any]] = {
    "on_meta": on_meta,
    "under_default_dtype": under_default_dtype,
    "count_ops": count_ops,
    "call_on_parameters": call_on_parameters,
    "trace_modules": trace_modules,
}
# The routines whose answers are exact and cheap, so a failing example that rests on one can be
# made again to compare (analysis/replay.py); training and timing are neither.
REPLAYABLE: set[str] = {"count_ops", "call_on_parameters", "trace_modules", "on_meta", "under_default_dtype"}


def register(name: str, *, replayable: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A day pack's routine, by the name the checks ask for it: `@tools.register("train_copy")`."""

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        if TOOLS.get(name, fn) is not fn:
            raise ValueError(f"two routines are registered as {name!r}")
        TOOLS[name] = fn
        if replayable:
            REPLAYABLE.add(name)
        return fn

    return add


def load() -> None:
    """Register the day packs' routines (importing their tools modules)."""
    from .. import daypacks

    daypacks.load_tools()


def get(name: str) -> Callable[..., Any]:
    if name not in TOOLS:  # a learner's process has them all already, and may import nothing more
        load()
    try:
        return TOOLS[name]
    except KeyError:
        raise KeyError(f"no routine of the grader is called {name!r}") from None


def replayable(name: str) -> bool:
    load()
    return name in REPLAYABLE
