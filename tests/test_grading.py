"""The grader against known answers: the reference passes every check, the untouched stubs are
not attempted, every known mistake fails at least one check and is named, and every check fails
on at least one known mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from quizgrader.analysis import diagnosis
from quizgrader.catalog import load_day
from quizgrader.grade import KEEPS_TO_ITSELF, Options, all_checks, grade
from quizgrader.results import Status

ROOT = Path(__file__).resolve().parents[1]
DAY = load_day("day16")
DAYS = ("day16", "day09")
MISTAKES = [m for d in DAYS for m in diagnosis.mistakes(d)]


_REFERENCE: dict = {}


def _reference(day: str, zygote):
    """The reference graded once per day for the whole module."""
    if day not in _REFERENCE:
        _REFERENCE[day] = grade(day, Options(workspace=ROOT / "reference"), zygote=zygote)
    return _REFERENCE[day]


@pytest.fixture(scope="module", params=DAYS)
def day_report(request, zygote):
    return load_day(request.param), _reference(request.param, zygote)


@pytest.fixture(scope="module")
def reference_report(zygote):
    return _reference("day16", zygote)


def test_reference_passes_every_check(day_report):
    day, report = day_report
    assert [e.id for e in report.exercises] == [e.id for e in day.ordered()]
    for e in report.exercises:
        failing = [(c.name, c.message) for c in e.checks if c.status is not Status.PASS]
        assert e.status is Status.PASS and not failing, (e.id, failing)
        assert len(e.checks) == len(all_checks(day.exercise(e.id)))
    assert report.passed
    assert all(r.rating == day.scale[0] for r in report.rubric), report.rubric


@pytest.mark.parametrize("day", DAYS)
def test_untouched_stubs_are_not_attempted(day, zygote):
    report = grade(day, Options(workspace=ROOT / "exercises", profile="quick"), zygote=zygote)
    assert {e.status for e in report.exercises} == {Status.NOT_ATTEMPTED}
    assert all("NotImplementedError" in e.reason for e in report.exercises)
    assert not report.passed
    assert all(r.rating is None for r in report.rubric)


@pytest.fixture(scope="module")
def mutant_results(tmp_path_factory, zygote):
    """Each known mistake applied to a copy of the reference and graded on its own."""
    assert len({m.id for m in MISTAKES}) == len(MISTAKES), "mistake ids must be unique"
    out = {}
    for m in MISTAKES:
        ws = diagnosis.materialize(m, tmp_path_factory.mktemp(m.id) / "ws")
        profile = QUICK.get(m.exercise, "default")
        day = m.exercise.split(".")[0]
        out[m.id] = grade(
            day, Options(workspace=ws, only=[m.exercise], profile=profile), zygote=zygote
        ).exercises[-1]
        assert out[m.id].id == m.exercise
    return out


# The language model's checks train it (a copy task, twice in the default profile): its mistakes
# are graded in the quick profile, which trains once and draws fewer examples, and still has to
# catch and name every one of them.
QUICK = {"day16.lm.DecoderLM": "quick"}


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.id for m in MISTAKES])
def test_every_mistake_is_an_edit_of_the_reference_that_compiles(mistake):
    source = (ROOT / "reference" / mistake.file).read_text()
    mutant = diagnosis.mutate(source, mistake)  # raises unless each `old` occurs exactly once
    assert mutant != source and mistake.summary and mistake.why
    compile(mutant, mistake.file, "exec")


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.id for m in MISTAKES])
def test_every_mistake_fails_and_is_named(mistake, mutant_results):
    result = mutant_results[mistake.id]
    failed = [c for c in result.checks if c.status in (Status.FAIL, Status.ERROR)]
    assert result.status in (Status.FAIL, Status.ERROR), (result.status, result.reason)
    assert failed, "no check failed"
    assert mistake.id in result.diagnosis, f"named {result.diagnosis} instead"
    assert all(c.message for c in failed), "a failing check must say why"
    assert any(mistake.summary in (c.diagnosis or "") for c in failed)


# "From scratch" is proven by stubs that call the library routine (test_from_scratch_*): a mutant
# of the reference cannot both be written from scratch and call it. What reaches around the exercise
# (files, frames, the grader) is no mistake of the maths: the hostile stubs prove that check
# (tests/test_hostile.py, tests/test_integrity.py).
NOT_YET = {"written from scratch (no forbidden library calls)", KEEPS_TO_ITSELF}


@pytest.mark.parametrize("day", DAYS)
def test_every_check_fails_on_some_mistake(day, mutant_results):
    caught = {
        (r.id, c.name)
        for r in mutant_results.values()
        for c in r.checks
        if c.status in (Status.FAIL, Status.ERROR)
    }
    never = [
        (e.id, c.name)
        for e in load_day(day).exercises
        for c in all_checks(e)
        if (e.id, c.name) not in caught and c.name not in NOT_YET
    ]
    assert not never, f"checks no known mistake fails: {never}"


FORBIDDEN_STUBS = [
    # (exercise, file, old, new): the reference, made to call the routine it should implement
    (
        "day16",
        "softmax",
        "attention.py",
        "    exps = torch.exp(shifted)\n    return exps / exps.sum(dim=dim, keepdim=True)",
        "    return torch.softmax(shifted, dim=dim)",
    ),
    # through a helper outside the exercise, reached by a name put together at run time: the routine is
    # disabled in the learner's process, and the record of its call names the helper
    (
        "day16",
        "softmax",
        "attention.py",
        "    exps = torch.exp(shifted)\n    return exps / exps.sum(dim=dim, keepdim=True)",
        "    return _normalise(shifted, dim)\n\n\ndef _normalise(z, dim):\n    return getattr(torch, 'soft' "
        "+ 'max')(z, dim=dim)",
    ),
    # through an import alias, which only the source scan resolves
    (
        "day16",
        "scaled_dot_product_attention",
        "attention.py",
        "    return weights @ V, weights",
        (
            "    from torch.nn import functional as Fn\n"
            "    return Fn.scaled_dot_product_attention(Q, K, V, attn_mask=mask), weights"
        ),
    ),
    # through getattr, which no source scan sees: the disabled routine raises all the same
    (
        "day16",
        "MultiHeadAttention",
        "multihead.py",
        "        out, weights = scaled_dot_product_attention(q, k, v, mask)",
        (
            "        import torch\n"
            "        _, weights = scaled_dot_product_attention(q, k, v, mask)\n"
            "        out = getattr(torch.nn.functional, 'scaled_' + 'dot_product_attention')(q, k, v, "
            "attn_mask=mask)"
        ),
    ),
    # a block that does the attention of its Pre-LN branch with the library kernel
    (
        "day16",
        "TransformerBlock",
        "block.py",
        "            x = x + self.attn(self.ln1(x), mask=mask)[0]\n",
        (
            "            import torch.nn.functional as F\n"
            "            a, h = self.attn, self.ln1(x)\n"
            "            B, T, C = h.shape\n"
            "            q, k, v = (W(h).view(B, T, a.num_heads, a.d_k).transpose(1, 2) for W in (a.W_q, "
            "a.W_k, a.W_v))\n"
            "            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)\n"
            "            x = x + a.W_o(out.transpose(1, 2).reshape(B, T, C))\n"
        ),
    ),
    (
        "day16",
        "DecoderBlock",
        "block.py",
        "        x = x + self.cross_attn(self.ln2(x), context=memory, mask=memory_mask)[0]\n",
        (
            "        import torch\n"
            "        a, h = self.cross_attn, self.ln2(x)\n"
            "        (B, T, C), S = h.shape, memory.size(1)\n"
            "        q = a.W_q(h).view(B, T, a.num_heads, a.d_k).transpose(1, 2)\n"
            "        k, v = (W(memory).view(B, S, a.num_heads, a.d_k).transpose(1, 2) for W in (a.W_k, "
            "a.W_v))\n"
            "        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=memory_mask)\n"
            "        x = x + a.W_o(out.transpose(1, 2).reshape(B, T, C))\n"
        ),
    ),
    (
        "day16",
        "label_smoothed_cross_entropy",
        "recipe.py",
        "    nll = -log_probs.gather(1, safe_targets[:, None]).squeeze(1)",
        "    nll = torch.nn.functional.cross_entropy(logits, safe_targets, reduction='none')",
    ),
    # Day 9: by the source scan, through an alias, and through getattr (the disabled routine)
    (
        "day09",
        "layer_norm",
        "stability.py",
        "    x_hat = (x - mean) / torch.sqrt(var + eps)",
        "    x_hat = torch.nn.functional.layer_norm(x, x.shape[-1:], eps=eps)",
    ),
    (
        "day09",
        "clip_grad_norm_",
        "stability.py",
        "    total_norm = torch.sqrt(sum((g.detach() ** 2).sum() for g in grads))",
        "    total_norm = torch.nn.utils.get_total_norm(grads)",
    ),
    (
        "day09",
        "one_hot",
        "embeddings.py",
        "    return (indices[..., None] == classes).to(torch.get_default_dtype())",
        (
            "    from torch.nn import functional as Fn\n"
            "    return Fn.one_hot(indices, num_classes).to(torch.get_default_dtype())"
        ),
    ),
    (
        "day09",
        "entropy",
        "information.py",
        "    return -(p * torch.log(p_safe)).sum(dim=dim)",
        "    return getattr(torch.special, 'en' + 'tr')(p).sum(dim=dim)",
    ),
]


@pytest.mark.parametrize(
    "day, name, file, old, new",
    FORBIDDEN_STUBS,
    ids=[f"{s[0]}-{s[1]}-{i}" for i, s in enumerate(FORBIDDEN_STUBS)],
)
def test_from_scratch_names_the_forbidden_call(tmp_path, zygote, day, name, file, old, new):
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws)
    path = ws / day / file
    assert path.read_text().count(old) == 1
    path.write_text(path.read_text().replace(old, new))
    result = grade(day, Options(workspace=ws, only=[name], profile="quick"), zygote=zygote).exercises[-1]
    scratch = next(c for c in result.checks if c.name.startswith("written from scratch"))
    assert result.status is Status.FAIL and scratch.status is Status.FAIL, scratch.message
    ex = load_day(day).exercise(name)
    assert any(f in scratch.message for f in ex.forbidden + ex.forbidden_ops) and "line" in scratch.message, (
        scratch.message
    )
    # The routine is disabled in the learner's process: every check that called it fails, naming it.
    for c in result.checks:
        assert c.status is Status.PASS or c is scratch or "asks you to write yourself" in c.message, (
            c.name,
            c.message,
        )
    assert "not written from scratch" in result.reason, result.reason
    if "def _normalise" in new:
        assert "through `_normalise`" in scratch.message, scratch.message


def test_failing_check_gives_a_runnable_repro(mutant_results, tmp_path):
    failed = next(c for c in mutant_results["sdpa-no-scaling"].checks if c.status is Status.FAIL and c.repro)
    run_repro(failed.repro, "sdpa-no-scaling", tmp_path)


def test_a_repro_through_a_day_packs_routine_imports_it_from_its_pack(mutant_results, tmp_path):
    """The gradient norms through a stack of layers are Day 9's routine: the repro imports it from
    Day 9's pack, and runs."""
    failed = next(
        c
        for r in mutant_results.values()
        for c in r.checks
        if r.id == "day09.residual.layer_gradient_norms" and c.repro and "stack_gradient_norms(" in c.repro
    )
    assert "from quizgrader.days.day09.tools import stack_gradient_norms" in failed.repro
    mistake = next(
        m.id for m in MISTAKES if mutant_results[m.id].checks and failed in mutant_results[m.id].checks
    )
    run_repro(failed.repro, mistake, tmp_path)


