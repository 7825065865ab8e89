"""Attacks on the verdict, each written as a learner who wants the marks without the work would:
the reference reached, a forbidden routine called under another name, the grader's records and the
learner's own process tampered with, the sandbox escaped. None passes; each gets its status and a
message that names what happened; the rest of the run is graded as usual; nothing outside the
workspace changes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
import threading
from pathlib import Path

import pytest

from quizgrader.grade import KEEPS_TO_ITSELF, Options, grade
from quizgrader.results import Status

ROOT = Path(__file__).resolve().parents[1]
REF_ATTENTION = ROOT / "reference" / "day16" / "attention.py"
RETURN_X = "    return x\n"

SOFTMAX_BODY = (
    "    shifted = x - x.amax(dim=dim, keepdim=True)\n"
    "    exps = torch.exp(shifted)\n"
    "    return exps / exps.sum(dim=dim, keepdim=True)\n"
)
SCRATCH = "written from scratch (no forbidden library calls)"
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the learner's process is confined on Linux")


def tree_digest(*roots: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for root in roots
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module", autouse=True)
def nothing_outside_changes():
    before = tree_digest(ROOT / "quizgrader", ROOT / "reference", ROOT / "exercises")
    yield
    after = tree_digest(ROOT / "quizgrader", ROOT / "reference", ROOT / "exercises")
    assert after == before, sorted(set(after.items()) ^ set(before.items()))


def workspace(tmp_path: Path, file: str, old: str, new: str, header: str = "") -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__"))
    path = ws / file
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {file}"
    path.write_text(header + text.replace(old, new))
    return ws


def graded(ws: Path, zygote, day: str, name: str):
    """Grade the attacked exercise and one from another file: that one must still pass."""
    other = "causal_mask" if day == "day16" else "one_hot"
    report = grade(day, Options(workspace=ws, only=[name, other], profile="quick"), zygote=zygote)
    results = {e.id.rsplit(".", 1)[1]: e for e in report.exercises}
    assert results[other].status is Status.PASS, results[other].reason
    return results[name], report


def messages(result) -> str:
    return " | ".join([result.reason] + [c.message for c in result.checks if c.status is not Status.PASS])


# -- a forbidden routine under another name: the routine is disabled in the learner's process ---------
SOFTMAX_ROUTES = {
    "private function": "    return torch._softmax(x, dim, False)\n",
    "torch.ops.aten, composite": "    return torch.ops.aten.softmax.int(x, dim)\n",
    "torch.ops.aten, kernel": "    return torch.ops.aten._softmax.default(x, dim, False)\n",
    "C bindings": "    return torch._C._VariableFunctions.softmax(x, dim)\n",
    "log_softmax then exp": "    return x.log_softmax(dim).exp()\n",
    "partial": "    import functools\n    return functools.partial(torch.softmax, dim=dim)(x)\n",
    "getattr chain": (
        "    f = getattr(getattr(torch, 'nn'), 'functional')\n"
        "    return getattr(f, 'soft' + 'max')(x, dim=dim)\n"
    ),
    "module": "    return torch.nn.Softmax(dim)(x)\n",
    "method through the type": "    return type(x).softmax(x, dim)\n",
    "special": "    return torch.special.softmax(x, dim)\n",
    "softmin of the negation": "    return torch.nn.functional.softmin(-x, dim)\n",
    "a distribution": (
        "    p = torch.distributions.Categorical(logits=x.movedim(dim, -1)).probs\n"
        "    return p.movedim(-1, dim)\n"
    ),
    "attention with identity keys": (
        "    z = x.movedim(dim, -1)\n"
        "    eye = torch.eye(z.shape[-1], dtype=z.dtype)\n"
        "    out = torch.nn.functional.scaled_dot_product_attention(z, eye, eye, scale=1.0)\n"
        "    return out.movedim(-1, dim)\n"
    ),
    "torch functions turned off": (
        "    with torch._C.DisableTorchFunction():\n        return torch.softmax(x, dim)\n"
    ),
}

OTHER_ROUTES = [
    (
        "day16",
        "scaled_dot_product_attention",
        "day16/attention.py",
        "    return weights @ V, weights",
        "    return torch._C._nn.scaled_dot_product_attention(Q, K, V, attn_mask=mask), weights",
    ),
    (
        "day16",
        "scaled_dot_product_attention",
        "day16/attention.py",
        "    return weights @ V, weights",
        "    return torch.ops.aten._scaled_dot_product_attention_math(Q, K, V, attn_mask=mask)[0], weights",
    ),
    (
        "day09",
        "LSTMCell",
        "day09/rnn.py",
        "        gates = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh  # (B, "
        "4H)",
        (
            "        return torch.lstm_cell(x, state, self.weight_ih, self.weight_hh, self.bias_ih, "
            "self.bias_hh)\n        gates = None"
        ),
    ),
    (
        "day09",
        "layer_norm",
        "day09/stability.py",
        "    x_hat = (x - mean) / torch.sqrt(var + eps)                   # (..., D), mean 0, variance ~1",
        "    x_hat = torch.nn.functional.group_norm(x.reshape(-1, 1, x.shape[-1]), 1, "
        "eps=eps).reshape(x.shape)",
    ),
    (
        "day09",
        "layer_norm",
        "day09/stability.py",
        "    x_hat = (x - mean) / torch.sqrt(var + eps)                   # (..., D), mean 0, variance ~1",
        "    x_hat = torch.native_layer_norm(x, x.shape[-1:], None, None, eps)[0]",
    ),
]


@pytest.mark.parametrize("route", list(SOFTMAX_ROUTES))
def test_softmax_through_the_library_by_any_route_is_not_from_scratch(tmp_path, zygote, route):
    ws = workspace(tmp_path, "day16/attention.py", SOFTMAX_BODY, SOFTMAX_ROUTES[route])
    result, _ = graded(ws, zygote, "day16", "softmax")
    assert result.status is Status.FAIL, (result.status, messages(result))
    assert "not written from scratch" in result.reason and "asks you to write yourself" in result.reason, (
        result.reason
    )
    scratch = next(c for c in result.checks if c.name == SCRATCH)
    assert scratch.status is Status.FAIL and "aten::" in scratch.message or "torch." in scratch.message, (
        scratch.message
    )


@pytest.mark.parametrize(
    "day, name, file, old, new", OTHER_ROUTES, ids=[f"{r[1]}-{i}" for i, r in enumerate(OTHER_ROUTES)]
)
def test_other_exercises_through_the_library_are_not_from_scratch(
    tmp_path, zygote, day, name, file, old, new
):
    result, _ = graded(workspace(tmp_path, file, old, new), zygote, day, name)
    assert result.status is Status.FAIL and "not written from scratch" in result.reason, messages(result)
    assert "aten::" in result.reason or "torch." in result.reason, result.reason


def test_a_wrapped_routine_is_disabled_all_the_way_down(tmp_path, zygote):
    """get_total_norm is a wrapper: what it wraps (`__wrapped__`) is disabled too."""
    old = "    total_norm = torch.sqrt(sum((g.detach() ** 2).sum() for g in grads))"
    new = (
        "    import torch.nn.utils.clip_grad as cg\n"
        "    total_norm = torch.nn.utils.get_total_norm.__wrapped__(grads)"
    )
    result, _ = graded(
        workspace(tmp_path, "day09/stability.py", old, new), zygote, "day09", "clip_grad_norm_"
    )
    assert result.status is Status.FAIL and "clip_grad" in result.reason, messages(result)


# -- the reference, the grader and the rest of the machine are out of reach ---------------------------
def stealing(expr: str) -> str:
    """A softmax that gets the reference's source by `expr` and runs the reference's softmax."""
    return (
        f"    src = {expr}\n"
        "    namespace = {}\n"
        "    exec(compile(src, 'x', 'exec'), namespace)\n"
        "    return namespace['softmax'](x, dim)\n"
    )


READS = {
    "open": stealing(f"open({str(REF_ATTENTION)!r}).read()"),
    "pathlib": stealing(f"__import__('pathlib').Path({str(REF_ATTENTION)!r}).read_text()"),
    "the grader's paths": stealing(
        "(__import__('quizgrader.paths').paths.reference_root() / 'day16' / 'attention.py').read_text()"
    ),
    "package resources": stealing(
        "__import__('importlib.resources').resources.files('quizgrader')"
        ".joinpath('../reference/day16/attention.py').read_text()"
    ),
    "numpy": stealing(
        f"__import__('numpy').fromfile({str(REF_ATTENTION)!r}, dtype='uint8').tobytes().decode()"
    ),
    "torch": stealing(
        f"bytes(torch.from_file({str(REF_ATTENTION)!r}, size={REF_ATTENTION.stat().st_size}, "
        "dtype=torch.uint8).tolist()).decode()"
    ),
    "a relative path": stealing("open(__file__ + '/../../../../reference/day16/attention.py').read()"),
    "the loaded modules": (
        "    import sys\n"
        "    for name, module in list(sys.modules.items()):\n"
        "        if 'quiz' in name and hasattr(module, 'softmax') and 'ws' not in name:\n"
        "            return module.softmax(x, dim)\n"
        "    raise LookupError('no reference here')\n"
    ),
}


@pytest.mark.parametrize("route", list(READS))
def test_the_reference_cannot_be_reached(tmp_path, zygote, route):
    ws = workspace(tmp_path, "day16/attention.py", SOFTMAX_BODY, READS[route])
    result, _ = graded(ws, zygote, "day16", "softmax")
    assert result.status in (Status.ERROR, Status.FAIL), (result.status, messages(result))
    assert not any(
        c.status is Status.PASS and c.name.startswith("matches the reference") for c in result.checks
    )


def test_nothing_of_the_reference_is_readable_from_the_learners_process(tmp_path):
    """Asked directly: every way to the reference's bytes, by path, by resource and by import, is
    refused in the learner's process (a fresh one, as in a grading)."""
    import torch

    from quizgrader.sandbox.process import ChildConfig, Zygote

    probe = (
        "def softmax(x, dim=-1):\n"
        "    import importlib, os, sys\n"
        "    tries = {\n"
        f"        'open': lambda: open({str(REF_ATTENTION)!r}).read(),\n"
        f"        'os.open': lambda: os.read(os.open({str(REF_ATTENTION)!r}, os.O_RDONLY), 10),\n"
        f"        'listdir': lambda: os.listdir({str(REF_ATTENTION.parent)!r}),\n"
        "        'import': lambda: importlib.import_module('quizgrader.paths'),\n"
        "        'resources': lambda: __import__('importlib.resources').resources.files('quizgrader')"
        ".joinpath('paths.py').read_text(),\n"
        "        'modules': lambda: [n for n in sys.modules if n.startswith(('quizgrader', '_quiz_ref', "
        "'_quiz_sub'))]"
        " or (_ for _ in ()).throw(LookupError('none')),\n"
        "    }\n"
        "    out = []\n"
        "    for name, attempt in tries.items():\n"
        "        try:\n"
        "            out.append(f'{name}: READ {attempt()!r:.40}')\n"
        "        except Exception as e:\n"
        "            out.append(f'{name}: refused ({type(e).__name__})')\n"
        "    return out\n"
    )
    ws = tmp_path / "ws"
    (ws / "day16").mkdir(parents=True)
    (ws / "day16" / "attention.py").write_text(probe)
    with Zygote() as z:
        child = z.spawn(ChildConfig(ws, exercise="day16.attention.softmax"), hard_timeout=30)
        try:
            answer = child.request(
                {"op": "call", "target": "day16.attention.softmax", "args": [torch.ones(2)], "kwargs": {}}
            )
        finally:
            child.end()
    assert answer["ok"], answer
    assert len(answer["value"]) == 6 and all("refused" in line for line in answer["value"]), answer["value"]


