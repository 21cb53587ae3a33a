"""The run folder, OUT/<name>/<run_id>/: the one module that knows its files.

    config.yaml         the resolved config (written first)
    metrics.csv         one row per evaluation, appended and flushed as it happens
    gradient_flow.npz   ‖∇_{h_t} L‖ per t, the mean ‖g_t J_t‖/‖g_t‖ and the spectral radius per evaluation
    model.pt            final weights (a plain state_dict)
    checkpoint.pt       while a run is unfinished: everything needed to continue it bit for bit, sealed
                        with a digest, its run id and its config's hash (trust.seal)
    checkpoint.rejected.pt  a checkpoint that failed those checks, kept for inspection
    final_state.pt      a run its budget stopped: its state there, sealed the same way, for a longer budget
                        to go on from (extend.py)
    claim               while a sweep or `run` trains the run: which process does (host, pid)
    summary.json        written last

A folder without a readable summary.json of a final status is unfinished: a resume continues it from
checkpoint.pt, or starts it afresh. Whole files are written atomically (temp file, fsync, rename).
Nothing here runs code from a folder: YAML through the safe loader, checkpoints with weights_only.
Nothing read back is trusted unchecked (trust.py): config.yaml must hash to the folder's run id, the
summary's fields must fit the config, and every file is read up to a size its config implies.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import pickle
import shutil
import socket
import time
import warnings
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import trust
from .config import Config, name_error, resolved_yaml

STATUSES = ("solved", "unsolved", "diverged", "interrupted", "failed")
FINAL = ("solved", "unsolved", "diverged")  # statuses a resume may trust as finished
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
CHECKPOINT, CLAIM, REJECTED, FINAL_STATE = (
    "checkpoint.pt",
    "claim",
    "checkpoint.rejected.pt",
    "final_state.pt",
)


@dataclass
class RunResult:
    """What a run produced; train() returns it and does no I/O, write_result() stores it."""

    config: dict
    run_id: str
    metrics: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    state_dict: dict = field(default_factory=dict)
    flow: dict = field(default_factory=dict)  # gradient-flow arrays, one entry per evaluation
    final_state: dict = field(default_factory=dict)  # a checkpoint at the budget, when it stopped the run


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # an interrupted or failed write leaves no stray temp file behind
        tmp.unlink(missing_ok=True)
        raise


def run_dir(out: Path, cfg: Config) -> Path:
    """OUT/<name>/<run_id>, refusing any name that could leave OUT (config validation already does)."""
    why = name_error(cfg.name)
    if why:
        raise ValueError(why)
    path = (out / cfg.name / cfg.run_id).resolve()
    if out.resolve() not in path.parents:
        raise ValueError(f"run folder {path} would be outside {out}")
    return path


def read_summary(path: Path) -> dict | None:
    """summary.json leniently (None when missing or unreadable), read up to trust.SUMMARY_BYTES."""
    try:
        s = trust.parse_json(trust.read_capped(path / "summary.json", trust.SUMMARY_BYTES))
    except (OSError, ValueError):
        return None
    return s if isinstance(s, dict) and "status" in s else None


def finished(path: Path) -> tuple[bool, str | None]:
    """(True, None): a run a resume may skip, its final summary verified (trust.py) and its metrics
    present. (False, why): it says it finished but cannot be trusted (trained again; the caller warns).
    (False, None): not finished."""
    s = read_summary(path)
    if s is None or s.get("status") not in FINAL:
        return False, None
    try:
        cfg = trust.config_of(read_config(path), path.name)
        why = trust.summary_problems(s, cfg, path.name)
    except ValueError as e:
        why = [str(e)]
    if not why and not (path / "metrics.csv").is_file():
        why = ["missing metrics.csv"]
    return (False, f"{path}: {'; '.join(why)}") if why else (True, None)


def is_finished(path: Path) -> bool:
    """A run a resume may skip (see finished)."""
    return finished(path)[0]


def prepare(path: Path, cfg: Config, keep_checkpoint: bool = True) -> None:
    """Make the folder ready to train into. Anything an unfinished attempt left goes, except its
    checkpoint (kept when asked: the run continues from it), a rejected checkpoint (kept for inspection)
    and the claim on the folder."""
    keep = {CLAIM, REJECTED} | ({CHECKPOINT} if keep_checkpoint else set())
    if path.is_dir():
        for p in path.iterdir():
            if p.name not in keep:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    atomic_write(path / "config.yaml", resolved_yaml(cfg))


def metrics_csv(rows: list[dict], header: bool = True) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
    if header:
        w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(r.get(k)) for k in METRIC_COLUMNS})
    return buf.getvalue()


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(v) if isinstance(v, float) else str(v)


class MetricsLog:
    """metrics.csv while a run trains: the rows so far (from a checkpoint) rewritten at the start, then
    one row appended and flushed per evaluation, so a kill loses no finished evaluation."""

    def __init__(self, path: Path, rows: list[dict]):
        self.file = path / "metrics.csv"
        atomic_write(self.file, metrics_csv(rows))

    def append(self, row: dict) -> None:
        with open(self.file, "a") as f:
            f.write(metrics_csv([row], header=False))


def write_result(path: Path, res: RunResult, weights: bool = True) -> None:
    """Write everything a run produced; summary.json goes last. A finished run's checkpoint goes after
    it; an interrupted run keeps its checkpoint to continue from. The state at the budget is kept with
    the weights (final_state.pt), for a longer budget to continue from (extend.py)."""
    cfg = Config.model_validate(res.config)
    atomic_write(path / "config.yaml", resolved_yaml(cfg))
    atomic_write(path / "metrics.csv", metrics_csv(res.metrics))
    if res.flow:
        buf = io.BytesIO()
        np.savez_compressed(buf, **res.flow)
        atomic_write(path / "gradient_flow.npz", buf.getvalue())
    if weights and res.state_dict:
        import torch  # here, not at the top: reading a results folder (reports) needs no torch

        buf = io.BytesIO()
        torch.save(res.state_dict, buf)
        atomic_write(path / "model.pt", buf.getvalue())
    if weights and res.final_state:
        write_checkpoint(path, res.final_state, cfg, FINAL_STATE)
    atomic_write(path / "summary.json", json.dumps(_jsonable(res.summary), indent=2) + "\n")
    if res.summary.get("status") in FINAL:
        (path / CHECKPOINT).unlink(missing_ok=True)


def _jsonable(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


# ------------------------------------------------------------------------------------- checkpoints
def write_checkpoint(path: Path, state: dict, cfg: Config, name: str = CHECKPOINT) -> None:
    """train()'s state for the run `cfg` (tensors, numbers, strings, lists and dicts only) as
    checkpoint.pt (or `name`), sealed with a digest, the run id and the config's hash (trust.seal),
    atomically."""
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path / name, trust.seal(buf.getvalue(), cfg.run_id, trust.config_hash(cfg)))


def read_checkpoint(
    path: Path,
    cfg: Config,
    check: Callable[[dict], str | None] | None = None,
    name: str = CHECKPOINT,
    set_aside: bool = True,
) -> tuple[dict | None, str | None]:
    """(state, None); (None, None) when there is none; (None, why) when it cannot be used: damaged (its
    digest), another run's or another config's, unreadable, or refused by `check` (e.g. tensors of
    another shape). An unusable one is set aside as checkpoint.rejected.pt (kept for inspection; not by a
    reader that only looks, `set_aside=False`) and the run starts afresh. Loaded with weights_only=True: it
    carries no code that would run here."""
    import torch

    file = path / name
    if not file.is_file():
        return None, None
    try:
        payload = trust.unseal(
            trust.read_capped(file, trust.checkpoint_cap(cfg)), cfg.run_id, trust.config_hash(cfg)
        )
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols before refusing them
            warnings.simplefilter("ignore")
            state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("run_id") != cfg.run_id:
            raise ValueError("holds another run's state")
        why = check(state) if check else None
        if why:
            raise ValueError(why)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        kind = "" if isinstance(e, ValueError) else f"{type(e).__name__}: "
        if not set_aside:
            return None, f"{file}: {kind}{e}"
        rejected = REJECTED if name == CHECKPOINT else name.replace(".pt", ".rejected.pt")
        with contextlib.suppress(OSError):
            os.replace(file, path / rejected)
        return None, f"{file}: {kind}{e}; set aside as {rejected}, the run starts afresh"
    return state, None


# ------------------------------------------------------------------------------------------ claims
CLAIM_STALE_S = 600  # a claim from another host not refreshed for this long is taken over
CLAIM_BEAT_S = 60  # how often a holder refreshes its claims (Claims.beat)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    return True


def claim_holder(path: Path) -> dict | None:
    """Who holds the claim on a run folder ({host, pid}), or None when nobody alive does."""
    file = path / CLAIM
    try:
        holder = json.loads(trust.read_capped(file, 4096))  # {"host": ..., "pid": ...}: a few dozen bytes
        age = time.time() - file.stat().st_mtime
    except (OSError, ValueError):
        return None
    if not isinstance(holder, dict):
        return None
    if holder.get("host") == socket.gethostname():
        return holder if isinstance(holder.get("pid"), int) and _alive(holder["pid"]) else None
    return holder if age < CLAIM_STALE_S else None


class Claims:
    """This process's claims on run folders. A sweep claims each run before training it, so that two
    sweeps sharing a folder split the work. A claim is a file created exclusively; one whose holder is
    gone (a dead pid on this host, or not refreshed for CLAIM_STALE_S from another) is taken over."""

    def __init__(self):
        self.me = {"host": socket.gethostname(), "pid": os.getpid()}
        self.held: set[Path] = set()

    def acquire(self, path: Path) -> bool:
        path.mkdir(parents=True, exist_ok=True)
        file = path / CLAIM
        for _ in range(2):
            try:
                fd = os.open(file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if claim_holder(path) is not None:
                    return False
                aside = path / f".{CLAIM}.stale{os.getpid()}"
                try:  # stale: move it aside first; of two sweeps taking over at once, one rename wins
                    os.rename(file, aside)
                    aside.unlink()
                except FileNotFoundError:
                    return False
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(self.me, f)
            self.held.add(path)
            return True
        return False

    def release(self, path: Path) -> None:
        if path in self.held:
            self.held.discard(path)
            (path / CLAIM).unlink(missing_ok=True)

    def beat(self) -> None:
        """Refresh every held claim's time stamp (for sweeps on other hosts that share the folder)."""
        for p in list(self.held):
            try:
                os.utime(p / CLAIM)
            except OSError:
                pass

    def release_all(self) -> None:
        for p in list(self.held):
            self.release(p)


