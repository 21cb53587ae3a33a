"""Every median the report shows is a median (numpy's), not a mean: stats.quartiles, and the per-cell
columns of analysis.analyse over run folders read back by ltd_bench.load_runs."""

import math

import numpy as np
import pytest

import ltd_bench
from ltd_bench.analysis import analyse
from ltd_bench.config import Config
from ltd_bench.outputs import RunResult, write_result
from ltd_bench.stats import quartiles


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 11])
def test_quartiles_are_numpys(n):
    rng = np.random.default_rng(n)
    for _ in range(20):
        v = rng.lognormal(0, 2, n)  # skewed: the mean is far from the median
        med, q1, q3 = quartiles([*v, math.nan, None])  # NaN and None are left out
        assert med == pytest.approx(float(np.median(v)), rel=1e-12)
        assert (q1, q3) == pytest.approx(tuple(np.percentile(v, [25, 75])), rel=1e-12)
    assert quartiles([1.0, 2.0, 30.0]) == (2.0, 1.5, 16.0)  # the mean would be 11


def _run(root, seed, status, steps_to_solve, test_loss):
    cfg = Config.model_validate(
        {"seed": seed, "task": {"name": "adding", "seq_len": 10, "test_size": 10}, "train": {"steps": 9000}}
    )
    steps = steps_to_solve if status == "solved" else 9000
    summary = {
        "status": status,
        "steps_to_solve": steps_to_solve,
        "steps": steps,
        "test_loss": test_loss,
        "test_error": 0.0 if status == "solved" else 0.5,
        "baseline_loss": 0.25,
        "run_id": cfg.run_id,
        "method": "rnn",
    }
    row = {"step": steps, "test_loss": test_loss, "test_error": summary["test_error"]}
    write_result(root / cfg.run_id, RunResult(cfg.to_dict(), cfg.run_id, [row], summary), weights=False)


def test_cell_medians_over_run_folders(tmp_path):
    solved_at = [300, 500, 8000]  # skewed: median 500, mean 2933
    losses = [0.01, 0.02, 0.2, 0.03, 0.9]
    for seed, loss in enumerate(losses):
        solved = seed < len(solved_at)
        _run(tmp_path, seed, "solved" if solved else "unsolved", solved_at[seed] if solved else None, loss)
    (cell,) = analyse(ltd_bench.load_runs(tmp_path)).cells.itertuples()
    assert (cell.n_runs, cell.n_solved) == (5, 3)
    assert cell.median_steps_to_solve == np.median(solved_at)  # over the solved runs only
    ratio = np.array(losses) / 0.25  # final test loss over the baseline
    assert cell.loss_over_baseline == pytest.approx(np.median(ratio))
    assert (cell.loss_over_baseline_q1, cell.loss_over_baseline_q3) == pytest.approx(
        tuple(np.percentile(ratio, [25, 75]))
    )
    assert cell.baseline_loss == 0.25
