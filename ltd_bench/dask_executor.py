"""Run a sweep's jobs on a Dask cluster (issue #5): an existing one (`--scheduler tcp://HOST:PORT`) or a
LocalCluster started here. `distributed` is an optional extra: `pip install 'ltd-bench[dask]'`.

Workers need no shared file system: each runs `train_job(config)` and sends the RunResult (metrics,
summary, weights, gradient-flow arrays) back; the client calls `on_done`, which writes it exactly as the
local executor does. Faults:
- a worker that dies mid-run has its run retried on another worker. Dask's scheduler reschedules the
  tasks of lost workers itself, up to `distributed.scheduler.allowed-failures` deaths per task, then
  the future errors with KilledWorker. A LocalCluster is started with allowed-failures = max_tries - 1.
  An external scheduler keeps its own setting (the client cannot change it), so the deaths each
  KilledWorker reports are counted and the run is resubmitted under a fresh key while fewer than
  max_tries workers died. A run that keeps killing workers ends as a failed RunResult (error
  "KilledWorker: ...") and the rest of the sweep goes on;
- losing the scheduler stops the sweep with one RuntimeError line; finished runs are already written,
  and re-running the same command resumes;
- Ctrl-C cancels what is in flight, closes the client (and the LocalCluster) and re-raises.
See docs/cluster.md.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import threading
import time
import uuid
from collections import deque
from typing import Callable, Iterator

import dask
import distributed  # the optional extra: an ImportError here is what make_executor reports

from .executors import Job, default_workers, failed_result, train_job
from .train import RunResult

# Seconds to wait for the first worker of an external cluster (workers may still be queued by a batch system).
WORKER_WAIT_S = 300.0
CONNECT_TIMEOUT_S = 10.0
REFRESH_S = 2.0  # with nothing coming back, look for idle workers this often


class DaskExecutor:
    """Submit every job to Dask, call `on_done(job, result)` in this process as results arrive.

    scheduler: "tcp://HOST:PORT" of a running scheduler; None starts a LocalCluster on 127.0.0.1 with
    `workers` single-threaded worker processes (default: the number of cores). With a scheduler,
    `workers` (if given) caps how many runs are on the cluster at a time.
    max_tries: how many workers a run may take down before it is recorded as failed.
    fn: what a worker runs on `job.config` (default `executors.train_job`; tests swap it).
    """

    def __init__(
        self,
        scheduler: str | None = None,
        workers: int | None = None,
        max_tries: int = 3,
        fn: Callable[[dict], RunResult] | None = None,
        worker_wait_s: float = WORKER_WAIT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ):
        if max_tries < 1:
            raise ValueError("max_tries must be at least 1")
        if workers is not None and workers < 1:
            raise ValueError("workers must be at least 1")
        self.scheduler, self.workers, self.max_tries = scheduler, workers, max_tries
        self.fn, self.worker_wait_s, self.connect_timeout_s = fn, worker_wait_s, connect_timeout_s
        self.address: str | None = None  # the scheduler actually used (LocalCluster: its loopback address)

    # ------------------------------------------------------------------------------------------ run
    def run(self, jobs: list[Job], on_done: Callable[[Job, RunResult], None]) -> None:
        """A run is submitted only when a worker thread is idle, so runs never wait in a worker's queue:
        Dask charges a try to every task assigned to a worker that dies, queued or not, so this way a
        worker that dies takes down the run it was executing and (as a rule) no innocent run behind it.
        Workers that join later get work; ones that leave are not waited for."""
        if not jobs:
            return
        fn = self.fn or train_job
        token = uuid.uuid4().hex[:8]  # fresh keys per sweep: never share a task with another client
        with _quiet_client(), self._client() as client:
            if self.scheduler is not None:
                self._check_workers(client)
            todo = deque(jobs)
            deaths = {job.run_id: 0 for job in jobs}  # workers each run took down so far
            submitted = dict.fromkeys(deaths, 0)
            pending: dict = {}  # future -> job
            ready = distributed.as_completed(loop=client.loop)
            try:
                while todo or pending:
                    if todo:  # after each result, and every REFRESH_S while nothing comes back
                        n = min(self._idle_threads(client, pending), len(todo))
                        if self.scheduler is not None and self.workers:  # --workers caps runs at a time
                            n = min(n, self.workers - len(pending))
                        for _ in range(n):
                            job = todo.popleft()
                            submitted[job.run_id] += 1  # a fresh key per submission: never a cached result
                            fut = client.submit(
                                fn,
                                job.config,
                                pure=False,
                                retries=0,
                                key=f"ltd-train-{job.run_id}-{token}-{submitted[job.run_id]}",
                            )
                            pending[fut] = job
                            ready.add(fut)
                    for fut in self._next_batch(client, ready, REFRESH_S):
                        job = pending.pop(fut)
                        res = self._outcome(client, fut, job, deaths)
                        fut.release()
                        if res is None:
                            todo.appendleft(job)  # its turn again at once, ahead of runs not yet started
                        else:
                            on_done(job, res)
            except BaseException:
                # Ctrl-C, a lost scheduler, or on_done failing: drop what is in flight before closing.
                with contextlib.suppress(Exception):
                    if pending and client.status == "running":
                        client.cancel(list(pending))
                raise

    def _next_batch(self, client, ready, timeout: float) -> list:
        """Futures finished so far, waiting up to `timeout` s for one (Ctrl-C is seen within 50 ms).
        The client cancels its futures when it loses the scheduler, but a future submitted just after that
        would wait forever: a client that is no longer running means the scheduler is lost."""
        deadline = time.monotonic() + timeout
        while not ready.has_ready():
            if client.status != "running":
                raise self._lost("connection closed")
            if time.monotonic() >= deadline:
                return []
            time.sleep(0.05)
        return ready.next_batch(block=False)

    def _idle_threads(self, client, pending: dict) -> int:
        """Worker threads with nothing to do, less our runs the scheduler does not list yet (just sent).
        (Placing runs with worker restrictions instead would be exact, but a loose restriction to a worker
        that died can leave a recomputed task stuck in 'no-worker' for good.)"""
        if client.status != "running":
            raise self._lost("connection closed")
        try:
            nthreads, processing = client.nthreads(), client.processing()
        except (distributed.comm.CommClosedError, OSError, TimeoutError) as e:
            raise self._lost(e) from e
        listed = {k for keys in processing.values() for k in keys}
        unlisted = sum(1 for fut in pending if fut.key not in listed and fut.status == "pending")
        idle = sum(max(0, n - len(processing.get(w, ()))) for w, n in nthreads.items())
        return max(0, idle - unlisted)

    def _outcome(self, client, fut, job: Job, deaths: dict[str, int]) -> RunResult | None:
        """The run's result, a failed RunResult, or None (resubmit it). RuntimeError: lost the scheduler."""
        try:
            # If the worker holding a finished result died before we fetched it, the scheduler recomputes
            # it and this waits for that.
            return fut.result()
        except Exception as exc:
            if fut.status == "error":  # the task failed on the cluster
                if isinstance(exc, distributed.KilledWorker):
                    # the scheduler already tried it on allowed_failures + 1 workers, all of which died
                    deaths[job.run_id] += (getattr(exc, "allowed_failures", 0) or 0) + 1
                    if deaths[job.run_id] < self.max_tries:
                        return None  # an external scheduler with a smaller allowed-failures: try again
                    last = getattr(getattr(exc, "last_worker", None), "address", "?")
                    return failed_result(
                        job.config,
                        f"KilledWorker: {deaths[job.run_id]} worker(s) died "
                        "running it (killed, out of memory, or a crash); "
                        f"the last was {last}",
                    )
                return failed_result(job.config, f"{type(exc).__name__}: {exc}")
            # The client cancels every future when it loses the scheduler.
            if client.status != "running" or isinstance(
                exc, (distributed.comm.CommClosedError, OSError, TimeoutError)
            ):
                raise self._lost(exc) from exc
            if fut.status == "cancelled":
                return failed_result(job.config, "CancelledError: the run was cancelled on the cluster")
            return failed_result(job.config, f"{type(exc).__name__}: {exc}")  # e.g. a result won't unpickle

    def _lost(self, reason) -> RuntimeError:
        text = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
        text = re.sub(r"^in <[^>]*>: ", "", text)  # CommClosedError's "in <TCP (closed) ... remote=...>: "
        if isinstance(reason, BaseException):
            text = f"{type(reason).__name__}: {text}"
        return RuntimeError(
            f"lost the Dask scheduler at {self.address}: {text}; "
            "finished runs are kept, re-run the same command to resume"
        )

    # ---------------------------------------------------------------------------------- connection
    @contextlib.contextmanager
    def _client(self) -> Iterator[distributed.Client]:
        if self.scheduler is not None:
            self.address = self.scheduler
            try:
                client = distributed.Client(
                    self.scheduler, timeout=self.connect_timeout_s, set_as_default=False
                )
            except (OSError, TimeoutError) as e:
                raise RuntimeError(f"cannot reach the Dask scheduler at {self.scheduler}: {e}") from e
            try:
                yield client
            finally:
                _close(client)
            return
        # The scheduler of a LocalCluster lives in this process and reads allowed-failures when it starts.
        with dask.config.set({"distributed.scheduler.allowed-failures": self.max_tries - 1}):
            cluster = distributed.LocalCluster(
                n_workers=self.workers or default_workers(),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                scheduler_port=0,
                dashboard_address=None,
                silence_logs=logging.ERROR,
                # no dashboard, and its HTTP endpoint (health, metrics) on a free loopback port, not 8787
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                preload=[__name__],
            )  # workers run dask_setup below
        try:
            self.address = cluster.scheduler_address
            client = distributed.Client(cluster, set_as_default=False)
            try:
                yield client
            finally:
                _close(client)
        finally:
            with contextlib.suppress(Exception):
                cluster.close(timeout=10)

    def _check_workers(self, client) -> None:
        """Wait for a worker, then refuse workers whose environment would not give the same numbers."""
        try:
            client.wait_for_workers(1, timeout=self.worker_wait_s)
        except TimeoutError:
            raise RuntimeError(
                f"no Dask worker joined the scheduler at {self.scheduler} within "
                f"{self.worker_wait_s:.0f} s; start some with `dask worker {self.scheduler} "
                "--nthreads 1`"
            ) from None
        try:
            seen = client.run(_env_probe())
        except (distributed.comm.CommClosedError, OSError, TimeoutError) as e:
            raise self._lost(e) from e
        except Exception as e:
            raise RuntimeError(
                f"could not check the environment of the Dask workers at {self.scheduler}: "
                f"{type(e).__name__}: {e}"
            ) from e
        here = _env_probe()()
        for worker, env in sorted(seen.items()):
            problem = env.get("error") or ", ".join(
                f"{k} {env.get(k)} (here {v})" for k, v in here.items() if env.get(k) != v
            )
            if problem:
                raise RuntimeError(
                    f"Dask worker {worker} does not match this environment: {problem}; "
                    "workers need the same Python, torch and ltd-bench as the client"
                )


