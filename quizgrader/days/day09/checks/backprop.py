"""Checks for day09/backprop.py: the forward and backward pass of a 2-layer ReLU MLP by hand.

The loss and each of the four gradients are judged on their own against the reference (float64),
so a message can say which gradient is wrong and which are right. Central finite differences of
the learner's own loss then tell a backward pass that does not match its forward pass apart from
a consistent pair built on the wrong loss. ReLU's kink gets a case of its own: units whose
pre-activation is exactly 0 must pass no gradient back.
"""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

from quizgrader.checks import recurring
from quizgrader.checks.compare import Mismatch, describe, expect_close, expect_dtype, expect_tensor, tolerance
from quizgrader.checks.registry import check
from quizgrader.checks.strategies import Case, dtypes, randn, seeds

MLP = "day09.backprop.mlp_forward_backward"
ARGS = ("x", "y", "W1", "b1", "W2", "b2")
PARAMS = ("W1", "b1", "W2", "b2")
LAYOUT = {"W1": "(d_hidden, d_in)", "b1": "(d_hidden,)", "W2": "(d_out, d_hidden)", "b2": "(d_out,)"}
SHAPE_ADVICE = {
    "W1": "dL/dW1 = dz^T @ x has W1's layout (d_hidden, d_in); x^T @ dz is its transpose",
    "b1": "b1 is added to every row, so dL/db1 sums dz over the rows (dim 0): one entry per hidden unit",
    "W2": "dL/dW2 = d_y_hat^T @ h has W2's layout (d_out, d_hidden); h^T @ d_y_hat is its transpose",
    "b2": "b2 is added to every row, so dL/db2 sums d_y_hat over the rows (dim 0): one entry per output",
}


# -- inputs -----------------------------------------------------------------------------------
def preactivations(case: Case) -> torch.Tensor:
    return case.f64("x") @ case.f64("W1").T + case.f64("b1")  # (N, d_hidden)


@st.composite
def mlp_case(draw, dtype: st.SearchStrategy = dtypes, kink: bool = False) -> Case:
    """x (N, d_in), y (N, d_out), W1 (d_h, d_in), b1 (d_h,), W2 (d_out, d_h), b2 (d_out,).
    `kink`: some hidden units are dead, their W1 row and b1 entry 0, so that their pre-activation
    is exactly 0 for every row (in float32 too)."""
    N, d_in, d_out = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    d_h = draw(st.integers(2 if kink else 1, 5))
    seed = draw(seeds)
    values = {
        "x": randn(seed, N, d_in),
        "y": randn(seed + 1, N, d_out),
        "W1": randn(seed + 2, d_h, d_in, scale=d_in**-0.5),
        "b1": randn(seed + 3, d_h, scale=0.5),
        "W2": randn(seed + 4, d_out, d_h, scale=d_h**-0.5),
        "b2": randn(seed + 5, d_out, scale=0.5),
    }
    meta: dict[str, Any] = {}
    if kink:
        dead = draw(st.lists(st.integers(0, d_h - 1), min_size=1, max_size=d_h - 1, unique=True))
        values["W1"][dead] = 0.0
        values["b1"][dead] = 0.0
        meta["dead"] = sorted(dead)
    return Case(values, draw(dtype), meta)


# Finite differences need a loss that is smooth near the point: no pre-activation within reach of
# relu's kink (the steps move them by about 1e-6).
smooth_case = mlp_case(dtype=st.just(torch.float64)).filter(
    lambda c: float(preactivations(c).abs().min()) > 1e-3
)


# -- calling ----------------------------------------------------------------------------------
def run(api, case: Case, f64: bool = False, values: dict | None = None, **kw):
    get = case.f64 if f64 else case.as_dtype
    args = [values[n] if values and n in values else get(n) for n in ARGS]
    return api.call("backprop.mlp_forward_backward", *args, **kw)