@contextlib.contextmanager
def heartbeat(claims: Claims):
    """Refresh `claims` every CLAIM_BEAT_S while the block runs (holders on other hosts judge by age)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(CLAIM_BEAT_S):
            claims.beat()

    t = threading.Thread(target=beat, daemon=True, name="ltd-bench-claims")
    t.start()
    try:
        yield
    finally:
        stop.set()


# ---- reading
# Run folders read back, for `ltd-bench report` and notebooks (ltd_bench.load_runs). Every reader raises
# ValueError("<file>: <what is wrong>") so that a damaged folder is skipped with one line, never a
# traceback; nothing read here can run code (safe YAML, JSON, CSV, npz without pickle).
METRICS_REQUIRED = ("step", "test_error", "test_loss")  # what the report and its learning curves need


def read_metrics(path: Path, max_rows: int | None = None, frame: bool = True):
    """metrics.csv as a numeric pandas DataFrame (frame=False: (columns, 2-D float array), for readers of
    thousands of runs that build frames only when asked); ValueError says what is wrong (empty,
    truncated, ...). max_rows: the most evaluations its config implies (trust.max_evals); a bigger file is
    refused unread."""
    file = _folder(path) / "metrics.csv"
    if max_rows is None:
        text = file.read_text()
    else:
        text = trust.read_capped(file, (max_rows + 1) * trust.ROW_BYTES).decode()
    if not text.strip():
        raise ValueError("empty file")
    rows = list(csv.reader(text.splitlines()))
    if max_rows is not None and len(rows) - 1 > max_rows:
        raise ValueError(f"{len(rows) - 1} rows, more than the {max_rows} evaluations its config implies")
    header = rows[0]
    missing = [c for c in METRICS_REQUIRED if c not in header]
    if missing:
        raise ValueError(f"header lacks {', '.join(missing)}")
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            what = "truncated" if i == len(rows) and not text.endswith("\n") else "malformed"
            raise ValueError(f"{what}: line {i} has {len(row)} of {len(header)} fields")
    try:  # plain floats: pandas' per-column conversion costs 10x more for these small files
        data = [[float(x) if x else math.nan for x in row] for row in rows[1:]]
    except ValueError:
        bad = next((c, x) for row in rows[1:] for c, x in zip(header, row, strict=True) if not _is_float(x))
        raise ValueError(f"non-numeric {bad[0]} value {bad[1]!r}") from None
    table = np.array(data, dtype=float).reshape(len(data), len(header))
    if not frame:
        return header, table
    import pandas as pd  # here, not at the top: training never needs it

    return pd.DataFrame(table, columns=header)


def _folder(path: Path | str) -> Path:
    """A run folder as a Path, not parsed again when it is one (a report reads thousands of folders)."""
    return path if isinstance(path, Path) else Path(path)


def _is_float(text: str) -> bool:
    try:
        float(text or "nan")
    except ValueError:
        return False
    return True


def read_config(path: Path) -> dict:
    """config.yaml through the project's safe YAML loader; ValueError when unreadable or not a mapping."""
    from .yamlio import read_yaml

    try:
        config = read_yaml(_folder(path) / "config.yaml", fast=True)
    except ValueError as e:  # YamlError: one line naming the problem
        raise ValueError(f"config.yaml: {e}") from None
    if not isinstance(config, dict):
        raise ValueError("config.yaml: not a mapping")
    return config


