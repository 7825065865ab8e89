"""Day 16's routines that run beside the learner's objects, in the learner's process: training
a model on the copy task, overfitting one batch, timing attention against a recurrence and
against the library, catching a trained model's attention weights, and training a stack of
blocks for the lab."""

from __future__ import annotations

import math
from time import perf_counter
from typing import Any

import torch
import torch.nn.functional as F

from quizgrader.sandbox import tools
from quizgrader.sandbox.tools import median_seconds, one_thread

# -- the copy task ---------------------------------------------------------------------------
SEPARATOR = 0


def copy_batch(generator: torch.Generator, batch: int, n: int, vocab: int) -> torch.Tensor:
    """(batch, 2n + 1) long: n random tokens from 1 .. vocab-1, the separator 0, the same n again.
    Predicting the second half needs attention (to reach back n + 1 positions) and position (to
    know which of the n tokens comes next)."""
    a = torch.randint(1, vocab, (batch, n), generator=generator)
    sep = torch.full((batch, 1), SEPARATOR, dtype=torch.long)
    return torch.cat([a, sep, a], dim=1)


def _lm_loss(logits: Any, targets: torch.Tensor) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or logits.shape[:2] != targets.shape:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise TypeError(
            f"the model returned {shape} for tokens of shape {tuple(targets.shape)}; "
            "expected logits (B, T, vocab_size)"
        )
    return F.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100
    )


