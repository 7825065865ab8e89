"""Broken and hostile learner code: each gets the right status and the reason, never a pass, and
the rest of the run still completes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from quizgrader.grade import Options, grade
from quizgrader.results import Status

ROOT = Path(__file__).resolve().parents[1]
SOFTMAX_BODY = ("    shifted = x - x.amax(dim=dim, keepdim=True)\n"
                "    exps = torch.exp(shifted)\n"
                "    return exps / exps.sum(dim=dim, keepdim=True)\n")


def workspace_with_softmax(tmp_path: Path, body: str, header: str = "") -> Path:
    """A copy of the reference whose softmax body is replaced (the rest stays correct)."""
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws)
    path = ws / "day16" / "attention.py"
    text = path.read_text()
    assert SOFTMAX_BODY in text
    path.write_text(header + text.replace(SOFTMAX_BODY, body))
    return ws


def grade_softmax(ws: Path, zygote, timeout: float | None = None):
    """Grade softmax and an exercise in another file: the second must still pass."""
    report = grade("day16", Options(workspace=ws, only=["softmax", "causal_mask"], profile="quick", timeout=timeout),
                   zygote=zygote)
    softmax, causal = report.exercises
    assert causal.status is Status.PASS, "an exercise after the broken one must still be graded"
    assert not report.passed
    return softmax


def test_infinite_loop_times_out(tmp_path, zygote):
    ws = workspace_with_softmax(tmp_path, "    while True:\n        pass\n")
    result = grade_softmax(ws, zygote, timeout=1.5)
    assert result.status is Status.TIMEOUT
    assert "1.5" in result.reason
    assert any(c.status is Status.SKIPPED for c in result.checks)


def test_sleeping_in_c_code_times_out(tmp_path, zygote):
    """A hang the soft timeout cannot interrupt (a blocking C call) is killed by the hard one."""
    ws = workspace_with_softmax(tmp_path, "    import signal\n    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\n"
                                          "    while True:\n        pass\n")
    result = grade_softmax(ws, zygote, timeout=1.0)
    assert result.status is Status.TIMEOUT


@pytest.mark.parametrize("body, words", [
    ("    import os\n    os._exit(0)\n", "exited with code 0"),
    ("    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n", "SIGKILL"),
    ("    import ctypes\n    ctypes.string_at(0)\n", "SIGSEGV"),
], ids=["os._exit", "sigkill", "segfault"])
def test_process_ending_is_an_error_with_the_reason(tmp_path, body, words, zygote):
    result = grade_softmax(workspace_with_softmax(tmp_path, body), zygote)
    assert result.status is Status.ERROR
    assert words in result.reason, result.reason
    assert any(c.status is Status.SKIPPED for c in result.checks)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc to find the parent safely")
def test_killing_the_parent_process_loses_nothing_else(tmp_path, zygote):
    """A stub that ends the zygote it was forked from: the rest of the run gets a new one."""
    body = ("    import os, signal, pathlib\n"
            "    parent = os.getppid()\n"     # only ever the zygote: once it is gone the parent is init
            "    if b'_zygote_main' in pathlib.Path(f'/proc/{parent}/cmdline').read_bytes():\n"
            "        os.kill(parent, signal.SIGKILL)\n"
            "    raise RuntimeError('after the kill')\n")
    result = grade_softmax(workspace_with_softmax(tmp_path, body), zygote)
    assert result.status is Status.ERROR and "after the kill" in result.reason


def test_sys_exit_is_caught_as_an_error_and_the_process_goes_on(tmp_path, zygote):
    result = grade_softmax(workspace_with_softmax(tmp_path, "    import sys\n    sys.exit(0)\n"), zygote)
    assert result.status is Status.ERROR
    assert "sys.exit(0)" in result.reason and "attention.py:" in result.reason
    assert not any(c.status is Status.SKIPPED for c in result.checks)


def test_raising_is_an_error_naming_the_exception_and_line(tmp_path, zygote):
    result = grade_softmax(workspace_with_softmax(tmp_path, "    raise ValueError('boom')\n"), zygote)
    assert result.status is Status.ERROR
    bad = next(c for c in result.checks if c.status is Status.ERROR)
    assert "ValueError" in bad.message and "boom" in bad.message
    assert "attention.py" in bad.message and "line" in bad.message


def test_wrong_shape_fails_at_the_shape_stage(tmp_path, zygote):
    result = grade_softmax(workspace_with_softmax(tmp_path, "    return x.sum(dim=dim)\n"), zygote)
    assert result.status is Status.FAIL
    first = next(c for c in result.checks if c.status is Status.FAIL)
    assert "shape" in first.message


def test_nan_output_fails_at_the_finite_stage(tmp_path, zygote):
    result = grade_softmax(workspace_with_softmax(tmp_path, "    return torch.full_like(x, float('nan'))\n"), zygote)
    assert result.status is Status.FAIL
    assert any("NaN" in c.message for c in result.checks if c.status is Status.FAIL)


def test_returning_something_other_than_a_tensor_fails(tmp_path, zygote):
    result = grade_softmax(workspace_with_softmax(tmp_path, "    return x.tolist()\n"), zygote)
    assert result.status in (Status.FAIL, Status.ERROR)
    assert any("tensor" in c.message.lower() for c in result.checks if c.status is not Status.PASS)


def test_patching_the_comparison_in_the_child_changes_nothing(tmp_path, zygote):
    """Judging happens in the parent: a stub that rigs torch's comparisons in its own process
    (and returns a wrong answer) still fails."""
    rig = ("    torch.allclose = lambda *a, **k: True\n"
           "    torch.testing.assert_close = lambda *a, **k: None\n"
           "    torch.Tensor.__eq__ = lambda *a, **k: True\n"
           "    return torch.ones_like(x)\n")
    result = grade_softmax(workspace_with_softmax(tmp_path, rig), zygote)
    assert result.status is Status.FAIL


def test_syntax_error_is_an_error_for_that_file_only(tmp_path, zygote):
    ws = workspace_with_softmax(tmp_path, "    return x +\n")
    result = grade_softmax(ws, zygote)
    assert result.status is Status.ERROR
    assert "SyntaxError" in result.reason and "attention.py" in result.reason


def test_stub_printing_a_lot_does_not_flood_the_report(tmp_path, zygote):
    ws = workspace_with_softmax(tmp_path, "    print('x' * 100_000)\n    raise RuntimeError('after printing')\n")
    result = grade_softmax(ws, zygote)
    assert result.status is Status.ERROR
    assert result.output and len(result.output) < 10_000


def test_a_stub_raising_keyboard_interrupt_is_its_own_error_not_the_graders(tmp_path, zygote):
    """In the learner's process a KeyboardInterrupt can only be the code's own (Ctrl-C is
    ignored there): it is that exercise's error, and the run goes on."""
    result = grade_softmax(workspace_with_softmax(tmp_path, "    raise KeyboardInterrupt\n"), zygote)
    assert result.status is Status.ERROR and "KeyboardInterrupt" in result.reason


