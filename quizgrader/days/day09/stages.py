"""Where a Day 9 function first departs from the contract, stage by stage
(quizgrader/analysis/stages.py): the forward pass before the backward pass and the output layer's
gradients before the first layer's; the statistics of layer normalisation before its affine part;
the warmup of a schedule before its decay; nats before bits, and a zero probability last."""

from __future__ import annotations

import math
from itertools import permutations

import torch
import torch.nn.functional as F

from quizgrader.analysis.stages import Unreadable, close, number, tensor
from quizgrader.checks.strategies import randn

BACKPROP = "day09.backprop.mlp_forward_backward"
LAYER_NORM = "day09.stability.layer_norm"
SCHEDULE = "day09.stability.warmup_cosine_lr"
ENTROPY = "day09.information.entropy"
CROSS = "day09.information.cross_entropy"
KL = "day09.information.kl_divergence"
BITS = "day09.information.code_length_bits"


def _factor(got: torch.Tensor | float, want: torch.Tensor | float) -> float | None:
    """The one number the learner's answer is the contract's times, when there is one."""
    got, want = torch.as_tensor(got, dtype=torch.float64), torch.as_tensor(want, dtype=torch.float64)
    if got.shape != want.shape or (want.abs() < 1e-12).all():
        return None
    k = float((got * want).sum() / (want * want).sum())
    return k if close(got, k * want, rtol=1e-6, atol=1e-12) else None


def _as(k: float | None) -> str:
    """A factor in words: "2 times", "1/4 of"."""
    if k is None:
        return ""
    if abs(k) >= 1 or k == 0:
        return f"{k:.4g} times "
    return f"1/{1 / k:.4g} of "


def mlp_forward_backward(you, ref) -> str | None:
    x, y = randn(0, 5, 3), randn(1, 5, 2)
    W1, b1, W2, b2 = randn(2, 4, 3), randn(3, 4), randn(4, 2, 4), randn(5, 2)
    answer = you("backprop.mlp_forward_backward", x, y, W1, b1, W2, b2)
    want_loss, want = ref("backprop.mlp_forward_backward", x, y, W1, b1, W2, b2)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2 or not isinstance(answer[1], dict):
        raise Unreadable
    loss = number(answer[0])
    if not close(loss, float(want_loss), rtol=1e-6):
        k = _factor(loss, float(want_loss))
        said = f": it is {_as(k)}the contract's" if k else ""
        return f"the forward pass: the loss (mean over rows of the summed squared error) differs{said}"
    shapes = {"W1": (4, 3), "b1": (4,), "W2": (2, 4), "b2": (2,)}
    grads = {name: tensor(answer[1].get(name), *shape) for name, shape in shapes.items()}
    right: list[str] = []
    for layer, where in (
        (("W2", "b2"), "the output layer"),
        (("W1", "b1"), "the first layer, through the ReLU"),
    ):
        for n in layer:
            if not close(grads[n], want[n], rtol=1e-6, atol=1e-10):
                verb = "is" if len(right) == 1 else "are"
                before = f"dL/d{' and dL/d'.join(right)} {verb} right; " if right else "the loss is right; "
                k = _factor(grads[n], want[n])
                off = f" ({_as(k)}the contract's)" if k is not None else ""
                return f"{before}dL/d{n} differs{off}: the backward pass in {where}"
            right.append(n)
    return None


