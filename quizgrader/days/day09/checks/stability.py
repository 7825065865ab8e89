"""Checks for day09/stability.py: gradient clipping by global norm, layer normalisation and the
warmup-cosine learning-rate schedule.

Gradient clipping works on `.grad`, which does not cross the wire: its calls go through the
grader's routine `call_on_parameters` (sandbox/tools.py), which builds the parameters with their
grads in the learner's process, calls the function, and sends back the grads after the call.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from hypothesis import strategies as st

from quizgrader.checks import recurring
from quizgrader.checks.api import LearnerError
from quizgrader.checks.compare import Mismatch, describe, expect_close, expect_shape, expect_tensor, tolerance
from quizgrader.checks.registry import check
from quizgrader.checks.strategies import Case, dtypes, randn, seeds

CLIP = "day09.stability.clip_grad_norm_"
LN = "day09.stability.layer_norm"
LR = "day09.stability.warmup_cosine_lr"


# -- clip_grad_norm_ --------------------------------------------------------------------------------
# A case holds the parameters as {"data", "grad" (None: no grad), "requires_grad"} in float64, and
# max_norm; the learner gets them in case.dtype, the reference float64 copies of the same numbers.
CLIPPING = ("above", "below", "fixed")  # max_norm below the global norm, above it, or a usual value
CLIPPINGS = st.sampled_from(CLIPPING)
PARAM_COUNTS = st.integers(1, 4)
PARAM_SHAPES = st.lists(st.integers(1, 4), max_size=2)  # (), (n,) or (n, m)
NONEMPTY_SHAPES = st.lists(st.integers(1, 4), min_size=1, max_size=2)


def _nice(x: float) -> float:
    return float(f"{x:.4g}")


@st.composite
def grad_sets(
    draw, n=PARAM_COUNTS, clipping=CLIPPINGS, without_grad: bool = False, shapes=PARAM_SHAPES
) -> Case:
    """1 to 4 parameters of small shapes whose grads differ in size (so that clipping each one on
    its own is not the same as clipping them together), some as small as 1e-3 (where the 1e-6 of
    the factor shows). `without_grad`: some parameters have no grad (frozen or unused)."""
    k, seed, dtype = draw(n), draw(seeds), draw(dtypes)
    scale = draw(st.sampled_from([1.0, 0.1, 10.0, 1e-3]))  # shrinks towards 1
    params = []
    for i in range(k):
        shape = tuple(draw(shapes))
        size = scale * draw(st.sampled_from([1.0, 0.3, 3.0]))
        params.append(
            {
                "data": _randn(seed + 2 * i, shape),
                "grad": _randn(seed + 2 * i + 1, shape, size),
                "requires_grad": True,
            }
        )
    if without_grad:
        kinds = [draw(st.sampled_from(["grad", "frozen", "unused"])) for _ in params]
        if all(kind != "grad" for kind in kinds):
            kinds[draw(st.integers(0, k - 1))] = "grad"
        if all(kind == "grad" for kind in kinds):
            params.append({"data": randn(seed + 99, 3), "grad": None, "requires_grad": False})
            kinds.append("frozen")
        for p, kind in zip(params, kinds):
            if kind != "grad":
                p["grad"], p["requires_grad"] = None, kind == "unused"
    total = global_norm([p["grad"] for p in params], dtype)
    kind = draw(clipping)
    if kind == "above":  # the norm is above max_norm: clipping happens
        max_norm = _nice(total * draw(st.sampled_from([0.1, 0.35, 0.8])))
    elif kind == "below":  # the norm is below max_norm: nothing changes
        max_norm = _nice(total * draw(st.sampled_from([1.25, 2.0, 4.0])))
    else:
        max_norm = draw(st.sampled_from([0.5, 1.0, 5.0]))
    return Case({"params": params, "max_norm": max_norm}, dtype, {"clipping": kind})


def _randn(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> torch.Tensor:
    """randn of any shape, a 0-d one (a scalar parameter) included."""
    return randn(seed, max(1, math.prod(shape)), scale=scale).reshape(shape)


def global_norm(grads: list, dtype: torch.dtype = torch.float64) -> float:
    """The global L2 norm (float64) of the grads as the learner gets them (rounded to dtype)."""
    live = [g.to(dtype).to(torch.float64) for g in grads if g is not None]
    return math.sqrt(sum(float((g**2).sum()) for g in live))


def specs(case: Case, f64: bool = False) -> list[dict]:
    def conv(t):
        if t is None:
            return None
        t = t.to(case.dtype)
        return t.to(torch.float64) if f64 else t

    return [
        {"data": conv(p["data"]), "grad": conv(p["grad"]), "requires_grad": p["requires_grad"]}
        for p in case["params"]
    ]


def clip(api, params: list[dict], max_norm: float, container: str = "list") -> dict:
    """clip_grad_norm_ called on these parameters: {"value", "grads", "weights"} after the call."""
    return api.tool(
        "call_on_parameters", "stability.clip_grad_norm_", params=params, args=[max_norm], container=container
    )


def returned_norm(value, dtype: torch.dtype) -> torch.Tensor:
    """The returned norm as a 0-d tensor (a Python number is taken as one of the grads' dtype)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=dtype)
    if not isinstance(value, torch.Tensor):
        raise Mismatch(
            f"clip_grad_norm_ returned {describe(value)}; return total_norm, the global norm of the "
            "grads before clipping, as a 0-d tensor",
            "type",
        )
    expect_shape(value, (), "total_norm")
    return value


def scaled(dtype: torch.dtype, magnitude: float) -> tuple[float, float]:
    """The dtype's tolerances with atol shrunk for small values: grads and norms may be as small as
    1e-5 here, where the usual atol alone would let a wrong answer through."""
    rtol, atol = tolerance(dtype)
    return rtol, atol * min(1.0, magnitude)


def expect_norm(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype) -> None:
    rtol, atol = scaled(dtype, float(want.abs()))
    expect_close(got, want, "total_norm", dtype=dtype, rtol=rtol, atol=atol)


def _param(i: int, p: dict) -> str:
    return f"parameters[{i}] (shape {tuple(p['data'].shape)})"


def expect_weights_untouched(got: dict, sent: list[dict]) -> None:
    for i, (after, p) in enumerate(zip(got["weights"], sent)):
        if not torch.equal(after, p["data"]):
            raise Mismatch(
                f"the values of {_param(i, p)} changed: clipping scales the grads (p.grad), never "
                "the parameters themselves",
                "inputs",
            )


def expect_grads_like(got: dict, want: dict, sent: list[dict], dtype: torch.dtype, what: str) -> None:
    """Every grad after the call against the reference's, naming the wrong parameters and the right ones."""
    wrong, right = [], []
    for i, (g, w, p) in enumerate(zip(got["grads"], want["grads"], sent)):
        if w is None:
            if g is not None:
                raise Mismatch(
                    f"{_param(i, p)} had no grad and has one after your call: skip parameters whose "
                    ".grad is None and leave it None"
                )
            continue
        if g is None:
            raise Mismatch(f"the grad of {_param(i, p)} is None after your call: scale it, do not remove it")
        rtol, atol = scaled(dtype, float(w.abs().max()) if w.numel() else 1.0)
        ok = (
            g.shape == w.shape
            and g.dtype == dtype
            and bool(torch.allclose(g.to(torch.float64), w, rtol=rtol, atol=atol))
        )
        (right if ok else wrong).append(i)
    if not wrong:
        return
    i = wrong[0]
    status = (
        f"grads of parameters {wrong} wrong" + (f"; parameters {right} right" if right else "")
        if len(got["grads"]) > 1
        else "the grad is wrong"
    )
    try:
        w = want["grads"][i]
        rtol, atol = scaled(dtype, float(w.abs().max()) if w.numel() else 1.0)
        expect_close(got["grads"][i], w, f"parameters[{i}].grad", dtype=dtype, rtol=rtol, atol=atol)
    except Mismatch as e:
        raise Mismatch(f"{what}: {status}\n{e}", e.stage) from None


@check(CLIP, "returns the global L2 norm of all the grads, measured before clipping", grad_sets())
def clip_returns_norm(case, you, ref):
    sent = specs(case)
    got = returned_norm(clip(you, sent, case["max_norm"])["value"], case.dtype)
    want = clip(ref, specs(case, f64=True), case["max_norm"])["value"]
    total, max_norm = float(want), case["max_norm"]
    norms = [float(p["grad"].to(torch.float64).norm()) for p in sent if p["grad"] is not None]
    value = float(got)
    candidates = [
        (
            min(total, max_norm * total / (total + 1e-6)),
            "the norm AFTER clipping; return the one measured before (that is the figure worth logging)",
        ),
        (
            sum(norms),
            (
                "the sum of the per-parameter norms; the global norm is sqrt(sum of the squared norms): "
                "all grads taken as one long vector"
            ),
        ),
        (total**2, "the squared norm; take the square root"),
        (max(norms), "the largest per-parameter norm; the global norm covers all the grads together"),
    ]
    rtol, atol = scaled(case.dtype, total)
    if not math.isclose(value, total, rel_tol=rtol, abs_tol=atol):
        for candidate, meaning in candidates:
            if math.isclose(value, candidate, rel_tol=rtol, abs_tol=atol):
                raise Mismatch(
                    f"clip_grad_norm_(parameters, max_norm={max_norm}) returned {value:.6g}, expected "
                    f"{total:.6g}: yours is {meaning}"
                )
    expect_norm(got, want, case.dtype)


@check(
    CLIP,
    "above max_norm, scales every grad in place by max_norm / (total_norm + 1e-6)",
    grad_sets(clipping=st.just("above")),
)
def clip_scales(case, you, ref):
    sent = specs(case)
    got = clip(you, sent, case["max_norm"])
    want = clip(ref, specs(case, f64=True), case["max_norm"])
    expect_weights_untouched(got, sent)
    max_norm, total = case["max_norm"], global_norm([p["grad"] for p in sent])
    before = [p["grad"] for p in sent]
    head = f"the global norm is {total:.4g} > max_norm = {max_norm}"
    rtol, _ = tolerance(case.dtype)

    def all_equal(expected: list) -> bool:
        """Each grad equals its expected one, relative to its size (grads here may be tiny)."""
        return all(
            g is not None
            and g.shape == e.shape
            and float((g.to(torch.float64) - e.to(torch.float64)).norm())
            <= 10 * rtol * float(e.to(torch.float64).norm())
            for g, e in zip(got["grads"], expected)
        )

    if all_equal(before):
        raise Mismatch(
            f"{head}, but your grads are unchanged after the call: multiply each p.grad in place "
            "(p.grad.mul_(coef)); rebinding a local name (g = g * coef) changes nothing"
        )
    each = [g * min(1.0, max_norm / (float(g.to(torch.float64).norm()) + 1e-6)) for g in before]
    if len(before) > 1 and all_equal(each) and not all_equal(want["grads"]):
        raise Mismatch(
            f"{head}, and you clipped each parameter's grad to max_norm on its own: use one factor, "
            "max_norm / (total_norm + 1e-6), computed from the norm of ALL the grads together, "
            "for every grad"
        )
    try:
        expect_grads_like(got, want, sent, case.dtype, head)
    except Mismatch as e:

        def distance(expected: list) -> float:
            return sum(
                float((g.to(torch.float64) - x.to(torch.float64)).norm())
                for g, x in zip(got["grads"], expected)
            )

        if distance([g.to(torch.float64) * (max_norm / total) for g in before]) < 0.1 * distance(
            want["grads"]
        ):
            raise Mismatch(
                f"{e}\nYour grads were scaled by max_norm / total_norm: the factor is max_norm / "
                "(total_norm + 1e-6), as in torch.nn.utils.clip_grad_norm_",
                e.stage,
            ) from None
        raise


@check(
    CLIP, "at or below max_norm, leaves every grad exactly as it was", grad_sets(clipping=st.just("below"))
)
def clip_leaves_small(case, you, ref):
    sent = specs(case)
    got = clip(you, sent, case["max_norm"])
    expect_weights_untouched(got, sent)
    total = global_norm([p["grad"] for p in sent])
    for i, (g, p) in enumerate(zip(got["grads"], sent)):
        if g is None or g.shape != p["grad"].shape:
            raise Mismatch(
                f"the grad of {_param(i, p)} is {describe(g)} after your call, expected it unchanged"
            )
        if not torch.allclose(g.to(torch.float64), p["grad"].to(torch.float64), rtol=1e-6, atol=0.0):
            factor = float(
                (g.to(torch.float64) * p["grad"].to(torch.float64)).sum()
                / p["grad"].to(torch.float64).pow(2).sum()
            )
            raise Mismatch(
                f"the global norm is {total:.4g} <= max_norm = {case['max_norm']}, so nothing should be "
                f"clipped, but the grad of {_param(i, p)} was multiplied by about {factor:.4g}: apply "
                "max_norm / (total_norm + 1e-6) only when it is below 1 (clipping never makes a "
                "gradient longer)"
            )


@check(
    CLIP,
    "after clipping, the global norm is max_norm and all grads are scaled by one factor (directions kept)",
    grad_sets(n=st.integers(2, 4), clipping=st.just("above"), shapes=NONEMPTY_SHAPES),
)
def clip_direction(case, you, ref):
    sent = specs(case)
    got = clip(you, sent, case["max_norm"])
    rtol, _ = tolerance(case.dtype)
    factors = []
    for i, (g, p) in enumerate(zip(got["grads"], sent)):
        if g is None or g.shape != p["grad"].shape:
            raise Mismatch(
                f"the grad of {_param(i, p)} is {describe(g)} after your call, expected a scaled copy of "
                "the grad it had"
            )
        g, b = g.to(torch.float64), p["grad"].to(torch.float64)
        f = float((g * b).sum() / (b * b).sum())  # g ≈ f · b: the best factor
        if float((g - f * b).norm()) > 1e-3 * float(g.norm()) + 1e-12 or f < 0:
            raise Mismatch(
                f"the grad of {_param(i, p)} changed direction: clipping only multiplies each grad "
                "by a positive number"
            )
        factors.append(f)
    if max(factors) - min(factors) > 10 * rtol * max(factors):
        shown = ", ".join(f"{f:.4g}" for f in factors)
        raise Mismatch(
            f"the grads were multiplied by different factors ({shown}): one factor for all of them, "
            "max_norm / (total_norm + 1e-6) from the global norm, keeps the direction of the whole "
            "update; clipping each parameter on its own bends it"
        )
    total = global_norm([p["grad"] for p in sent])
    after, expected = global_norm(got["grads"]), case["max_norm"] * total / (total + 1e-6)
    if not math.isclose(after, expected, rel_tol=10 * rtol):
        raise Mismatch(
            f"the global norm was {total:.4g} and is {after:.6g} after clipping to max_norm = "
            f"{case['max_norm']}; expected max_norm · total_norm / (total_norm + 1e-6) = {expected:.6g}"
        )


@check(
    CLIP,
    "skips parameters without a grad (frozen or unused) and leaves their grad None",
    grad_sets(without_grad=True),
)
def clip_skips_none(case, you, ref):
    sent = specs(case)
    got = clip(you, sent, case["max_norm"])
    want = clip(ref, specs(case, f64=True), case["max_norm"])
    norm = returned_norm(got["value"], case.dtype)
    try:
        expect_norm(norm, want["value"], case.dtype)
    except Mismatch as e:
        raise Mismatch(
            "with some parameters that have no grad, the returned norm is wrong: only the grads "
            f"that exist count\n{e}",
            e.stage,
        ) from None
    expect_weights_untouched(got, sent)
    expect_grads_like(got, want, sent, case.dtype, "with some parameters that have no grad")


@check(
    CLIP,
    "accepts a single tensor, and a generator such as model.parameters()",
    st.tuples(grad_sets(n=st.just(1), shapes=NONEMPTY_SHAPES), grad_sets(n=st.integers(2, 3))),
    weight=0.6,
)
def clip_containers(cases, you, ref):
    for case, container, how in (
        (cases[0], "single", "a single tensor p (clip_grad_norm_(p, max_norm))"),
        (cases[1], "generator", "a generator, as model.parameters() gives them"),
    ):
        sent = specs(case)
        got = clip(you, sent, case["max_norm"], container)
        want = clip(ref, specs(case, f64=True), case["max_norm"], container)
        total = float(want["value"])
        value = float(returned_norm(got["value"], case.dtype))
        if container == "single" and value == 0.0 and total > 0.0:
            raise Mismatch(
                "given a single tensor, your clip_grad_norm_ returned 0: iterating over a tensor gives "
                "its rows, which have no grad. Wrap a lone tensor in a list first "
                "(if isinstance(parameters, torch.Tensor): parameters = [parameters])"
            )
        try:
            try:
                expect_norm(returned_norm(got["value"], case.dtype), want["value"], case.dtype)
            except Mismatch as e:
                raise Mismatch(f"with the parameters given as {how}: {e}", e.stage) from None
            expect_grads_like(got, want, sent, case.dtype, f"with the parameters given as {how}")
        except Mismatch as e:
            if container == "generator" and _passes(you, ref, case, "list"):
                raise Mismatch(
                    f"{e}\nThe same parameters in a list give the right answer: a generator can be read "
                    "only once, so make a list of it before looping over it twice",
                    e.stage,
                ) from None
            raise


def _passes(you, ref, case: Case, container: str) -> bool:
    """Whether the learner's answer equals the reference's for this case, passed this way."""
    got = clip(you, specs(case), case["max_norm"], container)
    want = clip(ref, specs(case, f64=True), case["max_norm"], container)
    try:
        expect_norm(returned_norm(got["value"], case.dtype), want["value"], case.dtype)
        expect_grads_like(got, want, specs(case), case.dtype, "")
    except Mismatch:
        return False
    return True


@check(
    CLIP,
    "with no grads at all, returns 0 and changes nothing",
    st.tuples(st.integers(0, 3), dtypes, seeds),
    weight=0.3,
)
def clip_no_grads(case, you, ref):
    n, dtype, seed = case
    sent = [
        {"data": randn(seed + i, 2, 3).to(dtype), "grad": None, "requires_grad": i % 2 == 0} for i in range(n)
    ]
    got = clip(you, sent, 1.0)
    value = got["value"]
    number = (
        float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else (float(value) if isinstance(value, torch.Tensor) and value.numel() == 1 else None)
    )
    if number != 0.0:
        raise Mismatch(
            f"with {'no parameters' if n == 0 else 'no parameter holding a grad'}, clip_grad_norm_ "
            f"returned {describe(value)}; there is nothing to measure: return torch.tensor(0.0), "
            "as torch does"
        )
    expect_weights_untouched(got, sent)
    if any(g is not None for g in got["grads"]):
        raise Mismatch("parameters without a grad have one after your call: leave .grad None")


# -- layer_norm ------------------------------------------------------------------------------------
AFFINE = ("both", "none", "weight", "bias")
AFFINES = st.sampled_from(AFFINE)
LEAD_DIMS = st.lists(st.integers(1, 3), max_size=3)  # none up to (B, h, T)
FEATURES = st.integers(1, 12)
X_SCALES = st.sampled_from([0.5, 1.0, 3.0, 10.0])
EPSILONS = st.sampled_from([None, None, 1e-3, 0.1])  # None: the default 1e-5


@st.composite
def ln_case(draw, lead=LEAD_DIMS, d=FEATURES, affine=AFFINES, scale=X_SCALES, eps=EPSILONS) -> Case:
    """x (..., D) whose rows have their own means, and per-feature weight and bias (or None)."""
    shape, D, seed = tuple(draw(lead)), draw(d), draw(seeds)
    x = randn(seed, *shape, D, scale=draw(scale)) + 2.0 * randn(seed + 1, *shape, 1)
    kind = draw(affine)
    weight = 1.0 + 0.5 * randn(seed + 2, D) if kind in ("both", "weight") else None
    bias = 0.3 * randn(seed + 3, D) if kind in ("both", "bias") else None
    return Case({"x": x, "weight": weight, "bias": bias, "eps": draw(eps)}, draw(dtypes), {"affine": kind})


def ln(api, case: Case, f64: bool = False, **kw):
    get = case.f64 if f64 else case.as_dtype
    extra = {} if case["eps"] is None else {"eps": case["eps"]}
    return api.call("stability.layer_norm", get("x"), get("weight"), get("bias"), **extra, **kw)


def ln_close(got, want: torch.Tensor, case: Case) -> None:
    try:
        expect_close(got, want, "layer_norm(x, weight, bias)", dtype=case.dtype)
    except Mismatch as e:
        if e.stage == "nan" and case["x"].shape[-1] == 1:
            raise Mismatch(
                f"{e}\nWith D = 1 every row is constant: its population variance is 0 and the "
                "normalised value 0 (then the bias). NaN comes from dividing by D - 1 = 0 (the unbiased "
                "variance) or by sqrt(0) without eps",
                e.stage,
            ) from None
        raise


layer_norm = recurring.declare(LN, ln, inputs=["x", "weight", "bias"], compare=ln_close)
layer_norm.matches("equals F.layer_norm over the last dim (float32 and float64, any leading dims)", ln_case())


@check(
    LN,
    "without weight and bias, every row has mean 0 and population variance 1",
    ln_case(
        lead=st.lists(st.integers(2, 3), min_size=1, max_size=2),
        d=st.integers(2, 12),
        affine=st.just("none"),
        scale=st.sampled_from([1.0, 3.0, 10.0]),
    ),
)
def ln_normalises(case, you, ref):
    x = case.as_dtype("x")
    got = expect_tensor(ln(you, case).value, "layer_norm(x)")
    expect_shape(got, x.shape, "layer_norm(x)")
    y, xd = got.to(torch.float64), x.to(torch.float64)
    D = x.shape[-1]
    eps = case["eps"] if case["eps"] is not None else 1e-5
    tol = 1e-4 if case.dtype == torch.float32 else 1e-8
    means = y.mean(-1)
    if float(means.abs().max()) > tol * 10:
        where = [int(i) for i in torch.unravel_index(means.abs().argmax(), means.shape)]
        overall = float(y.mean())
        tip = (
            " (the mean over the whole tensor is 0: you took the statistics over every entry; take them over "
            "the last dim of each row, dim=-1, keepdim=True)"
            if abs(overall) < tol * 10
            else " (subtract each row's mean over the last dim)"
        )
        raise Mismatch(
            f"the output row at {where} has mean {float(means[tuple(where)]):.4g}, expected 0{tip}"
        )
    var_x = ((xd - xd.mean(-1, keepdim=True)) ** 2).mean(-1)
    expected = var_x / (var_x + eps)  # the population variance of each output row
    var_y = (y**2).mean(-1)
    off = (var_y - expected).abs() / expected
    if float(off.max()) > 100 * tol:
        i = tuple(int(j) for j in torch.unravel_index(off.argmax(), off.shape))
        ratio = float(var_y[i] / expected[i])
        tip = (
            f": that is (D - 1) / D = {(D - 1) / D:.4g} of 1, "
            "so you divided by D - 1 (the unbiased variance, "
            "torch.var's default); layer norm uses the population variance, dividing by D "
            "(unbiased=False or correction=0)"
            if math.isclose(ratio, (D - 1) / D, rel_tol=1e-3)
            else ""
        )
        raise Mismatch(
            f"the output row at {list(i)} has population variance {float(var_y[i]):.6g}, expected "
            f"{float(expected[i]):.6g} (var / (var + eps) for that row, about 1){tip}"
        )


@st.composite
def quiet_rows(draw) -> Case:
    """Rows with a variance near eps (1e-6 to 1e-5) and one constant row, where eps inside and
    outside the square root differ clearly, and where a missing eps divides 0 by 0."""
    rows, D, seed = draw(st.integers(1, 4)), draw(st.integers(2, 10)), draw(seeds)
    x = randn(seed, rows, D, scale=draw(st.sampled_from([1e-3, 3e-3])))
    constant = draw(st.sampled_from([0.0, 1.0, -2.5, 3.0]))  # exact in float32: its mean is exact
    x = torch.cat([x, torch.full((1, D), constant, dtype=torch.float64)])
    return Case({"x": x, "weight": None, "bias": None, "eps": None}, draw(dtypes))


@check(
    LN,
    "adds eps inside the square root: rows of tiny variance match, a constant row gives 0 (not NaN)",
    quiet_rows(),
)
def ln_eps_inside(case, you, ref):
    x = case.as_dtype("x")
    got = expect_tensor(ln(you, case).value, "layer_norm(x)")
    expect_shape(got, x.shape, "layer_norm(x)")
    if torch.isnan(got[-1]).any() or torch.isinf(got[-1]).any():
        raise Mismatch(
            f"the constant row x = {float(x[-1, 0]):g} (variance 0) gives {got[-1].tolist()}: divide by "
            "sqrt(var + eps), so that a zero variance gives 0 / sqrt(eps) = 0, not 0 / 0"
        )
    want = ln(ref, case, f64=True).value
    xd = x.to(torch.float64)
    centred = xd - xd.mean(-1, keepdim=True)
    outside = centred / (centred.pow(2).mean(-1, keepdim=True).sqrt() + 1e-5)
    rtol, atol = tolerance(case.dtype)
    if not torch.allclose(got.to(torch.float64), want, rtol=rtol, atol=atol) and torch.allclose(
        got.to(torch.float64), outside, rtol=10 * rtol, atol=10 * atol
    ):
        raise Mismatch(
            "for rows whose variance is close to eps your output equals (x - mean) / (sqrt(var) + eps): "
            "eps belongs inside the square root, (x - mean) / sqrt(var + eps)\n"
            + _window_error(got, want, case.dtype)
        )
    expect_close(got, want, "layer_norm(x) on rows of tiny variance", dtype=case.dtype)


def _window_error(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype) -> str:
    try:
        expect_close(got, want, "layer_norm(x)", dtype=dtype)
    except Mismatch as e:
        return str(e)
    return ""


@check(
    LN,
    "weight and bias scale and shift each feature of the last dim (either may be None)",
    ln_case(affine=st.just("both")),
)
def ln_affine(case, you, ref):
    plain = Case({**case.values, "weight": None, "bias": None}, case.dtype)
    base = expect_tensor(ln(you, plain).value, "layer_norm(x, None, None)")
    expect_shape(base, case["x"].shape, "layer_norm(x, None, None)")
    w, b = case.as_dtype("weight"), case.as_dtype("bias")
    rtol, atol = tolerance(case.dtype)
    for kind, expected, how in (
        ("weight", base * w, "layer_norm(x, None, None) * weight"),
        ("bias", base + b, "layer_norm(x, None, None) + bias"),
        ("both", base * w + b, "layer_norm(x, None, None) * weight + bias"),
    ):
        values = {
            **case.values,
            "weight": case["weight"] if kind != "bias" else None,
            "bias": case["bias"] if kind != "weight" else None,
        }
        got = expect_tensor(ln(you, Case(values, case.dtype)).value, f"layer_norm with {kind}")
        try:
            expect_close(
                got,
                expected.to(torch.float64),
                f"layer_norm(x, {'weight' if kind != 'bias' else 'None'}, "
                f"{'bias' if kind != 'weight' else 'None'})",
                dtype=case.dtype,
                rtol=10 * rtol,
                atol=10 * atol,
            )
        except Mismatch as e:
            tip = (
                " (your output equals (normalised + bias) * weight: scale first, then shift)"
                if kind == "both"
                and torch.allclose(
                    got.to(torch.float64), ((base + b) * w).to(torch.float64), rtol=10 * rtol, atol=10 * atol
                )
                else ""
            )
            raise Mismatch(
                f"with {'weight and bias' if kind == 'both' else 'only ' + kind} given, the output should "
                f"be {how}, each feature of the last dim scaled/shifted by its own entry{tip}\n{e}",
                e.stage,
            ) from None


@check(
    LN,
    "works on x of shape (D,), (N, D), (B, T, D) and (B, h, T, D)",
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 8), seeds, dtypes),
    weight=0.5,
)
def ln_any_rank(case, you, ref):
    a, b, D, seed, dtype = case
    x = randn(seed, a * b * 2, D, scale=2.0) + randn(seed + 1, a * b * 2, 1)
    weight, bias = 1.0 + 0.5 * randn(seed + 2, D), 0.3 * randn(seed + 3, D)
    right, wrong = [], []  # shapes, and (shape, Mismatch) pairs
    for shape in ((2, a, b, D), (2, a * b, D), (a * b * 2, D), (D,)):
        xs = x[0] if shape == (D,) else x.reshape(shape)
        one = Case({"x": xs, "weight": weight, "bias": bias, "eps": None}, dtype)
        try:
            got = ln(you, one).value
            expect_close(
                got, ln(ref, one, f64=True).value, f"layer_norm(x) for x of shape {shape}", dtype=dtype
            )
            right.append(shape)
        except LearnerError as e:
            if e.not_implemented:
                raise
            wrong.append(
                (
                    shape,
                    Mismatch(
                        f"layer_norm on x of shape {shape} raised {e.info['type']}: {e.info['message']}",
                        "raises",
                    ),
                )
            )
        except Mismatch as e:
            wrong.append((shape, e))
    if not wrong:
        return
    shape, e = wrong[0]
    if right:
        raise Mismatch(
            f"your layer_norm is right for x of shape {', '.join(map(str, right))} but not for "
            f"{', '.join(str(s) for s, _ in wrong)}: take the statistics over dim=-1 (keepdim=True), the "
            f"feature dim whatever the number of leading dims\n{e}",
            e.stage,
        )
    raise Mismatch(str(e), e.stage)


