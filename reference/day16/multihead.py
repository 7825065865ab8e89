"""Multi-head attention built on scaled dot-product attention."""

from torch import Tensor, nn

from .attention import scaled_dot_product_attention


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, bias: bool = False):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(
                f"d_model ({d_model}) must be divisible by num_heads ({num_heads})"
            )
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        # One full-width projection per role; the heads are slices of its output features.
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)

    def forward(
        self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        B, T, C = x.shape
        # Queries always come from x; keys and values come from x itself (self-attention)
        # or from another sequence, e.g. the encoder output (cross-attention).
        source = x if context is None else context
        S = source.size(1)
        h, d_k = self.num_heads, self.d_k

        # Split the features into h heads of d_k (head i owns features [i*d_k, (i+1)*d_k)),
        # then move the head axis next to the batch axis so that attention runs on every
        # (batch, head) pair at once. A bare view to (B, h, T, d_k) would mix positions.
        q = self.W_q(x).view(B, T, h, d_k).transpose(1, 2)  # (B, h, T, d_k)
        k = self.W_k(source).view(B, S, h, d_k).transpose(1, 2)  # (B, h, S, d_k)
        v = self.W_v(source).view(B, S, h, d_k).transpose(1, 2)  # (B, h, S, d_k)

        # A mask of shape (T, S), (B, 1, 1, S) or (B, 1, T, S) broadcasts over the heads.
        out, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, h, T, d_k), (B, h, T, S)

        # Put the heads back side by side: (B, T, h, d_k), then concatenate to (B, T, C).
        # transpose leaves a non-contiguous tensor, which view cannot reshape without a copy.
        out = out.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, d_model)
        # W_o mixes what the heads found; without it each head's output stays in its own slice.
        return self.W_o(out), weights
