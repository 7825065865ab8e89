"""What a learner's code returns is judged whatever it is: a value of the wrong kind, NaN or inf, or
a different answer each time it is called is the learner's mistake, told as such, and never "a bug
in the grader" nor a crash of the run."""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import pytest

from quizgrader.analysis import diagnosis
from quizgrader.catalog import load_day
from quizgrader.grade import Options, grade
from quizgrader.results import Status

ROOT = Path(__file__).resolve().parents[1]
GRADER_BUG = "a bug in the grader"
EXERCISES = [ex for day in ("day16", "day09") for ex in load_day(day).exercises]

# Appended to the exercise's file: the exercise (a function, or every method of a class) hands back
# `_wrong(what it would have returned)`; calls made from inside it (generate calling forward) are
# left alone, so that only what reaches the grader is of the wrong kind.
WRAPPER = """

import functools as _functools
import torch as _torch

_depth = [0]


def _each(r, f):
    return tuple(map(f, r)) if isinstance(r, tuple) else f(r)


def _tensors(f):
    return lambda r: _each(r, lambda t: f(t) if isinstance(t, _torch.Tensor) else t)


class _Mine(_torch.Tensor):
    pass


def _wrong(r):
    return {kind}


def _wrapped(fn):
    @_functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _depth[0] += 1
        try:
            r = fn(*args, **kwargs)
        finally:
            _depth[0] -= 1
        return r if _depth[0] else _wrong(r)
    return wrapper
"""

# kind -> (what the exercise returns instead, words one of which the message names it by)
KINDS = {
    "0-d tensor": ("_torch.tensor(0.5)", ("0-d", "shape ()")),
    "python float": ("0.5", ("float 0.5",)),
    "python int": ("1", ("int 1",)),
    "python bool": ("True", ("bool True",)),
    "None": ("None", ("None",)),
    "string": ("'result'", ("'result'",)),
    "tuple too short": ("r[:-1] if isinstance(r, tuple) else (r,)", ("tuple of",)),
    "tuple too long": ("(*r, r[0]) if isinstance(r, tuple) else (r, r, r)", ("tuple of",)),
    "list": ("_tensors(lambda t: t.tolist())(r)", ("list", "float", "int")),
    "dict": ("{'result': r}", ("dict",)),
    "numpy array": ("_tensors(lambda t: t.detach().cpu().numpy())(r)", ("ndarray",)),
    "int dtype": ("_tensors(lambda t: t.to(_torch.int64))(r)", ("int64",)),
    "bool dtype": ("_tensors(lambda t: t != 0)(r)", ("bool",)),
    "complex dtype": ("_tensors(lambda t: t.to(_torch.complex128))(r)", ("complex128",)),
    "wrong device": ("_tensors(lambda t: t.to('meta'))(r)", ("meta",)),
    "nested tuple": ("(r[0], (r[1],)) if isinstance(r, tuple) else ((r,),)", ("tuple of 1",)),
    "generator": ("(x for x in [r])", ("generator",)),
    # right values, so these may pass; where gradients are checked, they must be missed
    "detached, requires grad": (
        (
            "_tensors(lambda t: _torch.nn.Parameter(t.detach().clone(), "
            "requires_grad=t.is_floating_point()))(r)"
        ),
        ("gradient",),
    ),
    "tensor subclass": ("_tensors(lambda t: t.as_subclass(_Mine))(r)", ()),
}
RIGHT_VALUES = {"detached, requires grad", "tensor subclass"}
# What the contract returns as a Python number is left as it is by a change of tensors, and is of the
# right kind as a number (its value is what is wrong then).
SCALARS = {"day16.recipe.noam_lr", "day09.stability.warmup_cosine_lr", "day09.embeddings.analogy"}
TENSOR_KINDS = {
    "numpy array",
    "int dtype",
    "bool dtype",
    "complex dtype",
    "wrong device",
    "list",
    *RIGHT_VALUES,
}
NUMBERS = {"0-d tensor", "python float", "python int"}
# Where the contract's answer is a 0-d tensor for some inputs, a 0-d tensor is of the right kind there.
ZERO_D = {
    "day16.recipe.label_smoothed_cross_entropy",
    "day09.information.entropy",
    "day09.information.cross_entropy",
    "day09.information.kl_divergence",
    "day09.information.code_length_bits",
    "day09.stability.clip_grad_norm_",
    "day09.backprop.mlp_forward_backward",
}
NOT_WRONG = {
    ("day16.masks.causal_mask", "bool dtype"),
    ("day16.masks.padding_mask", "bool dtype"),
    ("day09.stability.clip_grad_norm_", "list"),
}  # a Python float is a norm all the same