ESCAPES = {
    "the grader's environment": (
        "    import os\n    raise RuntimeError(open(f'/proc/{os.getppid()}/environ').read())\n",
        "may not read",
    ),
    "the grader's memory": (
        "    import os\n    raise RuntimeError(open(f'/proc/{os.getppid()}/mem', 'rb').read(8))\n",
        "may not read",
    ),
    "the machine's files": ("    raise RuntimeError(open('/etc/hostname').read())\n", "may not read"),
    "writing outside": (
        "    open('/tmp/quiz-planted-by-learner.txt', 'w').write('x')\n    return x\n",
        "may not write",
    ),
    "a link for the grader to write through": (
        (
            "    import os, pathlib\n"
            "    os.symlink('/etc/passwd', pathlib.Path(__file__).parents[1] / 'results.json')\n    return "
            "x\n"
        ),
        "may not",
    ),
    "ctypes": ("    import ctypes\n    ctypes.CDLL(None).getpid()\n    return x\n", "may not use ctypes"),
    "the garbage collector": (
        "    import gc\n    gc.get_objects()\n    return x\n",
        "may not list the interpreter's objects",
    ),
    "frames": (
        "    import sys\n    sys._getframe(1).f_locals.clear()\n    return x\n",
        "may not look at the call stack",
    ),
    "a traceback's frames": (
        (
            "    try:\n        raise ValueError\n    except ValueError as e:\n"
            "        e.__traceback__.tb_frame.f_back.f_locals.clear()\n    return x\n"
        ),
        "may not read tb_frame",
    ),
    "a tracing hook": (
        "    import sys\n    sys.settrace(lambda *a: None)\n    return x\n",
        "may not install a tracing hook",
    ),
    "an audit hook": (
        "    import sys\n    sys.addaudithook(lambda *a: None)\n    return x\n",
        "may not install an audit hook",
    ),
    "a thread": (
        "    import threading\n    threading.Thread(target=print).start()\n    return x\n",
        "may not start threads",
    ),
    "patching a torch class": (
        "    torch.Tensor.allclose = lambda *a, **k: True\n    return x\n",
        "monkeypatching",
    ),
    "patching a torch class by setattr": (
        "    setattr(torch.Tensor, 'allclose', lambda *a, **k: True)\n    return x\n",
        "may not change Tensor.allclose",
    ),
    "a private name put together": (
        "    getattr(torch, '_' + 'C')\n    return x\n",
        "by a name put together",
    ),
    "code from a string": ("    exec('y = 1')\n    return x\n", "may not compile or run code"),
    "signalling the grader": (
        "    import os, signal\n    os.kill(os.getppid(), signal.SIGSTOP)\n    return x\n",
        "may not send signals",
    ),
    "a process": (
        "    import subprocess\n    subprocess.run(['true'])\n    return x\n",
        "may not start processes",
    ),
}


