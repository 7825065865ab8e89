"""Writing a lab run to its folder: a PNG per experiment that ran (when matplotlib is here and
images are wanted) and results.json with every number, in both modes. Each file is written
atomically, never through a link in the workspace (the learner's code ran there)."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .. import safefs
from .runner import LabReport, experiments_of, whose

RESULTS = "results.json"
DPI = 100


@dataclass
class Saved:
    files: list[Path] = field(default_factory=list)
    no_images: str | None = None  # why there are no PNGs, when images were wanted


def save(report: LabReport, out: Path, images: bool = True) -> Saved:
    workspace = Path(report.workspace)
    safefs.make_dirs(out, workspace)
    saved = Saved(no_images=missing() if images else None)
    if images and saved.no_images is None:
        lab = experiments_of(report.day)
        for o in report.outcomes:
            if o.ok and o.data is not None:
                path = out / f"{o.name}.png"
                png = io.BytesIO()
                draw(lab.DRAW[o.name](o.data, whose(report.reference)), png)
                safefs.write_atomic(path, png.getvalue(), workspace)
                o.files.append(str(path))
                saved.files.append(path)
    results = out / RESULTS
    safefs.write_atomic(
        results, json.dumps(_rounded(report.to_dict()), separators=(",", ":")) + "\n", workspace
    )
    saved.files.append(results)
    return saved


def missing() -> str | None:
    """Why no PNG can be drawn here, or None when matplotlib is installed."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ImportError:
        return "matplotlib is not installed (pip install 'quizgrader[lab]' for PNGs)"
    return None


def draw(figure: Any, out: Path | BinaryIO) -> None:
    """Write a matplotlib Figure as a PNG to `out`, a path or a binary file, on an Agg canvas: no
    display, no pyplot state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    figure.savefig(out, dpi=DPI, format="png")


def _rounded(value: Any) -> Any:
    """Floats to 6 significant digits: the file stays small, and no plot or table needs more."""
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value
