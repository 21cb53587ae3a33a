"""Where a sweep's runs execute: `LocalExecutor`, this process or a process pool on this machine, and
`make_executor`, which also builds the `DaskExecutor` (dask_executor.py). Both train jobs.Job's and hand
each RunResult back to the sweep's process, which alone writes final files (so a killed worker never
leaves a folder a resume would trust)."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable, Iterator

from .jobs import (
    MAX_TRIES,
    ExecutorError,
    Executor,
    Job,
    OnDone,
    Unit,
    default_workers,
    deliver,
    failed_result,
    members,
    train_job,
    train_pack_job,
    work,
)
from .outputs import RunResult
from .runner import signals_deferred

STOP_GRACE_S = 30  # after Ctrl-C, how long workers get to checkpoint and hand back (a step + an evaluation)
WATCHDOG_S = 0.5  # how often a pool worker checks that the sweep that started it is still alive


# ---------------------------------------------------------------------------------------- local pool
def _worker_init(parent: int) -> None:
    """One torch thread per worker, so results do not depend on how many run side by side. A watchdog
    ends the worker when the sweep that started it is gone (killed with -9, say): no orphans. Ctrl-C is
    and SIGTERM are ignored between jobs (a job's StopFlag handles them while it trains): a signal sent
    twice to the whole process group must not end a worker that is handing back its interrupted runs. The
    sweep ends idle workers itself (shutdown, or SIGKILL after a wind-down)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_S)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass

    threading.Thread(target=watch, daemon=True, name="ltd-bench-watchdog").start()


