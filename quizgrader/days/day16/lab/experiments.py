"""The Day 16 experiments: what each one asks of the learner's code, and the plain numbers it
returns (lists and floats, ready for JSON, a plot or a table).

Each experiment talks to one learner's process through an `Api`; the grader's routines that must
run next to the learner's objects (training, timing, catching attention weights) are the day's
tools (days/day16/tools.py). Nothing here draws or prints.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from quizgrader.checks.api import Api

from .. import tools
from ..checks.attention import fit_start, growth_exponent


class LabError(Exception):
    """The learner's code answered, but not with something the experiment can use."""


@dataclass(frozen=True)
class Settings:
    """Sizes and budgets; the defaults run in well under a minute on a laptop CPU."""

    seed: int = 0
    steps: int = 150  # training steps (attention maps, Pre-LN vs Post-LN)
    # the copy task both training experiments learn: n tokens, a separator, the same n again
    copy_n: int = 8
    vocab: int = 10
    batch: int = 32
    # attention maps: a small DecoderLM
    lm_d_model: int = 32
    lm_heads: int = 4
    lm_layers: int = 2
    lm_lr: float = 1e-2
    lm_warmup: int = 20
    # positional encoding
    pe_positions: int = 96
    pe_dims: int = 64
    # throughput
    lengths: tuple[int, ...] = (64, 128, 256, 512, 1024)
    attn_d: int = 64
    attn_batch: int = 4
    repeats: int = 5
    # Pre-LN vs Post-LN: deep enough, and a learning rate high enough, for Post-LN without warmup
    # to stall (checked with the reference: Pre-LN is near 0 by step 60, Post-LN stays at ln V)
    depth: int = 8
    stack_d_model: int = 32
    stack_heads: int = 4
    stack_lr: float = 1e-2


@dataclass(frozen=True)
class Experiment:
    name: str  # for --only, the PNG's file name and the JSON key
    title: str
    uses: tuple[str, ...]  # the exercises it calls; --reference puts the reference's in their place
    run: Callable[[Api, Settings], dict]


HELD_OUT = 10_007  # the example sequence's seed offset: not one of the training batches


# -- 1. attention maps of a trained LM -------------------------------------------------------------
def attention_maps(api: Api, s: Settings) -> dict:
    n, V = s.copy_n, s.vocab
    model = api.new("lm.DecoderLM", V, s.lm_d_model, s.lm_heads, s.lm_layers, 2 * n)
    run = model.tool(
        "train_copy", n=n, vocab=V, batch=s.batch, steps=s.steps, lr=s.lm_lr, warmup=s.lm_warmup, seed=s.seed
    )
    losses = [float(x) for x in run["losses"]]
    example = tools.copy_batch(torch.Generator().manual_seed(HELD_OUT + s.seed), 1, n, V)
    tokens = example[:, :-1]  # (1, 2n): the model's input
    seen = model.tool("attention_maps", tokens=tokens)
    weights = [_tensor(w, f"the attention weights of block {i}")[0] for i, w in enumerate(seen["weights"])]
    if len({tuple(w.shape) for w in weights}) != 1:
        raise LabError(
            "the blocks returned attention weights of different shapes: "
            + ", ".join(str(tuple(w.shape)) for w in weights)
        )
    data = {
        "steps": len(losses),
        "losses": losses,
        "final_loss": losses[-1] if losses else math.nan,
        "seconds": float(run["seconds"]),
        "tokens": tokens[0].tolist(),
        "separator": tools.SEPARATOR,
        "copy_n": n,
        "layers": len(weights),
        "heads": int(weights[0].shape[0]),
        "weights": [w.tolist() for w in weights],
    }  # [layer][head][query][key]
    predicted = seen.get("predicted")
    if isinstance(predicted, torch.Tensor) and predicted.shape == tokens.shape:
        # positions n .. 2n-1 see the separator and what was copied so far: they predict the copy
        want, got = example[0, n + 1 :], predicted[0, n:]
        data["copied"] = int((got == want).sum())
    return data


