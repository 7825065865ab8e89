"""Limits on the learner's process, set in the forked child before any learner code runs.

- Resource limits: CPU seconds, address space (CPU runs only: CUDA reserves far more address
  space than it uses), file size (what the code may print), no core dumps.
- No new processes, no network, no reaching into other processes: a seccomp filter makes fork,
  vfork, clone (except for threads) and exec fail, refuses every socket but a local (AF_UNIX) one,
  io_uring (which can open sockets without the socket call), ptrace and the cross-process memory
  calls. Exercises are tensor code; none needs a process, a socket or another process's memory.
- Files: a Landlock ruleset. The process may read the workspace it grades and the Python
  libraries it runs on (the standard library, site-packages without the grader's own package) and
  nothing else: not the reference, not the grader's data, not other submissions, not the rest of
  the machine. It may write only to its own scratch folder. Where the kernel has them, TCP
  binds and connects are refused (network rules) and signals reach only the process itself.
- No capabilities: a grader run as root (a CI container) does not lend its powers to the code.
- Another user: a grader run as root (Gradescope runs everything as root) runs the code as
  nobody (uid 65534), so the files only root may read stay closed to it even where Landlock is
  missing.

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
MEMORY_GIB = 4.0  # address space the learner's process may add (CPU runs)
CPU_SECONDS = 300.0  # CPU time per exercise's process

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4
AF_UNIX = 1

# seccomp: syscall numbers per architecture.
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_SYSCALLS = {
    # always refused: fork, vfork (x86_64 only), exec, execveat, ptrace, process_vm_readv/writev,
    # io_uring_setup; System V shared memory, semaphores and message queues, and POSIX message
    # queues (channels between processes that no file rule covers)
    "x86_64": {
        "deny": (
            57,
            58,
            59,
            322,
            101,
            310,
            311,
            425,
            29,
            30,
            31,
            67,
            64,
            65,
            66,
            220,
            68,
            69,
            70,
            71,
            240,
            241,
            242,
            243,
            244,
            245,
        ),
        "clone": 56,
        "clone3": 435,
        "socket": 41,
        "prlimit64": 302,
    },
    "aarch64": {
        "deny": (
            221,
            281,
            117,
            270,
            271,
            425,
            186,
            187,
            188,
            189,
            190,
            191,
            192,
            193,
            194,
            195,
            196,
            197,
            180,
            181,
            182,
            183,
            184,
            185,
        ),
        "clone": 220,
        "clone3": 435,
        "socket": 198,
        "prlimit64": 261,
    },
}
CLONE_THREAD = 0x00010000
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
EPERM, EACCES, ENOSYS = 1, 13, 38

# Landlock (include/uapi/linux/landlock.h)
_SYS_LANDLOCK = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_WRITE_ABI1 = sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make
FS_REFER, FS_TRUNCATE = 1 << 13, 1 << 14
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2

# What each layer is called in a report (`sandbox.applied` / `sandbox.missing`).
READS = "reads only the workspace and the Python libraries"
WRITES = "writes only to a scratch folder"
SIGNALS = "signals to itself only"
TCP = "no TCP (Landlock)"
SOCKETS = "no network sockets"
PROCESSES = "no new processes"
CAPABILITIES = "no capabilities"
NOBODY = 65534  # nobody / nogroup
UNPRIVILEGED = f"runs as an unprivileged user (uid {NOBODY})"
PR_SET_DUMPABLE = 4


@dataclass
class Confinement:
    """What was applied; `missing` says what the kernel did not offer."""

    applied: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Access:
    """What the learner's process may open: `read` (folders and files, read only), `write`
    (folders it may read and write), `devices` (files it may read and write)."""

    read: tuple[Path, ...]
    write: tuple[Path, ...]
    devices: tuple[Path, ...]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def limit_resources(
    cpu_seconds: float, memory_bytes: int | None, output_bytes: int
) -> tuple[list[str], list[str]]:
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
    limit(f"CPU {cpu} s", resource.RLIMIT_CPU, cpu, cpu + 5)  # SIGXCPU at the soft limit
    if memory_bytes:
        what = f"memory {memory_bytes / 2**30:g} GiB"
        if sys.platform == "linux":  # elsewhere the address space is no measure of memory
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


def deny_syscalls(local_sockets: bool = False) -> bool:
    """Install a seccomp filter: fork, vfork, exec, non-thread clone, ptrace, the cross-process
    memory calls, System V and POSIX IPC, changing another process's limits (prlimit64 with a pid),
    io_uring and every new socket (but AF_UNIX ones when `local_sockets`, which CUDA's driver may
    use) fail with EPERM; clone3 fails with ENOSYS, so that threads fall back to clone, whose flags
    the filter can read. A syscall made through another architecture's ABI (32-bit calls from a
    64-bit process) is refused outright. The grader's own socket to this process was made before
    the filter, so it is not affected."""
    arch = platform.machine()
    if sys.platform != "linux" or arch not in _SYSCALLS:
        return False
    nr = _SYSCALLS[arch]
    deny, nosys, allow = ("deny",), ("nosys",), ("allow",)
    # (code, k, jt, jf) with jumps to labels resolved below; "ld" loads a 32-bit word of seccomp_data.
    program: list[tuple] = [("ld", 4), ("jeq", _AUDIT_ARCH[arch], None, deny), ("ld", 0)]
    if arch == "x86_64":
        program.append(("jge", 0x40000000, deny, None))  # the x32 ABI's syscall numbers
    for number in nr["deny"]:
        program.append(("jeq", number, deny, None))
    program.append(("jeq", nr["clone3"], nosys, None))
    # prlimit64(pid, ...): on this process (pid 0) only; another's limits are not the learner's to change
    program += [
        ("jeq", nr["prlimit64"], None, "not prlimit"),
        ("ld", 16),
        ("jeq", 0, None, deny),
        ("ld", 20),
        ("jeq", 0, allow, deny),
        ("label", "not prlimit"),
    ]
    if local_sockets:  # socket(domain, ...): let AF_UNIX through (args[0])
        program += [
            ("jeq", nr["socket"], None, "clone"),
            ("ld", 16),
            ("jeq", AF_UNIX, allow, deny),
            ("label", "clone"),
        ]
    else:
        program.append(("jeq", nr["socket"], deny, None))
    program += [
        ("jeq", nr["clone"], None, allow),
        ("ld", 16),
        ("jset", CLONE_THREAD, allow, deny),
    ]  # clone's flags (low word of args[0])
    labels, code = {}, []
    for ins in program:
        if ins[0] == "label":
            labels[ins[1]] = len(code)
        else:
            code.append(ins)
    returns = {allow: _RET_ALLOW, deny: _RET_ERRNO | EPERM, nosys: _RET_ERRNO | ENOSYS}
    tail = list(returns)
    total = len(code) + len(tail)

    def offset(i: int, label) -> int:
        if label is None:
            return 0
        target = labels[label] if isinstance(label, str) else len(code) + tail.index(label)
        return target - i - 1

    ops = {"ld": 0x20, "jeq": 0x15, "jge": 0x35, "jset": 0x45}
    raw = b""
    for i, (op, k, *jumps) in enumerate(code):
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
    version = _libc().syscall(
        _SYS_LANDLOCK[arch][0], None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION)
    )
    return max(0, int(version))


def library_roots(denied: list[Path], skipped: list[Path] = ()) -> list[Path]:
    """The folders and files the Python in this process imports from (sys.path), less every
    `denied` path: a folder that holds one is opened up child by child, leaving the denied ones
    out. A `skipped` entry of sys.path (a checkout's own root, which holds the reference, the tests
    and .git) is not opened up at all; what lies in it is granted only as an entry of its own (a
    virtual environment's site-packages)."""
    denied = [os.path.realpath(p) for p in denied]
    skipped = {os.path.realpath(p) for p in skipped}
    found: list[str] = []

    def holds(folder: str, path: str) -> bool:
        return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)

    def add(path: str) -> None:
        if any(holds(d, path) for d in denied):
            return
        if not any(holds(path, d) for d in denied):
            found.append(path)
            return
        try:
            children = sorted(os.listdir(path))
        except OSError:
            return
        for child in children:
            add(os.path.join(path, child))

    for entry in sys.path:
        if not entry or not os.path.isabs(entry) or not os.path.exists(entry):
            continue  # "" is the current folder: nothing the learner's code needs
        if (real := os.path.realpath(entry)) not in skipped:
            add(real)
    found.sort()
    unique: list[str] = []
    for p in found:  # sorted: a folder comes right before what it holds
        if not unique or not holds(unique[-1], p):
            unique.append(p)
    return [Path(p) for p in unique]


