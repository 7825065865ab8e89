"""The Day 16 reference against PyTorch's own implementations, and the mistake catalogue against
the reference.

The reference is loaded straight from its folder as a package, so nothing has to be installed
and its relative imports work. Every comparison with an oracle is done in float64.
"""

import importlib
import importlib.util
import inspect
import re
import sys
import tomllib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from quizgrader.catalog import load_day

ROOT = Path(__file__).resolve().parents[1]
MISTAKES_FILE = ROOT / "quizgrader" / "days" / "day16" / "mistakes.toml"
DAY16 = load_day("day16")
DAY16_MODULES = tuple(dict.fromkeys(e.module.split(".")[1] for e in DAY16.exercises))
DT = torch.float64


def load_package(name: str, folder: Path) -> dict:
    """Import `folder` as a package called `name`; return its Day 16 submodules by short name."""
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return {m: importlib.import_module(f"{name}.{m}") for m in DAY16_MODULES}


def unload(name: str) -> None:
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


REF = load_package("_ref_day16", ROOT / "reference" / "day16")
attention, masks, multihead = REF["attention"], REF["masks"], REF["multihead"]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape, g, dtype=DT):
    return torch.randn(*shape, generator=g, dtype=dtype)


def random_mask(*shape, g):
    """A random bool mask whose rows always keep key 0 (no empty rows)."""
    m = torch.rand(*shape, generator=g) > 0.5
    m[..., 0] = True
    return m


# --- softmax ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_matches_torch(dim):
    x = randn(4, 5, 6, g=gen(1))
    torch.testing.assert_close(attention.softmax(x, dim=dim), torch.softmax(x, dim=dim))


def test_softmax_default_dim_is_last():
    x = randn(3, 7, g=gen(2))
    torch.testing.assert_close(attention.softmax(x), torch.softmax(x, dim=-1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softmax_large_logits_and_minus_inf(dtype):
    inf = float("inf")
    x = torch.tensor(
        [
            [1e4, -1e4, 0.0],
            [-1e4, -1e4, -1e4],
            [1e4, 1e4, -inf],
            [-inf, 2.0, -inf],
            [-12.5, 18.75, -10.0],
        ],
        dtype=dtype,
    )
    out = attention.softmax(x)
    assert out.dtype == dtype
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.softmax(x, dim=-1))
    assert (out[x == -inf] == 0).all()


def test_softmax_does_not_modify_input():
    x = randn(3, 4, g=gen(3))
    before = x.clone()
    attention.softmax(x)
    assert torch.equal(x, before)


def test_softmax_gradcheck():
    x = randn(3, 5, g=gen(4)).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: attention.softmax(t, dim=-1), (x,))
    assert torch.autograd.gradcheck(lambda t: attention.softmax(t, dim=0), (x,))


# --- scaled dot-product attention ------------------------------------------------------------


@pytest.mark.parametrize(
    "lead, T_q, T_k, d_k, d_v",
    [((2,), 4, 6, 8, 5), ((2, 3), 5, 5, 4, 4), ((2, 3, 2), 3, 7, 6, 2), ((1,), 1, 1, 3, 2)],
)
def test_sdpa_matches_torch_without_mask(lead, T_q, T_k, d_k, d_v):
    g = gen(5)
    Q, K, V = randn(*lead, T_q, d_k, g=g), randn(*lead, T_k, d_k, g=g), randn(*lead, T_k, d_v, g=g)
    out, weights = attention.scaled_dot_product_attention(Q, K, V)
    assert out.shape == (*lead, T_q, d_v) and weights.shape == (*lead, T_q, T_k)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(Q, K, V))
    expected = torch.softmax(Q @ K.transpose(-2, -1) / d_k**0.5, dim=-1)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(out, weights @ V)


def test_sdpa_without_leading_dims():
    g = gen(6)
    Q, K, V = randn(4, 3, g=g), randn(6, 3, g=g), randn(6, 2, g=g)
    out, weights = attention.scaled_dot_product_attention(Q, K, V)
    expected = torch.softmax(Q @ K.T / 3**0.5, dim=-1)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(out, expected @ V)