def unpack(got: Any, case: Case, grads_too: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(loss, grads) with the contract's structure, shapes and dtype; Mismatch otherwise.
    `grads_too=False`: the loss only."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Mismatch(f"expected a tuple (loss, grads), got {describe(got)}", "type")
    loss, grads = got
    loss = expect_tensor(loss, "loss")
    if loss.shape != ():
        raise Mismatch(
            f"loss: shape {tuple(loss.shape)}, expected () (a 0-d tensor): sum the squared errors "
            "over the outputs of each row, then average over the rows",
            "shape",
        )
    expect_dtype(loss, case.dtype, "loss")
    if not grads_too:
        return loss, grads
    if not isinstance(grads, dict):
        raise Mismatch(
            f"grads: expected a dict with keys 'W1', 'b1', 'W2', 'b2', got {describe(grads)}", "type"
        )
    keys = set(grads)
    if keys != set(PARAMS):
        missing, extra = sorted(set(PARAMS) - keys), sorted(map(str, keys - set(PARAMS)))
        raise Mismatch(
            f"grads has keys {sorted(map(str, keys))}: missing {missing or 'none'}, unexpected "
            f"{extra or 'none'}; use exactly 'W1', 'b1', 'W2', 'b2' (the parameters' names)",
            "type",
        )
    for name in PARAMS:
        g = expect_tensor(grads[name], f"grads['{name}']")
        want = case[name].shape
        if g.shape != want:
            raise Mismatch(
                f"grads['{name}']: shape {tuple(g.shape)}, expected {tuple(want)}, the shape of {name} "
                f"{LAYOUT[name]}: {SHAPE_ADVICE[name]}",
                "shape",
            )
        expect_dtype(g, case.dtype, f"grads['{name}']")
    return loss, grads


def factor_note(got: torch.Tensor, want: torch.Tensor, case: Case, of_loss: bool = False) -> str:
    """When `got` is a constant multiple of `want`, say which factor and what usually causes it."""
    g, w = got.to(torch.float64).reshape(-1), want.reshape(-1)
    if float(w.norm()) == 0.0:
        return ""
    r = float(g @ w / (w @ w))
    if float((g - r * w).norm()) > 1e-3 * float(w.norm()) or abs(r - 1.0) < 1e-6:
        return ""
    N, d_out = case["x"].shape[0], case["y"].shape[1]
    causes = [
        (
            float(N),
            f"summed over the N = {N} rows instead of averaged"
            if of_loss
            else f"not divided by N = {N}, the number of rows (the loss is a mean over rows)",
        ),
        (1.0 / d_out, f"also averaged over the d_out = {d_out} outputs, as F.mse_loss does; sum over them"),
        (1.0 / (N * d_out), f"divided by N·d_out = {N * d_out} instead of N = {N}"),
    ]
    if not of_loss:
        causes += [
            (0.5, "the 2 from the derivative of the square is missing"),
            (2.0, "a factor 2 too many"),
            (1.0 / N, f"divided by N = {N} once too often"),
            (-1.0, "the sign is flipped: the error is y_hat - y, not y - y_hat"),
        ]
    known = [why for f, why in causes if abs(r - f) <= 1e-4 * abs(f)]
    return f" (yours is {r:.4g} × the expected{': ' + '; or '.join(known) if known else ''})"


DIFFER = ": values differ from the expected ones"


def with_factor(e: Mismatch, note: str) -> str:
    """expect_close's message with the factor note after its first line's "values differ"."""
    return str(e).replace(DIFFER, DIFFER + note, 1)


def judge_grads(grads: dict, want: dict, case: Case) -> dict[str, str]:
    """The message for each gradient that is not close to the reference's (right ones left out)."""
    wrong = {}
    for name in PARAMS:
        try:
            expect_close(grads[name], want[name], f"dL/d{name}", dtype=case.dtype)
        except Mismatch as e:
            wrong[name] = with_factor(e, factor_note(grads[name], want[name], case))
    return wrong


def verdict(wrong: dict[str, str], what: str = "wrong", right: str = "right") -> str:
    ok = [f"dL/d{n}" for n in PARAMS if n not in wrong]
    head = ", ".join(f"dL/d{n}" for n in wrong) + f" {what}"
    return head + (f"; {', '.join(ok)} {right}" if ok else "")


# -- checks -----------------------------------------------------------------------------------
@check(
    MLP,
    "returns (loss, grads): a 0-d loss and grads with keys W1, b1, W2, b2, each shaped like its "
    "parameter, in the inputs' dtype",
    mlp_case(),
    weight=0.5,
)
def mlp_structure(case, you, ref):
    unpack(run(you, case).value, case)


@check(
    MLP,
    "the loss equals ((y_hat - y)**2).sum(-1).mean(): squared errors summed over the outputs, "
    "averaged over the rows",
    mlp_case(),
    weight=0.7,
)
def mlp_loss(case, you, ref):
    loss, _ = unpack(run(you, case).value, case, grads_too=False)
    want = run(ref, case, f64=True).value[0]
    try:
        expect_close(loss, want, "loss", dtype=case.dtype)
    except Mismatch as e:
        raise Mismatch(with_factor(e, factor_note(loss, want, case, of_loss=True)), e.stage) from None


@check(
    MLP, "each gradient equals the reference's (dL/dW1, dL/db1, dL/dW2, dL/db2 judged one by one)", mlp_case()
)
def mlp_grads(case, you, ref):
    loss, grads = unpack(run(you, case).value, case)
    want_loss, want = run(ref, case, f64=True).value
    wrong = judge_grads(grads, want, case)
    if not wrong:
        return
    first = wrong[next(iter(wrong))]
    rtol, atol = tolerance(case.dtype)
    loss_ok = bool(torch.isclose(loss.to(torch.float64), want_loss, rtol=rtol, atol=atol))
    note = (
        ""
        if loss_ok
        else f"\nYour loss is off too ({float(loss):.6g}, expected {float(want_loss):.6g}): "
        "fix the forward pass "
        "first; gradients that agree with finite differences of your own loss follow from it"
    )
    raise Mismatch(f"{verdict(wrong)}.\n{first}{note}")


@check(
    MLP,
    "the gradients agree with central finite differences of your own loss (float64)",
    smooth_case,
    weight=0.6,
)
def mlp_finite_differences(case, you, ref):
    _, grads = unpack(run(you, case).value, case)
    eps, disagree = 1e-6, {}
    for i, name in enumerate(PARAMS):
        P = case.f64(name)
        V = randn(7 * i + 1, *P.shape)  # a random direction in the parameter's space
        plus = unpack(run(you, case, values={name: P + eps * V}).value, case, grads_too=False)[0]
        minus = unpack(run(you, case, values={name: P - eps * V}).value, case, grads_too=False)[0]
        fd = float(plus - minus) / (2 * eps)
        yours = float((grads[name].to(torch.float64) * V).sum())
        if abs(yours - fd) > 1e-6 * max(1.0, abs(yours), abs(fd)):
            disagree[name] = (yours, fd)
    if not disagree:
        return
    name, (yours, fd) = next(iter(disagree.items()))
    ratio = f" (ratio {yours / fd:.4g})" if fd != 0.0 else ""
    raise Mismatch(
        f"{verdict(disagree, 'disagree with', 'agree with')} finite differences of your own loss: "
        "your backward "
        f"pass does not differentiate your forward pass.\n"
        f"  along a random direction V: sum(grads['{name}'] * V) = {yours:.6g}, but "
        f"(loss({name} + eps·V) - loss({name} - eps·V)) / (2·eps) = {fd:.6g}{ratio}, eps = {eps:g}.\n"
        "  Walk the chain rule back from d loss / d y_hat = 2 (y_hat - y) / N, one factor per step"
    )


@check(
    MLP,
    "at relu's kink (pre-activation exactly 0) the gradient is 0, as torch's relu' is: dead units pass "
    "nothing back",
    mlp_case(kink=True),
    weight=0.7,
)
def mlp_kink(case, you, ref):
    _, grads = unpack(run(you, case).value, case)
    want = run(ref, case, f64=True).value[1]
    dead = case.meta["dead"]
    leaks = [n for n in ("W1", "b1") if float(grads[n][dead].abs().max()) > 0.0]
    if leaks:
        raise Mismatch(
            f"hidden units {dead} have W1 rows and b1 entries of 0, so their "
            "pre-activation z is exactly 0 for every "
            f"row; yet your {', '.join(f'dL/d{n}' for n in leaks)} is nonzero there (largest "
            f"{max(float(grads[n][dead].abs().max()) for n in leaks):.3g}). "
            "The derivative of relu at 0 is taken "
            "as 0 (torch does the same): mask the gradient with z > 0, strictly, "
            "so a unit at the kink passes no "
            "gradient back"
        )
    wrong = judge_grads(grads, want, case)
    if wrong:
        raise Mismatch(
            f"with hidden units {dead} at the kink (z = 0 for every row): {verdict(wrong)}.\n"
            f"{wrong[next(iter(wrong))]}"
        )


recurring.declare(MLP, run, inputs=ARGS).inputs_unchanged(
    "leaves every input unchanged", mlp_case(), weight=0.5
)


__all__ = ["MLP"]
