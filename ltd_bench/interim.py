"""Interim reports: a sweep read before it ends (`ltd-bench report DIR --interim`).

A run that has trained 200k updates without solving is a censored observation: unsolved at its last
evaluation, its fate after that unknown. An interim report counts, besides the finished runs, every
unfinished one that has been evaluated after step 0:

    training     a live process (a sweep or `ltd-bench run`) holds its claim on the folder
    interrupted  its summary.json says so (Ctrl-C, SIGTERM: it has a checkpoint to continue from)
    unclaimed    no summary.json and nobody holds its claim: a killed process (or a folder from before
                 runs took claims)

each as solved at its first evaluation under train.success_error (as train.py decides), else censored
at its last evaluation (metrics.csv, flushed row by row as it trains; or a checkpoint's rows). Kaplan–Meier takes the staggered
censoring as it is (the curves and the KM medians use every run up to its own last evaluation); RMST
and the verdicts stop at the horizon every counted run has reached (analysis.py: the `_horizon` of an
unfinished, unsolved run is its last evaluation, so a cell's and a comparison's budget is the least
advanced such run's, at most the budget), said in the notes, the CSVs and every verdict's reason.
Every output says INTERIM: the terminal title, the Markdown heading, a column of each CSV, every
figure's title. Without --interim nothing here runs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .config import Config, method_label
from .extend import supersede
from .outputs import (
    CHECKPOINT,
    FINAL,
    METRIC_COLUMNS,
    claim_holder,
    load_summary,
    read_checkpoint,
    read_config,
    read_metrics,
)
from .runs import Results, _row, _run_dirs, load, typed
from .survival import kaplan_meier

UNFINISHED = ("training", "interrupted", "unclaimed")


def read_unfinished(path: Path, summary: dict | None) -> tuple[dict, pd.DataFrame]:
    """(a summary, the metrics) of an unfinished run, from its metrics.csv: solved at its first
    evaluation under train.success_error, else censored at its last. ValueError when it cannot count."""
    config = read_config(path)
    cfg = Config.model_validate(config)
    m = metrics_of(path, cfg)
    if m.empty or m.step.max() <= 0:
        raise ValueError("no evaluation after step 0 yet")
    solved = m.step[m.test_error < cfg.train.success_error]
    last = m.iloc[-1]
    if summary and summary.get("baseline_loss") is not None:
        base = summary["baseline_loss"], summary.get("baseline_error")
    else:
        from .tasks import task_of  # torch: only for runs without any summary

        task = task_of(cfg.task)
        base = task.baseline_loss, task.baseline_error
    state = "interrupted" if summary else ("training" if claim_holder(path) else "unclaimed")
    return {
        "status": "solved" if len(solved) else "unsolved",
        "steps_to_solve": int(solved.iloc[0]) if len(solved) else None,
        "steps": int(last.step),
        "test_loss": float(last.test_loss),
        "test_error": float(last.test_error),
        "best_test_error": float(m.test_error.min()),
        "baseline_loss": base[0],
        "baseline_error": base[1],
        "run_id": cfg.run_id,
        "name": cfg.name,
        "method": config.get("method") or method_label(config),
        "interim_state": state,
        # a solved run's outcome is known at any horizon; an unsolved one is known up to here
        "interim_reached": math.nan if len(solved) else int(last.step),
    }, m


def metrics_of(path: Path, cfg: Config) -> pd.DataFrame:
    """metrics.csv; or, where a kill left a checkpoint but no metrics.csv yet (runner.spec_in rewrites
    it from the checkpoint as a run resumes), the checkpoint's rows (loaded with weights_only)."""
    try:
        return read_metrics(path)
    except FileNotFoundError:
        state, why = read_checkpoint(path, cfg, set_aside=False)  # a report only looks
        if state is None:
            raise ValueError(why or "no metrics.csv yet") from None
        return pd.DataFrame(state["metrics"], columns=METRIC_COLUMNS, dtype=float)


