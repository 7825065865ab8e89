"""Checks for day09/embeddings.py: one-hot vectors, cosine similarity and word analogies."""

from __future__ import annotations

import math
from functools import cache
from importlib import resources

import torch
from hypothesis import strategies as st

from quizgrader.checks import recurring
from quizgrader.checks.api import LearnerError
from quizgrader.checks.compare import Mismatch, advice, describe, expect_close, expect_tensor
from quizgrader.checks.registry import check
from quizgrader.checks.strategies import Case, dtypes, randn, seeds

PACKAGE = "quizgrader.days.day09"  # where the word table is shipped

ONE_HOT = "day09.embeddings.one_hot"
COSINE = "day09.embeddings.cosine_similarity"
ANALOGY = "day09.embeddings.analogy"


# -- one_hot -----------------------------------------------------------------------------------
@st.composite
def index_case(draw, bad: bool = False) -> Case:
    """indices of any shape (including 0-d) in [0, C); with `bad`, one of them out of range."""
    shape = tuple(draw(st.lists(st.integers(1, 4), max_size=3)))
    C = draw(st.integers(1, 7))
    g = torch.Generator().manual_seed(draw(seeds))
    indices = torch.randint(0, C, shape, generator=g)
    if bad:
        wrong = draw(st.sampled_from([C, C + 3, -1]))
        flat = indices.reshape(-1).clone()
        flat[draw(st.integers(0, flat.numel() - 1))] = wrong
        indices = flat.reshape(shape)
    return Case({"indices": indices, "C": C})


def one_hot_of(api, case: Case) -> torch.Tensor:
    """The learner's one-hot tensor, after the shape and dtype stages."""
    indices, C = case["indices"], case["C"]
    name = f"one_hot(indices of shape {tuple(indices.shape)}, num_classes={C})"
    got = expect_tensor(api("embeddings.one_hot", indices, C), name)
    want = tuple(indices.shape) + (C,)
    if tuple(got.shape) != want:
        raise Mismatch(
            f"{name}: shape {tuple(got.shape)}, expected {want}: the indices' shape with a new last axis "
            "of length num_classes (compare indices[..., None] with torch.arange(num_classes))",
            "shape",
        )
    default = torch.get_default_dtype()
    if got.dtype != default:
        raise Mismatch(
            f"{name}: dtype {str(got.dtype).removeprefix('torch.')}, expected "
            f"{str(default).removeprefix('torch.')} (torch.get_default_dtype()): one-hot vectors "
            "meet float weights (one_hot(i) @ W), so they are floats, not the indices' integer "
            "dtype",
            "dtype",
        )
    return got


@check(
    ONE_HOT, "matches the reference: shape (..., C), the default float dtype, any leading dims", index_case()
)
def one_hot_matches(case, you, ref):
    got = one_hot_of(you, case)
    want = ref("embeddings.one_hot", case["indices"], case["C"])
    expect_close(got, want, "one_hot(indices, num_classes)")


@check(ONE_HOT, "one_hot(i) @ W is row i of W (what an embedding lookup computes)", index_case(), weight=0.5)
def one_hot_lookup(case, you, ref):
    got = one_hot_of(you, case)
    W = randn(7, case["C"], 3).to(torch.get_default_dtype())
    expect_close(got @ W, W[case["indices"]], "one_hot(indices, C) @ W (must equal the lookup W[indices])")


@check(ONE_HOT, "an index outside [0, num_classes) raises an error", index_case(bad=True), weight=0.5)
def one_hot_range(case, you, ref):
    indices, C = case["indices"], case["C"]
    try:
        got = you("embeddings.one_hot", indices, C)
    except LearnerError as e:
        if e.not_implemented:
            raise
        return
    bad = [int(i) for i in indices.reshape(-1) if not 0 <= int(i) < C]
    raise Mismatch(
        f"one_hot(indices, num_classes={C}) with the index {bad[0]} returned {describe(got)} instead of "
        f"raising: an index must lie in [0, {C}). A silent all-zero row hides the caller's bug "
        "(raise a ValueError)",
        "raises",
    )


