"""The orthogonal RNN (ltd_bench/orthogonal.py): W_hh through PyTorch's orthogonal parametrization, Ω and
its gradient through it against explicit Jacobians and autograd, orthogonality after training,
expRNN's initialisations, A's own learning rate, one exponential per update, determinism, resume,
packs, config errors, the CLI and `bench --orthogonal`."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch.autograd.functional import jacobian

from ltd_bench.config import ConfigError, ModelConfig, validate_dict
from ltd_bench.models import build_model
from ltd_bench.omega import OmegaRNN, probe
from ltd_bench.orthogonal import THETA_12, orthogonality_error, pack_weights, scale_cotangent
from ltd_bench.pack import pack_key
from ltd_bench.runner import train_in
from ltd_bench.tasks import make_task
from ltd_bench.train import Trainer, train
from test_runner import fingerprint, folder  # the run-folder helpers of the resume tests

DT = torch.float64
L, B, H = 6, 3, 5


def _net(nl="tanh", omap="matrix_exp", init="default", seed=0, task=None):
    task = task or make_task("adding", L)
    cfg = ModelConfig(type="orthogonal", hidden_size=H, nonlinearity=nl, orthogonal_map=omap, init=init)
    return build_model(cfg, task.input_size, task.output_size, seed).double(), task


def _act(net, a):
    """f, written from the definitions (not from ltd_bench); modReLU: Arjovsky et al. 2016."""
    r = net.rnn
    if r.nonlinearity == "modrelu":
        return torch.sign(a) * torch.relu(a.abs() + r.modrelu_bias)
    return {"tanh": torch.tanh, "relu": torch.relu}[r.nonlinearity](a + r.bias_ih_l0)


def _pre(net, w_hh, x_t, h_prev):
    return net.rnn.weight_ih_l0 @ x_t + w_hh @ h_prev


def reference(net, task, x, y, form, alpha, ambient=False):
    """Per-example unroll with W_hh = the parametrization of `skew` (autograd through matrix_exp);
    g_t by autograd; J_t = ∂h_t/∂h_{t-1} = D_t W_hh with D_t = ∂f/∂a at a_t by jacobian() (autograd's
    derivative of f, not a formula for f'), held constant with g_t; then Ω. Returns
    (Ω, {name: ∂(loss + α Ω)/∂param}), and with `ambient` also ∂Ω/∂W_hh, W_hh taken as a free matrix."""
    skew = net.rnn.skew
    params = dict(net.named_parameters())
    w = net.rnn.weight_hh_l0  # with the graph to `skew`
    hs, prev = [[None] * x.shape[1] for _ in range(x.shape[0])], []
    for b in range(x.shape[1]):
        h = torch.zeros(H, dtype=DT)
        for t in range(x.shape[0]):
            prev.append((t, b, h))
            h = _act(net, _pre(net, w, x[t, b], h))
            hs[t][b] = h
    hs_t = torch.stack([torch.stack(row) for row in hs])
    loss = task.loss(net.readout(hs_t[-1:] if task.target == "last" else hs_t), y)
    flat = [hs[t][b] for t in range(x.shape[0]) for b in range(x.shape[1])]
    gs = torch.autograd.grad(loss, flat, retain_graph=True)
    g_of = {(t, b): gs[t * x.shape[1] + b].detach() for t in range(x.shape[0]) for b in range(x.shape[1])}
    terms = []
    for t, b, hp in prev:
        g = g_of[(t, b)]
        a = _pre(net, w, x[t, b], hp).detach()
        D = jacobian(lambda aa: _act(net, aa), a).detach()
        J = D @ w
        whole = jacobian(lambda hh, t=t, b=b: _act(net, _pre(net, w, x[t, b], hh)), hp.detach())
        torch.testing.assert_close(J.detach(), whole)  # the chain rule, checked once more
        terms.append(((g @ J).norm(), g.norm()))
    if form == "book":
        omega = sum((a / n - 1) ** 2 for a, n in terms) / x.shape[1]
    else:
        omega = sum(((a / n) ** 2 - 1) ** 2 for a, n in terms) / len(terms)
    names = list(params)
    loss_grads = torch.autograd.grad(loss, [params[n] for n in names], retain_graph=True)
    omega_grad, omega_w = torch.autograd.grad(omega, [skew, w])
    grads = dict(zip(names, loss_grads, strict=True))
    grads["rnn.parametrizations.weight_hh_l0.original"] = (
        grads["rnn.parametrizations.weight_hh_l0.original"] + alpha * omega_grad
    )
    return (omega.detach(), grads, omega_w) if ambient else (omega.detach(), grads)


def w_hh_cotangent(net, task, x, y, alpha, form):
    """One training-path backward (forward_fast with Ω's hook at α, W_hh read once): (the hook, the
    gradient arriving at W_hh, before the parametrization's backward takes it to A)."""
    net.zero_grad()
    hook, seen = OmegaRNN(alpha, form, last_only=task.target == "last"), []
    weights = net.rnn.weights

    def spied():
        out = weights()
        out[1].register_hook(lambda g: seen.append(g.clone()))  # tensor hooks run before the node's
        return out

    net.rnn.weights = spied
    try:
        with net.cached():
            out, _ = net.forward_fast(x, hook, last_only=task.target == "last")
            task.loss(out, y).backward()
    finally:
        del net.rnn.weights
    (cot,) = seen
    return hook, cot


@pytest.mark.parametrize(
    "nl,omap,form,task_name",
    [
        ("tanh", "matrix_exp", "book", "adding"),
        ("relu", "matrix_exp", "pascanu2013", "copying"),
        ("modrelu", "matrix_exp", "book", "copying"),
        ("modrelu", "cayley", "pascanu2013", "adding"),
        ("tanh", "cayley", "book", "copying"),
    ],
)
def test_training_path_and_probe_match_explicit_jacobians(nl, omap, form, task_name):
    """What training runs (forward_fast with Ω's hook, gradient through the parametrization) and what the
    probe reports, against the unroll: Ω, and every parameter's gradient of loss + α Ω."""
    task = make_task(task_name, L, **({"copy_len": 2, "n_symbols": 3} if task_name == "copying" else {}))
    net, _ = _net(nl, omap, task=task)
    if nl == "modrelu":  # with every unit on, J_t = W_hh keeps norms exactly and Ω = 0: switch some off
        with torch.no_grad():
            net.rnn.modrelu_bias.copy_(torch.linspace(-0.8, 0.1, H))
    x, y = task.sample(B, torch.Generator().manual_seed(3))
    x = x.double()
    ref_omega, ref_grads, free = reference(net, task, x, y, form, alpha=0.5, ambient=True)
    assert ref_omega.item() > 1e-6 and free.norm() > 1e-4
    (_, cot0), (hook, cot) = (w_hh_cotangent(net, task, x, y, alpha, form) for alpha in (0.0, 0.5))
    torch.testing.assert_close(hook.omega, ref_omega, rtol=1e-8, atol=1e-10)
    for n, p in net.named_parameters():
        torch.testing.assert_close(p.grad, ref_grads[n], rtol=1e-6, atol=1e-9, msg=n)
    # A's gradient cannot show Ω's term (it is zero there: the next test), W_hh's cotangent must: the
    # hook adds α ∂Ω/∂W_hh, W_hh taken as a free matrix, to the loss's
    torch.testing.assert_close(cot - cot0, 0.5 * free, rtol=1e-7, atol=1e-10)
    got = probe(net, task, x, y, form)
    assert got["omega"] == pytest.approx(ref_omega.item(), rel=1e-8)
    eig = np.abs(np.linalg.eigvals(net.w_hh.detach().numpy())).max()
    assert got["spectral_radius"] == pytest.approx(eig, rel=1e-10) and eig == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("omap", ["matrix_exp", "cayley"])
@pytest.mark.parametrize("nl", ["tanh", "relu", "modrelu"])
def test_omega_has_no_gradient_on_the_orthogonal_group(nl, omap):
    """Ω holds g_t and h_t constant, so D_t = diag f'(a_t), a function of h_t, is constant too, and Ω
    depends on W_hh only through ‖u_t W_hh‖ with u_t = g_t D_t; ‖u W‖ = ‖u‖ for every orthogonal W. Its
    gradient w.r.t. W_hh as a free matrix is not zero, but it is normal to the orthogonal group at W_hh
    (W_hhᵀ G symmetric), so through the parametrization, w.r.t. A, it is zero: with Ω on, the orthogonal
    RNN's training path adds nothing to A's gradient but rounding."""
    task = make_task("copying", L, copy_len=2, n_symbols=3)  # a target at every step: no g_t = 0
    net, _ = _net(nl, omap, task=task)
    if nl == "modrelu":  # every unit on gives Ω = 0 outright: switch some off
        with torch.no_grad():
            net.rnn.modrelu_bias.copy_(torch.linspace(-0.8, 0.1, H))
    x, y = task.sample(B, torch.Generator().manual_seed(3))
    x = x.double()
    omega, _, free = reference(net, task, x, y, "pascanu2013", alpha=1.0, ambient=True)
    assert omega.item() > 1e-2 and free.norm() > 1e-2  # Ω is there and pulls on a free W_hh
    m = net.w_hh.detach().T @ free
    assert (m - m.T).norm() < 1e-12 * free.norm()
    got = []
    for alpha in (1.0, 0.0):
        net.zero_grad()
        hook = OmegaRNN(alpha, "pascanu2013", last_only=False)
        with net.cached():
            out, _ = net.forward_fast(x, hook, last_only=False)
            task.loss(out, y).backward()
        got.append(net.rnn.skew.grad.clone())
    assert hook.omega.item() == pytest.approx(omega.item(), rel=1e-8)
    assert (got[0] - got[1]).norm() < 1e-12 * got[1].norm()


@pytest.mark.parametrize("nl", ["tanh", "modrelu"])
def test_the_plain_forward_is_the_fast_path(nl):
    """The loop that evaluation runs and the hand-written forward that training runs give the same h_t."""
    net, task = _net(nl)
    x, _ = task.sample(B, torch.Generator().manual_seed(1))
    torch.testing.assert_close(net.rnn(x.double())[0], net.states(x.double()), rtol=1e-12, atol=1e-12)


def test_inits_are_expRNNs():
    """W_hh = exp(Aᵀ) (scipy's expm) with A: henaff's 2×2 blocks, angles in (-π, π); cayley's −tan(θ/2)
    in (-1, 0]; identity: W_hh = I. The Cayley map is (I − A/2)⁻¹(I + A/2)."""
    for init, lo, hi in (("henaff", -math.pi, math.pi), ("cayley", -1.0, 0.0)):
        net, _ = _net(init=init, seed=2)
        low = net.rnn.skew.detach().tril(-1)
        a = (low - low.T).T  # A, with W_hh = exp(Aᵀ)
        blocks = a.diagonal(1)[::2]
        assert torch.all((blocks > lo) & (blocks <= hi)) and blocks.abs().sum() > 0
        off = a.clone()
        idx = torch.arange(0, H - 1, 2)
        off[idx, idx + 1] = off[idx + 1, idx] = 0
        assert torch.all(off == 0)
        np.testing.assert_allclose(net.w_hh.detach().numpy(), scipy.linalg.expm(a.T.numpy()), atol=1e-12)
    net, _ = _net(init="identity")
    assert torch.equal(net.w_hh.detach(), torch.eye(H, dtype=DT))
    net, _ = _net(omap="cayley", seed=4)
    low = net.rnn.skew.detach().tril(-1)
    a = low - low.T
    eye = np.eye(H)
    want = np.linalg.solve(eye - a.numpy() / 2, eye + a.numpy() / 2)
    np.testing.assert_allclose(net.w_hh.detach().numpy(), want, atol=1e-12)
    assert orthogonality_error(net.w_hh) < 1e-12


RUN = {
    "name": "orth",
    "seed": 5,
    "task": {"name": "copying", "seq_len": 10, "test_size": 40, "options": {"copy_len": 3, "n_symbols": 4}},
    "model": {"type": "orthogonal", "hidden_size": 12, "nonlinearity": "modrelu", "init": "cayley"},
    "train": {"optimizer": "rmsprop", "lr": 0.01, "steps": 40, "eval_every": 10, "stop_when_solved": False},
    "clipping": {"mode": "norm", "threshold": 0.5},
    "regularizer": {"omega_weight": 0.5, "form": "pascanu2013"},
}


def cfg(**over):
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in RUN.items()}
    for key, value in over.items():
        section, _, name = key.partition(".")
        raw[section][name] = value
    raw["train"]["checkpoint_s"] = 0
    return validate_dict(raw, "test")


@pytest.mark.parametrize("omap", ["matrix_exp", "cayley"])
def test_w_hh_stays_orthogonal_at_float_precision_and_moves(omap):
    """After training, the W_hh the model uses is orthogonal to float32 precision and is the map of the
    trained A, computed independently in float64 (scipy's expm; the Cayley formula by a linear solve)."""
    c = cfg(**{"train.lr": 0.05, "train.lr_orth": 0.05, "train.steps": 200, "model.orthogonal_map": omap})
    task = make_task("copying", 10, copy_len=3, n_symbols=4)
    start = build_model(c.model, task.input_size, task.output_size, c.seed).w_hh.detach()
    res = train(c)
    net = build_model(c.model, task.input_size, task.output_size, c.seed)
    net.load_state_dict(res.state_dict)
    w = net.w_hh.detach()
    assert (w - start).norm() > 0.05  # it trained
    assert orthogonality_error(w) < 1e-5  # float32: ~1e-7 per entry
    low = net.rnn.skew.detach().double().tril(-1)
    a = (low - low.T).numpy()
    assert np.abs(a).sum(axis=0).max() > 1.0  # ‖A‖₁: not a near-identity W_hh, where any map is exact
    eye = np.eye(a.shape[0])
    want = scipy.linalg.expm(a) if omap == "matrix_exp" else np.linalg.solve(eye - a / 2, eye + a / 2)
    np.testing.assert_allclose(w.double().numpy(), want, atol=1e-5)


def test_same_config_same_numbers_and_resume_is_bit_identical(tmp_path):
    c = cfg()
    whole = fingerprint(train_in(c, folder(tmp_path / "a", c)))
    assert fingerprint(train(c)) == whole
    path = folder(tmp_path / "b", c)
    calls = iter(range(10**6))
    first = train_in(c, path, stop=lambda: next(calls) >= 15)
    assert first.summary["status"] == "interrupted"
    assert fingerprint(train_in(c, path)) == whole


def test_a_has_its_own_learning_rate_lr_orth_defaulting_to_a_tenth():
    tr = Trainer(cfg(**{"train.optimizer": "sgd", "train.lr": 0.1}))
    groups = tr.opt.param_groups
    assert [g["lr"] for g in groups] == [0.1, pytest.approx(0.01)]
    skew = tr.model.w_hh_param
    assert groups[1]["params"][0] is skew and not any(p is skew for p in groups[0]["params"])
    before = {n: p.detach().clone() for n, p in tr.model.named_parameters()}
    tr.clip.mode, tr.clip._clip = "none", lambda *a: False
    tr.step(0.0)
    for n, p in tr.model.named_parameters():
        lr = 0.01 if n.endswith("original") else 0.1
        torch.testing.assert_close(p.detach(), before[n] - lr * p.grad, rtol=0, atol=1e-7, msg=n)
    assert Trainer(cfg(**{"train.lr_orth": 0.003})).opt.param_groups[1]["lr"] == 0.003


def test_two_steps_match_an_update_written_out_by_hand():
    """Two Trainer.step()s with Ω on, clipping and momentum, against the update from independent parts:
    ∂(loss + αΩ) of every parameter by `reference` (autograd through the parametrization, Ω from explicit
    Jacobians), global-norm clipping of the sum over all parameters, A among them, then SGD with momentum
    (buf = g, then μ·buf + g) at lr, and at lr_orth for A. A's gradient with the others' rate, or A left
    out of the norm, moves the weights elsewhere."""
    from test_train import two_steps_by_hand

    alpha, lr, lr_orth, mu, v = 0.5, 0.5, 0.2, 0.9, 0.2
    c = cfg(
        **{
            "model.nonlinearity": "tanh",
            "model.hidden_size": H,
            "train.optimizer": "sgd",
            "train.lr": lr,
            "train.lr_orth": lr_orth,
            "train.momentum": mu,
            "train.batch_size": B,
            "clipping.threshold": v,
            "regularizer.omega_weight": alpha,
        }
    )
    tr = Trainer(c)

    def grads_of(net, x, y):
        return reference(net, tr.task, x, y, "pascanu2013", alpha)[1], None

    def lr_of(name):
        return lr_orth if name.endswith("original") else lr

    for (_, norm, _, _), (_, total) in two_steps_by_hand(tr, alpha, grads_of, v, mu, lr_of):
        assert norm == pytest.approx(total, rel=1e-4)


def test_random_step_moves_a_on_the_entries_the_map_reads():
    """A non-finite gradient under random_step: a random step of norm v over all parameters, A's part in
    its strict lower triangle (the map reads nothing else: noise there would move no weight); the same
    draws as the other models (seed + 2), so the other parameters' noise is theirs as alone."""
    tr = Trainer(cfg(**{"clipping.nonfinite": "random_step", "clipping.threshold": 0.7}))
    for p in tr.params:
        p.grad = torch.full_like(p, math.nan)
    assert not tr.clip().finite
    skew = tr.model.w_hh_param.grad
    low = torch.ones_like(skew, dtype=torch.bool).tril(-1)
    assert torch.all(skew[~low] == 0) and torch.all(skew[low] != 0)
    total = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in tr.params]))
    assert total.item() == pytest.approx(0.7, rel=1e-5)
    gen = torch.Generator().manual_seed(tr.cfg.seed + 2)
    draws = [torch.randn(p.shape, generator=gen) for p in tr.params]
    draws = [z.tril(-1) if p is tr.model.w_hh_param else z for p, z in zip(tr.params, draws, strict=True)]
    scale = 0.7 / torch.linalg.vector_norm(torch.cat([z.flatten() for z in draws]))
    for p, z in zip(tr.params, draws, strict=True):
        torch.testing.assert_close(p.grad, z * scale, rtol=1e-6, atol=0)


