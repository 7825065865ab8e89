"""What `quiz grade-batch` says: a line per submission as it finishes, then the totals."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

# A batch.Outcome is read, never imported: the batch runner imports the report package.


def submission_line(n: int, total: int, o, graded: bool) -> str:
    """ "[2/30] alice: 14/17 exercises pass, 15/19 points (41.0 s)"; `graded`: whether it was."""
    line = f"[{n}/{total}] {o.submission.name}: "
    if graded:
        ex = o.results["exercises"]
        line += (
            f"{sum(e['status'] == 'pass' for e in ex)}/{len(ex)} exercises pass, "
            f"{o.scores['score']:g}/{o.scores['max_score']:g} points"
        )
    else:
        line += f"{o.state}: {o.problem}"
    return escape(line + f" ({o.seconds:.1f} s)")


def totals(
    finished: int, not_graded: list, found: int, elapsed: float, jobs: int, gradebook: Path
) -> list[str]:
    """How many of the `finished` were graded, how fast, where the gradebook is, and each one not
    graded."""
    rate = finished / elapsed * 60 if elapsed else 0.0
    lines = [
        f"{finished - len(not_graded)} of {found} submissions graded in {elapsed:.0f} s "
        f"({rate:.1f} per minute, {jobs} at a time); gradebook: {escape(str(gradebook))}"
    ]
    for o in not_graded:
        lines.append(f"  not graded: {escape(o.submission.name)} ({o.state}: {escape(o.problem)})")
    return lines


def interrupted(finished: int) -> str:
    return f"interrupted: the gradebook lists the {finished} submissions finished before Ctrl-C"