@pytest.mark.parametrize("escape", list(ESCAPES))
def test_each_escape_is_refused_and_named(tmp_path, zygote, escape):
    body, words = ESCAPES[escape]
    ws = workspace(tmp_path, "day16/attention.py", SOFTMAX_BODY, body)
    result, _ = graded(ws, zygote, "day16", "softmax")
    assert result.status in (Status.ERROR, Status.FAIL), (result.status, messages(result))
    assert words in messages(result), messages(result)
    assert not Path("/tmp/quiz-planted-by-learner.txt").exists()
    assert not (ws / "results.json").is_symlink()


def test_an_escape_tried_and_caught_still_fails_the_exercise(tmp_path, zygote):
    """A stub that computes the right answer but tries the reference on the side, catching the
    refusal: it passes every value check, and fails the one that says what it reached for."""
    body = (
        f"    try:\n        open({str(REF_ATTENTION)!r}).read()\n    except OSError:\n        pass\n"
        + SOFTMAX_BODY
    )
    result, _ = graded(
        workspace(tmp_path, "day16/attention.py", SOFTMAX_BODY, body), zygote, "day16", "softmax"
    )
    failed = [c for c in result.checks if c.status is not Status.PASS]
    assert result.status is Status.FAIL and [c.name for c in failed] == [KEEPS_TO_ITSELF], messages(result)
    assert "may not read" in failed[0].message and "day16/attention.py, line" in failed[0].message