# -- cosine_similarity -------------------------------------------------------------------------
@st.composite
def cosine_case(draw, zeros: str = "some") -> Case:
    """a and b broadcastable to a common shape of 1 to 3 dims; `dim` an axis of that shape
    (counted from the front or the back). zeros: "none", "some" (sometimes a few of a's vectors
    are 0) or "always" (at least one of a's vectors is 0)."""
    common = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    axis = draw(st.integers(0, len(common) - 1))
    common[axis] = draw(st.integers(1, 6))
    n = len(common)
    dim = axis if draw(st.booleans()) else axis - n
    seed = draw(seeds)
    shapes = [
        [1 if i != axis and draw(st.integers(0, 3)) == 0 else s for i, s in enumerate(common)]
        for _ in range(2)
    ]
    shorter = draw(st.integers(0, 1))  # one of them may leave out leading axes (broadcasting adds them)
    shapes[shorter] = shapes[shorter][draw(st.integers(0, axis)) :]
    a = randn(seed, *shapes[0], scale=draw(st.sampled_from([1.0, 0.1, 10.0])))
    b = randn(seed + 1, *shapes[1])
    if zeros == "always" or (zeros == "some" and draw(st.booleans())):
        g = torch.Generator().manual_seed(seed + 2)
        a_axis = axis - (n - a.dim())
        hole = torch.rand(a.shape[:a_axis] + (1,) + a.shape[a_axis + 1 :], generator=g) < 0.5
        if zeros == "always":
            hole.view(-1)[0] = True
        a = a.masked_fill(hole, 0.0)
    return Case({"a": a, "b": b, "dim": dim}, draw(dtypes))


def cosine(api, case: Case, f64: bool = False, **kw):
    get = case.f64 if f64 else case.as_dtype
    return api.call("embeddings.cosine_similarity", get("a"), get("b"), dim=case["dim"], **kw)


def expect_cosine(got, want: torch.Tensor, case: Case, name: str = "") -> torch.Tensor:
    a, b, dim = case["a"], case["b"], case["dim"]
    name = name or f"cosine_similarity(a {tuple(a.shape)}, b {tuple(b.shape)}, dim={dim})"
    got = expect_tensor(got, name)
    if tuple(got.shape) != tuple(want.shape):
        common = tuple(torch.broadcast_shapes(a.shape, b.shape))
        raise Mismatch(
            f"{name}: shape {tuple(got.shape)}, expected {tuple(want.shape)}: a and b broadcast to "
            f"{common}, and dim={dim} names an axis of that common shape, which the result drops",
            "shape",
        )
    return expect_close(got, want, name, dtype=case.dtype)


cosine_similarity = recurring.declare(COSINE, cosine, wrt=["a", "b"], compare=expect_cosine)
cosine_similarity.matches(
    "matches the reference (float32 and float64, any dim, broadcasting, zero vectors)", cosine_case()
)


@check(
    COSINE, "a zero vector has similarity 0 with everything (no NaN)", cosine_case(zeros="always"), weight=0.5
)
def cosine_zero_vectors(case, you, ref):
    got = expect_tensor(cosine(you, case).value, "cosine_similarity(a, b)")
    want = cosine(ref, case, f64=True).value
    if got.shape == want.shape and torch.isnan(got).any():
        raise Mismatch(
            "cosine_similarity(a, b) is NaN where a is a zero vector: 0 / (0 * |b|) is 0 / 0. Floor each "
            "norm at eps = 1e-8 before dividing (max(|a|, eps)), so a zero vector gives 0",
            "nan",
        )
    expect_cosine(got, want, case)


# Pairs of lengths for a and b: short ones (below 1e-5) make a wrongly placed eps show.
LENGTHS = st.sampled_from([(1e-6, 1e-6), (1e-6, 1.0), (1e-5, 1e-5), (1e3, 1e-4), (1.0, 1e3)])


