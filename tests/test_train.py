"""Training loop behaviour: outcomes, determinism, Ω logging, clipping statistics, schedules."""

import math

import pytest
import torch

from ltd_bench.config import Config
from ltd_bench import omega
from ltd_bench.config import method_of
from ltd_bench.train import train

TINY = {
    "task": {"name": "adding", "seq_len": 10, "test_size": 50},
    "model": {"type": "rnn", "hidden_size": 8},
    "train": {"steps": 30, "eval_every": 10, "lr": 0.01, "threads": 1},
}


def cfg(**over) -> Config:
    raw = {k: dict(v) for k, v in TINY.items()}
    for key, value in over.items():
        sec, _, field = key.partition("__")
        raw.setdefault(sec, {})[field] = value
    return Config.model_validate(raw)


def strip(rows):
    return [{k: v for k, v in r.items() if k != "wall_time_s"} for r in rows]


def test_same_config_same_numbers_and_seed_matters():
    a, b = train(cfg()), train(cfg())
    assert strip(a.metrics) == strip(b.metrics)
    assert a.run_id == b.run_id
    c = train(Config.model_validate({**cfg().to_dict(), "seed": 1}))
    assert strip(c.metrics) != strip(a.metrics) and c.run_id != a.run_id


def test_metrics_rows_and_summary():
    r = train(cfg(clipping__mode="norm", clipping__threshold=0.01))
    steps = [m["step"] for m in r.metrics]
    assert steps == [0, 10, 20, 30]
    assert all(m["clip_rate"] == 1.0 for m in r.metrics[1:])  # threshold 0.01: every step is clipped
    assert all(m["grad_norm"] > 0.01 for m in r.metrics[1:])  # the pre-clip norm is what is logged
    s = r.summary
    assert s["status"] == "unsolved" and s["steps"] == 30 and s["steps_to_solve"] is None
    assert s["baseline_loss"] == pytest.approx(1 / 6)
    assert s["method"] == "rnn+clip"
    assert r.flow["grad_norm"].shape == (4, 10) and (r.flow["grad_norm"] > 0).all()


def test_omega_logged_for_every_rnn_run_and_regularizer_lowers_it():
    """Weight 2 ends with a clearly lower logged Ω than weight 0."""
    base = {
        "task__name": "temporal_order",
        "task__seq_len": 20,
        "train__steps": 300,
        "train__eval_every": 100,
        "model__init": "smart_tanh",
        "clipping__mode": "norm",
        "regularizer__form": "pascanu2013",
    }
    off = train(cfg(**base, regularizer__omega_weight=0.0))
    on = train(cfg(**base, regularizer__omega_weight=2.0))
    assert all(math.isfinite(m["omega"]) for m in off.metrics)
    assert off.metrics[0]["omega"] == on.metrics[0]["omega"]  # same init, same probe
    assert on.metrics[-1]["omega"] < 0.5 * off.metrics[-1]["omega"]


def test_solved_at_first_evaluation_below_the_bar_and_stops_early():
    bar = 0.9  # loose enough that the tiny run crosses it within 30 steps
    full = train(cfg(train__success_error=bar, train__stop_when_solved=False))
    first = next(m["step"] for m in full.metrics if m["test_error"] < bar)
    assert full.summary["status"] == "solved" and full.summary["steps"] == 30
    assert full.summary["steps_to_solve"] == first
    early = train(cfg(train__success_error=bar))
    assert early.summary["steps_to_solve"] == first and early.summary["steps"] == first
    assert strip(early.metrics) == strip(full.metrics)[: len(early.metrics)]


def test_best_test_error_is_the_lowest_evaluation():
    r = train(cfg(train__lr=0.05, train__steps=40, train__eval_every=5))
    errors = [m["test_error"] for m in r.metrics]
    assert min(errors) < errors[-1] < max(errors)  # the error went down, then up again: min is inside
    assert r.summary["best_test_error"] == min(errors)
    assert r.summary["test_error"] == errors[-1]


def test_divergence_is_a_result():
    """IRNN with lr 10: the first step whose loss is non-finite ends the run; the same run with one step
    less (same seed, same batches) stays finite, so that step is the first one."""
    over = dict(model__nonlinearity="relu", model__init="identity", train__lr=10.0, task__name="adding")
    r = train(cfg(**over, train__steps=200))
    s = r.summary
    assert s["status"] == "diverged" and s["steps_to_solve"] is None
    d = s["diverged_at_step"]
    assert 2 <= d <= 200 and s["steps"] == d
    last = r.metrics[-1]  # the row of the interval that diverged: training stats only, no evaluation
    assert last["step"] == d and math.isnan(last["test_error"]) and math.isnan(last["omega"])
    assert all(math.isfinite(m["test_loss"]) for m in r.metrics[:-1])
    before = train(cfg(**over, train__steps=d - 1, train__eval_every=d - 1))
    assert before.summary["status"] != "diverged" and before.summary["steps"] == d - 1
    assert math.isfinite(before.metrics[-1]["train_loss"])