def ln_grads_close(yours, want, case: Case) -> None:
    """Every gradient judged, the message saying which are wrong and which right."""
    g, r = yours.grads or {}, want.grads or {}
    if not g.get("graph"):
        raise Mismatch(
            "no gradient flows back from your output: it is detached from the graph (.detach(), .data, "
            "torch.no_grad(), or a round trip through numpy)",
            "grad",
        )
    names = ["x", "weight", "bias"]
    rtol, atol = tolerance(case.dtype)
    wrong, right = [], []
    for name, got_g, want_g in zip(names, g["args"], r["args"]):
        if got_g is None:
            raise Mismatch(
                f"no gradient reached `{name}`: it does not take part in the output, or the path from "
                "it is cut",
                "grad",
            )
        ok = (
            got_g.shape == want_g.shape
            and got_g.dtype == case.dtype
            and bool(torch.allclose(got_g.to(torch.float64), want_g, rtol=rtol, atol=atol))
        )
        (right if ok else wrong).append(name)
    if not wrong:
        return
    status = (
        ", ".join(f"dL/d{n}" for n in wrong)
        + " wrong; "
        + (", ".join(f"dL/d{n}" for n in right) or "none")
        + " right"
    )
    tip = (
        ". The gradient with respect to x also flows through the mean and the variance: compute them from x "
        "inside the graph (not detached, not under torch.no_grad())"
        if wrong == ["x"]
        else ""
    )
    first = names.index(wrong[0])
    try:
        expect_close(g["args"][first], r["args"][first], f"dL/d{wrong[0]}", dtype=case.dtype)
    except Mismatch as e:
        raise Mismatch(f"{status}{tip}\n{e}", "grad") from None