def test_the_learners_process_has_no_network(tmp_path, zygote):
    """TCP to a port the test listens on, UDP to it, a unix socket: nothing arrives."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    tcp.settimeout(0.5)
    unix_path = str(tmp_path / "s.sock")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(unix_path)
    unix.listen(1)
    unix.settimeout(0.5)
    port = tcp.getsockname()[1]
    body = (
        "    import socket\n    tried = []\n"
        f"    for family, address in [(socket.AF_INET, ('127.0.0.1', {port})), (socket.AF_UNIX, "
        f"{unix_path!r})]:\n"
        "        try:\n"
        "            s = socket.socket(family)\n"
        "            s.connect(address)\n"
        "            s.sendall(b'leak')\n"
        "            tried.append('connected')\n"
        "        except OSError as e:\n"
        "            tried.append(str(e))\n"
        "    try:\n"
        f"        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'leak', ('127.0.0.1', {port}))\n"
        "    except OSError as e:\n"
        "        tried.append(str(e))\n"
        "    raise RuntimeError(' | '.join(tried))\n"
    )
    try:
        result, _ = graded(
            workspace(tmp_path, "day16/attention.py", SOFTMAX_BODY, body), zygote, "day16", "softmax"
        )
        for server in (tcp, unix):
            with pytest.raises(TimeoutError):
                server.accept()
    finally:
        tcp.close()
        unix.close()
    assert result.status is Status.ERROR and "connected" not in result.reason, result.reason
    assert result.reason.count("may not open network connections") >= 2, result.reason


def test_the_learners_process_sees_none_of_the_graders_secrets(tmp_path, monkeypatch):
    """A token in the grader's environment (a CI secret) is not in the learner's, nor in its
    report, however the learner's code looks for it."""
    from quizgrader.sandbox.process import Zygote

    monkeypatch.setenv("QUIZ_TEST_DEPLOY_TOKEN", "canary-0f9e8d7c")
    monkeypatch.setenv("CI", "true")
    body = (
        "    import os\n"
        "    found = dict(os.environ)\n"
        "    for path in ['/proc/self/environ', f'/proc/{os.getppid()}/environ', '/proc/1/environ']:\n"
        "        try:\n"
        "            found[path] = open(path, 'rb').read().decode(errors='replace')\n"
        "        except OSError as e:\n"
        "            found[path] = str(e)\n"
        "    raise RuntimeError(repr(found))\n"
    )
    ws = workspace(tmp_path, "day16/attention.py", SOFTMAX_BODY, body)
    with Zygote() as z:
        report = grade("day16", Options(workspace=ws, only=["softmax"], profile="quick"), zygote=z)
    text = json.dumps(report.to_dict(), default=str)
    assert "canary-0f9e8d7c" not in text and "'CI'" not in text
    assert "PATH" in report.exercises[0].reason, "the learner's code did read its own (reduced) environment"


