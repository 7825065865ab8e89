"""Day 16's lab results as text: what each experiment found in a line, and (without PNGs) its
numbers as compact Rich tables. Built from the plain results; computes nothing of its own."""

from __future__ import annotations

import math

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

SPARKS = "▁▂▃▄▅▆▇█"


def headline(name: str, d: dict, whose: str = "your") -> str:
    """What an experiment found, in one line; `whose`: "your" or "the reference's"."""
    if name == "attention_maps":
        copied = f", copies {d['copied']}/{d['copy_n']} tokens of the example" if "copied" in d else ""
        return (
            f"{d['layers']} layers × {d['heads']} heads after {d['steps']} steps, final loss "
            f"{d['final_loss']:.3f}{copied}"
        )
    if name == "positional":
        return (
            f"{d['positions']} positions × {d['dims']} dims, largest difference from the formula "
            f"{d['max_abs_error']:.1e}"
        )
    if name == "throughput":
        return (
            f"time grows as T^{d['slope_yours']:.2f} (F.scaled_dot_product_attention: "
            f"T^{d['slope_library']:.2f}); {whose} attention takes "
            f"{d['yours_seconds'][-1] / d['library_seconds'][-1]:.1f}× "
            f"its time at T={d['lengths'][-1]}"
        )
    if name == "pre_post_ln":
        return (
            f"after {len(d['pre_ln'])} steps: Pre-LN {d['pre_ln'][-1]:.3f}, Post-LN {d['post_ln'][-1]:.3f} "
            f"(chance {d['chance']:.2f})"
        )
    return ""


# -- per experiment ----------------------------------------------------------------------------------
def _cell(w: float) -> Text:
    """An attention weight in four characters: ' .42', ' 1.0', and '·' where the mask left 0."""
    if w == 0.0:
        return Text("   ·", style="dim")
    shown = " 1.0" if w >= 0.995 else " " + f"{w:.2f}"[1:]
    return Text(shown, style="bold yellow" if w >= 0.5 else ("yellow" if w >= 0.2 else "default"))


def attention_maps(d: dict, whose: str) -> RenderableType:
    labels = ["|" if t == d["separator"] else str(t) for t in d["tokens"]]
    grids = []
    for layer, heads in enumerate(d["weights"]):
        for head, rows in enumerate(heads):
            grid = Table(
                title=f"layer {layer}, head {head}",
                box=None,
                padding=(0, 0),
                show_edge=False,
                title_style="bold",
            )
            grid.add_column("", justify="right", style="dim")
            for label in labels:
                grid.add_column(f"{label:>4}", justify="right", no_wrap=True)
            for label, row in zip(labels, rows):
                grid.add_row(f"{label} ", *(_cell(w) for w in row))
            grids.append(grid)
    note = Text(
        f"rows: queries, columns: keys (the tokens; '|' is the separator); trained {d['steps']} steps, "
        f"final loss {d['final_loss']:.3f}",
        style="dim",
    )
    return Group(note, Columns(grids, padding=(1, 3)))


def _every(n: int, shown: int) -> list[int]:
    step = max(1, math.ceil(n / shown))
    return list(range(0, n, step))


def _signed(v: float) -> Text:
    style = "red" if v > 0.5 else "magenta" if v > 0 else "blue" if v < -0.5 else "cyan"
    return Text(f"{v:+.2f}", style=style)


def positional(d: dict, whose: str) -> RenderableType:
    rows, cols = _every(d["positions"], 12), _every(d["dims"], 8)
    table = Table(
        title=Text(
            f"PE[p, i], every {rows[1] - rows[0] if len(rows) > 1 else 1}th position p and "
            f"{cols[1] - cols[0] if len(cols) > 1 else 1}th dimension i"
        ),
        title_justify="left",
    )
    table.add_column("pos \\ dim", justify="right")
    for c in cols:
        table.add_column(str(c), justify="right")
    for r in rows:
        table.add_row(str(r), *(_signed(d["encoding"][r][c]) for c in cols))
    sim = d["similarity"]
    shifts = [k for k in (0, 1, 2, 4, 8, 16, 32) if k < d["positions"]]
    lines = Table(title=Text("PE[p] · PE[p + k]: the same for every p"), title_justify="left")
    lines.add_column("p \\ k", justify="right")
    for k in shifts:
        lines.add_column(str(k), justify="right")
    for p in [p for p in (0, 10, 40) if p + shifts[-1] < d["positions"]] or [0]:
        lines.add_row(str(p), *(f"{sim[p][p + k]:.2f}" if p + k < d["positions"] else "" for k in shifts))
    note = Text(f"largest difference from sin/cos(p / 10000^(2i/d)): {d['max_abs_error']:.1e}", style="dim")
    return Group(table, lines, note)