def test_inverse_t_schedule():
    c = cfg(regularizer__omega_weight=4.0, regularizer__schedule="inverse_t", regularizer__decay_steps=10)
    w = lambda step: omega.weight(c.regularizer, step)
    assert w(0) == 4.0 and w(10) == 2.0 and w(30) == 1.0


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gated_models_train_with_omega(kind):
    """Ω on a gated cell is logged, and its gradient moves W_hh and nothing else (its value against explicit
    Jacobians: test_omega.py; the whole step against a hand-computed one: test_one_step_... below)."""
    over = dict(model__type=kind, train__optimizer="adam")
    on, off = train(cfg(**over, regularizer__omega_weight=1.0)), train(cfg(**over))
    assert on.summary["method"] == f"{kind}+Ω" and off.summary["method"] == kind
    assert "extension" in on.summary["note"]
    assert all(math.isfinite(m["omega"]) and m["omega"] > 0 for m in on.metrics)
    assert on.metrics[0]["omega"] == off.metrics[0]["omega"]  # same init, same probe
    assert [m["omega_weight"] for m in on.metrics] == [1.0] * 4 and off.metrics[-1]["omega_weight"] == 0.0
    assert on.metrics[-1]["omega"] != off.metrics[-1]["omega"]
    one = {w: train(cfg(**over, regularizer__omega_weight=w, train__steps=1)).state_dict for w in (0.0, 1.0)}
    for name, p in one[0.0].items():  # Adam's first step is elementwise: a changed gradient shows where
        if name == "rnn.weight_hh_l0":
            assert (p - one[1.0][name]).abs().max() > 1e-4, name
        else:
            torch.testing.assert_close(p, one[1.0][name], rtol=0, atol=1e-6, msg=name)


def test_method_labels():
    assert method_of(cfg()) == "rnn"
    assert method_of(cfg(clipping__mode="value", regularizer__omega_weight=2.0)) == "rnn+clip+Ω"
    assert method_of(Config.model_validate({**cfg().to_dict(), "method": "mine"})) == "mine"


def test_train_leaves_torchs_global_switches_as_it_found_them():
    import torch

    from ltd_bench.models import flushing_denormals

    threads = torch.get_num_threads()
    try:
        for before, n in ((False, 2), (True, 1)):
            torch.set_flush_denormal(before)
            torch.set_num_threads(n)
            train(cfg(train__steps=2, train__eval_every=2, train__threads=3 - n))
            assert flushing_denormals() is before and torch.get_num_threads() == n
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)


# ------------------------------------------------------------------------------- pinned behaviour
def _pinned_cases():
    import json
    from pathlib import Path

    return json.loads((Path(__file__).parent / "data" / "regression_runs.json").read_text())


@pytest.mark.parametrize("case", ["rnn_clip_omega", "lstm_adam"])
def test_metrics_pinned_bit_for_bit(case):
    """Two short runs (an RNN with momentum, norm clipping and Ω; an LSTM on Adam with value clipping)
    reproduce metrics, summary, weights and gradient-flow arrays recorded before the code was refactored.
    A change here is a change of results: re-record only with a reason (tests/data/README.md). The LSTM's
    kernels round differently per SIMD level (ATen's AVX2 and AVX512 paths), so a case may carry its record
    for a CPU capability other than the one it was first recorded on."""
    import hashlib
    import json

    import torch

    want = _pinned_cases()[case]
    want = want | want.get("by_cpu_capability", {}).get(torch.backends.cpu.get_cpu_capability(), {})
    res = train(Config.model_validate(want["config"]))
    same = lambda a, b: (
        json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    )  # NaN-aware, exact floats
    assert same(strip(res.metrics), want["metrics"])
    for key, value in want["summary"].items():
        if key != "run_id":
            assert same(res.summary[key], value), key
    weights = b"".join(res.state_dict[n].numpy().tobytes() for n in sorted(res.state_dict))
    assert hashlib.sha256(weights).hexdigest() == want["weights_sha256"]
    assert {k: [float(x) for x in v.ravel()] for k, v in res.flow.items()} == want["flow"]


# --------------------------------------------------------------------- the training step, by hand
def recording(tr):
    """Make `tr` keep a copy of every training batch it draws; returns the list they go to."""
    batches, sample = [], tr.task.sample

    def record(batch_size, gen):
        x, y = sample(batch_size, gen)
        batches.append((x.clone(), y.clone()))
        return x, y

    tr.task.sample = record
    return batches


