"""The information-flow regularizer Ω (Pascanu, Mikolov, Bengio 2013 §3.3; Goodfellow et al. §10.11;
docs/science.md). The trainer makes two calls, whatever the model: `backward` (the step's gradient with
α·Ω's added) and `probe` (Ω and the gradient flow on held-out data).

With g_t = ∇_{h_t} L (total, through all later steps) and J_t = ∂h_t/∂h_{t-1}:
    book:        Ω = Σ_t (‖g_t J_t‖/‖g_t‖ − 1)²                 summed over t, averaged over the batch
    pascanu2013: Ω = mean over valid (t, b) of (‖g_t J_t‖²/‖g_t‖² − 1)²   (the original code)
Terms with ‖g_t‖² < 1e-20 are left out (the original code's guard). g_t (and, for the RNN, h_t) are
held constant; the gradient of Ω is taken w.r.t. W_hh only. Scaling with T: the book form grows
with T (a sum), so α must shrink ~1/T to keep the same pull; pascanu2013 is a mean, so its α does not.

Fast path (vanilla RNN). PyTorch's RNN is h_t = f(a_t), a_t = W_ih x_t + b + W_hh h_{t-1}, so with
δ_t = ∂L/∂a_t = g_t ⊙ f'(a_t) (handed back by the one BPTT pass, models.forward_exposed):
    g_t J_t = δ_t W_hh          and          g_{t-1} = d_{t-1} + δ_t W_hh
(d_t the read-out's direct gradient). Every t is then one (L·B × H) @ (H × H) product: no loop
over t, no double backward through the unrolled graph.

Training on the CPU goes further (`OmegaRNN`, a hook of models.forward_fast's hand-written BPTT):
δ_t and g_t come out of the reverse loop itself, Ω's gradient is written in closed form,
    ∂Ω/∂(g_t J_t) = c_t · g_t J_t,   book: c_t = 2(r_t − 1)/(B r_t ‖g_t‖²),
                                     pascanu2013: c_t = 4(r_t² − 1)/(N ‖g_t‖²)   (r_t = ‖g_t J_t‖/‖g_t‖,
N the number of valid terms, c_t = 0 on guarded terms), so ∂Ω/∂W_hh = Σ_t δ_tᵀ (c_t g_t J_t) rides in
the same product as the loss's Σ_t δ_tᵀ h_{t-1}: Ω costs one (L·B × H) @ (H × H) product, two row-norm
passes and one scaling pass on top of the plain step.

Gated cells (LSTM, GRU; not in the paper). J_t is the cell's Jacobian w.r.t. h_{t-1}, with the
inputs, c_{t-1} (LSTM) and the step's incoming state held constant; g_t J_t is one vector–Jacobian
product of a single cell step batched over all t (create_graph, through one step only). The W_hh
gradient then also flows through the gate activations' dependence on W_hh at fixed h_{t-1}.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from . import choices
from .models import RecurrentNet, bptt_rnn, spectral_radius
from .registry import Registry

GUARD = 1e-20  # the original code's threshold on ‖g_t‖²


def omega_terms(gj: torch.Tensor, g: torch.Tensor, form: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Ω from g_t J_t and g_t, both (L, B, H) (g constant). Returns (Ω, mean ratio ‖g_t J_t‖/‖g_t‖)."""
    gsq = g.square().sum(-1)
    valid = gsq >= GUARD
    safe_gsq = torch.where(valid, gsq, torch.ones_like(gsq))
    vsq = gj.square().sum(-1)
    ratio_sq = vsq / safe_gsq
    n_valid = valid.sum().clamp(min=1)
    if form == "pascanu2013":
        omega = torch.where(valid, (ratio_sq - 1).square(), 0.0).sum() / n_valid
    else:
        # sqrt with a safe argument: d‖v‖/dv is undefined at v = 0 (a fully saturated step)
        pos = ratio_sq > 0
        ratio = torch.where(pos, torch.where(pos, ratio_sq, 1.0).sqrt(), 0.0)
        omega = torch.where(valid, (ratio - 1).square(), 0.0).sum() / g.shape[1]
    with torch.no_grad():
        mean_ratio = torch.where(valid, ratio_sq.sqrt(), 0.0).sum() / n_valid
    return omega, mean_ratio


