"""Run a sweep's jobs on a Dask cluster: an existing one (`--scheduler tls://HOST:PORT` or `tcp://`) or a
LocalCluster started here. `distributed` is an optional extra: `pip install -e '.[dask]'` in a checkout.

A `tls://` scheduler is reached with Dask's own security settings (distributed.security.Security, see
https://distributed.dask.org/en/stable/tls.html): a CA file, this client's certificate and its key, from
`--tls-ca-file/--tls-cert/--tls-key` or from the Dask config (`distributed.comm.tls.ca-file`,
`distributed.comm.tls.client.cert`, `distributed.comm.tls.client.key`). `client_security` checks them
before anything is sent, so a missing file or a key that does not fit is a usage error naming the flag.

Workers need no shared file system: each runs `train_job(config, run folder)` and sends the RunResult
(metrics, summary, weights, gradient-flow arrays) back; the client calls `on_done`, which writes it
exactly as the local executor does. Where the worker sees the run folder (a shared file system, or a
LocalCluster), the run also appends its metrics there and checkpoints as it trains, so a run whose
worker dies continues from its checkpoint; elsewhere it starts again from zero. Faults:
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
import ssl
import sys
import threading
import time
import uuid
from collections import Counter, deque
from pathlib import Path
from typing import Callable, Iterable, Iterator

import dask
import distributed  # the optional extra: an ImportError here is what make_executor reports

from .jobs import ExecutorError, Job, PackJob, Unit, default_workers, deliver, failed_result, members, work
from .outputs import RunResult

# Seconds to wait for the first worker of an external cluster (workers may still be queued by a batch system);
# `ltd-bench sweep --worker-wait SECONDS` changes it.
WORKER_WAIT_S = 300.0
CONNECT_TIMEOUT_S = 10.0
REFRESH_S = 2.0  # with nothing coming back, look for idle workers this often


class DaskExecutor:
    """Submit every job to Dask, call `on_done(job, result)` in this process as results arrive.

    scheduler: "tcp://HOST:PORT" of a running scheduler; None starts a LocalCluster on 127.0.0.1 with
    `workers` single-threaded worker processes (default: the number of cores). With a scheduler,
    `workers` (if given) caps how many runs are on the cluster at a time.
    max_tries: how many workers a run may take down before it is recorded as failed.
    fn: what a worker runs on `job.config, str(job.path)` (default `jobs.train_job`; tests swap it);
    pack_fn: what it runs for a PackJob, on its configs and paths (default `jobs.train_pack_job`). A
    PackJob is one task; if its worker dies, its runs are resubmitted one by one (uncharged: any of
    them may be the culprit).
    security: a distributed.security.Security for a tls:// scheduler (see `client_security`); None: Dask's
    default, read from the Dask config.
    worker_wait_s: how long to wait for a first worker of an external cluster.
    notify: where the one-line notices go (waiting for workers); default: stderr.
    """

    def __init__(
        self,
        scheduler: str | None = None,
        workers: int | None = None,
        max_tries: int = 3,
        fn: Callable[[dict, str], RunResult] | None = None,
        worker_wait_s: float = WORKER_WAIT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        security: distributed.security.Security | None = None,
        notify: Callable[[str], None] | None = None,
        pack_fn: Callable[[list[dict], list[str]], list[RunResult]] | None = None,
    ):
        if max_tries < 1:
            raise ValueError("max_tries must be at least 1")
        if workers is not None and workers < 1:
            raise ValueError("workers must be at least 1")
        if worker_wait_s < 0:
            raise ValueError("worker_wait_s must be >= 0")
        self.scheduler, self.workers, self.max_tries = scheduler, workers, max_tries
        self.fn, self.worker_wait_s, self.connect_timeout_s = fn, worker_wait_s, connect_timeout_s
        self.pack_fn = pack_fn
        self.security = security
        self.notify = notify or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.address: str | None = None  # the scheduler actually used (LocalCluster: its loopback address)

    # ------------------------------------------------------------------------------------------ run
    def run(self, jobs: Iterable[Unit], on_done: Callable[[Job, RunResult], None]) -> None:
        """A run is submitted only when a worker thread is idle, so runs never wait in a worker's queue:
        Dask charges a try to every task assigned to a worker that dies, queued or not, so this way a
        worker that dies takes down the run it was executing and (as a rule) no innocent run behind it.
        Workers that join later get work; ones that leave are not waited for. `jobs` is pulled one at a
        time, as a worker thread becomes idle (the sweep claims each run as it hands it over)."""
        source = iter(jobs)
        first = next(source, None)
        if first is None:
            return
        token = uuid.uuid4().hex[:8]  # fresh keys per sweep: never share a task with another client
        with _quiet_client(), self._client() as client:
            if self.scheduler is not None:
                self._check_workers(client)
            todo = deque([first])  # pulled, not on the cluster: resubmissions go first
            more = True  # `source` may have more
            deaths: Counter[str] = Counter()  # workers each run took down so far
            submitted: Counter[str] = Counter()
            pending: dict = {}  # future -> job
            ready = distributed.as_completed(loop=client.loop)
            try:
                while todo or pending or more:
                    if todo or more:  # after each result, and every REFRESH_S while nothing comes back
                        n = self._idle_threads(client, pending)
                        if self.scheduler is not None and self.workers:  # --workers caps runs at a time
                            n = min(n, self.workers - len(pending))
                        for _ in range(n):
                            if not todo:
                                job = next(source, None) if more else None
                                if job is None:
                                    more = False
                                    break
                                todo.append(job)
                            job = todo.popleft()
                            name = _name(job)
                            submitted[name] += 1  # a fresh key per submission: never a cached result
                            fn, args = work(job, self.fn, self.pack_fn)
                            fut = client.submit(
                                fn,
                                *args,
                                pure=False,
                                retries=0,
                                key=f"ltd-train-{name}-{token}-{submitted[name]}",
                            )
                            pending[fut] = job
                            ready.add(fut)
                    for fut in self._next_batch(client, ready, REFRESH_S):
                        job = pending.pop(fut)
                        res = self._outcome(client, fut, job, deaths)
                        fut.release()
                        if res is None:  # its turn again at once, ahead of runs not yet started
                            todo.extendleft(reversed(members(job)))  # a pack's runs one by one
                        else:
                            deliver(job, res, on_done)
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

    def _outcome(self, client, fut, job: Unit, deaths: dict[str, int]) -> RunResult | list[RunResult] | None:
        """The unit's result (a pack's: one per run), failed RunResults, or None (resubmit it; a pack's runs
        one by one). RuntimeError: lost the scheduler."""
        if isinstance(job, PackJob):
            try:
                return fut.result()
            except Exception as exc:
                if fut.status == "error" and isinstance(exc, distributed.KilledWorker):
                    return None  # several suspects: each run alone, uncharged
                lost = client.status != "running" or isinstance(
                    exc, (distributed.comm.CommClosedError, OSError, TimeoutError)
                )
                if fut.status != "error" and lost:
                    raise self._lost(exc) from exc
                return [failed_result(j.config, f"{type(exc).__name__}: {exc}") for j in job.jobs]
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
            kwargs = {} if self.security is None else {"security": self.security}
            try:
                client = distributed.Client(
                    self.scheduler, timeout=self.connect_timeout_s, set_as_default=False, **kwargs
                )
            except (OSError, TimeoutError) as e:
                raise RuntimeError(self._unreachable(e)) from e
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

    def _unreachable(self, e: BaseException) -> str:
        """One line for a failed connection: a TLS handshake the scheduler (or this client) refused, or a
        scheduler that is not there."""
        text = re.sub(r"^in <[^>]*>: ", "", str(e).strip().splitlines()[0] if str(e).strip() else "")
        text = text or type(e).__name__
        if isinstance(e, distributed.comm.core.FatalCommClosedError) or "SSL" in text:
            return (
                f"the TLS handshake with the Dask scheduler at {self.scheduler} failed: {text}; the "
                "scheduler, its workers and this client need certificates signed by one CA "
                "(--tls-ca-file, --tls-cert, --tls-key)"
            )
        hint = ""
        if isinstance(e, distributed.comm.CommClosedError) and not self.scheduler.startswith("tls://"):
            hint = " (a scheduler started with TLS is reached at tls://HOST:PORT)"
        return f"cannot reach the Dask scheduler at {self.scheduler}: {text}{hint}"

    def _start_worker_hint(self) -> str:
        tls = " --tls-ca-file CA --tls-cert CERT --tls-key KEY" if self.scheduler.startswith("tls://") else ""
        return f"`dask worker {self.scheduler} --nthreads 1{tls}`"

    def _check_workers(self, client) -> None:
        """Wait for a worker (saying so), then refuse workers whose environment would not give the same
        numbers. The sweep starts on the first worker; more may join at any time."""
        try:
            present = len(client.nthreads())
        except (distributed.comm.CommClosedError, OSError, TimeoutError) as e:
            raise self._lost(e) from e
        if not present and self.worker_wait_s <= 0:
            raise RuntimeError(
                f"no Dask worker at {self.scheduler} and --worker-wait is 0; start some with "
                f"{self._start_worker_hint()}"
            )
        if not present:
            self.notify(
                f"no Dask worker at {self.scheduler} yet: waiting up to {self.worker_wait_s:g} s for 1 to "
                f"join (--worker-wait); start workers with {self._start_worker_hint()}"
            )
        try:
            client.wait_for_workers(1, timeout=self.worker_wait_s)
        except TimeoutError:
            raise RuntimeError(
                f"no Dask worker joined the scheduler at {self.scheduler} within "
                f"{self.worker_wait_s:g} s; start some with {self._start_worker_hint()} "
                "(or wait longer: --worker-wait SECONDS)"
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


def _name(unit: Unit) -> str:
    """A unit's part of its task keys: the run id, or a pack's first run id and size."""
    return f"{unit.jobs[0].run_id}-pack{len(unit.jobs)}" if isinstance(unit, PackJob) else unit.run_id


# ------------------------------------------------------------------------------------------- security
# (Security field, flag, Dask config key) of what a client needs to reach a tls:// scheduler.
_TLS = (
    ("tls_ca_file", "--tls-ca-file", "distributed.comm.tls.ca-file"),
    ("tls_client_cert", "--tls-cert", "distributed.comm.tls.client.cert"),
    ("tls_client_key", "--tls-key", "distributed.comm.tls.client.key"),
)


class _EncryptedKey(Exception):
    pass


def client_security(
    scheduler: str | None,
    ca_file: str | Path | None = None,
    cert: str | Path | None = None,
    key: str | Path | None = None,
) -> distributed.security.Security | None:
    """The client's Security for `scheduler`, from the flags and, for what they leave out, the Dask config
    (a config file or DASK_DISTRIBUTED__COMM__TLS__* variables). None for a tcp:// scheduler or the
    LocalCluster. Everything is checked here, before any connection, as a one-line ExecutorError naming
    the flag (or the config key): the flags need a tls:// scheduler, a tls:// scheduler needs a CA file and
    a certificate with its key, files must exist and load, and the key must not need a passphrase (Dask
    has no way to give one; OpenSSL would prompt on the terminal)."""
    given = {flag: v for (_, flag, _), v in zip(_TLS, (ca_file, cert, key), strict=True) if v is not None}
    tls = scheduler is not None and scheduler.startswith("tls://")
    if given and not tls:
        flag = next(iter(given))
        got = (
            f"--scheduler is {scheduler}"
            if scheduler
            else "without --scheduler: a LocalCluster, plain tcp on 127.0.0.1"
        )
        raise ExecutorError(f"{flag} needs a tls:// --scheduler ({got})")
    if not tls:
        return None
    for flag, v in given.items():
        if str(v) == "":
            raise ExecutorError(f"{flag}: empty path")
    flags = {field: flag for field, flag, _ in _TLS}
    config_keys = {field: key for field, _, key in _TLS}
    try:
        sec = distributed.security.Security(
            require_encryption=True,
            **{field: str(v) for (field, _, _), v in zip(_TLS, (ca_file, cert, key), strict=True) if v},
        )
    except (ValueError, TypeError) as e:  # e.g. a bad distributed.comm.tls.min-version in the Dask config
        raise ExecutorError(f"Dask security settings: {e}") from None

    def origin(field: str) -> str:
        """Where a setting came from, to name in a message: the flag, or the Dask config key."""
        return flags[field] if flags[field] in given else f"{config_keys[field]} (Dask config)"

    ca, crt, k = sec.tls_ca_file, sec.tls_client_cert, sec.tls_client_key
    where = f"--scheduler {scheduler}"
    if not ca:
        raise ExecutorError(
            f"{where} needs the cluster's CA certificate: give --tls-ca-file, or set "
            "distributed.comm.tls.ca-file in the Dask config"
        )
    if not crt:
        if "--tls-key" in given:
            raise ExecutorError("--tls-key needs --tls-cert (the certificate that key belongs to)")
        raise ExecutorError(
            f"{where} needs this client's certificate and key: give --tls-cert and --tls-key, or set "
            "distributed.comm.tls.client.cert and distributed.comm.tls.client.key in the Dask config"
        )
    for field, value in (("tls_ca_file", ca), ("tls_client_cert", crt), ("tls_client_key", k)):
        if value and "\n" not in value:  # a path (Dask also takes the PEM text itself)
            _readable(origin(field), Path(value))
    if not k and "\n" not in crt and "PRIVATE KEY" not in Path(crt).read_text(errors="replace"):
        raise ExecutorError(
            f"{origin('tls_client_cert')} {crt} holds no private key: give --tls-key (or append the key to "
            "the certificate file)"
        )
    if "\n" in ca or "\n" in crt or (k and "\n" in k):
        return sec  # in-memory PEM text (Security.temporary()): loaded by Dask itself
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    except (ssl.SSLError, OSError) as e:
        raise ExecutorError(
            f"{origin('tls_ca_file')} {ca}: not a PEM CA certificate ({_ssl_text(e)})"
        ) from None

    def no_passphrase() -> bytes:
        raise _EncryptedKey

    try:
        ctx.load_cert_chain(crt, k or None, password=no_passphrase)
    except _EncryptedKey:
        raise ExecutorError(
            f"{origin('tls_client_key' if k else 'tls_client_cert')} {k or crt}: the key is encrypted with a "
            "passphrase, which Dask cannot give; write it unencrypted (`openssl pkey -in KEY -out KEY2`) "
            "and keep the file private"
        ) from None
    except (ssl.SSLError, OSError) as e:
        pair = f"{origin('tls_client_cert')} {crt}" + (f" with {origin('tls_client_key')} {k}" if k else "")
        if getattr(e, "reason", None) == "KEY_VALUES_MISMATCH":
            raise ExecutorError(f"{pair}: the key does not belong to the certificate") from None
        raise ExecutorError(f"{pair}: not a PEM certificate and its private key ({_ssl_text(e)})") from None
    return sec


def _readable(name: str, path: Path) -> None:
    try:
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise ExecutorError(f"{name}: no such file: {path}") from None
    except IsADirectoryError:
        raise ExecutorError(f"{name}: {path} is a directory, not a file") from None
    except OSError as e:
        raise ExecutorError(f"{name}: cannot read {path}: {e.strerror or e}") from None


def _ssl_text(e: BaseException) -> str:
    return getattr(e, "reason", None) or str(e).strip() or type(e).__name__


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


__all__ = ["DaskExecutor", "client_security"]