def layer_norm(you, ref) -> str | None:
    x = randn(0, 3, 6) * 0.004  # a variance near eps, so where eps goes shows
    D = x.shape[-1]
    plain = tensor(you("stability.layer_norm", x, None, None), 3, 6)
    if not close(plain, F.layer_norm(x, (D,)), rtol=1e-6, atol=1e-9):
        centred = x - x.mean(-1, keepdim=True)
        population = centred.pow(2).mean(-1, keepdim=True)
        tells = (
            (
                centred / torch.sqrt(x.var(-1, keepdim=True) + 1e-5),
                "the variance divides by D - 1; the contract's by D",
            ),
            (centred / (population.sqrt() + 1e-5), "eps is added outside the square root"),
            (
                (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-5),
                "mean and variance over the whole tensor",
            ),
        )
        said = next(
            (s for value, s in tells if close(plain, value, rtol=1e-6)),
            "each row should become (x - mean) / sqrt(var + eps), over the last dim",
        )
        return f"the statistics: {said}"
    w, b = randn(1, D), randn(2, D)
    full = tensor(you("stability.layer_norm", x, w, b), 3, 6)
    if not close(full, F.layer_norm(x, (D,), w, b), rtol=1e-6, atol=1e-9):
        return "the normalisation is right; the affine part (times weight, plus bias) differs"
    return None


def warmup_cosine_lr(you, ref) -> str | None:
    args = (1.0, 10, 50)  # max_lr, warmup_steps, total_steps
    parts = {"the warmup": (0, 3, 9), "the cosine decay": (10, 20, 37, 49), "after total_steps": (50, 80)}
    wrong = [
        part
        for part, steps in parts.items()
        if not close(
            torch.tensor([number(you("stability.warmup_cosine_lr", s, *args, min_lr=0.1)) for s in steps]),
            torch.tensor([number(ref("stability.warmup_cosine_lr", s, *args, min_lr=0.1)) for s in steps]),
        )
    ]
    if not wrong:
        return None
    right = [p for p in parts if p not in wrong]
    tail = f"; {' and '.join(right)} {'is' if len(right) == 1 else 'are'} right" if right else ""
    return f"{' and '.join(wrong)} {'differs' if len(wrong) == 1 else 'differ'}{tail}"


def _measure(you, name: str, want, *args) -> str | None:
    """The usual departures of an information measure: the base of the log, the sign, the dim."""
    got = tensor(you(f"information.{name}", *args), *want.shape)
    if close(got, want, rtol=1e-6, atol=1e-12):
        return None
    k = _factor(got, want)
    if k is not None and abs(k - 1 / math.log(2)) < 1e-6:
        return "it is in bits (log2); the contract's is in nats (the natural log)"
    if k is not None and abs(k + 1) < 1e-9:
        return "its sign is flipped: the minus sign in front of the sum"
    return ""


def entropy(you, ref) -> str | None:
    p = torch.softmax(randn(0, 3, 5), -1)
    if (said := _measure(you, "entropy", -(p * p.log()).sum(-1), p)) is not None:
        return said or "on probabilities without zeros it differs from -sum p log p over dim"
    p0 = p.clone()
    p0[0, 1] = 0.0
    p0 = p0 / p0.sum(-1, keepdim=True)
    if (said := _measure(you, "entropy", -(p0 * torch.where(p0 > 0, p0, 1).log()).sum(-1), p0)) is not None:
        return "where a probability is 0: 0 log 0 is 0"
    return None


def cross_entropy(you, ref) -> str | None:
    p, q = torch.softmax(randn(0, 3, 5), -1), torch.softmax(randn(1, 3, 5), -1)
    want = -(p * q.log()).sum(-1)
    if (said := _measure(you, "cross_entropy", want, p, q)) is not None:
        got = tensor(you("information.cross_entropy", p, q), 3)
        if close(got, -(q * p.log()).sum(-1), rtol=1e-6):
            return "p and q are swapped: it is -sum p log q, p the true distribution"
        return said or "on probabilities without zeros it differs from -sum p log q over dim"
    return None


def kl_divergence(you, ref) -> str | None:
    p, q = torch.softmax(randn(0, 3, 5), -1), torch.softmax(randn(1, 3, 5), -1)
    want = (p * (p.log() - q.log())).sum(-1)
    if (said := _measure(you, "kl_divergence", want, p, q)) is not None:
        got = tensor(you("information.kl_divergence", p, q), 3)
        if close(got, (q * (q.log() - p.log())).sum(-1), rtol=1e-6):
            return "p and q are swapped: KL(p || q) = sum p (log p - log q)"
        return said or "on probabilities without zeros it differs from sum p (log p - log q) over dim"
    return None