def run_repro(repro: str, mistake_id: str, tmp_path: Path) -> None:
    """Run a repro script in a workspace that has the mistake: it must run and print a tensor."""
    import subprocess
    import sys

    ws = diagnosis.materialize(next(m for m in MISTAKES if m.id == mistake_id), tmp_path / "ws")
    script = ws / "repro.py"
    script.write_text(repro)
    run = subprocess.run(
        [sys.executable, str(script)], cwd=ws, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    assert "tensor(" in run.stdout


def test_staged_message_names_shape_first(tmp_path, zygote):
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "reference", ws)
    path = ws / "day16" / "attention.py"
    path.write_text(
        path.read_text().replace("return weights @ V, weights", "return (weights @ V)[..., :1], weights")
    )
    result = grade(
        "day16", Options(workspace=ws, only=["scaled_dot_product_attention"]), zygote=zygote
    ).exercises[0]
    assert result.status is Status.FAIL
    first = next(c for c in result.checks if c.status is Status.FAIL)
    assert "out: shape" in first.message and "expected" in first.message


def test_the_reference_lm_learns_and_fails_without_positions(reference_report):
    lm = next(e for e in reference_report.exercises if e.id == "day16.lm.DecoderLM")
    learns = next(c for c in lm.checks if c.name.startswith("learns to copy"))
    f = learns.figures
    assert f["accuracy"] >= 0.9 and f["accuracy_without_positions"] <= 0.6, f
    assert f["tokens_per_s"] > 0 and f["seconds"] > 0 and f["steps"] > 0
    row6 = next(r for r in reference_report.rubric if r.row == 6)
    assert any("without" in line and "measured" in line for line in row6.evidence), row6.evidence


