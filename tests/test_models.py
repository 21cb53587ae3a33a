"""Initialisations and the exposed forward pass of the recurrent nets."""

import pytest
import torch

from ltd_bench.config import ModelConfig
from ltd_bench.models import build_model, sparse_spectral, spectral_radius


def net(**kw):
    return build_model(ModelConfig(**{"hidden_size": 20, **kw}), input_size=3, output_size=2, seed=0)


def test_smart_tanh_is_sparse_at_spectral_radius_095():
    w = net(init="smart_tanh").rnn.weight_hh_l0.detach()
    assert ((w != 0).sum(1) == 15).all()  # 15 non-zeros per unit (Pascanu 2013 code)
    eig = torch.linalg.eigvals(w.double()).abs().max().item()
    assert eig == pytest.approx(0.95, rel=1e-4)
    assert spectral_radius(w, "rnn") == pytest.approx(eig, rel=1e-6)


def test_identity_init_is_irnn():
    r = net(init="identity", nonlinearity="relu").rnn
    assert torch.equal(r.weight_hh_l0.detach(), torch.eye(20))
    assert r.bias_hh_l0.abs().sum() == 0 and r.bias_ih_l0.abs().sum() == 0
    assert r.weight_ih_l0.std().item() < 0.01


def test_orthogonal_and_basic_inits():
    w = net(init="orthogonal").rnn.weight_hh_l0.detach()
    torch.testing.assert_close(w @ w.T, torch.eye(20), atol=1e-5, rtol=0)
    b = net(init="basic_tanh").rnn.weight_hh_l0.detach()
    assert 0.07 < b.std().item() < 0.13


def test_lstm_forget_bias_and_seeded_init():
    r = net(type="lstm", forget_bias=2.5).rnn
    h = 20
    assert torch.all(r.bias_ih_l0[h : 2 * h] + r.bias_hh_l0[h : 2 * h] == 2.5)
    a, b = net(type="lstm"), net(type="lstm")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = build_model(ModelConfig(type="lstm", hidden_size=20), 3, 2, seed=1)
    assert not torch.equal(a.rnn.weight_hh_l0, c.rnn.weight_hh_l0)


