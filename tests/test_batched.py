"""The batched update path (batched.py) trains every run of a pack as the per-run path does (Pack.step →
Trainer.update per run, the CPU's reference), to float rounding: every optimizer, clipping mode and
non-finite policy, runs of mixed settings in one pack, orthogonal runs (A at its own rate), runs leaving
it, checkpoints that go on alone."""

import copy

import pytest
import torch

from ltd_bench import batched, pack
from ltd_bench.config import validate_dict
from ltd_bench.models import training_threads
from ltd_bench.train import RunSpec, Trainer, train, train_runs

BASE = {
    "task": {"name": "adding", "seq_len": 12, "test_size": 40},
    "model": {"hidden_size": 12},
    "train": {"steps": 30, "eval_every": 10, "stop_when_solved": False},
}


def config(seed=0, **sections):
    raw = copy.deepcopy(BASE)
    for sec, over in sections.items():
        raw.setdefault(sec, {}).update(over)
    return validate_dict({"seed": seed, **raw}, "test")


IRNN = {"nonlinearity": "relu", "init": "identity"}
# bad_norm about each run's typical norm turns some of its steps (not all) non-finite: each policy is exercised
PACKS = {
    "optimizers_and_clipping": [
        config(0, train={"lr": 0.05, "momentum": 0.9}, clipping={"mode": "norm", "threshold": 0.05}),
        config(1, train={"lr": 0.02}, clipping={"mode": "value", "threshold": 0.005}),
        config(2, train={"optimizer": "adam", "lr": 0.01}, clipping={"mode": "norm", "threshold": 0.1}),
        config(3, train={"optimizer": "adam", "lr": 0.03}, clipping={"mode": "none"}),
        config(4, train={"optimizer": "rmsprop", "lr": 0.002, "momentum": 0.5}, clipping={"mode": "value"}),
        config(5, train={"optimizer": "rmsprop", "lr": 0.001}, clipping={"mode": "norm", "threshold": 0.2}),
        config(6, train={"lr": 0.1, "momentum": 0.5}),
    ],
    "nonfinite_policies": [
        config(
            s,
            train={"optimizer": opt, "lr": lr, "momentum": mom},
            clipping={"mode": mode, "threshold": 0.05, "nonfinite": pol, "bad_norm": bad},
        )
        for s, (opt, lr, mom, mode, pol, bad) in enumerate(
            [
                ("sgd", 0.02, 0.9, "norm", "skip", 4.5),
                ("sgd", 0.02, 0.0, "value", "shrink", 2.5),
                ("adam", 0.005, 0.0, "norm", "random_step", 3.0),
                ("adam", 0.005, 0.0, "none", "skip", 0.8),
                ("rmsprop", 0.002, 0.9, "norm", "shrink", 2.0),
                ("rmsprop", 0.002, 0.0, "value", "random_step", 1.0),
                ("sgd", 0.02, 0.5, "none", "random_step", 3.5),
            ]
        )
    ],
    "orthogonal": [  # A in a parameter group of its own rate (lr_orth), shrink acting on A
        config(
            s,
            model={"type": "orthogonal", "nonlinearity": "modrelu", "init": init},
            train={"optimizer": opt, "lr": lr, "lr_orth": lr_orth, "momentum": mom},
            clipping={"mode": "norm", "threshold": 0.05, "nonfinite": pol, "bad_norm": bad},
        )
        for s, (init, opt, lr, lr_orth, mom, pol, bad) in enumerate(
            [
                ("henaff", "sgd", 0.02, None, 0.9, "shrink", 60.0),
                ("cayley", "sgd", 0.05, 0.01, 0.0, "skip", 1100.0),
                ("henaff", "rmsprop", 0.002, 0.0005, 0.0, "skip", None),
                ("identity", "adam", 0.005, 0.02, 0.0, "skip", None),
            ]
        )
    ],
    "runs_leave": [  # one solves early, one diverges, one has half the budget, one trains to the end
        config(0, train={"success_error": 0.9, "stop_when_solved": True, "eval_every": 5}, model=IRNN),
        config(1, train={"lr": 10.0}, model=IRNN),
        config(2, train={"steps": 15, "optimizer": "adam", "lr": 0.01}, model=IRNN),
        config(
            3,
            train={"optimizer": "rmsprop", "lr": 0.001, "momentum": 0.9},
            clipping={"mode": "norm"},
            model=IRNN,
        ),
    ],
}


