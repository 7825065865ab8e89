"""Why a plain RNN's gradients vanish, and the LSTM cell that keeps them alive."""

import math

import torch
from torch import Tensor, nn


def rnn_jacobian_norms(W_hh: Tensor, W_xh: Tensor, b: Tensor, xs: Tensor, h0: Tensor) -> Tensor:
    H = h0.shape[0]
    # ∂h_0/∂h_0 is the identity; every step multiplies one more Jacobian onto it.
    J = torch.eye(H, dtype=h0.dtype, device=h0.device)  # (H, H)
    h = h0
    norms = []
    for x in xs:  # x: (d_in,), one time step
        h = torch.tanh(W_hh @ h + W_xh @ x + b)  # (H,)
        # h_t = tanh(a_t) with a_t = W_hh h_{t-1} + ..., so ∂h_t/∂h_{t-1} = diag(tanh'(a_t)) W_hh,
        # and tanh'(a_t) = 1 - tanh(a_t)^2 = 1 - h_t^2: the new state, not the previous one.
        step = (1 - h**2)[:, None] * W_hh  # diag(1 - h_t^2) @ W_hh, (H, H)
        # Chain rule: ∂h_t/∂h_0 = (∂h_t/∂h_{t-1}) (∂h_{t-1}/∂h_0). The newest step goes on the
        # left; the matrices do not commute, so the order matters.
        J = step @ J  # (H, H)
        # The largest singular value: how much the worst-case direction of h_0 is stretched.
        norms.append(torch.linalg.matrix_norm(J, ord=2))
    return torch.stack(norms)  # (T,): entry t-1 is ||∂h_t/∂h_0||_2


class LSTMCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        # The four gates share one matrix each, stacked in the order i, f, g, o (H rows each).
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        # torch.nn.LSTMCell's initialisation: every weight uniform in ±1/sqrt(H).
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if state is None:
            zeros = x.new_zeros(*x.shape[:-1], self.hidden_size)  # (B, H), or (H,) unbatched
            state = (zeros, zeros)
        h, c = state
        gates = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each
        i = torch.sigmoid(i)  # input gate: how much of the candidate to write
        f = torch.sigmoid(f)  # forget gate: how much of the old cell state to keep
        g = torch.tanh(g)  # candidate values, in (-1, 1)
        o = torch.sigmoid(o)  # output gate: how much of the cell state to show
        # The cell state is updated by addition, scaled only elementwise by f: so
        # ∂c_t/∂c_{t-1} = diag(f_t), with no weight matrix and no squashing in between.
        c = f * c + i * g  # (B, H)
        h = o * torch.tanh(c)  # (B, H)
        return h, c
