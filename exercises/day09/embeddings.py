"""Day 9: embeddings. One-hot vectors, cosine similarity, and word analogies.

Conventions for every function in this file:
- `...` means any number of leading dims, including none.
- Works for float32 and float64; returns tensors on the input's device; never modifies an input
  in place; keeps autograd working (cosine_similarity passes gradients back to a and b).
"""

import torch  # noqa: F401 - for your solution
from torch import Tensor


def one_hot(indices: Tensor, num_classes: int) -> Tensor:
    """One-hot vectors: out[..., k] = 1 where k == indices[...], 0 elsewhere.

    Args:
        indices: Long[Tensor, "..."], class indices, each in [0, num_classes).
        num_classes: C, the width of each one-hot vector.

    Returns:
        Float[Tensor, "... C"], of dtype `torch.get_default_dtype()` (float32 unless changed),
        not an integer dtype, so that `one_hot(i, C) @ W` works on a float weight matrix W (C, d)
        and gives W[i]. The new axis is the last one.

    Raises:
        an error (ValueError, say) when an index is negative or >= num_classes: silently giving
        an all-zero row would hide a bug in the caller.

    From scratch: do not use `F.one_hot`.
    """
    raise NotImplementedError


def cosine_similarity(a: Tensor, b: Tensor, dim: int = -1) -> Tensor:
    """Cosine similarity along `dim`: a . b / (max(|a|, eps) * max(|b|, eps)) with eps = 1e-8.

    Args:
        a: float tensor, broadcastable with b, e.g. (N, d) against (d,) or (N, 1, d) against
            (M, d).
        b: float tensor of the same dtype.
        dim: the axis of the *broadcast* shape that holds the vectors' coordinates.

    Returns:
        Float[Tensor, "..."]: the broadcast shape of a and b with `dim` removed, values in
        [-1, 1]. Each norm is floored at eps on its own (as `F.cosine_similarity` does), so a
        zero vector gives 0, never NaN, and any vector longer than eps gives the exact cosine
        whatever its length.

    From scratch: do not use `F.cosine_similarity` or `nn.CosineSimilarity`.
    """
    raise NotImplementedError


def analogy(emb: Tensor, a: int, b: int, c: int) -> int:
    """Solve "a is to b as c is to ?" with an embedding table.

    The answer is the row whose cosine similarity with emb[b] - emb[a] + emb[c] is the highest,
    leaving out a, b and c themselves. With man, king, woman this asks for
    king - man + woman, which a good table places next to queen.

    Args:
        emb: Float[Tensor, "V d"], one row per word.
        a, b, c: row indices (Python ints) of the three query words.

    Returns:
        The index (a Python int) of the answer, never a, b or c.

    You may use `cosine_similarity` from this file.
    """
    raise NotImplementedError
