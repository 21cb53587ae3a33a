"""Cells, declared comparisons and verdicts, and the verdict rule's calibration by simulation.

Calibration: simulated runs are bimodal (solve at a log-normal number of updates, or stall until the
budget), as temporal-order runs are. Identical methods must get helps/behind in at most 5% of cells (plus
Monte Carlo error); real differences must be detected at the rate the exact log-rank test's power,
computed here independently by enumeration, predicts.
"""

import itertools
import json
import math

import numpy as np
import pytest
import yaml
from runfolders import make_run
from scipy import integrate, stats

from ltd_bench.analysis import Arm, analyse, compare, decide, default_pairs, prepare
from ltd_bench.config import Config
from ltd_bench.runs import load

SIMS = 1000
ALPHA = 0.05
SE = lambda p: math.sqrt(p * (1 - p) / SIMS)  # Monte Carlo standard error of a rate over SIMS cells


def cell_of(an, method, **keys):
    sel = an.cells[an.cells.method == method]
    for k, v in keys.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, sel
    return sel.iloc[0]


def verdict_of(an, method, reference, scope="cell", **keys):
    v = an.verdicts
    sel = v[(v.method == method) & (v.reference == reference) & (v.scope == scope)]
    for k, val in keys.items():
        sel = sel[sel[k] == val]
    assert len(sel) == 1, sel
    return sel.iloc[0]


# ------------------------------------------------------------------------------------- tables from folders
def test_cell_statistics_censor_unsolved_runs(tmp_path):
    for s, (status, at) in enumerate([("solved", 1500), ("solved", 3000), ("unsolved", 0), ("diverged", 0)]):
        make_run(tmp_path, seed=s, omega=2.0, status=status, steps_to_solve=at, diverged_at=500, steps=4000)
    an = analyse(load(tmp_path).runs)
    c = cell_of(an, "rnn+clip+Ω")
    assert (c.n_runs, c.n_solved, c.n_diverged, c.budget_steps) == (4, 2, 1, 4000)
    assert c.median_steps_to_solve == 2250  # solved runs only (kept for comparison)
    # Kaplan–Meier: the run diverged at 500 leaves the risk set; 1/3 solved at 1500, 2/3 at 3000
    assert c.km_median_steps == 3000
    # RMST: 1500 + (2/3)(3000 - 1500) + (1/3)(4000 - 3000), the area under the still-unsolved curve
    assert c.rmst_steps == pytest.approx(1500 + 1000 + 1000 / 3)
    assert c.rmst_low <= c.rmst_steps <= c.rmst_high
    assert (c.success_lo, c.success_hi) == pytest.approx(stats.binomtest(2, 4).proportion_ci(method="wilson"))
    assert c.loss_over_baseline == pytest.approx(np.median([0.01, 0.01, 1.2]) / math.log(4))


def test_runs_that_differ_in_a_setting_are_never_pooled(tmp_path):
    """A 300-step run of one method lands in its own cell, shown as a column, and said so (one of a
    seed that also ran 15000 steps would be superseded by it: extend.supersede)."""
    for s in range(3):
        make_run(tmp_path, seed=s, omega=2.0, steps_to_solve=1000, steps=15000)
        make_run(tmp_path, seed=s, status="unsolved", steps=15000)
    make_run(tmp_path, seed=5, status="unsolved", steps=300)
    an = analyse(load(tmp_path).runs)
    assert an.axes == ["train.steps"] and "train.steps" in an.cells
    assert any("rnn+clip differ in train.steps (15000, 300)" in n for n in an.notes)
    assert cell_of(an, "rnn+clip", **{"train.steps": 15000}).n_runs == 3
    assert cell_of(an, "rnn+clip", **{"train.steps": 300}).n_runs == 1
    v = verdict_of(an, "rnn+clip+Ω", "rnn+clip")  # matched at 15000 only
    assert v["train.steps"] == 15000 and (v.n_method, v.n_ref) == (3, 3)