layer_norm.gradients(
    "leaves x unchanged; gradients reach x, weight and bias as through F.layer_norm",
    ln_case(affine=st.just("both"), d=st.integers(3, 8)),
    weight=0.7,
    unchanged=True,
    grads=ln_grads_close,
)


# -- warmup_cosine_lr ------------------------------------------------------------------------------
def lr(api, step: int, s: dict) -> float:
    """The schedule `s` ({"max_lr", "warmup", "total", "min_lr"}) at `step`, as a float."""
    kw = {} if s["min_lr"] is None else {"min_lr": s["min_lr"]}
    got = api("stability.warmup_cosine_lr", step, s["max_lr"], s["warmup"], s["total"], **kw)
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise Mismatch(f"warmup_cosine_lr({step}, ...) returned {describe(got)}; return a float", "type")
    return float(got)


def shown(s: dict) -> str:
    tail = "" if s["min_lr"] is None else f", min_lr={s['min_lr']:g}"
    return f"max_lr={s['max_lr']:g}, warmup_steps={s['warmup']}, total_steps={s['total']}{tail}"


def floor(s: dict) -> float:
    return s["min_lr"] or 0.0


WARMUPS = st.integers(0, 40)
DECAYS = st.integers(0, 150)
FLOORS = st.sampled_from([None, 0.0, 0.1, 0.01])  # min_lr / max_lr; None: the default