def test_a_model_without_positions_fails_to_learn(mutant_results):
    result = mutant_results["lm-positions-not-added"]
    learns = next(c for c in result.checks if c.name.startswith("learns to copy"))
    assert learns.status is Status.FAIL and "copies" in learns.message and "pos_emb" in learns.message


def test_attention_in_a_loop_is_named_sequential(mutant_results):
    result = mutant_results["sdpa-loop-over-queries"]
    failed = [c for c in result.checks if c.status is Status.FAIL]
    assert [c.name for c in failed] == [next(c.name for c in failed if "all T positions at once" in c.name)]
    assert "one at a time" in failed[0].message


def test_model_repro_rebuilds_its_weights_in_one_line(mutant_results, tmp_path):
    """A model's weights are not printed one by one: the repro rebuilds them with random_state."""
    result = mutant_results["lm-no-final-ln"]
    failed = next(
        c for c in result.checks if c.status is Status.FAIL and c.repro and "random_state(" in c.repro
    )
    run_repro(failed.repro, "lm-no-final-ln", tmp_path)


def test_the_catalog_names_every_row_a_check_measures():
    """`quiz show rubric` reads the catalog alone (no torch): a check that is evidence for another
    rubric row must be declared there as `measures`."""
    from quizgrader.checks.catalogue import checks_for

    for ex in DAY.exercises:
        measured = {row for c in checks_for(ex.id) for row in c.rows}
        assert measured == set(ex.measures), (ex.id, measured, ex.measures)
    assert any(ex.measures for ex in DAY.exercises)


