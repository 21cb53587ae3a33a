"""Interim reports (interim.py): `ltd-bench report DIR --interim` on finished runs, a real process killed
mid-training and a real one interrupted (Ctrl-C) counts the unfinished runs censored at their last
evaluation; its Kaplan–Meier curve is the product-limit estimate computed here by hand from the run
folders, its RMST stops at the horizon every counted run reached; every output says INTERIM; without
--interim the report is what it was."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ltd_bench.cli import app
from ltd_bench.config import Config
from runfolders import make_run
from subprocs import INTERRUPTIBLE

runner = CliRunner()
BUDGET, EVERY = 20_000, 100  # a budget the real runs stay far from: they are stopped long before
CONFIG = {  # what runfolders.make_run writes for these arguments: the real runs share its cell
    "name": "exp",
    "task": {"name": "temporal_order", "seq_len": 50, "test_size": 1000, "test_seed": 123},
    "model": {"type": "rnn", "init": "smart_tanh"},
    "train": {"steps": BUDGET, "eval_every": EVERY},
    "clipping": {"mode": "norm", "threshold": 1.0},
    "regularizer": {"omega_weight": 0.0},
}


def last_step(path: Path) -> int:
    """The last complete row of a run's metrics.csv (-1: none yet)."""
    try:
        lines = (path / "metrics.csv").read_text().split("\n")[1:-1]  # whole lines only
    except FileNotFoundError:
        return -1
    return int(lines[-1].split(",")[0]) if lines else -1


def start(tmp_path: Path, out: Path, seed: int) -> tuple[subprocess.Popen, Path]:
    file = tmp_path / f"c{seed}.yaml"
    file.write_text(json.dumps({**CONFIG, "seed": seed}))
    cfg = Config.model_validate({**CONFIG, "seed": seed})
    cmd = [
        str(Path(sys.executable).with_name("ltd-bench")),
        "run",
        str(file),
        "--out",
        str(out),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **INTERRUPTIBLE)
    return proc, out / "exp" / cfg.run_id


def stop_after(proc: subprocess.Popen, path: Path, step: int, sig: int, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while last_step(path) < step:
        assert proc.poll() is None, "the run ended before it could be stopped"
        assert time.monotonic() < end, "the run never got there"
        time.sleep(0.05)
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)


