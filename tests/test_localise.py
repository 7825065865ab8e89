"""Where a module first departs from the reference's (quizgrader/analysis/localise.py): with the
reference's weights copied in, the learner's submodules' inputs and outputs are read in the order
they happen, and the first that differs is named.

Two kinds of evidence: a mistake planted in every submodule of every module exercise (its output
nudged), which must be named as that submodule; and realistic mistakes of the catalogue, which
must be placed where they enter."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import torch

from quizgrader.analysis import diagnosis, localise
from quizgrader.checks.api import Call, local

ROOT = Path(__file__).resolve().parents[1]
G = torch.Generator().manual_seed(0)


def floats(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=G, dtype=torch.float64)


def tokens(vocab: int, *shape: int) -> torch.Tensor:
    return torch.randint(0, vocab, shape, generator=G)


# exercise -> (constructor args, constructor kwargs, forward args)
MODULES = {
    "day16.multihead.MultiHeadAttention": ((8, 2), {}, (floats(2, 5, 8),)),
    "day16.positional.LearnedPositionalEmbedding": ((16, 8), {}, (floats(2, 5, 8),)),
    "day16.block.FeedForward": ((8,), {}, (floats(2, 5, 8),)),
    "day16.block.TransformerBlock": ((8, 2), {}, (floats(2, 5, 8),)),
    "day16.block.TransformerBlock/post-ln": ((8, 2), {"pre_ln": False}, (floats(2, 5, 8),)),
    "day16.block.DecoderBlock": ((8, 2), {}, (floats(2, 5, 8), floats(2, 3, 8))),
    "day16.lm.DecoderLM": ((11, 8, 2, 2, 16), {}, (tokens(11, 2, 6),)),
    "day16.lm.DecoderLM/post-ln": ((11, 8, 2, 2, 16), {"pre_ln": False}, (tokens(11, 2, 6),)),
    "day09.residual.ResidualBlock": ((6,), {"zero_init": False}, (floats(3, 6),)),
    "day09.seq2seq.Seq2Seq": ((7, 9, 6, 5), {}, (tokens(7, 2, 4), tokens(9, 2, 3))),
}


def calls(key: str) -> list[Call]:
    exercise = key.split("/")[0]
    args, kwargs, inputs = MODULES[key]
    return [
        Call("new", exercise, args, kwargs, 1),
        Call("to", exercise, (torch.float64,), {}, 1),
        Call("method", f"{exercise}.forward", inputs, {}, 1),
    ]


def reference(day: str):
    return local(ROOT / "reference", day)


def called(key: str) -> list[str]:
    """The submodules the reference's forward calls, in order."""
    c = calls(key)
    ref = reference(c[0].target.split(".")[0])
    model = ref.new(c[0].target.split(".", 1)[1], *c[0].args, **c[0].kwargs).to(torch.float64)
    trace = model.tool("trace_modules", args=list(c[2].args))
    return [name for kind, name, *_ in trace["events"] if kind == "in"]


NUDGE = """

def _nudged(cls, name):
    made = cls.__init__

    def __init__(self, *args, **kwargs):
        made(self, *args, **kwargs)
        self.get_submodule(name).register_forward_hook(
            lambda module, args, out: tuple(o + 0.1 if o.is_floating_point() else o for o in out)
            if isinstance(out, tuple) else out + 0.1
        )

    cls.__init__ = __init__


_nudged({cls}, {name!r})
"""


CASES = [(key, name) for key in MODULES for name in called(key)]


@pytest.mark.parametrize("key, name", CASES, ids=[f"{k}:{n}" for k, n in CASES])
def test_a_mistake_in_any_submodule_is_placed_there(key, name, tmp_path):
    exercise = key.split("/")[0]
    day, module, cls = exercise.split(".")
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__", ".quiz"))
    path = ws / day / f"{module}.py"
    path.write_text(path.read_text() + textwrap.dedent(NUDGE).format(cls=cls, name=name))
    found = localise.locate(calls(key), local(ws, day), reference(day))
    assert found is not None
    assert (found.kind, found.name) == ("output", name), found.sentence()
    assert name in found.sentence()


REALISTIC = {
    # known mistake -> (the probe, what the sentence must say)
    "block-preln-residual-from-normalised": ("day16.block.TransformerBlock", "ln2 gets a different input"),
    "block-ff-no-residual": ("day16.block.TransformerBlock", "every submodule matches"),
    "block-attention-on-raw-x": ("day16.block.TransformerBlock", "ln1 is never called in yours"),
    "mha-merge-without-transpose": ("day16.multihead.MultiHeadAttention", "W_o gets a different input"),
    "mha-keys-use-wq": ("day16.multihead.MultiHeadAttention", "W_k is never called"),
    "lm-no-final-ln": ("day16.lm.DecoderLM", "ln_f is never called"),
    "lm-final-ln-always": ("day16.lm.DecoderLM/post-ln", "lm_head gets a different input"),
    "lm-block-output-dropped": ("day16.lm.DecoderLM", "blocks.1 gets a different input"),
}


@pytest.mark.parametrize("mistake_id", REALISTIC)
def test_a_known_mistake_is_placed_where_it_enters(mistake_id, tmp_path):
    mistake = next(m for m in diagnosis.mistakes("day16") if m.id == mistake_id)
    key, said = REALISTIC[mistake_id]
    you = local(diagnosis.materialize(mistake, tmp_path / "ws"), "day16")
    found = localise.locate(calls(key), you, reference("day16"))
    assert found is not None and said in found.sentence(), found and found.sentence()


DROPOUT = """
class _Dropped(FeedForward):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.fc2(self.drop(self.act(self.fc1(x))))


FeedForward = _Dropped
"""


def test_dropout_left_on_is_placed_and_named(tmp_path):
    """The feed-forward network with a dropout the contract does not have, left on: placed before
    fc2, with the extra submodule named (it was reported as a wrong activation)."""
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws, ignore=shutil.ignore_patterns("__pycache__", ".quiz"))
    path = ws / "day16" / "block.py"
    path.write_text(path.read_text() + DROPOUT)
    found = localise.locate(calls("day16.block.FeedForward"), local(ws, "day16"), reference("day16"))
    assert found is not None and (found.kind, found.name) == ("input", "fc2"), found
    assert "drop (Dropout)" in found.sentence(), found.sentence()


def test_the_reference_departs_nowhere():
    for key in MODULES:
        day = key.split(".")[0]
        assert localise.locate(calls(key), reference(day), reference(day)) is None, key
