"""Checks for day09/information.py: entropy, cross-entropy, KL divergence and code length."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from quizgrader.checks import recurring
from quizgrader.checks.api import Outcome
from quizgrader.checks.common import GRAD_SEED, expect_grads_close
from quizgrader.checks.compare import Mismatch, advice, expect_close, expect_tensor, tolerance
from quizgrader.checks.registry import check
from quizgrader.checks.strategies import Case, dtypes, seeds, small

ENTROPY = "day09.information.entropy"
CROSS = "day09.information.cross_entropy"
KL = "day09.information.kl_divergence"
BITS = "day09.information.code_length_bits"


# -- distributions -----------------------------------------------------------------------------
def distribution(
    seed: int, shape: tuple[int, ...], dim: int, zeros: float = 0.0, peak: float = 1.0
) -> torch.Tensor:
    """Random distributions along `dim` of a float64 tensor of `shape`: log-normal weights (spread
    `peak`: near uniform at 0.3, peaked at 3), a fraction `zeros` of them set to exactly 0, with
    at least one positive entry per distribution."""
    g = torch.Generator().manual_seed(seed)
    dim = dim % len(shape)
    last = shape[:dim] + shape[dim + 1 :] + (shape[dim],)  # the outcomes moved to the end
    w = (torch.randn(last, generator=g, dtype=torch.float64) * peak).exp()
    if zeros:
        drop = torch.rand(last, generator=g) < zeros
        keep = torch.randint(0, last[-1], last[:-1] + (1,), generator=g)
        drop.scatter_(-1, keep, False)
        w = w.masked_fill(drop, 0.0)
    p = w / w.sum(-1, keepdim=True)
    return p.movedim(-1, dim)


@st.composite
def shapes(draw, min_k: int = 1) -> tuple[tuple[int, ...], int]:
    """A shape of 1 to 3 dims and the axis (negative or not) that holds the outcomes."""
    shape = draw(st.lists(small, min_size=1, max_size=3))
    axis = draw(st.integers(0, len(shape) - 1))
    shape[axis] = max(shape[axis], min_k)
    dim = axis - len(shape) if draw(st.booleans()) else axis
    return tuple(shape), dim


peaks = st.sampled_from([0.3, 1.0, 3.0])


@st.composite
def one_case(draw, zeros: bool = True) -> Case:
    """p along a drawn dim; with `zeros`, some of its entries exactly 0."""
    shape, dim = draw(shapes())
    z = draw(st.sampled_from([0.0, 0.3, 0.6])) if zeros else 0.0
    return Case({"p": distribution(draw(seeds), shape, dim, z, draw(peaks)), "dim": dim}, draw(dtypes))


def with_holes(q: torch.Tensor, hole: torch.Tensor, dim: int) -> torch.Tensor:
    """q with zeros where `hole`, renormalised along dim; a distribution the holes would empty
    keeps all its entries."""
    holed = q.masked_fill(hole, 0.0)
    holed = torch.where(holed.sum(dim, keepdim=True) > 0, holed, q)
    return holed / holed.sum(dim, keepdim=True)


@st.composite
def two_case(draw, zeros: str = "where p is 0") -> Case:
    """p and q along a drawn dim. zeros: "none" (all positive), "where p is 0" (q = 0 only where
    p = 0 too: a finite result), or "anywhere" (q may be 0 where p > 0: +inf there)."""
    shape, dim = draw(shapes())
    seed, peak = draw(seeds), draw(peaks)
    z = 0.0 if zeros == "none" else draw(st.sampled_from([0.0, 0.3, 0.6]))
    p = distribution(seed, shape, dim, z, peak)
    q = distribution(seed + 1, shape, dim, 0.0, draw(peaks))
    if zeros != "none" and draw(st.booleans()):
        g = torch.Generator().manual_seed(seed + 2)
        hole = torch.rand(shape, generator=g) < 0.4
        if zeros == "where p is 0":
            hole &= p == 0
        q = with_holes(q, hole, dim)
    return Case({"p": p, "q": q, "dim": dim}, draw(dtypes), {"zeros": zeros})


def without(shape: torch.Size, dim: int) -> tuple[int, ...]:
    dim = dim % len(shape)
    return tuple(shape[:dim]) + tuple(shape[dim + 1 :])


def expect_reduced(got, want: torch.Tensor, name: str, case: Case) -> torch.Tensor:
    """`got` against the float64 `want`, with a shape message that speaks of `dim`."""
    got = expect_tensor(got, name)
    shape, dim = tuple(case["p"].shape), case["dim"]
    if tuple(got.shape) != tuple(want.shape):
        raise Mismatch(
            f"{name}: shape {tuple(got.shape)}, expected {tuple(want.shape)}: the input's shape "
            f"{shape} without axis dim={dim}. Sum over `dim` only (not over the last axis, "
            "not over every axis)",
            "shape",
        )
    return expect_close(got, want, name, dtype=case.dtype)


def on_simplex(names: list[str], dim: int | None = None):
    """A comparison of gradients against the reference's, each with its mean along `dim` (the
    case's dim unless given) taken out: on distributions only changes that keep the sum at 1 are
    meaningful, so a solution that normalises its input (or that is written for any positive tensor)
    is judged the same."""

    def judge(yours: Outcome, want: Outcome, case: Case) -> None:
        along = case["dim"] if dim is None else dim

        def tangent(o: Outcome) -> Outcome:
            g = dict(o.grads or {})
            g["args"] = [
                t - t.mean(along, keepdim=True) if isinstance(t, torch.Tensor) else t
                for t in g.get("args", [])
            ]
            return Outcome(o.value, g, o.args_after, o.kwargs_after)

        with advice(
            f"(both gradients are shown with their mean along dim={along} taken out: only changes that keep "
            "each distribution summing to 1 count)"
        ):
            expect_grads_close(tangent(yours), tangent(want), names, case.dtype)

    return judge


def call(api, name: str, case: Case, *args: str, f64: bool = False, **kw):
    get = case.f64 if f64 else case.as_dtype
    return api.call(f"information.{name}", *(get(a) for a in args), dim=case["dim"], **kw)


def declare(exercise: str, fn: str, *args: str) -> recurring.Declared:
    """`fn` of the case's distributions `args` along dim=case["dim"]: its result compared with a
    shape message that speaks of dim, its gradients on the simplex."""
    return recurring.declare(
        exercise,
        lambda api, case, f64=False, **kw: call(api, fn, case, *args, f64=f64, **kw),
        inputs=args,
        compare=lambda got, want, case: expect_reduced(
            got, want, f"{fn}({', '.join(args)}, dim={case['dim']})", case
        ),
        grads=on_simplex(list(args)),
    )


def first_bad(bad: torch.Tensor) -> list[int]:
    return [int(i) for i in bad.nonzero()[0]] if bad.dim() else []


def at(index: list[int]) -> str:
    """Where a bad entry is, for a message: " at [i, j]" in a batch of results, nothing for a 0-d one."""
    return f" at {index}" if index else ""


# -- entropy -----------------------------------------------------------------------------------
entropy = declare(ENTROPY, "entropy", "p")
entropy.matches("matches the reference (float32 and float64, any dim, exact zeros)", one_case())


@st.composite
def uniform_case(draw) -> Case:
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    K = draw(st.integers(1, 12))
    return Case({"p": torch.full(lead + (K,), 1.0 / K, dtype=torch.float64), "dim": -1}, draw(dtypes))


@check(ENTROPY, "is ln K nats for the uniform distribution over K outcomes", uniform_case(), weight=0.5)
def entropy_uniform(case, you, ref):
    K = case["p"].shape[-1]
    got = expect_tensor(call(you, "entropy", case, "p").value, "entropy(p)")
    want = torch.full(case["p"].shape[:-1], math.log(K), dtype=torch.float64)
    if got.shape == want.shape and got.numel() and K > 1:
        value = float(got.flatten()[0])
        for other, why in (
            (math.log2(K), "log2 K bits: entropy here is in nats, use the natural log (torch.log)"),
            (-math.log(K), "-ln K: H = -sum p ln p, mind the minus sign (ln p <= 0)"),
        ):
            if math.isclose(value, other, rel_tol=1e-3):
                raise Mismatch(
                    f"entropy of the uniform distribution over K={K} outcomes is {value:.6g}, which "
                    f"is {why}; expected ln {K} = {math.log(K):.6g}"
                )
    expect_close(
        got, want, f"entropy of the uniform distribution over K={K} outcomes (ln K)", dtype=case.dtype
    )


@st.composite
def zero_padded_case(draw) -> Case:
    """Positive p and the same p with zero-probability outcomes inserted along dim."""
    shape, dim = draw(shapes())
    seed = draw(seeds)
    p = distribution(seed, shape, dim, 0.0, draw(peaks))
    extra = draw(st.integers(1, 3))
    at = draw(st.integers(0, shape[dim]))
    zeros = torch.zeros(
        p.shape[: dim % p.dim()] + (extra,) + p.shape[dim % p.dim() + 1 :], dtype=torch.float64
    )
    head, tail = p.split([at, shape[dim] - at], dim=dim)
    return Case(
        {"p": torch.cat([head, zeros, tail], dim=dim), "p_positive": p, "dim": dim},
        draw(dtypes),
        {"extra": extra, "at": at},
    )


@check(ENTROPY, "0 log 0 = 0: outcomes of probability 0 add nothing (no NaN)", zero_padded_case())
def entropy_zero_terms(case, you, ref):
    got = expect_tensor(call(you, "entropy", case, "p").value, "entropy(p)")
    want = call(
        ref, "entropy", Case({"p": case["p_positive"], "dim": case["dim"]}, case.dtype), "p", f64=True
    ).value
    if got.shape == want.shape and torch.isnan(got).any():
        raise Mismatch(
            f"entropy(p) is NaN for a p with {case.meta['extra']} outcome(s) of probability exactly 0 "
            f"along dim={case['dim']}{at(first_bad(torch.isnan(got)))}: 0 * log(0) is "
            "0 * -inf = NaN in floating point. Make those terms 0 (0 log 0 = 0 by convention: "
            "an outcome that never happens adds no uncertainty)",
            "nan",
        )
    expect_reduced(
        got, want, "entropy(p) with zero-probability outcomes added (must equal entropy without them)", case
    )


@st.composite
def certain_case(draw) -> Case:
    shape, dim = draw(shapes())
    g = torch.Generator().manual_seed(draw(seeds))
    last = without(torch.Size(shape), dim) + (shape[dim],)
    hot = torch.randint(0, shape[dim], last[:-1] + (1,), generator=g)
    p = torch.zeros(last, dtype=torch.float64).scatter_(-1, hot, 1.0).movedim(-1, dim)
    return Case({"p": p, "dim": dim, "random": distribution(draw(seeds), shape, dim, 0.0, 1.0)}, draw(dtypes))


@check(ENTROPY, "is >= 0, and exactly 0 for a certain outcome (one-hot p)", certain_case())
def entropy_bounds(case, you, ref):
    dim = case["dim"]
    rand = Case({"p": case["random"], "dim": dim}, case.dtype)
    got = expect_tensor(call(you, "entropy", rand, "p").value, "entropy(p)")
    if got.shape == without(case["p"].shape, dim) and (got < -tolerance(case.dtype)[1]).any():
        bad = first_bad(got < -tolerance(case.dtype)[1])
        raise Mismatch(
            f"entropy(p) is negative ({float(got[tuple(bad)]):.4g}{at(bad)}); entropy is never "
            "negative: each term -p ln p is >= 0 because ln p <= 0 for 0 < p <= 1"
        )
    got = call(you, "entropy", case, "p").value
    expect_reduced(
        got,
        torch.zeros(without(case["p"].shape, dim), dtype=torch.float64),
        f"entropy of one-hot distributions along dim={dim} (a certain outcome: 0 nats)",
        case,
    )


entropy.inputs_unchanged("leaves its input unchanged", one_case(), weight=0.5)
entropy.gradients("passes gradients back to p (p > 0)", one_case(zeros=False), weight=0.5)


# -- cross-entropy -----------------------------------------------------------------------------
cross_entropy = declare(CROSS, "cross_entropy", "p", "q")
cross_entropy.matches(
    "matches the reference (float32 and float64, any dim, zeros in p and q)", two_case("anywhere")
)


@st.composite
def target_case(draw) -> Case:
    """One-hot p (the true class) against a positive model q; last dim, some leading dims."""
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    K = draw(st.integers(2, 8))
    seed = draw(seeds)
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(0, K, lead + (1,), generator=g)
    p = torch.zeros(lead + (K,), dtype=torch.float64).scatter_(-1, k, 1.0)
    q = distribution(seed + 1, lead + (K,), -1, 0.0, draw(peaks))
    if draw(st.booleans()):
        q = torch.full_like(q, 1.0 / K)
    return Case({"p": p, "q": q, "dim": -1, "k": k}, draw(dtypes))


@check(CROSS, "for a one-hot p (the true class k) it is -ln q[k]; ln K for the uniform q", target_case())
def cross_one_hot(case, you, ref):
    got = expect_tensor(call(you, "cross_entropy", case, "p", "q").value, "cross_entropy(p, q)")
    q = case.f64("q")
    want = -torch.log(q.gather(-1, case["k"])).squeeze(-1)
    if got.shape == want.shape and torch.isinf(got).any():
        raise Mismatch(
            "cross_entropy(p, q) is inf for a one-hot p and a q with no zeros: the log must be taken "
            "of q (the model), and p (the truth) weights the terms: H(p, q) = -sum_i p_i ln q_i. "
            "With p one-hot on class k that is -ln q[k], the negative log-likelihood"
        )
    expect_close(got, want, "cross_entropy(one-hot p, q): -ln q[k] for the true class k", dtype=case.dtype)


@check(CROSS, "Gibbs: H(p, q) >= H(p), with equality when q = p", two_case("none"))
def cross_gibbs(case, you, ref):
    h = call(ref, "entropy", Case({"p": case["p"], "dim": case["dim"]}, case.dtype), "p", f64=True).value
    got = expect_tensor(call(you, "cross_entropy", case, "p", "q").value, "cross_entropy(p, q)")
    _, atol = tolerance(case.dtype)
    if got.shape == h.shape and (got.to(torch.float64) < h - 10 * atol - 1e-4 * h.abs()).any():
        bad = first_bad(got.to(torch.float64) < h - 10 * atol - 1e-4 * h.abs())
        raise Mismatch(
            f"cross_entropy(p, q) = {float(got[tuple(bad)]):.5g}{at(bad)} is below the entropy of p, "
            f"{float(h[tuple(bad)]):.5g}: coding p with any other model q costs at least H(p) "
            "(H(p, q) = H(p) + KL(p || q) and KL >= 0). Sum -p_i ln q_i over `dim`, p first"
        )
    same = Case({"p": case["p"], "q": case["p"], "dim": case["dim"]}, case.dtype)
    got = call(you, "cross_entropy", same, "p", "q").value
    expect_reduced(got, h, "cross_entropy(p, p) (must equal entropy(p))", same)


@st.composite
def inf_case(draw) -> Case:
    """p with zeros; q = 0 at some places where p = 0 (finite) and, when `hole`, at one place
    where p > 0 (+inf for that distribution)."""
    shape, dim = draw(shapes(min_k=2))
    seed = draw(seeds)
    p = distribution(seed, shape, dim, 0.5, draw(peaks))
    q = distribution(seed + 1, shape, dim, 0.0, draw(peaks))
    g = torch.Generator().manual_seed(seed + 2)
    hole = (p == 0) & (torch.rand(shape, generator=g) < 0.7)
    if draw(st.booleans()):  # one outcome that p allows and q rules out
        first = (p > 0).to(torch.int64).argmax(dim, keepdim=True)
        hole = hole.scatter(dim, first, True)
    q = with_holes(q, hole, dim)
    return Case({"p": p, "q": q, "dim": dim}, draw(dtypes))


def expect_inf_where_ruled_out(got: torch.Tensor, case: Case, name: str) -> None:
    """+inf exactly where q = 0 < p somewhere along dim; finite (never NaN) elsewhere."""
    p, q, dim = case.f64("p"), case.f64("q"), case["dim"]
    ruled_out = ((q == 0) & (p > 0)).any(dim)
    if got.shape != ruled_out.shape:
        return
    if torch.isnan(got).any():
        bad = first_bad(torch.isnan(got))
        raise Mismatch(
            f"{name} is NaN{at(bad)}, where p has outcomes of probability 0 (and q may be 0 there "
            "too): a term with p_i = 0 is 0 whatever q_i is. Computing 0 * ln(0) gives "
            "0 * -inf = NaN; leave those terms out (or take the log of 1 there)",
            "nan",
        )
    missing = ruled_out & ~(torch.isinf(got) & (got > 0))
    if missing.any():
        bad = first_bad(missing)
        raise Mismatch(
            f"{name} = {float(got[tuple(bad)]):.5g}{at(bad)}, where q gives probability 0 to an "
            "outcome that p gives probability > 0: that costs ln(1/0) = +inf. An eps or a clamp "
            "inside the log hides this (a model that rules out what happens is infinitely wrong)"
        )
    spurious = ~ruled_out & torch.isinf(got)
    if spurious.any():
        bad = first_bad(spurious)
        raise Mismatch(
            f"{name} is inf{at(bad)}, but there q is 0 only where p is 0 too: such terms are 0 "
            "(p comes first and weights the terms; q is inside the log)"
        )


def pair_checks(declared: recurring.Declared, fn: str, zero_terms: str) -> None:
    """The checks cross-entropy and KL share, registered for the declared exercise (function `fn`):
    its terms at zeros of p and q, inputs left alone, gradients on the simplex."""

    def zero_terms_check(case, you, ref):
        got = expect_tensor(call(you, fn, case, "p", "q").value, f"{fn}(p, q)")
        expect_inf_where_ruled_out(got, case, f"{fn}(p, q)")
        want = call(ref, fn, case, "p", "q", f64=True).value
        expect_reduced(got, want, f"{fn}(p, q, dim={case['dim']})", case)

    check(declared.exercise, zero_terms, inf_case())(zero_terms_check)
    declared.inputs_unchanged("leaves p and q unchanged", two_case("where p is 0"), weight=0.5)
    declared.gradients("passes gradients back to p and q (p, q > 0)", two_case("none"), weight=0.5)


pair_checks(cross_entropy, "cross_entropy", "0 ln q = 0 where p = 0 (even q = 0); +inf where q = 0 < p")


# -- KL divergence -----------------------------------------------------------------------------
kl_divergence = declare(KL, "kl_divergence", "p", "q")
kl_divergence.matches(
    "matches the reference (float32 and float64, any dim, zeros in p and q)", two_case("anywhere")
)


@check(KL, "H(p, q) = H(p) + KL(p || q)", two_case("where p is 0"))
def kl_identity(case, you, ref):
    h = call(ref, "entropy", case, "p", f64=True).value
    hpq = call(ref, "cross_entropy", case, "p", "q", f64=True).value
    got = expect_tensor(call(you, "kl_divergence", case, "p", "q").value, "kl_divergence(p, q)")
    rtol, atol = tolerance(case.dtype)
    if got.shape == h.shape and not torch.isnan(got).any():
        off = (got.to(torch.float64) - (hpq - h)).abs() > 10 * atol + rtol * hpq.abs()
        if off.any():
            i = tuple(first_bad(off))
            swapped = Case({"p": case["q"], "q": case["p"], "dim": case["dim"]}, case.dtype)
            reverse = call(ref, "kl_divergence", swapped, "p", "q", f64=True).value
            note = (
                " That is KL(q || p): the arguments are the other way round (p weights the terms)."
                if math.isclose(float(got[i]), float(reverse[i]), rel_tol=1e-3, abs_tol=1e-6)
                else ""
            )
            where = f"at {list(i)}: " if i else ""
            raise Mismatch(
                f"{where}H(p, q) = {float(hpq[i]):.5g} and H(p) = {float(h[i]):.5g}, so "
                f"KL(p || q) must be their difference, {float(hpq[i] - h[i]):.5g} (the extra nats paid "
                f"for coding p with the model q); yours is {float(got[i]):.5g}.{note}"
            )
    expect_reduced(got, hpq - h, "kl_divergence(p, q) against H(p, q) - H(p)", case)


@check(KL, "is >= 0, and exactly 0 for q = p", two_case("none"))
def kl_nonnegative(case, you, ref):
    got = expect_tensor(call(you, "kl_divergence", case, "p", "q").value, "kl_divergence(p, q)")
    _, atol = tolerance(case.dtype)
    if got.shape == without(case["p"].shape, case["dim"]) and (got < -10 * atol).any():
        bad = first_bad(got < -10 * atol)
        raise Mismatch(
            f"kl_divergence(p, q) = {float(got[tuple(bad)]):.4g}{at(bad)} is negative; KL(p || q) >= 0 "
            "(Gibbs' inequality), with equality only at q = p. Check the sign: sum p ln(p / q), "
            "not p ln(q / p)"
        )
    same = Case({"p": case["p"], "q": case["p"], "dim": case["dim"]}, case.dtype)
    got = call(you, "kl_divergence", same, "p", "q").value
    expect_reduced(
        got,
        torch.zeros(without(case["p"].shape, case["dim"]), dtype=torch.float64),
        "kl_divergence(p, p) (a distribution is 0 nats from itself)",
        same,
    )


pair_checks(kl_divergence, "kl_divergence", "+inf where q = 0 < p; terms with p = 0 add nothing (no NaN)")


# -- code length in bits -----------------------------------------------------------------------
@st.composite
def sequence_case(draw, zeros: bool = True) -> Case:
    """A model's distributions probs (T, V) and the tokens that occurred (T,)."""
    T, V = draw(st.integers(1, 8)), draw(st.integers(1, 6))
    seed = draw(seeds)
    z = draw(st.sampled_from([0.0, 0.0, 0.4])) if zeros else 0.0
    probs = distribution(seed, (T, V), -1, z, draw(peaks))
    g = torch.Generator().manual_seed(seed + 1)
    if z and draw(st.booleans()):  # the tokens the model expects: every one has probability > 0
        tokens = torch.multinomial(probs, 1, generator=g).squeeze(-1)
    else:
        tokens = torch.randint(0, V, (T,), generator=g)
    return Case({"probs": probs, "tokens": tokens}, draw(dtypes))