def assert_runs_close(a, b):
    assert a.summary["status"] == b.summary["status"] and a.summary["steps"] == b.summary["steps"]
    assert a.summary["nonfinite_grad_steps"] == b.summary["nonfinite_grad_steps"]
    assert len(a.metrics) == len(b.metrics)
    for ra, rb in zip(a.metrics, b.metrics, strict=True):
        for k in ("train_loss", "grad_norm", "grad_norm_max", "test_loss", "omega", "clip_rate"):
            assert ra[k] == pytest.approx(rb[k], rel=1e-4, abs=1e-7, nan_ok=True), k
        assert ra["nonfinite_steps"] == rb["nonfinite_steps"]
    for name, w in a.state_dict.items():
        torch.testing.assert_close(w, b.state_dict[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("case", list(PACKS))
def test_the_batched_update_trains_each_run_as_the_per_run_path(case):
    cfgs = PACKS[case]
    assert len({pack.pack_key(c) for c in cfgs}) == 1
    per_run = train_runs([RunSpec(c) for c in cfgs], update="per_run")
    both = train_runs([RunSpec(c) for c in cfgs], update="batched")
    for a, b in zip(both, per_run, strict=True):
        assert a.summary["packed"] > 1
        assert_runs_close(a, b)
    if case == "nonfinite_policies":  # each policy met bad steps and good ones in some run
        mixed = {
            c.clipping.nonfinite
            for c, r in zip(cfgs, per_run, strict=True)
            if 0 < r.summary["nonfinite_grad_steps"] < 30
        }
        assert mixed == {"skip", "shrink", "random_step"}
    if case == "orthogonal":  # shrink (on A) and skip met bad steps and good ones
        assert [0 < r.summary["nonfinite_grad_steps"] < 30 for r in per_run] == [True, True, False, False]
    if case == "runs_leave":
        status = [r.summary["status"] for r in per_run]
        assert status[0] == "solved" and status[1] == "diverged" and per_run[2].summary["steps"] == 15


def test_one_batched_step_equals_the_per_run_step_with_its_optimizer_state():
    """Step for step: the returns, the weights and every optimizer state tensor (each run's own
    optimizer's, now rows of the stacks) agree with the per-run path's; runs whose step is skipped
    keep theirs exactly."""
    cfgs = PACKS["nonfinite_policies"]
    with training_threads(1):
        ref = pack.Pack([Trainer(c) for c in cfgs], update="per_run")
        bat = pack.Pack([Trainer(c) for c in cfgs], update="batched")
        assert isinstance(bat.batched, batched.BatchedUpdate) and ref.batched is None
        for _ in range(8):
            before = {n: w.clone() for n, w in bat.weights.items()}
            got, want = bat.step([0.0] * len(cfgs)), ref.step([0.0] * len(cfgs))
            for (lg, ng, cg, fg), (lw, nw, cw, fw) in zip(got, want, strict=True):
                assert (cg, fg) == (cw, fw)
                assert lg == pytest.approx(lw, rel=1e-5) and ng == pytest.approx(nw, rel=1e-4)
            for k, ((*_, fin), c) in enumerate(zip(got, cfgs, strict=True)):
                if not fin and c.clipping.nonfinite == "skip":
                    for n, w in bat.weights.items():
                        assert torch.equal(w[k], before[n][k])
            for a, b in zip(bat.trainers, ref.trainers, strict=True):
                for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
                    torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
                sa, sb = a.state_dict()["optimizer"]["state"], b.state_dict()["optimizer"]["state"]
                for i in sa:  # state the per-run optimizer has not made yet (no step so far): torch's initial
                    for key, v in sa[i].items():
                        ref_v = sb[i][key] if i in sb else torch.zeros_like(v)
                        torch.testing.assert_close(v, ref_v, rtol=1e-4, atol=1e-7)
                assert set(sb) <= set(sa) and all(sa[i].keys() == sb[i].keys() for i in sb)


def test_a_batched_pack_checkpoint_goes_on_alone(tmp_path):
    """A run checkpointed out of a batched pack (its state: copies, not views of the stacks) continues
    alone, on the per-run path, to the run trained alone throughout, to rounding."""
    cfgs = PACKS["optimizers_and_clipping"][2:5]
    states = {}
    specs = [RunSpec(c, checkpoint=lambda s, k=k: states.setdefault(k, s)) for k, c in enumerate(cfgs)]
    stops = iter([False] * 12 + [True])
    train_runs(specs, stop=lambda: next(stops), update="batched")
    for k, c in enumerate(cfgs):
        st = states[k]
        assert 0 < st["step"] < 30
        for s in st["trainer"]["optimizer"]["state"].values():
            for v in s.values():  # a copy of the run's own rows, not a view of the whole stack
                assert v.untyped_storage().nbytes() == v.numel() * v.element_size()
        assert_runs_close(train(c, resume=st), train(c))


def test_auto_is_per_run_on_the_cpu_and_batched_on_a_gpu():
    assert batched.resolve("auto", torch.device("cpu")) == "per_run"
    assert batched.resolve("auto", torch.device("cuda")) == "batched"
    assert batched.resolve("batched", torch.device("cpu")) == "batched"
    with pytest.raises(ValueError, match="per_run"):
        batched.resolve("fast", torch.device("cpu"))
