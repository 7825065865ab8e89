"""Where a Day 16 function first departs from the contract, stage by stage
(quizgrader/analysis/stages.py): inputs made so that each stage can be judged on its own, and the
learner's answer read for the invariants each stage leaves (rows that sum to 1, zeros where the
mask hides, the ratio of two weights as the difference of two scores)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from quizgrader.analysis.localise import varied
from quizgrader.analysis.stages import Unreadable, close, number, tensor
from quizgrader.checks.api import LearnerError
from quizgrader.checks.strategies import randn
from quizgrader.sandbox.wire import Generator

SOFTMAX = "day16.attention.softmax"
SDPA = "day16.attention.scaled_dot_product_attention"
NOAM = "day16.recipe.noam_lr"
SMOOTHED = "day16.recipe.label_smoothed_cross_entropy"


def softmax(you, ref) -> str | None:
    x = randn(0, 2, 3, 4)
    got = tensor(you("attention.softmax", x, dim=1), 2, 3, 4)
    if close(got, torch.softmax(x, 1)):
        big = tensor(you("attention.softmax", 1e4 * x, dim=1), 2, 3, 4)
        if not torch.isfinite(big).all():
            return "the exponentials overflow for large logits: subtract the maximum along dim first"
        return None
    if close(got, torch.softmax(x, -1)):
        return "it normalises over the last dim whatever dim says"
    if close(got.sum(), 1.0):
        return "the exponentials are divided by their sum over the whole tensor, not along dim"
    for other in (0, 2):
        if close(got.sum(other), 1.0):
            return f"each slice sums to 1 along dim {other}, not along dim (1 here)"
    if close(got.sum(1), 1.0):
        return "each slice sums to 1 along dim, but the proportions differ from exp(x_i) / sum_j exp(x_j)"
    return "the slices along dim do not sum to 1: divide the exponentials by their sum along dim"


def scaled_dot_product_attention(you, ref) -> str | None:
    d_k, d_v = 4, 9  # sqrt(d_k) = 2, sqrt(d_v) = 3: a scale can be told apart
    Q, K, V = randn(1, 1, 3, d_k), randn(2, 1, 5, d_k), randn(3, 1, 5, d_v)
    mask = torch.tensor([[1, 1, 0, 1, 0], [1, 0, 1, 1, 1], [0, 1, 1, 0, 1]], dtype=torch.bool)
    answer = you("attention.scaled_dot_product_attention", Q, K, V, mask=mask)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Unreadable
    out, w = tensor(answer[0], 1, 3, d_v), tensor(answer[1], 1, 3, 5)
    scores = Q @ K.transpose(-2, -1)
    if close(w, torch.softmax((scores / 2).masked_fill(~mask, -math.inf), -1), rtol=1e-5, atol=1e-7):
        if close(out, w @ V, rtol=1e-5, atol=1e-7):
            return None
        return "the weights are right; the output is not the weights times V (weights @ V)"
    return _weights_stage(w, scores, mask)


def _weights_stage(w: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor) -> str:
    hidden = w[..., ~mask]
    if (hidden.abs() > 1e-9).any():
        if (w[..., mask].abs() < 1e-12).all():
            return "the mask is applied the wrong way round: True means a key may be attended to"
        if close(w, torch.softmax(scores / 2, -1), rtol=1e-5):
            return "the mask is not applied: the keys it hides get weight"
        return "the keys the mask hides get weight: apply it to the scores, before the softmax"
    if not close(w.sum(-1), 1.0, rtol=1e-5):
        if close(w, torch.softmax(scores / 2, -1) * mask, rtol=1e-5):
            return "the mask is applied after the softmax, so the rows no longer sum to 1"
        if close(w.sum(-2)[..., mask.any(0)], 1.0, rtol=1e-5):
            return "the softmax runs over the queries (dim -2) instead of over the keys (the last dim)"
        return "the weights of a query do not sum to 1: the softmax runs over the keys (the last dim)"
    scale = _scale(w, scores, mask)
    if scale is None:
        return "the weights differ before the softmax: the scores should be Q K^T / sqrt(d_k)"
    named = {
        1.0: "the scores are not scaled",
        4.0: "the scores are divided by d_k",
        3.0: "the scores are divided by sqrt(d_v)",
        math.sqrt(3): "the scores are divided by sqrt(T_q), the number of queries",
        math.sqrt(5): "the scores are divided by sqrt(T_k), the number of keys",
    }
    for value, said in named.items():
        if abs(scale - value) < 1e-3 * value:
            return f"{said}: divide Q K^T by sqrt(d_k) (= 2 here)"
    return f"the scores are divided by {scale:.4g} instead of sqrt(d_k) (= 2 here)"


def _scale(w: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor) -> float | None:
    """The c for which the weights are softmax(scores / c) over the unmasked keys, when one fits."""
    xs, ys = [], []
    for i in range(mask.shape[0]):
        keys = mask[i].nonzero().flatten().tolist()
        for j, k in zip(keys, keys[1:]):
            xs.append(float(scores[0, i, j] - scores[0, i, k]))
            ys.append(math.log(max(float(w[0, i, j]), 1e-300)) - math.log(max(float(w[0, i, k]), 1e-300)))
    x, y = torch.tensor(xs, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)
    slope = float((x * y).sum() / (x * x).sum())
    if slope <= 0 or not close(slope * x, y, rtol=1e-4, atol=1e-6):
        return None
    return 1.0 / slope


def noam_lr(you, ref) -> str | None:
    d, warm = 64, 10
    steps = {"warmup": (1, 4, 9), "decay": (11, 40, 400)}
    got = {part: [number(you("recipe.noam_lr", s, d, warm)) for s in ss] for part, ss in steps.items()}
    want = {part: [number(ref("recipe.noam_lr", s, d, warm)) for s in ss] for part, ss in steps.items()}
    wrong = [part for part in steps if not close(torch.tensor(got[part]), torch.tensor(want[part]))]
    if not wrong:
        if not close(
            number(you("recipe.noam_lr", warm, d, warm)), number(ref("recipe.noam_lr", warm, d, warm))
        ):
            return "at step = warmup_steps, where warmup ends, the rate differs"
        return None
    ratios = [g / w for part in steps for g, w in zip(got[part], want[part])]
    if len(wrong) == 2 and max(ratios) - min(ratios) < 1e-6 * abs(ratios[0]):
        return f"every step's rate is {ratios[0]:.4g} times the contract's: look at factor * d_model^-0.5"
    if wrong == ["warmup"]:
        return "the warmup (steps before warmup_steps: step * warmup_steps^-1.5) differs; the decay is right"
    if wrong == ["decay"]:
        return "the decay (steps after warmup_steps: step^-0.5) differs; the warmup is right"
    return "both the warmup (step * warmup_steps^-1.5) and the decay (step^-0.5) differ"


def label_smoothed_cross_entropy(you, ref) -> str | None:
    logits = randn(4, 4, 5)
    targets = torch.tensor([0, 3, -100, 2])

    def yours(eps: float, t: torch.Tensor = targets) -> float:
        return number(you("recipe.label_smoothed_cross_entropy", logits, t, eps))

    def want(eps: float, t: torch.Tensor = targets) -> float:
        return float(F.cross_entropy(logits, t, label_smoothing=eps, ignore_index=-100))

    everyone = torch.tensor([0, 3, 1, 2])
    if not close(yours(0.0, everyone), want(0.0, everyone), rtol=1e-5):
        rows = F.cross_entropy(logits, everyone, reduction="none")
        if close(yours(0.0, everyone), float(rows.sum()), rtol=1e-5):
            return "with epsilon = 0 the loss is the sum over the rows, not their mean"
        return (
            "with epsilon = 0 (no smoothing) the loss already differs: the log-probabilities of the targets"
        )
    if not close(yours(0.0), want(0.0), rtol=1e-5):
        return "the rows whose target is ignore_index are not left out of the mean"
    if close(yours(0.1), want(0.1), rtol=1e-5):
        return None
    V = logits.shape[1]
    log_p = torch.log_softmax(logits, -1)
    keep = targets != -100
    nll = -log_p[keep].gather(1, targets[keep][:, None]).squeeze(1)
    others = (-log_p[keep].sum(-1) - nll) / (V - 1)  # the mean of -log p over the other classes
    spread = float(((1 - 0.1) * nll + 0.1 * others).mean())
    if close(yours(0.1), spread, rtol=1e-5):
        return "the smoothing mass goes to the V - 1 other classes; the contract spreads eps / V over all V"
    return "without smoothing it is right; the smoothing part (eps / V on every class) differs"


ADDITIVE = "day16.attention.additive_attention"
CAUSAL = "day16.masks.causal_mask"
PADDING = "day16.masks.padding_mask"
SINUSOIDAL = "day16.positional.sinusoidal_encoding"
ROPE = "day16.positional.apply_rope"
SLOPES = "day16.positional.alibi_slopes"


def additive_attention(you, ref) -> str | None:
    B, T, d = 2, 4, 3  # square projections: W x and x W read differently
    query, keys, values = randn(0, B, d), randn(1, B, T, d), randn(2, B, T, 5)
    W_q, W_k, v = randn(3, d, d), randn(4, d, d), randn(5, d)
    mask = torch.tensor([[1, 1, 0, 1], [0, 1, 1, 1]], dtype=torch.bool)
    answer = you("attention.additive_attention", query, keys, values, W_q, W_k, v, mask=mask)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Unreadable
    context, w = tensor(answer[0], B, 5), tensor(answer[1], B, T)

    def weights(q: torch.Tensor, k: torch.Tensor, squash=torch.tanh, masked: bool = True) -> torch.Tensor:
        e = squash(q[:, None, :] + k) @ v
        return torch.softmax(e.masked_fill(~mask, -math.inf) if masked else e, -1)

    q, k = query @ W_q.T, keys @ W_k.T
    if close(w, weights(q, k), rtol=1e-5, atol=1e-7):
        if close(context, torch.einsum("bt,btd->bd", w, values), rtol=1e-5, atol=1e-7):
            return None
        return "the weights are right; the context is not the weighted sum of the values"
    tells = (
        (weights(q, k, masked=False), "the mask is not applied to the energies"),
        (
            weights(q, k, squash=lambda t: t),
            "the energies leave out the tanh: e_j = v . tanh(W_q query + W_k key_j)",
        ),
        (
            weights(query @ W_q, keys @ W_k),
            "the projections are applied as x W; the contract's as W x (x @ W.T)",
        ),
    )
    return next(
        (said for value, said in tells if close(w, value, rtol=1e-5, atol=1e-7)),
        "the weights differ: softmax over the keys of e_j = v . tanh(W_q query + W_k key_j)",
    )


def causal_mask(you, ref) -> str | None:
    got = you("masks.causal_mask", 4)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (4, 4):
        raise Unreadable
    if got.dtype != torch.bool:
        return f"the mask is {got.dtype}; the contract's masks are bool (True = may attend)"
    lower = torch.ones(4, 4, dtype=torch.bool).tril()
    if torch.equal(got, lower):
        return None
    tells = (
        (~lower, "True above the diagonal (the future); the contract's True is on and below it"),
        (lower.tril(-1), "the diagonal is False: a position may attend to itself"),
        (
            torch.ones(4, 4, dtype=torch.bool).triu(),
            "True on and above the diagonal; the contract's on and below it",
        ),
    )
    return next((said for value, said in tells if torch.equal(got, value)), "it differs from tril of ones")


def padding_mask(you, ref) -> str | None:
    tokens = torch.tensor([[5, 2, 0, 0], [3, 0, 7, 1]])
    got = you("masks.padding_mask", tokens)
    if not isinstance(got, torch.Tensor):
        raise Unreadable
    want = (tokens != 0)[:, None, None, :]
    if tuple(got.shape) != (2, 1, 1, 4):
        shape = tuple(got.shape)
        return (
            f"the mask has shape {shape}; the contract's is (B, 1, 1, T), to broadcast over heads and queries"
        )
    if got.dtype != torch.bool:
        return f"the mask is {got.dtype}; the contract's masks are bool"
    if torch.equal(got, ~want):
        return "True where tokens are padding; the contract's True is where they are not (may attend)"
    return None if torch.equal(got, want) else "it differs from tokens != pad_id"


def _pe(T: int, d: int, scale: float = 2.0, start: int = 0, layout: str = "interleaved", swap: bool = False):
    p = torch.arange(start, start + T, dtype=torch.float64)[:, None]
    angle = p * torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float64) * scale / 2 / d)
    first, second = (torch.cos(angle), torch.sin(angle)) if swap else (torch.sin(angle), torch.cos(angle))
    if layout == "halves":
        return torch.cat([first, second], -1)
    return torch.stack([first, second], -1).flatten(-2)


def sinusoidal_encoding(you, ref) -> str | None:
    got = tensor(you("positional.sinusoidal_encoding", 6, 8), 6, 8)
    if close(got, _pe(6, 8), rtol=1e-5, atol=1e-6):
        return None
    tells = (
        (_pe(6, 8, swap=True), "sin and cos are swapped: sin at even features, cos at odd ones"),
        (
            _pe(6, 8, layout="halves"),
            "sin fills the first half and cos the second; the contract interleaves them",
        ),
        (_pe(6, 8, scale=1.0), "the frequencies use 10000^(i/d); the contract's 10000^(2i/d) for pair i"),
        (_pe(6, 8, start=1), "the positions start at 1; the contract's at 0"),
        (
            _pe(6, 8) * torch.tensor([1.0, -1.0]).repeat(4),
            "the cos features carry a minus sign: +cos at odd features",
        ),
    )
    return next(
        (said for value, said in tells if close(got, value, rtol=1e-5, atol=1e-6)),
        "it differs from sin(p / 10000^(2i/d)) at even features and cos at odd ones",
    )


def _rope(
    x: torch.Tensor, positions: torch.Tensor, scale: float = 2.0, halves: bool = False, sign: float = 1.0
):
    d = x.shape[-1]
    angle = (
        sign
        * positions.double()[:, None]
        * torch.pow(10000.0, -torch.arange(0, d, 2).double() * scale / 2 / d)
    )
    cos, sin = torch.cos(angle), torch.sin(angle)
    x1, x2 = (x[..., : d // 2], x[..., d // 2 :]) if halves else (x[..., 0::2], x[..., 1::2])
    a, b = x1 * cos - x2 * sin, x1 * sin + x2 * cos
    return torch.cat([a, b], -1) if halves else torch.stack([a, b], -1).flatten(-2)


def apply_rope(you, ref) -> str | None:
    x, at = randn(0, 1, 4, 6), torch.arange(4)
    got = tensor(you("positional.apply_rope", x), 1, 4, 6)
    if close(got, _rope(x, at), rtol=1e-5, atol=1e-6):
        moved = torch.tensor([2, 5, 7, 11])
        elsewhere = tensor(you("positional.apply_rope", x, moved), 1, 4, 6)
        if not close(elsewhere, _rope(x, moved), rtol=1e-5, atol=1e-6):
            return "with the default positions it is right; the positions passed in are not used"
        return None
    tells = (
        (
            _rope(x, at, halves=True),
            "it rotates the two halves of the features together; the pairs are (2i, 2i+1)",
        ),
        (_rope(x, at, sign=-1.0), "it rotates the other way (by -angle)"),
        (_rope(x, at, scale=1.0), "the frequencies use base^(-i/d); the contract's base^(-2i/d) for pair i"),
        (_rope(x, at + 1), "the positions start at 1; the contract's at 0"),
    )
    return next(
        (said for value, said in tells if close(got, value, rtol=1e-5, atol=1e-6)),
        "it differs from rotating each pair (2i, 2i+1) by position * base^(-2i/d)",
    )


def alibi_slopes(you, ref) -> str | None:
    for h in (8, 6):
        got = you("positional.alibi_slopes", h)
        want = ref("positional.alibi_slopes", h)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (h,):
            raise Unreadable
        if close(got.double(), want.double(), rtol=1e-5):
            continue
        if h == 8:
            k = torch.arange(h, dtype=torch.float64)
            if close(got.double(), torch.pow(2.0, -8.0 * k / h), rtol=1e-5):
                return "k runs from 0 (the first slope is 1); the contract's k runs from 1 to h"
            return "for a power of two heads the slopes differ from 2^(-8k/h), k = 1..h"
        return "for 8 heads they are right; for 6 (not a power of two) the paper's rule differs"
    return None


MHA = "day16.multihead.MultiHeadAttention"


def multi_head_attention(you, ref) -> str | None:
    """The per-head weights first (splitting into heads, each head's scores and scale, the mask),
    then what follows them (the weights applied to V per head, the heads merged, W_o)."""
    d, h, T = 8, 2, 4
    x = randn(0, 1, T, d)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    theirs = ref.new("multihead.MultiHeadAttention", d, h).to(torch.float64)
    state = varied(theirs.state_dict())
    theirs.load_state_dict(state)
    mine = you.new("multihead.MultiHeadAttention", d, h).to(torch.float64)
    mine.load_state_dict(state)
    answer, (want_out, want_w) = mine(x, mask=mask), theirs(x, mask=mask)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Unreadable
    w = answer[1]
    if not isinstance(w, torch.Tensor) or tuple(w.shape) != (1, h, T, T):
        shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
        return f"the weights have shape {shape}; the contract's are (B, heads, T, S), one matrix per head"
    out = tensor(answer[0], 1, T, d)
    if close(w.double(), want_w, rtol=1e-5, atol=1e-7):
        if close(out, want_out, rtol=1e-5, atol=1e-7):
            return None
        return (
            "the per-head weights are right; what follows differs: the weights applied to each head's V, "
            "the heads merged back to (B, T, d_model) in order, or W_o"
        )
    if (w.double()[..., ~mask].abs() > 1e-9).any():
        return (
            "the per-head weights give weight to keys the mask hides: apply the mask to every head's scores"
        )
    q = x @ state["W_q.weight"].T
    k = x @ state["W_k.weight"].T
    d_k = d // h
    scores = q.view(1, T, h, d_k)[:, :, 0] @ k.view(1, T, h, d_k)[:, :, 0].transpose(-2, -1)
    scale = _scale(w.double()[:, 0], scores, mask)
    if scale is not None and abs(scale - math.sqrt(d)) < 1e-3:
        return "each head's scores are divided by sqrt(d_model); the contract's by sqrt(d_k), d_model / heads"
    return (
        "the per-head weights differ: splitting Q, K and V into heads (head i takes features "
        "[i*d_k, (i+1)*d_k), split with a view and a transpose), or each head's scores"
    )


LM = "day16.lm.DecoderLM"


def _next_tokens(model, prompt: torch.Tensor, **kwargs) -> torch.Tensor:
    out = model.call(prompt, 1, method="generate", **kwargs).value
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (prompt.shape[0], prompt.shape[1] + 1):
        raise Unreadable
    return out[:, -1]


def _greedy(model, V: int, max_len: int = 8) -> str | None:
    """Greedy decoding against the argmax of the model's own logits, one step at a time, past
    max_len (where the context must be cropped to the last max_len tokens)."""
    tokens = torch.tensor([[1, 2, 3, 4, 5]])
    crop = "crop the context to the last max_len tokens at every step"
    try:
        out = model.call(tokens, 6, method="generate", temperature=0.0).value
    except LearnerError as e:
        if e.info["type"] == "ValueError":
            return f"generate raises ValueError once the sequence outgrows max_len: {crop}"
        raise
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, 11):
        raise Unreadable
    for step in range(6):
        context = tokens[:, -max_len:]
        want = int(tensor(model(context), 1, context.shape[1], V)[0, -1].argmax())
        if int(out[0, 5 + step]) != want:
            if tokens.shape[1] >= max_len:
                return f"greedy decoding is right until the sequence outgrows max_len: {crop}"
            return "generate with temperature 0 does not pick the argmax of the logits at the last position"
        tokens = torch.cat([tokens, torch.tensor([[want]])], 1)
    return None


def decoder_lm(you, ref) -> str | None:
    """generate, stage by stage, on the learner's own model: greedy decoding against the argmax of
    its own logits; then thousands of one-token samples from one prompt, whose frequencies show
    which distribution they were drawn from (the temperature applied, or not) and which tokens
    top-k lets through."""
    V, N = 6, 4000
    model = you.new("lm.DecoderLM", V, 8, 2, 1, 8)
    prompt = torch.tensor([[1, 2, 3]])
    logits = tensor(model(prompt), 1, 3, V)[0, -1]
    if (said := _greedy(model, V)) is not None:
        return said
    many = prompt.repeat(N, 1)
    drawn = _next_tokens(model, many, temperature=0.3, generator=Generator(0))
    freq = torch.bincount(drawn.long().flatten(), minlength=V)[:V].double() / N
    fits = {
        "right": torch.softmax(logits / 0.3, -1),
        "the temperature is not applied to the logits (is it applied to the probabilities?)": torch.softmax(
            logits, -1
        ),
        "the logits are multiplied by the temperature; the contract divides them by it": torch.softmax(
            logits * 0.3, -1
        ),
    }
    gap = {said: float((freq - p).abs().sum() / 2) for said, p in fits.items()}
    nearest = min(gap, key=gap.get)
    if nearest != "right" and gap["right"] > 0.08:
        return f"sampling at temperature 0.3: {nearest}"
    kept = set(torch.unique(_next_tokens(model, many, top_k=2, generator=Generator(1))).tolist())
    top = set(logits.topk(2).indices.tolist())
    if kept < top:
        return f"top_k=2 lets through only {len(kept)} token(s); it keeps the k most likely"
    if not kept <= top:
        return f"top_k=2 lets through {len(kept)} tokens; it keeps only the k most likely"
    return None


STAGES = {
    MHA: multi_head_attention,
    LM: decoder_lm,
    ADDITIVE: additive_attention,
    CAUSAL: causal_mask,
    PADDING: padding_mask,
    SINUSOIDAL: sinusoidal_encoding,
    ROPE: apply_rope,
    SLOPES: alibi_slopes,
    SOFTMAX: softmax,
    SDPA: scaled_dot_product_attention,
    NOAM: noam_lr,
    SMOOTHED: label_smoothed_cross_entropy,
}
