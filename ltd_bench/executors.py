"""Where a sweep's runs execute. An executor trains jobs and hands each RunResult back to the parent,
which alone writes run folders (so a killed worker never leaves a folder a resume would trust).

`LocalExecutor` is a process pool on this machine; `DaskExecutor` (dask_executor.py) has the same `run`.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import signal
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import torch

from .config import Config
from .runner import finish
from .train import RunResult, method_of, train

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
    def run(self, jobs: list[Job], on_done: OnDone) -> None: ...


class ExecutorError(Exception):
    """An executor that cannot be used here (unknown name, missing optional dependency): exit 2."""


# ------------------------------------------------------------------------------------------ the work
def train_job(config: dict) -> RunResult:
    """What a worker runs. One torch thread, so results do not depend on how many run side by side.
    Never raises an Exception: a crash comes back as a `failed` RunResult naming the error."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        res = train(Config.model_validate(config))
        finish(res)
        return res
    except Exception as e:
        return failed_result(config, e, time.perf_counter() - start)


def failed_result(config: dict, error: BaseException | str, wall_time_s: float = 0.0) -> RunResult:
    try:
        cfg = Config.model_validate(config)
        run_id, name, method = cfg.run_id, cfg.name, method_of(cfg)
    except Exception:
        run_id = hashlib.sha256(
            json.dumps(config, sort_keys=True, separators=(",", ":"), default=str).encode()
        ).hexdigest()[:12]
        name, method = config.get("name"), config.get("method")
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


# ---------------------------------------------------------------------------------------- local pool
def _worker_init() -> None:
    """Pool workers leave Ctrl-C to the parent, which stops them all at once (no half-written results)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)


def _context() -> mp.context.BaseContext:
    """forkserver: workers fork from a clean server that has imported torch once (fast starts, no torch
    thread pools copied by fork); spawn where forkserver does not exist. torch._dynamo too: torch.optim
    imports it on the first optimizer, ~2 s of CPU that every worker would otherwise pay again."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["ltd_bench.executors", "torch._dynamo"])
        return ctx
    return mp.get_context("spawn")


class LocalExecutor:
    def __init__(self, workers: int, fn: Callable[[dict], RunResult] = train_job, max_tries: int = MAX_TRIES):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers, self.fn, self.max_tries = workers, fn, max_tries  # fn: a top-level function (pickled)

    def run(self, jobs: list[Job], on_done: OnDone) -> None:
        if self.workers == 1 or len(jobs) <= 1:
            self._run_here(jobs, on_done)
        else:
            self._run_pool(list(jobs), on_done)

    def _run_here(self, jobs: list[Job], on_done: OnDone) -> None:
        """One worker: in this process (no start-up cost; Ctrl-C reaches train() directly)."""
        threads = torch.get_num_threads()
        try:
            for job in jobs:
                res = self.fn(job.config)
                on_done(job, res)
                if res.summary.get("status") == "interrupted":  # train() swallowed Ctrl-C: stop the sweep
                    raise KeyboardInterrupt
        finally:
            torch.set_num_threads(threads)

    def _run_pool(self, todo: list[Job], on_done: OnDone) -> None:
        """At most `workers` jobs in flight, so the suspects are known when a worker dies. A lone suspect
        is charged a try; several are each rerun alone (uncharged) until the culprit is clear."""
        tries = {j.run_id: 0 for j in todo}
        solo: list[Job] = []  # suspects of a dead worker: run one at a time
        todo.reverse()  # pop() from the end keeps the sweep's order
        while todo or solo:
            pool = ProcessPoolExecutor(self.workers, mp_context=_context(), initializer=_worker_init)
            running: dict[Future, Job] = {}
            try:
                while todo or solo or running:
                    queue = solo if solo else todo
                    while queue and len(running) < (1 if solo else self.workers):
                        job = queue.pop()
                        running[pool.submit(self.fn, job.config)] = job
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        res = fut.result()  # BrokenProcessPool leaves the job in `running`
                        on_done(running.pop(fut), res)
            except BrokenProcessPool as e:
                lost = [job for fut, job in running.items() if not _deliver(fut, job, on_done)]
                if len(lost) == 1:
                    job = lost[0]
                    tries[job.run_id] += 1
                    if tries[job.run_id] < self.max_tries:
                        solo.append(job)
                    else:
                        on_done(
                            job,
                            failed_result(
                                job.config,
                                f"worker process died {tries[job.run_id]} times "
                                f"(killed, out of memory?): {e}",
                            ),
                        )
                else:
                    solo.extend(lost)
                _stop(pool)
            except BaseException:  # Ctrl-C, SIGTERM, or an on_done error: stop the workers now, not later
                _stop(pool)
                raise
            else:
                pool.shutdown(wait=True)


def _deliver(fut: Future, job: Job, on_done: OnDone) -> bool:
    """Hand over a result that finished just before the pool broke; False if it was lost with the pool."""
    if fut.done() and not fut.cancelled() and fut.exception() is None:
        on_done(job, fut.result())
        return True
    return False


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and kill the workers (SIGKILL: they ignore SIGINT by design)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        if p.is_alive():
            p.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.join(timeout=5)


# ------------------------------------------------------------------------------------------ factory
def default_workers() -> int:
    """The cores this process may use (affinity/cgroup-aware where the OS says), else os.cpu_count()."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def make_executor(name: str, workers: int | None, scheduler: str | None) -> Executor:
    if name == "local":
        if scheduler:
            raise ExecutorError("--scheduler needs --executor dask")
        return LocalExecutor(workers or default_workers())
    if name == "dask":
        try:
            from .dask_executor import DaskExecutor
        except ImportError as e:
            if (e.name or "").split(".")[0] in {"distributed", "dask"}:
                raise ExecutorError(
                    "the dask executor needs distributed: pip install 'ltd-bench[dask]'"
                ) from None
            raise ExecutorError(f"the dask executor is not available: {e}") from None
        return DaskExecutor(scheduler, workers, max_tries=MAX_TRIES)
    from .registry import did_you_mean

    raise ExecutorError(
        f"--executor: unknown executor {name!r}{did_you_mean(name, ['local', 'dask'])} (allowed: local, dask)"
    )
