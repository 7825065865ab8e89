"""The interpreter's side of the learner's process: what the learner's code may not do even where
the kernel offers no Landlock or seccomp, and what keeps the grader's code in that process out of
its reach. Set up once, before any learner code is imported.

- Forbidden routines are disabled, not watched. The ATen operators an exercise asks the learner to
  write (`aten::softmax`, `aten::_softmax`, `aten::scaled_dot_product_attention`, ...) get a kernel
  that raises, for every dispatch key that has one; torch routines written in Python
  (`nn.MultiheadAttention`, `F.multi_head_attention_forward`, ...) get their code object swapped
  for one that raises. However the routine is reached (an alias, `torch._C`, `torch.ops.aten`,
  `getattr`, a partial, `__wrapped__`, a library function that calls it), what runs is the
  dispatcher's kernel or the function's code, so the call fails, naming the routine. The only way
  around is to compute the result some other way: to do the exercise.
- An audit hook (PEP 578; once added it cannot be removed) refuses files outside the workspace and
  the Python libraries, ctypes, the garbage collector's object lists (the ways to the grader's
  objects), profiling and tracing hooks, sockets, processes and new threads to anyone, once the
  learner's code may run (nothing of the grader's needs them then); and frames, code built or
  loaded at run time, and patching classes that are not the learner's, when the learner's code
  asks directly (the standard library and torch use some of them on its behalf). Each refusal
  raises PermissionError where it was asked for, and is recorded.
- `getattr`, `hasattr`, `setattr`, `delattr` and `vars` refuse private names (a leading underscore)
  and patching asked for by the learner's code with names put together at run time; the source
  scan (checks/forbidden.py) sees the names written out.
- The grader's modules leave `sys.modules`: `import quizgrader` would have to read the grader's
  files, which the learner's process may not.
"""

from __future__ import annotations

import builtins
import os
import sys
import types
import warnings
from collections.abc import Iterable

import torch
import torch.library

# What the learner's code tried and was refused, or ran and was stopped: reported with each answer.
RECORDS: list[dict] = []
FORBIDDEN_EVENT = "quizgrader.forbidden"  # raised (sys.audit) by a disabled routine

_getattr = builtins.getattr  # the original: this module's own lookups must not meet its guard
_state = {"workspace": "", "root": "\0", "package": "", "read": (), "write": (), "busy": False, "on": False}

# Dispatch keys whose kernels a disabled operator loses (those it has).
_KEYS = (
    "CompositeImplicitAutograd",
    "CompositeExplicitAutograd",
    "CompositeExplicitAutogradNonFunctional",
    "CPU",
    "CUDA",
    "MPS",
)
_libraries: list[torch.library.Library] = []  # kept alive: a Library's registrations end with it


# -- disabling forbidden routines -------------------------------------------------------------------
def disable_operators(ops: Iterable[str], exercise: str) -> list[str]:
    """Give every overload of each ATen operator ("aten::_softmax") a kernel that raises, on each
    dispatch key where it has one. Returns the operators disabled."""
    lib = torch.library.Library("aten", "IMPL")
    _libraries.append(lib)
    done = []
    for qualified in ops:
        name = qualified.removeprefix("aten::")
        packet = _getattr(torch.ops.aten, name, None)
        if packet is None:
            continue
        for overload in packet.overloads():
            full = name if overload == "default" else f"{name}.{overload}"
            for key in _KEYS:
                if torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{full}", key):
                    with warnings.catch_warnings():  # "overriding a previously registered kernel"
                        warnings.simplefilter("ignore")
                        lib.impl(full, _raiser(f"aten::{name}", exercise), key)
        done.append(f"aten::{name}")
    return done


def _message(name: str, exercise: str) -> str:
    return f"forbidden: your code ran {name}, which computes what `{exercise}` asks you to write yourself"


def _raiser(name: str, exercise: str):
    message = _message(name, exercise)

    def kernel(*args, **kwargs):
        sys.audit(FORBIDDEN_EVENT, name, message)
        raise RuntimeError(message)

    return kernel


def _template(*args, **kwargs):
    __import__("sys").audit("quizgrader.forbidden", "NAME", "MESSAGE")
    raise RuntimeError("MESSAGE")