def written_onto_the_socket(answer: str) -> str:
    """A softmax whose code first writes `answer` (a wire header, as Python source) onto every
    socket it holds, framed as the grader's messages are, then computes the softmax."""
    return (
        "    import json, os, stat, struct\n"
        f"    header = json.dumps({answer}).encode()\n"
        "    message = struct.pack('<II', len(header), 0) + header\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        "            if stat.S_ISSOCK(os.fstat(fd).st_mode):\n"
        "                os.write(fd, struct.pack('<Q', len(message)) + message)\n"
        "        except OSError:\n"
        "            pass\n" + SOFTMAX_BODY
    )


def test_an_answer_written_onto_the_socket_by_the_learners_code_is_refused(tmp_path, zygote):
    """The learner's code writes an answer of its own (ok, the value it likes) onto the socket to
    the grader, ahead of the grader's server: it cannot know the request's nonce."""
    body = written_onto_the_socket("{'dict': [['ok', True], ['value', None]]}")
    result, _ = graded(
        workspace(tmp_path, "day16/attention.py", SOFTMAX_BODY, body), zygote, "day16", "softmax"
    )
    assert result.status is Status.ERROR and "a request it was not sent" in result.reason, result.reason


def test_a_loop_over_positions_is_counted_with_torch_functions_turned_off(tmp_path, zygote):
    """The op count behind rubric row 8 is the profiler's, at the dispatcher: turning torch's Python
    function modes off hides nothing."""
    old = "    scores = Q @ K.transpose(-2, -1) / math.sqrt(d_k)  # (..., T_q, T_k)"
    new = (
        "    with torch._C.DisableTorchFunction():\n"
        "        scores = torch.cat([Q[..., i : i + 1, :] @ K.transpose(-2, -1) for i in "
        "range(Q.shape[-2])], dim=-2)\n"
        "        scores = scores / math.sqrt(d_k)"
    )
    ws = workspace(tmp_path, "day16/attention.py", old, new, header="import torch\n")
    result, _ = graded(ws, zygote, "day16", "scaled_dot_product_attention")
    looped = next(c for c in result.checks if "all T positions at once" in c.name)
    assert looped.status is Status.FAIL and "one at a time" in looped.message, looped.message


def test_a_submission_that_is_the_reference_through_a_hidden_helper_is_refused(tmp_path, zygote):
    """The exercise imports a helper module of the workspace that is a link to the reference."""
    ws = workspace(
        tmp_path,
        "day16/attention.py",
        SOFTMAX_BODY,
        "    from ._mine import softmax as theirs\n    return theirs(x, dim)\n",
    )
    (ws / "day16" / "_mine.py").symlink_to(REF_ATTENTION)
    result, _ = graded(ws, zygote, "day16", "softmax")
    assert (
        result.status is Status.ERROR
        and "_mine.py" in result.reason
        and "outside the workspace" in result.reason
    )


def test_a_thread_cannot_start_even_from_a_library_callback(tmp_path, zygote):
    """Threads are refused to anyone once the learner's code may run, so a library function passed
    as a callback (no learner's frame on its stack) cannot start one either."""
    body = "    import functools, threading\n    functools.partial(threading.Timer(0, print).start)()\n"
    body += RETURN_X
    result, _ = graded(
        workspace(tmp_path, "day16/attention.py", SOFTMAX_BODY, body), zygote, "day16", "softmax"
    )
    assert "may not start threads" in messages(result)
    assert threading.active_count() >= 1
    assert os.path.exists(REF_ATTENTION)