def test_one_exponential_per_update_and_per_evaluation(monkeypatch):
    tr = Trainer(cfg())
    calls = []
    real = torch.matrix_exp
    monkeypatch.setattr(torch, "matrix_exp", lambda a: calls.append(1) or real(a))
    tr.step(0.5)
    assert len(calls) == 1
    tr.evaluate(), tr.probe()
    assert len(calls) == 3  # the held-out set runs in slices: one exponential for all of them


@pytest.mark.parametrize(
    "over,inits",
    [
        (
            {},
            (),
        ),  # modReLU, Cayley's init (‖A‖₁ ≤ 1: each exponential alone), RMSProp, norm clipping, Ω (RUN)
        # Henaff's init (‖A‖₁ ≥ θ₁₂: one batched exponential) with a run at A = 0 (alone) in the same pack
        ({"model.init": "henaff"}, ("henaff", "identity")),
        ({"model.init": "henaff", "model.nonlinearity": "tanh", "train.optimizer": "sgd"}, ()),
        ({"model.nonlinearity": "tanh", "model.orthogonal_map": "cayley", "train.optimizer": "sgd"}, ()),
        ({"model.nonlinearity": "relu", "regularizer.omega_weight": 0.0, "train.optimizer": "adam"}, ()),
    ],
)
def test_orthogonal_runs_pack_and_give_their_numbers_alone(over, inits):
    """A pack computes the runs' W_hh = exp(A) batched where that gives each run its bits alone
    (orthogonal.pack_weights), the others one by one, and back-propagates through them: each run its
    numbers alone, bit for bit, and the pack's first-step check found them equal."""
    from test_pack import fingerprint as unpacked_fingerprint

    from ltd_bench.pack import Pack
    from ltd_bench.train import RunSpec, train_runs

    first = cfg(**over)
    cfgs = [first] + [
        validate_dict(
            {
                **first.to_dict(),
                "seed": s,
                "train": {**first.to_dict()["train"], "lr": lr},
                "model": {**first.to_dict()["model"], **({"init": init} if init else {})},
            },
            "c",
        )
        for (s, lr), init in zip(((6, 0.02), (7, 0.005)), inits or (None, None), strict=True)
    ]
    key = pack_key(first)
    assert key is not None and {pack_key(c) for c in cfgs} == {key} and "orthogonal" in key
    if first.model.init == "henaff":  # what the pack batches at its first step
        theta = THETA_12[torch.float32]
        norms = [_a_norm(c) for c in cfgs]
        assert all(n >= theta for n in norms[:2])
        assert norms[2] == 0.0 if inits else norms[2] >= theta
    results = train_runs([RunSpec(c) for c in cfgs])
    assert [r.summary["packed"] for r in results] == [3, 3, 3]
    assert [v for layout, v in Pack.VERDICTS.items() if layout[0] == key] == [True]
    for c, r in zip(cfgs, results, strict=True):
        assert unpacked_fingerprint(r) == unpacked_fingerprint(train(c)), c.seed


