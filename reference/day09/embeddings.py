"""One-hot vectors, cosine similarity, and word analogies by nearest cosine neighbour."""

import torch
from torch import Tensor

EPS = 1e-8  # the smallest norm a vector is divided by (as F.cosine_similarity's default eps)


def one_hot(indices: Tensor, num_classes: int) -> Tensor:
    # A one-hot vector is as wide as the vocabulary and says nothing about which words are alike:
    # any two distinct one-hot vectors are orthogonal. one_hot(i) @ W is row i of W, which is
    # all an embedding lookup does: the dense table replaces the huge sparse product.
    if indices.numel() and (indices.min() < 0 or indices.max() >= num_classes):
        raise ValueError(f"indices must lie in [0, {num_classes}), got values from "
                         f"{int(indices.min())} to {int(indices.max())}")
    classes = torch.arange(num_classes, device=indices.device)  # (C,)
    return (indices[..., None] == classes).to(torch.get_default_dtype())  # (..., C)


def cosine_similarity(a: Tensor, b: Tensor, dim: int = -1) -> Tensor:
    # cos(a, b) = a . b / (|a| |b|): the angle between two vectors, blind to their lengths.
    # Broadcast first, so that `dim` names an axis of the common shape (as in torch).
    a, b = torch.broadcast_tensors(a, b)
    # Each norm is floored at EPS on its own, as F.cosine_similarity does: a zero vector gives a
    # similarity of 0 instead of 0 / 0 = NaN, and any vector longer than EPS is left exact.
    a_norm = torch.linalg.vector_norm(a, dim=dim, keepdim=True).clamp_min(EPS)
    b_norm = torch.linalg.vector_norm(b, dim=dim, keepdim=True).clamp_min(EPS)
    return ((a / a_norm) * (b / b_norm)).sum(dim=dim)  # the common shape without `dim`


def analogy(emb: Tensor, a: int, b: int, c: int) -> int:
    # "a is to b as c is to ?": the offset b - a (e.g. man -> king, "make it royal") applied to c.
    target = emb[b] - emb[a] + emb[c]  # (d,)
    scores = cosine_similarity(emb, target, dim=-1)  # (V,), target broadcast against every row
    # The query words themselves are often the nearest rows to the target (king - man + woman is
    # still close to king), so they are never an answer.
    scores[[a, b, c]] = float("-inf")  # scores is a new tensor: this leaves emb untouched
    return int(scores.argmax())
