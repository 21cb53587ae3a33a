"""Report: loading hand-made run folders with known outcomes, cells, verdicts, writers, plots."""

import io
import json
import math

import numpy as np
import pytest
import yaml
from rich.console import Console

from ltd_bench.report import build_tables, load_runs, method_label, run_report, verdict

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
METRIC_COLS = [
    "step",
    "train_loss",
    "test_loss",
    "test_error",
    "grad_norm",
    "grad_norm_max",
    "clip_rate",
    "omega",
    "omega_weight",
    "nonfinite_steps",
    "wall_time_s",
]


def make_run(
    root,
    name="exp",
    *,
    model="rnn",
    clip="norm",
    omega=0.0,
    task="temporal_order",
    seq_len=50,
    seed=0,
    status="solved",
    steps_to_solve=1000,
    threshold=1.0,
    method=None,
    evals=4,
    every=500,
    flow=False,
):
    """Write one run folder as `ltd-bench run` would; returns its path."""
    cfg = {
        "name": name,
        "seed": seed,
        "method": method,
        "task": {
            "name": task,
            "seq_len": seq_len,
            "variant": None,
            "test_size": 1000,
            "test_seed": 123,
            "options": {},
        },
        "model": {
            "type": model,
            "hidden_size": 50,
            "nonlinearity": "tanh",
            "init": "smart_tanh",
            "forget_bias": 1.0,
        },
        "train": {
            "optimizer": "sgd",
            "lr": 0.01,
            "momentum": 0.0,
            "batch_size": 20,
            "steps": evals * every,
            "eval_every": every,
            "success_error": 0.01,
            "device": "cpu",
            "stop_when_solved": True,
        },
        "clipping": {"mode": clip, "threshold": threshold, "nonfinite": "skip"},
        "regularizer": {"omega_weight": omega, "form": "book", "schedule": "constant"},
    }
    label = method or method_label(cfg)
    run_id = f"{label}-T{seq_len}-thr{threshold}-w{omega}-s{seed}".replace("+", "_")
    d = root / name / run_id
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    n = evals if status != "solved" else max(1, steps_to_solve // every)
    rows = [",".join(METRIC_COLS)]
    for i in range(1, n + 1):
        err = 0.0 if (status == "solved" and i == n) else 0.75 / i
        rows.append(
            ",".join(
                str(v)
                for v in [
                    i * every,
                    1.0 / i,
                    1.2 / i,
                    err,
                    2.0 * i,
                    5.0 * i,
                    0.1,
                    "" if model == "lstm" else 0.5 / i,
                    omega,
                    0,
                    1.5 * i,
                ]
            )
        )
    (d / "metrics.csv").write_text("\n".join(rows) + "\n")
    summary = {
        "status": status,
        "steps_to_solve": steps_to_solve if status == "solved" else None,
        "steps": n * every,
        "test_loss": 0.01 if status == "solved" else 1.2,
        "test_error": 0.0 if status == "solved" else 0.7,
        "best_test_error": 0.0,
        "baseline_loss": math.log(4),
        "baseline_error": 0.75,
        "wall_time_s": 1.0,
        "run_id": run_id,
        "name": name,
        "method": label,
        "diverged_at_step": 700 if status == "diverged" else None,
        "nonfinite_grad_steps": 0,
    }
    if status == "diverged":
        summary.update(test_loss=None, test_error=None)
    (d / "summary.json").write_text(json.dumps(summary))
    if flow:
        L = seq_len
        decay = 0.9 if omega == 0 else 0.99
        gn = np.stack([decay ** np.arange(L)[::-1], (decay + 0.005) ** np.arange(L)[::-1]]).astype(np.float32)
        np.savez(
            d / "gradient_flow.npz",
            step=np.array([every, n * every]),
            grad_norm=gn,
            ratio_mean=np.array([decay, decay]),
            spectral_radius=np.array([0.95, 0.97]),
        )
    return d


def cell(cells, method, **keys):
    sel = cells[cells.method == method]
    for k, v in keys.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, sel
    return sel.iloc[0]


@pytest.fixture
def sweep(tmp_path):
    """T=50: rnn+clip 1/3 solved, rnn+clip+Ω 3/3, lstm 2/3 (+1 diverged) plus one interrupted and one failed."""
    for s in range(3):
        make_run(tmp_path, seed=s, status="solved" if s == 0 else "unsolved", steps_to_solve=3000)
        make_run(tmp_path, seed=s, omega=2.0, steps_to_solve=1000 + 500 * s)
        make_run(
            tmp_path,
            seed=s,
            model="lstm",
            clip="none",
            status="solved" if s < 2 else "diverged",
            steps_to_solve=2000,
        )
    make_run(tmp_path, seed=7, omega=2.0, status="interrupted")
    failed = make_run(tmp_path, seed=8, model="lstm", clip="none", status="failed")
    summ = json.loads((failed / "summary.json").read_text())
    (failed / "summary.json").write_text(
        json.dumps({"status": "failed", "run_id": summ["run_id"], "error": "RuntimeError: boom"})
    )
    return tmp_path


def test_method_label():
    assert method_label({"model": {"type": "rnn"}, "clipping": {"mode": "none"}}) == "rnn"
    assert (
        method_label(
            {"model": {"type": "rnn"}, "clipping": {"mode": "value"}, "regularizer": {"omega_weight": 2}}
        )
        == "rnn+clip+Ω"
    )
    assert (
        method_label({"model.type": "gru", "clipping.mode": "norm", "regularizer.omega_weight": 0})
        == "gru+clip"
    )
    assert method_label({"model": {"type": "lstm"}, "clipping": {"mode": "norm"}}) == "lstm+clip"


def test_load_runs_known_counts(sweep):
    runs, warnings = load_runs(sweep)
    assert len(runs) == 11 and (runs["task.seq_len"] == 50).all()
    assert any("interrupted/failed" in w and "2 run(s)" in w for w in warnings)
    cells, _ = build_tables(runs)
    assert set(cells.method) == {"rnn+clip", "rnn+clip+Ω", "lstm"}
    c = cell(cells, "rnn+clip")
    assert (c.n_runs, c.n_solved, c.median_steps_to_solve) == (3, 1, 3000)
    c = cell(cells, "rnn+clip+Ω")
    assert (c.n_runs, c.n_solved, c.n_excluded, c.median_steps_to_solve) == (3, 3, 1, 1500)
    assert c.success_rate == 1 and c.success_hi == 1 and c.success_lo == pytest.approx(0.4385, abs=1e-4)
    c = cell(cells, "lstm")
    assert (c.n_runs, c.n_solved, c.n_diverged, c.n_excluded) == (3, 2, 1, 1)
    assert c.mean_test_error == pytest.approx(0.0)  # the diverged run has no test error
    assert c.baseline_loss == pytest.approx(math.log(4))
    # a single run folder and a <name> folder work as roots too
    one = sorted((sweep / "exp").iterdir())[0]
    assert len(load_runs(one)[0]) == 1 and len(load_runs(sweep / "exp")[0]) == 11


def test_damaged_runs_are_skipped_and_named(sweep):
    bad = {
        "trunc_json": lambda d: (d / "summary.json").write_text('{"status": "solved", "steps_to'),
        "empty_metrics": lambda d: (d / "metrics.csv").write_text(""),
        "no_config": lambda d: (d / "config.yaml").unlink(),
        "trunc_metrics": lambda d: (d / "metrics.csv").write_text((d / "metrics.csv").read_text()[:-12]),
        "no_status": lambda d: (d / "summary.json").write_text('{"steps_to_solve": null}'),
        "no_summary": lambda d: (d / "summary.json").unlink(),
        "bad_yaml": lambda d: (d / "config.yaml").write_text("model: [unclosed"),
    }
    for i, damage in enumerate(bad.values()):
        damage(make_run(sweep, name=f"bad{i}", seed=100 + i))
    runs, warnings = load_runs(sweep)
    assert len(runs) == 11  # the healthy ones are all still there
    for i, (what, key) in enumerate(
        zip(
            bad,
            [
                "summary.json",
                "metrics.csv: empty",
                "missing config.yaml",
                "metrics.csv: truncated",
                "status None",
                "missing summary.json",
                "config.yaml: invalid YAML",
            ],
            strict=True,
        )
    ):
        hits = [w for w in warnings if f"bad{i}" in w]
        assert len(hits) == 1 and key in hits[0], (what, hits)
    out = io.StringIO()
    assert run_report(sweep, console=Console(file=out, width=250)) == 0
    assert "skipped" in out.getvalue() and "bad0" in out.getvalue()
    narrow = io.StringIO()  # too narrow for the tables: one record per row, nothing cut off
    assert run_report(sweep, console=Console(file=narrow, width=80)) == 0
    assert "verdict: inconclusive" in narrow.getvalue() and "…" not in narrow.getvalue()


@pytest.mark.parametrize(
    "k_o,n_o,k_r,n_r,med_o,med_r,expected",
    [
        (5, 5, 0, 5, 1000, math.nan, "helps"),  # p = 0.0079
        (0, 5, 5, 5, math.nan, 1000, "behind"),
        (5, 5, 5, 5, 1000, 3000, "helps"),  # same rate, 3x fewer steps
        (5, 5, 5, 5, 3000, 1000, "behind"),
        (5, 5, 5, 5, 1000, 1200, "tie"),  # same rate, steps within 1.5x
        (1, 1, 0, 5, 1000, math.nan, "inconclusive"),  # n = 1
        (4, 5, 5, 5, 1000, 1000, "tie"),  # p = 1, rates within 0.2, n >= 3
        (0, 3, 0, 3, math.nan, math.nan, "tie"),  # both solve nothing
        (3, 3, 0, 3, 1000, math.nan, "inconclusive"),  # p = 0.1: big gap but too few seeds
        (1, 2, 1, 2, 1000, 1000, "inconclusive"),  # equal but n = 2 and < 2 solved
    ],
)
def test_verdict_rule(k_o, n_o, k_r, n_r, med_o, med_r, expected):
    v, p, reason = verdict(k_o, n_o, k_r, n_r, med_o, med_r)
    assert v == expected, reason
    assert f"{k_o}/{n_o} vs {k_r}/{n_r}" in reason


def test_verdicts_from_folders(tmp_path):
    for s in range(5):
        make_run(tmp_path, seed=s, omega=2.0, steps_to_solve=1000)
        make_run(tmp_path, seed=s, status="unsolved")
        make_run(tmp_path, seed=s, model="lstm", clip="none", steps_to_solve=4000)
        make_run(tmp_path, seed=s, model="lstm", clip="norm", status="solved" if s < 3 else "unsolved")
    make_run(tmp_path, seed=0, omega=2.0, seq_len=100)  # a second length with a single Ω run
    cells, verdicts = build_tables(load_runs(tmp_path)[0])
    v = verdicts.set_index(["seq_len", "against"])
    assert (
        v.loc[(50, "without Ω"), "verdict"] == "helps"
        and v.loc[(50, "without Ω"), "ref_method"] == "rnn+clip"
    )
    assert v.loc[(50, "best LSTM"), "ref_method"] == "lstm"  # 5/5 beats lstm+clip's 3/5
    assert v.loc[(50, "best LSTM"), "verdict"] == "helps"  # equal 5/5, 4x fewer steps
    assert v.loc[(100, "best LSTM"), "verdict"] == "inconclusive"
    assert v.loc[(100, "best LSTM"), "n_ref"] == 0 and "no LSTM" in v.loc[(100, "best LSTM"), "reason"]
    assert list(verdicts.columns[-10:]) == [
        "ref_method",
        "n_omega",
        "k_omega",
        "n_ref",
        "k_ref",
        "p_value",
        "median_steps_omega",
        "median_steps_ref",
        "verdict",
        "reason",
    ]


def test_axes_from_sweep_json_and_broadcast_reference(tmp_path):
    for thr in (0.1, 1.0, 10.0):
        for s in range(3):
            make_run(tmp_path, seed=s, threshold=thr, omega=2.0, steps_to_solve=1000)
            make_run(tmp_path, seed=s, threshold=thr, status="solved" if thr == 1.0 else "unsolved")
    for s in range(3):
        make_run(tmp_path, seed=s, model="lstm", clip="none", status="unsolved")
    (tmp_path / "exp" / "sweep.json").write_text(
        json.dumps(
            {
                "name": "exp",
                "grid_keys": ["clipping.threshold", "seed"],
                "zip_keys": [],
                "methods": {
                    "rnn+clip": {"model.type": "rnn"},
                    "rnn+clip+Ω": {"regularizer.omega_weight": 2.0},
                    "lstm": {"model.type": "lstm", "clipping.mode": "none"},
                },
            }
        )
    )
    runs, _ = load_runs(tmp_path)
    cells, verdicts = build_tables(runs)
    assert "clipping.threshold" in cells.columns and "regularizer.omega_weight" not in cells.columns
    assert len(cells) == 7
    v = verdicts.set_index(["clipping.threshold", "against"])
    assert v.loc[(1.0, "without Ω"), "verdict"] == "tie"  # 3/3 each, 1000 steps each
    assert v.loc[(0.1, "without Ω"), "verdict"] == "inconclusive"  # 3/3 vs 0/3, p = 0.1
    assert v.loc[(10.0, "best LSTM"), "ref_method"] == "lstm"  # lstm never varies the threshold
    assert "ref at clipping.threshold=1.0" in v.loc[(10.0, "best LSTM"), "reason"]


def test_omega_weight_axis_without_sweep_json(tmp_path):
    for s in range(3):
        make_run(tmp_path, seed=s)
        for w in (2.0, 4.0):
            make_run(tmp_path, seed=s, omega=w)
    cells, verdicts = build_tables(load_runs(tmp_path)[0])
    assert "regularizer.omega_weight" in cells.columns
    plain = verdicts[verdicts.against == "without Ω"]
    assert sorted(plain["regularizer.omega_weight"]) == [2.0, 4.0] and (plain.ref_method == "rnn+clip").all()


def test_outputs_csv_markdown_plots(sweep, tmp_path_factory):
    make_run(sweep, seed=10, omega=2.0, flow=True)  # one (task, T) panel keeps the plots fast
    make_run(sweep, seed=10, flow=True)
    make_run(sweep, seed=11, threshold=10.0, flow=True)
    out = tmp_path_factory.mktemp("out")
    console = Console(file=io.StringIO(), width=250)
    rc = run_report(
        sweep, csv=out / "cells.csv", markdown=out / "report.md", plots=out / "plots", console=console
    )
    assert rc == 0
    import pandas as pd

    cells = pd.read_csv(out / "cells.csv")
    assert {
        "task",
        "seq_len",
        "method",
        "n_runs",
        "n_solved",
        "success_rate",
        "success_lo",
        "success_hi",
        "median_steps_to_solve",
        "mean_test_error",
        "mean_test_loss",
        "baseline_loss",
        "n_diverged",
    } <= set(cells.columns)
    runs = pd.read_csv(out / "cells_runs.csv")
    assert len(runs) == 14 and {"run_id", "status", "method", "seed", "run_dir", "task.seq_len"} <= set(
        runs.columns
    )
    verdicts = pd.read_csv(out / "cells_verdicts.csv")
    assert {
        "n_omega",
        "k_omega",
        "n_ref",
        "k_ref",
        "p_value",
        "median_steps_omega",
        "median_steps_ref",
        "verdict",
        "reason",
    } <= set(verdicts.columns)
    md = (out / "report.md").read_text()
    assert "## Cells" in md and "## Ω verdicts" in md and "Verdict rule" in md
    assert md.count("| task | T |") == 2 and "| rnn+clip+Ω |" in md
    text = console.file.getvalue()
    assert "Ω verdicts" in text and "interrupted/failed" in text

    from matplotlib.image import imread

    names = {p.name for p in (out / "plots").iterdir()}
    assert names == {
        "success_vs_length.png",
        "success_vs_threshold.png",
        "learning_curves.png",
        "grad_norm_omega.png",
        "gradient_flow.png",
    }
    for name in names:
        data = (out / "plots" / name).read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 1000
        assert imread(out / "plots" / name).ndim == 3


def test_plots_skip_missing_data(tmp_path):
    from ltd_bench.plots import make_plots

    make_run(tmp_path, seed=0)
    make_run(tmp_path, seed=1, model="lstm", clip="none")
    runs, _ = load_runs(tmp_path)
    saved = make_plots(runs, runs.run_dir, tmp_path / "plots")
    assert {p.name for p in saved} == {"success_vs_length.png", "learning_curves.png", "grad_norm_omega.png"}


def test_run_report_missing_or_empty(tmp_path):
    con = Console(file=io.StringIO(), width=200)
    assert run_report(tmp_path / "nope", console=con) == 2
    assert "does not exist" in con.file.getvalue() and "Traceback" not in con.file.getvalue()
    (tmp_path / "empty").mkdir()
    assert run_report(tmp_path / "empty", console=con) == 2
    d = make_run(tmp_path / "broken", seed=0)
    (d / "summary.json").write_text("{")
    assert run_report(tmp_path / "broken", console=con) == 2
    assert "no readable run" in con.file.getvalue()
    runs, warnings = load_runs(tmp_path / "broken")
    assert runs.empty and all(t.empty for t in build_tables(runs)) and "summary.json" in warnings[0]