def bits(api, probs: torch.Tensor, tokens: torch.Tensor, **kw):
    return api.call("information.code_length_bits", probs, tokens, **kw)


def expect_bits(got, want: torch.Tensor, name: str, dtype: torch.dtype, T: int) -> None:
    """A 0-d result against the float64 `want`, saying what a ratio of ln 2 or 1/T means."""
    got = expect_tensor(got, name)
    if got.dim() != 0:
        raise Mismatch(
            f"{name}: shape {tuple(got.shape)}, expected a 0-d tensor (shape ()): the total over all "
            "positions, one number (index probs[t, tokens[t]], one entry per position)",
            "shape",
        )
    g, w = float(got), float(want)
    known = [(math.log(2), "that is in nats: code lengths are in bits, use log2 (torch.log2)")]
    if T > 1:
        mean = f"that is the average over the T={T} positions; the code length of a sequence is the sum"
        known.append((1 / T, mean))
    for ratio, why in known:
        if math.isfinite(w) and abs(w) > 1e-6 and math.isclose(g, w * ratio, rel_tol=1e-3):
            raise Mismatch(f"{name} = {g:.6g}, expected {w:.6g}; yours is {ratio:.4g} times it: {why}")
    expect_close(got, want, name, dtype=dtype)


code_length = recurring.declare(
    BITS,
    lambda api, case, f64=False, **kw: bits(
        api, case.f64("probs") if f64 else case.as_dtype("probs"), case["tokens"], **kw
    ),
    compare=lambda got, want, case: expect_bits(
        got, want, "code_length_bits(probs, tokens)", case.dtype, len(case["tokens"])
    ),
    grads=on_simplex(["probs"], dim=-1),
)
code_length.matches(
    "matches the reference (float32 and float64, tokens of probability 0 give inf)", sequence_case()
)