@check(
    COSINE,
    "is blind to length: short (1e-6) and long (1e3) vectors give the exact cosine",
    st.tuples(cosine_case(zeros="none"), LENGTHS),
)
def cosine_scale(pair, you, ref):
    case, (s, t) = pair
    n = len(torch.broadcast_shapes(case["a"].shape, case["b"].shape))
    axis = case["dim"] % n

    def unit(x: torch.Tensor) -> torch.Tensor:  # each vector scaled to length 1 along dim
        return x / torch.linalg.vector_norm(x, dim=axis - (n - x.dim()), keepdim=True)

    a, b = unit(case["a"]), unit(case["b"])
    want = cosine(ref, Case({"a": a, "b": b, "dim": case["dim"]}, case.dtype), f64=True).value
    scaled = Case({"a": a * s, "b": b * t, "dim": case["dim"]}, case.dtype)
    got = expect_tensor(cosine(you, scaled).value, "cosine_similarity(a, b)")
    with advice(
        "Scaling a vector does not change its direction, so the cosine must not change. eps = 1e-8 only "
        "floors each norm on its own, max(|a|, eps) * max(|b|, eps): adding eps to a norm, or flooring "
        "the product |a| |b| at eps, changes the result for short vectors"
    ):
        expect_cosine(
            got,
            want,
            scaled,
            f"cosine_similarity(a, b) for |a| = {s:g} and |b| = {t:g}, against the "
            "cosine of the same directions at length 1",
        )


@st.composite
def broadcast_case(draw) -> Case:
    """Broadcasting the way F.cosine_similarity does: a (d,) against b (N, d) with dim counted
    from the front of the common shape, or a vector of length 1 along dim stretched to d."""
    N, d, seed = draw(st.integers(1, 4)), draw(st.integers(2, 6)), draw(seeds)
    if draw(st.booleans()):
        a, b, dim = randn(seed, d), randn(seed + 1, N, d), 1
    else:
        a, b, dim = randn(seed, N, 1), randn(seed + 1, N, d), -1
    if draw(st.booleans()):
        a, b = b, a
    return Case({"a": a, "b": b, "dim": dim}, draw(dtypes))


@check(
    COSINE,
    "broadcasts first: dim is an axis of the common shape, and a length-1 axis is stretched",
    broadcast_case(),
    weight=0.5,
)
def cosine_broadcast(case, you, ref):
    try:
        got = cosine(you, case).value
    except LearnerError as e:
        if e.not_implemented:
            raise
        raise Mismatch(
            f"cosine_similarity(a {tuple(case['a'].shape)}, b {tuple(case['b'].shape)}, dim={case['dim']}) "
            f"raised {e.info['type']}: {e.info['message'][:200]}. dim names an axis of the broadcast shape "
            "of a and b: broadcast them first (torch.broadcast_tensors), then take the norms"
        ) from None
    expect_cosine(got, cosine(ref, case, f64=True).value, case)


cosine_similarity.gradients("passes gradients back to a and b", cosine_case(zeros="none"), weight=0.5)


# -- analogy -----------------------------------------------------------------------------------
# "a is to b as c is to ?" on the word table shipped in quizgrader/days/day09/analogy_embeddings.txt.
ANALOGIES = (
    ("man", "king", "woman", "queen"),
    ("man", "woman", "king", "queen"),
    ("woman", "queen", "man", "king"),
    ("man", "boy", "woman", "girl"),
    ("boy", "prince", "girl", "princess"),
    ("king", "kings", "queen", "queens"),
    ("man", "men", "woman", "women"),
    ("girl", "girls", "boy", "boys"),
    ("france", "paris", "italy", "rome"),
    ("germany", "berlin", "japan", "tokyo"),
    ("spain", "madrid", "germany", "berlin"),
    ("paris", "france", "tokyo", "japan"),
)