def load_interim(root: Path | str) -> Results:
    """runs.load, with every unfinished run (module doc) counted as solved or censored."""
    res = load(root)
    known = set(res.runs.run_dir) if len(res.runs) else set()
    rows, warnings, counted = [], [], set()
    for d in sorted({*_run_dirs(Path(root)), *(p.parent for p in Path(root).rglob(CHECKPOINT))}):
        summary = None
        if str(d) in known:
            status = res.runs.loc[res.runs.run_dir == str(d), "status"].iloc[0]
            if status != "interrupted":
                continue
            summary = load_summary(d)
        elif (d / "summary.json").is_file():  # damaged: runs.load has said why
            continue
        try:
            s, m = read_unfinished(d, summary)
        except (ValueError, OSError, UnicodeDecodeError) as e:
            warnings.append(f"not counted {d}: {e}")
            continue
        rows.append(_row(d, read_config(d), s))
        res.metrics[str(d)] = m
        counted.add(str(d))
    runs = res.runs[~res.runs.run_dir.isin(counted)] if len(res.runs) else res.runs
    runs = typed(pd.concat([runs, pd.DataFrame(rows)], ignore_index=True)) if rows else runs
    runs, superseded = supersede(runs)  # an extension still training supersedes its shorter run too
    if len(runs) and "interim_state" not in runs:  # the runs CSV says interim even with none unfinished
        runs = runs.assign(interim_state=None, interim_reached=math.nan)
    for d in superseded:
        res.metrics.pop(d, None)
    if superseded:
        warnings.append(f"{len(superseded)} run(s) superseded by an unfinished run at a larger train.steps")
    ours = {f"skipped {d}: missing summary.json" for d in counted}
    old = [w for w in res.warnings if w not in ours and "interrupted/failed: listed but not counted" not in w]
    failed = runs[runs.status == "failed"] if len(runs) else runs
    if len(failed):
        warnings.append(f"{len(failed)} failed run(s): listed but not counted")
    return Results(runs.reset_index(drop=True), res.metrics, old + warnings, res.compare)


def counts(runs: pd.DataFrame) -> dict[str, int]:
    """How many counted runs are in each unfinished state."""
    col = runs["interim_state"] if "interim_state" in runs else pd.Series(dtype=object)
    return {s: int((col == s).sum()) for s in UNFINISHED}


def banner(runs: pd.DataFrame) -> str:
    """The line that marks every interim output."""
    n = counts(runs)
    finished = int(runs.status.isin(FINAL).sum()) - sum(n.values())
    parts = ", ".join(f"{v} {k}" for k, v in n.items() if v)
    unfinished = f"{sum(n.values())} unfinished" + (f" ({parts})" if parts else "")
    return (
        f"INTERIM report, not final: {finished} finished run(s) and {unfinished} counted as solved or "
        "censored at their last evaluation; RMST and verdicts only up to the horizon every counted run "
        "has reached"
    )


def label(an, runs: pd.DataFrame) -> None:
    """Mark the analysis as interim: its banner, the horizon per cell in the notes and the CSV columns."""
    from .analysis import prepare

    an.interim = banner(runs)
    an.cells["interim"] = an.verdicts["interim"] = an.interim  # a column that says so in every CSV
    fin = prepare(runs)
    fin = fin[fin.status.isin(FINAL) & fin.get("interim_state", pd.Series(index=fin.index)).notna()]
    unfinished = fin.groupby([*an.keys, "method"], dropna=False).size() if len(fin) else {}
    if len(an.cells):
        an.cells["interim_horizon_steps"] = an.cells.budget_steps
        idx = list(an.cells[[*an.keys, "method"]].itertuples(index=False, name=None))
        an.cells["interim_unfinished"] = [int(unfinished.get(k, 0)) for k in idx]
    if len(an.verdicts):
        an.verdicts["interim_horizon_steps"] = an.verdicts.get("budget_steps")
    for key, g in an.cells.groupby(an.keys, dropna=False, sort=True) if len(an.cells) else []:
        n = int(g.interim_unfinished.sum())
        named = dict(zip(an.keys, key, strict=True))
        cell = " ".join(
            [f"{named['task']}{f' ({v})' if (v := named['variant']) else ''}", f"T={named['seq_len']}"]
            + [f"{k.split('.')[-1]}={named[k]}" for k in an.axes]
        )
        an.notes.append(
            f"interim: {cell}: RMST and verdicts up to {g.budget_steps.iloc[0]:,.0f} updates "
            f"({n} unfinished run(s) counted)"
        )


def km_table(an, runs: pd.DataFrame) -> pd.DataFrame:
    """The Kaplan–Meier curve of every cell and method, staggered censoring as it is: one row per time
    a run solved or was censored (step, runs at risk, solved and censored there, fraction solved)."""
    from .analysis import COUNTED, prepare

    fin = prepare(runs)
    fin = fin[fin.status.isin(COUNTED)]
    out = []
    for key, g in fin.groupby([*an.keys, "method"], dropna=False, sort=True):
        t, s = g._time.to_numpy(float), g._solved.to_numpy(bool)
        cdf = kaplan_meier(t, s).cdf
        for step in np.unique(t):
            out.append(
                {
                    **dict(zip([*an.keys, "method"], key, strict=True)),
                    "step": step,
                    "at_risk": int((t >= step).sum()),
                    "solved": int(((t == step) & s).sum()),
                    "censored": int(((t == step) & ~s).sum()),
                    "fraction_solved": float(cdf.evaluate(step)),
                    "interim": an.interim,
                }
            )
    return pd.DataFrame(out)
