"""Broken and hostile learner code: each gets the right status and the reason, never a pass, and
the rest of the run still completes."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from quizgrader.grade import Options, grade
from quizgrader.results import Status

ROOT = Path(__file__).resolve().parents[1]
SOFTMAX_BODY = (
    "    shifted = x - x.amax(dim=dim, keepdim=True)\n"
    "    exps = torch.exp(shifted)\n"
    "    return exps / exps.sum(dim=dim, keepdim=True)\n"
)


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
    report = grade(
        "day16",
        Options(workspace=ws, only=["softmax", "causal_mask"], profile="quick", timeout=timeout),
        zygote=zygote,
    )
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
    ws = workspace_with_softmax(
        tmp_path,
        "    import signal\n    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\n"
        "    while True:\n        pass\n",
    )
    result = grade_softmax(ws, zygote, timeout=1.0)
    assert result.status is Status.TIMEOUT


@pytest.mark.parametrize(
    "body, words",
    [
        ("    import os\n    os._exit(0)\n", "exited with code 0"),
        ("    import signal\n    signal.raise_signal(signal.SIGKILL)\n", "SIGKILL"),
        ("    import faulthandler\n    faulthandler._sigsegv()\n", "SIGSEGV"),
    ],
    ids=["os._exit", "sigkill", "segfault"],
)
def test_process_ending_is_an_error_with_the_reason(tmp_path, body, words, zygote):
    result = grade_softmax(workspace_with_softmax(tmp_path, body), zygote)
    assert result.status is Status.ERROR
    assert words in result.reason, result.reason
    assert any(c.status is Status.SKIPPED for c in result.checks)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc to find the parent safely")
def test_killing_the_parent_process_loses_nothing_else(tmp_path, zygote):
    """A stub that ends the zygote it was forked from: the rest of the run gets a new one."""
    body = (
        "    import os, signal\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n"  # only ever the zygote
        "    raise RuntimeError('after the kill')\n"
    )
    result = grade_softmax(workspace_with_softmax(tmp_path, body), zygote)
    assert result.status is Status.ERROR
    # The kill is refused (the audit hook; Landlock's signal scope); where neither exists it lands
    # and a new zygote serves the rest of the run.
    assert "after the kill" in result.reason or "may not send signals" in result.reason, result.reason


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
    result = grade_softmax(
        workspace_with_softmax(tmp_path, "    return torch.full_like(x, float('nan'))\n"), zygote
    )
    assert result.status is Status.FAIL
    assert any("NaN" in c.message for c in result.checks if c.status is Status.FAIL)


def test_returning_something_other_than_a_tensor_fails(tmp_path, zygote):
    result = grade_softmax(workspace_with_softmax(tmp_path, "    return x.tolist()\n"), zygote)
    assert result.status in (Status.FAIL, Status.ERROR)
    assert any("tensor" in c.message.lower() for c in result.checks if c.status is not Status.PASS)


def test_patching_the_comparison_in_the_child_changes_nothing(tmp_path, zygote):
    """Judging happens in the parent: a stub that rigs torch's comparisons in its own process
    (and returns a wrong answer) still fails."""
    rig = (
        "    torch.allclose = lambda *a, **k: True\n"
        "    torch.testing.assert_close = lambda *a, **k: None\n"
        "    torch.Tensor.__eq__ = lambda *a, **k: True\n"
        "    return torch.ones_like(x)\n"
    )
    result = grade_softmax(workspace_with_softmax(tmp_path, rig), zygote)
    assert result.status is Status.FAIL


def test_a_file_that_does_not_parse_is_an_error_for_that_file_only_with_no_check_run(tmp_path, zygote):
    """No check runs, so none can pass (the from-scratch one would, reading code that never ran)."""
    ws = workspace_with_softmax(tmp_path, "    return x +\n")
    line = (ws / "day16" / "attention.py").read_text().splitlines().index("    return x +") + 1
    result = grade_softmax(ws, zygote)
    assert result.status is Status.ERROR and result.checks == [] and result.score == 0
    assert result.reason == f"your file day16/attention.py does not parse: invalid syntax (line {line})"


def test_stub_printing_a_lot_does_not_flood_the_report(tmp_path, zygote):
    ws = workspace_with_softmax(
        tmp_path, "    print('x' * 100_000)\n    raise RuntimeError('after printing')\n"
    )
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
            server.handle(
                {"op": "new", "target": "day16.multihead.MultiHeadAttention", "args": [8, 2], "kwargs": {}}
            )
    finally:
        torch.manual_seed = original


def test_printing_100_mb_stops_at_the_output_limit_and_fills_no_disk(tmp_path, zygote):
    from quizgrader.sandbox.child import OUTPUT_LIMIT

    ws = workspace_with_softmax(tmp_path, "    for _ in range(100):\n        print('x' * 2**20)\n")
    result = grade_softmax(ws, zygote)
    assert result.status is Status.ERROR, (result.status, result.reason)
    assert "File too large" in result.reason or "OSError" in result.reason, result.reason
    assert result.output and len(result.output) < 10_000
    logs = list(Path(zygote.tmp.name).glob("*.log"))  # what the learner's processes printed
    assert logs and max(p.stat().st_size for p in logs) <= OUTPUT_LIMIT


# -- the learner's process under limits (sandbox/confine.py) -----------------------------------------


@pytest.fixture(scope="module")
def enforced(zygote) -> list[str]:
    """The limits this machine's kernel enforces on the learner's process. Tests of a limit the
    kernel does not offer are skipped: running a fork bomb unconfined would harm the machine."""
    grade("day16", Options(workspace=ROOT / "reference", only=["softmax"], profile="quick"), zygote=zygote)
    return zygote.confinement["applied"]


def needs(enforced: list[str], what: str) -> None:
    if not any(what in a for a in enforced):
        pytest.skip(f"this kernel does not enforce: {what}")


def grader_files() -> dict[str, str]:
    """SHA-256 of every file of the installed grader and of reference/."""
    import hashlib

    import quizgrader

    roots = [Path(quizgrader.__file__).parent, ROOT / "reference"]
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for root in roots
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_a_50_gb_allocation_is_an_error_naming_the_memory_limit(tmp_path, zygote, enforced):
    needs(enforced, "memory")
    ws = workspace_with_softmax(
        tmp_path, "    torch.empty(50 * 2**30, dtype=torch.uint8).fill_(1)\n    return x\n"
    )
    result = grade_softmax(ws, zygote)
    assert result.status is Status.ERROR
    assert "4 GiB" in result.reason and "allocate" in result.reason, result.reason


def test_the_memory_limit_holds_below_the_machines_memory(tmp_path, zygote, enforced):
    """6 GiB fits this machine (and torch.empty would not even touch it): only the limit refuses it."""
    needs(enforced, "memory")
    ws = workspace_with_softmax(tmp_path, "    torch.empty(6 * 2**30, dtype=torch.uint8)\n" + SOFTMAX_BODY)
    result = grade_softmax(ws, zygote)
    assert result.status is Status.ERROR and "GiB of memory" in result.reason, result.reason
    roomy = grade(
        "day16", Options(workspace=ws, only=["softmax"], profile="quick", memory_gib=8), zygote=zygote
    )
    assert roomy.exercises[0].status is Status.PASS, "--memory-limit raises the limit"


def test_the_cpu_limit_ends_a_process_that_spins_past_it(tmp_path, zygote):
    ws = workspace_with_softmax(tmp_path, "    while True:\n        pass\n")
    report = grade(
        "day16",
        Options(workspace=ws, only=["softmax"], profile="quick", timeout=60, cpu_seconds=1),
        zygote=zygote,
    )
    result = report.exercises[0]
    assert result.status is Status.TIMEOUT
    assert "CPU-time limit" in result.reason and "SIGXCPU" in result.reason, result.reason


def test_a_fork_bomb_stops_at_its_first_fork(tmp_path, zygote, enforced):
    needs(enforced, "no new processes")
    ws = workspace_with_softmax(tmp_path, "    import os\n    while True:\n        os.fork()\n")
    result = grade_softmax(ws, zygote)
    assert result.status is Status.ERROR
    assert "PermissionError" in result.reason and "may not start processes" in result.reason, result.reason


def _processes_with(token: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and token.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            pass
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="looks for processes in /proc")
def test_no_process_outlives_its_exercise(tmp_path, zygote, enforced):
    """A background process (through subprocess and through libc directly), and a thread still
    running when the answer is returned: after the exercise nothing of it is left."""
    needs(enforced, "no new processes")
    token = f"3600.{abs(hash(tmp_path)) % 10**6}"
    body = (
        "    import ctypes, os, subprocess, threading, time\n"
        "    problems = [f'pid {os.getpid()}']\n"
        "    for name, start in [('thread', lambda: threading.Thread(target=time.sleep, "
        "args=(3600,)).start()),\n"
        f"                        ('Popen', lambda: subprocess.Popen(['sleep', '{token}'], "
        "start_new_session=True)),\n"
        "                        ('fork', lambda: ctypes.CDLL(None, use_errno=True).fork()),\n"
        "                        ('os.fork', os.fork)]:\n"
        "        try:\n"
        "            problems.append(f'{name} returned {start()}')\n"
        "        except OSError as e:\n"
        "            problems.append(f'{name}: {e}')\n"
        "    raise RuntimeError('; '.join(problems))\n"
    )
    ws = workspace_with_softmax(tmp_path, body)
    result = grade_softmax(ws, zygote)
    assert result.status is Status.ERROR
    for name, refusal in [
        ("thread", "may not start threads"),
        ("Popen", "may not start processes"),
        ("fork", "may not use ctypes"),
        ("os.fork", "may not start processes"),
    ]:
        assert (
            f"{name}: " in result.reason and refusal in result.reason.split(f"{name}: ", 1)[1].split(";")[0]
        ), result.reason
    assert _processes_with(token) == []
    child = int(result.reason.split("pid ", 1)[1].split(";")[0])
    assert not Path(f"/proc/{child}").exists(), "the learner's process outlived the exercise"


@pytest.mark.skipif(sys.platform != "linux", reason="a parent-death signal is Linux's")
def test_a_learner_process_ends_with_its_zygote_however_the_zygote_ends(tmp_path):
    """The zygote killed outright (it can clean up nothing): its learner's process, idle and
    waiting for the grader, goes with it instead of living on until the grader ends."""
    import os
    import signal
    import time

    from quizgrader.sandbox.process import ChildConfig, Zygote

    with Zygote() as z:
        child = z.spawn(ChildConfig(ROOT / "reference", soft_timeout=10), hard_timeout=15)
        assert child.request({"op": "confinement"})["ok"]  # it is up and answering
        os.kill(z.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        gone = not _alive(child.pid)
        child.end()
    assert gone, "the learner's process outlived its zygote"


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_writes_anywhere_but_the_scratch_folder_are_refused_and_change_nothing(tmp_path, zygote, enforced):
    """Into the installed grader, reference/, elsewhere on the machine, and the workspace itself
    (the learner's process reads a copy of it and may change neither); its own scratch folder
    (TMPDIR) stays writable."""
    from quizgrader.sandbox import confine

    needs(enforced, confine.WRITES)
    outside = tmp_path / "outside.txt"
    planted = ROOT / "reference" / "day16" / "planted.py"
    body = (
        "    import os\n"
        "    results = []\n"
        f"    for path in [{str(ROOT / 'quizgrader' / '__init__.py')!r}, "
        f"{str(ROOT / 'reference' / 'day16' / 'attention.py')!r},\n"
        f"                 {str(planted)!r}, {str(outside)!r}, "
        f"{str(tmp_path / 'ws' / 'day16' / 'mine.txt')!r},\n"
        "                 pathlib.Path(__file__).parent / 'copy.txt', os.path.join(os.environ['TMPDIR'], "
        "'scratch.txt')]:\n"
        "        try:\n"
        "            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND))\n"
        "            results.append(f'{path}: opened')\n"
        "        except OSError as e:\n"
        "            results.append(f'{path}: {e.strerror or e}')\n"
        "    raise PermissionError(13, ' | '.join(results))\n"
    )
    before = grader_files()
    ws = workspace_with_softmax(tmp_path, body, header="import pathlib\n")
    try:
        result = grade_softmax(ws, zygote)
    finally:
        stray = planted.exists()
        planted.unlink(missing_ok=True)
    assert not stray and not outside.exists() and not (ws / "day16" / "mine.txt").exists()
    assert grader_files() == before
    assert result.status is Status.ERROR
    reason = result.reason
    assert reason.count("may write only to its scratch folder") + reason.count("Permission denied") == 6, (
        reason
    )
    assert "scratch.txt: opened" in reason, reason


def test_signals_to_the_grader_are_refused(tmp_path, zygote, enforced):
    needs(enforced, "signals to itself only")
    import os

    body = f"    import os, signal\n    os.kill({os.getpid()}, signal.SIGKILL)\n" + SOFTMAX_BODY
    result = grade_softmax(workspace_with_softmax(tmp_path, body), zygote)  # this test's process survives
    assert result.status is Status.ERROR and "may not send signals" in result.reason, result.reason


def test_monkeypatching_torch_and_hypothesis_at_import_changes_nothing(tmp_path, zygote):
    """Patches made when the learner's module is imported stay in the learner's process; the
    examples are drawn and judged in the grader's."""
    header = (
        "import hypothesis, torch, torch.testing\n"
        "hypothesis.given = lambda *a, **k: (lambda f: f)\n"
        "hypothesis.settings.register_profile('ci', max_examples=1)\n"
        "hypothesis.settings.load_profile('ci')\n"
        "torch.testing.assert_close = lambda *a, **k: None\n"
        "torch.allclose = lambda *a, **k: True\n"
        "torch.isclose = lambda a, b, *r, **k: torch.ones_like(a, dtype=torch.bool)\n"
        "torch.Tensor.__eq__ = lambda *a, **k: True\n"
    )
    result = grade_softmax(
        workspace_with_softmax(tmp_path, "    return torch.ones_like(x)\n", header=header), zygote
    )
    assert result.status in (Status.FAIL, Status.ERROR) and result.passed_checks != len(result.checks)


LIAR = (
    "class Liar(torch.Tensor):\n"
    "    def __eq__(self, other):\n        return True\n"
    "    def allclose(self, *a, **k):\n        return True\n"
    "    def __repr__(self):\n        return 'tensor(correct)'\n"
)


@pytest.mark.parametrize(
    "body, status",
    [
        ("    return torch.zeros_like(x).as_subclass(Liar)\n", Status.FAIL),
        (
            (
                "    class Raiser(Liar):\n"
                "        @classmethod\n"
                "        def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                "            raise RuntimeError('no')\n"
                "    return torch.zeros_like(x).as_subclass(Raiser)\n"
            ),
            Status.ERROR,
        ),
    ],
    ids=["lies-in-comparisons", "raises-when-read"],
)
def test_a_tensor_subclass_that_lies_never_passes(tmp_path, zygote, body, status):
    """The value crosses as bytes and arrives as a plain tensor: its methods never run in the grader."""
    result = grade_softmax(
        workspace_with_softmax(tmp_path, body, header=LIAR.replace("class", "import torch\nclass", 1)), zygote
    )
    assert result.status is status, (result.status, result.reason)


@pytest.mark.parametrize("device, note", [("cpu", "may use 4 GiB of memory"), ("cuda", "out of memory")])
def test_running_out_of_memory_names_the_limit_only_where_it_applies(device, note):
    """CUDA runs get no address-space limit (the driver maps far more than it uses), so running out
    of memory there is not blamed on one."""
    from quizgrader.sandbox.child import Server
    from quizgrader.sandbox.process import ChildConfig

    server = Server({**ChildConfig(ROOT / "reference", device).to_json(), "log": ""}, install=False)
    assert note in server._limit_note(MemoryError(), "")


def test_escape_sequences_in_what_the_code_raised_or_printed_reach_no_terminal_or_ci_log(tmp_path, zygote):
    """Written out as \\x1b: they can neither colour, clear the screen nor forge a line of the report."""
    import io

    from rich.console import Console

    from quizgrader.report.ci import github_annotations
    from quizgrader.report.terminal import render

    body = (
        "    print('\\x1b[2J\\x1b[32m\\u2714 pass\\r')\n    raise ValueError('\\x1b[31mforged\\x07\\u202e')\n"
    )
    report = grade(
        "day16",
        Options(workspace=workspace_with_softmax(tmp_path, body), only=["softmax"], profile="quick"),
        zygote=zygote,
    )
    assert report.exercises[0].status is Status.ERROR
    out = io.StringIO()
    Console(file=out, width=120, no_color=True).print(render(report))
    shown = out.getvalue() + "\n".join(github_annotations(report, str(tmp_path)))
    assert not any(c in shown for c in "\x1b\x07\r\u202e"), repr(shown)
    assert "\\x1b[31mforged\\x07\\u202e" in shown and "\\x1b[2J\\x1b[32m" in shown
