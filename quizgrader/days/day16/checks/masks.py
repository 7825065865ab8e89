"""Checks for day16/masks.py: the causal and the padding mask."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from quizgrader.checks.compare import Mismatch, expect_close, expect_dtype, expect_shape, expect_tensor
from quizgrader.checks.registry import check
from quizgrader.checks.strategies import Case, randn, seeds

CAUSAL = "day16.masks.causal_mask"
PADDING = "day16.masks.padding_mask"

lengths = st.integers(1, 12)


def causal_of(api, T: int, device: str | None) -> torch.Tensor:
    return api("masks.causal_mask", T, device=device) if device else api("masks.causal_mask", T)


@check(
    CAUSAL,
    "matches the reference: bool (T, T), True on and below the diagonal",
    st.tuples(lengths, st.sampled_from([None, "cpu"])),
)
def causal_matches(case, you, ref):
    T, device = case
    got = expect_tensor(causal_of(you, T, device), "mask")
    expect_shape(got, (T, T), "mask")
    expect_dtype(got, torch.bool, "mask")
    expect_close(got, ref("masks.causal_mask", T), "mask")


@check(CAUSAL, "every position may attend to itself", lengths)
def causal_diagonal(T, you, ref):
    got = expect_tensor(you("masks.causal_mask", T), "mask")
    expect_shape(got, (T, T), "mask")
    diag = got.to(torch.bool).diagonal()
    if not diag.all():
        i = int((~diag).nonzero()[0])
        raise Mismatch(
            f"mask[{i}, {i}] is False: position {i} cannot attend to itself (row {i} then has "
            f"{int(got[i].to(torch.bool).sum())} allowed keys); the diagonal belongs to the past"
        )


@check(
    CAUSAL,
    "causal through attention: later tokens never change earlier outputs",
    st.tuples(st.integers(2, 10), seeds),
)
def causal_through_attention(case, you, ref):
    T, seed = case
    mask = expect_tensor(you("masks.causal_mask", T), "mask")
    expect_shape(mask, (T, T), "mask")
    mask = mask.to(torch.bool)
    x = randn(seed, 1, T, 4)
    y = x.clone()
    y[:, -1] += 10.0  # change only the last token
    out_x = ref("attention.scaled_dot_product_attention", x, x, x, mask=mask)[0]
    out_y = ref("attention.scaled_dot_product_attention", y, y, y, mask=mask)[0]
    moved = (out_x[:, :-1] - out_y[:, :-1]).abs().amax(-1)[0]
    if moved.max() > 1e-9:
        first = int((moved > 1e-9).nonzero()[0])
        raise Mismatch(
            f"with your mask, changing the last token changes the output at position {first}: "
            f"row {first} of the mask lets it see a later position"
        )


@st.composite
def tokens_case(draw) -> Case:
    B, T = draw(st.integers(1, 4)), draw(st.integers(1, 10))
    pad_id = draw(st.sampled_from([0, 1, 3]))
    g = torch.Generator().manual_seed(draw(seeds))
    tokens = torch.randint(0, 5, (B, T), generator=g)
    return Case({"tokens": tokens, "pad_id": pad_id})


@check(PADDING, "matches the reference: bool (B, 1, 1, T), True where tokens != pad_id", tokens_case())
def padding_matches(case, you, ref):
    got = expect_tensor(you("masks.padding_mask", case["tokens"], pad_id=case["pad_id"]), "mask")
    want = ref("masks.padding_mask", case["tokens"], pad_id=case["pad_id"])
    expect_shape(got, want.shape, "mask")
    expect_dtype(got, torch.bool, "mask")
    expect_close(got, want, "mask")


@check(PADDING, "hides padding keys from every query and head in attention", tokens_case())
def padding_through_attention(case, you, ref):
    tokens, pad_id = case["tokens"].clone(), case["pad_id"]
    tokens[:, 0] = pad_id + 1  # one real key per row at least: inside the contract
    keep = tokens != pad_id
    mask = expect_tensor(you("masks.padding_mask", tokens, pad_id=pad_id), "mask")
    B, T = tokens.shape
    Q = randn(1, B, 2, T, 3)  # (B, h, T, d)
    try:
        _, w = ref("attention.scaled_dot_product_attention", Q, Q, Q, mask=mask.to(torch.bool))
    except Exception:  # noqa: BLE001 - the reference only raises on a bad shape
        raise Mismatch(
            f"a mask of shape {tuple(mask.shape)} does not broadcast against attention scores "
            f"(B, h, T, T) = {(B, 2, T, T)}; it should be (B, 1, 1, T)"
        ) from None
    leak = w.masked_fill(keep[:, None, None, :], 0.0).abs().amax()
    if torch.isnan(w).any() or leak > 0:
        raise Mismatch(
            "with your mask, some query still attends to a padding key (or a whole query row is "
            "masked, giving NaN): the mask must vary along the key axis (last dim) only"
        )


@check(
    CAUSAL,
    "honours device: a mask asked for on another device is made there",
    lengths,
    weight=0.3,
    needs=("meta",),
)
def causal_on_device(T, you, ref):
    got = you.tool("on_meta", "masks.causal_mask", args=[T], kwargs={"device": "meta"})
    if got["raised"] is not None or got["devices"] != ["meta"]:
        made = got["raised"] or f"a mask on {got['devices'][0] if got['devices'] else 'no device'}"
        raise Mismatch(
            f"causal_mask({T}, device='meta') gave {made}: pass device= to the tensor you make "
            "(torch.ones(T, T, dtype=torch.bool, device=device)), or the mask lands on the CPU beside "
            "a model on the GPU",
            "device",
        )
