"""The recurring checks declared once (quizgrader/checks/recurring.py), run on small workspaces in
this process: each passes on right code and fails, saying why, on code with the mistake it is
there to catch."""

from __future__ import annotations

import itertools
import textwrap

import pytest
import torch
from hypothesis import strategies as st

from quizgrader.checks import recurring
from quizgrader.checks.api import local
from quizgrader.checks.registry import REGISTRY
from quizgrader.checks.runner import run_check
from quizgrader.checks.strategies import Case, dtypes, randn, seeds
from quizgrader.results import Status

RIGHT = """
import torch
from torch import nn


def scale(x, factor=2.0):
    return x * factor


def centre(x):
    return x - x.mean(-1, keepdim=True)


def step(x, state):
    h, c = state
    return x + h * c


class Gain(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * self.gain
"""

_ids = itertools.count()


@pytest.fixture
def api(tmp_path):
    """api(edits): the right workspace with `edits` ((old, new) pairs) applied, in this process."""

    def make(*edits: tuple[str, str]):
        source = textwrap.dedent(RIGHT)
        for old, new in edits:
            assert source.count(old) == 1, old
            source = source.replace(old, new)
        root = tmp_path / f"ws{next(_ids)}"
        (root / "dayr").mkdir(parents=True)
        (root / "dayr" / "ops.py").write_text(source)
        return local(root, "dayr")

    return make


@pytest.fixture
def exercise():
    """A fresh exercise id, its checks taken out of the registry afterwards."""
    made = []

    def make() -> str:
        made.append(f"dayr.ops.e{next(_ids)}")
        return made[-1]

    yield make
    for e in made:
        REGISTRY.pop(e, None)


BATCH, BATCHES = st.integers(1, 3), st.integers(2, 3)


@st.composite
def rows(draw, batch=BATCH) -> Case:
    B, d, seed = draw(batch), draw(st.integers(1, 4)), draw(seeds)
    return Case({"x": randn(seed, B, d) * torch.tensor([1.0, 30.0, 0.1])[:B, None]}, draw(dtypes))


def run(fn: str):
    def call(api, case: Case, f64: bool = False, **probe):
        return api.call(f"ops.{fn}", case.f64("x") if f64 else case.as_dtype("x"), **probe)

    return call


def results(exercise_id: str, you, ref) -> dict[str, tuple[Status, str]]:
    out = {}
    for c in REGISTRY[exercise_id]:
        result, _ = run_check(c, you, ref, "quick")
        out[c.name] = (result.status, result.message)
    return out


def test_a_declaration_registers_its_checks_in_order_with_their_options(exercise):
    e = exercise()
    declared = recurring.declare(e, run("scale"), case=rows(), inputs=["x"], wrt=["x"])
    declared.matches("matches", weight=1.5, rows=(3,))
    declared.inputs_unchanged("unchanged", st.just(Case({"x": torch.ones(2, 2)})), weight=0.5)
    declared.gradients("gradients", shrink=False)
    checks = REGISTRY[e]
    assert [(c.name, c.weight, c.rows, c.shrink) for c in checks] == [
        ("matches", 1.5, (3,), True),
        ("unchanged", 0.5, (), True),
        ("gradients", 1.0, (), False),
    ]
    assert checks[0].strategy is checks[2].strategy is declared.case
    assert checks[1].strategy is not declared.case


def test_right_code_passes_every_declared_check(api, exercise):
    e = exercise()
    declared = recurring.declare(e, run("centre"), case=rows(), inputs=["x"], wrt=["x"])
    declared.matches("matches the reference")
    declared.inputs_unchanged("leaves x unchanged")
    declared.gradients("passes gradients back to x", unchanged=True)
    declared.batch_independent(
        "batch elements are independent", rows(BATCHES), batched=["x"], message="element {b}"
    )
    got = results(e, api(), api())
    assert got == dict.fromkeys(got, (Status.PASS, "")), got


