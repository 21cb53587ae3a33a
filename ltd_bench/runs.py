"""A results folder as data: every run folder under it, read through outputs.py (the one module that knows
the run-folder format), as one pandas row per run, plus the comparisons its sweeps declared (sweep.json).

    import ltd_bench
    runs = ltd_bench.load_runs("results/showcase")          # one row per run
    runs.groupby(["task", "seq_len", "method"]).status.value_counts()

A row holds every config key flattened ("train.steps", "regularizer.omega_weight", ...), the summary's
fields ("status", "steps_to_solve", "test_loss", ...), and "method", "task", "seq_len", "run_id",
"run_dir". Damaged folders are skipped; runs.attrs["warnings"] names each one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .comparisons import Comparison, from_json
from .config import method_label
from .outputs import FINAL, read_run

INT_FIELDS = ("steps_to_solve", "steps", "diverged_at_step", "nonfinite_grad_steps")
FLOAT_FIELDS = (
    "test_loss",
    "test_error",
    "best_test_error",
    "baseline_loss",
    "baseline_error",
    "wall_time_s",
)


@dataclass
class Results:
    runs: pd.DataFrame  # one row per readable run
    metrics: dict[str, pd.DataFrame] = field(default_factory=dict)  # run_dir -> metrics.csv, parsed once
    warnings: list[str] = field(default_factory=list)  # one line per skipped folder or ignored file
    compare: list[Comparison] = field(default_factory=list)  # declared by the sweeps' sweep.json


def flatten(d: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists become JSON text so that runs can be grouped on them."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, (list, tuple)) else v
    return out


def _run_dirs(root: Path) -> list[Path]:
    """Folders holding summary.json, plus folders with only metrics.csv (runs that never finished)."""
    return sorted({p.parent for name in ("summary.json", "metrics.csv") for p in root.rglob(name)})


def _row(run_dir: Path, config: dict, summary: dict) -> dict:
    row = flatten(config)
    row.update((k, v) for k, v in summary.items() if not isinstance(v, (dict, list)))
    row["method"] = summary.get("method") or config.get("method") or method_label(config)
    row["task"], row["seq_len"] = config["task"]["name"], config["task"]["seq_len"]
    row["run_id"] = summary.get("run_id") or run_dir.name
    row["run_dir"] = str(run_dir)
    return row


def _declared(path: Path, warnings: list[str]) -> list[Comparison]:
    """The `compare:` comparisons a sweep recorded in its sweep.json (none when it declared none)."""
    try:
        pairs = json.loads(path.read_text()).get("compare") or []
        if not isinstance(pairs, list):
            raise ValueError("compare is not a list of comparisons")
        return from_json(pairs)
    except (OSError, ValueError, AttributeError) as e:
        warnings.append(f"ignored {path}: not a valid sweep.json ({e})")
        return []


def load(root: Path | str) -> Results:
    """Every readable run under `root` (a results folder, a sweep folder or one run folder)."""
    root, rows, metrics, warnings = Path(root), [], {}, []
    for d in _run_dirs(root):
        try:
            config, summary, m = read_run(d)
        except (ValueError, OSError, UnicodeDecodeError) as e:
            warnings.append(f"skipped {d}: {e}")
            continue
        rows.append(_row(d, config, summary))
        if m is not None:
            metrics[str(d)] = m
    compare: list[Comparison] = []
    for sweep in sorted({Path(r["run_dir"]).parent / "sweep.json" for r in rows}):
        if sweep.is_file():
            compare += [p for p in _declared(sweep, warnings) if p not in compare]
    runs = pd.DataFrame(rows)
    if runs.empty:
        return Results(runs, metrics, warnings, compare)
    dup = runs.duplicated("run_id", keep="first")
    for _, r in runs[dup].iterrows():
        first = runs.loc[(runs.run_id == r.run_id) & ~dup, "run_dir"].iloc[0]
        warnings.append(f"skipped {r.run_dir}: duplicate of run {r.run_id} at {first} (counted once)")
        metrics.pop(r.run_dir, None)
    runs = runs[~dup].reset_index(drop=True)
    for c in INT_FIELDS:
        if c in runs:
            runs[c] = pd.to_numeric(runs[c], errors="coerce").astype("Int64")
    for c in FLOAT_FIELDS:
        if c in runs:
            runs[c] = pd.to_numeric(runs[c], errors="coerce").astype(float)
    excluded = runs[~runs.status.isin(FINAL)]
    if len(excluded):
        warnings.append(
            f"{len(excluded)} run(s) interrupted/failed: listed but not counted "
            f"({', '.join(sorted(Path(p).name for p in excluded.run_dir))})"
        )
    return Results(runs, metrics, warnings, compare)


def load_runs(path: Path | str) -> pd.DataFrame:
    """One row per run under `path` (see the module docstring); runs.attrs["warnings"] lists skipped folders."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} does not exist")
    res = load(path)
    res.runs.attrs["warnings"] = list(res.warnings)
    return res.runs
