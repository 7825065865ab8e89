"""`quiz lab`: experiments on the learner's code, drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..report import messages
from .common import console, day_named, find_workspace, usage_error
from .options import LAB_DAY_HELP, Device, DeviceOption, SeedOption, WorkspaceOption, lab_days
from .outputs import not_written
from .running import progress_bar, resolved

LabDayArgument = Annotated[str, typer.Argument(help=LAB_DAY_HELP)]
LabOutOption = Annotated[Path, typer.Option(help="Where the PNGs and results.json go")]
ReferenceOption = Annotated[
    bool, typer.Option("--reference", help="Run the reference solutions in place of yours, to compare")
]
TextOption = Annotated[bool, typer.Option("--text", help="Show the results as text instead of PNGs")]
ExperimentsOption = Annotated[
    str | None,
    typer.Option(help="Comma-separated experiments: attention_maps, positional, throughput, pre_post_ln"),
]
StepsOption = Annotated[
    int, typer.Option(min=1, help="Training steps of the LM and of each Pre-/Post-LN stack")
]


def lab(
    day: LabDayArgument,
    workspace: WorkspaceOption = None,
    out: LabOutOption = Path("lab"),
    device: DeviceOption = Device.auto,
    reference: ReferenceOption = False,
    text: TextOption = False,
    only: ExperimentsOption = None,
    steps: StepsOption = 150,
    seed: SeedOption = 0,
) -> None:
    """Run experiments on your code of a day with a lab, and draw what it does.

    Day 16's: attention maps per head of your DecoderLM trained on a copy task, your sinusoidal
    encoding, your attention's time against the library's, Pre-LN against Post-LN training. PNGs
    with matplotlib (the `lab` extra), text without it; every number also goes to results.json.
    Each experiment runs in its own sandboxed process: one that fails leaves the others running."""
    from .. import lab as experiments
    from ..lab import text as lab_text

    the_day = day_named(day)
    if the_day.id not in lab_days():
        raise usage_error(messages.no_lab(the_day.id, lab_days()))
    try:
        names = experiments.pick(the_day.id, only)
    except ValueError as e:
        raise usage_error(str(e)) from None
    # the reference's own run reads no workspace: none need be found
    workspace = find_workspace(workspace) if not reference else workspace or Path(".")
    if not reference and not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not a folder (it should hold {the_day.id}/...)")
    if out.exists() and not out.is_dir():
        raise usage_error(f"--out {out} is a file, not a folder")
    settings = experiments.experiments_of(the_day.id).Settings(seed=seed, steps=steps)
    report = _run(the_day.id, workspace, settings, reference, device, names)
    try:
        saved = experiments.save(report, out, images=not text)
    except OSError as e:  # the results are shown all the same
        not_written(out, e)
        console.print(lab_text.details(report))
        raise typer.Exit(1) from None
    if saved.no_images:
        console.print(messages.as_text_instead(saved.no_images))
    if text or saved.no_images:
        console.print(lab_text.details(report))
    console.print(messages.wrote(saved.files, report.seconds), soft_wrap=True)
    raise typer.Exit(1 if report.failed else 0)


def _run(day: str, workspace: Path, settings, reference: bool, device: Device, names: list[str] | None):
    """The experiments, each in its own process, a line for each as it ends."""
    from .. import lab as experiments
    from ..lab import text as lab_text
    from ..sandbox.process import Zygote

    whose = experiments.whose(reference)
    with Zygote() as zygote:  # imports torch in its own interpreter while this one does the same
        options = experiments.LabOptions(
            day=day,
            workspace=workspace,
            settings=settings,
            reference=reference,
            device=resolved(device),
            only=names,
        )
        everything = experiments.experiments_of(day).EXPERIMENTS
        with progress_bar(len(names or everything), "running") as (bar, step):

            def progress(exp, outcome) -> None:
                if outcome is not None:
                    bar.console.print(lab_text.outcome_line(outcome, day, whose), soft_wrap=True)
                step(exp.name if outcome is None else None)

            return experiments.run(options, progress, zygote)
