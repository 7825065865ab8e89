"""An encoder-decoder whose decoder sees the source only through one context vector."""

import torch
from torch import Tensor, nn


class Seq2Seq(nn.Module):
    def __init__(self, src_vocab: int, tgt_vocab: int, d_emb: int, d_hidden: int):
        super().__init__()
        self.src_emb = nn.Embedding(src_vocab, d_emb)
        self.encoder = nn.GRU(d_emb, d_hidden, batch_first=True)
        self.tgt_emb = nn.Embedding(tgt_vocab, d_emb)
        # Every decoder step reads its input token's embedding and the context, side by side.
        self.decoder = nn.GRU(d_emb + d_hidden, d_hidden, batch_first=True)
        self.out = nn.Linear(d_hidden, tgt_vocab)

    def encode(self, src: Tensor) -> Tensor:
        _, h_n = self.encoder(self.src_emb(src))  # h_n: (1, B, H), the state after the last token
        # Only the final hidden state leaves the encoder: whatever the decoder will know about
        # the source must fit in these d_hidden numbers, however long the source is.
        return h_n[0]  # (B, H)

    def decode(self, context: Tensor, tgt_in: Tensor) -> Tensor:
        B, T = tgt_in.shape
        emb = self.tgt_emb(tgt_in)  # (B, T, E)
        # The context is fed again at every step, so it does not fade from the decoder's state.
        ctx = context[:, None, :].expand(B, T, context.size(-1))  # (B, T, H)
        # The decoder starts from the context: its initial hidden state is h_0 = context.
        h_0 = context[None].contiguous()  # (1, B, H), the layout nn.GRU expects
        outputs, _ = self.decoder(torch.cat([emb, ctx], dim=-1), h_0)  # (B, T, H)
        return self.out(outputs)  # (B, T, tgt_vocab)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        # The context is the only path from the source to the logits: the bottleneck that
        # attention removes by letting the decoder look at every encoder state.
        return self.decode(self.encode(src), tgt_in)
