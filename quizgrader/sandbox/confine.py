"""Limits on the learner's process, set in the forked child before any learner code runs.

- Resource limits: CPU seconds, address space (CPU runs only: CUDA reserves far more address
  space than it uses), file size (what the code may print), no core dumps.
- No new processes: a seccomp filter makes fork, vfork, clone (except for threads) and exec
  fail with EPERM, so a fork bomb stops at its first fork and nothing can be left running after
  the exercise. Exercises are tensor code; none needs a process of its own.
- Writes only inside the workspace and a scratch folder, and signals only to itself: a Landlock
  ruleset. The grader's files, the reference, other submissions and the rest of the machine stay
  as they were, and the grader's processes cannot be signalled.

The kernel enforces all of it, so code that goes around Python (ctypes, a C extension) meets the
same walls. Each layer is applied where the kernel offers it and reported by `Confinement`;
none of them is needed for a correct run.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import signal
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Defaults (quiz grade --memory-limit, --cpu-limit): far above what any exercise needs.
MEMORY_GIB = 4.0          # address space the learner's process may add (CPU runs)
CPU_SECONDS = 300.0       # CPU time per exercise's process

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# seccomp: the syscalls that create or replace a process, per architecture.
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_SYSCALLS = {   # (fork-like: always denied, clone, clone3, exec-like)
    "x86_64": ((57, 58), 56, 435, (59, 322)),     # fork, vfork; clone; clone3; execve, execveat
    "aarch64": ((), 220, 435, (221, 281)),
}
CLONE_THREAD = 0x00010000
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
EPERM, ENOSYS = 1, 38

# Landlock (include/uapi/linux/landlock.h)
_SYS_LANDLOCK = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_WRITE_FILE = 1 << 1
_FS_WRITE_ABI1 = sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))   # write, remove, make
FS_REFER, FS_TRUNCATE = 1 << 13, 1 << 14
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2


@dataclass
class Confinement:
    """What was applied; `missing` says what the kernel did not offer."""

    applied: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def limit_resources(cpu_seconds: float, memory_bytes: int | None, output_bytes: int) -> tuple[list[str], list[str]]:
    """Resource limits for this process (and anything it could start): (applied, missing)."""
    applied, missing = [], []

    def limit(what: str, which: int, soft: int, hard: int) -> None:
        try:
            resource.setrlimit(which, (soft, hard))
            applied.append(what)
        except (ValueError, OSError):
            missing.append(what)

    limit("no core dumps", resource.RLIMIT_CORE, 0, 0)
    # Past the output limit a write fails with EFBIG (an OSError in the code that wrote) instead
    # of filling the disk; SIGXFSZ, which would kill the process outright, is ignored.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit(f"output {output_bytes // 2**20} MiB", resource.RLIMIT_FSIZE, output_bytes, output_bytes)
    cpu = max(1, int(cpu_seconds))
    limit(f"CPU {cpu} s", resource.RLIMIT_CPU, cpu, cpu + 5)     # SIGXCPU at the soft limit
    if memory_bytes:
        what = f"memory {memory_bytes / 2**30:g} GiB"
        if sys.platform == "linux":     # elsewhere the address space is no measure of memory
            total = _address_space() + memory_bytes
            limit(what, resource.RLIMIT_AS, total, total)
        else:
            missing.append(what)
    return applied, missing


def _address_space() -> int:
    """The address space this process already maps (torch alone maps several hundred MB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2 * 2**30


def deny_processes() -> bool:
    """Install a seccomp filter: fork, vfork, exec and non-thread clone fail with EPERM; clone3
    fails with ENOSYS, so that threads fall back to clone, whose flags the filter can read."""
    arch = platform.machine()
    if sys.platform != "linux" or arch not in _SYSCALLS:
        return False
    forks, clone, clone3, execs = _SYSCALLS[arch]
    deny, nosys, allow = ("deny",), ("nosys",), ("allow",)
    # (code, jt, jf, k) with jumps to labels resolved below; "ld" loads a 32-bit word of seccomp_data.
    program: list[tuple] = [("ld", 4), ("jeq", _AUDIT_ARCH[arch], None, allow), ("ld", 0)]
    if arch == "x86_64":
        program.append(("jge", 0x40000000, deny, None))      # the x32 ABI's syscall numbers
    for nr in (*forks, *execs):
        program.append(("jeq", nr, deny, None))
    program += [("jeq", clone3, nosys, None), ("jeq", clone, None, allow),
                ("ld", 16), ("jset", CLONE_THREAD, allow, deny)]   # clone's flags (low word of args[0])
    returns = {allow: _RET_ALLOW, deny: _RET_ERRNO | EPERM, nosys: _RET_ERRNO | ENOSYS}
    tail = list(returns)
    total = len(program) + len(tail)

    def offset(i: int, label) -> int:
        return 0 if label is None else len(program) + tail.index(label) - i - 1

    ops = {"ld": 0x20, "jeq": 0x15, "jge": 0x35, "jset": 0x45}
    raw = b""
    for i, (op, k, *jumps) in enumerate(program):
        jt, jf = (offset(i, j) for j in jumps) if jumps else (0, 0)
        raw += struct.pack("<HBBI", ops[op], jt, jf, k)
    for label in tail:
        raw += struct.pack("<HBBI", 0x06, 0, 0, returns[label])
    assert len(raw) == 8 * total
    buffer = ctypes.create_string_buffer(raw, len(raw))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Prog(total, ctypes.cast(buffer, ctypes.c_void_p))
    libc = _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 where there is none."""
    arch = platform.machine()
    if sys.platform != "linux" or arch not in _SYS_LANDLOCK:
        return 0
    version = _libc().syscall(_SYS_LANDLOCK[arch][0], None, ctypes.c_size_t(0),
                              ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(0, int(version))


def restrict_writes(writable: list[Path], writable_files: list[Path]) -> list[str]:
    """Landlock: writes only beneath `writable` (folders) and to `writable_files`; signals only
    within this process (ABI 6+). Returns what was applied, empty where Landlock is missing."""
    abi = landlock_abi()
    if abi < 1:
        return []
    create, add, restrict = _SYS_LANDLOCK[platform.machine()]
    handled = _FS_WRITE_ABI1 | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0)
    scoped = (SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET) if abi >= 6 else 0
    # struct landlock_ruleset_attr { u64 handled_access_fs, handled_access_net, scoped; }
    attr = struct.pack("<QQQ", handled, 0, scoped) if scoped else struct.pack("<Q", handled)
    libc = _libc()
    ruleset = libc.syscall(create, ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return []
    try:
        file_rights = FS_WRITE_FILE | (FS_TRUNCATE if abi >= 3 else 0)
        for path, rights in [*((p, handled) for p in writable), *((f, file_rights) for f in writable_files)]:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                # struct landlock_path_beneath_attr { u64 allowed_access; s32 parent_fd; } (packed)
                rule = struct.pack("<Qi", rights, fd)
                if libc.syscall(add, ctypes.c_int(ruleset), ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                                ctypes.c_char_p(rule), ctypes.c_uint32(0)) != 0:
                    return []
            finally:
                os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return []
        if libc.syscall(restrict, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return []
    finally:
        os.close(ruleset)
    return ["writes inside the workspace only"] + (["signals to itself only"] if scoped else [])


PR_SET_PDEATHSIG = 1


def die_with(parent: int) -> None:
    """SIGKILL this process as soon as `parent`, the process that forked it, ends, however it ends
    (Linux): a learner's process never outlives its zygote, even one that is killed."""
    if sys.platform == "linux":
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:     # it ended before the line above took effect
        os._exit(0)


def confine(*, workspace: Path, scratch: Path, cpu_seconds: float, memory_bytes: int | None,
            output_bytes: int, cuda: bool) -> Confinement:
    """Everything above, in the order that keeps each layer able to set up the next."""
    result = Confinement(*limit_resources(cpu_seconds, None if cuda else memory_bytes, output_bytes))
    if cuda:
        os.environ["CUDA_CACHE_DISABLE"] = "1"    # the JIT cache lives outside the workspace
    # /dev is writable for CUDA runs: the driver opens its device files for writing.
    writes = restrict_writes([workspace, scratch, *([Path("/dev")] if cuda else [])], [Path(os.devnull)])
    (result.applied if writes else result.missing).extend(writes or ["writes outside the workspace (no Landlock)"])
    if deny_processes():
        result.applied.append("no new processes")
    else:
        result.missing.append("no new processes (no seccomp)")
    return result