class _Template:
    def __init__(self, *args, **kwargs):
        __class__  # noqa: B018 - a `__class__` cell, as methods that call super() have
        __import__("sys").audit("quizgrader.forbidden", "NAME", "MESSAGE")
        raise RuntimeError("MESSAGE")


_CODES = {(): _template.__code__, ("__class__",): _Template.__init__.__code__}


def disable_routines(names: Iterable[str], exercise: str) -> list[str]:
    """Swap the code of each torch routine written in Python ("torch.nn.MultiheadAttention",
    "torch.nn.functional.multi_head_attention_forward") for code that raises: for a class, its
    own methods; for a function, it and every function it wraps (`__wrapped__`). Routines written
    in C are the ATen operators' business. Returns the routines disabled."""
    done = []
    for dotted in names:
        obj = _resolve(dotted)
        if isinstance(obj, type) and obj.__module__.startswith("torch"):
            functions = [
                f
                for k, f in vars(obj).items()
                if isinstance(f, types.FunctionType) and (k == "__init__" or not k.startswith("__"))
            ]
        elif isinstance(obj, types.FunctionType) and obj.__module__.startswith("torch"):
            functions, f = [obj], obj
            while isinstance(_getattr(f, "__wrapped__", None), types.FunctionType):
                f = f.__wrapped__
                functions.append(f)
        else:
            continue
        if sum(_swap(f, dotted, exercise) for f in functions):
            done.append(dotted)
    return done


def disable_named(patterns: Iterable[str], exercise: str) -> list[str]:
    """Swap the code of every function of torch's Python modules whose name matches one of
    `patterns` ("log_softmax", "_kl_*"): torch keeps Python versions of its operators (torch._refs,
    torch._decomp, torch.masked) besides the public ones. Returns them, as module.name."""
    import fnmatch

    patterns = list(patterns)
    if not patterns:
        return []
    done = []
    with warnings.catch_warnings():  # a deprecated module object warns when looked at
        warnings.simplefilter("ignore")
        modules = [
            m
            for name, m in list(sys.modules.items())
            if (name == "torch" or name.startswith("torch.")) and isinstance(m, types.ModuleType)
        ]
    for module in modules:
        for f in list(vars(module).values()):
            if (
                isinstance(f, types.FunctionType)
                and str(f.__module__).startswith("torch")
                and any(fnmatch.fnmatchcase(f.__name__, p) for p in patterns)
            ):
                name = f"{f.__module__}.{f.__qualname__}"
                if _swap(f, name, exercise):
                    done.append(name)
    return sorted(set(done))


def _swap(f: types.FunctionType, name: str, exercise: str) -> bool:
    """Give `f` code that raises, naming `name`; False when its closure has no template."""
    template = _CODES.get(f.__code__.co_freevars)
    if template is None or f.__code__.co_filename == template.co_filename:
        return False  # a wrapper with a closure of its own (what it wraps is disabled), or done
    message = _message(name, exercise)
    consts = tuple(name if c == "NAME" else message if c == "MESSAGE" else c for c in template.co_consts)
    f.__code__ = template.replace(co_consts=consts, co_name=f.__name__, co_qualname=f.__qualname__)
    return True


def _resolve(dotted: str):
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
        try:
            obj = importlib.import_module(".".join(parts[:i]))
            break
        except ImportError:
            continue
    else:
        return None
    for part in parts[i:]:
        obj = _getattr(obj, part, None)
        if obj is None:
            return None
    return obj