def applies(ex, kind: str) -> bool:
    return not (ex.id in SCALARS and kind in TENSOR_KINDS) and (ex.id, kind) not in NOT_WRONG


# Each of these once ended in "a bug in the grader" (or, for the device, "not attempted").
ONCE_BROKEN = [
    ("day16.attention.softmax", "complex dtype"),
    ("day16.attention.softmax", "wrong device"),
    ("day16.attention.scaled_dot_product_attention", "bool dtype"),
    ("day16.attention.scaled_dot_product_attention", "nested tuple"),
    ("day16.attention.additive_attention", "list"),
    ("day16.multihead.MultiHeadAttention", "bool dtype"),
    ("day16.lm.DecoderLM", "complex dtype"),
    ("day09.rnn.LSTMCell", "bool dtype"),
    ("day09.information.entropy", "complex dtype"),
]


def cases() -> list[tuple]:
    """Every kind for every exercise with QUIZ_FULL_MATRIX=1 (some 600 gradings: minutes on two
    cores); otherwise one kind per exercise, taken in turn so that each kind meets some exercise,
    and the pairs in ONCE_BROKEN."""
    kinds = list(KINDS)
    if os.environ.get("QUIZ_FULL_MATRIX") == "1":
        return [(ex, kind) for ex in EXERCISES for kind in kinds if applies(ex, kind)]
    by_id = {ex.id: ex for ex in EXERCISES}
    chosen, left = [(by_id[i], kind) for i, kind in ONCE_BROKEN], []
    for ex in EXERCISES:
        left = left or list(kinds)
        kind = next((k for k in left if applies(ex, k)), None) or next(k for k in kinds if applies(ex, k))
        if kind in left:
            left.remove(kind)
        if (ex, kind) not in chosen:
            chosen.append((ex, kind))
    return chosen


@pytest.fixture(scope="module")
def doctor():
    """The known mistakes' workspaces, made once for the module rather than once per grading."""
    d = diagnosis.Diagnoser()
    yield d
    d.close()


def with_wrong_kind(tmp_path: Path, ex, kind: str) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__"))
    path = ws / ex.file
    source = path.read_text()
    node = next(n for n in ast.parse(source).body if getattr(n, "name", None) == ex.name)
    text = source + WRAPPER.format(kind=KINDS[kind][0])
    if isinstance(node, ast.ClassDef):
        for m in node.body:
            if isinstance(m, ast.FunctionDef) and not m.name.startswith("_"):
                text += f"{ex.name}.{m.name} = _wrapped({ex.name}.{m.name})\n"
    else:
        text += f"{ex.name} = _wrapped({ex.name})\n"
    path.write_text(text)
    return ws


@pytest.mark.parametrize("ex, kind", cases(), ids=lambda v: getattr(v, "short", v))
def test_every_wrong_kind_of_return_value_is_the_learners_mistake(ex, kind, tmp_path, zygote, doctor):
    report = grade(
        ex.day,
        Options(with_wrong_kind(tmp_path, ex, kind), only=[ex.id], profile="quick"),
        zygote=zygote,
        doctor=doctor,
    )
    result = report.exercises[0]
    messages = [c.message for c in result.checks if c.status is not Status.PASS]
    assert not any(GRADER_BUG in m for m in messages + [result.reason]), (result.status, messages)
    if kind in RIGHT_VALUES:
        assert result.status is Status.PASS or (
            result.status is Status.FAIL and any("gradient" in m for m in messages)
        ), (result.status, messages)
        return
    assert result.status in (Status.FAIL, Status.ERROR), (result.status, result.reason)
    if not ((ex.id in SCALARS and kind in NUMBERS) or (ex.id in ZERO_D and kind == "0-d tensor")):
        words = KINDS[kind][1]
        assert any(w in m for m in messages for w in words), (words, messages)