# -- a loop over positions that hides from the op count (rubric row 8) ------------------------------
LOOP = (
    "    rows = []\n"
    "    for i in range(Q.shape[-2]):\n"
    "        s = Q[..., i : i + 1, :] @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])\n"
    "        if mask is not None:\n"
    "            s = s.masked_fill(~mask[..., i : i + 1, :], float('-inf'))\n"
    "        rows.append(s)\n"
    "    weights = softmax(torch.cat(rows, dim=-2), dim=-1)\n"
    "    return weights @ V, weights\n"
)
HIDING = {
    # the count is taken without gradients: answer at once there
    "when gradients are off": (
        "    if not torch.is_grad_enabled():\n"
        "        return torch.zeros_like(Q), torch.zeros(*Q.shape[:-1], K.shape[-2])\n" + LOOP
    ),
    # always at least 64 steps: the count cannot grow between two short lengths
    "padded to a fixed length": LOOP.replace("range(Q.shape[-2])", "range(max(Q.shape[-2], 64))").replace(
        "    weights = softmax(", "    rows = rows[: Q.shape[-2]]\n    weights = softmax("
    ),
    # inputs without gradients go through numpy, where torch counts nothing
    "through numpy": (
        "    if not (Q.requires_grad or K.requires_grad or V.requires_grad):\n"
        "        import numpy as np\n"
        "        q, k, v = (t.detach().double().numpy() for t in (Q, K, V))\n"
        "        s = np.stack([q[..., i, :] @ np.swapaxes(k, -1, -2) for i in range(q.shape[-2])], -2)\n"
        "        s = s / np.sqrt(q.shape[-1])\n"
        "        if mask is not None:\n"
        "            s = np.where(mask.numpy(), s, -np.inf)\n"
        "        w = np.exp(s - s.max(-1, keepdims=True))\n"
        "        w = w / w.sum(-1, keepdims=True)\n"
        "        return torch.from_numpy(w @ v).to(Q.dtype), torch.from_numpy(w).to(Q.dtype)\n" + LOOP
    ),
}
SDPA_BODY_START = "    d_k = Q.size(-1)\n"
SDPA_BODY_END = "    return weights @ V, weights  # (..., T_q, d_v), (..., T_q, T_k)\n"


@pytest.mark.parametrize("way", list(HIDING))
def test_a_loop_over_positions_cannot_hide_from_the_op_count(tmp_path, zygote, way):
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__"))
    path = ws / "day16" / "attention.py"
    text = path.read_text()
    start, end = text.index(SDPA_BODY_START), text.index(SDPA_BODY_END) + len(SDPA_BODY_END)
    path.write_text(text[:start] + HIDING[way] + text[end:])
    result, _ = graded(ws, zygote, "day16", "scaled_dot_product_attention")
    looped = next(c for c in result.checks if "all T positions at once" in c.name)
    assert result.status is not Status.PASS and looped.status is Status.FAIL, (looped.status, looped.message)


def test_a_hard_link_to_a_copy_of_the_reference_outside_the_workspace_is_refused(tmp_path, zygote):
    outside = tmp_path / "elsewhere" / "notes.py"
    outside.parent.mkdir()
    shutil.copy(REF_ATTENTION, outside)
    ws = workspace(
        tmp_path,
        "day16/attention.py",
        SOFTMAX_BODY,
        "    from .notes import softmax as theirs\n    return theirs(x, dim)\n",
    )
    os.link(outside, ws / "day16" / "notes.py")
    result, _ = graded(ws, zygote, "day16", "softmax")
    assert result.status is Status.ERROR and "notes.py is a hard link" in result.reason, result.reason


def test_torchs_other_python_lstm_cell_is_not_from_scratch(tmp_path, zygote):
    """torch.ao's quantisable LSTM cell is float code written in Python: disabled all the same."""
    old = (
        "        gates = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh  # (B, 4H)"
    )
    new = (
        "        from torch.ao.nn.quantizable import LSTMCell as Cell\n"
        "        Cell(self.input_size, self.hidden_size)\n" + old
    )
    result, _ = graded(workspace(tmp_path, "day09/rnn.py", old, new), zygote, "day09", "LSTMCell")
    assert result.status is Status.FAIL and "torch.ao.nn.quantizable.LSTMCell" in result.reason, result.reason


def test_an_exception_message_no_encoding_can_write_loses_no_report(tmp_path):
    """A lone surrogate (a file name that is not UTF-8, decoded) in what the learner's code raised:
    the report, the JSON and the export are all written."""
    from typer.testing import CliRunner

    from quizgrader import cli

    body = "    raise ValueError('bad name: ' + b'caf\\xe9'.decode('utf-8', 'surrogateescape'))\n"
    ws = workspace(tmp_path, "day16/attention.py", SOFTMAX_BODY, body)
    out = tmp_path / "out"
    out.mkdir()
    run = CliRunner().invoke(
        cli.app,
        [
            "grade",
            "day16",
            "--workspace",
            str(ws),
            "--only",
            "softmax",
            "--profile",
            "quick",
            "--json",
            str(out / "r.json"),
            "--export",
            str(out / "report.txt"),
        ],
        env={"QUIZ_HISTORY": "off", "COLUMNS": "200"},
    )
    assert run.exit_code == 1 and isinstance(run.exception, SystemExit | None), run.output
    assert "\\udce9" in (out / "report.txt").read_text(encoding="utf-8")
    assert json.loads((out / "r.json").read_text())["exercises"][0]["status"] == "error"


