"""The kernel's layers of the learner's process, each proven on its own: a forked process confined
by sandbox/confine.py alone (no audit hook, no disabled routines) tries what a learner's code might,
through the system calls themselves, and reports the errno of each try. Where the kernel lacks a
layer its tests are skipped, never run unconfined."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import socket
import sys
from pathlib import Path

import pytest

from quizgrader.sandbox import confine

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Landlock and seccomp are Linux's")


def in_child(work) -> object:
    """Fork, run `work()` in the child (it confines itself as it likes), and return what it
    returned, sent back as JSON; the child leaves without cleanup."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            os.write(write, json.dumps(work()).encode())
        finally:
            os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 1 << 16):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    return json.loads(data)


def attempts(tries: dict, *args) -> dict:
    """{name: what each try returned, or its errno's name}."""
    out = {}
    for name, attempt in tries.items():
        try:
            out[name] = str(attempt(*args))
        except OSError as e:
            out[name] = errno.errorcode.get(e.errno, str(e.errno))
    return out


def confined(tmp_path: Path, tries: dict, cuda: bool = False) -> tuple[dict, dict]:
    """Fork, confine the child as a learner's process is, run each try (a function returning what it
    got, or raising OSError), and return ({name: result or errno name}, the confinement)."""
    ws, scratch = tmp_path / "ws", tmp_path / "scratch"
    ws.mkdir(exist_ok=True)
    scratch.mkdir(exist_ok=True)
    (ws / "mine.txt").write_text("the learner's own file\n")

    def work():
        # as in a learner's process: sys.path without the folder pytest adds for the tests
        sys.path[:] = [p for p in sys.path if not p.startswith(str(ROOT / "tests"))]
        access = confine.Access(
            read=(
                ws,
                *confine.library_roots([ROOT / "quizgrader", ROOT / "reference"], [ROOT]),
                *confine.system_roots(cuda),
            ),
            write=(scratch,),
            devices=(Path(os.devnull),),
        )
        c = confine.confine(access=access, cpu_seconds=60, memory_bytes=None, output_bytes=2**20, cuda=cuda)
        return [attempts(tries, ws, scratch), {"applied": c.applied, "missing": c.missing}]

    out, layers = in_child(work)
    return out, layers


def needs(layers: dict, what: str) -> None:
    if what not in layers["applied"]:
        pytest.skip(f"this kernel does not offer: {what}")


def _read(path):
    return lambda ws, scratch: len(Path(path).read_bytes())


def test_reads_reach_the_workspace_and_the_libraries_and_nothing_else(tmp_path):
    import torch

    other = tmp_path / "other-submission.py"
    other.write_text("someone else's work\n")
    out, layers = confined(
        tmp_path,
        {
            "own file": lambda ws, scratch: (ws / "mine.txt").read_text().strip(),
            "a library": _read(torch.__file__),
            "the reference": _read(ROOT / "reference" / "day16" / "attention.py"),
            "the reference's folder": lambda ws, scratch: os.listdir(ROOT / "reference"),
            "the grader": _read(ROOT / "quizgrader" / "grade.py"),
            "the checkout's tests": _read(ROOT / "tests" / "test_confine.py"),
            "another submission": _read(other),
            "the grader's environment": _read(f"/proc/{os.getpid()}/environ"),
            "the machine's accounts": _read("/etc/passwd"),
        },
    )
    needs(layers, confine.READS)
    assert out["own file"] == "the learner's own file" and out["a library"].isdigit(), out
    for name in (
        "the reference",
        "the reference's folder",
        "the grader",
        "the checkout's tests",
        "another submission",
        "the grader's environment",
        "the machine's accounts",
    ):
        assert out[name] == "EACCES", (name, out[name])


def test_writes_reach_the_scratch_folder_only(tmp_path):
    target = tmp_path / "outside.txt"
    out, layers = confined(
        tmp_path,
        {
            "scratch": lambda ws, scratch: (scratch / "s.txt").write_text("ok"),
            "the workspace": lambda ws, scratch: (ws / "mine.txt").write_text("changed"),
            "outside": lambda ws, scratch: target.write_text("x"),
            "a link in scratch": lambda ws, scratch: os.symlink(target, scratch / "link") or "made",
        },
    )
    needs(layers, confine.WRITES)
    assert out["scratch"] == "2" and out["the workspace"] == "EACCES" and out["outside"] == "EACCES", out
    assert not target.exists() and (tmp_path / "ws" / "mine.txt").read_text() == "the learner's own file\n"


