"""The grader's own routines that run in the learner's process (sandbox/tools.py, and Day 16's in
days/day16/tools.py), against the library they stand for; and how a day pack registers one."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from quizgrader.days.day16 import tools as day16
from quizgrader.sandbox import tools


def test_adamw_equals_torch_optim_adamw():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    a.bias.requires_grad_(False)  # a parameter that gets no gradient is skipped by both
    b.bias.requires_grad_(False)
    ours = day16.AdamW([p for p in a.parameters() if p.requires_grad], lr=1e-2)
    theirs = torch.optim.AdamW([p for p in b.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    x = torch.randn(8, 4)
    for _ in range(25):
        for model, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            (model(x) ** 2).sum().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_training_imports_no_dynamo():
    """Constructing a torch.optim optimizer imports torch._dynamo (over a second in every fresh
    learner process); the grader's loop must not."""
    code = (
        "import sys, torch\nfrom quizgrader.days.day16 import tools\n"
        "m = torch.nn.Sequential(torch.nn.Embedding(5, 8), torch.nn.Linear(8, 5))\n"
        "tools.overfit(m, tokens=torch.randint(0, 5, (2, 6)), steps=3, lr=1e-2)\n"
        "print('torch._dynamo' in sys.modules)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert run.stdout.strip() == "False", run.stderr


def test_copy_batches_repeat_the_first_half_after_the_separator():
    seq = day16.copy_batch(torch.Generator().manual_seed(0), 4, 5, vocab=7)
    assert seq.shape == (4, 11) and (seq[:, 5] == day16.SEPARATOR).all()
    assert torch.equal(seq[:, :5], seq[:, 6:]) and (seq[:, :5] != day16.SEPARATOR).all()


def test_op_count_does_not_depend_on_length_for_a_matmul_but_does_for_a_loop():
    def parallel(x):
        return torch.softmax(x @ x.transpose(-2, -1), -1) @ x

    def sequential(x):
        return torch.stack([x[:, i] * 2 for i in range(x.shape[1])], 1)

    short, long = torch.randn(1, 4, 3), torch.randn(1, 32, 3)
    assert tools.count_ops(parallel, args=[short])["ops"] == tools.count_ops(parallel, args=[long])["ops"]
    assert tools.count_ops(sequential, args=[long])["ops"] > tools.count_ops(sequential, args=[short])["ops"]


def test_time_attention_reports_every_length():
    rows = day16.time_attention(
        lambda q, k, v: (q @ k.transpose(-2, -1)).softmax(-1) @ v,
        lengths=[8, 16],
        d=4,
        batch=1,
        repeats=2,
        seed=0,
    )
    assert [r["T"] for r in rows] == [8, 16]
    assert all(r["attention"] > 0 and r["recurrence"] > 0 for r in rows)


def test_one_thread_restores_the_count():
    before = torch.get_num_threads()
    with tools.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad", [lambda t: t.float().mean(), lambda t: torch.zeros(t.shape[0], 3)])
def test_training_a_model_with_the_wrong_output_says_what_it_returned(bad):
    class Bad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, tokens):
            return bad(tokens) + self.w

    with pytest.raises(TypeError, match="expected logits"):
        day16.overfit(Bad(), tokens=torch.randint(0, 5, (2, 6)), steps=1, lr=1e-2)


def test_the_op_count_leaves_stderr_to_the_code_it_counts(capfd):
    """The profiler's own start and stop lines are not printed; what the counted code writes is."""
    import os

    from quizgrader.sandbox.tools import count_ops

    def noisy(x):
        os.write(2, b"the learner's own line\n")
        return x * 2

    counted = count_ops(noisy, args=[torch.ones(3)])
    err = capfd.readouterr().err
    assert counted["ops"] >= 1 and "the learner's own line" in err
    assert "profiler_start" not in err and "profiler_stop" not in err, err


def test_a_day_packs_routines_are_found_by_name_and_a_name_is_taken_once():
    assert tools.get("train_copy") is day16.train_copy and tools.get("count_ops") is tools.count_ops
    assert tools.replayable("stack_gradient_norms") and not tools.replayable("train_copy")
    with pytest.raises(ValueError, match="two routines are registered as 'train_copy'"):
        tools.register("train_copy")(lambda model: None)
    with pytest.raises(KeyError, match="no routine of the grader is called 'train_cpy'"):
        tools.get("train_cpy")


def test_on_meta_shows_a_tensor_made_on_the_cpu_when_the_inputs_are_elsewhere():
    def honest(x):
        return x + torch.arange(x.shape[-1], device=x.device)

    def forgetful(x):
        return x + torch.arange(x.shape[-1])

    assert tools.on_meta(honest, args=[torch.ones(2, 3)]) == {
        "raised": None,
        "devices": ["meta"],
        "dtypes": ["torch.float32"],
        "cpu": [],
    }
    found = tools.on_meta(forgetful, args=[torch.ones(2, 3)])
    assert found["raised"] is not None and found["cpu"] == ["arange"], found

    def lookup(x, weight):  # a CPU index beside a meta table: the meta kernel lets it through
        return x + torch.nn.functional.embedding(torch.arange(x.shape[1]), weight)

    found = tools.on_meta(lookup, args=[torch.ones(1, 3, 2), torch.ones(5, 2)])
    assert found["raised"] is None and found["cpu"] == ["arange"], found
    module = torch.nn.Linear(3, 2)
    assert tools.on_meta(module, args=[torch.ones(4, 3)])["devices"] == ["meta"]


def test_under_default_dtype_shows_a_hard_coded_float32():
    def follows(n):
        return torch.zeros(n)

    def hard_coded(n):
        return torch.zeros(n, dtype=torch.float32)

    assert tools.under_default_dtype(follows, dtype="float64", args=[3]).dtype == torch.float64
    assert tools.under_default_dtype(hard_coded, dtype="float64", args=[3]).dtype == torch.float32
    assert torch.get_default_dtype() == torch.float32