def system_roots(cuda: bool) -> list[Path]:
    """What the libraries read at run time beyond their own files: shared libraries, the dynamic
    loader's cache, time zones, this process's own /proc entry, the CPU topology; CUDA's driver
    reads /proc and /sys more widely (other processes' secrets in /proc stay out of reach: a
    Landlock-confined process may not inspect a process outside its domain)."""
    roots = [
        "/usr",
        "/lib",
        "/lib64",
        "/etc/ld.so.cache",
        "/etc/localtime",
        f"/proc/{os.getpid()}",
        "/proc/cpuinfo",
        "/sys/devices/system/cpu",
        "/dev/urandom",
        "/dev/random",
        "/dev/zero",
    ]
    if cuda:
        roots += ["/proc", "/sys", "/etc/nvidia", "/dev"]
    return [Path(r) for r in roots if os.path.exists(r)]


def restrict_files(access: Access) -> list[str]:
    """Landlock: reads only beneath `access.read`, writes only beneath `access.write` (and to
    `access.devices`), no TCP binds or connects (ABI 4+), signals only within this process (ABI
    6+). Returns what was applied, empty where Landlock is missing."""
    abi = landlock_abi()
    if abi < 1:
        return []
    create, add, restrict = _SYS_LANDLOCK[platform.machine()]
    reads = FS_READ_FILE | FS_READ_DIR | FS_EXECUTE
    handled = reads | _FS_WRITE_ABI1 | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0)
    net = (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET) if abi >= 6 else 0
    # struct landlock_ruleset_attr { u64 handled_access_fs, handled_access_net, scoped; }
    attr = (
        struct.pack("<QQQ", handled, net, scoped)
        if scoped
        else (struct.pack("<QQ", handled, net) if net else struct.pack("<Q", handled))
    )
    libc = _libc()
    ruleset = libc.syscall(create, ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return []
    file_reads = FS_READ_FILE | FS_EXECUTE
    file_writes = FS_WRITE_FILE | (FS_TRUNCATE if abi >= 3 else 0)
    rules = (
        [(p, reads, file_reads) for p in access.read]
        + [(p, handled, handled) for p in access.write]
        + [(p, handled, file_reads | file_writes) for p in access.devices]
    )
    try:
        for path, folder_rights, file_rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rights = folder_rights if os.path.isdir(path) else file_rights
                # struct landlock_path_beneath_attr { u64 allowed_access; s32 parent_fd; } (packed)
                rule = struct.pack("<Qi", rights, fd)
                if (
                    libc.syscall(
                        add,
                        ctypes.c_int(ruleset),
                        ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                        ctypes.c_char_p(rule),
                        ctypes.c_uint32(0),
                    )
                    != 0
                ):
                    return []
            finally:
                os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return []
        if libc.syscall(restrict, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return []
    finally:
        os.close(ruleset)
    return [READS, WRITES] + ([TCP] if net else []) + ([SIGNALS] if scoped else [])


def drop_capabilities() -> bool:
    """No capabilities in any set, and none to regain: root's powers (reading any file, mounting,
    tracing) are not the learner's code's."""
    if sys.platform != "linux":
        return False
    libc = _libc()
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last capability: ignored
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = struct.pack("<Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = bytes(24)  # effective, permitted, inheritable: 0 (x2)
    return libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(data)) == 0


def reduced_environment(environ: dict[str, str]) -> dict[str, str]:
    """The variables a learner's process keeps: locale, time zone, the search path, and what
    torch, its thread pools and CUDA read. Everything else (tokens, CI variables, the grader's
    own settings) stays with the grader."""
    keep = {"PATH", "LANG", "LANGUAGE", "TZ", "TERM", "LD_LIBRARY_PATH", "PYTHONHASHSEED", "SYSTEMROOT"}
    prefixes = (
        "LC_",
        "CUDA_",
        "NVIDIA_",
        "PYTORCH_",
        "OMP_",
        "MKL_",
        "KMP_",
        "OPENBLAS_",
        "CUBLAS_",
        "CUDNN_",
        "NCCL_",
        "GOMP_",
    )
    secret = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "KEY")
    return {
        k: v
        for k, v in environ.items()
        if (k in keep or k.startswith(prefixes)) and not any(s in k.upper() for s in secret)
    }


def open_to_others(folder: Path) -> None:
    """Make `folder` and what it holds readable by every user (folders 0o755, files 0o644), links
    neither followed nor changed: what a process run as another user must read."""
    os.chmod(folder, 0o755)
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755 if name in dirs else 0o644)


