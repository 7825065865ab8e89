"""Backpropagation by hand through a 2-layer ReLU MLP with a squared-error loss."""

import torch
from torch import Tensor


def mlp_forward_backward(
    x: Tensor, y: Tensor, W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor
) -> tuple[Tensor, dict[str, Tensor]]:
    N = x.shape[0]

    # Forward pass, keeping what the backward pass needs.
    z = x @ W1.T + b1  # (N, d_hidden) pre-activations
    h = torch.relu(z)  # (N, d_hidden)
    y_hat = h @ W2.T + b2  # (N, d_out)
    diff = y_hat - y  # (N, d_out)
    # Squared error summed over the outputs of a row, then averaged over the N rows.
    loss = (diff**2).sum(-1).mean()

    # Backward pass: the chain rule from the loss back to every parameter.
    # d loss / d y_hat: the square gives the 2, the mean over rows the 1/N.
    d_y_hat = 2.0 * diff / N  # (N, d_out)
    # y_hat = h W2^T + b2: each row adds its outer product d_y_hat[n] h[n]^T to dW2; the bias
    # receives every row's gradient, so it is summed over the batch.
    dW2 = d_y_hat.T @ h  # (d_out, d_hidden)
    db2 = d_y_hat.sum(dim=0)  # (d_out,)
    dh = d_y_hat @ W2  # (N, d_hidden)
    # relu'(z) is 1 where z > 0 and 0 elsewhere, 0 at the kink z = 0 included (as torch does). A
    # unit whose pre-activation is <= 0 for every row passes no gradient back: a "dead" neuron.
    dz = torch.where(z > 0, dh, torch.zeros_like(dh))  # (N, d_hidden)
    dW1 = dz.T @ x  # (d_hidden, d_in), the layout of W1
    db1 = dz.sum(dim=0)  # (d_hidden,)

    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
