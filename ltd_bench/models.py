"""Recurrent nets on PyTorch's fused kernels, with the initialisations of the literature.

`forward_exposed` runs the same net with the input projection taken out of the fused kernel
(fed through an identity input matrix), so that autograd hands back ∂L/∂a_t — the gradient at
every step's pre-activation — from the one BPTT pass that training does anyway. Ω needs exactly
that (see omega.py) and nothing else from the time loop.

`forward_fast` (vanilla RNN on CPU, what training uses there) is the same net with a hand-written
BPTT: the forward runs without recording a graph (one batched input product, then an in-place addmm
and tanh per step), the backward is one reverse loop of two in-place ops per step,
δ_t = (d_t + δ_{t+1} W_hh) ⊙ f'(a_t) (d_t: the read-out's gradient at h_t), and the weight gradients
are then one batched product each. Autograd through the fused CPU kernel records ~10 nodes per step
instead: at H=50, batch 20 the step is ~2.5× faster (bench: `ltd-bench bench`), and it hands δ_t and
g_t = ∇_{h_t} L to Ω for free (an `OmegaRNN` hook, omega.py), which adds its W_hh gradient inside
the same product. Scratch buffers are kept between steps (`Workspace`).
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parametrize

from . import choices
from .config import ModelConfig
from .orthogonal import OrthogonalRNN, modrelu_
from .registry import Registry

MODELS: Registry = Registry("model", choices.MODELS)
INITS: Registry = Registry("init", choices.INITS)


class RecurrentNet(nn.Module):
    """One recurrent layer (time-major) and a linear read-out at every step."""

    def __init__(self, cfg: ModelConfig, input_size: int, output_size: int, gen: torch.Generator):
        super().__init__()
        self.kind, self.hidden_size = cfg.type, cfg.hidden_size
        kw = {"nonlinearity": cfg.nonlinearity} if cfg.type == "rnn" else {}
        if cfg.type == "orthogonal":
            kw = {"nonlinearity": cfg.nonlinearity, "orthogonal_map": cfg.orthogonal_map}
        self.rnn = MODELS.get(cfg.type)(input_size, cfg.hidden_size, **kw)
        self.readout = nn.Linear(cfg.hidden_size, output_size)
        with torch.no_grad():
            _init(self, cfg, gen)

    @property
    def w_hh(self) -> torch.Tensor:
        """The recurrent matrix (for the orthogonal model computed from its parameter: see `cached`)."""
        return self.rnn.weight_hh_l0

    @property
    def w_hh_param(self) -> nn.Parameter:
        """The parameter behind W_hh: W_hh itself, or the orthogonal model's skew-symmetric A."""
        return self.rnn.skew if self.kind == "orthogonal" else self.rnn.weight_hh_l0

    def cached(self):
        """A context in which W_hh is computed once (the orthogonal model's exponential: once per update
        and once per evaluation); a no-op for the other models."""
        return parametrize.cached() if self.kind == "orthogonal" else contextlib.nullcontext()

    def param_groups(self, lr_orth: float | None) -> list:
        """The optimizer's parameters: all in one group, or for the orthogonal model A in a group of its
        own at lr_orth (expRNN trains A at its own rate)."""
        params = list(self.parameters())
        if self.kind != "orthogonal":
            return params
        skew = self.w_hh_param
        return [{"params": [p for p in params if p is not skew]}, {"params": [skew], "lr": lr_orth}]

    def _weights(self) -> tuple:
        """(W_ih, W_hh, b_ih, b_hh, modReLU's b or None) of a vanilla or orthogonal RNN."""
        r = self.rnn
        if self.kind == "orthogonal":
            return r.weights()
        return r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0, None

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
        with (
            warnings.catch_warnings()
        ):  # cuDNN warns that these weights are not its flattened buffer: by design
            warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous")
            if self.kind == "lstm":
                hs = torch._VF.lstm(u, (h0, h0), *args)[0]
            elif self.kind == "gru":
                hs = torch._VF.gru(u, h0, *args)[0]
            elif r.nonlinearity in ("tanh", "relu"):
                fn = torch._VF.rnn_tanh if r.nonlinearity == "tanh" else torch._VF.rnn_relu
                hs = fn(u, h0, *args)[0]
            else:  # no fused kernel: sigmoid units always train on the hand-written path (fast_path)
                raise ValueError(f"forward_exposed: no fused kernel for a {r.nonlinearity} RNN")
        return self.readout(hs), hs, u

    @property
    def fast_path(self) -> bool:
        """Whether `forward_fast` applies: a vanilla RNN on the CPU (elsewhere the fused kernel, e.g.
        cuDNN, beats a loop of per-step kernel launches), and a sigmoid RNN and the orthogonal RNN everywhere
        (no fused kernel takes a computed W_hh and modReLU)."""
        if self.kind == "orthogonal":
            return True
        r = self.rnn
        return self.kind == "rnn" and (r.weight_hh_l0.device.type == "cpu" or r.nonlinearity == "sigmoid")

    def forward_fast(
        self, x: torch.Tensor, hook=None, last_only: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Like forward, with the hand-written BPTT (vanilla RNN, CPU: see `fast_path`). `hook`, if
        given, is called in the backward as hook(δ, g, d, hs, w_hh) (all (L, B, H) but w_hh: δ_t, g_t, the
        read-out's gradient d_t, h_t) and may return W_hh's whole gradient, Σ_t δ_tᵀ h_{t-1} plus its own
        term (Ω's, see omega.OmegaRNN); None leaves it at Σ_t δ_tᵀ h_{t-1}. δ and g are scratch buffers
        (g may be overwritten): a hook must not keep them past its call. last_only: read out the last
        step only (out is (1, B, O)), for losses that score out[-1] alone."""
        w_ih, w_hh, b_ih, b_hh, act_bias = self._weights()
        hs = _RNNFunction.apply(x, w_ih, w_hh, b_ih, b_hh, self.rnn.nonlinearity, hook, act_bias)
        return self.readout(hs[-1:] if last_only else hs), hs

    @torch.no_grad()
    def states(self, x: torch.Tensor) -> torch.Tensor:
        """h_t for every t (L, B, H), without a graph."""
        if self.fast_path:
            *w, act_bias = self._weights()
            return rnn_states(x, *w, self.rnn.nonlinearity, act_bias=act_bias)
        return self.rnn(x)[0]


@contextlib.contextmanager
def training_threads(threads: int):
    """Inside: `threads` intra-op threads and subnormals flushed (flush_denormals), as every run trains;
    after: both process-wide switches as the caller had them."""
    before, was_flushing = torch.get_num_threads(), flushing_denormals()
    torch.set_num_threads(threads)
    flush_denormals()
    try:
        yield
    finally:
        torch.set_flush_denormal(was_flushing)
        torch.set_num_threads(before)


def flush_denormals() -> bool:
    """Flush subnormal floats (|x| < 1.2e-38 in float32) to zero on this thread, as training does
    (train.train). Vanishing gradients over long sequences — the very regime studied here — decay
    through the subnormal range, where x86 arithmetic takes a microcode path ~100× slower: measured,
    the BPTT of a tanh RNN at T=200–1000 ran 3–10× slower without this. Values that small are zero
    for every quantity ltd-bench reports (Ω already ignores ‖g_t‖² < 1e-20). Returns whether supported."""
    return torch.set_flush_denormal(True)


def flushing_denormals() -> bool:
    """Whether subnormals are flushed now (torch has no getter): 1e-38 · 0.01 is subnormal unless flushed."""
    return float(torch.tensor(1e-38, dtype=torch.float32) * 0.01) == 0.0


def mm_(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """out += a @ b in place: `addmm_` for one run, `baddbmm_` for a pack (a leading run axis)."""
    return out.addmm_(a, b) if out.dim() == 2 else out.baddbmm_(a, b)


ACTIVATIONS = {"tanh": torch.Tensor.tanh_, "relu": torch.Tensor.relu_, "sigmoid": torch.Tensor.sigmoid_}


@torch.no_grad()
def rnn_states(
    x: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
    nonlinearity: str,
    ws: Workspace | None = None,
    act_bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """h_t for every t (h_{-1} = 0), no graph: one batched input product, then per step one in-place
    addmm and one in-place activation on the output buffer (faster on the CPU than the fused kernel's
    per-step linear + add + tanh with their temporaries). x is (L, B, I); or (L, K, B, I) for a pack of
    K runs, time-major so that each step's (K, B, H) block is contiguous, with weights stacked on a
    leading run axis (w_hh (K, H, H), b_ih (K, H), ...); hs likewise (L, B, H) or (L, K, B, H), in a
    buffer of `ws` (a pack's) if given. act_bias: modReLU's b (nonlinearity "modrelu", one run)."""
    L, *pack, B, _ = x.shape
    b = b_ih + b_hh
    if pack:  # the input product step by step, batched over the runs
        shape = (L, *pack, B, w_hh.shape[-1])
        hs = ws.get("h", x, shape) if ws is not None else x.new_empty(shape)
        for t in range(L):
            torch.baddbmm(b.unsqueeze(-2), x[t], w_ih.mT, out=hs[t])
    else:
        hs = torch.addmm(b, x.reshape(L * B, -1), w_ih.T).view(L, B, -1)
    hl, wt = hs.unbind(0), w_hh.mT
    if nonlinearity == "modrelu":
        act = lambda h: modrelu_(h, act_bias)
    else:
        act = (
            ACTIVATIONS[nonlinearity]
            if not pack or nonlinearity != "sigmoid"
            else _split_per_run(B * hs.shape[-1])
        )
    act(hl[0])
    for t in range(1, L):
        act(mm_(hl[t], hl[t - 1], wt))
    return hs


def _split_per_run(n: int):
    """sigmoid_ on a pack's step (K, B, H) as on each run's own (B, H): ATen's vectorized loop takes a
    tensor VECTOR_LOOP floats at a time and the rest on its scalar path, whose sigmoid differs in the
    last bit (tanh and relu do not), so each run's block is split where a single run's would be."""
    m = n // VECTOR_LOOP * VECTOR_LOOP

    def act(h: torch.Tensor) -> torch.Tensor:
        flat = h.view(h.shape[0], n)
        for part in (flat[:, :m], flat[:, m:]):
            if part.shape[1]:
                part.sigmoid_()
        return h

    return act


# floats per iteration of ATen's vectorized CPU loop: 2 vectors (AVX-512: 16 floats each; AVX2: 8)
VECTOR_LOOP = 32 if torch.backends.cpu.get_cpu_capability() == "AVX512" else 16


class Workspace(threading.local):
    """Scratch buffers of the hand-written BPTT, kept between steps (one set per thread). Fresh
    multi-MB temporaries each step cost page faults — the allocator hands big blocks back to the OS
    when they are freed — which measured as much as the arithmetic on them at T=1000. Nothing
    handed out from here outlives the backward that asked for it."""

    def __init__(self):
        self.bufs: dict[str, torch.Tensor] = {}

    def get(self, name: str, like: torch.Tensor, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        """A contiguous buffer of like's shape (or `shape`), dtype and device."""
        shape = like.shape if shape is None else shape
        n, b = math.prod(shape), self.bufs.get(name)
        if b is None or b.numel() < n or b.dtype != like.dtype or b.device != like.device:
            b = self.bufs[name] = torch.empty(n, dtype=like.dtype, device=like.device)
        return b[:n].view(shape)

    def clear(self) -> None:
        self.bufs.clear()


WORKSPACE = Workspace()


@torch.no_grad()
def bptt_rnn(
    direct: torch.Tensor,
    hs: torch.Tensor,
    w_hh: torch.Tensor,
    nonlinearity: str,
    keep_g: bool = False,
    ws: Workspace | None = None,
    form_delta: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The reverse recurrence of a vanilla RNN (row vectors, h_t = f(x_t W_ihᵀ + h_{t-1} W_hhᵀ + b)):
    g_t = d_t + δ_{t+1} W_hh,  δ_t = g_t ⊙ f'(a_t),  g_L = d_L. Returns δ and, if keep_g, g (L, B, H),
    or (L, K, B, H) for a pack (see rnn_states). `direct` holds d_t for every t, or only d_L (1, ...)
    when the loss reads the last step alone (d_t = 0 before). With keep_g and not form_delta, f'(a_t)
    comes back in δ's place: δ = f' ⊙ g is left to the caller (a pack forms each run's, in cache). With
    `ws` the results live in its buffers (valid until the next call on the same thread)."""
    new = (lambda name: ws.get(name, hs)) if ws is not None else (lambda name: torch.empty_like(hs))

    def start(name: str) -> torch.Tensor:  # a buffer holding d_t
        buf = new(name)
        if direct.shape[0] == len(hs):
            return buf.copy_(direct)
        buf[:-1].zero_()
        buf[-1:].copy_(direct)
        return buf

    if nonlinearity == "tanh":  # f'(a_t) from h_t
        dact = torch.addcmul(
            torch.ones((), dtype=hs.dtype, device=hs.device), hs, hs, value=-1, out=new("dact")
        )
    elif nonlinearity == "sigmoid":  # σ' = h (1 - h) = h - h²
        dact = torch.addcmul(hs, hs, hs, value=-1, out=new("dact"))
    elif nonlinearity == "modrelu":  # f'(a) = 1[h ≠ 0] (orthogonal.py)
        dact = new("dact").copy_(hs != 0)
    else:
        dact = new("dact").copy_(hs > 0)
    da = dact.unbind(0)
    if not keep_g:  # δ in place of a copy of d: two in-place ops per step
        delta = start("delta")
        dl = delta.unbind(0)
        dl[-1].mul_(da[-1])
        for t in range(len(dl) - 2, -1, -1):
            mm_(dl[t], dl[t + 1], w_hh).mul_(da[t])
        return delta, None
    # keeping g: the recurrence on g alone, g_t = d_t + (g_{t+1} ⊙ f'(a_{t+1})) W_hh, then δ = g ⊙ f' at
    # once, over f' (no longer needed): as much memory as without g. δ is the same, bit for bit.
    g = start("g")
    gl = g.unbind(0)
    tmp = torch.empty_like(gl[0], memory_format=torch.contiguous_format)
    for t in range(len(gl) - 2, -1, -1):
        mm_(gl[t], torch.mul(gl[t + 1], da[t + 1], out=tmp), w_hh)
    return (dact.mul_(g) if form_delta else dact), g


def rnn_grads(
    delta: torch.Tensor, x: torch.Tensor, hs: torch.Tensor, grad_w_hh: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One run's weight gradients from its δ (L, B, H) (bptt_rnn), each one product over all steps:
    W_ih's Σ_t δ_tᵀ x_t, W_hh's Σ_t δ_tᵀ h_{t-1} (h_{-1} = 0) unless given (Ω's hook returns it), and
    the bias's Σ_t δ_t (the same for b_ih and b_hh)."""
    L, B, H = delta.shape
    d2 = delta.view(L * B, H)
    if grad_w_hh is None:
        grad_w_hh = d2[B:].T @ hs[:-1].reshape((L - 1) * B, H)
    return d2.T @ x.reshape(L * B, -1), grad_w_hh, d2.sum(0)


class _RNNFunction(torch.autograd.Function):
    """A vanilla RNN layer (h_{-1} = 0): `rnn_states` forward, `bptt_rnn` backward. act_bias: modReLU's b,
    whose gradient is Σ_t δ_t ⊙ sign(h_t) (orthogonal.py)."""

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, nonlinearity, hook, act_bias=None):
        hs = rnn_states(x, w_ih, w_hh, b_ih, b_hh, nonlinearity, act_bias=act_bias)
        ctx.save_for_backward(x, w_ih, w_hh, hs)
        ctx.nonlinearity, ctx.hook = nonlinearity, hook
        return hs

    @staticmethod
    def backward(ctx, direct):
        x, w_ih, w_hh, hs = ctx.saved_tensors
        hook = ctx.hook
        delta, g = bptt_rnn(direct, hs, w_hh, ctx.nonlinearity, keep_g=hook is not None, ws=WORKSPACE)
        L, B, H = hs.shape
        grad_x = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = (delta.view(L * B, H) @ w_ih).view(x.shape)
        grad_w_hh = hook(delta, g, direct, hs, w_hh) if hook is not None else None
        grad_w_ih, grad_w_hh, grad_b = rnn_grads(delta, x, hs, grad_w_hh)
        grad_act_bias = None
        if ctx.needs_input_grad[7]:
            grad_act_bias = (delta * hs.sign()).sum((0, 1))
        # b_ih and b_hh get equal but separate tensors (autograd may adopt a returned tensor as .grad)
        return grad_x, grad_w_ih, grad_w_hh, grad_b, grad_b.clone(), None, None, grad_act_bias


class SigmoidRNN(nn.RNN):
    """A vanilla RNN with sigmoid units, h_t = σ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh): the paper's third
    setting. PyTorch has no fused kernel for it: the weights are nn.RNN's, the forward a loop over t
    (evaluation; training uses RecurrentNet.forward_fast, which covers sigmoid units on every device)."""

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "sigmoid"):
        super().__init__(input_size, hidden_size, nonlinearity="tanh")
        self.nonlinearity = "sigmoid"

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None):
        h = x.new_zeros(x.shape[1], self.hidden_size) if hx is None else hx[0]
        u = F.linear(x, self.weight_ih_l0, self.bias_ih_l0)
        hs = []
        for t in range(x.shape[0]):
            h = torch.sigmoid(u[t] + F.linear(h, self.weight_hh_l0, self.bias_hh_l0))
            hs.append(h)
        hs = torch.stack(hs)
        return hs, hs[-1:]


def _vanilla_rnn(input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> nn.RNN:
    cls = SigmoidRNN if nonlinearity == "sigmoid" else nn.RNN
    return cls(input_size, hidden_size, nonlinearity=nonlinearity)


MODELS.register("rnn")(_vanilla_rnn)
MODELS.register("lstm")(nn.LSTM)
MODELS.register("gru")(nn.GRU)
MODELS.register("orthogonal")(OrthogonalRNN)


def _init(net: RecurrentNet, cfg: ModelConfig, gen: torch.Generator) -> None:
    """All randomness from `gen`, so the same seed gives the same weights whatever else ran before:
    PyTorch's default uniform draw for every parameter, then the chosen init on top; the orthogonal
    model: expRNN's initialisation, model.init choosing its skew-symmetric A (orthogonal.py)."""
    r, h = net.rnn, cfg.hidden_size
    if cfg.type == "orthogonal":
        r.reset_parameters(net.readout, gen)
        INITS.get("henaff" if cfg.init == "default" else cfg.init)(r, [], h, cfg.type, gen)
        return
    params = [
        r.weight_ih_l0,
        r.weight_hh_l0,
        r.bias_ih_l0,
        r.bias_hh_l0,
        net.readout.weight,
        net.readout.bias,
    ]
    bound = h**-0.5
    for p in params:
        p.uniform_(-bound, bound, generator=gen)
    INITS.get(cfg.init)(r, params, h, cfg.type, gen)
    if cfg.type == "lstm":  # PyTorch gate order: input, forget, cell, output
        r.bias_ih_l0[h : 2 * h] = cfg.forget_bias
        r.bias_hh_l0[h : 2 * h] = 0.0


@INITS.register("default")
def _init_default(r: nn.RNNBase, params: list, h: int, kind: str, gen: torch.Generator) -> None:
    pass


@INITS.register("orthogonal")
def _init_orthogonal(r: nn.RNNBase, params: list, h: int, kind: str, gen: torch.Generator) -> None:
    for k in range(choices.GATES[kind]):
        nn.init.orthogonal_(r.weight_hh_l0[k * h : (k + 1) * h], generator=gen)
    r.bias_ih_l0.zero_(), r.bias_hh_l0.zero_()


@INITS.register("identity")
def _init_identity(r: nn.RNNBase, params: list, h: int, kind: str, gen: torch.Generator) -> None:
    if kind == "orthogonal":  # A = 0: W_hh = I, the rest as expRNN initialises it
        r.reset_skew("identity", gen)
        return
    r.weight_hh_l0.copy_(torch.eye(h))
    r.weight_ih_l0.normal_(0, 0.001, generator=gen)
    r.bias_ih_l0.zero_(), r.bias_hh_l0.zero_()


INITS.register("henaff")(lambda r, params, h, kind, gen: r.reset_skew("henaff", gen))
INITS.register("cayley")(lambda r, params, h, kind, gen: r.reset_skew("cayley", gen))


def _init_normal(std: float, params: list, gen: torch.Generator) -> None:
    for p in params:
        p.normal_(0, std, generator=gen) if p.dim() == 2 else p.zero_()


@INITS.register("basic_tanh")
def _init_basic_tanh(r: nn.RNNBase, params: list, h: int, kind: str, gen: torch.Generator) -> None:
    _init_normal(0.1, params, gen)


@INITS.register("sigmoid")
def _init_sigmoid(r: nn.RNNBase, params: list, h: int, kind: str, gen: torch.Generator) -> None:
    _init_normal(0.01, params, gen)


@INITS.register("smart_tanh")
def _init_smart_tanh(r: nn.RNNBase, params: list, h: int, kind: str, gen: torch.Generator) -> None:
    _init_normal(0.01, params, gen)
    r.weight_hh_l0.copy_(sparse_spectral(h, nonzeros=15, radius=0.95, gen=gen))


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
    block = {"rnn": w_hh, "orthogonal": w_hh, "lstm": w_hh[2 * h : 3 * h], "gru": w_hh[2 * h : 3 * h]}[kind]
    return float(torch.linalg.eigvals(block.detach().double().cpu()).abs().max())


def build_model(cfg: ModelConfig, input_size: int, output_size: int, seed: int) -> RecurrentNet:
    gen = torch.Generator().manual_seed(seed)
    return RecurrentNet(cfg, input_size, output_size, gen)
