"""Recurrent nets on PyTorch's fused kernels, with the initialisations of the literature.

`forward_exposed` runs the same net with the input projection taken out of the fused kernel
(fed through an identity input matrix), so that autograd hands back ∂L/∂a_t — the gradient at
every step's pre-activation — from the one BPTT pass that training does anyway. Ω needs exactly
that (see omega.py) and nothing else from the time loop.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import ModelConfig
from .registry import Registry

MODELS: Registry = Registry("model")
INITS = {
    "default": "PyTorch's U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias",
    "orthogonal": "orthogonal W_hh (Saxe 2014), default elsewhere, zero biases",
    "identity": "IRNN (Le 2015): W_hh = I, W_xh ~ N(0, 0.001), zero biases; use with relu",
    "smart_tanh": "Pascanu 2013 code: N(0, 0.01) weights, W_hh sparse (15 per unit) at spectral radius 0.95",
    "basic_tanh": "Pascanu 2013 code: every weight N(0, 0.1), zero biases",
}
GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # gate blocks in PyTorch's stacked weights


class RecurrentNet(nn.Module):
    """One recurrent layer (time-major) and a linear read-out at every step."""

    def __init__(self, cfg: ModelConfig, input_size: int, output_size: int, gen: torch.Generator):
        super().__init__()
        self.kind, self.hidden_size = cfg.type, cfg.hidden_size
        kw = {"nonlinearity": cfg.nonlinearity} if cfg.type == "rnn" else {}
        self.rnn = MODELS.get(cfg.type)(input_size, cfg.hidden_size, **kw)
        self.readout = nn.Linear(cfg.hidden_size, output_size)
        with torch.no_grad():
            _init(self, cfg, gen)

    @property
    def w_hh(self) -> torch.Tensor:
        return self.rnn.weight_hh_l0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hs, _ = self.rnn(x)
        return self.readout(hs), hs

    def forward_exposed(self, x: torch.Tensor):
        """Like forward, plus u = W_ih x_t + b_ih; after backward, u.grad[t] = ∂L/∂(gate pre-activations at t)."""
        r = self.rnn
        u = F.linear(x, r.weight_ih_l0, r.bias_ih_l0)
        g = u.shape[-1]
        eye = torch.eye(g, dtype=u.dtype, device=u.device)
        params = [eye, r.weight_hh_l0, torch.zeros(g, dtype=u.dtype, device=u.device), r.bias_hh_l0]
        h0 = x.new_zeros(1, x.shape[1], self.hidden_size)
        args = (params, True, 1, 0.0, self.training, False, False)
        if self.kind == "lstm":
            hs = torch._VF.lstm(u, (h0, h0), *args)[0]
        elif self.kind == "gru":
            hs = torch._VF.gru(u, h0, *args)[0]
        else:
            fn = torch._VF.rnn_tanh if r.nonlinearity == "tanh" else torch._VF.rnn_relu
            hs = fn(u, h0, *args)[0]
        return self.readout(hs), hs, u


MODELS.register("rnn", "vanilla RNN (tanh or relu), fused nn.RNN kernel")(nn.RNN)
MODELS.register("lstm", "LSTM with configurable forget-gate bias, fused nn.LSTM kernel")(nn.LSTM)
MODELS.register("gru", "GRU, fused nn.GRU kernel (Ω via a batched VJP: not in the paper)")(nn.GRU)


def _init(net: RecurrentNet, cfg: ModelConfig, gen: torch.Generator) -> None:
    """All randomness from `gen`, so the same seed gives the same weights whatever else ran before."""
    r, h = net.rnn, cfg.hidden_size
    params = [r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0, net.readout.weight, net.readout.bias]
    bound = h ** -0.5
    for p in params:
        p.uniform_(-bound, bound, generator=gen)
    if cfg.init == "orthogonal":
        for k in range(GATES[cfg.type]):
            nn.init.orthogonal_(r.weight_hh_l0[k * h:(k + 1) * h], generator=gen)
        r.bias_ih_l0.zero_(), r.bias_hh_l0.zero_()
    elif cfg.init == "identity":
        r.weight_hh_l0.copy_(torch.eye(h))
        r.weight_ih_l0.normal_(0, 0.001, generator=gen)
        r.bias_ih_l0.zero_(), r.bias_hh_l0.zero_()
    elif cfg.init in {"smart_tanh", "basic_tanh"}:
        std = 0.01 if cfg.init == "smart_tanh" else 0.1
        for p in params:
            p.normal_(0, std, generator=gen) if p.dim() == 2 else p.zero_()
        if cfg.init == "smart_tanh":
            r.weight_hh_l0.copy_(sparse_spectral(h, nonzeros=15, radius=0.95, gen=gen))
    if cfg.type == "lstm":  # PyTorch gate order: input, forget, cell, output
        r.bias_ih_l0[h:2 * h] = cfg.forget_bias
        r.bias_hh_l0[h:2 * h] = 0.0


def sparse_spectral(h: int, nonzeros: int, radius: float, gen: torch.Generator) -> torch.Tensor:
    """Pascanu 2013 code's W_hh: `nonzeros` N(0,1) entries per unit, rescaled to the given spectral radius."""
    w = torch.zeros(h, h, dtype=torch.float64)
    k = min(nonzeros, h)
    cols = torch.rand(h, h, generator=gen).argsort(dim=1)[:, :k]
    w.scatter_(1, cols, torch.randn(h, k, generator=gen, dtype=torch.float64))
    rho = torch.linalg.eigvals(w).abs().max()
    return (w * (radius / rho) if rho > 0 else w).float()


def spectral_radius(w_hh: torch.Tensor, kind: str) -> float:
    """Largest |eigenvalue| of the recurrent matrix (the candidate block for gated cells)."""
    h = w_hh.shape[1]
    block = {"rnn": w_hh, "lstm": w_hh[2 * h:3 * h], "gru": w_hh[2 * h:3 * h]}[kind]
    return float(torch.linalg.eigvals(block.detach().double().cpu()).abs().max())


def build_model(cfg: ModelConfig, input_size: int, output_size: int, seed: int) -> RecurrentNet:
    gen = torch.Generator().manual_seed(seed)
    return RecurrentNet(cfg, input_size, output_size, gen)
