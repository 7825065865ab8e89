"""The Day 9 embeddings reference against PyTorch's own routines, and the word table the analogy
check ships against the generator that made it.

Every comparison with an oracle is done in float64.
"""

import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from quizgrader.analysis import diagnosis
from quizgrader.sandbox.loader import import_from

ROOT = Path(__file__).resolve().parents[1]
DT = torch.float64


emb_ref = import_from(ROOT / "reference", "_ref_day09_embeddings_tests", "day09.embeddings")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- the shipped word table ------------------------------------------------------------------
# Twelve interpretable axes. A word is the sum of its attributes (each with a fixed size along
# its axis) plus a little Gaussian noise, so "king - man + woman" lands next to "queen" by
# construction; eight distractor words are pure noise of a larger spread.
AXES = (
    "person",
    "royal",
    "gender",
    "young",
    "plural",
    "place",
    "capital",
    "france",
    "italy",
    "germany",
    "japan",
    "spain",
)
SIZE = {
    "person": 1.0,
    "royal": 1.0,
    "male": 0.8,
    "female": -0.8,
    "young": 0.8,
    "plural": 0.8,
    "place": 1.0,
    "capital": 0.8,
}
PEOPLE = {
    "man": ["male"],
    "woman": ["female"],
    "boy": ["male", "young"],
    "girl": ["female", "young"],
    "king": ["royal", "male"],
    "queen": ["royal", "female"],
    "prince": ["royal", "male", "young"],
    "princess": ["royal", "female", "young"],
}
PLURALS = {"man": "men", "woman": "women", "boy": "boys", "girl": "girls", "king": "kings", "queen": "queens"}
CAPITALS = {"france": "paris", "italy": "rome", "germany": "berlin", "japan": "tokyo", "spain": "madrid"}
DISTRACTORS = ("apple", "bread", "cloud", "green", "music", "river", "seven", "table")
SEED, NOISE, SPREAD = 9, 0.05, 0.5


def attributes() -> dict[str, list[str]]:
    words = {w: ["person", *attrs] for w, attrs in PEOPLE.items()}
    words |= {PLURALS[w]: [*words[w], "plural"] for w in PLURALS}
    for country, city in CAPITALS.items():
        words[country] = ["place", country]
        words[city] = ["place", "capital", country]
    return words


def make_table() -> str:
    """The text of quizgrader/days/day09/analogy_embeddings.txt."""
    rng = random.Random(SEED)
    rows = []
    for word, attrs in attributes().items():
        vec = [rng.gauss(0.0, NOISE) for _ in AXES]
        for attr in attrs:
            axis = "gender" if attr in ("male", "female") else attr
            vec[AXES.index(axis)] += SIZE.get(attr, 1.0)
        rows.append((word, vec))
    rows += [(word, [rng.gauss(0.0, SPREAD) for _ in AXES]) for word in DISTRACTORS]
    header = [
        "# A small word-embedding table for the analogy check (one word per line, then its vector).",
        "# Axes: " + " ".join(AXES) + ".",
        "# Each word is the sum of its attributes (person 1, royal 1, male +0.8 / female -0.8 on the",
        "# gender axis, young 0.8, plural 0.8, place 1, capital 0.8, its country 1) plus Gaussian noise",
        f"# of sd {NOISE}. The distractors ({', '.join(DISTRACTORS)})",
        f"# are noise of sd {SPREAD}.",
        f"# Made by make_table() in tests/test_reference_day09_embeddings.py (random.Random({SEED})).",
    ]
    return (
        "\n".join(header + [f"{w} " + " ".join(f"{round(v, 3) + 0.0:.3f}" for v in vec) for w, vec in rows])
        + "\n"
    )


def test_the_shipped_table_is_what_the_generator_makes():
    from importlib import resources

    shipped = resources.files("quizgrader.days.day09").joinpath("analogy_embeddings.txt")
    assert shipped.read_text(encoding="utf-8") == make_table()


# -- one_hot -------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 1, 4)])
def test_one_hot_matches_f_one_hot(shape):
    C = 6
    indices = torch.randint(0, C, shape, generator=gen(1))
    got = emb_ref.one_hot(indices, C)
    assert got.dtype == torch.get_default_dtype()
    torch.testing.assert_close(got, F.one_hot(indices, C).to(torch.get_default_dtype()))


def test_one_hot_follows_the_default_dtype():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert emb_ref.one_hot(torch.tensor([0, 2]), 3).dtype == torch.float64
    finally:
        torch.set_default_dtype(previous)


def test_one_hot_times_a_matrix_is_a_row_lookup():
    W = torch.randn(5, 3, generator=gen(2))
    indices = torch.tensor([[4, 0], [2, 2]])
    torch.testing.assert_close(emb_ref.one_hot(indices, 5) @ W, W[indices])
    torch.testing.assert_close(emb_ref.one_hot(indices, 5) @ W, torch.nn.functional.embedding(indices, W))


