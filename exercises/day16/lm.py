"""Day 16: a decoder-only (GPT-style) language model and sampling from it.

The model: token embedding (+ positional information) -> num_layers causal TransformerBlocks ->
final LayerNorm (Pre-LN only) -> a linear head that gives one logit per vocabulary entry.

Conventions:
- tokens are long tensors (B, T), batch first; logits are (B, T, vocab_size).
- Works for float32 and float64 (after `.to(dtype)`); outputs are on the tokens' device.
- The grader loads weights with `load_state_dict`, so the submodule names below are part of the
  exercise: use exactly these names and no other parameters or persistent buffers.

You build on your own `TransformerBlock` (from `.block`), `causal_mask` (from `.masks`) and the
positional encodings (from `.positional`), imported below. From scratch: do not use
`nn.Transformer*`, `nn.MultiheadAttention` or `F.scaled_dot_product_attention`.
"""

import torch
import torch.nn.functional as F  # noqa: F401 - for your solution
from torch import Tensor, nn

from .block import TransformerBlock  # noqa: F401 - yours, to stack
from .masks import causal_mask  # noqa: F401 - yours
from .positional import LearnedPositionalEmbedding, sinusoidal_encoding  # noqa: F401 - yours


class DecoderLM(nn.Module):
    """A decoder-only transformer language model: logits[b, t] predict tokens[b, t + 1]."""

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
        """Create the model.

        Args:
            vocab_size: V, the number of token ids (0 .. V-1).
            d_model: width of the residual stream.
            num_heads: attention heads per block (d_model must be divisible by it).
            num_layers: number of TransformerBlocks.
            max_len: the longest sequence the model accepts (positions 0 .. max_len-1).
            d_ff: hidden width of every feed-forward network; None means 4 * d_model.
            pre_ln: True for Pre-LN blocks (then ln_f is applied before the head), False for
                Post-LN blocks (ln_f exists but is not applied).
            positional: how positions enter the model, added to the token embeddings:
                "learned": `LearnedPositionalEmbedding(max_len, d_model)`;
                "sinusoidal": the fixed table `sinusoidal_encoding(max_len, d_model)` (rows
                0 .. T-1 for a sequence of length T);
                "none": nothing (the causal mask alone tells a position apart).

        Must create exactly these submodules (call `super().__init__()` first):
        - `self.tok_emb = nn.Embedding(vocab_size, d_model)` (its output is not scaled);
        - `self.pos_emb`: `LearnedPositionalEmbedding(max_len, d_model)` when positional is
          "learned", otherwise `None`;
        - `self.blocks = nn.ModuleList` of num_layers
          `TransformerBlock(d_model, num_heads, d_ff, pre_ln=pre_ln, activation="gelu")`;
        - `self.ln_f = nn.LayerNorm(d_model)` (always created);
        - `self.lm_head = nn.Linear(d_model, vocab_size, bias=False)` (its own weight, not tied
          to tok_emb).
        The sinusoidal table must stay out of the state_dict: compute it in forward, or keep it
        as a buffer registered with `persistent=False`.

        Raises:
            ValueError: when positional is not "learned", "sinusoidal" or "none".
        """
        raise NotImplementedError

    def forward(self, tokens: Tensor) -> Tensor:
        """Compute next-token logits for every position.

        Args:
            tokens: long tensor (B, T) of token ids, T <= max_len.

        Returns:
            float tensor (B, T, vocab_size): logits[b, t] scores the token that follows
            tokens[b, :t+1]. Every block gets a causal mask (`causal_mask(T)`), so logits[:, t]
            never depends on tokens after position t.

        Raises:
            ValueError: when T > max_len.
        """
        raise NotImplementedError

    @torch.no_grad()
    def generate(
        self,
        prompt: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Extend `prompt` by max_new_tokens tokens, one at a time (runs without autograd).

        At each step:
        1. context = the last max_len tokens so far (the whole sequence when it is shorter), so a
           prompt longer than max_len works;
        2. logits = self(context)[:, -1, :], the scores for the next token, (B, vocab_size);
        3. temperature == 0: next = argmax of the logits (greedy). Otherwise divide the logits by
           temperature; when top_k is given, set every logit below the k-th largest of its row
           to -inf; then next = `torch.multinomial(softmax(logits), 1, generator=generator)`;
        4. append next to the sequence.

        Args:
            prompt: long tensor (B, T0), T0 >= 1; it may be longer than max_len.
            max_new_tokens: n, the number of tokens to append (0 returns the prompt).
            temperature: > 0 divides the logits (< 1 sharper, > 1 flatter); 0 means greedy.
            top_k: optional int k >= 1; sample only among the k most likely tokens.
            generator: optional torch.Generator passed to torch.multinomial, so that the same
                seed gives the same samples.

        Returns:
            long tensor (B, T0 + max_new_tokens): the prompt followed by the new tokens.
        """
        raise NotImplementedError
