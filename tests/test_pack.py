"""Packs (pack.py): a run trained in a pack gives what it gives alone, bit for bit on the CPU — metrics,
summary, weights, gradient flow — whatever its companions (other seeds, learning rates, optimizers,
clipping, Ω weights and schedules; runs that solve, diverge or run out of steps and leave the pack);
checkpoints of packed runs continue alone or in another pack; Ctrl-C / the stop flag checkpoints every
run; a run that raises fails alone; sweeps pack by default and write the same folders as unpacked."""

import copy
import hashlib
import json
import os
import time
from pathlib import Path

import pytest
import torch

from ltd_bench import pack
from ltd_bench.config import Config, validate_dict
from ltd_bench.executors import LocalExecutor
from ltd_bench.jobs import Job, PackJob
from ltd_bench.outputs import CHECKPOINT, RunResult, prepare, read_summary, run_dir
from ltd_bench.runner import spec_in
from ltd_bench.train import RunSpec, train, train_runs

# H = 12, batch 20, adding (2 inputs): 20 × 12 × 2 = 480 multiply-adds per input product, blocks of
# 240 and 40 floats — shapes that pack (pack.pack_key)
BASE = {
    "task": {"name": "adding", "seq_len": 12, "test_size": 40},
    "model": {"hidden_size": 12},
    "train": {"steps": 30, "eval_every": 10, "stop_when_solved": False},
}


def config(seed=0, **sections) -> Config:
    raw = copy.deepcopy(BASE)
    for sec, over in sections.items():
        raw.setdefault(sec, {}).update(over)
    return validate_dict({"seed": seed, **raw}, "test")


def fingerprint(res: RunResult) -> str:
    """Everything a run produced but its wall times and the packed field, as one hash (exact floats)."""
    assert isinstance(res, RunResult), res
    metrics = [{k: v for k, v in r.items() if k != "wall_time_s"} for r in res.metrics]
    summary = {k: v for k, v in res.summary.items() if k not in ("wall_time_s", "packed")}
    weights = {k: v.numpy().tobytes().hex() for k, v in res.state_dict.items()}
    flow = {k: v.tobytes().hex() for k, v in res.flow.items()}
    blob = json.dumps([metrics, summary, weights, flow], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def alone(c: Config) -> str:
    return fingerprint(train(c))


# ------------------------------------------------------------------------------------ same numbers
OMEGA = {"omega_weight": 1.5, "form": "pascanu2013", "schedule": "inverse_t", "decay_steps": 7}
PACKS = {
    # SGD with momentum, norm clipping at each run's own threshold, Ω (pascanu2013, inverse_t) on tanh
    "sgd_norm_omega": [
        config(
            0,
            train={"lr": 0.05, "momentum": 0.9},
            clipping={"mode": "norm", "threshold": 0.5},
            regularizer=OMEGA,
        ),
        config(
            1,
            train={"lr": 0.2, "momentum": 0.5},
            clipping={"mode": "norm", "threshold": 0.05},
            regularizer=OMEGA,
        ),
        config(2, train={"lr": 0.01}, clipping={"mode": "none"}, regularizer={**OMEGA, "omega_weight": 4.0}),
    ],
    # Adam and RMSProp, value clipping, book-form Ω at constant weight, relu
    "adam_value_book_relu": [
        config(
            s,
            model={"nonlinearity": "relu"},
            train={"optimizer": opt, "lr": lr},
            clipping={"mode": "value", "threshold": 0.01},
            regularizer={"omega_weight": w, "form": "book"},
        )
        for s, opt, lr, w in ((3, "adam", 0.01, 0.5), (4, "adam", 0.05, 2.0), (5, "rmsprop", 0.01, 1.0))
    ],
    # sigmoid units (the paper's third setting): the activation's vector and scalar paths differ, so a
    # pack splits each run's block where the single run's vector loop ends (240 floats: 7 × 32 + 16)
    "sigmoid_omega": [
        config(
            s,
            model={"nonlinearity": "sigmoid", "init": "sigmoid"},
            train={"lr": lr},
            clipping={"mode": "norm"},
            regularizer={"omega_weight": 2.0, "form": "book"},
        )
        for s, lr in ((8, 0.5), (9, 2.0))
    ],
    # a target on every step (the read-out's gradient at every t), no Ω
    "sequence_task": [
        config(
            s,
            task={
                "name": "copying",
                "seq_len": 6,
                "test_size": 40,
                "options": {"copy_len": 2, "n_symbols": 3},
            },
            train={"optimizer": "adam", "lr": 0.02},
            clipping={"mode": "norm"},
        )
        for s in (6, 7)
    ],
}


@pytest.mark.parametrize("case", list(PACKS))
def test_a_packed_run_gives_its_numbers_alone(case):
    cfgs = PACKS[case]
    assert len({pack.pack_key(c) for c in cfgs}) == 1 and pack.pack_key(cfgs[0]) is not None
    results = train_runs([RunSpec(c) for c in cfgs])
    assert [r.summary["packed"] for r in results] == [len(cfgs)] * len(cfgs)  # they did train as a pack
    for c, r in zip(cfgs, results, strict=True):
        assert fingerprint(r) == alone(c), c.seed
    assert train(cfgs[0]).summary["packed"] == 1


def test_a_pack_agrees_to_rounding_with_the_fused_kernel_path(monkeypatch):
    """Where a single run trains on PyTorch's fused kernel and autograd (CUDA: cuDNN), a pack's hand-written
    BPTT gives the same run up to float rounding (not bit for bit): checked here on the CPU's fused kernel."""
    from ltd_bench import models

    cfgs = PACKS["sgd_norm_omega"][:2]
    packed = train_runs([RunSpec(c) for c in cfgs])
    monkeypatch.setattr(models.RecurrentNet, "fast_path", property(lambda self: False))
    for c, p in zip(cfgs, packed, strict=True):
        fused = train(c)
        for a, b in zip(p.metrics, fused.metrics, strict=True):
            assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4, nan_ok=True)
            assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-4)
        for name, w in p.state_dict.items():
            torch.testing.assert_close(w, fused.state_dict[name], rtol=1e-4, atol=1e-6, msg=name)