def code_length_bits(you, ref) -> str | None:
    probs = torch.softmax(randn(0, 6, 4), -1)
    tokens = torch.tensor([0, 3, 1, 1, 2, 0])
    want = -torch.log2(probs[torch.arange(6), tokens]).sum()
    got = number(you("information.code_length_bits", probs, tokens))
    if not close(got, float(want), rtol=1e-6):
        k = _factor(got, float(want))
        if k is not None and abs(k - math.log(2)) < 1e-6:
            return "it is in nats (the natural log); the contract's is in bits (log2)"
        return "on a short sequence it differs from -sum_t log2 probs[t, tokens[t]]"
    long = torch.full((4000, 4), 0.25, dtype=torch.float64)
    got = number(you("information.code_length_bits", long, torch.zeros(4000, dtype=torch.long)))
    if not close(got, 8000.0, rtol=1e-6):
        return "on a long sequence it is wrong: a product of many probabilities underflows; sum the log2s"
    return None


LSTM = "day09.rnn.LSTMCell"
GATES = ("input gate i", "forget gate f", "candidate g", "output gate o")


def lstm_cell(you, ref) -> str | None:
    """The gates told apart by crafted weights: every weight 0, so each gate is its bias alone
    (a different value per gate); the state then shows which chunk the learner read as which gate,
    and whether bias_hh is added."""
    H = 3
    cell = you.new("rnn.LSTMCell", 2, H).to(torch.float64)
    biases = torch.tensor([0.3, -1.2, 0.7, 1.9], dtype=torch.float64).repeat_interleave(H)
    zero = {"weight_ih": torch.zeros(4 * H, 2), "weight_hh": torch.zeros(4 * H, H)}
    x, c0 = torch.ones(1, 2, dtype=torch.float64), torch.full((1, H), 0.8, dtype=torch.float64)
    h0 = torch.zeros(1, H, dtype=torch.float64)

    def state(bias_ih: torch.Tensor, bias_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cell.load_state_dict(
            {**{k: v.double() for k, v in zero.items()}, "bias_ih": bias_ih, "bias_hh": bias_hh}
        )
        answer = cell(x, (h0, c0))
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            raise Unreadable
        return tensor(answer[0], 1, H), tensor(answer[1], 1, H)

    right = (torch.sigmoid, torch.sigmoid, torch.tanh, torch.sigmoid)  # i, f, g, o

    def expected(order=(0, 1, 2, 3), acts=right) -> tuple[torch.Tensor, torch.Tensor]:
        i, f, g, o = (act(biases.view(4, H)[k]) for act, k in zip(acts, order))
        c = f * c0 + i * g
        return o * torch.tanh(c), c

    def matches(found: tuple[torch.Tensor, torch.Tensor], want: tuple[torch.Tensor, torch.Tensor]) -> bool:
        return close(found[0], want[0]) and close(found[1], want[1])

    got = state(biases, torch.zeros(4 * H, dtype=torch.float64))
    if matches(got, expected()):
        if not close(state(torch.zeros(4 * H, dtype=torch.float64), biases)[1], expected()[1]):
            return "bias_hh is not added to the gates (the gates are x W_ih^T + b_ih + h W_hh^T + b_hh)"
        return None
    for order in permutations(range(4)):
        if matches(got, expected(order=order)):
            read = ", ".join("ifgo"[k] for k in sorted(range(4), key=lambda k: order[k]))
            return f"the gate order: your chunks are read as ({read}); the contract's is (i, f, g, o)"
    if close(got[1], expected()[1]):
        return "the cell state is right; the output differs: h' = o * tanh(c')"
    names = {torch.sigmoid: "a sigmoid", torch.tanh: "tanh"}
    for k, gate in enumerate(GATES):
        for act, said in (
            (torch.sigmoid, "a sigmoid"),
            (torch.tanh, "tanh"),
            (torch.ones_like, "nothing (it is taken as 1)"),
        ):
            acts = tuple(act if j == k else a for j, a in enumerate(right))
            if act is not right[k] and matches(got, expected(acts=acts)):
                return f"the {gate} goes through {said}; the contract's through {names[right[k]]}"
    return "with every weight 0 each gate is its bias alone, and the new state already differs"


CLIP = "day09.stability.clip_grad_norm_"
COSINE = "day09.embeddings.cosine_similarity"


def clip_grad_norm_(you, ref) -> str | None:
    grads = [torch.tensor([3.0, 0.0, 4.0], dtype=torch.float64), torch.tensor([[12.0]], dtype=torch.float64)]
    norms = [float(g.norm()) for g in grads]  # 5 and 12: the global norm is 13
    total = math.sqrt(sum(n * n for n in norms))

    def clipped(max_norm: float) -> tuple[float, list[torch.Tensor]]:
        params = [{"data": torch.zeros_like(g), "grad": g, "requires_grad": True} for g in grads]
        got = you.tool("call_on_parameters", "stability.clip_grad_norm_", params=params, args=[max_norm])
        after = [tensor(g, *w.shape) for g, w in zip(got.get("grads", []), grads)]
        if len(after) != len(grads):
            raise Unreadable
        return number(got["value"]), after

    value, after = clipped(6.5)
    tells = (
        (sum(norms), "the parameters' norms are added"),
        (max(norms), "the largest parameter's norm is taken"),
        (6.5, "the norm after clipping is returned"),
    )
    if not close(value, total, rtol=1e-6):
        said = next((s for v, s in tells if close(value, v, rtol=1e-6)), f"{value:.4g} is returned")
        return f"the norm: {said}; return the global norm before clipping ({total:g}: sqrt of all squares)"
    factor = 6.5 / (total + 1e-6)
    if all(close(a, g, rtol=1e-9) for a, g in zip(after, grads)):
        return "the norm is right; the grads are not scaled (scale each p.grad in place)"
    if all(close(a, g * min(1.0, 6.5 / (n + 1e-6)), rtol=1e-6) for a, g, n in zip(after, grads, norms)):
        return "the norm is right; each parameter is clipped on its own; one factor scales them all"
    if not all(close(a, g * factor, rtol=1e-6) for a, g in zip(after, grads)):
        return f"the norm is right; scale every grad by max_norm / (total_norm + 1e-6) = {factor:.4g}"
    value, after = clipped(20.0)
    if not all(close(a, g, rtol=1e-9) for a, g in zip(after, grads)):
        return "below max_norm the grads are changed too; clip only when the norm is above max_norm"
    return None


def cosine_similarity(you, ref) -> str | None:
    a, b = randn(0, 3, 4), randn(1, 3, 4)
    got = tensor(you("embeddings.cosine_similarity", a, b), 3)
    if not close(got, F.cosine_similarity(a, b, dim=-1), rtol=1e-6):
        if close(got, (a * b).sum(-1), rtol=1e-6):
            return "the dot product is not divided by the two norms"
        return "on vectors of ordinary length it differs from a . b / (|a| |b|) along dim"
    zero = torch.zeros(1, 4, dtype=torch.float64)
    at_zero = you("embeddings.cosine_similarity", zero, a[:1])
    if not isinstance(at_zero, torch.Tensor) or not torch.isfinite(at_zero).all():
        return "a zero vector gives NaN: floor each norm at eps (1e-8), as F.cosine_similarity does"
    return None


STAGES = {
    CLIP: clip_grad_norm_,
    COSINE: cosine_similarity,
    LSTM: lstm_cell,
    BACKPROP: mlp_forward_backward,
    LAYER_NORM: layer_norm,
    SCHEDULE: warmup_cosine_lr,
    ENTROPY: entropy,
    CROSS: cross_entropy,
    KL: kl_divergence,
    BITS: code_length_bits,
}
