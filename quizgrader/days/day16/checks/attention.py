"""Checks for day16/attention.py: softmax, scaled dot-product and additive attention."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from quizgrader.checks import recurring
from quizgrader.checks.compare import (
    Mismatch,
    expect_close,
    expect_shape,
    expect_tensor,
    expect_tuple,
    tolerance,
)
from quizgrader.checks.registry import check, context
from quizgrader.checks.strategies import (
    Case,
    attention_case,
    dtypes,
    randn,
    random_mask,
    scales,
    seeds,
    small,
)

SOFTMAX = "day16.attention.softmax"
SDPA = "day16.attention.scaled_dot_product_attention"
ADDITIVE = "day16.attention.additive_attention"


# -- softmax -------------------------------------------------------------------------------
@st.composite
def softmax_case(draw, scale=scales) -> Case:
    shape = tuple(draw(st.lists(small, min_size=1, max_size=3)))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return Case({"x": randn(draw(seeds), *shape, scale=draw(scale)), "dim": dim}, draw(dtypes))


def run_softmax(api, case: Case, f64: bool = False, **kw):
    return api.call("attention.softmax", case.f64("x") if f64 else case.as_dtype("x"), dim=case["dim"], **kw)


softmax = recurring.declare(
    SOFTMAX, run_softmax, case=softmax_case(), inputs=["x"], wrt=["x"], compare=recurring.close("softmax(x)")
)
softmax.matches("matches the reference (float32 and float64, any dim)")


@check(SOFTMAX, "is a distribution along dim (>= 0, sums to 1)", softmax_case())
def softmax_is_distribution(case, you, ref):
    x, dim = case.as_dtype("x"), case["dim"]
    got = expect_tensor(you("attention.softmax", x, dim=dim), "softmax(x)")
    expect_shape(got, x.shape, "softmax(x)")
    if (got < 0).any():
        raise Mismatch(f"softmax(x) has negative entries (min {float(got.min()):.3g})")
    sums = got.to(torch.float64).sum(dim=dim)
    rtol, atol = tolerance(x.dtype)
    worst = float((sums - 1).abs().max())
    if worst > 10 * atol + rtol:
        raise Mismatch(
            f"the entries along dim={dim} should sum to 1; some sum to "
            f"{float(sums.flatten()[(sums - 1).abs().flatten().argmax()]):.6g} (off by {worst:.3g})"
        )


@st.composite
def extreme_logits(draw) -> Case:
    """Rows mixing logits of about ±1e4 with ordinary ones, and some -inf entries."""
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(2, 6))
    seed = draw(seeds)
    x = randn(seed, rows, cols) * torch.tensor([1e4, 1.0, 1e4, 30.0])[:rows, None]
    g = torch.Generator().manual_seed(seed + 1)
    x = (
        x.masked_fill(~random_mask(seed + 2, (rows, cols), p=0.8), float("-inf"))
        if draw(st.booleans())
        else x
    )
    return Case(
        {
            "x": x + draw(st.sampled_from([0.0, 1e4, -1e4])) * torch.rand(rows, 1, generator=g).round(),
            "dim": -1,
        },
        draw(dtypes),
    )


def score_rounding(dtype: torch.dtype, scale: float) -> float:
    """The relative error of softmax weights that any right formulation (a logsumexp, Q scaled
    before the product) may make at scores of magnitude `scale`: the dtype rounds such a score by up
    to eps·scale, which the softmax turns into twice that. Next to nothing at ordinary scores."""
    return 4 * torch.finfo(dtype).eps * scale


@check(SOFTMAX, "is stable: logits of ±1e4 and -inf give no NaN or inf", extreme_logits())
def softmax_stable(case, you, ref):
    x = case.f64("x")
    got = you("attention.softmax", case.as_dtype("x"), dim=case["dim"])
    want = ref("attention.softmax", x, dim=case["dim"])
    rtol, atol = tolerance(case.dtype)
    extra = score_rounding(case.dtype, float(x.nan_to_num(posinf=0.0, neginf=0.0).abs().max()))
    expect_close(got, want, "softmax(x)", dtype=case.dtype, rtol=rtol + extra, atol=atol + extra)


softmax.inputs_unchanged("leaves its input unchanged", weight=0.5)
softmax.gradients("passes gradients back to x", weight=0.5)


# -- scaled dot-product attention ------------------------------------------------------------
def sdpa_args(case: Case, f64: bool = False) -> tuple:
    get = case.f64 if f64 else case.as_dtype
    return get("Q"), get("K"), get("V")


def run_sdpa(api, case: Case, f64: bool = False, **kw):
    return api.call("attention.scaled_dot_product_attention", *sdpa_args(case, f64), mask=case["mask"], **kw)


sdpa = recurring.declare(
    SDPA,
    run_sdpa,
    case=attention_case(),
    inputs=["Q", "K", "V", "mask"],
    wrt=["Q", "K", "V"],
    compare=recurring.pair_close(("out", "weights")),
)
sdpa.matches("matches the reference (float32 and float64, every mask shape)", weight=1.5)


def sdpa_weights(api, case: Case) -> torch.Tensor:
    _out, weights = expect_tuple(run_sdpa(api, case).value, ("out", "weights"))
    Q, K = case["Q"], case["K"]
    expect_shape(expect_tensor(weights, "weights"), Q.shape[:-1] + K.shape[-2:-1], "weights")
    return weights


@check(SDPA, "weights are distributions over the keys (>= 0, rows sum to 1)", attention_case())
def sdpa_rows_sum(case, you, ref):
    w = sdpa_weights(you, case).to(torch.float64)
    if (w < 0).any() or torch.isnan(w).any():
        raise Mismatch("weights has negative or NaN entries")
    sums = w.sum(-1)
    worst = float((sums - 1).abs().max())
    if worst > 1e-4:
        raise Mismatch(
            f"each row of weights (a query's distribution over the keys, last dim) must sum "
            f"to 1; the worst row sums to {float(sums.flatten()[(sums - 1).abs().flatten().argmax()]):.6g}"
        )


@check(
    SDPA, "masked keys get exactly zero weight", attention_case(masks=("full", "causal", "keys", "random"))
)
def sdpa_masked_zero(case, you, ref):
    w = sdpa_weights(you, case)
    hidden = ~case["mask"].expand(w.shape)
    leaked = w.masked_fill(~hidden, 0.0).abs()
    if leaked.max() > 0:
        idx = [int(i) for i in (leaked == leaked.max()).nonzero()[0]]
        raise Mismatch(
            f"weight {float(leaked.max()):.3g} at {idx} goes to a key the mask hides "
            "(mask False there); masked scores must become -inf before the softmax"
        )


@st.composite
def shifted_values(draw) -> Case:
    case = draw(attention_case())
    case.values["V"] = case["V"] + draw(st.sampled_from([0.0, 5.0, -5.0]))
    return case


@check(SDPA, "each output row lies in the convex hull of V's rows", shifted_values())
def sdpa_convex(case, you, ref):
    out, _ = expect_tuple(run_sdpa(you, case).value, ("out", "weights"))
    out = expect_tensor(out, "out").to(torch.float64)
    V = case.f64("V")
    expect_shape(out, case["Q"].shape[:-1] + V.shape[-1:], "out")
    lo, hi = V.min(-2, keepdim=True).values, V.max(-2, keepdim=True).values  # (..., 1, d_v)
    slack = 1e-4 * (1 + V.abs().max())
    outside = (out < lo - slack) | (out > hi + slack)
    if outside.any():
        idx = [int(i) for i in outside.nonzero()[0]]
        raise Mismatch(
            f"out{idx} = {float(out[tuple(idx)]):.4g} lies outside the range of V's entries in "
            f"that column [{float(lo.expand_as(out)[tuple(idx)]):.4g}, "
            f"{float(hi.expand_as(out)[tuple(idx)]):.4g}]: an output row must be a weighted "
            "average of V's rows with weights that sum to 1"
        )


@st.composite
def causal_case(draw) -> Case:
    case = draw(attention_case(masks=("causal",)))
    T = case["Q"].shape[-2]
    case.values["K"] = case["K"][..., -T:, :]
    case.values["V"] = case["V"][..., -T:, :]
    case.values["mask"] = torch.ones(T, T, dtype=torch.bool).tril()
    case.meta["cut"] = draw(st.integers(0, T - 1))
    return case


@check(SDPA, "causal: changing later keys and values never changes earlier outputs", causal_case())
def sdpa_causal(case, you, ref):
    cut = case.meta["cut"]
    a = expect_tuple(run_sdpa(you, case).value, ("out", "weights"))[0]
    later = Case(dict(case.values), case.dtype)
    noise = randn(7, *case["K"].shape[:-2], case["K"].shape[-2] - cut - 1, case["K"].shape[-1])
    later.values["K"] = torch.cat([case["K"][..., : cut + 1, :], noise * 3], -2)
    later.values["V"] = torch.cat(
        [case["V"][..., : cut + 1, :], randn(8, *noise.shape[:-1], case["V"].shape[-1]) * 3], -2
    )
    b = expect_tuple(run_sdpa(you, later).value, ("out", "weights"))[0]
    expect_shape(expect_tensor(a, "out"), case["Q"].shape[:-1] + case["V"].shape[-1:], "out")
    _r, t = tolerance(case.dtype)
    diff = (a[..., : cut + 1, :] - b[..., : cut + 1, :]).abs()
    if diff.max() > 10 * t:
        pos = [int(i) for i in (diff == diff.max()).nonzero()[0]]
        raise Mismatch(
            f"with a causal mask, changing keys/values after position {cut} changed the output "
            f"at {pos} (by {float(diff.max()):.3g}): position i must only see keys 0..i"
        )


@st.composite
def permuted_case(draw) -> Case:
    case = draw(attention_case())
    T_k = case["K"].shape[-2]
    perm = torch.tensor(draw(st.permutations(range(T_k))), dtype=torch.long)
    case.meta["perm"] = perm
    return case


@check(SDPA, "permuting keys and values together changes nothing", permuted_case())
def sdpa_permutation(case, you, ref):
    perm = case.meta["perm"]
    a_out, a_w = expect_tuple(run_sdpa(you, case).value, ("out", "weights"))
    p = Case(dict(case.values), case.dtype)
    p.values["K"], p.values["V"] = case["K"][..., perm, :], case["V"][..., perm, :]
    if case["mask"] is not None:
        p.values["mask"] = case["mask"][..., perm]
    b_out, b_w = expect_tuple(run_sdpa(you, p).value, ("out", "weights"))
    expect_tensor(a_out, "out"), expect_tensor(b_out, "out")
    rtol, atol = tolerance(case.dtype)
    if a_out.shape != b_out.shape or not torch.allclose(
        a_out, b_out, rtol=10 * rtol, atol=10 * atol, equal_nan=True
    ):
        raise Mismatch(
            f"reordering the keys and values with the same permutation {perm.tolist()} changed "
            "the output; attention is a weighted sum over keys, so the order of keys must not "
            "matter (check that K is transposed, not reshaped)"
        )
    if a_w.shape == b_w.shape and not torch.allclose(
        a_w[..., perm], b_w, rtol=10 * rtol, atol=10 * atol, equal_nan=True
    ):
        raise Mismatch(f"after permuting keys by {perm.tolist()} the weights should be permuted the same way")


@st.composite
def batch_case(draw) -> Case:
    """A batch whose elements have very different score scales."""
    B, T_q, T_k, d = draw(st.integers(2, 3)), draw(small), draw(small), draw(st.integers(1, 6))
    seed = draw(seeds)
    scale = torch.tensor([1.0, 100.0, 0.01])[:B].view(B, 1, 1)
    return Case(
        {
            "Q": randn(seed, B, T_q, d) * scale,
            "K": randn(seed + 1, B, T_k, d) * scale,
            "V": randn(seed + 2, B, T_k, d),
            "mask": None,
        },
        draw(dtypes),
    )


sdpa.batch_independent(
    "batch elements are independent",
    batch_case(),
    batched=["Q", "K", "V", "mask"],
    pick=lambda value, case: expect_tensor(expect_tuple(value, ("out", "weights"))[0], "out"),
    message="batch element {b} gives a different output when computed alone than inside the batch: "
    "something mixes batch elements (a max or sum over the whole tensor instead of one row?)",
)


@st.composite
def padded_case(draw) -> Case:
    case = draw(attention_case(masks=("none", "keys")))
    case.meta["pad"] = draw(st.integers(1, 3))
    return case


@check(SDPA, "appending masked-out (padding) keys changes nothing", padded_case())
def sdpa_padding(case, you, ref):
    a = expect_tuple(run_sdpa(you, case).value, ("out", "weights"))[0]
    pad, K, V = case.meta["pad"], case["K"], case["V"]
    lead, t_k = K.shape[:-2], K.shape[-2]
    mask = case["mask"] if case["mask"] is not None else torch.ones(*lead, 1, t_k, dtype=torch.bool)
    p = Case(dict(case.values), case.dtype)
    p.values["K"] = torch.cat([K, randn(11, *lead, pad, K.shape[-1]) * 5], -2)
    p.values["V"] = torch.cat([V, randn(12, *lead, pad, V.shape[-1]) * 5], -2)
    p.values["mask"] = torch.cat([mask, torch.zeros(*mask.shape[:-1], pad, dtype=torch.bool)], -1)
    b = expect_tuple(run_sdpa(you, p).value, ("out", "weights"))[0]
    expect_tensor(a, "out"), expect_tensor(b, "out")
    rtol, atol = tolerance(case.dtype)
    if a.shape != b.shape or not torch.allclose(a, b, rtol=10 * rtol, atol=10 * atol, equal_nan=True):
        raise Mismatch(
            f"appending {pad} padding keys (masked out) changed the output: masked keys must "
            "get exactly zero weight (fill their scores with -inf, not 0, before the softmax)"
        )


@check(
    SDPA,
    "is stable when scores reach ±1e4",
    attention_case(masks=("none", "causal")).map(
        lambda c: Case({**c.values, "Q": c["Q"] * 100, "K": c["K"] * 100}, c.dtype, c.meta)
    ),
)
def sdpa_stable(case, you, ref):
    out, weights = expect_tuple(run_sdpa(you, case).value, ("out", "weights"))
    want_out, want_weights = run_sdpa(ref, case, f64=True).value
    Q, K, V = sdpa_args(case, f64=True)
    d = Q.shape[-1]
    # a score sums d products, rounded by up to (d + 1)·eps times the sum of their sizes
    extra = score_rounding(case.dtype, (d + 1) * float((Q.abs() @ K.abs().transpose(-2, -1)).max()) / d**0.5)
    rtol, atol = tolerance(case.dtype)
    expect_close(weights, want_weights, "weights", dtype=case.dtype, rtol=rtol + extra, atol=atol + extra)
    # out = weights @ V moves by up to the weights' error times the largest value
    expect_close(out, want_out, "out", dtype=case.dtype, rtol=rtol, atol=atol + extra * float(V.abs().max()))


sdpa.inputs_unchanged("leaves Q, K, V and the mask unchanged", weight=0.5)
sdpa.gradients("passes gradients back to Q, K and V", weight=0.5)


# -- additive attention ----------------------------------------------------------------------
@st.composite
def additive_case(draw, masked: bool | None = None, batch: st.SearchStrategy = small) -> Case:
    B, T, d_q, d_k, d_v, d_a = draw(batch), draw(small), draw(small), draw(small), draw(small), draw(small)
    seed = draw(seeds)
    use_mask = draw(st.booleans()) if masked is None else masked
    return Case(
        {
            "query": randn(seed, B, d_q),
            "keys": randn(seed + 1, B, T, d_k),
            "values": randn(seed + 2, B, T, d_v),
            "W_q": randn(seed + 3, d_a, d_q, scale=draw(scales)),
            "W_k": randn(seed + 4, d_a, d_k, scale=draw(scales)),
            "v": randn(seed + 5, d_a, scale=2.0),
            "mask": random_mask(seed + 6, (B, T)) if use_mask else None,
        },
        draw(dtypes),
    )


ADDITIVE_ARGS = ("query", "keys", "values", "W_q", "W_k", "v")


def run_additive(api, case: Case, f64: bool = False, **kw):
    get = case.f64 if f64 else case.as_dtype
    return api.call("attention.additive_attention", *(get(n) for n in ADDITIVE_ARGS), mask=case["mask"], **kw)


additive = recurring.declare(
    ADDITIVE,
    run_additive,
    case=additive_case(),
    wrt=ADDITIVE_ARGS,
    compare=recurring.pair_close(("context", "weights")),
)
additive.matches("matches the reference (float32 and float64, with and without a mask)", weight=1.5)


@check(ADDITIVE, "weights are distributions over the positions", additive_case())
def additive_distribution(case, you, ref):
    _, w = expect_tuple(run_additive(you, case).value, ("context", "weights"))
    w = expect_tensor(w, "weights").to(torch.float64)
    expect_shape(w, case["keys"].shape[:2], "weights")
    sums = w.sum(-1)
    if (w < 0).any() or torch.isnan(w).any() or float((sums - 1).abs().max()) > 1e-4:
        raise Mismatch(
            f"each row of weights (B, T) must be >= 0 and sum to 1 over the T positions; row sums "
            f"are {[round(float(s), 4) for s in sums]}"
        )


@check(ADDITIVE, "the context is a convex combination of the values", additive_case())
def additive_convex(case, you, ref):
    ctx, _ = expect_tuple(run_additive(you, case).value, ("context", "weights"))
    ctx = expect_tensor(ctx, "context").to(torch.float64)
    values = case.f64("values")
    expect_shape(ctx, (values.shape[0], values.shape[2]), "context")
    lo, hi = values.min(1).values, values.max(1).values
    slack = 1e-4 * (1 + values.abs().max())
    if ((ctx < lo - slack) | (ctx > hi + slack)).any():
        raise Mismatch(
            "context lies outside the range of the values: it must be sum_j weights_j * values_j "
            "(the values, not the keys)"
        )


@check(
    ADDITIVE, "masked positions get zero weight; appended padding changes nothing", additive_case(masked=True)
)
def additive_padding(case, you, ref):
    ctx, w = expect_tuple(run_additive(you, case).value, ("context", "weights"))
    w = expect_tensor(w, "weights")
    expect_shape(w, case["mask"].shape, "weights")
    leaked = w.masked_fill(case["mask"], 0).abs()
    if leaked.max() > 0:
        raise Mismatch(
            f"a position the mask hides got weight {float(leaked.max()):.3g}; masked energies must "
            "become -inf before the softmax"
        )
    p = Case(dict(case.values), case.dtype)
    B, _, _ = case["keys"].shape
    p.values["keys"] = torch.cat([case["keys"], randn(21, B, 2, case["keys"].shape[2])], 1)
    p.values["values"] = torch.cat([case["values"], randn(22, B, 2, case["values"].shape[2]) * 5], 1)
    p.values["mask"] = torch.cat([case["mask"], torch.zeros(B, 2, dtype=torch.bool)], 1)
    ctx2, _ = expect_tuple(run_additive(you, p).value, ("context", "weights"))
    rtol, atol = tolerance(case.dtype)
    if not torch.allclose(expect_tensor(ctx, "context"), ctx2, rtol=10 * rtol, atol=10 * atol):
        raise Mismatch("appending two masked-out positions changed the context")


additive.batch_independent(
    "batch elements are independent",
    additive_case(batch=st.integers(2, 4)),
    batched=["query", "keys", "values", "mask"],
    pick=lambda value, case: expect_tuple(value, ("context", "weights"))[1],
    message="batch element {b} gets different weights alone than inside the batch: the softmax must run "
    "over the positions (dim -1), not over the batch",
)
additive.gradients("passes gradients to every input and parameter", weight=0.5)


# -- why attention beats a recurrence (rubric row 8) -----------------------------------------------
SCALING = {
    "quick": ([32, 128, 512], 3),
    "default": ([64, 128, 256, 512, 1024], 5),
    "thorough": ([64, 128, 256, 512, 1024, 2048], 9),
}


def fit_start(lengths: list[int]) -> int:
    """Where a growth exponent's fit starts: the longer half of the lengths (where the work, not
    the fixed cost of a call, dominates), or all of them when there are only two."""
    return len(lengths) // 2 if len(lengths) > 2 else 0


def growth_exponent(lengths: list[int], seconds: list[float]) -> float:
    """The least-squares slope of log(time) against log(T) from fit_start on; NaN for a single
    length."""
    start = fit_start(lengths)
    xs = [math.log(t) for t in lengths[start:]]
    ys = [math.log(max(s, 1e-9)) for s in seconds[start:]]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else math.nan


# What one call of attention runs, at most, at any length: the reference runs about 40 ATen
# operators (the profiler counts what composite operators run too) and a few dozen function calls;
# a loop padded to a fixed number of steps, so that its count does not grow between the lengths
# tried, runs far more.
OPS_BUDGET, CALLS_BUDGET = 300, 600


def count_attention_ops(you, ref) -> dict[int, tuple[int, int]]:
    """The learner's attention's (operators, function calls) at 4, 32 and a longer length that
    depends on the seed, on inputs drawn as the checks draw theirs, each counted call's answer
    checked against the reference's (so a call that knows it is counted cannot answer with less
    work than the answer takes)."""
    seed = context().seed
    d, batch = (8, 16)[seed % 2], (1, 2, 3)[seed % 3]
    counts = {}
    for T in (4, 32, 160 + 37 * (seed % 7)):
        q, k, v = (randn(seed + T + i, batch, T, d).float() for i in range(3))
        got = you.tool("count_ops", "attention.scaled_dot_product_attention", args=[q, k, v])
        if not isinstance(got, dict) or not {"ops", "calls", "value", "graph"} <= set(got):
            raise Mismatch("the call whose operators were counted did not come back", "values")
        want = ref("attention.scaled_dot_product_attention", q.double(), k.double(), v.double())
        out = got["value"][0] if isinstance(got["value"], (tuple, list)) and got["value"] else got["value"]
        expect_close(
            out,
            want[0],
            f"out, for the call of {T} positions whose operators were counted",
            dtype=torch.float32,
        )
        if not got["graph"]:
            raise Mismatch(
                f"for the call of {T} positions whose operators were counted, out carries no gradient "
                "back to Q, K, V (a round trip through numpy, .detach() or torch.no_grad())",
                "grad",
            )
        counts[T] = (int(got["ops"]), int(got["calls"]))
    return counts


@check(
    SDPA,
    "attends to all T positions at once: its number of tensor ops does not grow with T "
    "(timed against a T-step recurrence)",
    rows=(8,),
)
def sdpa_parallel(case, you, ref):
    measured = count_attention_ops(you, ref)
    ops, calls = ({T: m[i] for T, m in measured.items()} for i in (0, 1))
    for what, counts, budget in (
        ("tensor operations", ops, OPS_BUDGET),
        ("function calls", calls, CALLS_BUDGET),
    ):
        if len(set(counts.values())) > 1 or max(counts.values()) > budget:
            shown = ", ".join(f"{n} for {T} positions" for T, n in counts.items())
            raise Mismatch(
                f"your attention runs {what}: {shown}: it steps through positions one at a time, as an "
                "RNN must"
                + (
                    f" (more than the {budget} one call of attention needs at any length)"
                    if len(set(counts.values())) == 1
                    else ""
                )
                + ". Attention needs no such loop: Q @ K.transpose(-2, -1) scores every query against every "
                "key in one operation, and weights @ V mixes all values at once"
            )
    counts = {32: max(ops.values())}
    if not context().measure:
        return {
            "ops": counts[32],
            "summary": f"one call covers all T positions ({counts[32]} ops at any T); not timed in this run",
        }
    lengths, repeats = SCALING[context().profile]
    rows = you.tool(
        "time_attention",
        "attention.scaled_dot_product_attention",
        lengths=lengths,
        d=64,
        batch=4,
        repeats=repeats,
        seed=context().seed,
    )
    figures = {
        "ops": counts[32],
        "growth_exponent": round(growth_exponent(lengths, [r["attention"] for r in rows]), 2),
        "recurrence_growth_exponent": round(growth_exponent(lengths, [r["recurrence"] for r in rows]), 2),
        "speedup": {r["T"]: round(r["recurrence"] / max(r["attention"], 1e-9), 1) for r in rows},
        "attention_ms": {r["T"]: round(1e3 * r["attention"], 3) for r in rows},
        "recurrence_ms": {r["T"]: round(1e3 * r["recurrence"], 3) for r in rows},
    }
    best = max(rows, key=lambda r: r["recurrence"] / max(r["attention"], 1e-9))
    last = rows[-1]
    figures["summary"] = (
        f"one call covers all T positions ({counts[32]} ops at any T); its time grows as "
        f"T^{figures['growth_exponent']:.1f}, "
        f"a T-step recurrence's as T^{figures['recurrence_growth_exponent']:.1f}; "
        f"{figures['speedup'][best['T']]:g}x faster than the recurrence at T={best['T']}, "
        f"{figures['speedup'][last['T']]:g}x at T={last['T']}"
    )
    return figures
