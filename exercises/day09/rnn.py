"""Day 9: why a plain RNN's gradients vanish, and the LSTM cell that keeps them alive.

Conventions for everything in this file:
- Works for float32 and float64; returns tensors on the input's device and dtype; never
  modifies an input in place; keeps autograd working (gradients reach every input and
  parameter).
- Shapes in the docstrings are written jaxtyping-style: `Float[Tensor, "T d_in"]`.
"""

import math  # noqa: F401 - for your solution

import torch  # noqa: F401 - for your solution
from torch import Tensor, nn


def rnn_jacobian_norms(W_hh: Tensor, W_xh: Tensor, b: Tensor, xs: Tensor, h0: Tensor) -> Tensor:
    """How fast ∂h_t/∂h_0 shrinks (or grows) along one sequence of a plain tanh RNN.

    The RNN is
        h_t = tanh(W_hh h_{t-1} + W_xh x_t + b),   t = 1 .. T,
    started from h0. Run it over `xs` and return, for every t = 1 .. T, the spectral norm
    (largest singular value) of the Jacobian
        ∂h_t/∂h_0 = (∂h_t/∂h_{t-1}) (∂h_{t-1}/∂h_{t-2}) ... (∂h_1/∂h_0),
    where each one-step Jacobian is ∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hh (tanh' = 1 - tanh²,
    taken at the new state h_t). Build the product yourself, one (H, H) matrix per step, with the
    newest step multiplied on the left.

    Args:
        W_hh: Float[Tensor, "H H"], the recurrent weights.
        W_xh: Float[Tensor, "H d_in"], the input weights (applied as W_xh @ x_t).
        b: Float[Tensor, "H"], the bias.
        xs: Float[Tensor, "T d_in"], the inputs x_1 .. x_T of one sequence (T >= 1; no batch).
        h0: Float[Tensor, "H"], the initial state.

    Returns:
        Float[Tensor, "T"]: entry t-1 is ||∂h_t/∂h_0||_2 for t = 1 .. T (the first entry is
        after one step, not the identity before any). Use `torch.linalg.matrix_norm(J, ord=2)`
        (or the largest of `torch.linalg.svdvals(J)`), not the default Frobenius norm. The norm
        of a matrix equals that of its transpose, so the gradient's convention, a product of
        W_hhᵀ diag(1 - h_t²) factors in the opposite order, gives the same numbers.

    Since 0 < tanh' <= 1, every step can stretch a vector by at most ||W_hh||_2, so
    norms[t-1] <= ||W_hh||_2 ** t: below 1, the product vanishes at least geometrically.

    From scratch: no autograd (`torch.autograd.grad`, `.backward()`, `torch.autograd.functional
    .jacobian`, `torch.func.jacrev` / `jacfwd`); multiply the per-step Jacobians by hand.
    """
    raise NotImplementedError


class LSTMCell(nn.Module):
    """One step of an LSTM, the same computation and parameter layout as `torch.nn.LSTMCell`.

    Gates, from the input x and the previous state (h, c):
        i = σ(W_ii x + b_ii + W_hi h + b_hi)     input gate: how much of the candidate to write
        f = σ(W_if x + b_if + W_hf h + b_hf)     forget gate: how much of c to keep
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)  candidate values
        o = σ(W_io x + b_io + W_ho h + b_ho)     output gate: how much of the cell to show
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ tanh(c')
    Because c' is f ⊙ c plus something that does not depend on c, ∂c'/∂c = diag(f): no weight
    matrix and no squashing on the cell-state path, which is what lets gradients survive many
    steps when f is near 1.

    From scratch: do not use `nn.LSTMCell`, `nn.LSTM` or `torch.lstm_cell`.
    """

    def __init__(self, input_size: int, hidden_size: int):
        """Create the parameters.

        Args:
            input_size: the size of x.
            hidden_size: H, the size of h and c.

        Must register exactly these four `nn.Parameter`s (the grader loads weights by name):
            weight_ih: Float[Tensor, "4H input_size"]
            weight_hh: Float[Tensor, "4H H"]
            bias_ih:   Float[Tensor, "4H"]
            bias_hh:   Float[Tensor, "4H"]
        Rows [0:H) belong to the gate i, [H:2H) to f, [2H:3H) to g and [3H:4H) to o (the order
        i, f, g, o of torch.nn.LSTMCell). Both biases are added. Initialise every parameter
        uniformly in [-1/sqrt(H), 1/sqrt(H)], as torch does (not graded: the grader loads its own
        weights).
        """
        super().__init__()
        raise NotImplementedError

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """One time step.

        Args:
            x: Float[Tensor, "B input_size"]; an unbatched Float[Tensor, "input_size"] must work
                too (then h, c and the results are (H,)), as with torch.nn.LSTMCell.
            state: the previous (h, c), each Float[Tensor, "B H"]; None means both are zeros
                (of x's dtype and device, with x's batch shape).

        Returns:
            (h, c): the new hidden state and cell state, each Float[Tensor, "B H"] (or (H,)).
            Do not modify the tensors of `state` in place: build new ones.
        """
        raise NotImplementedError
