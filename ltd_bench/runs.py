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
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .comparisons import Comparison, from_json
from .config import method_label
from .extend import supersede
from .outputs import FINAL, read_runs
from .tasks import options_view
from .trust import SWEEP_JSON_BYTES, read_capped

INT_FIELDS = ("steps_to_solve", "steps", "diverged_at_step", "nonfinite_grad_steps")
FLOAT_FIELDS = (
    "test_loss",
    "test_error",
    "best_test_error",
    "baseline_loss",
    "baseline_error",
    "wall_time_s",
)


class Frames(Mapping):
    """run_dir -> metrics.csv as a DataFrame, built on first access from the table read once (building
    thousands of small frames up front costs more than the whole report needs)."""

    def __init__(self, tables: dict | None = None):
        self.tables, self.frames = dict(tables or {}), {}

    def __getitem__(self, key: str) -> pd.DataFrame:
        if key not in self.frames:
            columns, table = self.tables[key]
            self.frames[key] = pd.DataFrame(table, columns=columns)
        return self.frames[key]

    def __setitem__(self, key: str, frame: pd.DataFrame) -> None:  # a frame built elsewhere (interim.py)
        self.tables[key], self.frames[key] = (list(frame.columns), None), frame

    def __iter__(self):
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    def pop(self, key: str, default=None):
        self.frames.pop(key, None)
        return self.tables.pop(key, default)


@dataclass
class Results:
    runs: pd.DataFrame  # one row per readable run
    metrics: Frames = field(default_factory=Frames)  # run_dir -> metrics.csv, parsed once
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
    found = [
        d
        for d, _, files in os.walk(root, followlinks=True)
        if "summary.json" in files or "metrics.csv" in files
    ]
    return sorted(map(Path, found))


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
        pairs = json.loads(read_capped(path, SWEEP_JSON_BYTES)).get("compare") or []
        if not isinstance(pairs, list):
            raise ValueError("compare is not a list of comparisons")
        return from_json(pairs)
    except (OSError, ValueError, AttributeError) as e:
        warnings.append(f"ignored {path}: not a valid sweep.json ({e})")
        return []


def typed(runs: pd.DataFrame) -> pd.DataFrame:
    """The summary's numbers as numbers (nullable integers, floats), whatever JSON gave; task options at
    their effective values (with_task_defaults)."""
    runs = with_task_defaults(runs)
    for c in INT_FIELDS:
        if c in runs:
            runs[c] = pd.to_numeric(runs[c], errors="coerce").astype("Int64")
    for c in FLOAT_FIELDS:
        if c in runs:
            runs[c] = pd.to_numeric(runs[c], errors="coerce").astype(float)
    return runs


def with_task_defaults(runs: pd.DataFrame) -> pd.DataFrame:
    """A task option some run sets (a `task.options.<name>` column) filled in, for the runs that left it
    at its default, with the default of their task and variant: copying with `options: {}` is copy_len 10,
    the same cell as `{copy_len: 10}`, and reads so in tables. Runs of tasks without the option keep it
    missing; values keep the default's type (3, not 3.0)."""
    cols = [c for c in runs.columns if c.startswith("task.options.")]
    if not cols or "task.name" not in runs:
        return runs
    variants = runs["task.variant"] if "task.variant" in runs else [None] * len(runs)
    keys = [(t, None if pd.isna(v) else v) for t, v in zip(runs["task.name"], variants, strict=True)]
    defaults = {}
    for key in set(keys):
        try:
            defaults[key] = options_view(*key)
        except (ValueError, KeyError, TypeError):  # an unknown task in an edited folder: nothing to fill
            defaults[key] = {}
    runs = runs.copy()
    for c in cols:
        name, values = c.removeprefix("task.options."), []
        for key, v in zip(keys, runs[c], strict=True):
            default = defaults[key].get(name)
            if v is None or (isinstance(v, float) and pd.isna(v)):
                v = default
            elif isinstance(default, int) and isinstance(v, float) and v.is_integer():
                v = int(v)  # the column went float only because some rows lacked the option
            values.append(v)
        runs[c] = pd.Series(values, index=runs.index, dtype=object)
    return runs


def load(root: Path | str) -> Results:
    """Every readable run under `root` (a results folder, a sweep folder or one run folder)."""
    root, rows, metrics, warnings = Path(root), [], Frames(), []
    dirs = _run_dirs(root)
    for d, got in zip(dirs, read_runs(dirs, frame=False), strict=True):
        if isinstance(got, BaseException):  # a ValueError or OSError saying why
            warnings.append(f"skipped {d}: {got}")
            continue
        config, summary, m = got
        rows.append(_row(d, config, summary))
        if m is not None:
            metrics.tables[str(d)] = m
    compare: list[Comparison] = []
    for sweep in sorted(Path(d or ".") / "sweep.json" for d in {os.path.dirname(r["run_dir"]) for r in rows}):
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
    runs, superseded = supersede(runs[~dup])
    runs = runs.reset_index(drop=True)
    for d in superseded:
        metrics.pop(d, None)
    if superseded:
        warnings.append(
            f"{len(superseded)} run(s) superseded by the same config at a larger train.steps (an extended "
            f"budget): counted once, at the larger one ({', '.join(Path(d).name for d in superseded[:5])}"
            + (", ..." if len(superseded) > 5 else "")
            + ")"
        )
    runs = typed(runs)
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
