"""Day 9: skip connections — a residual block that starts as the identity, and a measurement of
how the gradient changes as it travels down a deep stack of layers, with and without them.
"""

from collections.abc import Iterable

import torch  # noqa: F401 - for your solution
from torch import Tensor, nn


class ResidualBlock(nn.Module):
    """y = x + F(x) with F(x) = fc2(relu(fc1(x))): a two-layer branch added to its own input."""

    def __init__(self, d: int, zero_init: bool = True):
        """Create the branch.

        Args:
            d: width of the input and output features.
            zero_init: when True, set every entry of fc2's weight AND bias to 0, so that the
                branch outputs 0 and the block is exactly the identity when it is created.
                fc1 keeps nn.Linear's default init. When False, both layers keep nn.Linear's
                default init.

        Must create exactly these submodules (call `super().__init__()` first):
        `self.fc1 = nn.Linear(d, d)` and `self.fc2 = nn.Linear(d, d)`, both with a bias (the
        default), and no other parameters. The grader loads weights by these names.
        """
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x: Float[Tensor, "... d"], any number of leading dims.

        Returns:
            Float[Tensor, "... d"]: x + fc2(relu(fc1(x))), in x's dtype; x is not modified.
        """
        raise NotImplementedError


def layer_gradient_norms(layers: Iterable[nn.Module], x: Tensor) -> Tensor:
    """How large the gradient is at every depth of a stack of layers.

    Feed x through the layers in order and keep every intermediate result:

        h_0 = x,   h_l = layers[l - 1](h_{l - 1})   for l = 1 .. L   (L = number of layers)

    Then, with the scalar s = h_L.sum(), return the L2 norm of ds/dh_l for every l:

        norms[l] = || d(h_L.sum()) / d h_l ||_2      for l = 0 .. L

    The norm is taken over all entries of the gradient (the whole batch at once), so
    norms[L] = sqrt(h_L.numel()) always (the gradient of a sum w.r.t. its terms is all ones),
    and norms[0] is the size of the gradient that reaches the input. A deep plain stack makes
    norms[0] tiny compared with norms[L]; skip connections keep it close.

    Args:
        layers: the layers, applied in order: a list of modules, an nn.Sequential or an
            nn.ModuleList. Each takes the previous one's output (the widths may change).
        x: Float[Tensor, "B d_0"] (or any shape the first layer accepts), float32 or float64.

    Returns:
        Float[Tensor, "L+1"]: norms[0] for h_0 = x, ..., norms[L] for the last output; a 1-D
        tensor of x's dtype on x's device, with no autograd graph attached.

    Autograd is allowed and expected here: this is a measurement, not an exercise in the chain
    rule. `torch.autograd.grad(output, [h_0, ..., h_L])` gives every gradient in one call (make
    h_0 a leaf that requires grad first, without changing x itself). The gradients asked for
    are those of the intermediate results h_l, not of the layers' parameters. Work under
    `torch.enable_grad()` so the function also works when called inside `torch.no_grad()`.
    """
    raise NotImplementedError