@pytest.mark.parametrize("mask_shape", ["TqTk", "B11Tk", "B1TqTk", "causal"])
def test_sdpa_matches_torch_with_bool_mask(mask_shape):
    g = gen(7)
    B, h, T_q, T_k, d_k, d_v = 2, 3, 5, 5, 4, 6
    Q, K, V = randn(B, h, T_q, d_k, g=g), randn(B, h, T_k, d_k, g=g), randn(B, h, T_k, d_v, g=g)
    mask = {
        "TqTk": lambda: random_mask(T_q, T_k, g=g),
        "B11Tk": lambda: random_mask(B, 1, 1, T_k, g=g),
        "B1TqTk": lambda: random_mask(B, 1, T_q, T_k, g=g),
        "causal": lambda: masks.causal_mask(T_q),
    }[mask_shape]()
    out, weights = attention.scaled_dot_product_attention(Q, K, V, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(Q, K, V, attn_mask=mask))
    mask = mask.expand(B, h, T_q, T_k)
    assert (weights[~mask] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, h, T_q, dtype=DT))


def test_sdpa_rectangular_mask():
    g = gen(8)
    Q, K, V = randn(2, 3, 4, g=g), randn(2, 7, 4, g=g), randn(2, 7, 5, g=g)
    mask = random_mask(2, 3, 7, g=g)
    out, _ = attention.scaled_dot_product_attention(Q, K, V, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(Q, K, V, attn_mask=mask))


def test_sdpa_float32_keeps_dtype_and_inputs():
    g = gen(9)
    Q, K, V = (randn(2, 4, 3, g=g, dtype=torch.float32) for _ in range(3))
    copies = [t.clone() for t in (Q, K, V)]
    out, weights = attention.scaled_dot_product_attention(Q, K, V, masks.causal_mask(4))
    assert out.dtype == weights.dtype == torch.float32
    assert all(torch.equal(a, b) for a, b in zip((Q, K, V), copies))


def test_sdpa_gradcheck():
    g = gen(10)
    Q, K, V = (randn(2, 3, 4, g=g).requires_grad_() for _ in range(3))
    mask = masks.causal_mask(3)
    sdpa = attention.scaled_dot_product_attention
    assert torch.autograd.gradcheck(sdpa, (Q, K, V))
    assert torch.autograd.gradcheck(lambda q, k, v: sdpa(q, k, v, mask), (Q, K, V))


# --- additive attention ----------------------------------------------------------------------


def additive_inputs(g, B=3, T=5, d_q=4, d_k=6, d_v=2, d_a=7):
    return {
        "query": randn(B, d_q, g=g),
        "keys": randn(B, T, d_k, g=g),
        "values": randn(B, T, d_v, g=g),
        "W_q": randn(d_a, d_q, g=g),
        "W_k": randn(d_a, d_k, g=g),
        "v": randn(d_a, g=g),
    }


def additive_oracle(query, keys, values, W_q, W_k, v, mask=None):
    q = torch.einsum("ad,bd->ba", W_q, query)
    k = torch.einsum("ad,btd->bta", W_k, keys)
    hidden = torch.tanh(q[:, None] + k)
    e = torch.einsum("bta,a->bt", hidden, v)
    if mask is not None:
        e = torch.where(mask, e, torch.tensor(float("-inf"), dtype=e.dtype))
    w = torch.softmax(e, dim=-1)
    return torch.einsum("bt,btd->bd", w, values), w


def test_additive_matches_formula():
    args = additive_inputs(gen(11))
    context, weights = attention.additive_attention(**args)
    assert context.shape == (3, 2) and weights.shape == (3, 5)
    expected_context, expected_weights = additive_oracle(**args)
    torch.testing.assert_close(context, expected_context)
    torch.testing.assert_close(weights, expected_weights)