def test_runs_that_solve_diverge_or_stop_leave_the_pack_and_the_rest_go_on():
    """One run solves at its first evaluations (a loose bar), one diverges (IRNN at lr 10), one has half
    the budget, one trains to the end: each its numbers alone, the survivors after each departure."""
    relu = {"nonlinearity": "relu", "init": "identity"}
    cfgs = [
        config(0, train={"success_error": 0.9, "stop_when_solved": True, "eval_every": 5}, model=relu),
        config(1, train={"lr": 10.0}, model=relu),
        config(2, train={"steps": 15}, model=relu),
        config(
            3, train={"lr": 0.05, "momentum": 0.9}, clipping={"mode": "norm", "threshold": 0.3}, model=relu
        ),
    ]
    results = train_runs([RunSpec(c) for c in cfgs])
    status = [r.summary["status"] for r in results]
    assert status[0] == "solved" and results[0].summary["steps"] < 30
    assert status[1] == "diverged" and results[1].summary["diverged_at_step"] < 30
    assert results[2].summary["steps"] == 15 and results[3].summary["steps"] == 30
    for c, r in zip(cfgs, results, strict=True):
        assert fingerprint(r) == alone(c), c.seed


def test_a_pack_steps_the_batched_model_and_checks_it_once():
    """The pack's first step of a layout is compared with the single-run computation (Pack.VERDICTS);
    the pack's weights are views of one aligned buffer each, the runs' parameters views of their rows."""
    from ltd_bench.models import training_threads
    from ltd_bench.train import Trainer

    with training_threads(1):
        trs = [Trainer(config(s)) for s in range(3)]
        p = pack.Pack(trs)
        w = p.weights["rnn.weight_hh_l0"]
        for k, tr in enumerate(trs):
            assert tr.model.w_hh.data_ptr() == w[k].data_ptr() and w[k].data_ptr() % 64 == 0
            assert tr.model.w_hh.grad.data_ptr() == p.grads["rnn.weight_hh_l0"][k].data_ptr()
        p.step([0.0] * 3)
    assert p.exact is True and pack.Pack.VERDICTS[p.layout] is True


