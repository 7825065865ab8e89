"""Day 9: an encoder-decoder (seq2seq) with a single context vector.

The encoder reads the whole source and hands the decoder one fixed-size vector, the context.
Everything the decoder knows about the source has to pass through those d_hidden numbers: that
is the bottleneck attention later removes.

Conventions: token tensors are int64 (long) and batch first; every source in a batch has the
same length S (no padding). Works for float32 and float64 (after `model.to(dtype)`), on any
device; keeps autograd working (gradients reach every parameter and the context).
"""

import torch  # noqa: F401 - for your solution
from torch import Tensor, nn


class Seq2Seq(nn.Module):
    """GRU encoder, GRU decoder, and nothing between them but the context vector.

    Using `nn.GRU` and `nn.Embedding` is allowed: the exercise is the architecture, not the
    recurrence.
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, d_emb: int, d_hidden: int):
        """Create exactly these submodules (the grader loads weights by these names):

            src_emb: nn.Embedding(src_vocab, d_emb)
            encoder: nn.GRU(d_emb, d_hidden, batch_first=True)
            tgt_emb: nn.Embedding(tgt_vocab, d_emb)
            decoder: nn.GRU(d_emb + d_hidden, d_hidden, batch_first=True)
            out:     nn.Linear(d_hidden, tgt_vocab)

        One layer each, unidirectional, default biases, no padding_idx.
        """
        super().__init__()
        raise NotImplementedError

    def encode(self, src: Tensor) -> Tensor:
        """Read the source; return the context.

        Args:
            src: Int[Tensor, "B S"], source token ids in [0, src_vocab).

        Returns:
            context: Float[Tensor, "B d_hidden"], the encoder's final hidden state (its state
            after the last source token, the h_n that nn.GRU returns, without the leading
            layer axis). Its size does not depend on S.
        """
        raise NotImplementedError

    def decode(self, context: Tensor, tgt_in: Tensor) -> Tensor:
        """Run the decoder over the target inputs (teacher forcing) from a context.

        Args:
            context: Float[Tensor, "B d_hidden"], as returned by `encode`.
            tgt_in: Int[Tensor, "B T"], the decoder's input tokens, already shifted by the
                caller (a start token, then the target without its last token). Step t reads
                tgt_in[:, t] and predicts the target token at t; do not shift it again.

        Returns:
            logits: Float[Tensor, "B T tgt_vocab"].

        The decoder GRU starts from the context (its initial hidden state h_0 is the context,
        shaped (1, B, d_hidden) as nn.GRU wants it), and at every step its input is the token's
        embedding concatenated with the context: cat([tgt_emb(tgt_in[:, t]), context], -1), in
        that order. Its outputs go through `out`.

        `decode` must depend on its arguments only (and the weights): it may not use anything
        kept from an earlier `encode` call, such as the encoder's per-step outputs.
        """
        raise NotImplementedError

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """logits = decode(encode(src), tgt_in): Float[Tensor, "B T tgt_vocab"].

        The context is the decoder's only view of the source.
        """
        raise NotImplementedError
