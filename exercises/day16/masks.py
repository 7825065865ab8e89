"""Day 16: boolean attention masks.

Masks follow the convention of `scaled_dot_product_attention`: bool, True = may attend, and
broadcastable to the score shape (..., T_q, T_k).
"""

import torch
from torch import Tensor


def causal_mask(seq_len: int, device: torch.device | str | None = None) -> Tensor:
    """Mask that lets position i attend to positions 0..i only (itself and the past).

    Args:
        seq_len: T, the sequence length.
        device: where to create the mask (None = the default device).

    Returns:
        Bool tensor (T, T) on `device`: entry [i, j] is True iff j <= i (on and below the
        diagonal), so row i is query position i and column j is key position j.
    """
    raise NotImplementedError


def padding_mask(tokens: Tensor, pad_id: int = 0) -> Tensor:
    """Mask that hides padding tokens when they are used as keys.

    Args:
        tokens: integer tensor (B, T) of token ids.
        pad_id: the id used for padding.

    Returns:
        Bool tensor (B, 1, 1, T) on the device of `tokens`: entry [b, 0, 0, j] is True iff
        `tokens[b, j] != pad_id`. The singleton dims broadcast over heads and query positions,
        so the result can be passed directly as the mask of multi-head attention.
    """
    raise NotImplementedError
