"""Hand-made run folders with known outcomes, written as `ltd-bench run` writes them (for report tests)."""

import json
import math

import numpy as np
import yaml

from ltd_bench.config import method_label

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
    steps=None,
    diverged_at=700,
    flow=False,
    test_loss=None,
):
    """One run folder; returns its path. Budget = `steps` (default evals × every); a solved run stops at
    steps_to_solve, a diverged one at diverged_at, an unsolved one at the budget."""
    budget = steps or evals * every
    cfg = {
        "name": name,
        "seed": seed,
        "method": method,
        "task": {"name": task, "seq_len": seq_len, "variant": None, "test_size": 1000, "test_seed": 123},
        "model": {"type": model, "hidden_size": 50, "nonlinearity": "tanh", "init": "smart_tanh"},
        "train": {"optimizer": "sgd", "lr": 0.01, "batch_size": 20, "steps": budget, "eval_every": every},
        "clipping": {"mode": clip, "threshold": threshold, "nonfinite": "skip"},
        "regularizer": {"omega_weight": omega, "form": "book", "schedule": "constant"},
    }
    label = method or method_label(cfg)
    run_id = f"{label}-T{seq_len}-thr{threshold}-w{omega}-n{budget}-s{seed}".replace("+", "_")
    d = root / name / run_id
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    last = {"solved": steps_to_solve, "diverged": diverged_at}.get(status, budget)
    evals_at = list(range(0, last + 1, every)) if last else [0]
    if evals_at[-1] != last:
        evals_at.append(last)
    rows = [",".join(METRIC_COLS)]
    for i, step in enumerate(evals_at):
        err = 0.0 if (status == "solved" and step == last) else 0.75 / (i + 1)
        vals = [step, 1 / (i + 1), 1.2 / (i + 1), err, 2.0 * (i + 1), 5.0 * (i + 1), 0.1]
        vals += ["" if model == "lstm" else 0.5 / (i + 1), omega, 0, 1.5 * i]
        rows.append(",".join(map(str, vals)))
    (d / "metrics.csv").write_text("\n".join(rows) + "\n")
    summary = {
        "status": status,
        "steps_to_solve": steps_to_solve if status == "solved" else None,
        "steps": last,
        "test_loss": test_loss if test_loss is not None else (0.01 if status == "solved" else 1.2),
        "test_error": 0.0 if status == "solved" else 0.7,
        "best_test_error": 0.0,
        "baseline_loss": math.log(4),
        "baseline_error": 0.75,
        "wall_time_s": 1.0,
        "run_id": run_id,
        "name": name,
        "method": label,
        "diverged_at_step": diverged_at if status == "diverged" else None,
        "nonfinite_grad_steps": 0,
    }
    if status == "diverged":
        summary.update(test_loss=None, test_error=None)
    (d / "summary.json").write_text(json.dumps(summary))
    if flow:  # ‖∂L/∂h_t‖ decaying into the past: by 0.9 per step without Ω, 0.99 with; halved each eval
        decay = 0.9 if omega == 0 else 0.99
        prof = decay ** np.arange(seq_len)[::-1]
        gn = np.stack([prof * 0.5**i for i in range(len(evals_at))]).astype(np.float32)
        np.savez(d / "gradient_flow.npz", step=np.array(evals_at), grad_norm=gn)
    return d