def throughput(d: dict, whose: str) -> RenderableType:
    table = Table(title=f"time per call, batch {d['batch']}, d {d['d']}", title_justify="left")
    short = "yours" if whose == "your" else "reference"
    for name in ("T", f"{short} (ms)", "F.sdpa (ms)", f"{short} / F.sdpa", f"{short} tokens/s"):
        table.add_column(name, justify="right")
    for i, T in enumerate(d["lengths"]):
        yours, lib = d["yours_seconds"][i], d["library_seconds"][i]
        table.add_row(
            str(T),
            f"{1e3 * yours:.3f}",
            f"{1e3 * lib:.3f}",
            f"{yours / max(lib, 1e-12):.1f}×",
            f"{d['yours_tokens_per_s'][i]:,.0f}",
        )
    note = Text(
        f"fitted log–log slope (from T = {d['fitted_from']}): {short} {d['slope_yours']:.2f}, "
        f"F.scaled_dot_product_attention {d['slope_library']:.2f}; 2 is the quadratic cost of "
        f"the T × T scores. Outputs agree to {d['max_abs_difference']:.1e}.",
        style="dim",
    )
    return Group(table, note)


def sparkline(values: list[float], width: int = 60, scale: list[float] | None = None) -> str:
    """The curve in block characters, log-scaled (losses span decades), at most `width` wide;
    `scale`: the values that set the bottom and the top (several curves on one scale)."""
    finite = [v for v in (scale or values) if math.isfinite(v) and v > 0]
    if not finite:
        return "?" * min(width, len(values))
    step = max(1, math.ceil(len(values) / width))
    points = [values[i : i + step] for i in range(0, len(values), step)]
    lo, hi = math.log(min(finite)), math.log(max(finite))
    out = []
    for chunk in points:
        good = [v for v in chunk if math.isfinite(v) and v > 0]
        if not good:
            out.append("?")
            continue
        x = (math.log(sum(good) / len(good)) - lo) / (hi - lo) if hi > lo else 0.5
        out.append(SPARKS[min(len(SPARKS) - 1, int(x * len(SPARKS)))])
    return "".join(out)


def pre_post_ln(d: dict, whose: str) -> RenderableType:
    pre, post = d["pre_ln"], d["post_ln"]
    n = max(len(pre), len(post))
    table = Table(title=f"loss on the copy task, {d['depth']} blocks", title_justify="left")
    for name in ("step", "Pre-LN", "Post-LN"):
        table.add_column(name, justify="right")
    marks = sorted({*_every(n, 10), n - 1}) if n else []
    for i in marks:
        table.add_row(str(i + 1), *(f"{c[i]:.3f}" if i < len(c) else "" for c in (pre, post)))
    curves = Table.grid(padding=(0, 2))
    curves.add_row(Text("Pre-LN ", style="bold"), sparkline(pre, scale=pre + post))
    curves.add_row(Text("Post-LN", style="bold"), sparkline(post, scale=pre + post))
    note = Text(
        f"{d['depth']} blocks of d_model {d['d_model']}, AdamW lr {d['lr']:g}, no warmup, the same seed; "
        f"chance: ln {round(math.exp(d['chance']))} = {d['chance']:.2f}; the lines share a log scale",
        style="dim",
    )
    return Group(table, curves, note)


DETAILS = {
    "attention_maps": attention_maps,
    "positional": positional,
    "throughput": throughput,
    "pre_post_ln": pre_post_ln,
}