# -- the audit hook ---------------------------------------------------------------------------------
_FRAME_ATTRIBUTES = {
    "tb_frame",
    "f_code",
    "gi_frame",
    "gi_code",
    "cr_frame",
    "cr_code",
    "ag_frame",
    "ag_code",
}
# Refused when the learner's code asks directly: the standard library and torch use them on its
# behalf (namedtuple and typing read the caller's frame, imports load and run code objects, torch.jit
# reads frames to resolve names).
_DIRECT = {
    "sys._getframe": "look at the call stack",
    "sys._current_frames": "look at the call stack",
    "sys._current_exceptions": "look at the call stack",
    "function.__new__": "build functions from code objects",
    "code.__new__": "build code objects",
}
# Compiling, running and loading code: only the import system (loading a module once), and the
# standard library's code generators that classes defined with dataclass or namedtuple need. A
# string run through anything else (typing's annotations, timeit, sched, a callback) is refused,
# and so is a second copy of a module already loaded (pydoc.importfile, a spec from a file).
_CODE = {
    "compile": "compile or run code from strings",
    "exec": "compile or run code from strings",
    "marshal.loads": "load code objects",
    "marshal.load": "load code objects",
}
_LOADERS: set[str] = set()  # the files of the callers allowed to (filled by install)
_EXECUTED: set[str] = set()  # module files run so far: each runs once
_PROFILERS: set[str] = set()  # the files of the grader's code that may profile a call
# Refused whoever asks, once the learner's code may run: nothing of the grader's in this process
# needs them after set-up, so a callback that launders the call (a weakref finalizer, a hook, a
# partial) gains nothing.
_ALWAYS = {
    "gc.get_objects": "list the interpreter's objects",
    "gc.get_referrers": "list the interpreter's objects",
    "gc.get_referents": "list the interpreter's objects",
    "sys.setprofile": "install a profiling hook",
    "sys.settrace": "install a tracing hook",
    "sys.addaudithook": "install an audit hook",
    "pickle.find_class": "unpickle objects",
    "subprocess.Popen": "start processes",
    "os.system": "start processes",
    "os.exec": "start processes",
    "os.posix_spawn": "start processes",
    "os.spawn": "start processes",
    "os.fork": "start processes",
    "os.forkpty": "start processes",
    "pty.spawn": "start processes",
    "os.startfile": "start processes",
    "os.kill": "send signals",
    "os.killpg": "send signals",
    "signal.pthread_kill": "send signals",
    "resource.setrlimit": "change its limits",
    "sqlite3.connect": "open databases",
    "sqlite3.connect/handle": "open databases",
    "sys.unraisablehook": "replace the interpreter's hooks",
    "sys.excepthook": "replace the interpreter's hooks",
    "webbrowser.open": "open a browser",
}
_PATH_EVENTS = {
    "open": 0,
    "os.listdir": 0,
    "os.scandir": 0,
    "glob.glob": 0,
    "glob.glob/2": 0,
    "os.chdir": 0,
    "os.remove": 0,
    "os.rename": 0,
    "os.replace": 0,
    "os.rmdir": 0,
    "os.mkdir": 0,
    "os.symlink": 0,
    "os.link": 0,
    "os.truncate": 0,
    "os.chmod": 0,
    "os.chown": 0,
    "os.utime": 0,
    "os.chflags": 0,
    "os.lchown": 0,
    "os.lchmod": 0,
    "os.lchflags": 0,
    "os.listxattr": 0,
    "os.getxattr": 0,
    "os.setxattr": 0,
    "os.removexattr": 0,
    "shutil.copyfile": 0,
    "shutil.copymode": 0,
    "shutil.copystat": 0,
    "shutil.copytree": 0,
    "shutil.move": 0,
    "shutil.rmtree": 0,
    "shutil.make_archive": 0,
    "shutil.unpack_archive": 0,
    "os.walk": 0,
    "os.fwalk": 0,
    "tempfile.mkstemp": 0,
    "tempfile.mkdtemp": 0,
    "zipfile.ZipFile": 0,
    "tarfile.open": 0,
}
_WRITES = {
    "os.remove",
    "os.rename",
    "os.replace",
    "os.rmdir",
    "os.mkdir",
    "os.symlink",
    "os.link",
    "os.truncate",
    "os.chmod",
    "os.chown",
    "os.utime",
    "os.chflags",
    "os.lchown",
    "os.lchmod",
    "os.lchflags",
    "os.setxattr",
    "os.removexattr",
    "shutil.copyfile",
    "shutil.copymode",
    "shutil.copystat",
    "shutil.copytree",
    "shutil.move",
    "shutil.rmtree",
    "shutil.make_archive",
    "shutil.unpack_archive",
    "tempfile.mkstemp",
    "tempfile.mkdtemp",
}


def _learners(frame) -> bool:
    """Whether `frame` runs the learner's code: code compiled from a file of the workspace (the
    file a code object was compiled from cannot be changed after; a module's __name__ can)."""
    if frame is None:
        return False
    busy = _state["busy"]
    _state["busy"] = True  # f_code raises an audit event of its own
    try:
        file = frame.f_code.co_filename
    finally:
        _state["busy"] = busy
    return isinstance(file, str) and file.startswith(_state["root"])