def test_a_setting_missing_from_older_runs_reads_as_its_default(tmp_path):
    for s in range(2):
        make_run(tmp_path, seed=s, omega=2.0)
    d = make_run(tmp_path, seed=2, omega=2.0)  # written by a version that records train.momentum
    cfg = yaml.safe_load((d / "config.yaml").read_text())
    cfg["train"]["momentum"] = 0.0
    (d / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    an = analyse(load(tmp_path).runs)
    assert an.axes == [] and cell_of(an, "rnn+clip+Ω").n_runs == 3
    cfg["train"]["momentum"] = 0.9  # a real difference still splits (a run of that config: its own id)
    (d / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    run_id = Config.model_validate(cfg).run_id
    summary = json.loads((d / "summary.json").read_text()) | {"run_id": run_id}
    (d / "summary.json").write_text(json.dumps(summary))
    d.rename(d.parent / run_id)
    assert analyse(load(tmp_path).runs).axes == ["train.momentum"]


def test_reference_that_ran_one_setting_is_compared_at_each_and_noted(tmp_path):
    for thr in (0.1, 1.0, 10.0):
        for s in range(3):
            make_run(tmp_path, seed=s, threshold=thr, omega=2.0, steps_to_solve=1000)
            make_run(tmp_path, seed=s, threshold=thr, status="solved" if thr == 1.0 else "unsolved")
    for s in range(3):
        make_run(tmp_path, seed=s, model="lstm", clip="none", status="unsolved")
    an = analyse(load(tmp_path).runs)
    assert an.axes == ["clipping.threshold"] and len(an.cells) == 7
    v = verdict_of(an, "rnn+clip+Ω", "lstm", **{"clipping.threshold": 10.0})
    assert "lstm ran clipping.threshold=1.0 only" in v.reason
    plain = an.verdicts[(an.verdicts.reference == "rnn+clip") & (an.verdicts.scope == "cell")]
    assert sorted(plain["clipping.threshold"]) == [0.1, 1.0, 10.0]


def test_a_method_run_at_one_task_setting_is_compared_there_only(tmp_path):
    """As a sweep's exclude: leaves it: never against another task setting's runs (another problem)."""
    for options in ({}, {"copy_len": 3}):
        for s in range(3):
            make_run(tmp_path, task="copying", seq_len=10, seed=s, omega=2.0, options=options)
    for s in range(3):
        make_run(tmp_path, task="copying", seq_len=10, seed=s, model="lstm", status="unsolved")
    an = analyse(load(tmp_path).runs, pairs=[("rnn+clip+Ω", "lstm+clip")])
    assert an.axes == ["task.options.copy_len"] and len(an.cells) == 3
    cells = an.verdicts[an.verdicts.scope == "cell"]
    assert (
        len(cells) == 1
        and (cells["task.options.copy_len"] == 10).all()  # `options: {}` is the default copy_len, 10
        and "only" not in cells.reason.iloc[0]
    )


def test_default_pairs_are_declared_not_chosen(tmp_path):
    for s in range(2):
        for kw in (
            {},
            {"omega": 2.0},
            {"clip": "none"},
            {"model": "lstm", "clip": "none"},
            {"model": "lstm", "status": "unsolved"},
            {"model": "gru", "omega": 1.0},
        ):
            make_run(tmp_path, seed=s, **kw)
    pairs = default_pairs(prepare(load(tmp_path).runs))
    # each Ω method: the same model and clipping without Ω, then every LSTM without Ω, whatever they scored
    assert pairs == [
        ("gru+clip+Ω", "lstm"),
        ("gru+clip+Ω", "lstm+clip"),
        ("rnn+clip+Ω", "rnn+clip"),
        ("rnn+clip+Ω", "lstm"),
        ("rnn+clip+Ω", "lstm+clip"),
    ]


# ----------------------------------------------------------------------------------------------- verdicts
def test_all_versus_none_is_called_and_identical_runs_never_are(tmp_path):
    for s in range(8):
        for T in (20, 50):
            make_run(tmp_path, seq_len=T, seed=s, omega=2.0, steps_to_solve=500 + 250 * (s % 3))
            make_run(tmp_path, seq_len=T, seed=s, status="unsolved")
            make_run(tmp_path, seq_len=T, seed=s, model="lstm", clip="none", status="unsolved")
    an = analyse(load(tmp_path).runs)
    assert an.n_tests == 6  # 2 cells × 2 pairs + 2 pooled: Holm over all of them
    for T in (20, 50):
        for ref in ("rnn+clip", "lstm"):
            v = verdict_of(an, "rnn+clip+Ω", ref, seq_len=T)
            assert v.verdict == "helps" and v.p_adjusted < ALPHA and v.rmst_ratio < 1
            assert v.p_logrank == pytest.approx(2 / math.comb(16, 8))  # the two extreme splits of 16 runs
            # Holm, m = 6: the two pooled tests rank first; the four equal cell p-values share rank 3's
            # multiplier m - 2 = 4 (the step-down adjustment never decreases)
            assert v.p_adjusted == pytest.approx(4 * v.p_logrank)
            assert "8/8 vs 0/8 solved" in v.reason
    assert verdict_of(an, "rnn+clip+Ω", "lstm", scope="pooled").verdict == "helps"
    rng = np.random.default_rng(0)
    for _ in range(200):  # bit-identical runs: U = 0 under the observed split, p = 1
        t = np.ceil(rng.uniform(0, 20000, 5) / 250) * 250
        arm = Arm(np.minimum(t, 15000), t <= 15000, 15000, np.full(5, np.nan))
        row = compare(arm, arm, ci=False)
        assert row["p_logrank"] == 1.0 and decide(row, row["p_logrank"], 1)[0] in (
            "inconclusive",
            "no-information",
        )


def test_no_information_shows_loss_over_baseline(tmp_path):
    for s in range(3):
        make_run(tmp_path, seed=s, omega=2.0, status="unsolved", test_loss=0.3 * math.log(4))
        make_run(tmp_path, seed=s, status="unsolved")
    an = analyse(load(tmp_path).runs)
    v = verdict_of(an, "rnn+clip+Ω", "rnn+clip")
    assert v.verdict == "no-information" and math.isnan(v.p_logrank) and an.n_tests == 0
    assert "0/3 vs 0/3 solved" in v.reason and "0.30 (IQR 0.30–0.30) vs 0.87" in v.reason


def test_equivalent_only_inside_a_declared_margin(tmp_path):
    for s in range(6):
        make_run(tmp_path, seed=s, omega=2.0, steps_to_solve=1000 + 100 * s, evals=40, every=100)
        make_run(tmp_path, seed=s, steps_to_solve=1050 + 100 * s, evals=40, every=100)
    runs = load(tmp_path).runs
    plain = verdict_of(analyse(runs), "rnn+clip+Ω", "rnn+clip")
    assert plain.verdict == "inconclusive" and 0.8 < plain.rmst_ratio_low < plain.rmst_ratio_high < 1.25
    assert verdict_of(analyse(runs, margin=1.25), "rnn+clip+Ω", "rnn+clip").verdict == "equivalent"
    assert verdict_of(analyse(runs, margin=1.01), "rnn+clip+Ω", "rnn+clip").verdict == "inconclusive"


def test_declared_pairs_replace_the_defaults(tmp_path):
    for s in range(3):
        make_run(tmp_path, seed=s, omega=2.0)
        make_run(tmp_path, seed=s, model="lstm", clip="none")
        make_run(tmp_path, seed=s)
    an = analyse(load(tmp_path).runs, pairs=[("lstm", "rnn+clip")], source="--compare")
    assert list(zip(an.verdicts.method, an.verdicts.reference, strict=True)) == [("lstm", "rnn+clip")]
    an = analyse(load(tmp_path).runs, pairs=[("rnn+clip+Ω", "gru")], source="sweep.json")
    assert an.verdicts.empty and any("no finished run of method 'gru'" in n for n in an.notes)


# ------------------------------------------------------------------------------------------- calibration
def simulate(rng, n, p_solve, median, log_sd, budget, grid=None):
    """SIMS cells × n runs: solve with probability p_solve at a log-normal time (rounded up to the
    evaluation grid), else stall; censored at the budget."""
    solve = rng.random((SIMS, n)) < p_solve
    t = median * np.exp(log_sd * rng.standard_normal((SIMS, n)))
    if grid:
        t = np.ceil(t / grid) * grid
    solved = solve & (t <= budget)
    return np.where(solved, t, float(budget)), solved


def verdict_rates(a, b, budget):
    counts = {}
    nan = np.full(a[0].shape[1], np.nan)
    for i in range(SIMS):
        row = compare(Arm(a[0][i], a[1][i], budget, nan), Arm(b[0][i], b[1][i], budget, nan), ci=False)
        v = decide(row, row["p_logrank"], 1)[0]
        counts[v] = counts.get(v, 0) + 1
    return {k: v / SIMS for k, v in counts.items()}


@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("p_solve", [0.7, 1.0])
def test_identical_methods_rarely_get_a_verdict(n, p_solve):
    """Temporal order's seed-to-seed spread at T = 20-50 in a 3-seed pilot (log-sd 0.38 of steps to solve;
    the showcase's 10-seed cells show 0.3-0.7, and the exact test's size does not depend on it), 15k
    budget, evaluations every 250 steps. On these same cells the old rule (Fisher's test, then medians 1.5x apart) said helps or
    behind in 8% / 6% / 3% (solving 70%) and 25% / 16% / 4% (all solving) at n = 3 / 5 / 10."""
    rng = np.random.default_rng([2013, n, int(10 * p_solve)])
    a = simulate(rng, n, p_solve, 5000, 0.38, 15000, grid=250)
    b = simulate(rng, n, p_solve, 5000, 0.38, 15000, grid=250)
    rates = verdict_rates(a, b, 15000)
    false = rates.get("helps", 0) + rates.get("behind", 0)
    assert false <= ALPHA + 3 * SE(ALPHA), rates
    if n == 3:  # 20 splits: no outcome reaches p < 0.05, so 3 seeds a side can never give a verdict
        assert false == 0


def bimodal_power(n, p_a, p_b, alpha=ALPHA):
    """Power of the two-sided exact log-rank test, P(p < alpha and the first group ahead), when each run
    solves with probability p at a time drawn from one continuous distribution (the same for both groups)
    and is otherwise censored after every solve. Given K solves among N = 2n runs, the log-rank scores are
    fixed (rank r: 1 - sum_{j<=r} 1/(N-j+1); censored: minus the full sum) and which solve ranks fall in
    the first group is uniform; enumerate every subset of ranks, weighted by how many censored runs join it."""
    N, power = 2 * n, 0.0
    for K in range(N + 1):
        cum = np.cumsum(1.0 / (N - np.arange(K)))
        w, wc = 1 - cum, -(cum[-1] if K else 0.0)
        sums, sizes = np.zeros(1), np.zeros(1, int)
        for x in w:
            sums, sizes = np.r_[sums, sums + x], np.r_[sizes, sizes + 1]
        u = sums + (n - sizes) * wc
        ways = [math.comb(N - K, n - s) if 0 <= n - s <= N - K else 0 for s in range(K + 1)]
        weight = np.array(ways, dtype=float)[sizes]  # splits putting these solves and n - |S| others first
        levels, which = np.unique(np.round(np.abs(u), 9), return_inverse=True)
        tail = np.cumsum(np.bincount(which, weights=weight)[::-1])[::-1]  # weight of |U| >= each level
        p = tail[which] / math.comb(N, n)
        for ka in range(max(0, K - n), min(n, K) + 1):
            mine = sizes == ka
            hit = np.sum(mine & (p < alpha) & (u > 1e-12)) / math.comb(K, ka)
            power += stats.binom.pmf(ka, n, p_a) * stats.binom.pmf(K - ka, n, p_b) * hit
    return power


def shift_power(n, delta, alpha=ALPHA):
    """Power of the exact log-rank test when every run solves, log-times normal with the first group
    delta standard deviations sooner. P(first group holds ranks S) by integrating the ordered densities
    over a grid (one cumulative integral per rank); the permutation p of each S by enumeration."""
    N = 2 * n
    z = np.linspace(-9, 9 + delta, 8001)
    dens = {1: stats.norm.pdf(z), 0: stats.norm.pdf(z, loc=delta)}  # 1: first group (faster)
    cum = np.cumsum(1.0 / (N - np.arange(N)))
    w = 1 - cum
    subsets = list(itertools.combinations(range(N), n))
    u = np.array([w[list(s)].sum() for s in subsets])
    p = np.array([np.mean(np.abs(u) >= abs(x) - 1e-9) for x in u])
    power = total = 0.0
    for s, ui, pi in zip(subsets, u, p, strict=True):
        f = np.ones_like(z)
        for r in range(N):
            f = integrate.cumulative_trapezoid(dens[int(r in s)] * f, z, initial=0)
        prob = math.factorial(n) ** 2 * f[-1]
        total += prob
        power += prob * (pi < alpha and ui > 0)
    assert total == pytest.approx(1, abs=1e-4)  # the ordering probabilities add up
    return power


def test_detects_a_success_gap_at_the_computed_power():
    """0.9 vs 0.4 solved at n = 10, same solve-time distribution (log-sd 0.38) within a 15k budget.
    The old rule (Fisher's test on the counts) detected 49% of these."""
    rng = np.random.default_rng([2013, 1])
    a = simulate(rng, 10, 0.9, 5000, 0.38, 15000)
    b = simulate(rng, 10, 0.4, 5000, 0.38, 15000)
    inside = stats.norm.cdf(math.log(3) / 0.38)  # P(solve time < budget)
    power = bimodal_power(10, 0.9 * inside, 0.4 * inside)
    rates = verdict_rates(a, b, 15000)
    assert 0.5 < power < 0.8  # the scenario is neither trivial nor hopeless
    assert abs(rates.get("helps", 0) - power) <= 3 * SE(power) + 0.005, (rates, power)  # + MC p error


def test_detects_a_speed_gap_at_the_computed_power():
    """Every run solves; one method 2.5x faster (medians 2000 vs 5000, log-sd 0.38), n = 5. The old rule
    called 96% of these, at the price of 16% false calls on identical methods at n = 5."""
    rng = np.random.default_rng([2013, 2])
    a = simulate(rng, 5, 1.0, 2000, 0.38, 40000)
    b = simulate(rng, 5, 1.0, 5000, 0.38, 40000)  # P(a time beyond 40k) ~ 1e-8: no censoring
    power = shift_power(5, math.log(2.5) / 0.38)
    rates = verdict_rates(a, b, 40000)
    assert 0.7 < power < 0.98
    assert abs(rates.get("helps", 0) - power) <= 3 * SE(power), (rates, power)


def test_analysis_needs_no_torch():
    """The statistics run wherever pandas and scipy do: no module of them imports torch."""
    import subprocess
    import sys

    code = "import sys, ltd_bench.analysis, ltd_bench.render; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        == "False\n"
    )