@st.composite
def schedules(draw, warmup=WARMUPS, decay=DECAYS, min_lr=FLOORS, even: bool = False) -> dict:
    """A schedule; min_lr as a fraction of max_lr (None: left at its default, 0)."""
    w, n = draw(warmup), draw(decay)
    if even:
        n += n % 2  # an even decay length has an exact midpoint
    max_lr = draw(st.sampled_from([1.0, 0.1, 1e-3, 3e-4]))
    fraction = draw(min_lr)
    return {
        "max_lr": max_lr,
        "warmup": w,
        "total": w + n,
        "min_lr": None if fraction is None else max_lr * fraction,
    }


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def phase(step: int, s: dict) -> str:
    if step < s["warmup"]:
        return "during the warmup (step < warmup_steps): max_lr * step / warmup_steps"
    if step >= s["total"]:
        return "from total_steps on: min_lr"
    return (
        "during the decay: "
        "min_lr + 0.5 * (1 + cos(pi * (step - warmup_steps) / (total_steps - warmup_steps)))"
        " * (max_lr - min_lr)"
    )


@check(
    LR,
    "equals the closed form at drawn steps (warmup, cosine decay, min_lr after total_steps)",
    st.tuples(schedules(), st.integers(0, 10**6)),
)
def lr_closed_form(case, you, ref):
    s, pick = case
    step = pick % (s["total"] + 20)
    got, want = lr(you, step, s), lr(ref, step, s)
    if not _close(got, want):
        raise Mismatch(
            f"warmup_cosine_lr(step={step}, {shown(s)}) = {got:.6g}, expected {want:.6g}, {phase(step, s)}"
        )