@st.composite
def uniform_model(draw) -> Case:
    T, V = draw(st.integers(1, 10)), draw(st.integers(2, 16))
    g = torch.Generator().manual_seed(draw(seeds))
    return Case(
        {
            "probs": torch.full((T, V), 1.0 / V, dtype=torch.float64),
            "tokens": torch.randint(0, V, (T,), generator=g),
        },
        draw(dtypes),
    )


@check(BITS, "a uniform model over V symbols costs T * log2 V bits", uniform_model(), weight=0.5)
def bits_uniform(case, you, ref):
    T, V = case["probs"].shape
    got = bits(you, case.as_dtype("probs"), case["tokens"]).value
    want = torch.tensor(T * math.log2(V), dtype=torch.float64)
    expect_bits(
        got,
        want,
        f"code_length_bits for T={T} tokens under the uniform model over V={V} symbols (expected T * log2 V)",
        case.dtype,
        T,
    )


@check(
    BITS,
    "adds up: two pieces of a sequence cost the whole sequence's bits",
    sequence_case(zeros=False).filter(lambda c: len(c["tokens"]) >= 2),
)
def bits_additive(case, you, ref):
    probs, tokens = case.as_dtype("probs"), case["tokens"]
    T = len(tokens)
    cut = T // 2
    whole = expect_tensor(bits(you, probs, tokens).value, "code_length_bits(probs, tokens)")
    head = expect_tensor(
        bits(you, probs[:cut], tokens[:cut]).value, "code_length_bits(probs[:k], tokens[:k])"
    )
    tail = expect_tensor(
        bits(you, probs[cut:], tokens[cut:]).value, "code_length_bits(probs[k:], tokens[k:])"
    )
    for name, x in (("the whole", whole), ("the first piece", head), ("the second piece", tail)):
        if x.dim() != 0:
            raise Mismatch(f"code length of {name}: shape {tuple(x.shape)}, expected a 0-d tensor", "shape")
    rtol, atol = tolerance(case.dtype)
    total = float(head) + float(tail)
    if not math.isclose(float(whole), total, rel_tol=10 * rtol, abs_tol=10 * atol):
        raise Mismatch(
            f"the first {cut} tokens cost {float(head):.6g} bits and the other {T - cut} cost "
            f"{float(tail):.6g}, but the whole sequence of {T} costs {float(whole):.6g}, not their sum "
            f"{total:.6g}. Bits add up along a sequence (-log2 of a product of probabilities is a "
            "sum): sum over positions, do not average, and score probs[t] against tokens[t] only"
        )


