"""Boolean attention masks (True = may attend)."""

import torch
from torch import Tensor


def causal_mask(seq_len: int, device: torch.device | str | None = None) -> Tensor:
    # Row i is query position i: it may look at keys 0..i (itself and the past), never ahead.
    return torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool, device=device))  # (T, T)


def padding_mask(tokens: Tensor, pad_id: int = 0) -> Tensor:
    # Padding hides keys, not queries: the mask varies along the last (key) axis only and
    # broadcasts over heads and query positions, so no query ever gives weight to a pad.
    return (tokens != pad_id)[:, None, None, :]  # (B, 1, 1, T)
