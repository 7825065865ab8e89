"""Wall time of a full grading run against the time to import torch, on the same machine.

    python benchmarks/grade_speed.py [--repeat 5] [--profile default] [--workspace reference]

Both are timed as separate processes, as a learner runs them; the figure is the ratio of the
medians. The per-exercise split comes from the report's JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# Each run writes its history, as a learner's does, but into a file of its own rather than the
# workspace's (the reference's) .quiz folder.
HISTORY = Path(tempfile.mkdtemp(prefix="quiz-bench-")) / "history.sqlite3"


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    run = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "QUIZ_HISTORY": str(HISTORY)},
    )
    elapsed = time.perf_counter() - t0
    if run.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({run.returncode}):\n{run.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--workspace", default="reference")
    parser.add_argument("--day", default="day16")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        grade = [
            sys.executable,
            "-m",
            "quizgrader",
            "grade",
            args.day,
            "--workspace",
            args.workspace,
            "--profile",
            args.profile,
            "--device",
            "cpu",
            "--json",
            str(report),
        ]
        torch_import = [sys.executable, "-c", "import torch"]
        timed(torch_import)  # warm the file cache for both
        imports, grades = [], []
        for _ in range(args.repeat):
            imports.append(timed(torch_import))
            grades.append(timed(grade))
        data = json.loads(report.read_text())

    t_import, t_grade = statistics.median(imports), statistics.median(grades)
    print(
        f"import torch            median {t_import:6.2f} s   (min {min(imports):.2f}, max {max(imports):.2f})"
    )
    print(
        f"quiz grade {args.day} ({args.profile})  median {t_grade:6.2f} s   "
        f"(min {min(grades):.2f}, max {max(grades):.2f})"
    )
    print(f"ratio                   {t_grade / t_import:6.2f} x   over {args.repeat} runs each")
    print("per exercise (last run):")
    for ex in data["exercises"]:
        print(f"  {ex['id']:<45} {ex.get('seconds', float('nan')):6.2f} s  {ex['status']}")


if __name__ == "__main__":
    main()