class AdamW:
    """torch.optim.AdamW's update, through its functional form (torch.optim.adamw.adamw), without
    an Optimizer object: constructing any torch.optim.Optimizer imports torch._dynamo, about 1.5 s
    in every fresh learner process. No weight decay, no amsgrad."""

    def __init__(self, params: list[torch.nn.Parameter], lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.exp_avgs = [torch.zeros_like(p) for p in params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in params]
        self.state_steps = [torch.tensor(0.0) for _ in params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        from torch.optim.adamw import adamw

        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        adamw(
            [self.params[i] for i in live],
            [self.params[i].grad for i in live],
            [self.exp_avgs[i] for i in live],
            [self.exp_avg_sqs[i] for i in live],
            [],
            [self.state_steps[i] for i in live],
            foreach=False,
            capturable=False,
            differentiable=False,
            fused=None,
            grad_scale=None,
            found_inf=None,
            has_complex=False,
            amsgrad=False,
            beta1=self.betas[0],
            beta2=self.betas[1],
            lr=self.lr,
            weight_decay=0.0,
            eps=self.eps,
            maximize=False,
        )


def _train(
    model: torch.nn.Module, next_batch, steps: int, lr: float, warmup: int, stop_below: float | None = None
) -> dict:
    """AdamW with linear warmup and gradient clipping, for `steps` steps or until the mean of the
    last 5 losses is below `stop_below`; returns the loss curve and the time."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TypeError("the model has no trainable parameters")
    opt = AdamW(params, lr=lr)
    model.train()
    with one_thread():
        return _loop(model, opt, params, next_batch, steps, lr, warmup, stop_below)


def _loop(
    model, opt, params, next_batch, steps: int, lr: float, warmup: int, stop_below: float | None
) -> dict:
    losses, tokens = [], 0
    start = perf_counter()
    for step in range(steps):
        inputs, targets = next_batch(step)
        opt.lr = lr * min(1.0, (step + 1) / max(1, warmup))
        loss = _lm_loss(model(inputs), targets)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        tokens += inputs.numel()
        tools.report_progress(step + 1, steps)
        if stop_below is not None and len(losses) >= 5 and sum(losses[-5:]) / 5 < stop_below:
            break
    if losses and inputs.is_cuda:
        torch.cuda.synchronize()
    model.eval()
    return {"losses": losses, "seconds": perf_counter() - start, "tokens": tokens}


@tools.register("train_copy")
def train_copy(
    model: torch.nn.Module,
    *,
    n: int,
    vocab: int,
    batch: int,
    steps: int,
    lr: float,
    warmup: int,
    seed: int,
    stop_below: float | None = None,
) -> dict:
    """Train on fresh copy-task batches, the loss on the copied half only."""
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)

    def next_batch(step: int):
        seq = copy_batch(g, batch, n, vocab)
        targets = seq[:, 1:].clone()
        targets[:, :n] = -100  # the first half is random: nothing to learn there
        return seq[:, :-1].to(device), targets.to(device)

    return _train(model, next_batch, steps, lr, warmup, stop_below)


@tools.register("overfit")
def overfit(model: torch.nn.Module, *, tokens: torch.Tensor, steps: int, lr: float) -> dict:
    """Train on one fixed batch (next-token prediction on every position)."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    return _train(model, lambda step: (inputs, targets), steps, lr, warmup=1)


@tools.register("time_attention")
def time_attention(
    fn, *, lengths: list[int], d: int, batch: int, repeats: int, seed: int, device: str = "cpu"
) -> list[dict]:
    """For each T: the time of one call of the attention `fn` over T positions, and of a
    recurrence h_t = tanh(W h_{t-1} + U x_t) of the same width run over the same T positions, one
    step after another. The recurrence is the grader's; only `fn` is the learner's."""
    dev = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    W = (torch.randn(d, d, generator=g) / math.sqrt(d)).to(dev)
    U = (torch.randn(d, d, generator=g) / math.sqrt(d)).to(dev)
    rows = []
    with torch.no_grad(), one_thread():
        for T in lengths:
            x = torch.randn(batch, T, d, generator=g).to(dev)

            def attend(x=x):
                fn(x, x, x)

            def recur(x=x):
                h = torch.zeros(batch, d, device=dev)
                for t in range(x.shape[1]):
                    h = torch.tanh(h @ W.T + x[:, t] @ U.T)

            rows.append(
                {
                    "T": T,
                    "attention": median_seconds(attend, repeats, dev),
                    "recurrence": median_seconds(recur, repeats, dev),
                }
            )
    return rows


# -- the lab: what `quiz lab` draws ------------------------------------------------------------------
@tools.register("attention_maps")
def attention_maps(model: torch.nn.Module, *, tokens: torch.Tensor) -> dict:
    """One forward pass of a decoder LM on `tokens`, with the attention weights of every block
    caught as they leave its `attn` submodule (a forward hook: the model's code runs unchanged).
    Returns {"weights": one (B, h, T, T) tensor per block, "predicted": (B, T) argmax tokens}."""
    blocks = getattr(model, "blocks", None)
    if (
        not isinstance(blocks, torch.nn.ModuleList)
        or not len(blocks)
        or not all(isinstance(getattr(b, "attn", None), torch.nn.Module) for b in blocks)
    ):
        raise TypeError(
            "the model needs `blocks`, an nn.ModuleList of TransformerBlocks that each have an "
            "`attn` submodule (MultiHeadAttention), for its attention weights to be read"
        )
    caught: list[list[Any]] = [[] for _ in blocks]

    def watch(i: int):
        def hook(module, args, output):
            caught[i].append(output[1] if isinstance(output, tuple) and len(output) == 2 else output)

        return hook

    handles = [b.attn.register_forward_hook(watch(i)) for i, b in enumerate(blocks)]
    device = next(model.parameters()).device
    model.eval()
    try:
        with torch.no_grad():
            logits = model(tokens.to(device))
    finally:
        for h in handles:
            h.remove()
    B, T = tokens.shape
    weights = []
    for i, got in enumerate(caught):
        if len(got) != 1:
            raise TypeError(f"blocks[{i}].attn ran {len(got)} times in one forward pass; expected once")
        w = got[0]
        if not isinstance(w, torch.Tensor) or w.dim() != 4 or w.shape[0] != B or w.shape[2:] != (T, T):
            shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise TypeError(
                f"blocks[{i}].attn returned weights {shape} for {T} tokens; expected (out, weights) "
                f"with weights (B, h, T, T) = ({B}, h, {T}, {T})"
            )
        weights.append(w.float())
    predicted = logits.argmax(-1) if isinstance(logits, torch.Tensor) and logits.dim() == 3 else None
    return {"weights": weights, "predicted": predicted}


@tools.register("time_attention_against_library")
def time_attention_against_library(
    fn, *, lengths: list[int], d: int, batch: int, repeats: int, seed: int, device: str = "cpu"
) -> list[dict]:
    """For each T: the median time of one call of the attention `fn` over T positions and of
    torch's F.scaled_dot_product_attention on the same Q = K = V (batch, T, d), and the largest
    difference between their outputs (a slow answer is only worth timing if it is the answer)."""
    dev = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    rows = []
    with torch.no_grad(), one_thread():
        for T in lengths:
            x = torch.randn(batch, T, d, generator=g).to(dev)
            got = fn(x, x, x)
            out = got[0] if isinstance(got, tuple) else got
            want = F.scaled_dot_product_attention(x, x, x)
            if not isinstance(out, torch.Tensor) or out.shape != want.shape:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise TypeError(
                    f"the attention returned out {shape} for Q = K = V of shape {tuple(x.shape)}; "
                    f"expected {tuple(want.shape)}"
                )
            rows.append(
                {
                    "T": T,
                    "yours": median_seconds(lambda x=x: fn(x, x, x), repeats, dev),
                    "library": median_seconds(
                        lambda x=x: F.scaled_dot_product_attention(x, x, x), repeats, dev
                    ),
                    "max_abs_difference": (out.float() - want.float()).abs().max().item(),
                }
            )
    return rows


class _BlockStack(torch.nn.Module):
    """A small LM around a stack of the workspace's blocks. Embeddings, causal mask and head are
    the grader's, so that two stacks differ only in their blocks."""

    def __init__(
        self, block: type, *, pre_ln: bool, depth: int, d_model: int, num_heads: int, vocab: int, max_len: int
    ) -> None:
        super().__init__()
        self.tok_emb = torch.nn.Embedding(vocab, d_model)
        self.pos_emb = torch.nn.Embedding(max_len, d_model)
        self.blocks = torch.nn.ModuleList(block(d_model, num_heads, pre_ln=pre_ln) for _ in range(depth))
        # A Pre-LN stream is never normalised inside the blocks; Post-LN blocks end in a LayerNorm.
        self.ln_f = torch.nn.LayerNorm(d_model) if pre_ln else torch.nn.Identity()
        self.head = torch.nn.Linear(d_model, vocab, bias=False)
        self.register_buffer("mask", torch.ones(max_len, max_len, dtype=torch.bool).tril(), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        T = tokens.shape[1]
        x = self.tok_emb(tokens) + self.pos_emb.weight[:T]  # (B, T, d_model)
        for block in self.blocks:
            y = block(x, mask=self.mask[:T, :T])
            if not isinstance(y, torch.Tensor) or y.shape != x.shape:
                shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
                raise TypeError(
                    f"TransformerBlock.forward returned {shape} for x of shape {tuple(x.shape)}; "
                    "expected x (B, T, d_model)"
                )
            x = y
        return self.head(self.ln_f(x))  # (B, T, vocab)


@tools.register("train_block_stack")
def train_block_stack(
    block: type,
    *,
    pre_ln: bool,
    depth: int,
    d_model: int,
    num_heads: int,
    n: int,
    vocab: int,
    batch: int,
    steps: int,
    lr: float,
    seed: int,
    device: str = "cpu",
) -> dict:
    """Train `depth` blocks of the class `block` (Pre-LN or Post-LN), with weights drawn from
    `seed`, on the copy task with no warmup: what train_copy returns. The same seed gives a
    Pre-LN and a Post-LN stack the same initial weights and the same batches."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _BlockStack(
            block,
            pre_ln=pre_ln,
            depth=depth,
            d_model=d_model,
            num_heads=num_heads,
            vocab=vocab,
            max_len=2 * n,
        )
    model.to(torch.device(device))
    return train_copy(model, n=n, vocab=vocab, batch=batch, steps=steps, lr=lr, warmup=0, seed=seed)