def load_summary(path: Path) -> dict:
    """summary.json, strictly (read_summary is the lenient check a resume uses)."""
    file = _folder(path) / "summary.json"
    if not file.is_file():
        raise ValueError("missing summary.json")
    try:
        summary = trust.parse_json(trust.read_capped(file, trust.SUMMARY_BYTES))
    except json.JSONDecodeError as e:  # e.msg may end in "at" ("Unterminated string starting at")
        where = f"line {e.lineno}, column {e.colno}"
        raise ValueError(
            f"summary.json: invalid or truncated JSON ({e.msg.removesuffix(' at')} at {where})"
        ) from None
    except UnicodeDecodeError:
        raise ValueError("summary.json: not UTF-8 text") from None
    except ValueError as e:  # NaN or Infinity; a file beyond the cap
        raise ValueError(f"summary.json: {e}") from None
    if not isinstance(summary, dict):
        raise ValueError("summary.json: not a JSON object")
    status = summary.get("status")
    if status not in STATUSES:
        raise ValueError(f"summary.json: status {status!r} not one of {'|'.join(STATUSES)}")
    if status in FINAL:
        missing = [f for f in ("steps_to_solve", "test_error", "test_loss") if f not in summary]
        if missing:
            raise ValueError(f"summary.json: missing {', '.join(missing)}")
    if status == "solved" and not isinstance(summary.get("steps_to_solve"), (int, float)):
        raise ValueError("summary.json: status solved but steps_to_solve is null")
    return summary