@check(
    LR,
    "rises in a straight line from 0 at step 0 during the warmup",
    schedules(warmup=st.integers(2, 40), decay=st.integers(1, 50)),
    weight=0.6,
)
def lr_warmup_line(s, you, ref):
    w, max_lr = s["warmup"], s["max_lr"]
    steps = sorted({0, 1, w // 2, w - 1})
    values = [lr(you, t, s) for t in steps]
    table = ", ".join(f"{t}: {v:.4g}" for t, v in zip(steps, values))
    if all(_close(v, max_lr * (t + 1) / w) for t, v in zip(steps, values)):
        raise Mismatch(
            f"your warmup is one step ahead ({table}, {shown(s)}): steps count from 0 and the rate at "
            "step 0 is 0; use max_lr * step / warmup_steps, not (step + 1)"
        )
    if not _close(values[0], 0.0):
        raise Mismatch(
            f"at step 0 the rate is {values[0]:.4g}; the warmup starts from 0 ({table}, {shown(s)})"
        )
    for t, v in zip(steps, values):
        if not _close(v, max_lr * t / w):
            raise Mismatch(
                f"at step {t} of the warmup the rate is {v:.6g}, expected max_lr * step / warmup_steps "
                f"= {max_lr * t / w:.6g} ({table}, {shown(s)})"
            )


@check(
    LR,
    "peaks at exactly max_lr at step = warmup_steps, continuing the warmup line (no jump)",
    schedules(warmup=st.integers(1, 40), decay=st.integers(2, 100)),
    weight=0.6,
)
def lr_peak(s, you, ref):
    w, max_lr, min_lr = s["warmup"], s["max_lr"], floor(s)
    before, at, after = lr(you, w - 1, s), lr(you, w, s), lr(you, w + 1, s)
    where = f"steps {w - 1}, {w}, {w + 1}: {before:.6g}, {at:.6g}, {after:.6g} ({shown(s)})"
    if _close(at, 2 * max_lr - min_lr):
        raise Mismatch(
            f"at step = warmup_steps the rate is {at:.6g} = 2 * max_lr - min_lr, not max_lr ({where}): "
            "the cosine factor is 0.5 * (1 + cos(...)), which runs from 1 down to 0"
        )
    if not _close(at, max_lr):
        tip = (
            ": the decay must start at warmup_steps, with progress = (step - warmup_steps) / (total_steps - "
            "warmup_steps), which is 0 there"
            if at < max_lr
            else ""
        )
        raise Mismatch(
            f"at step = warmup_steps the rate is {at:.6g}, expected max_lr = {max_lr:g} ({where}){tip}"
        )
    if not _close(before, max_lr * (w - 1) / w):
        raise Mismatch(
            f"the step before the peak is off the warmup line max_lr * step / warmup_steps "
            f"({where}): expected {max_lr * (w - 1) / w:.6g}"
        )
    if after > at:
        raise Mismatch(f"the rate rises after warmup_steps ({where}); it is largest there and decays after")


@check(
    LR,
    (
        "decays along half a cosine: never rises, halfway between max_lr and min_lr at the midpoint, "
        "min_lr at total_steps"
    ),
    schedules(decay=st.integers(2, 120), even=True),
    weight=0.6,
)
def lr_decay(s, you, ref):
    w, total, max_lr, min_lr = s["warmup"], s["total"], s["max_lr"], floor(s)
    stride = max(1, (total - w) // 16)
    steps = sorted({*range(w, total + 1, stride), total - 1, total, (w + total) // 2})
    values = [lr(you, t, s) for t in steps]
    for (t0, v0), (t1, v1) in pairwise(zip(steps, values)):
        if v1 > v0 * (1 + 1e-12) + 1e-15:
            raise Mismatch(
                f"the rate rises during the decay: {v0:.6g} at step {t0}, {v1:.6g} at step {t1} "
                f"({shown(s)}); the cosine goes over half a period only, pi * progress with progress "
                "from 0 to 1"
            )
    mid = (w + total) // 2
    got_mid, want_mid = values[steps.index(mid)], (max_lr + min_lr) / 2
    if not _close(got_mid, want_mid):
        raise Mismatch(
            f"halfway through the decay (step {mid}) the rate is {got_mid:.6g}, expected (max_lr + min_lr) "
            f"/ 2 = {want_mid:.6g} ({shown(s)}): progress = (step - warmup_steps) / (total_steps - "
            "warmup_steps) runs from 0 at warmup_steps to 1 at total_steps, and cos(pi * 0.5) = 0"
        )
    end = values[steps.index(total)]
    if not _close(end, min_lr):
        raise Mismatch(
            f"at total_steps = {total} the rate is {end:.6g}, expected min_lr = {min_lr:g} ({shown(s)})"
        )


@check(
    LR,
    "stays at min_lr from total_steps on",
    schedules(decay=st.integers(1, 100), min_lr=st.sampled_from([0.1, 0.01])),
    weight=0.5,
)
def lr_after_end(s, you, ref):
    total = s["total"]
    for t in (total, total + 1, total + max(2, total // 3), 2 * total + 7, 10 * total + 13):
        got = lr(you, t, s)
        if not _close(got, s["min_lr"]):
            tip = (
                "; past total_steps the cosine climbs back up (cos rises again after pi), so return min_lr "
                "there instead"
                if got > s["min_lr"]
                else "; the floor is min_lr, not 0"
            )
            raise Mismatch(
                f"at step {t} (total_steps = {total}) the rate is {got:.6g}, expected min_lr = "
                f"{s['min_lr']:g} ({shown(s)}): from total_steps on the schedule stays at its floor{tip}"
            )


@check(
    LR,
    "stays within [min_lr, max_lr] after the warmup (min_lr respected)",
    schedules(decay=st.integers(1, 100), min_lr=st.sampled_from([0.1, 0.01])),
    weight=0.5,
)
def lr_bounds(s, you, ref):
    w, total = s["warmup"], s["total"]
    stride = max(1, (total + 10 - w) // 20)
    for t in sorted({*range(w, total + 10, stride), total - 1, total}):
        got = lr(you, t, s)
        if got < s["min_lr"] * (1 - 1e-9):
            raise Mismatch(
                f"at step {t} the rate is {got:.6g}, below min_lr = {s['min_lr']:g} ({shown(s)}): the "
                "cosine part scales (max_lr - min_lr) and min_lr is added to it"
            )
        if got > s["max_lr"] * (1 + 1e-9):
            raise Mismatch(f"at step {t} the rate is {got:.6g}, above max_lr = {s['max_lr']:g} ({shown(s)})")


@check(
    LR,
    "edge cases: warmup_steps = 0 starts at max_lr; warmup_steps = total_steps warms up, then min_lr",
    st.tuples(
        st.sampled_from(["no warmup", "no decay"]),
        schedules(warmup=st.integers(1, 30), decay=st.integers(1, 60)),
    ),
    weight=0.5,
)
def lr_edges(case, you, ref):
    kind, s = case
    if kind == "no warmup":
        s = {**s, "warmup": 0, "total": s["total"] - s["warmup"]}
        steps, special = [0, 1, s["total"] // 2, s["total"], s["total"] + 1], {0}
        why = (
            "with warmup_steps = 0 there is no warmup, so nothing divides by warmup_steps: "
            "the rate is max_lr "
            "at step 0 and decays from there"
        )
    else:
        s = {**s, "total": s["warmup"]}
        steps = [0, s["warmup"] // 2, s["warmup"] - 1, s["warmup"], s["warmup"] + 1, 2 * s["warmup"] + 3]
        special = {t for t in steps if t >= s["total"]}
        why = (
            "with warmup_steps = total_steps there is no decay: the warmup line, "
            "then min_lr from total_steps "
            "on (total_steps - warmup_steps is 0, so the cosine formula cannot be used there)"
        )
    for t in steps:
        said = why if t in special else phase(t, s)
        try:
            got = lr(you, t, s)
        except LearnerError as e:
            if e.not_implemented:
                raise
            raise Mismatch(
                f"warmup_cosine_lr(step={t}, {shown(s)}) raised {e.info['type']}: {e.info['message']}; "
                f"{said}",
                "raises",
            ) from None
        want = lr(ref, t, s)
        if not _close(got, want):
            raise Mismatch(f"warmup_cosine_lr(step={t}, {shown(s)}) = {got:.6g}, expected {want:.6g}: {said}")