def by_hand(runs: list[tuple[int, bool]]) -> dict[int, float]:
    """Product-limit estimate of the fraction solved at every time a run solved or was censored."""
    out, surviving = {}, 1.0
    for t in sorted({t for t, _ in runs}):
        at_risk = sum(1 for u, _ in runs if u >= t)
        solved = sum(1 for u, s in runs if u == t and s)
        surviving *= 1 - solved / at_risk
        out[t] = 1 - surviving
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Four finished runs (two solved, one unsolved, one diverged), a `ltd-bench run` killed with SIGKILL
    after its second evaluation and one stopped by Ctrl-C after its first (summary `interrupted`)."""
    tmp = tmp_path_factory.mktemp("interim")
    out = tmp / "runs"
    for seed, status, at in [
        (0, "solved", 1000),
        (1, "solved", 2500),
        (2, "unsolved", 0),
        (3, "diverged", 0),
    ]:
        make_run(out, seed=seed, status=status, steps_to_solve=at, diverged_at=700, every=EVERY, steps=BUDGET)
    killed, killed_dir = start(tmp, out, seed=4)
    stopped, stopped_dir = start(tmp, out, seed=5)
    stop_after(stopped, stopped_dir, EVERY, signal.SIGINT)
    stop_after(killed, killed_dir, 2 * EVERY, signal.SIGKILL)
    assert not (killed_dir / "summary.json").exists()
    assert json.loads((stopped_dir / "summary.json").read_text())["status"] == "interrupted"
    return out


def times(folder: Path) -> list[tuple[int, bool, bool]]:
    """(time, solved) of every run, read from its files: a finished run's summary, an unfinished run's
    metrics.csv (solved at the first evaluation under train.success_error, else censored at its last);
    and whether it is unfinished."""
    runs = []
    for d in sorted(folder.glob("exp/*/")):
        s = json.loads((d / "summary.json").read_text()) if (d / "summary.json").exists() else {}
        if s.get("status") == "solved":
            runs.append((s["steps_to_solve"], True, False))
        elif s.get("status") == "diverged":
            runs.append((s["diverged_at_step"], False, False))
        elif s.get("status") == "unsolved":
            runs.append((s["steps"], False, False))
        else:
            goal = Config.model_validate({**CONFIG, "seed": 0}).train.success_error
            rows = list(csv.DictReader((d / "metrics.csv").open()))
            hit = [int(r["step"]) for r in rows if float(r["test_error"]) < goal]
            runs.append((hit[0], True, True) if hit else (int(rows[-1]["step"]), False, True))
    return runs


def test_interim_kaplan_meier_is_the_product_limit_by_hand(folder, tmp_path):
    res = runner.invoke(app, ["report", str(folder), "--interim", "--csv", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("INTERIM report, not final: 4 finished run(s) and 2 unfinished")
    runs = times(folder)
    assert len(runs) == 6 and sum(s for _, s, _ in runs) == 2 and sum(u for *_, u in runs) == 2
    km = pd.read_csv(tmp_path / "t_km.csv")
    assert list(km.step) == sorted({t for t, *_ in runs}) and km.interim.str.startswith("INTERIM").all()
    expected = by_hand([(t, s) for t, s, _ in runs])
    assert km.fraction_solved.tolist() == pytest.approx([expected[t] for t in km.step], abs=1e-12)
    # RMST only up to the horizon every counted run reached: the least advanced unfinished, unsolved run
    horizon = min(t for t, s, unfinished in runs if unfinished and not s)
    cells = pd.read_csv(tmp_path / "t.csv")
    (cell,) = cells.itertuples()
    assert cell.budget_steps == cell.interim_horizon_steps == horizon and cell.interim_unfinished == 2
    surviving, area, prev = 1.0, 0.0, 0  # ∫_0^horizon S(t) dt, S = 1 - fraction solved, a step function
    for t in sorted({t for t, s, _ in runs if s and t <= horizon}):
        area += surviving * (t - prev)
        surviving, prev = 1 - expected[t], t
    area += surviving * (horizon - prev)
    assert cell.rmst_steps == pytest.approx(area)
    states = pd.read_csv(tmp_path / "t_runs.csv").interim_state.dropna()
    assert sorted(states) == ["interrupted", "unclaimed"]
    said = " ".join(res.output.split())
    assert f"RMST and verdicts up to {horizon:,} updates (2 unfinished run(s) counted)" in said


def test_without_interim_the_report_counts_finished_runs_only(folder, tmp_path):
    res = runner.invoke(
        app, ["report", str(folder), "--csv", str(tmp_path / "t.csv"), "--markdown", str(tmp_path / "t.md")]
    )
    assert res.exit_code == 0 and "INTERIM" not in res.output
    assert pd.read_csv(tmp_path / "t.csv").n_runs.tolist() == [4] and not (tmp_path / "t_km.csv").exists()
    assert "INTERIM" not in (tmp_path / "t.md").read_text()
    res = runner.invoke(app, ["report", str(folder), "--interim", "--markdown", str(tmp_path / "i.md")])
    assert (tmp_path / "i.md").read_text().startswith("# ltd-bench INTERIM report")


def test_a_live_claim_reads_as_training(folder):
    from ltd_bench.interim import load_interim

    (unclaimed,) = [d for d in folder.glob("exp/*/") if not (d / "summary.json").exists()]
    (unclaimed / "claim").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    try:
        runs = load_interim(folder).runs
    finally:
        (unclaimed / "claim").unlink()
    assert runs.set_index("run_dir").interim_state[str(unclaimed)] == "training"


def unfinished(d: Path, last: int) -> None:
    """Make a finished run folder look like one killed after its evaluation at `last`."""
    (d / "summary.json").unlink()
    lines = (d / "metrics.csv").read_text().splitlines(keepends=True)
    (d / "metrics.csv").write_text(
        "".join(line for line in lines if line[0].isalpha() or int(line.split(",")[0]) <= last)
    )


def test_verdicts_stop_at_the_horizon_of_both_sides(tmp_path):
    """A comparison's τ is the least advanced unfinished, unsolved run on either side; a solved run, even
    unfinished, bounds nothing (its time to solve is known at any horizon)."""
    from ltd_bench.analysis import analyse
    from ltd_bench.interim import load_interim

    for s, at in enumerate([1000, 1500]):
        make_run(tmp_path, seed=s, omega=2.0, steps_to_solve=at, steps=BUDGET, every=EVERY)
    unfinished(make_run(tmp_path, seed=2, omega=2.0, steps_to_solve=500, steps=BUDGET, every=EVERY), 600)
    unfinished(make_run(tmp_path, seed=3, omega=2.0, status="unsolved", steps=BUDGET, every=EVERY), 2500)
    for s in range(2):
        make_run(tmp_path, seed=s, status="unsolved", steps=BUDGET, every=EVERY)
    unfinished(make_run(tmp_path, seed=2, status="unsolved", steps=BUDGET, every=EVERY), 1800)
    runs = load_interim(tmp_path).runs
    assert sorted(runs.interim_reached.dropna()) == [1800, 2500]  # the solved one (at 500) bounds nothing
    an = analyse(runs, [("rnn+clip+Ω", "rnn+clip")])
    (v,) = an.verdicts.itertuples()
    assert v.budget_steps == 1800 and (v.k_method, v.n_method, v.k_ref, v.n_ref) == (3, 4, 0, 3)
    assert (an.cells.budget_steps == 1800).all()
    assert "by 1,800 steps" in v.reason


def test_a_checkpoint_without_metrics_csv_counts_by_its_rows(tmp_path):
    """A kill between a resume's clean-up and its metrics.csv rewrite leaves only checkpoint.pt: its rows."""
    from ltd_bench.interim import load_interim
    from ltd_bench.outputs import read_config, write_checkpoint

    d = make_run(tmp_path, status="unsolved", steps=BUDGET, every=EVERY)
    rows = list(csv.DictReader((d / "metrics.csv").open()))[:4]  # evaluations 0-300
    (d / "summary.json").unlink()
    (d / "metrics.csv").unlink()
    cfg = Config.model_validate(read_config(d))
    rows = [{k: float(v or "nan") for k, v in r.items()} for r in rows]
    write_checkpoint(d, {"run_id": cfg.run_id, "metrics": rows}, cfg)
    (run,) = load_interim(tmp_path).runs.itertuples()
    assert (run.status, run.steps, run.interim_reached, run.interim_state) == (
        "unsolved",
        300,
        300,
        "unclaimed",
    )
