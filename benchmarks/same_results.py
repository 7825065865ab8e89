"""Grades the reference (`quiz grade DAY --workspace reference --seed 0 --json`) for both days and
compares the results with ones saved earlier, less what differs from run to run (timings, and
the figures and sentences made of them). For a restructuring that must not change behaviour:

    python benchmarks/same_results.py save before/      # on the commit before
    python benchmarks/same_results.py compare before/   # on the commit after: exit 0 when identical

It prints each difference as `path: before | after`, and a line per day."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAYS = ("day16", "day9")
# figures that are timings, or are computed from them
TIMED = {
    "seconds",
    "attention_ms",
    "recurrence_ms",
    "speedup",
    "growth_exponent",
    "recurrence_growth_exponent",
    "tokens_per_s",
    "summary",
}
MASKS = [
    (re.compile(r"\d+(?:\.\d+)?\s*(?:ms|s)\b"), "<time>"),
    (re.compile(r"T\^\d+(?:\.\d+)?"), "T^<x>"),
    (re.compile(r"\b\d+(?:\.\d+)?x\b"), "<x>x"),
    (re.compile(r"[\d,]+ tokens/s"), "<n> tokens/s"),
]


def normalised(value, key: str = ""):
    """The result without what differs between two runs of the same code."""
    if isinstance(value, dict):
        return {
            k: normalised(v, k)
            for k, v in value.items()
            if k != "seconds" and not (key == "figures" and k in TIMED)
        }
    if isinstance(value, list):
        return [normalised(v) for v in value]
    if isinstance(value, str):
        for pattern, mask in MASKS:
            value = pattern.sub(mask, value)
    return value


def graded(day: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "quizgrader",
                "grade",
                day,
                "--workspace",
                str(ROOT / "reference"),
                "--seed",
                "0",
                "--json",
                str(out),
            ],
            cwd=ROOT,
            capture_output=True,
            check=False,
            env={**os.environ, "QUIZ_HISTORY": "off"},
        )
        return normalised(json.loads(out.read_text()))


def differences(before, after, path: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            d
            for k in sorted(set(before) | set(after), key=str)
            for d in differences(before.get(k), after.get(k), f"{path}.{k}")
        ]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [d for i, (b, a) in enumerate(zip(before, after)) for d in differences(b, a, f"{path}[{i}]")]
    return [] if before == after else [f"{path}: {str(before)[:100]} | {str(after)[:100]}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("save", "compare"))
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    found = 0
    for day in DAYS:
        result, saved = graded(day), args.folder / f"{day}.json"
        if args.action == "save":
            saved.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
            print(f"{day}: saved {saved} ({len(result['exercises'])} exercises)")
            continue
        diffs = differences(json.loads(saved.read_text()), result)
        found += len(diffs)
        print(
            f"{day}: {'identical' if not diffs else f'{len(diffs)} differences'} "
            f"({len(result['exercises'])} exercises, timings left out)"
        )
        for d in diffs:
            print("  " + d)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
