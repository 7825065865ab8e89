"""The learning check on its own: the grader trains the reference DecoderLM on the copy task in a
learner process, as `quiz grade` does, and reports time, tokens per second and accuracy.

    python benchmarks/learning.py [--device auto|cpu|cuda] [--config cpu|cuda] [--repeat 3]

On a GPU the check's larger configuration runs; `--config cuda` runs that one anywhere (on a CPU
it takes minutes), to see that positions still make the difference. Figures are medians over the
repeats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--config", choices=["cpu", "cuda"], help="default: the device's")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workspace", default=str(ROOT / "reference"))
    args = parser.parse_args()

    from quizgrader.sandbox.process import ChildConfig, Zygote

    with Zygote() as zygote:
        from quizgrader.checks.api import remote
        from quizgrader.checks.registry import Context, _context
        from quizgrader.days.day16.checks import lm
        from quizgrader.grade import resolve_device

        device = resolve_device(args.device)
        _context.set(Context(profile="default", device=device))
        cfg = lm.COPY[args.config or ("cuda" if device == "cuda" else "cpu")]
        print(f"device {device}; task and model: {cfg}")
        rows = {"learned": [], "none": []}
        for _ in range(args.repeat):
            child = zygote.spawn(
                ChildConfig(Path(args.workspace), device, soft_timeout=600), hard_timeout=620
            )
            try:
                you = remote(child, "day16")
                for positional, runs in rows.items():
                    accuracy, run = lm.train_copy(you, cfg, positional)
                    runs.append(
                        (run["seconds"], run["tokens"] / run["seconds"], len(run["losses"]), accuracy)
                    )
            finally:
                child.end()
    for positional, runs in rows.items():
        seconds, rate, steps, accuracy = (statistics.median(x) for x in zip(*runs))
        print(
            f"positional={positional:<8} steps {steps:5.0f}  train {seconds:6.2f} s  {rate:10,.0f} tokens/s  "
            f"held-out accuracy {accuracy:.1%}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
