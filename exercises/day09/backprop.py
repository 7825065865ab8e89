"""Day 9: backpropagation by hand — the forward and backward pass of a 2-layer ReLU MLP with a
squared-error loss, every gradient derived with the chain rule and written as tensor algebra.
"""

import torch  # noqa: F401 - for your solution
from torch import Tensor


def mlp_forward_backward(
    x: Tensor, y: Tensor, W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor
) -> tuple[Tensor, dict[str, Tensor]]:
    """Run a 2-layer MLP forward, then compute the gradient of its loss by hand.

    The network and its loss (weights act as `x @ W.T`, as in nn.Linear):

        z     = x @ W1.T + b1          z: Float[Tensor, "N d_hidden"]   (pre-activations)
        h     = relu(z)                h: Float[Tensor, "N d_hidden"]
        y_hat = h @ W2.T + b2          y_hat: Float[Tensor, "N d_out"]
        loss  = ((y_hat - y) ** 2).sum(-1).mean()

    The loss sums the squared errors over the d_out outputs of a row and averages over the N
    rows. It is not `F.mse_loss`, which would also divide by d_out.

    Args:
        x: Float[Tensor, "N d_in"], the inputs, one row per example.
        y: Float[Tensor, "N d_out"], the targets.
        W1: Float[Tensor, "d_hidden d_in"], b1: Float[Tensor, "d_hidden"], the first layer.
        W2: Float[Tensor, "d_out d_hidden"], b2: Float[Tensor, "d_out"], the second layer.

    Returns:
        (loss, grads):
        loss: a 0-d tensor, the loss above.
        grads: a dict with exactly the keys "W1", "b1", "W2", "b2"; grads[name] is
            d loss / d name, shaped like that parameter (grads["W1"] is (d_hidden, d_in), the
            layout of W1, not its transpose).
        Every tensor has the dtype and device of the inputs (float32 or float64).

    Conventions:
        - The derivative of relu at its kink is 0: relu'(z) = 1 where z > 0, and 0 where z <= 0
          (torch's autograd does the same). A pre-activation that is exactly 0 passes no
          gradient back.
        - Do not modify any input in place (no `y -= ...`, `x.mul_(...)`, `W1[...] = ...`).

    From scratch: no autograd. Do not call `.backward()`, `torch.autograd.grad`,
    `torch.autograd.backward`, `torch.func.grad` / `vjp` / `jacrev` or
    `torch.autograd.functional.*`: write each gradient out with the chain rule, from the
    output back to the first layer.
    """
    raise NotImplementedError