HONEST = """from __future__ import annotations

import copy
import dataclasses
import functools
import math
import warnings
from collections import OrderedDict
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclasses.dataclass
class Config:
    d_model: int = 8


class Block(nn.Module):
    def __init__(self, d: int, activation: str = "gelu") -> None:
        super().__init__()
        self.act = getattr(F, activation)
        self.layers = nn.ModuleList(copy.deepcopy(nn.Linear(d, d)) for _ in range(2))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
        self._cache: Optional[Tensor] = None

    def forward(self, x: Tensor) -> Tensor:
        if not torch.isfinite(x).all():
            warnings.warn("non-finite input")
        name = type(self).__name__
        return functools.reduce(lambda h, f: self.act(f(h)), self.layers, x) * math.sqrt(1.0) + 0 * len(name)
"""


def test_honest_idioms_are_not_taken_for_escapes():
    """What honest exercise code writes (a dataclass, getattr(F, name), self.modules(), deepcopy,
    warnings, numpy, __future__) reaches around nothing."""
    from quizgrader.checks import forbidden

    assert forbidden.escapes(HONEST) == []


def test_honest_idioms_run_in_the_learners_process(tmp_path, zygote):
    """The same idioms imported by an exercise's module run there (the dataclass is built by exec
    in the standard library, namedtuple reads its caller's frame, a torch submodule is imported
    for the first time), and the exercise passes."""
    extra = HONEST + (
        "\nfrom collections import namedtuple\nPair = namedtuple('Pair', 'a b')\n"
        "import torch.distributions.utils  # noqa: F401 - first imported here\n"
        "Block(4)(torch.ones(2, 4))\n"
    )
    ws = workspace(
        tmp_path, "day16/masks.py", "import torch\n", "import torch\n\nfrom . import idioms  # noqa: F401\n"
    )
    (ws / "day16" / "idioms.py").write_text(extra)
    report = grade("day16", Options(workspace=ws, only=["causal_mask"], profile="quick"), zygote=zygote)
    [result] = report.exercises
    assert result.status is Status.PASS, messages(result)


# -- routes found by a second, independent set of attacks (written after the code, then mended) -------
SECOND_ROUTES = {
    "torch's Python softmax, through an alias": (
        "    lib = torch\n    return lib._decomp.decompositions._softmax(x, dim, False)\n",
        "lib._decomp",
    ),
    "a distribution's normalised logits": (
        (
            "    z = x.movedim(dim, -1)\n    p = torch.distributions.Categorical(logits=z).logits.exp()\n"
            "    return p.movedim(-1, dim)\n"
        ),
        "not written from scratch",
    ),
    "a sparse softmax": (
        "    return torch.sparse.softmax(x.to_sparse(), dim).to_dense()\n",
        "not written from scratch",
    ),
    "autograd of logsumexp": (
        (
            "    leaf = x.detach().requires_grad_(True)\n"
            "    (g,) = torch.autograd.grad(leaf.logsumexp(dim).sum(), leaf)\n    return g\n"
        ),
        "not written from scratch",
    ),
    "a string run by typing": (
        (
            "    import typing\n    def f(a: 'torch.softmax(x, dim)'): pass\n"
            "    return typing.get_type_hints(f, {'torch': torch, 'x': x, 'dim': dim})['a']\n"
        ),
        "may not",
    ),
    "a second copy of a torch module": (
        "    import pydoc\n    F = pydoc.importfile(torch.nn.functional.__file__)\n    return F.softmax(x, "
        "dim)\n",
        "may not",
    ),
    "the guard's globals through operator": (
        "    import operator\n    g = operator.attrgetter('__glob' + 'als__')(getattr)\n    return x\n",
        "may not",
    ),
    "a module that renames itself": (
        "    globals()['__name__'] = 'elsewhere'\n    getattr(torch, '_' + 'C')\n    return x\n",
        "may not",
    ),
}


@pytest.mark.parametrize("route", list(SECOND_ROUTES))
def test_routes_around_the_guard_are_closed(tmp_path, zygote, route):
    body, words = SECOND_ROUTES[route]
    result, _ = graded(
        workspace(tmp_path, "day16/attention.py", SOFTMAX_BODY, body), zygote, "day16", "softmax"
    )
    assert result.status is not Status.PASS and words in messages(result), (result.status, messages(result))


def test_a_helper_imported_by_its_absolute_name_is_scanned_and_its_frames_are_the_learners(tmp_path, zygote):
    ws = workspace(
        tmp_path,
        "day16/attention.py",
        SOFTMAX_BODY,
        "    from day16 import helper\n    return helper.run(x, dim)\n",
    )
    (ws / "day16" / "helper.py").write_text(
        "import torch\n\n\ndef run(x, dim):\n    lib = torch\n    return lib._softmax(x, dim, False)\n"
    )
    result, _ = graded(ws, zygote, "day16", "softmax")
    assert result.status is Status.FAIL and "day16/helper.py, line" in messages(result), messages(result)