def two_steps_by_hand(tr, alpha, grads_of, v, mu, lr_of):
    """Two tr.step(alpha)s against the same update written out by hand on a float64 copy of the model:
    grads_of(net, x, y) -> ({name: ∂(loss + αΩ)/∂param}, loss) from independent parts, global-norm
    clipping of the sum at v (asserted to act), SGD with momentum (buf = g, then μ·buf + g; p -= lr·buf) at
    lr_of(name). Asserts the weights moved alike; returns [(reported, (loss, pre-clip norm) by hand)]."""
    import copy

    net = copy.deepcopy(tr.model).double()
    start = {n: p.detach().clone().double() for n, p in tr.model.named_parameters()}
    batches = recording(tr)
    reported = [tr.step(alpha) for _ in range(2)]
    buf, expected = {}, []
    for (x, y), (_, _, clipped, finite) in zip(batches, reported, strict=True):
        grads, loss = grads_of(net, x.double(), y)
        total = math.sqrt(sum(float(g.square().sum()) for g in grads.values()))
        assert total > 2 * v and clipped and finite  # clipping acts on this step
        expected.append((loss, total))
        with torch.no_grad():
            for n, p in net.named_parameters():
                g = grads[n] * (v / total)
                buf[n] = g if n not in buf else mu * buf[n] + g
                p -= lr_of(n) * buf[n]
    for n, p in tr.model.named_parameters():
        want = dict(net.named_parameters())[n].detach() - start[n]
        torch.testing.assert_close(p.detach().double() - start[n], want, rtol=1e-3, atol=1e-6, msg=n)
    return list(zip(reported, expected, strict=True))


STEP_CASES = {  # model, the route its backward takes, task (and options), Ω form
    "rnn_fast_path": ("rnn", "fast", "adding", {}, "book"),
    "rnn_autograd_path": ("rnn", "autograd", "adding", {}, "pascanu2013"),
    "lstm": ("lstm", "autograd", "adding", {}, "book"),
    "rnn_fast_path_copying": ("rnn", "fast", "copying", {"copy_len": 2, "n_symbols": 3}, "pascanu2013"),
    "gru_copying": ("gru", "autograd", "copying", {"copy_len": 2, "n_symbols": 3}, "book"),
}


@pytest.mark.parametrize("case", list(STEP_CASES))
def test_one_step_matches_a_hand_computed_update(case, monkeypatch):
    """Two Trainer.step()s against the update written out by hand from independent parts: the loss's
    gradient by autograd through a per-example unroll of PyTorch's documented cell equations, plus α·∂Ω/∂W_hh
    from explicit Jacobians (test_omega.reference), then global-norm clipping of the sum, then SGD with
    momentum (buf = g, then buf = μ·buf + g; p -= lr·buf). Clipping acts on both steps, so Ω's gradient
    added after it, or momentum ignored (it first shows on step 2), moves the weights elsewhere."""
    from test_omega import example_loss, reference

    from ltd_bench import models
    from ltd_bench.train import Trainer

    kind, route, task, options, form = STEP_CASES[case]
    alpha, lr, mu, v = 0.5, 0.5, 0.9, 0.2
    c = Config.model_validate(
        {
            "seed": 4,
            "task": {
                "name": task,
                "seq_len": 5 if task == "copying" else 10,
                "test_size": 10,
                "options": options,
            },
            "model": {"type": kind, "hidden_size": 3},
            "train": {"batch_size": 3, "lr": lr, "momentum": mu, "threads": 1},
            "clipping": {"mode": "norm", "threshold": v},
            "regularizer": {"omega_weight": alpha, "form": form},
        }
    )
    if route == "autograd":
        monkeypatch.setattr(models.RecurrentNet, "fast_path", property(lambda self: False))
    tr = Trainer(c)
    assert tr.model.fast_path == (route == "fast")

    def grads_of(net, x, y):
        def batch_loss(out):  # the batch mean of each example's own loss
            return sum(example_loss(task, out[:, b], y[..., b]) for b in range(y.shape[-1])) / y.shape[-1]

        _, omega_grad, ref_loss, grads = reference(net, kind, x, batch_loss, form)
        grads["rnn.weight_hh_l0"] = grads["rnn.weight_hh_l0"] + alpha * omega_grad
        return grads, float(ref_loss)

    for (loss, norm, _, _), (ref_loss, total) in two_steps_by_hand(tr, alpha, grads_of, v, mu, lambda n: lr):
        assert loss == pytest.approx(ref_loss, rel=1e-5)
        assert norm == pytest.approx(total, rel=1e-4)  # the pre-clip norm includes Ω's gradient


def test_seeds_share_the_test_set_not_the_training_batches():
    """The held-out set comes from task.test_seed alone (one set for every seed); the training batches from
    the seed (different for every seed, the same for the same seed)."""
    from ltd_bench.train import Trainer

    def trainer(seed, test_seed=20_130_000):
        tr = Trainer(Config.model_validate({**cfg(task__test_seed=test_seed).to_dict(), "seed": seed}))
        batches = recording(tr)
        for _ in range(3):
            tr.step(0.0)
        return torch.cat([x.flatten() for x, _ in tr.test]), torch.cat([x.flatten() for x, _ in batches])

    runs = {seed: trainer(seed) for seed in (0, 1, 7)}
    again_test, again_train = trainer(7)
    for seed in (1, 7):
        assert torch.equal(runs[seed][0], runs[0][0]), "the test set depends on the seed"
        assert not torch.equal(runs[seed][1], runs[0][1]), "seeds train on the same batches"
    assert not torch.equal(runs[1][1], runs[7][1])
    assert torch.equal(again_train, runs[7][1]) and torch.equal(again_test, runs[7][0])
    other_test, other_train = trainer(0, test_seed=5)
    assert not torch.equal(other_test, runs[0][0]) and torch.equal(other_train, runs[0][1])