def test_no_socket_of_any_family(tmp_path):
    families = {
        "tcp": (socket.AF_INET, socket.SOCK_STREAM),
        "udp": (socket.AF_INET, socket.SOCK_DGRAM),
        "tcp6": (socket.AF_INET6, socket.SOCK_STREAM),
        "unix": (socket.AF_UNIX, socket.SOCK_STREAM),
        "netlink": (socket.AF_NETLINK, socket.SOCK_RAW),
    }

    def opening(family: int, kind: int):
        return lambda ws, scratch: socket.socket(family, kind).close()

    out, layers = confined(tmp_path, {name: opening(*ft) for name, ft in families.items()})
    needs(layers, confine.SOCKETS)
    assert all(v == "EPERM" for v in out.values()), out


def test_no_processes_no_tracing_no_capabilities_no_shared_memory(tmp_path):
    libc = ctypes.CDLL(None, use_errno=True)

    def syscall(*args):
        def attempt(ws, scratch):
            if libc.syscall(*args) == -1:
                raise OSError(ctypes.get_errno(), "")
            return "allowed"

        return attempt

    ptrace, vm_readv, shmget = {"x86_64": (101, 310, 29), "aarch64": (117, 270, 194)}.get(
        os.uname().machine, (None, None, None)
    )
    tries = {
        "fork": lambda ws, scratch: os.fork(),
        "exec": lambda ws, scratch: os.execv("/bin/true", ["true"]),
        "capabilities": lambda ws, scratch: [
            line
            for line in Path("/proc/self/status").read_text().splitlines()
            if line.startswith(("CapEff", "CapPrm", "CapBnd"))
        ],
    }
    if ptrace is not None:
        tries["ptrace the grader"] = syscall(ptrace, 16, os.getpid(), 0, 0)  # PTRACE_ATTACH
        tries["read the grader's memory"] = syscall(vm_readv, os.getpid(), 0, 0, 0, 0, 0)
    grader = os.getpid()
    tries["the grader's limits"] = lambda ws, scratch: resource.prlimit(grader, resource.RLIMIT_NOFILE)
    tries["its own limits"] = lambda ws, scratch: resource.getrlimit(resource.RLIMIT_NOFILE)
    if shmget is not None:  # a channel between processes that no file rule covers
        tries["System V shared memory"] = syscall(shmget, 0, 4096, 0o1600)  # IPC_PRIVATE | IPC_CREAT
    out, layers = confined(tmp_path, tries)
    needs(layers, confine.PROCESSES)
    assert out["fork"] == out["exec"] == "EPERM", out
    if ptrace is not None:
        assert out["ptrace the grader"] == out["read the grader's memory"] == "EPERM", out
    assert out["the grader's limits"] == "EPERM" and out["its own limits"] != "EPERM", out
    if shmget is not None:
        assert out["System V shared memory"] == "EPERM", out
    if confine.CAPABILITIES in layers["applied"]:
        assert out["capabilities"].count("0000000000000000") == 3, out["capabilities"]


def test_the_library_roots_leave_out_every_copy_of_the_grader(tmp_path):
    """A checkout's root is not opened up (it holds reference/, tests/ and .git), site-packages is,
    less the grader's own folder (the wheel bundles the reference there)."""
    site = tmp_path / "site-packages"
    for name in ("torch", "numpy", "quizgrader/_bundled/reference"):
        (site / name).mkdir(parents=True)
    checkout = tmp_path / "checkout"
    (checkout / "reference").mkdir(parents=True)
    (checkout / ".venv").mkdir()
    saved = list(sys.path)
    sys.path[:] = [str(site), str(checkout), ""]
    try:
        roots = confine.library_roots([site / "quizgrader", checkout / "reference"], [checkout])
    finally:
        sys.path[:] = saved
    assert sorted(roots) == [site / "numpy", site / "torch"], roots


