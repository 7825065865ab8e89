"""The position-wise feed-forward network, the Pre-LN / Post-LN transformer block and the
encoder-decoder decoder block."""

from torch import Tensor, nn

from .multihead import MultiHeadAttention


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int | None = None, activation: str = "gelu"):
        super().__init__()
        if activation not in ("gelu", "relu"):
            raise ValueError(f"activation must be 'gelu' or 'relu', got {activation!r}")
        # The usual 4x expansion: most of a block's parameters (and its per-token "memory") live
        # here, in a wide hidden layer that every position passes through on its own.
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.fc1 = nn.Linear(d_model, d_ff)
        # Exact erf GELU: nn.GELU() with its default approximate="none".
        self.act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.fc2 = nn.Linear(d_ff, d_model)

    def forward(self, x: Tensor) -> Tensor:
        # Acts on the last dim only: no information moves between positions here.
        return self.fc2(self.act(self.fc1(x)))  # (..., d_model) -> (..., d_ff) -> (..., d_model)


class TransformerBlock(nn.Module):
    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int | None = None,
        pre_ln: bool = True,
        activation: str = "gelu",
    ):
        super().__init__()
        self.pre_ln = pre_ln
        self.attn = MultiHeadAttention(d_model, num_heads, bias=False)
        self.ff = FeedForward(d_model, d_ff, activation)
        self.ln1 = nn.LayerNorm(d_model)
        self.ln2 = nn.LayerNorm(d_model)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # x: (B, T, d_model)
        if self.pre_ln:
            # Pre-LN (GPT-2 and later): normalise only what enters each sublayer. The residual
            # stream itself is never normalised, so x + ... is an identity path from the input to
            # the output and gradients reach early layers undiminished; trains without warmup.
            x = x + self.attn(self.ln1(x), mask=mask)[0]
            x = x + self.ff(self.ln2(x))
        else:
            # Post-LN (the 2017 paper): normalise after each residual addition. Every gradient
            # passes through the LayerNorms on the way down, which is why deep Post-LN stacks
            # need learning-rate warmup.
            x = self.ln1(x + self.attn(x, mask=mask)[0])
            x = self.ln2(x + self.ff(x))
        return x  # (B, T, d_model)


class DecoderBlock(nn.Module):
    def __init__(
        self, d_model: int, num_heads: int, d_ff: int | None = None, activation: str = "gelu"
    ):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, bias=False)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, bias=False)
        self.ff = FeedForward(d_model, d_ff, activation)
        self.ln1 = nn.LayerNorm(d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ln3 = nn.LayerNorm(d_model)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        self_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
    ) -> Tensor:  # x: (B, T, d_model), memory: (B, S, d_model)
        # 1. The target attends to itself (causally, through self_mask, when decoding).
        x = x + self.self_attn(self.ln1(x), mask=self_mask)[0]
        # 2. Cross-attention: queries from the target, keys and values from the encoder output.
        # The memory is not normalised here: the encoder's own final LayerNorm has done that.
        x = x + self.cross_attn(self.ln2(x), context=memory, mask=memory_mask)[0]
        # 3. The position-wise feed-forward network.
        x = x + self.ff(self.ln3(x))
        return x  # (B, T, d_model)