def _context() -> mp.context.BaseContext:
    """forkserver: workers fork from a clean server that has imported torch once (fast starts, no torch
    thread pools copied by fork); spawn where forkserver does not exist. torch._dynamo too: torch.optim
    imports it on the first optimizer, ~2 s of CPU that every worker would otherwise pay again. The
    server ignores SIGTERM (forkserver_signals): a signal to the whole process group would otherwise
    end it, and the pool with it, before the workers could checkpoint."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        preload = ["ltd_bench.forkserver_signals", "ltd_bench.jobs", "ltd_bench.train", "torch._dynamo"]
        ctx.set_forkserver_preload(preload)
        return ctx
    return mp.get_context("spawn")


class LocalExecutor:
    """Runs jobs on this machine: in this process with one worker, else in a process pool. A PackJob is
    one unit of work (one worker trains its runs together). Ctrl-C asks every running job to checkpoint
    and hand back an `interrupted` result (a second one kills at once)."""

    def __init__(
        self,
        workers: int,
        fn: Callable[[dict, str | None], RunResult] = train_job,
        max_tries: int = MAX_TRIES,
        pack_fn: Callable[[list[dict], list[str | None]], list[RunResult]] = train_pack_job,
    ):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        # fn, pack_fn: top-level functions (pickled), for a Job and a PackJob (jobs.work)
        self.workers, self.fn, self.max_tries, self.pack_fn = workers, fn, max_tries, pack_fn

    def run(self, jobs: Iterable[Unit], on_done: OnDone) -> None:
        if self.workers == 1:
            self._run_here(iter(jobs), on_done)
        else:
            self._run_pool(iter(jobs), on_done)

    def _run_here(self, jobs: Iterator[Unit], on_done: OnDone) -> None:
        """One worker: in this process (no start-up cost; the signals reach train() directly)."""
        for unit in jobs:
            fn, args = work(unit, self.fn, self.pack_fn)
            results = deliver(unit, fn(*args), on_done)
            if any(r.summary.get("status") == "interrupted" for r in results):  # Ctrl-C: stop the sweep
                raise KeyboardInterrupt

    def _run_pool(self, todo: Iterator[Unit], on_done: OnDone) -> None:
        """At most `workers` units in flight, so the suspects are known when a worker dies. A lone
        suspect run is charged a try; several (a pack's runs count as several) are each rerun alone
        (uncharged) until the culprit is clear."""
        tries: dict[str, int] = {}
        solo: list[Job] = []  # suspects of a dead worker: run one at a time
        pending = next(todo, None)
        while pending or solo:
            pool = ProcessPoolExecutor(
                self.workers, mp_context=_context(), initializer=_worker_init, initargs=(os.getpid(),)
            )
            running: dict[Future, Unit] = {}
            try:
                while pending or solo or running:
                    while (solo or pending) and len(running) < (1 if solo else self.workers):
                        if solo:
                            unit = solo.pop()
                        else:
                            unit, pending = pending, next(todo, None)
                        fn, args = work(unit, self.fn, self.pack_fn)
                        running[pool.submit(fn, *args)] = unit
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        out = fut.result()  # BrokenProcessPool leaves the unit in `running`
                        deliver(running.pop(fut), out, on_done)
            except BrokenProcessPool as e:
                lost_units = [u for fut, u in running.items() if not _deliver(fut, u, on_done)]
                lost = [job for u in lost_units for job in members(u)]
                if len(lost) == 1:
                    job = lost[0]
                    tries[job.run_id] = tries.get(job.run_id, 0) + 1
                    if tries[job.run_id] < self.max_tries:
                        solo.append(job)
                    else:
                        why = f"worker process died {tries[job.run_id]} times (killed, out of memory?): {e}"
                        on_done(job, failed_result(job.config, why))
                else:
                    solo.extend(lost)
                _stop(pool)
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the running jobs checkpoint and hand back
                try:
                    _wind_down(pool, running, on_done)
                finally:
                    _stop(pool)
                raise
            except BaseException:  # an on_done error: stop the workers now, not later
                _stop(pool)
                raise
            else:
                pool.shutdown(wait=True)


def _wind_down(pool: ProcessPoolExecutor, running: dict[Future, Unit], on_done: OnDone) -> None:
    """Ask every worker to stop (SIGTERM: each checkpoints at its next step and returns `interrupted`;
    a terminal's Ctrl-C reached them already), then deliver what comes back within STOP_GRACE_S. A
    further signal meanwhile (Ctrl-C twice, a scheduler's second SIGTERM) waits: it would lose them."""
    with contextlib.suppress(KeyboardInterrupt), signals_deferred():
        for p in list((getattr(pool, "_processes", None) or {}).values()):
            if p.is_alive():
                with contextlib.suppress(OSError):
                    os.kill(p.pid, signal.SIGTERM)
        done, _ = wait(running, timeout=STOP_GRACE_S)
        for fut in done:
            _deliver(fut, running[fut], on_done)


def _deliver(fut: Future, unit: Unit, on_done: OnDone) -> bool:
    """Hand over a result that finished just before the pool broke; False if it was lost with the pool."""
    if fut.done() and not fut.cancelled() and fut.exception() is None:
        deliver(unit, fut.result(), on_done)
        return True
    return False


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and kill the workers (SIGKILL: no waiting for a step to end)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        if p.is_alive():
            p.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.join(timeout=5)


# ------------------------------------------------------------------------------------------ factory
def make_executor(
    name: str,
    workers: int | None,
    scheduler: str | None,
    *,
    tls_ca_file: str | os.PathLike | None = None,
    tls_cert: str | os.PathLike | None = None,
    tls_key: str | os.PathLike | None = None,
    worker_wait_s: float | None = None,
    notify: Callable[[str], None] | None = None,
) -> Executor:
    """The executor `ltd-bench sweep` asked for, its options checked (ExecutorError: a one-line usage error).
    Builds nothing that runs or connects, so a dry run checks the same options as a real one. The Dask
    options: the client's TLS files for a tls:// scheduler (default: the Dask config), how long to wait for
    a first worker of an external scheduler, and where its notices go."""
    dask_only = {
        "--scheduler": scheduler,
        "--tls-ca-file": tls_ca_file,
        "--tls-cert": tls_cert,
        "--tls-key": tls_key,
        "--worker-wait": worker_wait_s,
    }
    if name == "local":
        for flag, value in dask_only.items():
            if value is not None:
                raise ExecutorError(f"{flag} needs --executor dask")
        return LocalExecutor(workers or default_workers())
    if name == "dask":
        try:
            from .dask_executor import WORKER_WAIT_S, DaskExecutor, client_security
        except ImportError as e:
            if (e.name or "").split(".")[0] in {"distributed", "dask"}:
                raise ExecutorError(
                    "the dask executor needs distributed: pip install -e '.[dask]' (in a checkout) or pip install distributed"
                ) from None
            raise ExecutorError(f"the dask executor is not available: {e}") from None
        if worker_wait_s is not None and not scheduler:
            raise ExecutorError("--worker-wait needs --scheduler (a LocalCluster starts its own workers)")
        if worker_wait_s is not None and not worker_wait_s >= 0:
            raise ExecutorError(f"--worker-wait: {worker_wait_s} is not a number of seconds >= 0")
        security = client_security(scheduler or None, tls_ca_file, tls_cert, tls_key)
        return DaskExecutor(
            scheduler or None,
            workers,
            max_tries=MAX_TRIES,
            security=security,
            worker_wait_s=WORKER_WAIT_S if worker_wait_s is None else worker_wait_s,
            notify=notify,
        )
    from .registry import did_you_mean

    raise ExecutorError(
        f"--executor: unknown executor {name!r}{did_you_mean(name, ['local', 'dask'])} (allowed: local, dask)"
    )
