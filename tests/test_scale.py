"""What makes reports and dry runs fast at scale changes no number: the bootstrap's sorted cumulative
sums equal the indicator-matrix products bit for bit, cached resampling draws equal fresh ones, the
memoised YAML resolver reads what the checked loader reads, a dry run starts no torch, and a sweep
keeps no Config per run (compact.py) yet gives each run the same config and the same packs."""

import gc
import io
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from rich.console import Console

from ltd_bench import compact, survival, yamlio
from ltd_bench.config import Config
from ltd_bench.packplan import plan
from ltd_bench.sweep import load_sweep, sweep_command


def matrix_rmst(time, solved, tau, weights):
    """The weighted Kaplan–Meier RMST by products with the full indicator matrices (the direct form)."""
    ev = np.unique(time[solved & (time <= tau)])
    if len(ev) == 0:
        return np.full(len(weights), float(tau))
    at_risk = weights @ (time[:, None] >= ev[None, :])
    events = weights @ ((time[:, None] == ev[None, :]) & solved[:, None])
    factor = 1.0 - np.divide(events, at_risk, out=np.zeros_like(events), where=at_risk > 0)
    return ev[0] + np.cumprod(factor, axis=1) @ np.diff(np.append(ev, tau))


def test_weighted_rmst_equals_indicator_products_bit_for_bit():
    rng = np.random.default_rng(7)
    for i in range(400):
        n, tau = int(rng.integers(1, 40)), float(rng.choice([500, 1000, 1500]))
        grid = np.arange(0, 2000, 100.0) if i % 2 else np.arange(2000.0)  # many ties, or few
        time, solved = rng.choice(grid, n), rng.random(n) < rng.random()
        if i % 3:
            time, solved = survival.censor_at(time, solved, tau)  # as rmst_boot calls it; else raw
        weights = survival._draw(n, int(rng.integers(1, 30)), i) if i % 5 else np.ones((1, n))
        got = survival._rmst_weighted(time, solved, tau, weights)
        assert np.array_equal(got, matrix_rmst(time, solved, tau, weights.astype(float)))


def test_cached_bootstrap_draws_equal_fresh_ones():
    rng = np.random.default_rng(3)
    time, solved = rng.integers(0, 1500, 25).astype(float), rng.random(25) < 0.6
    for seed in (2013, [2013, 1, 0], (2013, 1, 1)):
        fresh = np.random.default_rng(list(seed) if isinstance(seed, tuple) else seed).multinomial(
            25, np.full(25, 1 / 25), size=300
        )
        want = matrix_rmst(*survival.censor_at(time, solved, 1000.0), 1000.0, fresh.astype(float))
        for _ in range(2):  # a draw, then the cached one
            assert np.array_equal(survival.rmst_boot(time, solved, 1000.0, reps=300, seed=seed), want)
        cached = survival._boot_weights(25, 300, seed)
        assert np.array_equal(cached, fresh) and not cached.flags.writeable
    a, b = (survival.rmst_boot(time, solved, 1000.0, reps=50, seed=None) for _ in range(2))
    assert not np.array_equal(a, b)  # no seed: never served from the cache


@pytest.mark.parametrize(
    "doc",
    [
        "a: 1\nb: 1.5\nc: 1e-3\nd: true\ne: null\nf: 'x'\ng: [1, 2]\nh: {i: no}\nj: 0x10\nk: .inf\n",
        "a: '1'\nb: 1\nc: yes\nd: ~\ne: -0\nf: 2013\n",
    ],
)
def test_memoised_resolver_reads_what_the_checked_loader_reads(doc):
    for _ in range(2):  # the second read resolves from the memo
        assert yamlio.loads(doc, fast=True) == yamlio.loads(doc)


def test_dry_run_imports_no_torch_nor_pandas(tmp_path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        textwrap.dedent("""\
            name: big
            base: {model: {hidden_size: 8}, task: {name: adding, seq_len: 10, test_size: 50}, train: {steps: 100}}
            methods: {lstm: {model.type: lstm}, rnn+clip: {clipping.mode: norm}}
            grid: {seed: [0, 1, 2], task.seq_len: [10, 20]}
        """)
    )
    code = textwrap.dedent(f"""\
        import sys
        from ltd_bench.cli import app
        try:
            app(["sweep", {str(sweep)!r}, "--out", {str(tmp_path / "out")!r}, "--dry-run"])
        except SystemExit as e:
            assert e.code in (0, None), e.code
        print("torch" in sys.modules, "pandas" in sys.modules)  # both for training or reports only
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "12 runs" in out.stdout and out.stdout.strip().endswith("False False")
    assert not (tmp_path / "out").exists()


BIG = textwrap.dedent("""\
    name: big
    base: {model: {hidden_size: 8}, task: {name: adding, seq_len: 10, test_size: 50}, train: {steps: 100}}
    methods: {lstm: {model.type: lstm}, rnn+clip: {clipping.mode: norm, train.batch_size: 32}}
    grid: {seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], task.seq_len: [10, 20]}
""")


def _configs() -> int:
    gc.collect()
    return sum(type(o) is Config for o in gc.get_objects())  # not isinstance: it asks proxies for __class__


def test_a_sweep_keeps_no_config_per_run_and_shares_its_sections(tmp_path):
    (tmp_path / "s.yaml").write_text(BIG)
    before = _configs()
    sw = load_sweep(tmp_path / "s.yaml")
    assert len(sw.runs) == 40 and _configs() == before  # only the compact resolved dicts are kept
    first = sw.runs[0].resolved
    assert all(r.resolved["train"] is first["train"] for r in sw.runs if r.label == "lstm")
    assert len({id(r.resolved["task"]) for r in sw.runs}) == 2  # one per length
    for r in sw.runs:
        cfg = r.config
        assert r.resolved == cfg.to_dict() and list(r.resolved) == list(cfg.to_dict())
        assert cfg.run_id == r.run_id and cfg is not r.config  # built afresh: nothing shared to change
    cfg.train.steps = 5  # changing a built Config changes no run
    assert all(r.resolved["train"]["steps"] == 100 for r in sw.runs)


def test_packs_planned_from_shared_shapes_equal_those_from_every_config(tmp_path):
    (tmp_path / "s.yaml").write_text(BIG)
    sw = load_sweep(tmp_path / "s.yaml")
    shapes = compact.shapes(r.resolved for r in sw.runs)
    assert len({id(c) for c in shapes}) == 4  # 2 methods × 2 lengths
    for size in ("auto", "off", 3, 32):
        for workers in (1, 2, 7):
            assert plan(shapes, size, workers) == plan([r.config for r in sw.runs], size, workers)


def test_a_dry_run_builds_a_config_per_shape_not_per_run(tmp_path, monkeypatch):
    (tmp_path / "s.yaml").write_text(BIG)
    built = []
    real = compact.config
    monkeypatch.setattr(compact, "config", lambda resolved: built.append(1) or real(resolved))
    out = io.StringIO()
    rc = sweep_command(
        tmp_path / "s.yaml",
        out=tmp_path / "out",
        overrides=[],
        workers=2,
        dry_run=True,
        executor="local",
        scheduler=None,
        progress=False,
        console=Console(file=out, width=200),
        err_console=Console(file=out, width=200),
    )
    assert rc == 0 and "40 runs" in out.getvalue() and "20 runs train in" in out.getvalue()
    assert len(built) <= 8  # the 4 shapes, for the tensorboard check and for planning packs