@cache
def word_table() -> tuple[tuple[str, ...], torch.Tensor]:
    """The shipped table: the words and their vectors (V, d), float64."""
    text = resources.files(PACKAGE).joinpath("analogy_embeddings.txt").read_text(encoding="utf-8")
    rows = [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return tuple(r[0] for r in rows), torch.tensor(
        [[float(x) for x in r[1:]] for r in rows], dtype=torch.float64
    )


def answer(api, emb: torch.Tensor, a: int, b: int, c: int) -> int:
    got = api("embeddings.analogy", emb, a, b, c)
    if (
        isinstance(got, torch.Tensor)
        and got.dim() == 0
        and not got.is_floating_point()
        and got.dtype != torch.bool
    ):
        got = int(got)
    if isinstance(got, bool) or not isinstance(got, int):
        raise Mismatch(
            f"analogy(emb, {a}, {b}, {c}) returned {describe(got)}; return the row index as a Python "
            "int (e.g. int(scores.argmax()))",
            "type",
        )
    if not 0 <= got < emb.shape[0]:
        raise Mismatch(
            f"analogy(emb, {a}, {b}, {c}) returned {got}, which is not a row of emb (V = {emb.shape[0]}): "
            "the answer is a row index, so the argmax runs over the V rows",
            "values",
        )
    return got


@check(
    ANALOGY,
    "solves classic analogies on a word table (king - man + woman = queen, paris - france + "
    "italy = rome, ...)",
)
def analogy_word_table(case, you, ref):
    words, table = word_table()
    row = {w: i for i, w in enumerate(words)}
    for dtype in (torch.float32, torch.float64):
        emb = table.to(dtype)
        for a, b, c, expected in ANALOGIES:
            got = answer(you, emb, row[a], row[b], row[c])
            if got != row[expected]:
                raise Mismatch(
                    f"{a} is to {b} as {c} is to ...: analogy(emb, {row[a]}, {row[b]}, {row[c]}) answered "
                    f"{words[got]!r} (row {got}), expected {expected!r} (row {row[expected]}), "
                    "the row most similar "
                    f"by cosine to emb[{b}] - emb[{a}] + emb[{c}] ({b} - {a} + {c}) "
                    f"once {a}, {b} and {c} are left "
                    f"out ({str(dtype).removeprefix('torch.')} table of "
                    "quizgrader/days/day09/analogy_embeddings.txt)"
                )


@st.composite
def table_case(draw) -> Case:
    V, d, seed = draw(st.integers(4, 10)), draw(st.integers(2, 6)), draw(seeds)
    a, b, c = (draw(st.integers(0, V - 1)) for _ in range(3))
    return Case({"emb": randn(seed, V, d), "a": a, "b": b, "c": c}, draw(dtypes))


@check(ANALOGY, "matches the reference on random tables", table_case())
def analogy_matches(case, you, ref):
    emb, a, b, c = case.as_dtype("emb"), case["a"], case["b"], case["c"]
    got = answer(you, emb, a, b, c)
    want = answer(ref, case.f64("emb"), a, b, c)
    if got == want:
        return
    emb64 = case.f64("emb")
    scores = ref("embeddings.cosine_similarity", emb64, emb64[b] - emb64[a] + emb64[c])  # (V,)
    if got not in (a, b, c) and float(scores[want] - scores[got]) < 1e-5:
        return  # a tie up to rounding: either row is a right answer
    shown = ", ".join(f"{i}: {float(s):.3f}" for i, s in enumerate(scores))
    raise Mismatch(
        f"analogy(emb, a={a}, b={b}, c={c}) answered row {got}, expected row {want}. The cosine of each "
        f"row with emb[b] - emb[a] + emb[c] is {{{shown}}}: the answer is the highest one among the rows "
        "other than a, b and c"
    )


@st.composite
def near_query_case(draw) -> Case:
    """A table where the target emb[b] - emb[a] + emb[c] lies almost on b or on c (a ≈ c or a ≈ b),
    as it often does with real embeddings: only the exclusion keeps them from being the answer."""
    V, d, seed = draw(st.integers(5, 10)), draw(st.integers(3, 6)), draw(seeds)
    a, b, c = draw(st.permutations(range(V)))[:3]
    emb = randn(seed, V, d)
    twin = c if draw(st.booleans()) else b
    emb[twin] = emb[a] + 0.01 * randn(seed + 1, d)
    return Case({"emb": emb, "a": a, "b": b, "c": c}, draw(dtypes))


@check(ANALOGY, "never answers a, b or c, even when the target lies on one of them", near_query_case())
def analogy_excludes_queries(case, you, ref):
    a, b, c = case["a"], case["b"], case["c"]
    got = answer(you, case.as_dtype("emb"), a, b, c)
    if got in (a, b, c):
        which = {a: "a", b: "b", c: "c"}[got]
        raise Mismatch(
            f"analogy(emb, a={a}, b={b}, c={c}) answered row {got}, which is {which}, one of the query "
            "words. Here emb[b] - emb[a] + emb[c] lies almost on a query word (as king - man + woman "
            "often lies closest to king itself), so leave a, b and c out before taking the argmax "
            "(set their scores to -inf)"
        )
    expect_same_answer(got, answer(ref, case.f64("emb"), a, b, c), case)


@st.composite
def direction_case(draw) -> Case:
    """A table where the nearest row by cosine, by Euclidean distance and by dot product differ:
    `far` points exactly along the target but is 4 times as long; `near` is the closest point
    but 27 degrees off; `big` is 40 degrees off and 10 times as long (the largest dot product)."""
    d, seed, extra = draw(st.integers(4, 6)), draw(seeds), draw(st.integers(0, 3))
    g = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    t, u, w = basis[:, 0], basis[:, 1], basis[:, 2]  # orthonormal: the target and two other directions
    a = 0.5 * w + 0.3 * basis[:, 3]
    c = -0.5 * t + 0.6 * u
    b = t + a - c  # so that b - a + c = t
    rows = {
        "a": a,
        "b": b,
        "c": c,
        "far": 4.0 * t,  # cosine 1, distance 3, dot 4
        "near": t + 0.5 * u,  # cosine 0.89, distance 0.5, dot 1
        "big": 10.0 * (math.cos(0.7) * t + math.sin(0.7) * w),
    }  # cosine 0.76, dot 7.6
    for i in range(extra):  # rows pointing away from the target
        rows[f"other{i}"] = -t + randn(seed + 1 + i, d) * 0.3
    names = draw(st.permutations(list(rows)))
    emb = torch.stack([rows[n] for n in names])
    return Case(
        {"emb": emb, "a": names.index("a"), "b": names.index("b"), "c": names.index("c")},
        draw(dtypes),
        {"rows": {n: names.index(n) for n in ("far", "near", "big")}},
    )


@check(
    ANALOGY, "ranks rows by cosine (direction), not by Euclidean distance or dot product", direction_case()
)
def analogy_uses_cosine(case, you, ref):
    a, b, c, rows = case["a"], case["b"], case["c"], case.meta["rows"]
    got = answer(you, case.as_dtype("emb"), a, b, c)
    if got == rows["near"]:
        raise Mismatch(
            f"analogy answered row {got}, the row nearest to emb[b] - emb[a] + emb[c] in Euclidean "
            f"distance; row {rows['far']} points in exactly the target's direction (cosine 1) but is 4 "
            "times as long. Analogies compare directions: rank by cosine similarity"
        )
    if got == rows["big"]:
        raise Mismatch(
            f"analogy answered row {got}, the row with the largest dot product with the target: it is 10 "
            f"times as long but 40 degrees off, while row {rows['far']} points exactly along the target. "
            "A dot product rewards long vectors; divide by both norms (cosine similarity)"
        )
    expect_same_answer(got, rows["far"], case)


def expect_same_answer(got: int, want: int, case: Case) -> None:
    if got != want:
        raise Mismatch(
            f"analogy(emb, a={case['a']}, b={case['b']}, c={case['c']}) answered row {got}, expected "
            f"row {want}: the row with the highest cosine similarity to emb[b] - emb[a] + emb[c], "
            "among the rows other than a, b and c"
        )


@check(ONE_HOT, "follows the default dtype: float64 when that is torch's default", index_case(), weight=0.3)
def one_hot_default_dtype(case, you, ref):
    indices, C = case["indices"], case["C"]
    got = you.tool("under_default_dtype", "embeddings.one_hot", dtype="float64", args=[indices, C])
    got = expect_tensor(got, f"one_hot(indices, {C}) under torch.set_default_dtype(torch.float64)")
    if got.dtype != torch.float64:
        raise Mismatch(
            f"with torch.set_default_dtype(torch.float64), one_hot(indices, {C}) returned "
            f"{str(got.dtype).removeprefix('torch.')}: the contract's dtype is the default one, "
            "torch.get_default_dtype(), not float32 written out",
            "dtype",
        )


@check(ANALOGY, "returns a Python int, as the contract's -> int says", table_case(), weight=0.3)
def analogy_returns_int(case, you, ref):
    emb, a, b, c = case.as_dtype("emb"), case["a"], case["b"], case["c"]
    got = you("embeddings.analogy", emb, a, b, c)
    if isinstance(got, bool) or not isinstance(got, int):
        raise Mismatch(
            f"analogy(emb, {a}, {b}, {c}) returned {describe(got)}; the contract returns the row as a "
            "Python int (int(scores.argmax())): a tensor is not a row number a caller can index a "
            "vocabulary list with",
            "type",
        )