# -- 2. the sinusoidal positional encoding -----------------------------------------------------------
def sinusoidal_formula(T: int, d: int) -> torch.Tensor:
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...): the grader's own, in float64."""
    p = torch.arange(T, dtype=torch.float64)[:, None]
    angle = p * torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float64) / d)  # (T, d/2)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(T, d)


def positional(api: Api, s: Settings) -> dict:
    T, d = s.pe_positions, s.pe_dims
    pe = _tensor(api("positional.sinusoidal_encoding", T, d), f"sinusoidal_encoding({T}, {d})")
    if pe.shape != (T, d):
        raise LabError(f"sinusoidal_encoding({T}, {d}) returned shape {tuple(pe.shape)}; expected ({T}, {d})")
    pe = pe.double()
    return {
        "positions": T,
        "dims": d,
        "encoding": pe.tolist(),
        "similarity": (pe @ pe.T).tolist(),  # PE[p] · PE[q]
        "max_abs_error": float((pe - sinusoidal_formula(T, d)).abs().max()),
    }


# -- 3. time per call against the library's attention -----------------------------------------------
def throughput(api: Api, s: Settings) -> dict:
    lengths = list(s.lengths)
    rows = api.tool(
        "time_attention_against_library",
        "attention.scaled_dot_product_attention",
        lengths=lengths,
        d=s.attn_d,
        batch=s.attn_batch,
        repeats=s.repeats,
        seed=s.seed,
    )
    yours = [float(r["yours"]) for r in rows]
    library = [float(r["library"]) for r in rows]
    return {
        "lengths": lengths,
        "d": s.attn_d,
        "batch": s.attn_batch,
        "yours_seconds": yours,
        "library_seconds": library,
        "yours_tokens_per_s": [s.attn_batch * T / max(t, 1e-12) for T, t in zip(lengths, yours)],
        "library_tokens_per_s": [s.attn_batch * T / max(t, 1e-12) for T, t in zip(lengths, library)],
        "max_abs_difference": max(float(r["max_abs_difference"]) for r in rows),
        "slope_yours": growth_exponent(lengths, yours),
        "slope_library": growth_exponent(lengths, library),
        "fitted_from": lengths[fit_start(lengths)],
    }


# -- 4. Pre-LN against Post-LN ------------------------------------------------------------------------
def pre_post_ln(api: Api, s: Settings) -> dict:
    curves = {}
    for name, pre in (("pre_ln", True), ("post_ln", False)):
        run = api.tool(
            "train_block_stack",
            "block.TransformerBlock",
            pre_ln=pre,
            depth=s.depth,
            d_model=s.stack_d_model,
            num_heads=s.stack_heads,
            n=s.copy_n,
            vocab=s.vocab,
            batch=s.batch,
            steps=s.steps,
            lr=s.stack_lr,
            seed=s.seed,
        )
        curves[name] = [float(x) for x in run["losses"]]
    return {
        **curves,
        "steps": s.steps,
        "depth": s.depth,
        "d_model": s.stack_d_model,
        "lr": s.stack_lr,
        "chance": math.log(s.vocab - 1),
    }  # the copied tokens are drawn from vocab - 1 symbols


EXPERIMENTS = (
    Experiment(
        "attention_maps", "attention maps of a trained DecoderLM", ("day16.lm.DecoderLM",), attention_maps
    ),
    Experiment(
        "positional", "sinusoidal positional encoding", ("day16.positional.sinusoidal_encoding",), positional
    ),
    Experiment(
        "throughput",
        "attention against F.scaled_dot_product_attention",
        ("day16.attention.scaled_dot_product_attention",),
        throughput,
    ),
    Experiment(
        "pre_post_ln", "Pre-LN against Post-LN, no warmup", ("day16.block.TransformerBlock",), pre_post_ln
    ),
)


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise LabError(f"{what} is a {type(value).__name__}, not a tensor")
    if not value.is_floating_point():
        raise LabError(f"{what} has dtype {value.dtype}; expected floats")
    return value