def dask_setup(worker) -> None:
    """Worker preload (LocalCluster): Ctrl-C in a terminal reaches every process of the group; the client
    handles it (cancels, closes the cluster), so the workers ignore it instead of dying with tracebacks."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _env_probe() -> Callable[[], dict]:
    """A function run on every worker. Built here so that cloudpickle ships it by value: it must work on a
    worker that cannot import ltd_bench, to say so."""

    def probe() -> dict:
        import platform as _p

        try:
            import ltd_bench
            import torch
        except Exception as e:
            return {"error": f"cannot import ltd_bench/torch ({type(e).__name__}: {e})"}
        return {
            "python": ".".join(_p.python_version_tuple()[:2]),
            "torch": torch.__version__,
            "ltd_bench": ltd_bench.__version__,
        }

    return probe


def _close(client) -> None:
    with contextlib.suppress(Exception):
        client.close(timeout=5)


@contextlib.contextmanager
def _quiet_client() -> Iterator[None]:
    """No log lines from the client itself: after a lost scheduler it logs its reconnect attempts and the
    tasks it abandons as ERRORs with tracebacks, while the sweep says what happened in one line."""
    log = logging.getLogger("distributed.client")
    disabled, log.disabled = log.disabled, True
    try:
        yield
    finally:
        log.disabled = disabled


__all__ = ["DaskExecutor"]