@check(
    BITS,
    "is the cross-entropy in bits of one-hot targets: sum_t -log2 probs[t, tokens[t]]",
    sequence_case(zeros=False),
)
def bits_cross_entropy(case, you, ref):
    probs, tokens = case.f64("probs"), case["tokens"]
    T, V = probs.shape
    targets = torch.zeros(T, V, dtype=torch.float64).scatter_(1, tokens[:, None], 1.0)
    nats = ref("information.cross_entropy", targets, probs, dim=-1)  # (T,): -ln probs[t, tokens[t]]
    got = bits(you, case.as_dtype("probs"), tokens).value
    expect_bits(
        got,
        nats.sum() / math.log(2),
        "code_length_bits(probs, tokens) against sum_t H(one_hot(tokens[t]), probs[t]) / ln 2",
        case.dtype,
        T,
    )


code_length.gradients("passes gradients back to probs", sequence_case(zeros=False), weight=0.5)


# -- what a learner's code must survive: exact zeros under autograd, long sequences ----------------
@check(ENTROPY, "its gradient stays finite where a probability is exactly 0", zero_padded_case(), weight=0.5)
def entropy_grads_at_zero(case, you, ref):
    got = call(you, "entropy", case, "p", grad_seed=GRAD_SEED)
    grads = (got.grads or {}).get("args") or [None]
    g = grads[0]
    if isinstance(g, torch.Tensor) and not torch.isfinite(g).all():
        raise Mismatch(
            f"entropy(p)'s gradient is {float(g[~torch.isfinite(g)][0])} where p is exactly 0 "
            f"(p has {case.meta['extra']} zero outcome(s) along dim={case['dim']}): "
            "torch.where(p > 0, p * p.log(), 0) still differentiates p.log() at 0 (inf * 0 = NaN). "
            "Take the log of a safe p instead: torch.where(p > 0, p, 1).log()",
            "grad",
        )


@check(BITS, "stays finite for a long sequence (T = 2000 tokens at probability 0.1)", weight=0.3)
def bits_long(case, you, ref):
    T = 2000
    probs = torch.full((T, 10), 0.1, dtype=torch.float32)
    got = expect_tensor(bits(you, probs, torch.zeros(T, dtype=torch.long)).value, "code_length_bits")
    want = T * math.log2(10)
    if got.numel() != 1 or not math.isclose(float(got), want, rel_tol=1e-4):
        raise Mismatch(
            f"code_length_bits of {T} tokens each of probability 0.1 is {float(got.reshape(-1)[0]):.6g}, "
            f"expected {want:.6g} bits: a product of {T} probabilities underflows to 0 long before its "
            "log is taken. Sum the log2s of the probabilities instead",
            "values",
        )