def test_ctrl_c_while_the_reference_runs_in_the_grader_stops_the_run():
    """The reference runs in the grader's own process: a Ctrl-C that lands there must stop the
    grading, not be reported as the reference's failure (it was, and the run went on)."""
    import torch

    from quizgrader.sandbox.child import Server

    server = Server({"workspace": str(ROOT / "reference")}, package="_quiz_reference", install=False)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    original = torch.manual_seed
    torch.manual_seed = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            server.handle({"op": "new", "target": "day16.multihead.MultiHeadAttention", "args": [8, 2], "kwargs": {}})
    finally:
        torch.manual_seed = original


def test_printing_100_mb_stops_at_the_output_limit_and_fills_no_disk(tmp_path, zygote):
    from quizgrader.sandbox.child import OUTPUT_LIMIT

    ws = workspace_with_softmax(tmp_path, "    for _ in range(100):\n        print('x' * 2**20)\n")
    result = grade_softmax(ws, zygote)
    assert result.status is Status.ERROR, (result.status, result.reason)
    assert "File too large" in result.reason or "OSError" in result.reason, result.reason
    assert result.output and len(result.output) < 10_000
    logs = list(Path(zygote.tmp.name).glob("*.log"))        # what the learner's processes printed
    assert logs and max(p.stat().st_size for p in logs) <= OUTPUT_LIMIT
