"""Writing a lab run to its folder: a PNG per experiment that ran (when matplotlib is here and
images are wanted) and results.json with every number, in both modes. Each file is written
atomically, never through a link in the workspace (the learner's code ran there)."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import safefs
from . import plots
from .runner import LabReport, whose

RESULTS = "results.json"


@dataclass
class Saved:
    files: list[Path] = field(default_factory=list)
    no_images: str | None = None  # why there are no PNGs, when images were wanted


def save(report: LabReport, out: Path, images: bool = True) -> Saved:
    workspace = Path(report.workspace)
    safefs.make_dirs(out, workspace)
    saved = Saved(no_images=plots.missing() if images else None)
    if images and saved.no_images is None:
        for o in report.outcomes:
            if o.ok and o.data is not None:
                path = out / f"{o.name}.png"
                png = io.BytesIO()
                plots.draw(o.name, o.data, png, whose(report.reference))
                safefs.write_atomic(path, png.getvalue(), workspace)
                o.files.append(str(path))
                saved.files.append(path)
    results = out / RESULTS
    safefs.write_atomic(
        results, json.dumps(_rounded(report.to_dict()), separators=(",", ":")) + "\n", workspace
    )
    saved.files.append(results)
    return saved


def _rounded(value: Any) -> Any:
    """Floats to 6 significant digits: the file stays small, and no plot or table needs more."""
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value