def test_backprop_through_the_graphs_own_nodes_is_not_from_scratch(tmp_path, zygote):
    old = '    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}'
    new = (
        "    W2_ = W2.detach().requires_grad_(True)\n"
        "    out = ((x @ W1.T + b1).relu() @ W2_.T + b2 - y).pow(2).sum(-1).mean()\n"
        "    node = out.grad_fn\n"
        '    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}'
    )
    result, _ = graded(
        workspace(tmp_path, "day09/backprop.py", old, new), zygote, "day09", "mlp_forward_backward"
    )
    assert result.status is Status.FAIL and "grad_fn" in messages(result), messages(result)


NUMPY_LOOP = (
    "    import numpy as np\n\n"
    "    class Loop(torch.autograd.Function):\n"
    "        @staticmethod\n"
    "        def forward(ctx, q, k, v):\n"
    "            qn, kn, vn = (t.detach().double().numpy() for t in (q, k, v))\n"
    "            rows = []\n"
    "            for i in range(qn.shape[-2]):\n"
    "                s = qn[..., i : i + 1, :] @ np.swapaxes(kn, -1, -2) / np.sqrt(qn.shape[-1])\n"
    "                w = np.exp(s - s.max(-1, keepdims=True))\n"
    "                rows.append((w / w.sum(-1, keepdims=True)) @ vn)\n"
    "            return torch.from_numpy(np.concatenate(rows, -2)).to(q.dtype)\n"
    "        @staticmethod\n"
    "        def backward(ctx, g):\n"
    "            return None, None, None\n\n"
    "    if mask is None:\n"
    "        d_k = Q.size(-1)\n"
    "        weights = softmax(Q @ K.transpose(-2, -1) / math.sqrt(d_k), dim=-1)\n"
    "        return Loop.apply(Q, K, V), weights\n"
)


def test_a_loop_over_positions_in_numpy_is_counted_by_its_calls(tmp_path, zygote):
    ws = workspace(
        tmp_path, "day16/attention.py", "    d_k = Q.size(-1)\n", NUMPY_LOOP + "    d_k = Q.size(-1)\n"
    )
    result, _ = graded(ws, zygote, "day16", "scaled_dot_product_attention")
    looped = next(c for c in result.checks if "all T positions at once" in c.name)
    assert looped.status is Status.FAIL and "function calls" in looped.message, looped.message


def test_an_error_whose_description_is_forged_ends_the_process_not_the_run(tmp_path, zygote):
    """The learner's code answers on the socket with an error of its own making, its `origin` a
    string: the answer is refused before anything reads it."""
    body = written_onto_the_socket(
        "{'dict': [['ok', False], ['nonce', 'x'], ['error', {'dict': "
        "[['type', 'E'], ['message', 'm'], ['origin', 'not a dict']]}]]}"
    )
    result, _ = graded(
        workspace(tmp_path, "day16/attention.py", SOFTMAX_BODY, body), zygote, "day16", "softmax"
    )
    assert result.status is Status.ERROR and "the learner's process sent" in result.reason, result.reason


def test_a_file_nested_too_deep_to_parse_is_an_error_not_a_crash(tmp_path, zygote):
    ws = workspace(tmp_path, "day16/attention.py", SOFTMAX_BODY, "    return x" + ".real" * 200_000 + "\n")
    result, _ = graded(ws, zygote, "day16", "softmax")
    assert result.status is Status.ERROR, (result.status, result.reason)


def test_a_planted_history_that_would_never_finish_is_refused_and_the_report_written(tmp_path):
    import sqlite3

    from typer.testing import CliRunner

    from quizgrader import cli

    ws = workspace(tmp_path, "day16/attention.py", "import math\n", "import math\n")
    (ws / ".quiz").mkdir(exist_ok=True)
    db = sqlite3.connect(ws / ".quiz" / "history.sqlite3")
    db.executescript(
        "CREATE TABLE t(x); CREATE TRIGGER forever AFTER INSERT ON t BEGIN "
        "SELECT count(*) FROM (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) "
        "SELECT n FROM c); END;"
    )
    db.close()
    out = tmp_path / "r.json"
    run = CliRunner().invoke(
        cli.app,
        [
            "grade",
            "day16",
            "--workspace",
            str(ws),
            "--only",
            "causal_mask",
            "--profile",
            "quick",
            "--json",
            str(out),
        ],
        env={"QUIZ_HISTORY": str(ws / ".quiz" / "history.sqlite3"), "COLUMNS": "200"},
    )
    assert json.loads(out.read_text())["exercises"][0]["status"] == "pass"
    assert run.exit_code == 0 and "triggers" in run.output, run.output