# ---------------------------------------------------------------------------------------- compatibility
def test_what_packs_together():
    base = config(0)
    key = pack.pack_key(base)
    same = [
        config(5, train={"lr": 0.3, "momentum": 0.5, "optimizer": "adam", "steps": 7, "eval_every": 3}),
        config(
            0,
            clipping={"mode": "value", "threshold": 0.2, "nonfinite": "shrink"},
            model={"init": "smart_tanh"},
        ),
        config(0, task={"test_size": 80, "test_seed": 3}),
    ]
    assert all(pack.pack_key(c) == key for c in same)
    other = [
        config(0, model={"hidden_size": 16}),
        config(0, model={"nonlinearity": "relu"}),
        config(0, train={"batch_size": 40}),
        config(0, regularizer={"omega_weight": 1.0}),  # Ω on: the backward differs
        config(0, task={"seq_len": 13}),
    ]
    assert len({key, *map(pack.pack_key, other)}) == 1 + len(other)
    assert pack.pack_key(config(0, regularizer={"omega_weight": 1.0})) != pack.pack_key(
        config(0, regularizer={"omega_weight": 1.0, "form": "pascanu2013"})
    )
    never = [
        config(0, model={"type": "lstm"}),
        config(0, task={"name": "adding", "variant": "pascanu", "seq_len": 30}),  # length jitter
        config(0, model={"hidden_size": 5}),  # 20 × 5 × 2 < 400: ATen's own loop for batched products
        config(0, train={"batch_size": 5}),  # 5 × 2 inputs: a block off the 16-byte grid
    ]
    assert [pack.pack_key(c) for c in never] == [None] * len(never)


def test_plan_groups_compatible_runs_into_even_packs():
    cfgs = (
        [config(s) for s in range(10)]
        + [config(0, model={"type": "lstm"})]
        + [config(s, model={"hidden_size": 16}) for s in range(3)]
    )
    assert pack.plan(cfgs, "off", 1) == [[i] for i in range(14)]
    assert pack.plan(cfgs, "auto", 1) == [list(range(10)), [10], [11, 12, 13]]
    # 2 groups and a lone run already keep 2 workers busy: no group is split
    assert pack.plan(cfgs, "auto", 2) == pack.plan(cfgs, "auto", 1)
    # 3 units for 5 workers: each group splits into 2 packs
    assert pack.plan(cfgs, "auto", 5) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10], [11], [12, 13]]
    # the tasks showcase: 12 groups of 5 seeds and 60 LSTM runs on 2 workers train in 12 packs of 5
    tasks = [config(s, model={"hidden_size": 16 + g}) for g in range(12) for s in range(5)]
    tasks += [config(s, model={"type": "lstm"}) for s in range(60)]
    assert sorted(map(len, pack.plan(tasks, "auto", 2))) == [1] * 60 + [5] * 12
    # one group, 4 workers: 4 even packs
    assert list(map(len, pack.plan([config(s) for s in range(10)], "auto", 4))) == [2, 3, 2, 3]
    assert pack.plan(cfgs, 4, 1) == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9], [10], [11, 12, 13]]
    assert pack.parse_size("auto") == "auto" and pack.parse_size("OFF") == "off" and pack.parse_size("8") == 8
    for bad in ("0", "-2", "eight", "1.5"):
        with pytest.raises(ValueError, match="auto, off or a number"):
            pack.parse_size(bad)


# ------------------------------------------------------------------------------------- checkpoints
CKPT = {"checkpoint_s": 0}


def folder(out: Path, c: Config) -> Path:
    path = run_dir(out, c)
    prepare(path, c)
    return path