@pytest.mark.parametrize("bad", [[0, 3], [-1, 1], [7]])
def test_one_hot_rejects_indices_out_of_range(bad):
    with pytest.raises(ValueError):
        emb_ref.one_hot(torch.tensor(bad), 3)


# -- cosine_similarity -----------------------------------------------------------------------------
BROADCASTS = [  # (shape of a, shape of b, dim)
    ((4, 6), (4, 6), -1),
    ((4, 6), (6,), -1),
    ((6,), (3, 6), 1),  # dim counts in the broadcast shape
    ((3, 1, 5), (4, 5), -1),  # all pairs: (3, 4)
    ((2, 5, 3), (2, 5, 3), 1),  # the vectors along a middle axis
    ((3, 1), (3, 4), -1),  # a length-1 axis stretched along dim
    ((1, 4), (5, 4), 0),
]


@pytest.mark.parametrize("a_shape, b_shape, dim", BROADCASTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cosine_matches_f_cosine_similarity(a_shape, b_shape, dim, dtype):
    a = torch.randn(a_shape, generator=gen(3), dtype=dtype)
    b = torch.randn(b_shape, generator=gen(4), dtype=dtype)
    got = emb_ref.cosine_similarity(a, b, dim=dim)
    assert got.dtype == dtype
    torch.testing.assert_close(got, F.cosine_similarity(a, b, dim=dim))


@pytest.mark.parametrize(
    "a_norm, b_norm",
    [(0.0, 1.0), (0.0, 0.0), (1e-9, 1.0), (1e-9, 1e-3), (1e-5, 1e-5), (1e-7, 1e-9), (1e3, 1e-6)],
)
def test_cosine_floors_each_norm_at_eps_as_torch_does(a_norm, b_norm):
    a = F.normalize(torch.randn(3, 4, generator=gen(5), dtype=DT), dim=-1) * a_norm
    b = F.normalize(torch.randn(3, 4, generator=gen(6), dtype=DT), dim=-1) * b_norm
    got = emb_ref.cosine_similarity(a, b)
    assert not got.isnan().any()
    torch.testing.assert_close(got, F.cosine_similarity(a, b, dim=-1))


def test_cosine_gradients():
    a = torch.randn(3, 4, generator=gen(7), dtype=DT, requires_grad=True)
    b = torch.randn(4, generator=gen(8), dtype=DT, requires_grad=True)
    assert torch.autograd.gradcheck(emb_ref.cosine_similarity, (a, b))
    a2, b2 = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    emb_ref.cosine_similarity(a, b).sum().backward()
    F.cosine_similarity(a2, b2, dim=-1).sum().backward()
    torch.testing.assert_close(a.grad, a2.grad)
    torch.testing.assert_close(b.grad, b2.grad)


# -- analogy -------------------------------------------------------------------------------------
def brute_force_analogy(emb: torch.Tensor, a: int, b: int, c: int) -> int:
    target = emb[b] - emb[a] + emb[c]
    scored = [
        (F.cosine_similarity(emb[i], target, dim=0).item(), i) for i in range(len(emb)) if i not in (a, b, c)
    ]
    return max(scored)[1]


def test_the_shipped_table_solves_the_checked_analogies():
    from quizgrader.days.day09.checks.embeddings import ANALOGIES, word_table

    words, table = word_table()
    assert words == tuple(attributes()) + DISTRACTORS and table.shape == (len(words), len(AXES))
    row = {w: i for i, w in enumerate(words)}
    for dtype in (torch.float32, torch.float64):
        for a, b, c, expected in ANALOGIES:
            got = emb_ref.analogy(table.to(dtype), row[a], row[b], row[c])
            assert isinstance(got, int) and words[got] == expected, (a, b, c, words[got])


@pytest.mark.parametrize("seed", range(10))
def test_analogy_matches_a_brute_force_search(seed):
    V, d = 9, 4
    emb = torch.randn(V, d, generator=gen(seed), dtype=DT)
    g = random.Random(seed)
    a, b, c = (g.randrange(V) for _ in range(3))
    before = emb.clone()
    got = emb_ref.analogy(emb, a, b, c)
    assert got == brute_force_analogy(emb, a, b, c) and got not in (a, b, c)
    assert torch.equal(emb, before)


def test_analogy_leaves_out_the_query_even_when_it_is_nearest():
    emb = torch.tensor([[1.0, 0.0], [1.0, 1.0], [3.0, 0.0], [3.0, 3.0], [0.0, -1.0]], dtype=DT)
    # man : king :: woman : ?, target [3, 1]: king and man (0.949) beat queen (0.894)
    assert emb_ref.analogy(emb, 0, 2, 1) == 3


# -- the known mistakes ----------------------------------------------------------------------------
MISTAKES = [m for m in diagnosis.mistakes("day09") if m.file == "day09/embeddings.py"]


def test_at_least_five_mistakes_over_the_module():
    assert len(MISTAKES) >= 5
    assert {m.exercise.rsplit(".", 1)[1] for m in MISTAKES} == {"one_hot", "cosine_similarity", "analogy"}