def test_additive_with_mask():
    g = gen(12)
    args = additive_inputs(g)
    mask = random_mask(3, 5, g=g)
    context, weights = attention.additive_attention(**args, mask=mask)
    expected_context, expected_weights = additive_oracle(**args, mask=mask)
    torch.testing.assert_close(context, expected_context)
    torch.testing.assert_close(weights, expected_weights)
    assert (weights[~mask] == 0).all()


def test_additive_gradients_reach_every_input():
    args = {k: t.requires_grad_() for k, t in additive_inputs(gen(13)).items()}
    context, _ = attention.additive_attention(**args)
    context.sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in args.values())


# --- masks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("T", [1, 2, 5])
def test_causal_mask(T):
    m = masks.causal_mask(T)
    assert m.dtype == torch.bool and m.shape == (T, T)
    assert torch.equal(m, torch.tril(torch.ones(T, T)).bool())
    assert masks.causal_mask(T, device="cpu").device.type == "cpu"


def test_padding_mask():
    tokens = torch.tensor([[5, 3, 0, 0], [1, 2, 3, 0]])
    m = masks.padding_mask(tokens)
    assert m.dtype == torch.bool and m.shape == (2, 1, 1, 4)
    assert m[:, 0, 0].tolist() == [[True, True, False, False], [True, True, True, False]]
    other = masks.padding_mask(tokens, pad_id=3)[:, 0, 0]
    assert other.tolist() == [[True, False, True, True], [True, True, False, True]]


# --- multi-head attention --------------------------------------------------------------------


def paired_mha(d_model, h, seed):
    """The reference MHA and an nn.MultiheadAttention holding the same weights."""
    torch.manual_seed(seed)
    ours = multihead.MultiHeadAttention(d_model, h).to(DT)
    theirs = nn.MultiheadAttention(d_model, h, bias=False, batch_first=True, dtype=DT)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight, ours.W_v.weight]))
        theirs.out_proj.weight.copy_(ours.W_o.weight)
    return ours, theirs


def test_mha_submodules_and_parameter_count():
    m = multihead.MultiHeadAttention(16, 4)
    for name in ("W_q", "W_k", "W_v", "W_o"):
        layer = getattr(m, name)
        assert isinstance(layer, nn.Linear) and layer.weight.shape == (16, 16)
        assert layer.bias is None
    assert sum(p.numel() for p in m.parameters()) == 4 * 16**2
    with_bias = multihead.MultiHeadAttention(16, 4, bias=True)
    assert sum(p.numel() for p in with_bias.parameters()) == 4 * 16**2 + 4 * 16


def test_mha_rejects_indivisible_width():
    with pytest.raises(ValueError) as info:
        multihead.MultiHeadAttention(10, 3)
    assert re.search(r"\b10\b", str(info.value)) and re.search(r"\b3\b", str(info.value))