def test_a_packed_checkpoint_continues_alone_or_in_another_pack(tmp_path):
    """Three runs stopped mid-pack (the stop flag: each checkpoints), then continued: one alone, two in a
    new pack with a fresh run beside them; each ends as its uninterrupted single run."""
    cfgs = [config(s, train={**CKPT, "lr": 0.02 * (s + 1)}, regularizer=OMEGA) for s in range(3)]
    paths = [folder(tmp_path, c) for c in cfgs]
    calls = iter(range(10**6))
    first = train_runs(
        [spec_in(c, p) for c, p in zip(cfgs, paths, strict=True)], stop=lambda: next(calls) >= 13
    )
    assert [r.summary["status"] for r in first] == ["interrupted"] * 3
    assert [r.summary["steps"] for r in first] == [13] * 3 and all((p / CHECKPOINT).is_file() for p in paths)
    assert first[0].summary["packed"] == 3
    fresh = config(9, train=CKPT, regularizer=OMEGA)
    (solo,) = train_runs([spec_in(cfgs[0], paths[0])])
    duo = train_runs([spec_in(cfgs[1], paths[1]), RunSpec(fresh), spec_in(cfgs[2], paths[2])])
    assert duo[0].summary["packed"] == 3
    for c, r in zip([cfgs[0], cfgs[1], fresh, cfgs[2]], [solo, *duo], strict=True):
        assert r.summary["steps"] == 30 and fingerprint(r) == alone(c)


def test_ctrl_c_in_a_pack_ends_every_run_interrupted_and_a_raising_run_fails_alone(tmp_path):
    """A run whose own callback raises (its metrics log, say) fails alone; the others go on. KeyboardInterrupt
    mid-pack ends every run still training interrupted (without a checkpoint: it may land mid-step)."""
    cfgs = [config(s) for s in range(3)]

    def broken(row):
        if row["step"] == 10:
            raise OSError("disk full")

    res = train_runs([RunSpec(cfgs[0]), RunSpec(cfgs[1], on_eval=broken), RunSpec(cfgs[2])])
    assert isinstance(res[1], OSError)
    assert fingerprint(res[0]) == alone(cfgs[0]) and fingerprint(res[2]) == alone(cfgs[2])

    def interrupt(row):
        if row["step"] == 20:
            raise KeyboardInterrupt

    res = train_runs([RunSpec(cfgs[0]), RunSpec(cfgs[1], on_eval=interrupt), RunSpec(cfgs[2])])
    assert [r.summary["status"] for r in res] == ["interrupted"] * 3 and res[0].summary["steps"] == 20


# ------------------------------------------------------------------------------------------ sweeps
def sweep_file(tmp_path: Path, n: int = 6) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(
        json.dumps(
            {
                "name": "packed",
                "base": {**BASE, "train": {"steps": 20, "eval_every": 10}},
                "methods": {"rnn+clip": {"clipping.mode": "norm"}, "lstm": {"model.type": "lstm"}},
                "grid": {"seed": list(range(n))},
            }
        )
    )
    return p


def folders(out: Path) -> dict[str, dict]:
    """Each run folder's files, less wall times and the packed field: what packing must not change."""
    got = {}
    for d in sorted(out.glob("*/*")):
        if not d.is_dir():
            continue
        s = json.loads((d / "summary.json").read_text())
        rows = [
            line.rsplit(",", 1)[0] for line in (d / "metrics.csv").read_text().splitlines()
        ]  # wall time last
        got[d.name] = {
            "summary": {k: v for k, v in s.items() if k not in ("wall_time_s", "packed")},
            "metrics": rows,
            "config": (d / "config.yaml").read_text(),
            "model": (d / "model.pt").read_bytes(),
            "flow": (d / "gradient_flow.npz").read_bytes(),
            "files": sorted(f.name for f in d.iterdir()),
        }
    return got