# -- code that does not give the same answer twice ----------------------------------------------------
def edited(tmp_path: Path, file: str, *edits: tuple[str, str]) -> Path:
    """A copy of the reference with each (old, new) edit made once in `file`."""
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__"))
    path = ws / file
    text = path.read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text)
    return ws


def graded(ws: Path, exercise: str, zygote, day: str = "day16"):
    return grade(day, Options(ws, only=[exercise], profile="quick"), zygote=zygote).exercises[0]


def unsteady(result) -> list[str]:
    return [c.message for c in result.checks if "not deterministic" in c.message]


def test_a_block_with_dropout_left_on_is_told_it_is_not_deterministic(tmp_path, zygote):
    ws = edited(
        tmp_path,
        "day16/block.py",
        (
            "        self.ln2 = nn.LayerNorm(d_model)\n\n    def forward(self, x: Tensor, mask",
            (
                "        self.ln2 = nn.LayerNorm(d_model)\n        self.drop = nn.Dropout(0.5)\n\n"
                "    def forward(self, x: Tensor, mask"
            ),
        ),
        (
            "            x = x + self.attn(self.ln1(x), mask=mask)[0]\n",
            "            x = x + self.drop(self.attn(self.ln1(x), mask=mask)[0])\n",
        ),
    )
    result = graded(ws, "block.TransformerBlock", zygote)
    assert result.status is Status.FAIL
    told = unsteady(result)
    assert told and all(GRADER_BUG not in c.message for c in result.checks)
    assert told[0].startswith(
        "your function is not deterministic: called again with the same inputs, your "
        "TransformerBlock.forward returned something else (by up to "
    ), told[0]
    assert told[0].endswith("Dropout or sampling left on?")


def test_a_softmax_adding_tiny_noise_fails_though_its_float32_values_are_within_tolerance(tmp_path, zygote):
    ws = edited(
        tmp_path,
        "day16/attention.py",
        (
            "    return exps / exps.sum(dim=dim, keepdim=True)\n",
            ("    return exps / exps.sum(dim=dim, keepdim=True) + 1e-6 * torch.rand_like(exps)\n"),
        ),
    )
    result = graded(ws, "attention.softmax", zygote)
    assert result.status is Status.FAIL
    failing = [c.message for c in result.checks if c.status is not Status.PASS]
    assert failing and unsteady(result) == failing, failing
    assert "your softmax returned something else (by up to" in failing[0], failing[0]


def test_a_failure_that_does_not_repeat_is_told_as_such_not_as_a_grader_bug(tmp_path, zygote):
    """Wrong on every fifth call only: the first example answers the same twice, a later one fails,
    and the failure is gone when Hypothesis tries that example again (its Flaky error)."""
    ws = edited(
        tmp_path,
        "day16/attention.py",
        (
            "def softmax(x: Tensor, dim: int = -1) -> Tensor:\n",
            "_calls = [0]\n\n\ndef softmax(x: Tensor, dim: int = -1) -> Tensor:\n    _calls[0] += 1\n",
        ),
        (
            "    return exps / exps.sum(dim=dim, keepdim=True)\n",
            "    return exps / exps.sum(dim=dim, keepdim=True) * (2 if _calls[0] % 5 == 0 else 1)\n",
        ),
    )
    result = graded(ws, "attention.softmax", zygote)
    assert result.status is Status.FAIL
    assert all(GRADER_BUG not in c.message for c in result.checks), [c.message for c in result.checks]
    assert unsteady(result), [c.message for c in result.checks]
