"""Throughput of `quiz grade-batch` on a generated class, and whether every submission got the
result it should.

    python benchmarks/batch_throughput.py [--jobs 2] [--profile default] [--keep DIR]

Twenty submissions: 4 copies of the reference, 3 of the untouched stubs, 8 with one known mistake
each (from the diagnosis catalogue), and 5 hostile ones (an infinite loop, a fork bomb, a 50 GB
allocation, writes into the installed grader, a process that kills itself). The batch is run as
an instructor runs it, as one command; the figure is submissions per minute of wall time. Each
result is then checked: the reference passes everything, the stubs are not attempted, each
mistake fails its exercise and is named, each hostile exercise never passes, and the
submissions folder is unchanged. Exit status 1 if any of that does not hold.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quizgrader.analysis import diagnosis  # noqa: E402 - found through the path set above

MISTAKE_EXERCISES = [
    "attention.softmax",
    "attention.scaled_dot_product_attention",
    "masks.causal_mask",
    "multihead.MultiHeadAttention",
    "positional.sinusoidal_encoding",
    "positional.apply_rope",
    "block.TransformerBlock",
    "recipe.label_smoothed_cross_entropy",
]
HOSTILE = {  # name: (module, function, statements run before the real function, statuses allowed)
    "hostile-loop": ("attention", "softmax", "while True:\n    pass", {"timeout"}),
    "hostile-forkbomb": ("masks", "padding_mask", "import os\nwhile True:\n    os.fork()", {"error"}),
    "hostile-50gb": (
        "positional",
        "sinusoidal_encoding",
        "torch.ones(50 * 2**30, dtype=torch.uint8)",
        {"error"},
    ),
    "hostile-vandal": (
        "masks",
        "causal_mask",
        "import quizgrader\nopen(quizgrader.__file__, 'w').write('')",
        {"error"},
    ),
    "hostile-selfkill": (
        "recipe",
        "noam_lr",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        {"error"},
    ),
}


def wrap(source: str, function: str, statements: str) -> str:
    """The module, with `function` replaced by one that runs `statements` first."""
    body = "".join(f"        {line}\n" for line in statements.splitlines())
    return (
        source + f"\n\ndef _hostile(f):\n    def wrapper(*args, **kwargs):\n{body}"
        f"        return f(*args, **kwargs)\n    return wrapper\n\n\n{function} = _hostile({function})\n"
    )


def make_class(subs: Path) -> dict[str, tuple]:
    """The submissions, and what each one's result must be."""
    expected: dict[str, tuple] = {}
    for i in range(4):
        shutil.copytree(ROOT / "reference" / "day16", subs / f"reference-{i}" / "day16")
        expected[f"reference-{i}"] = ("all pass",)
    for i in range(3):
        shutil.copytree(ROOT / "exercises" / "day16", subs / f"stubs-{i}" / "day16")
        expected[f"stubs-{i}"] = ("not attempted",)
    for ex in MISTAKE_EXERCISES:
        m = next(m for m in diagnosis.mistakes("day16") if m.exercise == f"day16.{ex}")
        with tempfile.TemporaryDirectory() as tmp:
            diagnosis.materialize(m, Path(tmp) / "ws")
            shutil.copytree(Path(tmp) / "ws" / "day16", subs / f"mistake-{m.id}" / "day16")
        expected[f"mistake-{m.id}"] = ("mistake", m.exercise, m.id)
    for name, (module, function, statements, statuses) in HOSTILE.items():
        shutil.copytree(ROOT / "reference" / "day16", subs / name / "day16")
        path = subs / name / "day16" / f"{module}.py"
        path.write_text(wrap(path.read_text(), function, statements))
        expected[name] = ("hostile", f"day16.{module}.{function}", statuses)
    return expected


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode() + (p.read_bytes() if p.is_file() else b""))
    return h.hexdigest()


def judge(expect: tuple, result: dict | None) -> str | None:
    """None when the result is the expected one, else what is wrong."""
    if result is None:
        return "not graded"
    status = {e["id"]: e for e in result["exercises"]}
    kind = expect[0]
    if kind == "all pass":
        bad = [i for i, e in status.items() if e["status"] != "pass"]
        return f"does not pass: {bad}" if bad else None
    if kind == "not attempted":
        bad = [i for i, e in status.items() if e["status"] != "not_attempted"]
        return f"graded as attempted: {bad}" if bad else None
    if kind == "mistake":
        e = status[expect[1]]
        if e["status"] not in ("fail", "error"):
            return f"{expect[1]} is {e['status']}"
        return None if expect[2] in e["diagnosis"] else f"{expect[2]} not named ({e['diagnosis']})"
    e = status[expect[1]]
    return None if e["status"] in expect[2] else f"{expect[1]} is {e['status']}: {e['reason'][:200]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--profile", default="default")
    parser.add_argument(
        "--keep", type=Path, help="make the class here and keep it (default: a temporary folder)"
    )
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="quiz-class-"))
    subs, out = root / "submissions", root / "grades"
    if subs.exists():
        shutil.rmtree(subs)
    subs.mkdir(parents=True)
    expected = make_class(subs)
    before = digest(subs)
    grader_before = digest(ROOT / "quizgrader")
    t0 = time.perf_counter()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "quizgrader",
            "grade-batch",
            str(subs),
            "--day",
            "day16",
            "--jobs",
            str(args.jobs),
            "--profile",
            args.profile,
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    print(run.stdout)
    if run.returncode not in (0, 1):
        sys.exit(f"quiz grade-batch failed ({run.returncode}):\n{run.stderr[-2000:]}")
    rows = {r["submission"]: r for r in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}
    problems = []
    for name, expect in expected.items():
        path = out / f"{name}.json"
        result = json.loads(path.read_text()) if path.is_file() else None
        if (wrong := judge(expect, result)) is not None:
            problems.append(f"{name}: {wrong}")
        print(
            f"  {name:48} {rows[name]['score']:>5}/{rows[name]['max_score']:<5} "
            f"{'ok' if wrong is None else wrong}"
        )
    if digest(subs) != before:
        problems.append("the submissions folder changed")
    if digest(ROOT / "quizgrader") != grader_before:
        problems.append("the grader's own files changed")
    n = len(expected)
    print(
        f"\n{n} submissions, --jobs {args.jobs}, {args.profile} profile: {elapsed:.1f} s, "
        f"{n / elapsed * 60:.1f} submissions per minute; {n - len(problems)} of {n} as expected"
    )
    for p in problems:
        print("  UNEXPECTED:", p)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
