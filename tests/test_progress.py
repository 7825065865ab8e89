"""Progress from the learner's process: training steps reach the grader while the call runs, the
answer is unchanged, and a process that only ever sends progress still meets the time limit."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from quizgrader.checks.api import remote
from quizgrader.grade import Options, grade
from quizgrader.results import Status
from quizgrader.sandbox.process import ON_PROGRESS, ChildConfig

ROOT = Path(__file__).resolve().parents[1]


def test_training_steps_reach_the_grader_during_the_call(zygote):
    seen: list[tuple[int, int]] = []
    child = zygote.spawn(ChildConfig(ROOT / "reference", soft_timeout=120), hard_timeout=125)
    token = ON_PROGRESS.set(lambda done, total: seen.append((done, total)))
    try:
        api = remote(child, "day16")
        result = api.tool(
            "train_block_stack",
            "block.TransformerBlock",
            pre_ln=True,
            depth=1,
            d_model=8,
            num_heads=2,
            n=3,
            vocab=5,
            batch=4,
            steps=40,
            lr=1e-2,
            seed=0,
        )
    finally:
        ON_PROGRESS.reset(token)
        child.end()
    assert len(result["losses"]) == 40  # the answer itself is unchanged
    assert seen and seen[-1] == (40, 40) and {t for _, t in seen} == {40}
    assert [d for d, _ in seen] == sorted({d for d, _ in seen})  # in order, never twice


def test_a_process_that_only_sends_progress_still_times_out(tmp_path, zygote):
    """Each progress message used to be a fresh wait: the limit holds for the whole call."""
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "exercises", ws, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "reference" / "day16" / "masks.py", ws / "day16" / "masks.py")
    path = ws / "day16" / "attention.py"
    source = path.read_text()
    head = source.index("def softmax(")
    body = source.index("raise NotImplementedError", head)
    path.write_text(
        source[:body]
        + (  # progress frames written straight onto the grader's socket
            "import os, stat, struct, time\n"
            "    frame = b'\\0\\0\\0\\0progress:0/1'\n"
            "    sockets = [fd for fd in range(3, 64) if _is_socket(fd)]\n"
            "    while True:\n"
            "        try:\n"
            "            for fd in sockets:\n"
            "                os.write(fd, struct.pack('<Q', len(frame)) + frame)\n"
            "            time.sleep(0.25)\n"
            "        except BaseException:\n"
            "            pass\n"
            "    "
        )
        + source[body:]
        + (
            "\n\ndef _is_socket(fd):\n"
            "    import os, stat\n"
            "    try:\n"
            "        return stat.S_ISSOCK(os.fstat(fd).st_mode)\n"
            "    except OSError:\n"
            "        return False\n"
        )
    )
    done: list = []
    run = threading.Thread(
        target=lambda: done.append(
            grade(
                "day16",
                Options(ws, only=["attention.softmax", "masks.causal_mask"], profile="quick", timeout=1.0),
                zygote=zygote,
            )
        ),
        daemon=True,
    )
    run.start()
    run.join(timeout=90)
    assert done, "the grading never ended: progress messages kept the call alive past its limit"
    softmax, mask = done[0].exercises
    assert softmax.status is Status.TIMEOUT and "within 6 s" in softmax.reason, softmax.reason
    assert mask.status is Status.PASS