def test_a_model_that_keeps_positions_under_none_fails_the_contrast(tmp_path):
    """The second half of the learning check (run in the default profile only): a model whose
    positional='none' still adds a table learns the copy task, and that is a failure."""
    from quizgrader.checks.api import local
    from quizgrader.checks.catalogue import checks_for
    from quizgrader.checks.runner import run_check

    mistake = next(m for m in MISTAKES if m.id == "lm-none-falls-to-sinusoidal")
    you = local(diagnosis.materialize(mistake, tmp_path / "ws"), "day16")
    ref = local(ROOT / "reference", "day16", package="_quiz_reference")
    learns = next(c for c in checks_for("day16.lm.DecoderLM") if c.name.startswith("learns to copy"))
    result, _ = run_check(learns, you, ref, "default")
    assert result.status is Status.FAIL and "positional='none'" in result.message, result.message


def test_from_scratch_names_a_helper_in_another_file_on_the_same_line_number():
    """The forbidden call is made in a helper module whose line number happens to equal the
    exercise's calling line: still reported as made through the helper."""
    from types import SimpleNamespace

    from quizgrader.checks import forbidden
    from quizgrader.checks.common import from_scratch
    from quizgrader.checks.compare import Mismatch

    ex = load_day("day16").exercise("attention.softmax")
    source = (ROOT / "reference" / "day16" / "attention.py").read_text()
    line = forbidden.line_range(source, ex.name)[0] + 3  # inside softmax
    record = {
        "kind": "forbidden",
        "name": "torch.softmax",
        "message": "forbidden: ...",
        "stack": [["day16/helpers.py", line, "_norm"], [ex.file, line, ex.name]],
    }
    you = SimpleNamespace(records=[record], source=lambda file: source)
    with pytest.raises(Mismatch) as e:
        from_scratch(ex)(None, you, None)
    assert f"torch.softmax through `_norm` in day16/helpers.py (line {line})" in str(e.value)