def test_the_learners_environment_keeps_no_secrets():
    env = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "GITHUB_TOKEN": "t",
        "AWS_SECRET_ACCESS_KEY": "s",
        "CI": "true",
        "CUDA_VISIBLE_DEVICES": "0",
        "OMP_NUM_THREADS": "1",
        "HOME": "/root",
        "SSH_AUTH_SOCK": "/tmp/x",
        "PYTORCH_KEY": "k",
        "QUIZ_HISTORY": "off",
    }
    assert confine.reduced_environment(env) == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "CUDA_VISIBLE_DEVICES": "0",
        "OMP_NUM_THREADS": "1",
    }


needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only a grader run as root has a user to drop"
)


@needs_root
def test_run_as_root_the_code_runs_as_nobody_and_cannot_read_roots_files():
    """No Landlock, no seccomp: the change of user alone keeps a file only root may read closed."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="quiz-user-"))
    try:
        ws, scratch = base / "ws", base / "scratch"
        ws.mkdir()
        scratch.mkdir()
        (ws / "mine.py").write_text("x = 1\n")
        confine.open_to_others(base)
        secret = base / "root-only.txt"
        secret.write_text("root's\n")
        secret.chmod(0o600)

        def work():
            confine.die_with(os.getppid())
            out = {"dropped": confine.drop_user(confine.NOBODY, (scratch,), (ws,))}
            out["uid"], out["gid"], out["groups"] = os.getuid(), os.getgid(), os.getgroups()
            out["home"] = os.environ["HOME"]
            death = ctypes.c_int(0)
            ctypes.CDLL(None).prctl(2, ctypes.byref(death), 0, 0, 0)  # PR_GET_PDEATHSIG
            out["pdeathsig"] = death.value
            return out | attempts(
                {
                    "own file": (ws / "mine.py").read_text,
                    "root's file": secret.read_text,
                    "scratch": lambda: (scratch / "note").write_text("ok"),
                    "back to root": lambda: os.setuid(0),
                    "own /proc entry": lambda: Path("/proc/self/status").read_text()[:4],
                }
            )

        out = in_child(work)
        assert out["pdeathsig"] == 9, out
        assert out["dropped"] and out["uid"] == out["gid"] == confine.NOBODY and out["groups"] == [], out
        assert out["home"] == str(scratch)
        assert out["own file"] == "x = 1\n" and out["scratch"] == "2", out
        assert out["root's file"] == "EACCES" and out["back to root"] == "EPERM", out
        assert out["own /proc entry"] == "Name", out
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


@needs_root
@pytest.mark.skipif(
    not confine.python_reachable(),
    reason="this Python's own files are closed to other users "
    "(kept in root's home), so the grader keeps the learner's code as root and says so",
)
def test_a_grading_run_as_root_runs_the_learners_code_as_nobody(tmp_path, zygote):
    """Through the whole grader: the learner's softmax reports the uid it runs as, and tries a file
    only root may read; the report lists the layer."""
    import shutil

    from quizgrader.grade import Options, grade
    from quizgrader.paths import exercises_root

    secret = tmp_path / "root-only.txt"
    secret.write_text("root's\n")
    secret.chmod(0o600)
    ws = tmp_path / "ws"
    shutil.copytree(exercises_root() / "day16", ws / "day16")
    stub = ws / "day16" / "attention.py"
    source = stub.read_text()
    start = source.index("def softmax")
    body_start = source.index("\n", source.index(":\n", start)) + 1
    end = source.index("\ndef ", body_start)
    stub.write_text(
        source[:body_start]
        + "    import os\n    raise ValueError(f'uid={os.getuid()} gid={os.getgid()}')\n"
        + source[end:]
    )
    report = grade("day16", Options(workspace=ws, only=["attention.softmax"], profile="quick"), zygote=zygote)
    result = report.exercises[0]
    messages = "\n".join(c.message for c in result.checks) + result.reason
    assert f"uid={confine.NOBODY} gid={confine.NOBODY}" in messages, messages
    assert confine.UNPRIVILEGED in report.sandbox["applied"], report.sandbox
