"""A sweep's units of work and what a worker runs: shared by every executor (local pool, Dask), which
train Jobs — one run, or a PackJob of runs trained together as one batched model (pack.py) — and hand
each run's RunResult back to the sweep's process; that process alone writes final files."""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol, Union

from .config import Config, content_id, method_of
from .outputs import RunResult
from .runner import StopFlag, spec_in, train_in

OnDone = Callable[["Job", RunResult], None]
MAX_TRIES = 3  # a job whose worker process dies this often (OOM kill, segfault) is recorded as failed


@dataclass(frozen=True)
class Job:
    run_id: str
    label: str
    config: dict  # Config.to_dict() of the resolved config
    path: Path  # the run folder (outputs.run_dir)
    keys: dict  # swept key -> value, for display


@dataclass(frozen=True)
class PackJob:
    """Jobs whose runs train together as one pack (pack.Pack): one unit of work for an executor — one
    task, one worker — whose results go to on_done run by run, each to its own folder."""

    jobs: tuple[Job, ...]


Unit = Union[Job, PackJob]


def members(unit: Unit) -> tuple[Job, ...]:
    return unit.jobs if isinstance(unit, PackJob) else (unit,)


def work(unit: Unit, fn: Callable | None = None, pack_fn: Callable | None = None) -> tuple[Callable, tuple]:
    """What a worker is sent for a unit: (function, arguments). fn(config, path) trains a Job (default
    train_job), pack_fn(configs, paths) a PackJob (default train_pack_job)."""
    if isinstance(unit, PackJob):
        return pack_fn or train_pack_job, ([j.config for j in unit.jobs], [str(j.path) for j in unit.jobs])
    return fn or train_job, (unit.config, str(unit.path))


def deliver(unit: Unit, out: RunResult | list[RunResult], on_done: OnDone) -> list[RunResult]:
    """Hand what a worker returned for a unit to on_done, run by run; returns the results."""
    results = list(out) if isinstance(unit, PackJob) else [out]
    for job, res in zip(members(unit), results, strict=True):
        on_done(job, res)
    return results


class Executor(Protocol):
    def run(self, jobs: Iterable[Unit], on_done: OnDone) -> None:
        """Train `jobs` (pulled one at a time, as capacity frees up) and hand each run's result to on_done."""


class ExecutorError(Exception):
    """An executor that cannot be used here (unknown name, missing optional dependency): exit 2."""


# ------------------------------------------------------------------------------------------ the work
def train(cfg: Config, **kw) -> RunResult:  # train.py's, imported on first use (a dry run needs no torch)
    from .train import train as run

    return run(cfg, **kw)


def train_runs(specs: list, stop=None, **kw) -> list:
    from .train import train_runs as run

    return run(specs, stop, **kw)


def _spec(cfg: Config):
    from .train import RunSpec

    return RunSpec(cfg)


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
        with StopFlag(hard=False).installed() as stop:
            return train_in(cfg, Path(path), stop=stop, warn=warn)
    except Exception as e:
        return failed_result(config, e, time.perf_counter() - start)


def train_pack_job(configs: list[dict], paths: list[str | None]) -> list[RunResult]:
    """What a worker runs for a PackJob: train_job for runs trained together (train.train_runs packs
    them), one RunResult per run in order. A run that cannot start (a bad config, a folder it cannot
    write) or whose own work raises comes back `failed` alone; the others train on."""
    start = time.perf_counter()
    results: list[RunResult | None] = [None] * len(configs)
    specs, slots = [], []
    for i, (config, path) in enumerate(zip(configs, paths, strict=True)):
        try:
            cfg = Config.model_validate(config)
            visible = path is not None and Path(path).is_dir()
            specs.append(spec_in(cfg, Path(path), warn=warn) if visible else _spec(cfg))
            slots.append(i)
        except Exception as e:
            results[i] = failed_result(config, e, time.perf_counter() - start)
    if specs:
        try:
            with StopFlag(hard=False).installed() as stop:
                outs = train_runs(specs, stop)
        except Exception as e:  # the pack as a whole could not train (e.g. out of memory)
            outs = [e] * len(specs)
        for i, out in zip(slots, outs, strict=True):
            ok = isinstance(out, RunResult)
            results[i] = out if ok else failed_result(configs[i], out, time.perf_counter() - start)
    return results


def warn(msg: str) -> None:
    """A worker's warning (a checkpoint set aside): on its stderr, which a local pool shares with the sweep."""
    print(f"warning: {msg}", file=sys.stderr, flush=True)


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