def _a_norm(c) -> float:
    """‖A‖₁ of a config's initial A."""
    task = make_task(c.task.name, c.task.seq_len, **c.task.options)
    low = build_model(c.model, task.input_size, task.output_size, c.seed).rnn.skew.detach().tril()
    return float(torch.linalg.matrix_norm(low - low.T, 1))


def _parametrization(omap: str, h: int, dtype=torch.float32):
    m = torch.nn.Linear(h, h).to(dtype)
    torch.nn.utils.parametrizations.orthogonal(m, "weight", orthogonal_map=omap, use_trivialization=False)
    return m.parametrizations.weight[0]


def _skews(norms, h, dtype, seed=0):
    """Parameters (strict lower triangles) whose A = L − Lᵀ has the given 1-norms."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in norms:
        low = torch.randn(h, h, generator=g, dtype=dtype).tril(-1)
        out.append(low * (n / float(torch.linalg.matrix_norm(low - low.T, 1))) if n else low * 0)
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batched_matrix_exp_gives_each_matrix_its_bits_alone_from_theta_12(dtype):
    """What pack_weights relies on, pinned (ATen's degree choice, orthogonal.THETA_12): from ‖A‖₁ = θ₁₂
    up, torch.matrix_exp on a batch gives each matrix the bits it gets alone, forward and backward
    (with and without squarings); below θ₁₂ it does not (a batch takes degree 18, one matrix less)."""
    theta = THETA_12[dtype]
    for h in (12, 50):
        norms = [theta * 1.0001, theta * 1.01, 2.5, 3.5, 7.0, 40.0]
        xs = [(low - low.T).requires_grad_() for low in _skews(norms, h, dtype, seed=h)]
        gs = [torch.randn(h, h, dtype=dtype, generator=torch.Generator().manual_seed(k)) for k in range(6)]
        alone = [torch.matrix_exp(x) for x in xs]
        alone_grads = torch.autograd.grad(alone, xs, gs)
        xb = torch.stack([x.detach() for x in xs]).requires_grad_()
        batched = torch.matrix_exp(xb)
        (batched_grads,) = torch.autograd.grad(batched, xb, torch.stack(gs))
        assert torch.equal(batched, torch.stack(alone)) and torch.equal(
            batched_grads, torch.stack(alone_grads)
        )
    below = torch.stack([low - low.T for low in _skews([theta * 0.5, theta * 0.9], 50, dtype)])
    assert not torch.equal(torch.matrix_exp(below), torch.stack([torch.matrix_exp(a) for a in below]))


@pytest.mark.parametrize("omap", ["matrix_exp", "cayley"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pack_weights_are_each_runs_own_bit_for_bit(omap, dtype):
    """pack_weights (runs below and above θ₁₂, A = 0) against each run's parametrization alone, with its
    scaled backward: W_hh and A's gradient, cotangents small and large, bit for bit."""
    par, h = _parametrization(omap, 12, dtype), 12
    theta = THETA_12[dtype]
    skews = _skews([0.0, 0.5 * theta, 1.2 * theta, 2.5, 3.3, 9.0], h, dtype)
    gen = torch.Generator().manual_seed(1)
    gs = [torch.randn(h, h, dtype=dtype, generator=gen) * 10.0 ** (2 * k - 4) for k in range(len(skews))]
    xs = [x.clone().requires_grad_() for x in skews]
    ws = pack_weights(par, xs)
    grads = torch.autograd.grad(ws, xs, gs)
    for x, w, g, grad in zip(skews, ws, gs, grads, strict=True):
        x = x.clone().requires_grad_()
        alone = scale_cotangent(par(x))
        assert torch.equal(w, alone)
        assert torch.equal(grad, torch.autograd.grad(alone, x, g)[0])


def test_the_scaled_backward_is_pytorchs_to_rounding_and_keeps_digits_for_large_cotangents():
    """scale_cotangent: A's gradient as autograd's through matrix_exp (float64: to rounding; float32: the
    same bits where G is small enough to leave matrix_exp's degree alone), and for a large G (modReLU's
    reach 10⁵) within float32 precision of the float64 gradient, where the unscaled backward is not."""
    par64, par32 = _parametrization("matrix_exp", 50, torch.float64), _parametrization("matrix_exp", 50)
    (low,) = _skews([2.6], 50, torch.float64)
    gen = torch.Generator().manual_seed(2)
    g = torch.randn(50, 50, dtype=torch.float64, generator=gen)

    def grad(par, x, g, scaled):
        x = x.clone().requires_grad_()
        w = par(x)
        return torch.autograd.grad(scale_cotangent(w) if scaled else w, x, g)[0]

    torch.testing.assert_close(grad(par64, low, g, True), grad(par64, low, g, False), rtol=1e-12, atol=0)
    small = (g * 1e-4).float()
    assert torch.equal(grad(par32, low.float(), small, True), grad(par32, low.float(), small, False))
    big = g * 1e5
    ref = grad(par64, low, big, False)
    err = lambda got: float((got.double() - ref).norm() / ref.norm())
    assert (
        err(grad(par32, low.float(), big.float(), True))
        < 1e-6
        < err(grad(par32, low.float(), big.float(), False))
    )


def test_what_packs_with_an_orthogonal_run():
    base = pack_key(cfg())
    assert pack_key(cfg(**{"model.init": "identity", "train.lr_orth": 0.3})) == base
    for over in ({"model.orthogonal_map": "cayley"}, {"model.nonlinearity": "tanh"}):
        assert pack_key(cfg(**over)) not in (None, base)
    rnn = validate_dict({**cfg().to_dict(), "model": {"type": "rnn", "hidden_size": 12}}, "r")
    assert pack_key(rnn) not in (None, base)


@pytest.mark.parametrize(
    "model,train_,needle",
    [
        (
            {"type": "orthogonal", "init": "smart_tanh"},
            {},
            "model.init: init 'smart_tanh' is not for the orthogonal",
        ),
        (
            {"type": "orthogonal", "nonlinearity": "sigmoid"},
            {},
            "model.nonlinearity: 'sigmoid' is not for the orth",
        ),
        ({"type": "rnn", "init": "henaff"}, {}, "model.init: init 'henaff' is for model.type orthogonal"),
        (
            {"type": "rnn", "nonlinearity": "modrelu"},
            {},
            "model.nonlinearity: modrelu is for model.type orth",
        ),
        (
            {"type": "lstm", "orthogonal_map": "cayley"},
            {},
            "model.orthogonal_map: is for model.type orthogonal",
        ),
        ({"type": "rnn"}, {"lr_orth": 0.001}, "train.lr_orth: is for model.type orthogonal"),
        ({"type": "rnn", "init": "cayley"}, {}, "model.init: init 'cayley' is for model.type orthogonal"),
        ({"type": "orthogonal"}, {"lr_orth": 0}, "train.lr_orth:"),
        ({"type": "orthogonal"}, {"lr_orth": 20}, "train.lr_orth:"),
        ({"type": "orthogonal", "orthogonal_map": "expm"}, {}, "unknown value 'expm'"),
        ({"type": "orthogonl"}, {}, "(did you mean 'orthogonal'?)"),
    ],
)
def test_names_that_do_not_fit_the_model_are_config_errors(model, train_, needle):
    with pytest.raises(ConfigError) as e:
        validate_dict({"model": model, "train": train_}, "c.yaml")
    assert any(needle in line and line.startswith("c.yaml: ") for line in e.value.errors), e.value.errors


def test_the_new_fields_leave_other_models_run_ids_alone():
    """orthogonal_map and lr_orth came later: at their defaults they stay out of the run id."""
    from ltd_bench.config import content_id

    c = validate_dict({"model": {"type": "rnn"}}, "x")
    d = c.to_dict()
    del d["model"]["orthogonal_map"], d["train"]["lr_orth"]
    d["task"].pop("seq_len_max"), d["task"].pop("test_fresh"), d["clipping"].pop("bad_norm")
    d["train"].pop("checkpoint_s"), d["train"].pop("tensorboard")
    assert c.run_id == content_id(d)
    assert (
        cfg().run_id
        != cfg(**{"model.orthogonal_map": "cayley"}).run_id
        != cfg(**{"train.lr_orth": 0.5}).run_id
    )


def test_cli_runs_validates_lists_and_reports(ltd_main, tmp_path):
    import yaml

    path = tmp_path / "o.yaml"
    raw = cfg(**{"train.steps": 20}).to_dict()
    path.write_text(yaml.safe_dump(raw))
    code, out, err = ltd_main("validate", path)
    assert code == 0 and "orthogonal_map: matrix_exp" in out, err
    code, out, err = ltd_main("run", path, "--out", tmp_path / "out")
    assert code == 0, err
    code, out, err = ltd_main("report", tmp_path / "out" / "orth")
    assert code == 0 and "1 finished run(s)" in out and "orthogonal" in out, err
    code, out, _ = ltd_main("ls", "orthogonal-maps")
    assert code == 0 and "matrix_exp" in out and "cayley" in out
    from ltd_bench.catalog import fields

    rows = {name: (default, allowed, meaning) for name, default, allowed, meaning in fields()}
    assert rows["model.orthogonal_map"][:2] == ("matrix_exp", "matrix_exp | cayley")
    assert rows["train.lr_orth"][0] == "null" and "lr/10" in rows["train.lr_orth"][2]


def test_bench_orthogonal_prints_the_step_ratio(ltd_main, tmp_path):
    code, out, err = ltd_main("bench", "--orthogonal", "--quick", "--csv", tmp_path / "b.csv")
    assert code == 0, err
    rows = {r.split(",")[0]: r.split(",") for r in (tmp_path / "b.csv").read_text().splitlines()[1:]}
    assert set(rows) == {
        "step_rnn",
        "step_orthogonal",
        "step_orthogonal_cayley",
        "step_orthogonal_modrelu",
        "step_rnn_omega",
        "step_orthogonal_omega",
    }
    header = (tmp_path / "b.csv").read_text().splitlines()[0].split(",")
    row = dict(zip(header, rows["step_orthogonal"], strict=True))
    assert row["ratio_to"] == "step_rnn" and row["goal"] == "1.3" and row["ok"] in ("yes", "no")
    ms = lambda name: float(dict(zip(header, rows[name], strict=True))["median_ms_per_step"])
    assert float(row["ratio"]) == pytest.approx(ms("step_orthogonal") / ms("step_rnn"))


def test_bench_orthogonal_pack_times_each_models_pack_against_its_single_run(ltd_main, tmp_path):
    code, out, err = ltd_main("bench", "--orthogonal", "--pack", "2", "--quick", "--csv", tmp_path / "p.csv")
    assert code == 0, err
    lines = (tmp_path / "p.csv").read_text().splitlines()
    rows = {
        r["measure"]: r
        for r in (dict(zip(lines[0].split(","), x.split(","), strict=True)) for x in lines[1:])
    }
    models = ("rnn", "orthogonal", "orthogonal_cayley", "orthogonal_modrelu")
    assert set(rows) == {f"{m}:{kind}" for m in models for kind in ("single", "pack_2")}
    for m in models:
        single, pack = rows[f"{m}:single"], rows[f"{m}:pack_2"]
        assert pack["pack"] == "2" and single["speedup"] == ""
        want = float(single["median_ms_per_step"]) / float(pack["median_ms_per_step"])
        assert float(pack["speedup"]) == pytest.approx(want)
    assert "orthogonal_cayley" in out and "speedup" in out and "goals" not in out  # no goal here
    code, out, err = ltd_main("bench", "--orthogonal", "--pack", "2", "--quick", "--update", "both")
    assert code == 2 and "one path" in out + err
