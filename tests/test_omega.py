"""Ω (value and W_hh gradient) against an independent reference built from explicit Jacobians."""

import pytest
import torch
from torch.autograd.functional import jacobian

from ltd_bench.config import ModelConfig
from ltd_bench.models import build_model
from ltd_bench.omega import naive_omega, omega_for

DT = torch.float64  # explicit everywhere: no global default-dtype change leaks into other tests
L, B, I, H, O = 7, 3, 2, 4, 1


def _net(kind, nonlinearity="tanh", seed=0):
    net = build_model(
        ModelConfig(type=kind, hidden_size=H, nonlinearity=nonlinearity, init="default"), I, O, seed
    )
    return net.double()


def _data(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(L, B, I, generator=g, dtype=DT), torch.randn(B, generator=g, dtype=DT)


def loss_fn(out, y):
    return (out[-1, :, 0] - y).square().mean()


def _cell(net, kind, w_hh, x_t, h_prev, c_prev):
    """One step for one example, written from PyTorch's documented equations (not from ltd_bench)."""
    r = net.rnn
    a = r.weight_ih_l0 @ x_t + r.bias_ih_l0 + w_hh @ h_prev + r.bias_hh_l0
    if kind == "rnn":
        return (torch.tanh(a) if r.nonlinearity == "tanh" else torch.relu(a)), None
    if kind == "lstm":
        i, f, g, o = a.chunk(4)
        c = f.sigmoid() * c_prev + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c
    gi = r.weight_ih_l0 @ x_t + r.bias_ih_l0
    gh = w_hh @ h_prev + r.bias_hh_l0
    rr, z = (gi[:H] + gh[:H]).sigmoid(), (gi[H : 2 * H] + gh[H : 2 * H]).sigmoid()
    n = (gi[2 * H :] + rr * gh[2 * H :]).tanh()
    return (1 - z) * n + z * h_prev, None


def reference(net, kind, x, y, form):
    """Unroll per example; g_t by autograd; J_t by jacobian(); Ω; gradient of Ω(W_hh) with g, h, c fixed."""
    w = net.rnn.weight_hh_l0.detach().clone()
    h = [torch.zeros(H, dtype=DT) for _ in range(B)]
    c = [torch.zeros(H, dtype=DT) for _ in range(B)]
    states = []
    for t in range(L):
        row = []
        for b in range(B):
            hb, cb = _cell(net, kind, net.rnn.weight_hh_l0, x[t, b], h[b], c[b])
            hb.retain_grad()
            row.append((h[b], c[b], hb))
            h[b], c[b] = hb, (cb if cb is not None else c[b])
        states.append(row)
    out = torch.stack([net.readout(torch.stack([states[t][b][2] for b in range(B)])) for t in range(L)])
    loss_fn(out, y).backward()
    terms = []  # (h_prev, c_prev, x_t, g_t)
    for t in range(L):
        for b in range(B):
            hp, cp, ht = states[t][b]
            terms.append(
                (
                    hp.detach(),
                    None if cp is None else cp.detach(),
                    x[t, b],
                    ht.grad.detach().clone(),
                    ht.detach(),
                )
            )

    def omega_of(w_hh):
        vals = []
        for hp, cp, xt, g, ht in terms:
            if kind == "rnn":  # h_t held constant: J_t = diag(f'(a_t)) W_hh with f'(a_t) from the fixed h_t
                d = 1 - ht.square() if net.rnn.nonlinearity == "tanh" else (ht > 0).double()
                J = d[:, None] * w_hh
            else:
                J = jacobian(
                    lambda hh, xt=xt, cp=cp: _cell(net, kind, w_hh, xt, hh, cp)[0], hp, create_graph=True
                )
            vals.append(((g @ J).norm(), g.norm()))
        if form == "book":
            return sum((a / b - 1) ** 2 for a, b in vals) / B
        return sum(((a / b) ** 2 - 1) ** 2 for a, b in vals) / len(vals)

    w_req = w.clone().requires_grad_(True)
    value = omega_of(w_req)
    (grad,) = torch.autograd.grad(value, w_req)
    return value.detach(), grad


def fast(net, x, y, form):
    net.zero_grad()
    out, hs, u = net.forward_exposed(x)
    u.retain_grad(), hs.retain_grad()
    loss_fn(out, y).backward()
    net.zero_grad()
    omega, _, _ = omega_for(net, u.grad, hs.grad, u, hs, form)
    omega.backward()
    grads = {n: p.grad for n, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    return omega.detach(), net.rnn.weight_hh_l0.grad.clone(), grads


@pytest.mark.parametrize("kind,nl", [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")])
@pytest.mark.parametrize("form", ["book", "pascanu2013"])
def test_omega_matches_explicit_jacobians(kind, nl, form):
    net = _net(kind, nl)
    x, y = _data()
    ref_val, ref_grad = reference(net, kind, x, y, form)
    val, grad, nonzero = fast(net, x, y, form)
    assert val.item() > 1e-6
    torch.testing.assert_close(val, ref_val, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-6, atol=1e-9)
    assert set(nonzero) == {"rnn.weight_hh_l0"}, "Ω's gradient must reach W_hh only"


@pytest.mark.parametrize("form", ["book", "pascanu2013"])
def test_fast_matches_naive_unrolled_reference(form):
    net = _net("rnn", seed=3)
    x, y = _data(4)
    val, grad, _ = fast(net, x, y, form)
    net.zero_grad()
    naive = naive_omega(net, x, y, lambda out: loss_fn(out, y), form)
    naive.backward()
    torch.testing.assert_close(val, naive.detach())
    torch.testing.assert_close(grad, net.rnn.weight_hh_l0.grad)


def test_forward_exposed_is_the_same_net():
    for kind in ("rnn", "lstm", "gru"):
        net = _net(kind)
        x, _ = _data()
        out, hs = net(x)
        out2, hs2, _ = net.forward_exposed(x)
        torch.testing.assert_close(hs, hs2)
        torch.testing.assert_close(out, out2)


def test_zero_gradient_terms_are_guarded():
    """A step with g_t = 0 contributes nothing and produces no NaN (the original code's guard)."""
    from ltd_bench.omega import omega_terms

    g = torch.zeros(3, 2, H, dtype=DT)
    g[0] = 1.0
    gj = torch.zeros(3, 2, H, dtype=DT, requires_grad=True)
    val, ratio = omega_terms(gj, g, "book")
    val.backward()
    assert torch.isfinite(val) and torch.isfinite(gj.grad).all()
    assert val.item() == pytest.approx(
        1.0
    )  # only t=0 is valid: (0/1 - 1)^2 per example, summed over t, mean over b
