"""A lab run as Rich renderables: a line per experiment, and (without PNGs) the numbers themselves,
as the day's lab module writes them (its headline and DETAILS)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from .runner import LabReport, Outcome, experiments_of, whose


def outcome_line(o: Outcome, day: str, whose: str = "your") -> Text:
    if o.ok:
        found = experiments_of(day).headline(o.name, o.data or {}, whose)
        return Text.assemble(("✔ ", "green"), (o.name, "bold"), f" ({o.seconds:.1f} s): {found}")
    return Text.assemble(("✘ ", "red"), (o.name, "bold"), " failed: ", (o.error or "", "red"))


def details(report: LabReport) -> Group:
    """Every experiment's numbers, for a terminal without the PNGs."""
    lab = experiments_of(report.day)
    parts: list[RenderableType] = []
    for o in report.outcomes:
        if o.ok and o.data is not None:
            parts += [
                Text(f"\n{o.title}", style="bold underline"),
                lab.DETAILS[o.name](o.data, whose(report.reference)),
            ]
    return Group(*parts)
