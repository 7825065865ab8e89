"""A report saved as it prints: Rich's drawing as SVG, HTML or plain text."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console, RenderableType

EXPORTS = (".svg", ".html", ".txt")


def exported(renderable: RenderableType, path: Path, title: str) -> str:
    """A renderable as Rich draws it, in the format `path`'s suffix names, at a fixed width so the
    file does not depend on the terminal it was made in."""
    recorder = Console(record=True, width=110, file=io.StringIO(), highlight=False, force_terminal=True)
    recorder.print(renderable)
    if path.suffix == ".svg":
        return recorder.export_svg(title=title)
    if path.suffix == ".html":
        return recorder.export_html()
    return recorder.export_text()
