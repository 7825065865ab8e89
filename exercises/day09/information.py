"""Day 9: information theory. Entropy, cross-entropy and KL divergence, and code length in bits.

Conventions for every function in this file:
- Distributions lie along `dim` (the last axis by default): entries >= 0 that sum to 1 there. Any
  other axes are batch axes, e.g. p of shape (B, T, V) holds B*T distributions over V outcomes.
- Natural logarithms: entropy, cross-entropy and KL are in nats (code_length_bits is in bits).
- 0 log 0 = 0: an outcome with probability 0 under p adds nothing, and must not produce NaN
  (0 * log(0) = 0 * -inf is NaN in floating point, so that term needs care).
- Works for float32 and float64; returns tensors on the input's device and dtype; never
  modifies an input in place; keeps autograd working (gradients reach every input where p and q
  are positive).
"""

import torch  # noqa: F401 - for your solution
from torch import Tensor


def entropy(p: Tensor, dim: int = -1) -> Tensor:
    """Shannon entropy H(p) = -sum_i p_i ln p_i, in nats, with 0 ln 0 = 0.

    Args:
        p: float tensor of any shape `(..., K, ...)`: probability distributions along `dim`
            (entries >= 0 summing to 1; some entries may be exactly 0).
        dim: the axis holding the K outcomes.

    Returns:
        Float[Tensor, "..."]: p's shape with `dim` removed; H >= 0, 0 for a certain outcome, and
        ln K for the uniform distribution over K outcomes.

    From scratch: do not use `torch.distributions.Categorical` or `torch.special.entr`.
    """
    raise NotImplementedError


def cross_entropy(p: Tensor, q: Tensor, dim: int = -1) -> Tensor:
    """Cross-entropy H(p, q) = -sum_i p_i ln q_i, in nats: the average surprise of outcomes drawn
    from the true distribution p when scored by the model q.

    Args:
        p: float tensor `(..., K, ...)`, the true distributions along `dim`.
        q: float tensor of the same shape, the model's distributions along `dim`.
        dim: the axis holding the K outcomes.

    Returns:
        Float[Tensor, "..."]: the shape of p with `dim` removed. A term with p_i = 0 is 0 whatever
        q_i is (even q_i = 0); a term with p_i > 0 and q_i = 0 is +inf, and so is the result.

    Note the order: p comes first and weights the terms; q is the one inside the log.
    From scratch: do not use `torch.distributions.Categorical`, `F.cross_entropy` or
    `torch.special.xlogy`.
    """
    raise NotImplementedError


def kl_divergence(p: Tensor, q: Tensor, dim: int = -1) -> Tensor:
    """Kullback-Leibler divergence KL(p || q) = sum_i p_i ln(p_i / q_i), in nats.

    Args:
        p: float tensor `(..., K, ...)`, distributions along `dim` (the "true" one).
        q: float tensor of the same shape, distributions along `dim` (the approximation).
        dim: the axis holding the K outcomes.

    Returns:
        Float[Tensor, "..."]: the shape of p with `dim` removed. KL >= 0, with KL(p || p) = 0.
        Terms with p_i = 0 are 0 (whatever q_i is); where q_i = 0 < p_i the result is +inf.
        It is not symmetric: KL(p || q) and KL(q || p) differ in general.

    It satisfies H(p, q) = H(p) + KL(p || q); you may use `entropy` and `cross_entropy`.
    From scratch: do not use `torch.distributions.kl_divergence` or `F.kl_div`.
    """
    raise NotImplementedError


def code_length_bits(probs: Tensor, tokens: Tensor) -> Tensor:
    """The length in bits of a sequence coded with a model: -sum_t log2 probs[t, tokens[t]].

    A model that predicts the next symbol well gives the actual symbols high probability, so an
    ideal code built from it (arithmetic coding) spends few bits on them: compressing a sequence
    and predicting it are the same problem.

    Args:
        probs: Float[Tensor, "T V"], row t is the model's distribution over the V symbols for
            position t (already conditioned on whatever came before; nothing to shift).
        tokens: Long[Tensor, "T"], the symbols that actually occurred, each in [0, V).

    Returns:
        Float[Tensor, ""]: a 0-d tensor of probs' dtype, the total (summed, not averaged) number
        of bits; +inf if an actual token had probability 0. A uniform model over V symbols gives
        T * log2(V) bits.
    """
    raise NotImplementedError
