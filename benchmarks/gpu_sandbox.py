"""The GPU path under the learner's sandbox: both days' reference graded with --device cuda (every
exercise must pass, with the layers the kernel applied), and a learner's softmax that calls the
library on the GPU (it must fail as not written from scratch: the operator's CUDA kernel is
disabled too). Prints one JSON object; exits 1 when something is not as it must be.

    python benchmarks/gpu_sandbox.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SOFTMAX_BODY = (
    "    shifted = x - x.amax(dim=dim, keepdim=True)\n"
    "    exps = torch.exp(shifted)\n"
    "    return exps / exps.sum(dim=dim, keepdim=True)\n"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write each report's JSON here")
    args = parser.parse_args()

    import torch

    from quizgrader.grade import Options, grade
    from quizgrader.results import Status

    if not torch.cuda.is_available():
        print(json.dumps({"cuda": False}))
        return 0
    summary: dict = {"cuda": torch.cuda.get_device_name(0), "torch": torch.__version__}
    ok = True
    for day in ("day16", "day09"):
        t0 = time.perf_counter()
        report = grade(day, Options(workspace=ROOT / "reference", device="cuda", seed=0))
        summary[day] = {
            "seconds": round(time.perf_counter() - t0, 1),
            "passed": report.passed,
            "not_passing": {e.id: e.reason[:300] for e in report.exercises if e.status is not Status.PASS},
            "sandbox": report.sandbox.get("applied"),
            "missing": report.sandbox.get("missing"),
        }
        ok &= report.passed
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{day}-cuda.json").write_text(json.dumps(report.to_dict(), default=str, indent=1))
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__"))
        path = ws / "day16" / "attention.py"
        path.write_text(path.read_text().replace(SOFTMAX_BODY, "    return torch._softmax(x, dim, False)\n"))
        [result] = grade(
            "day16", Options(workspace=ws, only=["softmax"], device="cuda", profile="quick")
        ).exercises
        summary["library_softmax_on_cuda"] = {"status": result.status.value, "reason": result.reason[:300]}
        ok &= result.status is Status.FAIL and "not written from scratch" in result.reason
    summary["ok"] = ok
    print(json.dumps(summary, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
