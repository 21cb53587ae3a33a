"""Hand-made run folders with known outcomes, written as `ltd-bench run` writes them (for report tests)."""

import math

import numpy as np

from ltd_bench.config import method_label, validate_dict
from ltd_bench.outputs import RunResult, write_result


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
    options=None,
):
    """One run folder, written by outputs.write_result as `ltd-bench run` writes it; returns its path. Budget = `steps` (default evals × every); a solved run stops at
    steps_to_solve, a diverged one at diverged_at, an unsolved one at the budget."""
    budget = steps or evals * every
    config = validate_dict(
        {
            "name": name,
            "seed": seed,
            "method": method,
            "task": {"name": task, "seq_len": seq_len, "test_size": 1000, "test_seed": 123}
            | ({"options": options} if options else {}),
            "model": {"type": model, "init": "smart_tanh" if model == "rnn" else "default"},
            "train": {"steps": budget, "eval_every": every},
            "clipping": {"mode": clip, "threshold": threshold},
            "regularizer": {"omega_weight": omega},
        },
        "make_run",
    )
    cfg, run_id = config.to_dict(), config.run_id  # the folder is named by the config's hash, as for real
    label = method or method_label(cfg)
    d = root / name / run_id
    last = {"solved": steps_to_solve, "diverged": diverged_at}.get(status, budget)
    evals_at = list(range(0, last + 1, every)) if last else [0]
    if evals_at[-1] != last:
        evals_at.append(last)
    metrics = []
    for i, step in enumerate(evals_at):
        err = 0.0 if (status == "solved" and step == last) else 0.75 / (i + 1)
        metrics.append(
            {
                "step": step,
                "train_loss": 1 / (i + 1),
                "test_loss": 1.2 / (i + 1),
                "test_error": err,
                "grad_norm": 2.0 * (i + 1),
                "grad_norm_max": 5.0 * (i + 1),
                "clip_rate": 0.1,
                "omega": None if model == "lstm" else 0.5 / (i + 1),
                "omega_weight": omega,
                "nonfinite_steps": 0,
                "wall_time_s": 1.5 * i,
            }
        )
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
    res_flow = {}
    if flow:  # ‖∂L/∂h_t‖ decaying into the past: by 0.9 per step without Ω, 0.99 with; halved each eval
        decay = 0.9 if omega == 0 else 0.99
        prof = decay ** np.arange(seq_len)[::-1]
        gn = np.stack([prof * 0.5**i for i in range(len(evals_at))]).astype(np.float32)
        res_flow = {"step": np.array(evals_at), "grad_norm": gn}
    write_result(d, RunResult(cfg, run_id, metrics=metrics, summary=summary, flow=res_flow), weights=False)
    return d
