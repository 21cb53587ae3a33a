"""The run folder: OUT/<name>/<run_id>/ with config.yaml, metrics.csv, summary.json, model.pt,
gradient_flow.npz. Each file is written atomically; summary.json is written last, so a folder whose
summary.json is missing or unreadable is unfinished and a resume redoes it."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import torch

from .config import NAME_RE, Config, resolved_yaml
from .train import FINAL, RunResult
from .yamlio import atomic_write

METRIC_COLUMNS = [
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


def run_dir(out: Path, cfg: Config) -> Path:
    """OUT/<name>/<run_id>, refusing any name that could leave OUT (config validation already does)."""
    if not NAME_RE.match(cfg.name) or cfg.name in {".", ".."}:
        raise ValueError(f"invalid run name {cfg.name!r}")
    path = (out / cfg.name / cfg.run_id).resolve()
    if out.resolve() not in path.parents:
        raise ValueError(f"run folder {path} would be outside {out}")
    return path


def read_summary(path: Path) -> dict | None:
    try:
        s = json.loads((path / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return s if isinstance(s, dict) and "status" in s else None


def is_finished(path: Path) -> bool:
    """A run a resume may skip: a readable summary with a final status and its metrics present."""
    s = read_summary(path)
    return s is not None and s.get("status") in FINAL and (path / "metrics.csv").is_file()


def prepare(path: Path, cfg: Config) -> None:
    """Start a run folder afresh (anything left by an unfinished attempt is removed)."""
    if path.exists():
        shutil.rmtree(path)
    atomic_write(path / "config.yaml", resolved_yaml(cfg))


def metrics_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(r.get(k)) for k in METRIC_COLUMNS})
    return buf.getvalue()


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(v) if isinstance(v, float) else str(v)


def write_result(path: Path, res: RunResult, weights: bool = True) -> None:
    """Write everything a finished (or interrupted) run produced; summary.json goes last."""
    atomic_write(path / "config.yaml", resolved_yaml(Config.model_validate(res.config)))
    atomic_write(path / "metrics.csv", metrics_csv(res.metrics))
    if res.flow:
        buf = io.BytesIO()
        np.savez_compressed(buf, **res.flow)
        atomic_write(path / "gradient_flow.npz", buf.getvalue())
    if weights and res.state_dict:
        buf = io.BytesIO()
        torch.save(res.state_dict, buf)
        atomic_write(path / "model.pt", buf.getvalue())
    atomic_write(path / "summary.json", json.dumps(_jsonable(res.summary), indent=2) + "\n")


def _jsonable(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}