def _caller_file(frame) -> str:
    busy = _state["busy"]
    _state["busy"] = True
    try:
        return frame.f_code.co_filename if frame is not None else ""
    finally:
        _state["busy"] = busy


def _frame(depth: int):
    """sys._getframe(depth) of the caller, without this module's own audit hook refusing it."""
    busy = _state["busy"]
    _state["busy"] = True
    try:
        return sys._getframe(depth + 1)
    finally:
        _state["busy"] = busy


# Reading source lines for a traceback or a warning: refused where the file is out of reach, but
# not the learner's doing.
_SOURCE_READERS = {"linecache", "tokenize", "traceback", "warnings", "inspect"}


def _learner_on_stack(frame) -> bool:
    while frame is not None:
        if _learners(frame):
            return True
        frame = frame.f_back
    return False


def _stack(depth: int = 1) -> list[list]:
    """The learner's frames on the stack above the caller's `depth`, innermost first:
    [file, line, function]."""
    busy = _state["busy"]
    _state["busy"] = True
    try:
        out, frame, root = [], sys._getframe(depth + 1), _state["workspace"]
        while frame is not None:
            if _learners(frame):
                code = frame.f_code
                file = code.co_filename
                rel = os.path.relpath(file, root) if file.startswith(root) else file
                out.append([rel, frame.f_lineno, code.co_name])
            frame = frame.f_back
        return out
    finally:
        _state["busy"] = busy


def _refuse(event: str, what: str, depth: int = 1):
    RECORDS.append(
        {
            "kind": "refused",
            "name": event,
            "message": f"the learner's code may not {what}",
            "stack": _stack(depth + 1),
        }
    )
    raise PermissionError(f"the learner's process may not {what}")


def _hook(event: str, args: tuple) -> None:
    if _state["busy"] or not _state["on"]:
        return
    if event == FORBIDDEN_EVENT:
        RECORDS.append({"kind": "forbidden", "name": args[0], "message": args[1], "stack": _stack()})
        return
    if event in _PATH_EVENTS:  # whoever asks, as the kernel's rules would
        if (what := _path_refusal(event, args)) is not None:
            caller = _frame(1)
            if _learner_on_stack(caller) and caller.f_globals.get("__name__") not in _SOURCE_READERS:
                _refuse(event, what)
            raise PermissionError(f"the learner's process may not {what}")
        return
    if event == "import":
        module = str(args[0] or "")
        if module.startswith("quizgrader") or (
            module.startswith("_quiz_") and not module.startswith("_quiz_ws")
        ):
            _refuse(event, f"import the grader's module {module}")
        return
    if event == "object.__getattr__":
        if args[1] in _FRAME_ATTRIBUTES and _learners(_frame(1)):
            _refuse(event, f"read {args[1]} (the call stack)")
        return
    if event in ("object.__setattr__", "object.__delattr__"):
        target = args[0]
        if isinstance(target, types.FunctionType) and args[1] in _FUNCTION_PARTS and not _theirs(target):
            _refuse(event, f"replace a library function's {args[1]}")  # whoever asks
        if isinstance(target, type) and _library_class(target) and _learner_on_stack(_frame(1)):
            _refuse(event, f"change the class {_getattr(target, '__qualname__', target)!s}")
        return
    if event in _CODE:
        caller = _frame(1)
        if _caller_file(caller) not in _LOADERS:
            _refuse(event, _CODE[event])
        if event == "exec" and (copy := _second_copy(args[0], caller)):
            _refuse(event, f"load a second copy of the module {copy}")
        return
    if event in _DIRECT:
        if _learners(_frame(1)):
            _refuse(event, _DIRECT[event])
        return
    if event == "sys.setprofile":  # the grader's op count (tools.count_ops), and no one else
        caller = _frame(1)
        if _caller_file(caller) in _PROFILERS and not _learner_on_stack(caller):
            return
    what = _ALWAYS.get(event) or (
        "use ctypes"
        if event.startswith("ctypes.")
        else "open network connections"
        if event.startswith("socket.")
        else None
    )
    if what is not None:
        _refuse(event, what)


