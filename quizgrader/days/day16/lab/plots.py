"""Day 16's lab figures, as matplotlib Figures (no pyplot state); the lab (quizgrader/lab/output.py)
draws them on an Agg canvas in the grader's process, never the learner's. matplotlib is optional
(the `lab` extra): without it the results are shown as text (text.py).
"""

from __future__ import annotations

import math
from typing import Any


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def token_labels(tokens: list[int], separator: int) -> list[str]:
    return ["|" if t == separator else str(t) for t in tokens]


def attention_maps(data: dict, whose: str) -> Any:
    layers, heads = data["layers"], data["heads"]
    labels = token_labels(data["tokens"], data["separator"])
    fig = _figure(1.0 + 2.3 * heads, 0.8 + 2.3 * layers)
    axes = fig.subplots(layers, heads, squeeze=False)
    image = None
    for layer in range(layers):
        for head in range(heads):
            ax = axes[layer][head]
            image = ax.imshow(data["weights"][layer][head], vmin=0.0, vmax=1.0, cmap="viridis")
            ax.set_xticks(range(len(labels)), labels, fontsize=6)
            ax.set_yticks(range(len(labels)), labels, fontsize=6)
            ax.tick_params(length=0, pad=1)
            ax.set_title(f"layer {layer}, head {head}", fontsize=8)
            if head == 0:
                ax.set_ylabel("query", fontsize=7)
            if layer == layers - 1:
                ax.set_xlabel("key", fontsize=7)
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    copied = f", copies {data['copied']}/{data['copy_n']} of this example" if "copied" in data else ""
    fig.suptitle(
        f"Attention per head of {whose} DecoderLM, trained {data['steps']} steps on the copy task "
        f"(final loss {data['final_loss']:.3f}{copied})",
        fontsize=10,
    )
    return fig


def positional(data: dict, whose: str) -> Any:
    fig = _figure(11, 4.6)
    left, right = fig.subplots(1, 2, width_ratios=[data["dims"] / data["positions"] * 1.4, 1])
    image = left.imshow(
        data["encoding"], aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest"
    )
    left.set_xlabel("dimension")
    left.set_ylabel("position")
    left.set_title(f"sinusoidal_encoding({data['positions']}, {data['dims']})", fontsize=10)
    fig.colorbar(image, ax=left, shrink=0.8)
    sim = right.imshow(data["similarity"], cmap="magma", interpolation="nearest")
    right.set_xlabel("position q")
    right.set_ylabel("position p")
    right.set_title("PE[p] · PE[q]: depends on p − q only", fontsize=10)
    fig.colorbar(sim, ax=right, shrink=0.8)
    fig.suptitle(
        f"{whose.capitalize()} sinusoidal positional encoding (largest difference from the formula: "
        f"{data['max_abs_error']:.1e})",
        fontsize=10,
    )
    return fig


def throughput(data: dict, whose: str) -> Any:
    fig = _figure(7, 4.6)
    ax = fig.subplots()
    T = data["lengths"]
    yours = [1e3 * s for s in data["yours_seconds"]]
    library = [1e3 * s for s in data["library_seconds"]]
    ax.loglog(T, yours, "o-", label=f"{whose} scaled_dot_product_attention (slope {data['slope_yours']:.2f})")
    ax.loglog(T, library, "s-", label=f"F.scaled_dot_product_attention (slope {data['slope_library']:.2f})")
    guide = [yours[-1] * (t / T[-1]) ** 2 for t in T]  # the quadratic cost, through the last point
    ax.loglog(T, guide, ":", color="grey", label="∝ T² (slope 2)")
    ax.set_xticks(T, [str(t) for t in T])
    ax.minorticks_off()
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("milliseconds per call")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(
        f"Attention time per call, batch {data['batch']}, d {data['d']} "
        f"(slopes fitted from T = {data['fitted_from']})",
        fontsize=10,
    )
    return fig


def pre_post_ln(data: dict, whose: str) -> Any:
    fig = _figure(7, 4.6)
    ax = fig.subplots()
    for key, label in (("pre_ln", "Pre-LN"), ("post_ln", "Post-LN")):
        curve = data[key]
        ax.plot(
            range(1, len(curve) + 1),
            [c if math.isfinite(c) else math.nan for c in curve],
            label=f"{label} (last loss {curve[-1]:.3f})" if curve else label,
        )
    ax.axhline(data["chance"], ls=":", color="grey", label=f"chance, ln {round(math.exp(data['chance']))}")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss on the copied half")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(
        f"{data['depth']} × {whose} TransformerBlock (d_model {data['d_model']}) on the copy task\n"
        f"AdamW lr {data['lr']:g}, no warmup, the same seed and batches",
        fontsize=10,
    )
    return fig


DRAW = {
    "attention_maps": attention_maps,
    "positional": positional,
    "throughput": throughput,
    "pre_post_ln": pre_post_ln,
}
