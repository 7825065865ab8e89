"""A residual block that starts as the identity, and a measurement of how gradients travel down a
deep stack of layers."""

from collections.abc import Iterable

import torch
from torch import Tensor, nn


class ResidualBlock(nn.Module):
    def __init__(self, d: int, zero_init: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(d, d)
        self.fc2 = nn.Linear(d, d)
        if zero_init:
            # fc2 outputs 0, so the block computes x + 0 = x: a deep stack of such blocks starts
            # as the identity, and the "do nothing" solution is where training begins rather than
            # something the layers have to learn. fc1 keeps its random init: fc2.weight still gets
            # the gradient c^T relu(fc1(x)) and moves away from 0 at the first step.
            nn.init.zeros_(self.fc2.weight)
            nn.init.zeros_(self.fc2.bias)

    def forward(self, x: Tensor) -> Tensor:  # x: (..., d)
        # The Jacobian is I + d(fc2(relu(fc1(x))))/dx: the identity term carries the gradient
        # from the output back to x whatever the branch does.
        return x + self.fc2(torch.relu(self.fc1(x)))  # (..., d)


def layer_gradient_norms(layers: Iterable[nn.Module], x: Tensor) -> Tensor:
    # A measurement, so autograd does the differentiation; enable_grad lets it work inside a
    # caller's torch.no_grad() too.
    with torch.enable_grad():
        h = x.detach().requires_grad_(True)  # h_0: a fresh leaf, x itself is left alone
        hs = [h]  # h_0 = x, then the output of every layer
        for layer in layers:
            h = layer(h)
            hs.append(h)
        # d(h_L.sum())/dh_l for every l at once; the last one is all ones. torch.autograd.grad
        # leaves the layers' .grad fields untouched.
        grads = torch.autograd.grad(h.sum(), hs)
    return torch.stack([g.norm() for g in grads])  # (L + 1,), in x's dtype