_FUNCTION_PARTS = ("__code__", "__globals__", "__closure__", "__defaults__", "__kwdefaults__")


def _library_class(cls: type) -> bool:
    """A class a library defines (its module holds it by its name): not one just being built (a
    namedtuple, a dataclass, the learner's own)."""
    module = sys.modules.get(str(_getattr(cls, "__module__", "")))
    return (
        module is not None
        and not _theirs(cls)
        and _getattr(module, str(_getattr(cls, "__name__", "")), None) is cls
    )


def _second_copy(code, caller) -> str | None:
    """The file, when `code` is a module's code from a file that a loaded module (another than
    the one it is run for) already came from: pydoc.importfile, a spec from a file, a reload. A
    module whose import failed may be imported again."""
    if (
        not isinstance(code, types.CodeType)
        or code.co_name != "<module>"
        or not os.path.isabs(code.co_filename)
    ):
        return None
    file = os.path.realpath(code.co_filename)
    if file.startswith(_state["root"]):
        return None  # the learner's own module twice (an absolute import): still theirs
    if file not in _EXECUTED:
        _EXECUTED.add(file)
        return None
    # importlib runs module code as _call_with_frames_removed(exec, code, module.__dict__)
    args = caller.f_locals.get("args") if caller is not None else None
    running = args[1] if isinstance(args, tuple) and len(args) > 1 and isinstance(args[1], dict) else None
    for module in list(sys.modules.values()):
        path = _getattr(module, "__file__", None)
        if (
            isinstance(path, str)
            and os.path.realpath(path) == file
            and _getattr(module, "__dict__", None) is not running
        ):
            return file
    return None


def _allowed(path, roots) -> bool:
    try:
        real = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return True  # a file descriptor, or no path: the kernel decides
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _path_refusal(event: str, args: tuple) -> str | None:
    """The reason to refuse a file access, or None. Reads are allowed beneath the readable roots,
    writes beneath the writable ones; refused whoever asks (the kernel would, with Landlock)."""
    index = _PATH_EVENTS[event]
    if index is None or not args:
        return None
    path = args[index]
    if isinstance(path, int) or path is None:
        return None
    writing = event in _WRITES
    if event == "open" and len(args) > 1:
        mode, flags = args[1], (args[2] if len(args) > 2 else 0)
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
            isinstance(flags, int)
            and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
        )
    roots = _state["write"] if writing else _state["read"]
    if _allowed(path, roots):
        return None
    shown = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else repr(path)
    allowed = (
        "write only to its scratch folder" if writing else "read only the workspace and the Python libraries"
    )
    return f"{'write' if writing else 'read'} {shown}: it may {allowed}"


# -- names put together at run time -----------------------------------------------------------------
_SENSITIVE = {"modules", "settrace", "setprofile", "profiler", "library", "ops"}
# Attributes that lead into other code's objects (a function's module globals and closure, its code,
# every class there is): refused whenever the learner's code is on the stack, whoever asks for them.
_INTERNALS = {
    "__globals__",
    "__closure__",
    "__code__",
    "__subclasses__",
    "__builtins__",
    "f_globals",
    "f_locals",
    "f_back",
    "tb_frame",
    "gi_frame",
}


def _theirs(obj) -> bool:
    """An object of the learner's own: defined in, or an instance of a class from, the workspace."""
    package = _state["package"]
    if isinstance(obj, types.ModuleType):
        module = _getattr(obj, "__name__", "")
    elif isinstance(
        obj, types.FunctionType
    ):  # by the file its code, or the module it was made for, came from
        made_for = _getattr(obj, "__globals__").get("__file__")
        return _getattr(obj, "__code__").co_filename.startswith(_state["root"]) or (
            isinstance(made_for, str) and made_for.startswith(_state["root"])
        )
    else:
        module = _getattr(obj if isinstance(obj, type) else type(obj), "__module__", "")
    return isinstance(module, str) and (module == package or module.startswith(package + "."))