def test_sparse_spectral_handles_small_h():
    w = sparse_spectral(5, nonzeros=15, radius=0.5, gen=torch.Generator().manual_seed(0))
    assert torch.linalg.eigvals(w.double()).abs().max().item() == pytest.approx(0.5, rel=1e-4)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_forward_shapes(kind):
    m = net(type=kind)
    x = torch.randn(7, 4, 3)
    out, hs = m(x)
    assert out.shape == (7, 4, 2) and hs.shape == (7, 4, 20)
    out2, hs2, u = m.forward_exposed(x)
    assert u.shape == (7, 4, {"rnn": 1, "gru": 3, "lstm": 4}[kind] * 20)
    torch.testing.assert_close(out, out2, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_spectral_radius_is_that_of_the_recurrent_map_at_rest(kind):
    """The candidate block's spectral radius, found without knowing PyTorch's gate order: with the gates
    saturated (input/output/reset open, forget shut or update off, via the biases) the cell's map
    h_{t-1} -> h_t linearised at 0 is the candidate block itself (tanh' = 1 there). Its eigenvalues come
    from torch's own kernel by autograd; every block gets a different scale so the wrong one cannot pass."""
    h = 6
    m = net(type=kind, hidden_size=h)
    r = m.rnn
    with torch.no_grad():
        for k in range(r.weight_hh_l0.shape[0] // h):
            r.weight_hh_l0[k * h : (k + 1) * h] *= 0.5 + 0.7 * k
        r.weight_ih_l0.zero_(), r.bias_hh_l0.zero_(), r.bias_ih_l0.zero_()
        big = 40.0  # sigmoid'(±40) ~ 4e-18: the gates are constant to double precision
        if kind == "lstm":  # i, f, g, o
            r.bias_ih_l0[:h], r.bias_ih_l0[h : 2 * h], r.bias_ih_l0[3 * h :] = big, -big, big
        elif kind == "gru":  # r, z, n
            r.bias_ih_l0[:h], r.bias_ih_l0[h : 2 * h] = big, -big
    r = r.double()
    x = torch.zeros(1, 1, 3, dtype=torch.float64)

    def step(h0):
        state = (
            (h0.view(1, 1, h), torch.zeros(1, 1, h, dtype=torch.float64))
            if kind == "lstm"
            else h0.view(1, 1, h)
        )
        return r(x, state)[0].view(h)

    J = torch.autograd.functional.jacobian(step, torch.zeros(h, dtype=torch.float64))
    want = torch.linalg.eigvals(J).abs().max().item()
    assert spectral_radius(r.weight_hh_l0, kind) == pytest.approx(want, rel=1e-9)
    # and the scaled blocks really differ: another block would give another number
    radii = {float(torch.linalg.eigvals(b).abs().max()) for b in r.weight_hh_l0.detach().split(h)}
    assert len(radii) == r.weight_hh_l0.shape[0] // h


# ------------------------------------------------------------------------------------- sigmoid units
def test_sigmoid_units_forward_and_backward():
    """A sigmoid RNN (no fused kernel): its forward is h_t = σ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), the
    hand-written BPTT gives autograd's gradients through that loop, rnn_states the same states."""
    from ltd_bench.config import ModelConfig
    from ltd_bench.models import build_model, rnn_states

    net = build_model(
        ModelConfig(nonlinearity="sigmoid", init="sigmoid", hidden_size=5), 3, 2, seed=1
    ).double()
    r = net.rnn
    assert r.nonlinearity == "sigmoid" and net.fast_path
    assert all(float(b.detach().abs().max()) == 0 for b in (r.bias_ih_l0, r.bias_hh_l0))  # the original init
    assert 0 < float(r.weight_hh_l0.detach().std()) < 0.03  # N(0, 0.01)
    x = torch.randn(7, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    h, hs_ref = torch.zeros(4, 5, dtype=torch.float64), []
    for t in range(7):
        h = torch.sigmoid(x[t] @ r.weight_ih_l0.T + r.bias_ih_l0 + h @ r.weight_hh_l0.T + r.bias_hh_l0)
        hs_ref.append(h)
    hs_ref = torch.stack(hs_ref)
    torch.testing.assert_close(r(x)[0], hs_ref)
    torch.testing.assert_close(
        rnn_states(x, r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0, "sigmoid"), hs_ref
    )
    loss = lambda out: out.square().sum()
    loss(net(x)[0]).backward()
    auto = {n: p.grad.clone() for n, p in net.named_parameters()}
    net.zero_grad()
    loss(net.forward_fast(x)[0]).backward()
    for n, p in net.named_parameters():
        torch.testing.assert_close(p.grad, auto[n], msg=n)


def test_a_sigmoid_run_trains_and_the_config_keeps_it_to_vanilla_rnns():
    from ltd_bench.config import ConfigError, validate_dict
    from ltd_bench.train import train

    raw = {
        "task": {"name": "adding", "seq_len": 8, "test_size": 20},
        "train": {"steps": 6, "eval_every": 3},
        "model": {"hidden_size": 6, "nonlinearity": "sigmoid", "init": "sigmoid"},
        "clipping": {"mode": "norm"},
        "regularizer": {"omega_weight": 2.0, "form": "pascanu2013"},
    }
    res = train(validate_dict(raw, "s"))
    assert res.summary["steps"] == 6 and all(r["omega"] >= 0 for r in res.metrics)
    for bad in ({"type": "lstm", "nonlinearity": "sigmoid"}, {"type": "gru", "init": "sigmoid"}):
        with pytest.raises(ConfigError):
            validate_dict({**raw, "model": bad}, "s")
