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
        return {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[r.nonlinearity](a), None
    if kind == "lstm":
        i, f, g, o = a.chunk(4)
        c = f.sigmoid() * c_prev + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c
    h = net.hidden_size
    gi = r.weight_ih_l0 @ x_t + r.bias_ih_l0
    gh = w_hh @ h_prev + r.bias_hh_l0
    rr, z = (gi[:h] + gh[:h]).sigmoid(), (gi[h : 2 * h] + gh[h : 2 * h]).sigmoid()
    n = (gi[2 * h :] + rr * gh[2 * h :]).tanh()
    return (1 - z) * n + z * h_prev, None


def reference(net, kind, x, loss_of_out, form):
    """Unroll per example; g_t by autograd; J_t by jacobian(); Ω; gradient of Ω(W_hh) with g, h, c fixed.
    Any sizes (L, B from x); `loss_of_out(out)` is the batch loss of the (L, B, O) read-out. Returns
    (Ω, ∂Ω/∂W_hh, loss, {name: ∂loss/∂param}); the net's .grad are left holding the loss gradient."""
    steps, batch = x.shape[:2]
    w = net.rnn.weight_hh_l0.detach().clone()
    zero = torch.zeros(net.hidden_size, dtype=x.dtype)
    h, c = [zero] * batch, [zero] * batch
    states = []
    for t in range(steps):
        row = []
        for b in range(batch):
            hb, cb = _cell(net, kind, net.rnn.weight_hh_l0, x[t, b], h[b], c[b])
            hb.retain_grad()
            row.append((h[b], c[b], hb))
            h[b], c[b] = hb, (cb if cb is not None else c[b])
        states.append(row)
    out = torch.stack(
        [net.readout(torch.stack([states[t][b][2] for b in range(batch)])) for t in range(steps)]
    )
    net.zero_grad()
    loss = loss_of_out(out)
    loss.backward()
    loss_grads = {n: p.grad.detach().clone() for n, p in net.named_parameters()}
    terms = []  # (h_prev, c_prev, x_t, g_t, h_t)
    for t in range(steps):
        for b in range(batch):
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
                nl = net.rnn.nonlinearity  # f' written from h: tanh' = 1 - h², σ' = h(1 - h), relu' = [h > 0]
                d = {"tanh": 1 - ht.square(), "sigmoid": ht * (1 - ht), "relu": (ht > 0).to(ht.dtype)}[nl]
                J = d[:, None] * w_hh
            else:
                J = jacobian(
                    lambda hh, xt=xt, cp=cp: _cell(net, kind, w_hh, xt, hh, cp)[0], hp, create_graph=True
                )
            vals.append(((g @ J).norm(), g.norm()))
        if form == "book":
            return sum((a / b - 1) ** 2 for a, b in vals) / batch
        return sum(((a / b) ** 2 - 1) ** 2 for a, b in vals) / len(vals)

    w_req = w.clone().requires_grad_(True)
    value = omega_of(w_req)
    (grad,) = torch.autograd.grad(value, w_req)
    return value.detach(), grad, loss.detach(), loss_grads


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
    ref_val, ref_grad, _, _ = reference(net, kind, x, lambda out: loss_fn(out, y), form)
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


# ------------------------------------------------------------------------- the probe's diagnostics
def example_loss(task_name: str, out_b: torch.Tensor, y_b: torch.Tensor) -> torch.Tensor:
    """One example's own loss, written from the tasks' definitions (tasks/*.yaml), not from ltd_bench:
    adding scores the last step's output by squared error; copying is cross-entropy averaged over steps."""
    if task_name == "adding":
        return (out_b[-1, 0] - y_b).square()
    return torch.nn.functional.cross_entropy(out_b, y_b)


def unroll_one(net, kind, x_b):
    """h_t (with graph) and (h_{t-1}, c_{t-1}) for one example, from _cell (PyTorch's documented equations)."""
    h = c = torch.zeros(net.hidden_size, dtype=x_b.dtype)
    hs, prev = [], []
    for t in range(x_b.shape[0]):
        prev.append((h, c))
        h, c_new = _cell(net, kind, net.rnn.weight_hh_l0, x_b[t], h, c)
        c = c_new if c_new is not None else c
        hs.append(h)
    return hs, prev


PROBE_TASKS = {"adding": {}, "copying": {"copy_len": 2, "n_symbols": 3}}
CANDIDATE = {"rnn": 0, "lstm": 2, "gru": 2}  # PyTorch's row blocks: LSTM i|f|g|o, GRU r|z|n (docs)


@pytest.mark.parametrize("task_name", list(PROBE_TASKS))
@pytest.mark.parametrize("kind", ["rnn", "rnn_autograd", "lstm", "gru"])
@pytest.mark.parametrize("form", ["book", "pascanu2013"])
def test_probe_matches_direct_computation(kind, task_name, form, monkeypatch):
    """omega.probe's Ω, per-example ‖∇_{h_t} L_b‖ profile, mean ‖g_t J_t‖/‖g_t‖ and spectral radius, against
    one example at a time unrolled by hand: its own loss, g_t by autograd, J_t by jacobian(), eigvals by
    numpy. kind rnn_autograd: a vanilla RNN off the CPU fast path (the forward_exposed route)."""
    import numpy as np

    from ltd_bench import models
    from ltd_bench.omega import probe
    from ltd_bench.tasks import make_task

    cell = kind.split("_")[0]
    task = make_task(task_name, 5, **PROBE_TASKS[task_name])
    net = build_model(ModelConfig(type=cell, hidden_size=H), task.input_size, task.output_size, 0).double()
    with torch.no_grad():  # blocks of clearly different spectral radii: the wrong block cannot pass
        w = net.rnn.weight_hh_l0
        for k in range(w.shape[0] // H):
            w[k * H : (k + 1) * H] *= 0.6 + 0.5 * k
    x, y = task.sample(3, torch.Generator().manual_seed(7))
    x = x.double()
    if kind == "rnn_autograd":
        monkeypatch.setattr(models.RecurrentNet, "fast_path", property(lambda self: False))
    assert net.fast_path == (kind == "rnn")
    got = probe(net, task, x, y, form)

    norms, ratios, hs_all = [], [], []
    for b in range(x.shape[1]):
        hs, prev = unroll_one(net, cell, x[:, b])
        hs_all.append(torch.stack(hs).detach())
        out_b = torch.stack([net.readout(h) for h in hs])
        g = torch.autograd.grad(example_loss(task_name, out_b, y[..., b]), hs)
        norms.append([gt.norm().item() for gt in g])
        for t, (gt, (hp, cp)) in enumerate(zip(g, prev, strict=True)):
            J = jacobian(
                lambda hh, xt=x[t, b], cp=cp: _cell(net, cell, net.rnn.weight_hh_l0, xt, hh, cp)[0], hp
            )
            ratios.append(((gt @ J).norm() / gt.norm()).item())
    # the hand unroll is PyTorch's net (so the gate blocks below are the ones its kernel uses)
    torch.testing.assert_close(torch.stack(hs_all, 1), net.rnn(x)[0].detach())
    r = np.array(ratios)
    want_omega = (r - 1) ** 2 / x.shape[1] if form == "book" else (r**2 - 1) ** 2 / len(r)
    assert got["omega"] == pytest.approx(float(want_omega.sum()), rel=1e-8)
    assert got["ratio_mean"] == pytest.approx(float(r.mean()), rel=1e-8)
    np.testing.assert_allclose(got["grad_norm"], np.mean(norms, axis=0), rtol=1e-5)  # float32 on return
    k = CANDIDATE[cell]
    block = net.rnn.weight_hh_l0.detach().numpy()[k * H : (k + 1) * H]
    assert got["spectral_radius"] == pytest.approx(float(np.abs(np.linalg.eigvals(block)).max()), rel=1e-10)


@pytest.mark.parametrize("nl", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("form", ["book", "pascanu2013"])
def test_the_training_path_matches_explicit_jacobians(nl, form):
    """forward_fast with OmegaRNN (what training runs; sigmoid units have no other path): Ω and W_hh's
    gradient, loss's plus α·Ω's, against the per-example unroll with jacobian()."""
    from ltd_bench.omega import OmegaRNN

    net = _net("rnn", nl)
    x, y = _data()  # (with these, no example's g_t is exactly 0: the reference has no 1e-20 guard)
    ref_val, ref_grad, _, loss_grads = reference(net, "rnn", x, lambda out: loss_fn(out, y), form)
    net.zero_grad()
    hook = OmegaRNN(0.5, form, last_only=True)
    out, _ = net.forward_fast(x, hook, last_only=True)
    loss_fn(out, y).backward()
    torch.testing.assert_close(hook.omega, ref_val, rtol=1e-8, atol=1e-10)
    want = loss_grads["rnn.weight_hh_l0"] + 0.5 * ref_grad
    torch.testing.assert_close(net.rnn.weight_hh_l0.grad, want, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(
        net.rnn.weight_ih_l0.grad, loss_grads["rnn.weight_ih_l0"], rtol=1e-6, atol=1e-9
    )