def _guarded_names() -> None:
    original_getattr, original_hasattr = builtins.getattr, builtins.hasattr
    original_setattr, original_delattr, original_vars = builtins.setattr, builtins.delattr, builtins.vars

    def private(obj, name) -> bool:
        return (
            isinstance(name, str)
            and (name.startswith("_") or (name in _SENSITIVE and isinstance(obj, types.ModuleType)))
            and not _theirs(obj)
        )

    def patching(obj) -> bool:
        return isinstance(obj, (types.ModuleType, type)) and not _theirs(obj)

    def named(obj) -> str:
        return str(original_getattr(obj, "__name__", type(obj).__name__))

    def check(obj, name, how: str) -> None:
        if not _state["on"] or not isinstance(name, str):
            return
        caller = _frame(2)
        if private(obj, name) and _learners(caller):
            _refuse(how, f"reach {name!r} by a name put together at run time")
        if name in _INTERNALS and not _theirs(obj) and _learner_on_stack(caller):  # however laundered
            _refuse(how, f"reach {name!r}, the way into other code's internals")

    def getattr(obj, name, *default):
        check(obj, name, "getattr")
        return original_getattr(obj, name, *default)

    def hasattr(obj, name):
        check(obj, name, "hasattr")
        return original_hasattr(obj, name)

    def setattr(obj, name, value):
        if _state["on"] and (patching(obj) or private(obj, name)) and _learners(_frame(1)):
            _refuse("setattr", f"change {named(obj)}.{name}")
        return original_setattr(obj, name, value)

    def delattr(obj, name):
        if _state["on"] and (patching(obj) or private(obj, name)) and _learners(_frame(1)):
            _refuse("delattr", f"delete {named(obj)}.{name}")
        return original_delattr(obj, name)

    def vars(*args):
        if _state["on"] and args and patching(args[0]) and _learners(_frame(1)):
            _refuse("vars", "read a library's namespace with vars()")
        return original_vars(*args)

    for f in (getattr, hasattr, setattr, delattr, vars):
        f.__qualname__ = f.__name__
        original_setattr(builtins, f.__name__, f)

    # operator's getters reach attributes in C, past builtins.getattr: the names they are made with
    # are checked as getattr checks them.
    import operator

    original_attrgetter, original_methodcaller = operator.attrgetter, operator.methodcaller

    def attrgetter(*names):
        for dotted in names:
            for name in str(dotted).split("."):
                check(None, name, "attrgetter")
        return original_attrgetter(*names)

    def methodcaller(name, /, *args, **kwargs):
        check(None, name, "methodcaller")
        return original_methodcaller(name, *args, **kwargs)

    operator.attrgetter, operator.methodcaller = attrgetter, methodcaller


def _no_threads() -> None:
    """Python threads (no audit event announces them before Python 3.13): a thread starts with a
    stack of its own, where the learner's frames are not seen."""
    import _thread
    import threading

    def refuse(*args, **kwargs):
        _refuse("_thread.start_new_thread", "start threads")

    _thread.start_new_thread = _thread.start_new = refuse
    threading._start_new_thread = refuse


def install(
    *, workspace: str, package: str, read: Iterable[str], write: Iterable[str], profilers: Iterable[str] = ()
) -> None:
    """Turn everything above on for this process. `read` and `write` are the folders and files it
    may read and write (as the Landlock ruleset, for kernels without one)."""
    import collections
    import dataclasses

    root = os.path.realpath(workspace)
    _state.update(
        workspace=root,
        root=root.rstrip(os.sep) + os.sep,
        package=package,
        read=tuple(os.path.realpath(p) for p in read),
        write=tuple(os.path.realpath(p) for p in write),
    )
    _LOADERS.update(
        {
            "<frozen importlib._bootstrap>",
            "<frozen importlib._bootstrap_external>",
            dataclasses.__file__,
            collections.__file__,
        }
    )
    _PROFILERS.update(profilers)
    _EXECUTED.update(
        os.path.realpath(m.__file__)
        for m in list(sys.modules.values())
        if isinstance(_getattr(m, "__file__", None), str)
    )
    _guarded_names()
    _no_threads()
    sys.addaudithook(_hook)
    for name in [n for n in sys.modules if n == "quizgrader" or n.startswith("quizgrader.")]:
        del sys.modules[name]
    _state["on"] = True


def take_records() -> list[dict]:
    """What was refused or stopped since the last call, oldest first."""
    out = list(RECORDS)
    RECORDS.clear()
    return out
