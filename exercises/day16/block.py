"""Day 16: the transformer block — feed-forward network, Pre-LN and Post-LN blocks, and the
decoder block of an encoder-decoder model.

Conventions for every class in this file:
- Batch first: x is (B, T, d_model).
- Masks are bool tensors, True = may attend, broadcastable to the attention scores (B, h, T, S),
  e.g. (T, T) from `causal_mask` or (B, 1, 1, S) from `padding_mask`.
- "gelu" is the exact (erf) GELU: `nn.GELU()` or `F.gelu` with no `approximate="tanh"`.
- No dropout anywhere. Multi-head attention inside the blocks has no biases.
- Works for float32 and float64 (after `.to(dtype)`); returns the input's dtype and device;
  never modifies an input in place; gradients reach every input and parameter.
- The grader loads weights with `load_state_dict`, so the submodule names below are part of the
  exercise: use exactly these names and no extra parameters.

From scratch: do not use `nn.Transformer`, `nn.TransformerEncoderLayer`,
`nn.TransformerDecoderLayer` (or any other `nn.Transformer*`), `nn.MultiheadAttention`,
`F.multi_head_attention_forward` or `F.scaled_dot_product_attention`. Build on your own
`MultiHeadAttention` (imported below from `.multihead`); its forward returns (out, weights).
"""

from torch import Tensor, nn

from .multihead import MultiHeadAttention  # noqa: F401 - yours, to build the blocks on


class FeedForward(nn.Module):
    """The position-wise feed-forward network: fc2(activation(fc1(x))), applied to every
    position on its own."""

    def __init__(self, d_model: int, d_ff: int | None = None, activation: str = "gelu"):
        """Create the two linear maps.

        Args:
            d_model: width of the input and output features.
            d_ff: width of the hidden layer; None means 4 * d_model.
            activation: "gelu" (the exact erf GELU) or "relu".

        Must create exactly these submodules (call `super().__init__()` first):
        `self.fc1 = nn.Linear(d_model, d_ff)` and `self.fc2 = nn.Linear(d_ff, d_model)`, both with
        a bias (the default). A parameterless activation module may be stored too.

        Raises:
            ValueError: when activation is neither "gelu" nor "relu".
        """
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x: float tensor (..., d_model), e.g. (B, T, d_model).

        Returns:
            (..., d_model): fc2(activation(fc1(x))).
        """
        raise NotImplementedError


class TransformerBlock(nn.Module):
    """One transformer (encoder or decoder-only) block: self-attention and a feed-forward network,
    each inside a residual connection with a LayerNorm, in the Pre-LN or the Post-LN arrangement.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int | None = None,
        pre_ln: bool = True,
        activation: str = "gelu",
    ):
        """Create the sublayers.

        Args:
            d_model: width of the residual stream.
            num_heads: number of attention heads (d_model must be divisible by it).
            d_ff: hidden width of the feed-forward network; None means 4 * d_model.
            pre_ln: True for Pre-LN (LayerNorm before each sublayer), False for Post-LN
                (LayerNorm after each residual addition).
            activation: "gelu" or "relu", passed on to FeedForward.

        Must create exactly these submodules (call `super().__init__()` first):
        `self.attn = MultiHeadAttention(d_model, num_heads, bias=False)`,
        `self.ff = FeedForward(d_model, d_ff, activation)`,
        `self.ln1 = nn.LayerNorm(d_model)` and `self.ln2 = nn.LayerNorm(d_model)`.
        """
        raise NotImplementedError

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Apply the block.

        Pre-LN:  x = x + attn(ln1(x));  x = x + ff(ln2(x))
        Post-LN: x = ln1(x + attn(x));  x = ln2(x + ff(x))
        (attn(...) here means the first element, `out`, of what MultiHeadAttention returns.)

        Args:
            x: float tensor (B, T, d_model).
            mask: optional bool mask for the self-attention, broadcastable to (B, h, T, T),
                True = may attend (e.g. `causal_mask(T)` for a decoder-only model).

        Returns:
            (B, T, d_model).
        """
        raise NotImplementedError


class DecoderBlock(nn.Module):
    """The decoder layer of an encoder-decoder transformer, Pre-LN: masked self-attention, then
    cross-attention to the encoder output ("memory"), then a feed-forward network, each inside a
    residual connection."""

    def __init__(
        self, d_model: int, num_heads: int, d_ff: int | None = None, activation: str = "gelu"
    ):
        """Create the sublayers.

        Args:
            d_model: width of the residual stream (and of the memory).
            num_heads: number of attention heads, the same for both attentions.
            d_ff: hidden width of the feed-forward network; None means 4 * d_model.
            activation: "gelu" or "relu", passed on to FeedForward.

        Must create exactly these submodules (call `super().__init__()` first):
        `self.self_attn` and `self.cross_attn`, each
        `MultiHeadAttention(d_model, num_heads, bias=False)`;
        `self.ff = FeedForward(d_model, d_ff, activation)`; and
        `self.ln1`, `self.ln2`, `self.ln3`, each `nn.LayerNorm(d_model)`.
        """
        raise NotImplementedError

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        self_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
    ) -> Tensor:
        """Apply the block:

            x = x + self_attn(ln1(x), mask=self_mask)
            x = x + cross_attn(ln2(x), context=memory, mask=memory_mask)
            x = x + ff(ln3(x))

        The memory enters the cross-attention as it is (no LayerNorm applied to it here).

        Args:
            x: float tensor (B, T, d_model), the target sequence.
            memory: float tensor (B, S, d_model), the encoder output; keys and values of the
                cross-attention are projected from it.
            self_mask: optional bool mask for the self-attention, broadcastable to (B, h, T, T)
                (usually `causal_mask(T)`), True = may attend.
            memory_mask: optional bool mask for the cross-attention, broadcastable to
                (B, h, T, S) (usually a padding mask (B, 1, 1, S) of the source), True = may
                attend.

        Returns:
            (B, T, d_model).
        """
        raise NotImplementedError