def omega_rnn(delta: torch.Tensor, direct: torch.Tensor, w_hh: torch.Tensor, form: str):
    """Ω for a vanilla RNN from one BPTT pass; differentiable w.r.t. w_hh only. Returns (Ω, ratio, g)."""
    delta = delta.detach()
    gj = delta @ w_hh  # g_t J_t for every t at once, the only op that carries W_hh's gradient
    g = direct.detach().clone()
    g[:-1] += gj[1:].detach()
    omega, ratio = omega_terms(gj, g, form)
    return omega, ratio, g


def omega_closed(
    gj: torch.Tensor, g: torch.Tensor, form: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ω, the mean ratio and c (L, B) with ∂Ω/∂gj = c ⊙ gj — omega_terms' values with the gradient in
    closed form (no graph). Same guard and same treatment of r_t = 0 (no gradient there). A pack of runs
    (a leading run axis on gj and g) gets one Ω and one ratio per run."""
    return _closed(_sqnorm(g), _sqnorm(gj), g.shape[-2], form)


def _sqnorm(v: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(v, dim=-1).square_()


def _closed(gsq: torch.Tensor, vsq: torch.Tensor, batch: int, form: str):
    """omega_closed from ‖g_t‖² and ‖g_t J_t‖² ((L, B), or (K, L, B) for a pack); vsq is overwritten.
    Written with few, float-only passes over (L, B) (bool masks cost conversions): it runs every
    training step."""
    valid = (gsq >= GUARD).to(gsq.dtype)
    inv = gsq.clamp(min=GUARD).reciprocal_().mul_(valid)  # 1/‖g_t‖², 0 on guarded terms
    r2 = vsq.mul_(inv)  # r_t², 0 on guarded terms
    per_run = (-2, -1)  # sums over (t, b): per run in a pack
    n_valid = valid.sum(per_run).clamp_(min=1)
    r = r2.sqrt()
    if form == "pascanu2013":
        e = r2.sub_(1)
        omega = e.square().mul_(valid).sum(per_run) / n_valid
        coef = e.mul_(inv).mul_((4.0 / n_valid)[..., None, None])
    else:
        e = r - 1
        omega = e.square().mul_(valid).sum(per_run) / batch
        # 2(r − 1)/(B r ‖g‖²); 0 where r = 0 (g_t J_t = 0: no direction) or the term is guarded
        pos = r > 0
        coef = e.mul_(inv).div_(torch.where(pos, r, 1.0)).mul_(pos).mul_(2.0 / batch)
    mean_ratio = r.sum(per_run) / n_valid
    return omega, mean_ratio, coef


class OmegaRNN:
    """Ω of a vanilla RNN inside models.forward_fast's backward (see the module docstring), or inside a
    pack's (pack.py). After the backward: `omega` and `ratio` (0-d tensors, or one per run of a pack)
    are set; with alpha > 0 the gradient of alpha·Ω w.r.t. W_hh (g, h held constant) has been added to
    the loss gradient."""

    def __init__(self, alpha: float | torch.Tensor, form: str, last_only: bool | None = None):
        """alpha: a number, or for a pack a (K,) tensor, one weight per run; last_only: whether the loss
        reads the last step's output only (tasks with target "last"); None checks the read-out's gradient
        instead (one pass over it)."""
        self.alpha, self.form, self.last_only = alpha, form, last_only
        self.omega = self.ratio = None

    @torch.no_grad()
    def __call__(self, delta, g, direct, hs, w_hh) -> torch.Tensor | None:
        """W_hh's whole gradient, Σ_t δ_tᵀ (h_{t-1} + α c_t g_t J_t) (the loss's and αΩ's in one product),
        or None when α = 0. Overwrites g (scratch)."""
        terms = self.terms(delta, g, direct, w_hh)
        return None if terms is None else self.grad(delta, hs, *terms)

    @torch.no_grad()
    def terms(self, delta, g, direct, w_hh, delta0: torch.Tensor | None = None):
        """(g_0 J_0, g_t J_t for t ≥ 1, α c_t): what `grad` needs; None when α = 0 (Ω and the ratio are
        set either way). delta, g, direct: (L, B, H), or a pack's (L, K, B, H) (models.bptt_rnn), whose
        α c_t comes back run-major (K, L, B, 1) and the rest time-major; g_t J_t may be a view of g.
        delta0: δ_0, where delta is not δ (a pack's f', bptt_rnn's form_delta; the last step read out only)."""
        L, *pack, B, H = delta.shape
        gj0 = (delta[0] if delta0 is None else delta0) @ w_hh  # g_0 J_0
        gsq = _sqnorm(g)
        last_only = L > 1 and self.last_only
        if L > 1 and self.last_only is None:
            lo, hi = torch.aminmax(direct[:-1])
            last_only = bool((lo == 0) & (hi == 0))
        if last_only:
            # The read-out scores only the last step (most tasks): then g_{t-1} = δ_t W_hh = g_t J_t
            # exactly, so g[:-1] already holds g_t J_t for t ≥ 1, and ‖g_t J_t‖² = ‖g_{t-1}‖².
            gj = g[:-1]
            vsq = torch.cat([_sqnorm(gj0)[None], gsq[:-1]])
        else:
            if pack:  # step by step, batched over the runs
                full = torch.empty_like(delta)
                for t in range(L):
                    torch.bmm(delta[t], w_hh, out=full[t])
            else:
                full = torch.mm(delta.view(L * B, H), w_hh).view(L, B, H)
            gj, vsq = full[1:], _sqnorm(full)
        if pack:  # Ω's sums run over each run's own (t, b), in the single run's order
            gsq, vsq = gsq.transpose(0, 1).contiguous(), vsq.transpose(0, 1).contiguous()
        self.omega, self.ratio, coef = _closed(gsq, vsq, B, self.form)
        alpha = self.alpha
        if isinstance(alpha, torch.Tensor):
            alpha = alpha.to(coef.dtype).view(*pack, 1, 1)
        elif not alpha > 0:
            return None
        return gj0, gj, coef.mul_(alpha).unsqueeze(-1)

    @staticmethod
    @torch.no_grad()
    def grad(delta, hs, gj0, gj, coef, out: torch.Tensor | None = None, scaled: bool = False) -> torch.Tensor:
        """W_hh's gradient of one run from `terms` (of one run: (L, B, ·)), with h_{t-1} + α c_t g_t J_t
        (t ≥ 1) written over gj, or into `out` (contiguous, (L-1, B, H)). scaled: gj0 is g_0 J_0 ⊙ α c_0
        already."""
        H = delta.shape[-1]
        grad = delta[0].T @ (gj0 if scaled else gj0 * coef[0])  # t = 0, where h_{-1} = 0
        right = torch.addcmul(hs[:-1], coef[1:], gj, out=gj if out is None else out)
        return grad.addmm_(delta[1:].reshape(-1, H).T, right.reshape(-1, H))


# ------------------------------------------------------------------------------------- gated cells
def _lstm_states(u: torch.Tensor, hs: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """c_{t-1} for every t (c_0 = 0) from the fused forward's inputs and outputs: one batched gate
    computation, then the elementwise scan c_t = f_t c_{t-1} + i_t ĝ_t."""
    h_prev = torch.cat([torch.zeros_like(hs[:1]), hs[:-1]])
    i, f, gg, _ = (u + h_prev @ w_hh.T + b_hh).chunk(4, -1)
    i, f, gg = i.sigmoid(), f.sigmoid(), gg.tanh()
    c = torch.zeros_like(hs[0])
    cs = []
    for t in range(hs.shape[0]):
        cs.append(c)
        c = f[t] * c + i[t] * gg[t]
    return torch.stack(cs)


def _cell_step(
    kind: str,
    u: torch.Tensor,
    h_prev: torch.Tensor,
    w_hh: torch.Tensor,
    b_hh: torch.Tensor,
    c_prev: torch.Tensor | None,
) -> torch.Tensor:
    """h_t of one step for all (t, b) at once; u = W_ih x_t + b_ih."""
    a = h_prev @ w_hh.T + b_hh
    if kind == "lstm":
        i, f, gg, o = (u + a).chunk(4, -1)
        c = f.sigmoid() * c_prev + i.sigmoid() * gg.tanh()
        return o.sigmoid() * c.tanh()
    ur, uz, un = u.chunk(3, -1)
    ar, az, an = a.chunk(3, -1)
    r, z = (ur + ar).sigmoid(), (uz + az).sigmoid()
    n = (un + r * an).tanh()
    return (1 - z) * n + z * h_prev


def total_grads_gated(
    kind: str,
    delta: torch.Tensor,
    direct: torch.Tensor,
    u: torch.Tensor,
    hs: torch.Tensor,
    w_hh: torch.Tensor,
    b_hh: torch.Tensor,
) -> torch.Tensor:
    """g_t for LSTM/GRU from δ = ∂L/∂u (gate pre-activations) of the fused BPTT pass."""
    h = hs.shape[-1]
    if kind == "lstm":  # h_t reaches the future only through the gates of step t+1
        g = direct.clone()
        g[:-1] += delta[1:] @ w_hh
        return g
    # GRU: h_t enters step t+1 through r, z (via W_hr, W_hz), n (via r ⊙ (W_hn h_t + b_hn)) and z ⊙ h_t
    h_prev = torch.cat([torch.zeros_like(hs[:1]), hs[:-1]])
    a = h_prev @ w_hh.T + b_hh
    ur, uz, _ = u.chunk(3, -1)
    r, z = (ur + a[..., :h]).sigmoid(), (uz + a[..., h : 2 * h]).sigmoid()
    dr, dz, dn = delta.chunk(3, -1)
    through_gates = torch.cat([dr, dz, dn * r], -1) @ w_hh  # (L, B, H): part reaching h_{t-1}
    g = torch.empty_like(direct)
    nxt = torch.zeros_like(direct[0])
    for t in range(direct.shape[0] - 1, -1, -1):  # elementwise scan: g_t = c_t + g_{t+1} ⊙ z_{t+1}
        g[t] = nxt = direct[t] + (through_gates[t + 1] + nxt * z[t + 1] if t + 1 < len(direct) else 0.0)
    return g


def omega_gated(kind: str, delta, direct, u, hs, w_hh, b_hh, form: str):
    """Ω for LSTM/GRU: g_t J_t as one VJP of a single cell step batched over t. Returns (Ω, ratio, g)."""
    delta, direct, u, hs = delta.detach(), direct.detach(), u.detach(), hs.detach()
    with torch.no_grad():
        g = total_grads_gated(kind, delta, direct, u, hs, w_hh, b_hh)
        c_prev = _lstm_states(u, hs, w_hh, b_hh) if kind == "lstm" else None
    h_prev = torch.cat([torch.zeros_like(hs[:1]), hs[:-1]]).requires_grad_(True)
    with torch.enable_grad():
        h_t = _cell_step(kind, u, h_prev, w_hh, b_hh.detach(), c_prev)
        (gj,) = torch.autograd.grad(h_t, h_prev, grad_outputs=g, create_graph=True)
    omega, ratio = omega_terms(gj, g, form)
    return omega, ratio, g


@torch.no_grad()
def lstm_flow(
    u: torch.Tensor, hs: torch.Tensor, direct: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor, form: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """omega_gated's values for an LSTM (Ω, mean ratio, g), without a graph: what the probe needs. From
    the fused forward's h_t and u = W_ih x_t + b_ih: the gates in one batch, c_t by an elementwise scan,
    then a hand-written BPTT (five small ops per step) for g_t, and g_t J_t in closed form — J_t through
    h_t only (c_{t-1} fixed): δ'_t = ∂(g_t·h_t)/∂a_t, g_t J_t = δ'_t W_hh. Replaces forward_exposed's
    identity-input trick, whose (4H × 4H) products dominate on the CPU."""
    L, B, H = hs.shape
    a = torch.empty(L, B, 4 * H, dtype=hs.dtype, device=hs.device)
    torch.addmm(b_hh, hs[:-1].reshape((L - 1) * B, H), w_hh.T, out=a[1:].view((L - 1) * B, 4 * H))
    a[0].copy_(b_hh)  # h_{-1} = 0
    a.add_(u)
    a[..., : 2 * H].sigmoid_(), a[..., 2 * H : 3 * H].tanh_(), a[..., 3 * H :].sigmoid_()
    i, f, gg, o = a.chunk(4, -1)  # PyTorch's gate order: input, forget, cell, output (activated)
    c = i * gg
    cl, fl = c.unbind(0), f.unbind(0)
    for t in range(1, L):  # c_t = f_t c_{t-1} + i_t ĝ_t
        cl[t].addcmul_(fl[t], cl[t - 1])
    # ∂c_t/∂a_{i,f,g} (k) and ∂h_t/∂a_o, ∂h_t/∂c_t per unit of upstream gradient (p_o, p_c)
    k = torch.empty(L, B, 3, H, dtype=hs.dtype, device=hs.device)
    torch.mul(torch.addcmul(i, i, i, value=-1), gg, out=k[:, :, 0])
    torch.mul(torch.addcmul(f[1:], f[1:], f[1:], value=-1), c[:-1], out=k[1:, :, 1])
    k[0, :, 1] = 0.0  # c_{-1} = 0
    torch.mul(
        torch.addcmul(torch.ones((), dtype=hs.dtype, device=hs.device), gg, gg, value=-1), i, out=k[:, :, 2]
    )
    tc = c.tanh_()  # c is no longer needed
    p_o = torch.addcmul(o, o, o, value=-1).mul_(tc)
    p_c = torch.addcmul(torch.ones((), dtype=hs.dtype, device=hs.device), tc, tc, value=-1).mul_(o)
    g = direct.clone(memory_format=torch.contiguous_format)
    step = hs.new_empty(2, B, 4, H)  # δ_t, δ_{t+1}: only the next step's is needed
    gl, pcl, pol, kl = g.unbind(0), p_c.unbind(0), p_o.unbind(0), k.unbind(0)
    dc = None
    for t in range(L - 1, -1, -1):  # g_t = d_t + δ_{t+1} W_hh;  dc_t = g_t ⊙ p_c + f_{t+1} ⊙ dc_{t+1}
        cur, nxt = step[t % 2], step[(t + 1) % 2]
        if t < L - 1:
            gl[t].addmm_(nxt.view(B, 4 * H), w_hh)
            dc = torch.addcmul(gl[t] * pcl[t], fl[t + 1], dc)
        else:
            dc = gl[t] * pcl[t]
        if t:
            torch.mul(kl[t], dc.unsqueeze(1), out=cur[:, :3])
            torch.mul(gl[t], pol[t], out=cur[:, 3])
    through_h = torch.empty(L, B, 4, H, dtype=hs.dtype, device=hs.device)  # δ'_t
    torch.mul(k, p_c.mul_(g).unsqueeze(2), out=through_h[:, :, :3])
    torch.mul(p_o, g, out=through_h[:, :, 3])
    gj = (through_h.view(L * B, 4 * H) @ w_hh).view(L, B, H)
    omega, ratio, _ = omega_closed(gj, g, form)
    return omega, ratio, g


def omega_for(model, delta: torch.Tensor, direct: torch.Tensor, u: torch.Tensor, hs: torch.Tensor, form: str):
    """Ω of a `model.forward_exposed` pass, given δ = ∂L/∂u and d = ∂L/∂hs from its backward."""
    r = model.rnn
    if model.kind == "rnn":
        return omega_rnn(delta, direct, r.weight_hh_l0, form)
    return omega_gated(model.kind, delta, direct, u, hs, r.weight_hh_l0, r.bias_hh_l0, form)


# ------------------------------------------------------------------ the two calls the trainer makes
def backward(
    model: RecurrentNet, task, x: torch.Tensor, y: torch.Tensor, alpha: float, form: str
) -> torch.Tensor:
    """The training step's backward pass, whatever the model: leaves ∇L (plus ∂(αΩ)/∂W_hh when alpha > 0,
    added before any clipping) in the parameters' .grad and returns the loss (0-d tensor, not read)."""
    last = task.target == "last"  # the loss reads out[-1] only (tasks.py), so only the last step is read out
    if model.fast_path:  # vanilla RNN on the CPU: hand-written BPTT, Ω (if any) inside its backward
        hook = OmegaRNN(alpha, form, last_only=last) if alpha > 0 else None
        out, _ = model.forward_fast(x, hook, last_only=last)
        loss = task.loss(out, y)
        loss.backward()
    elif alpha > 0:  # the fused kernel with the input projection exposed: δ_t from autograd, Ω on top
        out, hs, u = model.forward_exposed(x)
        u.retain_grad(), hs.retain_grad()
        loss = task.loss(out, y)
        loss.backward()
        omega, _, _ = omega_for(model, u.grad, hs.grad, u, hs, form)
        (alpha * omega).backward()
    else:
        hs = model.rnn(x)[0]
        loss = task.loss(model.readout(hs[-1:] if last else hs), y)
        loss.backward()
    return loss


def probe(model: RecurrentNet, task, x: torch.Tensor, y: torch.Tensor, form: str) -> dict:
    """Ω, ‖∇_{h_t} L_b‖ per t (mean over examples b of each example's own loss), the mean ratio
    ‖g_t J_t‖/‖g_t‖ and the spectral radius, on a held-out batch; no parameter changes."""
    if model.fast_path:  # no graph through time: forward, the read-out's gradient, the reverse loop
        hs = model.states(x).requires_grad_()
        (direct,) = torch.autograd.grad(task.loss(model.readout(hs), y), hs)
        w = model.w_hh.detach()
        delta, g = bptt_rnn(direct, hs.detach(), w, model.rnn.nonlinearity, keep_g=True)
        with torch.no_grad():
            omega, ratio, _ = omega_closed((delta.view(-1, delta.shape[-1]) @ w).view_as(delta), g, form)
    elif model.kind == "lstm" and x.device.type == "cpu":  # the fused forward, then lstm_flow (no graph)
        r = model.rnn
        with torch.no_grad():
            hs = r(x)[0]
        hs.requires_grad_()
        (direct,) = torch.autograd.grad(task.loss(model.readout(hs), y), hs)
        with torch.no_grad():
            u = F.linear(x, r.weight_ih_l0, r.bias_ih_l0)
            omega, ratio, g = lstm_flow(u, hs.detach(), direct, r.weight_hh_l0, r.bias_hh_l0, form)
    else:
        out, hs, u = model.forward_exposed(x)
        delta, direct = torch.autograd.grad(task.loss(out, y), [u, hs])
        omega, ratio, g = omega_for(model, delta, direct, u, hs, form)
    per_example = g.norm(dim=-1) * x.shape[1]  # the loss is a batch mean: × B gives each example's own
    return {
        "omega": float(omega.detach()),
        "ratio_mean": float(ratio),
        "grad_norm": per_example.mean(1).detach().float().cpu().numpy(),
        "spectral_radius": spectral_radius(model.w_hh, model.kind),
    }


def naive_omega(model, x: torch.Tensor, y: torch.Tensor, loss_fn, form: str) -> torch.Tensor:
    """Reference: unroll a tanh/relu/sigmoid RNN in Python, g_t by autograd with create_graph, J_t per step.
    Differentiable w.r.t. W_hh with g_t and h_t constant. Slow by design: used by tests and `bench`."""
    r = model.rnn
    w_ih, w_hh, b = r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0 + r.bias_hh_l0
    act = {"tanh": torch.tanh, "relu": F.relu, "sigmoid": torch.sigmoid}[r.nonlinearity]
    h, hs = x.new_zeros(x.shape[1], model.hidden_size), []
    for t in range(x.shape[0]):
        h = act(x[t] @ w_ih.T + h @ w_hh.T + b)
        hs.append(h)
    loss = loss_fn(model.readout(torch.stack(hs)))
    gs = torch.autograd.grad(loss, hs, create_graph=True)
    terms = []
    for g, h in zip(gs, hs, strict=True):
        g, h = g.detach(), h.detach()
        dact = {"tanh": 1 - h.square(), "relu": (h > 0).to(h.dtype), "sigmoid": h * (1 - h)}[r.nonlinearity]
        terms.append((g * dact) @ w_hh)  # g_t J_t with J_t = diag(f'(a_t)) W_hh
    gj, g = torch.stack(terms), torch.stack([g.detach() for g in gs])
    return omega_terms(gj, g, form)[0]


# ----------------------------------------------------------------------------------- α over training
SCHEDULES: Registry = Registry("Ω schedule", choices.SCHEDULES)
SCHEDULES.register("constant")(lambda alpha, step, decay_steps: alpha)
SCHEDULES.register("inverse_t")(lambda alpha, step, decay_steps: alpha / (1 + step / decay_steps))


def weight(reg, step: int) -> float:
    """α at `step` for a RegularizerConfig."""
    return SCHEDULES.get(reg.schedule)(reg.omega_weight, step, reg.decay_steps)