@pytest.mark.parametrize("causal", [False, True])
def test_mha_self_attention_matches_torch(causal):
    ours, theirs = paired_mha(12, 3, seed=14)
    x = randn(2, 5, 12, g=gen(15))
    mask = masks.causal_mask(5) if causal else None
    out, weights = ours(x, mask=mask)
    assert out.shape == (2, 5, 12) and weights.shape == (2, 3, 5, 5)
    t_mask = None if mask is None else ~mask  # torch's bool attn_mask marks what is *forbidden*
    t_out, t_avg = theirs(x, x, x, attn_mask=t_mask, need_weights=True, average_attn_weights=True)
    _, t_heads = theirs(x, x, x, attn_mask=t_mask, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(out, t_out)
    torch.testing.assert_close(weights.mean(dim=1), t_avg)
    torch.testing.assert_close(weights, t_heads)


def test_mha_cross_attention_with_padding_matches_torch():
    ours, theirs = paired_mha(8, 2, seed=16)
    g = gen(17)
    x, context = randn(3, 4, 8, g=g), randn(3, 6, 8, g=g)
    tokens = torch.tensor([[4, 5, 6, 0, 0, 0], [1, 2, 3, 4, 5, 6], [7, 0, 0, 0, 0, 0]])
    for mask in (None, masks.padding_mask(tokens)):
        out, weights = ours(x, context=context, mask=mask)
        assert out.shape == (3, 4, 8) and weights.shape == (3, 2, 4, 6)
        kpm = None if mask is None else ~mask[:, 0, 0]
        t_out, t_heads = theirs(x, context, context, key_padding_mask=kpm, average_attn_weights=False)
        torch.testing.assert_close(out, t_out)
        torch.testing.assert_close(weights, t_heads)


def test_mha_gradients_reach_every_parameter_and_input():
    m = multihead.MultiHeadAttention(8, 2).to(DT)
    g = gen(18)
    x, context = randn(2, 3, 8, g=g).requires_grad_(), randn(2, 5, 8, g=g).requires_grad_()
    out, _ = m(x, context=context)
    out.pow(2).sum().backward()
    for t in (x, context, *m.parameters()):
        assert t.grad is not None and t.grad.abs().sum() > 0


# --- the learner stubs mirror the reference --------------------------------------------------

STUBS = load_package("_stub_day16", ROOT / "exercises" / "day16")
CASES = [(e.module.split(".")[1], e.name) for e in DAY16.exercises]


@pytest.mark.parametrize("module, name", CASES)
def test_stub_has_reference_signature_and_documents_every_argument(module, name):
    ref, stub = getattr(REF[module], name), getattr(STUBS[module], name)
    callables = [(ref, stub)]
    if inspect.isclass(ref):
        callables = [
            (getattr(ref, m), getattr(stub, m))
            for m in vars(ref)
            if not m.startswith("_") and callable(getattr(ref, m))
        ] + [(ref.__init__, stub.__init__)]
    for r, s in callables:
        assert inspect.signature(r) == inspect.signature(s)
        for param in inspect.signature(s).parameters:
            if param != "self":
                assert param in (s.__doc__ or ""), f"{name}: docstring does not mention {param}"


def test_stubs_raise_not_implemented():
    g = gen(19)
    x = randn(2, 3, g=g)
    with pytest.raises(NotImplementedError):
        STUBS["attention"].softmax(x)
    with pytest.raises(NotImplementedError):
        STUBS["attention"].scaled_dot_product_attention(x, x, x)
    with pytest.raises(NotImplementedError):
        STUBS["attention"].additive_attention(**additive_inputs(g))
    with pytest.raises(NotImplementedError):
        STUBS["masks"].causal_mask(3)
    with pytest.raises(NotImplementedError):
        STUBS["masks"].padding_mask(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(NotImplementedError):
        STUBS["multihead"].MultiHeadAttention(8, 2)
    for call in (
        lambda: STUBS["positional"].sinusoidal_encoding(4, 8),
        lambda: STUBS["positional"].LearnedPositionalEmbedding(4, 8),
        lambda: STUBS["positional"].apply_rope(randn(3, 4, g=g)),
        lambda: STUBS["positional"].alibi_slopes(4),
        lambda: STUBS["positional"].alibi_bias(4, 3),
    ):
        with pytest.raises(NotImplementedError):
            call()


# --- the mistake catalogue -------------------------------------------------------------------

MISTAKES = tomllib.loads(MISTAKES_FILE.read_text())["mistake"]


def test_mistake_catalogue_is_well_formed():
    ids = [m["id"] for m in MISTAKES]
    assert len(ids) == len(set(ids)) and len(ids) >= 18
    for m in MISTAKES:
        assert set(m) == {"id", "exercise", "summary", "why", "edits"}, m["id"]
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", m["id"])
        day, module, name = m["exercise"].split(".")
        assert day == "day16" and hasattr(REF[module], name), m["id"]
        assert m["summary"].strip() and m["why"].strip() and m["edits"]
        text = (ROOT / "reference" / day / f"{module}.py").read_text()
        for edit in m["edits"]:
            assert text.count(edit["old"]) == 1, f"{m['id']}: {edit['old']!r} is not unique"
            assert edit["old"] != edit["new"]