def _open_to_others(folder: Path) -> bool:
    """Whether any user can reach `folder` (every folder on the way searchable) and list it."""
    folder = Path(os.path.realpath(folder))
    try:
        if os.stat(folder).st_mode & 0o005 != 0o005:
            return False
        return all(os.stat(p).st_mode & 0o001 for p in folder.parents)
    except OSError:
        return False


def drop_user(uid: int, writable: tuple[Path, ...], readable: tuple[Path, ...]) -> bool:
    """Become `uid` (its own group, no others) for good: `writable` (the scratch folder) is given
    to it first; each of `readable` (the workspace's copy, which snapshot.take opens to every
    user, and the interpreter's standard library) must be within its reach, else nothing changes
    (a Python kept in root's home would fail every import the code makes later). Only root can
    do this; whether it was done. The bounding set is emptied while that is still allowed; the
    process is made dumpable again (after a change of user the kernel gives /proc/self to root,
    and torch, CUDA too, reads and writes there) and its parent-death signal, which a change of
    user clears, is set again. HOME becomes the first writable folder."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    if not all(_open_to_others(p) for p in readable):
        return False
    libc = _libc()
    parent = os.getppid()
    death = ctypes.c_int(0)
    libc.prctl(PR_GET_PDEATHSIG, ctypes.byref(death), 0, 0, 0)
    try:
        for folder in writable:
            os.chown(folder, uid, uid, follow_symlinks=False)
        for cap in range(64):
            libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    except OSError:
        return False
    if os.getuid() != uid or os.geteuid() != uid or os.getegid() != uid:
        return False
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    if death.value:
        libc.prctl(PR_SET_PDEATHSIG, death.value, 0, 0, 0)
        if os.getppid() != parent:  # the parent ended while the signal was not set
            os._exit(0)
    if writable:
        os.environ["HOME"] = str(writable[0])
    return True


def python_reachable() -> bool:
    """Whether a user other than root can read this interpreter's standard library."""
    return _open_to_others(Path(os.__file__).parent)


