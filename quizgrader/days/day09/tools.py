"""Day 9's routine that runs beside the learner's objects: the gradient norms through a stack of
layers built in the learner's process (a module cannot cross the wire)."""

from __future__ import annotations

from typing import Any

import torch

from quizgrader.sandbox import tools


# -- gradient norms through a stack of layers -------------------------------------------------
def _stack_layer(spec: dict, block: Any) -> torch.nn.Module:
    """One layer from its description: {"kind": "linear", "d_in", "d_out"}, {"kind": "tanh"},
    {"kind": "relu"}, {"kind": "block", "d", "zero_init"} (the workspace's block class) or
    {"kind": "sequential", "layers": [...]}; "state" (optional) is loaded into it."""
    kind = spec["kind"]
    if kind == "tanh":
        return torch.nn.Tanh()
    if kind == "relu":
        return torch.nn.ReLU()
    if kind == "linear":
        layer = torch.nn.Linear(spec["d_in"], spec["d_out"])
    elif kind == "block":
        layer = block(spec["d"], zero_init=spec["zero_init"])
    elif kind == "sequential":
        layer = torch.nn.Sequential(*(_stack_layer(s, block) for s in spec["layers"]))
    else:
        raise ValueError(f"unknown layer kind {kind!r}")
    if spec.get("state") is not None:
        layer.load_state_dict(spec["state"])
    return layer


@tools.register("stack_gradient_norms", replayable=True)
def stack_gradient_norms(
    fn,
    *,
    layers: list[dict],
    x: torch.Tensor,
    container: str = "list",
    seed: int = 0,
    block: str = "ResidualBlock",
) -> Any:
    """What `fn(stack, x)` returns for a stack of layers built here from their descriptions (see
    _stack_layer; a module cannot cross the wire). Layers without a "state" get their own default
    init, drawn from `seed`; a "block" layer is the class named `block` in fn's own module (the
    workspace's, or the reference's where it stands in). `container`: "list", "sequential" or
    "modulelist". The stack is in x's dtype, on x's device."""
    import sys

    cls = None
    if any(_has_block(s) for s in layers):
        cls = getattr(sys.modules[fn.__module__], block, None)
        if cls is None:
            raise AttributeError(f"{fn.__module__.split('.')[-1]}.py defines no `{block}`")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        built = [_stack_layer(s, cls).to(device=x.device, dtype=x.dtype) for s in layers]
    stack = {
        "list": list,
        "sequential": lambda m: torch.nn.Sequential(*m),
        "modulelist": torch.nn.ModuleList,
    }[container](built)
    return fn(stack, x)


def _has_block(spec: dict) -> bool:
    return spec["kind"] == "block" or any(_has_block(s) for s in spec.get("layers", []))
