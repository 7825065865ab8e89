"""Day 16: multi-head attention."""

from torch import Tensor, nn

from .attention import scaled_dot_product_attention


class MultiHeadAttention(nn.Module):
    """Multi-head attention with learned projections W_q, W_k, W_v and output projection W_o.

    You may build on your own `scaled_dot_product_attention` (already imported above from
    `.attention`), or write the attention inline.

    From scratch: do not use `nn.MultiheadAttention`, `F.multi_head_attention_forward` or
    `F.scaled_dot_product_attention`.
    """

    def __init__(self, d_model: int, num_heads: int, bias: bool = False):
        """Create the four projections.

        Args:
            d_model: width of the input and output features.
            num_heads: h, the number of heads; each head works on d_k = d_model // h features.
            bias: whether the four linear maps have a bias.

        Must create exactly these submodules, each `nn.Linear(d_model, d_model, bias=bias)`:
        `self.W_q`, `self.W_k`, `self.W_v` (the query, key and value projections) and `self.W_o`
        (the output projection applied after the heads are concatenated).

        Raises:
            ValueError: when d_model is not divisible by num_heads (say both numbers in the
                message).
        """
        super().__init__()
        raise NotImplementedError

    def forward(
        self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Attend from `x` to itself (context=None) or to `context` (cross-attention).

        Args:
            x: float tensor (B, T, d_model); the queries are projected from it.
            context: optional float tensor (B, S, d_model); when given, keys and values are
                projected from it, otherwise from `x` (then S = T).
            mask: optional bool tensor broadcastable to (B, h, T, S), e.g. (T, S) from
                `causal_mask` or (B, 1, 1, S) from `padding_mask`. True = may attend; applied
                to the scores before the softmax.

        Returns:
            out: (B, T, d_model), the concatenated head outputs passed through W_o.
            weights: (B, h, T, S), the attention weights of every head (rows sum to 1).

        Head i uses features [i*d_k, (i+1)*d_k) of the projected queries, keys and values, and
        head i's output fills features [i*d_k, (i+1)*d_k) of the input to W_o. Works for float32
        and float64, returns the input's dtype and device, and keeps autograd working.
        """
        raise NotImplementedError