PR_SET_PDEATHSIG, PR_GET_PDEATHSIG = 1, 2


def die_with(parent: int) -> None:
    """SIGKILL this process as soon as `parent`, the process that forked it, ends, however it ends
    (Linux): a learner's process never outlives its zygote, even one that is killed."""
    if sys.platform == "linux":
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it ended before the line above took effect
        os._exit(0)


def confine(
    *,
    access: Access,
    cpu_seconds: float,
    memory_bytes: int | None,
    output_bytes: int,
    cuda: bool,
    user: int | None = None,
    workspace: Path | None = None,
) -> Confinement:
    """Everything above, in the order that keeps each layer able to set up the next. `user`: the
    uid to become (drop_user) when this process is root's, `workspace` the folder it must read;
    a process that is not root's has no user to drop, and none is reported missing."""
    result = Confinement(*limit_resources(cpu_seconds, None if cuda else memory_bytes, output_bytes))
    if user is not None and os.geteuid() == 0:
        readable = (*([workspace] if workspace is not None else []), Path(os.__file__).parent)
        if drop_user(user, access.write, readable):
            result.applied.append(UNPRIVILEGED)
        else:
            result.missing.append(
                UNPRIVILEGED
                + ("" if python_reachable() else " (Python's own files are closed to other users)")
            )
    if cuda:
        os.environ["CUDA_CACHE_DISABLE"] = "1"  # the JIT cache lives outside the workspace
    files = restrict_files(access)
    (result.applied if files else result.missing).extend(
        files or [f"{READS} (no Landlock)", f"{WRITES} (no Landlock)"]
    )
    if deny_syscalls(local_sockets=cuda):
        result.applied += [PROCESSES, SOCKETS]
    else:
        result.missing += [f"{PROCESSES} (no seccomp)", f"{SOCKETS} (no seccomp)"]
    (result.applied if drop_capabilities() else result.missing).append(CAPABILITIES)
    return result