def test_matches_fails_with_the_comparison_named(api, exercise):
    e = exercise()
    recurring.declare(e, run("scale"), case=rows(), compare=recurring.close("scale(x)")).matches("matches")
    status, message = results(e, api(("x * factor", "x * 3.0")), api())["matches"]
    assert status is Status.FAIL
    assert message.startswith("scale(x): values differ from the expected ones"), message


def test_inputs_unchanged_fails_on_a_function_that_modifies_its_input_in_place(api, exercise):
    e = exercise()
    recurring.declare(e, run("scale"), case=rows(), inputs=["x"]).inputs_unchanged("leaves x unchanged")
    you = api(("    return x * factor", "    x.mul_(factor)\n    return x"))
    status, message = results(e, you, api())["leaves x unchanged"]
    assert status is Status.FAIL
    assert message.startswith("your code modified its input `x` in place"), message


def test_inputs_unchanged_looks_inside_a_tuple_argument(api, exercise):
    e = exercise()

    def call(api, case: Case, f64: bool = False, **probe):
        get = case.f64 if f64 else case.as_dtype
        return api.call("ops.step", get("x"), (get("h"), get("c")), **probe)

    cases = rows().map(lambda c: Case({**c.values, "h": c["x"] + 1, "c": c["x"] * 2}, c.dtype))
    declared = recurring.declare(e, call, case=cases, inputs=["x", ["h", "c"]])
    declared.inputs_unchanged("leaves x and the state unchanged")
    assert results(e, api(), api())["leaves x and the state unchanged"] == (Status.PASS, "")
    you = api(("    return x + h * c", "    c.add_(1.0)\n    return x + h * c"))
    status, message = results(e, you, api())["leaves x and the state unchanged"]
    assert status is Status.FAIL
    assert message.startswith("your code modified its input `c` in place"), message


def test_gradients_fail_on_a_function_that_detaches(api, exercise):
    e = exercise()
    recurring.declare(e, run("scale"), case=rows(), wrt=["x"]).gradients("passes gradients back to x")
    you = api(("    return x * factor", "    return (x * factor).detach()"))
    status, message = results(e, you, api())["passes gradients back to x"]
    assert status is Status.FAIL
    assert message.startswith("no gradient flows back from your outputs"), message


def test_gradients_reach_the_parameters_of_a_module_built_for_the_case(api, exercise):
    def build(api, case: Case, f64: bool = False):
        m = api.new("ops.Gain", case["x"].shape[-1])
        m.to(torch.float64 if f64 else case.dtype)
        return m

    def forward(m, case: Case, f64: bool = False, **probe):
        return m.call(case.f64("x") if f64 else case.as_dtype("x"), **probe)

    e = exercise()
    recurring.declare(e, forward, build=build, case=rows(), wrt=["x"], params=True).gradients("gradients")
    assert results(e, api(), api())["gradients"] == (Status.PASS, "")
    you = api(("return x * self.gain", "return x * self.gain.detach()"))
    status, message = results(e, you, api())["gradients"]
    assert status is Status.FAIL
    assert message.startswith("no gradient reached `gain`"), message


def test_a_custom_comparison_of_gradients_replaces_the_default(api, exercise):
    seen = []
    e = exercise()
    declared = recurring.declare(e, run("scale"), case=rows(), grads=lambda yours, want, case: seen.append(1))
    declared.gradients("declared")
    declared.gradients("its own", grads=lambda yours, want, case: seen.append(2))
    got = results(e, api(("x * factor", "x * 3.0")), api())
    assert got == dict.fromkeys(["declared", "its own"], (Status.PASS, ""))
    assert set(seen) == {1, 2}


def test_batch_independence_fails_on_a_function_mixing_the_batch(api, exercise):
    e = exercise()
    recurring.declare(e, run("centre"), case=rows(BATCHES)).batch_independent(
        "batch elements are independent",
        batched=["x"],
        message="batch element {b} differs alone: centre each row on its own",
    )
    you = api(("x.mean(-1, keepdim=True)", "x.mean()"))
    status, message = results(e, you, api())["batch elements are independent"]
    assert status is Status.FAIL
    assert message == "batch element 0 differs alone: centre each row on its own"
