"""Seconds from a save to its report under `quiz watch`, as a learner sees them.

    python benchmarks/watch_latency.py [--rounds 12] [--profile quick] [--poll] [--verbose]

Starts `quiz watch day16` on a workspace holding the reference's attention.py (the other files are
the stubs), waits for the first report, then saves attention.py again and again, each time with one
exercise's code changed, and times each save until the round's report has printed (the "watching"
line that ends it). The saves cycle through:

  softmax     a comment added inside softmax: softmax is regraded and passes;
  sdpa        a comment added inside scaled_dot_product_attention: it is regraded and passes;
  fail        scaled_dot_product_attention with a known mistake (the scores not divided by
              sqrt(d_k)): the report carries the failing checks, the diagnosis, the shrunk
              example and the heatmap (the first one also builds the mistakes' workspaces);
  fixed       the mistake undone: passes again.

The figure is the median and the worst per kind. Each save is written whole and atomically, as an
editor does, and after the previous round has finished.
"""

from __future__ import annotations

import argparse
import ast
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quizgrader.analysis.diagnosis import for_exercise, mutate  # noqa: E402 - found through the path set above

SDPA = "day16.attention.scaled_dot_product_attention"


def with_comment(source: str, function: str, n: int) -> str:
    """`source` with a comment line at the top of `function`'s body."""
    node = next(x for x in ast.parse(source).body if isinstance(x, ast.FunctionDef) and x.name == function)
    first = node.body[0]
    lines = source.splitlines(keepends=True)
    indent = " " * first.col_offset
    lines.insert(first.lineno - 1, f"{indent}# save {n}\n")
    return "".join(lines)


def unmutate(source: str, mistake) -> str:
    """`source` with a known mistake's edits taken back."""
    for old, new in reversed(mistake.edits):
        assert source.count(new) == 1, new
        source = source.replace(new, old)
    return source


def save(path: Path, text: str) -> None:
    tmp = path.with_suffix(".swp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=12, help="saves in all (a multiple of 4 is fair to each kind)"
    )
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--poll", action="store_true", help="watch by looking at the files, not file events")
    parser.add_argument("--verbose", action="store_true", help="print each save's report lines")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="quiz-watch-") as tmp:
        ws = Path(tmp) / "ws"
        shutil.copytree(ROOT / "exercises", ws, ignore=shutil.ignore_patterns("__pycache__"))
        target = ws / "day16" / "attention.py"
        pristine = (ROOT / "reference" / "day16" / "attention.py").read_text()
        save(target, pristine)
        unscaled = next(m for m in for_exercise(SDPA) if "sqrt" in m.summary)
        cmd = [
            sys.executable,
            "-m",
            "quizgrader",
            "watch",
            "day16",
            "--workspace",
            str(ws),
            "--device",
            "cpu",
            "--profile",
            args.profile,
        ] + (["--poll"] if args.poll else [])
        proc = subprocess.Popen(
            cmd,
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "120", "QUIZ_HISTORY": "off"},
        )
        lines: queue.Queue[tuple[float, str]] = queue.Queue()

        def read() -> None:
            for line in proc.stdout:
                lines.put((time.perf_counter(), line))
            lines.put((time.perf_counter(), ""))

        threading.Thread(target=read, daemon=True).start()

        def until_watching(limit: float) -> tuple[float, list[str]]:
            seen = []
            while True:
                at, line = lines.get(timeout=limit)
                if not line:
                    sys.exit("quiz watch ended early:\n" + "".join(seen[-40:]))
                seen.append(line)
                if "watching" in line:
                    return at, seen

        text = pristine
        t0 = time.perf_counter()
        ready, _ = until_watching(600)
        print(f"first report (the whole day graded) after {ready - t0:.1f} s")
        kinds: dict[str, list[float]] = {"softmax": [], "sdpa": [], "fail": [], "fixed": []}
        try:
            for n in range(args.rounds):
                step = n % 4
                # Each save changes one exercise's code only, as a learner's does: the edits pile up.
                if step == 0:
                    kind, text = "softmax", with_comment(text, "softmax", n)
                elif step == 1:
                    kind, text = "sdpa", with_comment(text, "scaled_dot_product_attention", n)
                elif step == 2:
                    kind, text = "fail", mutate(text, unscaled)
                else:
                    kind, text = "fixed", unmutate(text, unscaled)
                time.sleep(0.3)  # a learner saves after a pause, not mid-report
                start = time.perf_counter()
                save(target, text)
                done, out = until_watching(120)
                if kind == "fail" and not any("fail" in line for line in out):
                    sys.exit("the failing save did not report a failure:\n" + "".join(out))
                kinds[kind].append(done - start)
                if args.verbose:  # what was regraded, and the grading's own time
                    print("".join(line for line in out if "checks" in line or "changed" in line), end="")
                print(f"  save {n + 1:2d} ({kind:7s}): {done - start:.3f} s")
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    print(
        f"\nquiz watch day16, {args.profile} profile, {'polling' if args.poll else 'file events'}: "
        "seconds from save to report"
    )
    for kind, times in kinds.items():
        if times:
            print(
                f"  {kind:7s}  median {statistics.median(times):.3f}   worst {max(times):.3f}   "
                f"({len(times)} saves)"
            )
    every = [t for times in kinds.values() for t in times]
    print(f"  all      median {statistics.median(every):.3f}   worst {max(every):.3f}")


if __name__ == "__main__":
    main()
