"""A sweep's unit of work and what a worker runs: shared by every executor (local pool, Dask), which
train Jobs and hand each RunResult back to the sweep's process; that process alone writes final files."""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol

from .config import Config, content_id
from .outputs import RunResult
from .runner import StopFlag, train_in
from .train import method_of, train

OnDone = Callable[["Job", RunResult], None]
MAX_TRIES = 3  # a job whose worker process dies this often (OOM kill, segfault) is recorded as failed


@dataclass(frozen=True)
class Job:
    run_id: str
    label: str
    config: dict  # Config.to_dict() of the resolved config
    path: Path  # the run folder (outputs.run_dir)
    keys: dict  # swept key -> value, for display


class Executor(Protocol):
    def run(self, jobs: Iterable[Job], on_done: OnDone) -> None:
        """Train `jobs` (pulled one at a time, as capacity frees up) and hand each result to on_done."""


class ExecutorError(Exception):
    """An executor that cannot be used here (unknown name, missing optional dependency): exit 2."""


# ------------------------------------------------------------------------------------------ the work
def train_job(config: dict, path: str | None = None) -> RunResult:
    """What a worker runs: the run, continued from the checkpoint in its folder `path` if there is one
    (checkpoints and metrics rows are written there as it trains; the final files are the parent's).
    Where this process cannot see the folder, it trains without checkpoints.
    SIGINT/SIGTERM make it checkpoint and return `interrupted` at the next step. Never raises an
    Exception: a crash comes back as a `failed` RunResult naming the error."""
    start = time.perf_counter()
    try:
        cfg = Config.model_validate(config)
        if path is None or not Path(path).is_dir():  # e.g. a Dask worker without the shared file system
            return train(cfg)
        with StopFlag().installed() as stop:
            return train_in(cfg, Path(path), stop=stop)
    except Exception as e:
        return failed_result(config, e, time.perf_counter() - start)


def failed_result(config: dict, error: BaseException | str, wall_time_s: float = 0.0) -> RunResult:
    try:
        cfg = Config.model_validate(config)
        run_id, name, method = cfg.run_id, cfg.name, method_of(cfg)
    except Exception:
        run_id, name, method = content_id(config), config.get("name"), config.get("method")
    if isinstance(error, BaseException):
        tb = "".join(traceback.format_exception(error)[-6:])  # the innermost frames: where it broke
        error = f"{type(error).__name__}: {error}"
    else:
        tb = None
    summary = {
        "status": "failed",
        "error": error,
        "traceback": tb,
        "run_id": run_id,
        "name": name,
        "method": method,
        "steps": 0,
        "wall_time_s": round(wall_time_s, 3),
    }
    return RunResult(config=config, run_id=run_id, summary=summary)


def default_workers() -> int:
    """The cores this process may use (affinity/cgroup-aware where the OS says), else os.cpu_count()."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1
