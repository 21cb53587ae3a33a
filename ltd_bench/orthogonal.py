"""The orthogonal RNN: a vanilla RNN whose W_hh stays orthogonal throughout training (docs/orthogonal.md).

h_t = f(W_ih x_t + W_hh h_{t-1} + b), W_hh = exp(A) with A skew-symmetric (expRNN: Lezcano-Casado &
Martínez-Rubio 2019, "Cheap orthogonal constraints in neural networks"), or the Cayley transform of A.
The map is PyTorch's own torch.nn.utils.parametrizations.orthogonal (use_trivialization=False: the
parameter is A itself, stored as the strict lower triangle of `original`, as expRNN's static `exprnn`
mode), so W_hh is a function of the parameter: read it once per update (`parametrize.cached()`, see
models.RecurrentNet.cached) and autograd carries every gradient of W_hh — the loss's and Ω's, added in
the hand-written BPTT (models.py) — through matrix_exp's backward to A, before any clipping.

That backward (PyTorch's) is the exponential of the 2H × 2H block matrix [[Aᵀ, G], [0, Aᵀ]] (Mathias
1996), its Taylor degree and squarings chosen from that matrix's 1-norm, ≥ ‖G‖₁: a large cotangent G
(modReLU's, or any gradient before clipping) costs squarings and digits. The gradient is linear in G, so
it is taken on 2^-k G with ‖2^-k G‖₁ < 2^-COTANGENT_LOG2 and scaled back by 2^k (`scale_cotangent`): the
same math, powers of two (exact), and the degree and squarings then follow ‖A‖₁ alone, as the forward's.

f is tanh, relu or modReLU (Arjovsky, Shah & Bengio 2016; expRNN's `modrelu`): f(a) = sign(a)·relu(|a| + b)
with a learned b (then no additive bias, as in expRNN). Its derivative, a.e., is f'(a) = 1[a ≠ 0, |a| + b > 0]
= 1[h ≠ 0], and ∂h/∂b = sign(a)·1[|a| + b > 0] = sign(h): both from h_t alone, like tanh's 1 − h².

Initialisation (`reset_parameters`, `reset_skew`), as expRNN's code (github.com/Lezcano/expRNN):
W_ih and the read-out Kaiming-normal for relu (orthogonal.py, 1_copying.py), zero read-out and additive
biases, modReLU's b ~ U(-0.01, 0.01) (exprnn.py `modrelu`); A from initialization.py: `henaff_init_`
(Henaff, Szlam & LeCun 2016: 2×2 rotation blocks, angles U(-π, π)), `cayley_init_` (Helfrich, Willmott &
Ye 2018: blocks −tan(θ/2) = −sqrt((1 − cos θ)/(1 + cos θ)), θ ~ U(0, π/2)), or A = 0 (W_hh = I).
expRNN multiplies row vectors, h_t = f(x_t W + h_{t-1} B) with B = exp(A); here W_hh = Bᵀ = exp(Aᵀ), so the
recurrence is expRNN's exactly.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrizations


def modrelu_(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """modReLU in place on the pre-activation a (…, H): sign(a)·relu(|a| + b)."""
    s = torch.sign(a)
    return a.abs_().add_(b).relu_().mul_(s)


def modrelu(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """modReLU, out of place (expRNN's `modrelu.forward`, the same ops in the same order as modrelu_)."""
    return torch.sign(a) * torch.relu(a.abs() + b)


def henaff_skew(h: int, gen: torch.Generator) -> torch.Tensor:
    """expRNN's henaff_init_: angles U(-π, π) on the first superdiagonal's even entries."""
    return _blocks(h, torch.empty(h // 2).uniform_(-math.pi, math.pi, generator=gen))


def cayley_skew(h: int, gen: torch.Generator) -> torch.Tensor:
    """expRNN's cayley_init_: θ ~ U(0, π/2), entries −sqrt((1 − cos θ)/(1 + cos θ))."""
    theta = torch.empty(h // 2).uniform_(0.0, math.pi / 2, generator=gen)
    return _blocks(h, -torch.sqrt((1.0 - torch.cos(theta)) / (1.0 + torch.cos(theta))))


def _blocks(h: int, diag: torch.Tensor) -> torch.Tensor:
    """expRNN's create_diag_: A[2i, 2i+1] = diag[i] = −A[2i+1, 2i], zero elsewhere."""
    upper = torch.zeros(max(h - 1, 0))
    upper[::2] = diag
    a = torch.diag(upper, 1)
    return a - a.T


# ‖2^-k G‖₁ < 2^-10: raises the block matrix's norm over ‖A‖₁ by < 0.001 (its degree and squarings are
# then A's unless ‖A‖₁ sits within 0.001 below a threshold), while G's entries down to 2^-100 of its largest
# stay normal floats (float32's smallest normal is 2^-126)
COTANGENT_LOG2 = 10


def cotangent_scale(g: torch.Tensor) -> torch.Tensor:
    """2^k per matrix of g (…, H, H), on g's device (no host read: on a GPU a pack's backward does not
    wait), with ‖2^-k G‖₁ < 2^-COTANGENT_LOG2; 1 where the norm is 0 or not finite (nothing to gain, or
    nothing to save). |k| ≤ 100: 2^±k is a normal float32, and scaling by it is exact."""
    norm = one_norm(g)
    k = (torch.frexp(norm).exponent + COTANGENT_LOG2).clamp_(-100, 100)
    k = torch.where(torch.isfinite(norm) & (norm != 0), k, 0)
    return torch.ldexp(torch.ones_like(norm), k)


def one_norm(m: torch.Tensor) -> torch.Tensor:
    """The operator 1-norm (largest column sum of |m|) of each matrix of (…, H, H), as ATen's matrix_exp
    takes it to choose its degree and scaling."""
    return m.abs().sum(-2).amax(-1)


def scale_cotangent(w: torch.Tensor) -> torch.Tensor:
    """Hooks on W = matrix_exp(A)'s own backward node (PyTorch's), once per node: each matrix's cotangent G
    goes in as 2^-k G (2^k from `cotangent_scale`), its A's gradient comes out × 2^k (module docstring).
    Node hooks cost no autograd call of their own. W is one matrix (H, H) or a batch (K, H, H), each
    matrix with its own k: alone or in a pack, the same bits. Any other node (the Cayley map's solve
    picks no degree; no graph): nothing. Returns w."""
    node = w.grad_fn
    if type(node).__name__ != "LinalgMatrixExpBackward0" or node.metadata.get("scaled"):
        return w
    node.metadata["scaled"] = True
    up = []  # 2^k per matrix (…, 1, 1), from the pre-hook to the hook (a list: no cycle through the node)

    def pre(grad_outputs):
        (g,) = grad_outputs
        up.clear()
        if g is None:
            return None
        up.append(cotangent_scale(g)[..., None, None])
        return (g / up[0],)  # powers of two: exact, and × 1 where k = 0

    def post(grad_inputs, grad_outputs):
        if not up:
            return None
        return tuple(None if g is None else g * up[0] for g in grad_inputs)

    node.register_prehook(pre)
    node.register_hook(post)
    return w


# torch.matrix_exp (ATen) takes for one matrix the lowest Taylor degree (1, 2, 4, 8, 12, 18) its 1-norm
# allows, and for a batch of more than one degree 18 for every matrix: from θ₁₂ (ATen's bound for degree
# 12, below) up one matrix takes degree 18 too, with the same scaling, so a batched call gives each matrix
# the bits it gets alone (tests/test_orthogonal.py pins this); below θ₁₂ it does not
THETA_12 = {torch.float32: 1.461661507209034, torch.float64: 0.2996158913811580}


def pack_weights(par: nn.Module, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    """W_hh = par(x) for each run's parameter x (a pack's, pack.py), each with its graph to x and, on the
    CPU, the bits it has alone: the Cayley map in one batched call (a batched solve solves each matrix as
    alone), the exponential batched over the runs whose ‖A‖₁ ≥ θ₁₂ (THETA_12), the others one by one.
    Elsewhere (a GPU promises a pack its runs' numbers to rounding only: pack.py) every run in one call,
    with no host read of the norms."""
    x = torch.stack(xs)
    if par.orthogonal_map.name == "matrix_exp" and x.device.type == "cpu":
        low = x.detach().tril()  # A as the parametrization forms it, and its 1-norm as ATen takes it
        norm = one_norm(low - low.mH)
        theta = THETA_12.get(x.dtype)
        batch = (norm >= theta).tolist() if theta is not None else [False] * len(xs)
    else:
        batch = [True] * len(xs)
    out: list = [None] * len(xs)
    idx = [k for k, b in enumerate(batch) if b]
    if len(idx) > 1:
        ws = scale_cotangent(par(x if len(idx) == len(xs) else x[idx]))
        for k, w in zip(idx, ws.unbind(0), strict=True):
            out[k] = w
    return [scale_cotangent(par(xs[k])) if w is None else w for k, w in enumerate(out)]


SKEW_INITS = {"henaff": henaff_skew, "cayley": cayley_skew, "identity": lambda h, gen: torch.zeros(h, h)}


class OrthogonalRNN(nn.Module):
    """One orthogonal recurrent layer, time-major like nn.RNN: forward(x) -> (h_t for all t, h_L[None]).
    Parameters: weight_ih_l0 (H, I); weight_hh_l0, parametrized orthogonal (its parameter:
    `skew`, i.e. parametrizations.weight_hh_l0.original); bias_ih_l0 (H) for tanh/relu, or modrelu_bias
    (H) for modReLU. Training runs the hand-written BPTT of models.py on `weights()`; `forward` is a
    plain loop (evaluation, tests)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        nonlinearity: str = "tanh",
        orthogonal_map: str = "matrix_exp",
    ):
        super().__init__()
        self.hidden_size, self.nonlinearity = hidden_size, nonlinearity
        self.weight_ih_l0 = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.zeros(hidden_size, hidden_size))
        bias = nn.Parameter(torch.zeros(hidden_size))
        if nonlinearity == "modrelu":
            self.modrelu_bias = bias
        else:
            self.bias_ih_l0 = bias
        self.register_buffer("zero_bias", torch.zeros(hidden_size), persistent=False)
        parametrizations.orthogonal(
            self, "weight_hh_l0", orthogonal_map=orthogonal_map, use_trivialization=False
        )

    @property
    def skew(self) -> nn.Parameter:
        """The trained parameter behind W_hh: its strict lower triangle L gives A = L − Lᵀ."""
        return self.parametrizations.weight_hh_l0.original

    @property
    def act_bias(self) -> torch.Tensor | None:
        return self.modrelu_bias if self.nonlinearity == "modrelu" else None

    def weights(self) -> tuple[torch.Tensor, ...]:
        """(W_ih, W_hh, additive bias, a zero bias, modReLU's b or None): models.rnn_states' arguments.
        Reads W_hh once (one exponential, unless inside parametrize.cached()), its backward scaled
        (scale_cotangent)."""
        b = self.zero_bias if self.nonlinearity == "modrelu" else self.bias_ih_l0
        w_hh = scale_cotangent(self.weight_hh_l0)
        return self.weight_ih_l0, w_hh, b, self.zero_bias, self.act_bias

    @torch.no_grad()
    def reset_parameters(self, readout: nn.Linear, gen: torch.Generator) -> None:
        """expRNN's initialisation of everything but A (module docstring), all draws from `gen`."""
        for w in (self.weight_ih_l0, readout.weight):  # Kaiming normal, relu gain, fan in
            w.normal_(0.0, math.sqrt(2.0 / w.shape[1]), generator=gen)
        readout.bias.zero_()
        if self.nonlinearity == "modrelu":
            self.modrelu_bias.uniform_(-0.01, 0.01, generator=gen)
        else:
            self.bias_ih_l0.zero_()

    @torch.no_grad()
    def reset_skew(self, init: str, gen: torch.Generator) -> None:
        """A from one of SKEW_INITS; stored transposed (W_hh = exp(Aᵀ) = expRNN's Bᵀ, module docstring)."""
        a = SKEW_INITS[init](self.hidden_size, gen).to(self.skew)
        self.skew.copy_(a.T.tril(-1))

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None):
        w_ih, w_hh, b, b0, act_bias = self.weights()
        u = torch.nn.functional.linear(x, w_ih, b + b0)
        h = x.new_zeros(x.shape[1], self.hidden_size) if hx is None else hx[0]
        hs = []
        for t in range(x.shape[0]):
            a = u[t] + h @ w_hh.T
            h = modrelu(a, act_bias) if act_bias is not None else ACT[self.nonlinearity](a)
            hs.append(h)
        hs = torch.stack(hs)
        return hs, hs[-1:]


ACT = {"tanh": torch.tanh, "relu": torch.relu}


def orthogonality_error(w: torch.Tensor) -> float:
    """‖WᵀW − I‖_F, in float64."""
    w = w.detach().double()
    return float(torch.linalg.matrix_norm(w.T @ w - torch.eye(w.shape[0], dtype=w.dtype, device=w.device)))