def test_sweep_packs_by_default_and_writes_what_one_by_one_writes(tmp_path):
    from io import StringIO

    from rich.console import Console

    from ltd_bench.sweep import sweep_command

    def sweep(out: Path, pack_size) -> str:
        o = StringIO()
        rc = sweep_command(
            sweep_file(tmp_path),
            out,
            [],
            1,
            False,
            "local",
            None,
            False,
            Console(file=o, width=200),
            Console(file=StringIO()),
            pack=pack_size,
        )
        assert rc == 0, o.getvalue()
        return o.getvalue()

    text = sweep(tmp_path / "packed", "auto")
    assert "6 runs train in 1 pack(s) of 6" in text
    sweep(tmp_path / "single", "off")
    packed, single = folders(tmp_path / "packed"), folders(tmp_path / "single")
    assert packed == single and len(packed) == 12
    sizes = sorted(read_summary(d)["packed"] for d in (tmp_path / "packed").glob("*/*") if d.is_dir())
    assert sizes == [1] * 6 + [6] * 6  # the LSTM runs one by one
    o = StringIO()
    rc = sweep_command(
        sweep_file(tmp_path),
        tmp_path / "x",
        [],
        1,
        True,
        "local",
        None,
        False,
        Console(file=o),
        Console(file=o),
        pack="many",
    )
    assert rc == 2 and "--pack" in o.getvalue()


# --------------------------------------------------------------------------------------- executors
def fake_pack(configs: list[dict], paths: list) -> list[RunResult]:
    """Instant 'training' of a pack: one result per run, the worker's pid; seed 13 kills the worker."""
    if any(c["seed"] == 13 for c in configs) and len(configs) > 1:
        os._exit(3)
    return [fake(c, p) for c, p in zip(configs, paths, strict=True)]


def fake(config: dict, path=None) -> RunResult:
    if config["seed"] == 13:
        os._exit(3)
    time.sleep(0.05)
    c = Config.model_validate(config)
    return RunResult(config, c.run_id, summary={"status": "solved", "pid": os.getpid(), "seed": c.seed})


def job(seed: int) -> Job:
    c = config(seed)
    return Job(c.run_id, "rnn", c.to_dict(), Path("/nonexistent") / c.run_id, {"seed": seed})


@pytest.mark.parametrize("workers", [1, 2])
def test_a_pack_is_one_task_and_each_run_comes_back_on_its_own(workers):
    units = [PackJob((job(0), job(1), job(2))), job(3), PackJob((job(4), job(5)))]
    got = {}
    LocalExecutor(workers, fn=fake, pack_fn=fake_pack).run(
        iter(units), lambda j, r: got.setdefault(j.run_id, r)
    )
    assert sorted(r.summary["seed"] for r in got.values()) == list(range(6))
    pids = {r.summary["seed"]: r.summary["pid"] for r in got.values()}
    assert pids[0] == pids[1] == pids[2] and pids[4] == pids[5]  # a pack trains in one worker


def test_a_pack_whose_worker_dies_is_rerun_run_by_run():
    """Any run of a pack may have killed its worker: each is rerun alone, uncharged; the culprit alone is
    charged and ends failed, its companions finish."""
    got = {}
    LocalExecutor(2, fn=fake, pack_fn=fake_pack, max_tries=2).run(
        iter([PackJob((job(12), job(13), job(14)))]), lambda j, r: got.setdefault(j.config["seed"], r.summary)
    )
    assert got[12]["status"] == got[14]["status"] == "solved"
    assert got[13]["status"] == "failed" and "died" in got[13]["error"]


def test_train_pack_job_trains_each_run_in_its_folder_and_fails_a_bad_one_alone(tmp_path):
    from ltd_bench.jobs import train_pack_job

    cfgs = [config(s, train=CKPT) for s in range(2)]
    paths = [folder(tmp_path, c) for c in cfgs]
    bad = {**cfgs[0].to_dict(), "model": {"type": "transformer"}}
    res = train_pack_job([cfgs[0].to_dict(), bad, cfgs[1].to_dict()], [str(paths[0]), None, str(paths[1])])
    assert res[1].summary["status"] == "failed" and res[1].summary["error"].startswith("ValidationError")
    assert [r.summary["packed"] for r in (res[0], res[2])] == [2, 2]
    assert fingerprint(res[0]) == alone(cfgs[0]) and fingerprint(res[2]) == alone(cfgs[1])
    assert all(len((p / "metrics.csv").read_text().splitlines()) == 5 for p in paths)  # logged as it went
