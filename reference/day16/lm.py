"""A decoder-only (GPT-style) language model and sampling from it."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .block import TransformerBlock
from .masks import causal_mask
from .positional import LearnedPositionalEmbedding, sinusoidal_encoding

POSITIONAL = ("learned", "sinusoidal", "none")


class DecoderLM(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        num_heads: int,
        num_layers: int,
        max_len: int,
        d_ff: int | None = None,
        pre_ln: bool = True,
        positional: str = "learned",
    ):
        super().__init__()
        if positional not in POSITIONAL:
            raise ValueError(f"positional must be one of {POSITIONAL}, got {positional!r}")
        self.max_len = max_len
        self.pre_ln = pre_ln
        self.positional = positional
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = LearnedPositionalEmbedding(max_len, d_model) if positional == "learned" else None
        if positional == "sinusoidal":
            # A fixed table, not a parameter: non-persistent, so it follows .to(device) but stays
            # out of the state_dict (it can always be recomputed).
            self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, num_heads, d_ff, pre_ln=pre_ln, activation="gelu")
            for _ in range(num_layers)
        )
        # Pre-LN blocks leave the residual stream unnormalised, so one last LayerNorm is needed
        # before the head. Post-LN blocks already end in a LayerNorm: ln_f exists but is unused.
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)

    def forward(self, tokens: Tensor) -> Tensor:  # tokens: (B, T) long
        T = tokens.size(1)
        if T > self.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len {self.max_len}")
        x = self.tok_emb(tokens)  # (B, T, d_model)
        if self.pos_emb is not None:
            x = self.pos_emb(x)
        elif self.positional == "sinusoidal":
            x = x + self.pe[:T].to(x.dtype)  # (T, d) broadcasts over the batch
        # With "none" the only hint of position is the causal mask itself: position t sees t + 1
        # tokens, which is enough for a decoder to work out where it is.
        mask = causal_mask(T, device=tokens.device)  # (T, T), broadcasts over batch and heads
        for block in self.blocks:
            x = block(x, mask=mask)
        if self.pre_ln:
            x = self.ln_f(x)
        return self.lm_head(x)  # (B, T, vocab) logits

    @torch.no_grad()
    def generate(
        self,
        prompt: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        tokens = prompt  # (B, T0) long
        for _ in range(max_new_tokens):
            # The model has positions 0 .. max_len-1 only: keep the most recent max_len tokens.
            context = tokens[:, -self.max_len :]
            logits = self(context)[:, -1, :]  # (B, vocab), the prediction for the next token
            if temperature == 0:
                next_token = logits.argmax(dim=-1, keepdim=True)  # (B, 1), greedy
            else:
                # T < 1 sharpens the distribution, T > 1 flattens it.
                logits = logits / temperature
                if top_k is not None:
                    # Keep the k largest logits per row; ties with the k-th largest survive too.
                    kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = F.softmax(logits, dim=-1)  # (B, vocab)
                next_token = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
            tokens = torch.cat([tokens, next_token], dim=1)
        return tokens  # (B, T0 + max_new_tokens)