def read_run(path: Path, frame: bool = True):
    """(config, summary, metrics) of one run folder, verified (trust.py: config.yaml hashes to the
    folder's run id, the summary fits the config, files within the sizes it implies); metrics is None for
    a run that failed before any evaluation (frame: see read_metrics). ValueError("<file>: <what>") when
    the folder cannot be used."""
    got = read_runs([path], frame)[0]
    if isinstance(got, BaseException):
        raise got
    return got


def read_runs(paths: list, frame: bool = True) -> list:
    """read_run of each folder: its (config, summary, metrics), or the ValueError or OSError read_run
    raises for it. Stage by stage (every summary, then every config, ...), not folder by folder: the same
    checks and first failure for each, and ~20% less CPU over thousands of folders, as each stage's code
    and data stay in the processor's caches."""
    paths = [_folder(p) for p in paths]
    got: list = [()] * len(paths)  # per folder: what its stages have read so far, or why it is unusable
    for stage in (_summary, _config, _checked, _metrics):
        for i, path in enumerate(paths):
            if not isinstance(got[i], BaseException):
                try:
                    got[i] = stage(path, got[i], frame)
                except (ValueError, OSError) as e:  # a UnicodeDecodeError is a ValueError
                    got[i] = e
    return got


def _summary(path: Path, _, frame: bool) -> tuple:
    return (load_summary(path),)


def _config(path: Path, read: tuple, frame: bool) -> tuple:
    if not (path / "config.yaml").is_file():
        raise ValueError("missing config.yaml")
    return *read, read_config(path)


def _checked(path: Path, read: tuple, frame: bool) -> tuple:
    summary, config = read
    cfg = trust.config_of(config, path.name)
    why = trust.summary_problems(summary, cfg, path.name)
    if why:
        raise ValueError(f"summary.json: {'; '.join(why)}")
    return summary, config, trust.max_evals(cfg)  # not the Config: thousands of them would wait here


def _metrics(path: Path, read: tuple, frame: bool) -> tuple:
    summary, config, max_rows = read
    metrics = None
    if summary["status"] in FINAL or (path / "metrics.csv").is_file():  # a final run's needs no stat
        try:
            metrics = read_metrics(path, max_rows, frame)
        except FileNotFoundError:
            raise ValueError("missing metrics.csv") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"metrics.csv: {e}") from None
    return config, summary, metrics


def read_flow(path: Path) -> dict:
    """gradient_flow.npz as {name: array} (no pickled objects), each array at most the evaluations ×
    length its folder's config implies, refused before decompression (trust.read_npz); ValueError when
    unusable."""
    path = Path(path)
    try:
        cfg = trust.config_of(read_config(path), path.name)
        flow = trust.read_npz(path / "gradient_flow.npz", trust.max_evals(cfg) * trust.max_len(cfg))
    except ValueError as e:
        raise ValueError(f"gradient_flow.npz: {e}") from None
    g, step = flow.get("grad_norm"), flow.get("step")
    if g is None or g.ndim != 2 or g.shape[0] == 0:
        raise ValueError(
            f"gradient_flow.npz: grad_norm has shape {getattr(g, 'shape', None)}, expected (evaluations, T)"
        )
    if step is None or step.shape != (g.shape[0],):
        raise ValueError("gradient_flow.npz: step does not give one step per evaluation")
    return flow
