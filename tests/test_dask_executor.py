"""The Dask executor against real processes on loopback (127.0.0.1 only): an external `dask scheduler`
with two `dask worker`s, a LocalCluster, a worker SIGKILLed mid-run, a run that keeps killing its workers,
a lost scheduler, a TLS cluster set up as docs/cluster.md says (certificates from its OpenSSL commands),
and the `ltd-bench sweep --executor dask` command line. Every run must give exactly the numbers (metrics,
summary, weights, gradient flow) of the same run trained in this process.

Every process started here gets its own session (process group); fixtures SIGKILL each group in a finally.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from subprocs import INTERRUPTIBLE

from ltd_bench.dask_executor import DaskExecutor, _env_probe
from ltd_bench.executors import make_executor
from ltd_bench.jobs import Job, train_job
from ltd_bench.sweep import load_sweep

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
DASK = str(BIN / "dask")
HOST = "127.0.0.1"  # loopback only
ROOT = Path(__file__).resolve().parents[1]

# 3 methods x 3 seeds = 9 runs of ~0.1-0.3 s each once torch is warm (a fresh worker's first run: ~2-3 s)
SWEEP = """\
name: dasksweep
base:
  task: {name: temporal_order, seq_len: 10, test_size: 50}
  model: {hidden_size: 8, init: smart_tanh}
  train: {steps: 40, eval_every: 20}
methods:
  rnn: {}
  rnn+clip: {clipping.mode: norm}
  rnn+clip+Ω: {clipping.mode: norm, regularizer.omega_weight: 2.0}
grid:
  seed: [0, 1, 2]
"""


# ------------------------------------------------------------------------------------- runs and results
def _same(v):
    return "nan" if isinstance(v, float) and math.isnan(v) else v  # NaN != NaN, yet the same result


def comparable(res) -> tuple:
    """Everything a run produced but its timings, in a form that compares exactly."""
    s = res.summary
    assert s["status"] != "failed", s.get("error")
    metrics = [{k: _same(v) for k, v in row.items() if k != "wall_time_s"} for row in res.metrics]
    outcome = (res.run_id, s["status"], s["steps"], s["steps_to_solve"], s["test_loss"], s["test_error"])
    return (
        outcome,
        metrics,
        {k: v.tolist() for k, v in res.state_dict.items()},
        {k: v.tolist() for k, v in res.flow.items()},
    )


def read_run(path: Path) -> tuple:
    """comparable() of a run folder the sweep wrote."""
    import numpy as np
    import torch

    def num(v: str):
        if v == "":
            return "nan"
        try:
            return int(v)
        except ValueError:
            return _same(float(v))

    with open(path / "metrics.csv") as f:
        metrics = [{k: num(v) for k, v in row.items() if k != "wall_time_s"} for row in csv.DictReader(f)]
    s = json.loads((path / "summary.json").read_text())
    assert s["status"] != "failed", s.get("error")
    with np.load(path / "gradient_flow.npz") as z:
        flow = {k: z[k].tolist() for k in z.files}
    outcome = (s["run_id"], s["status"], s["steps"], s["steps_to_solve"], s["test_loss"], s["test_error"])
    return outcome, metrics, {k: v.tolist() for k, v in torch.load(path / "model.pt").items()}, flow


def assert_same(got: dict, ref: dict) -> None:
    assert sorted(got) == sorted(ref)
    for rid, (summary, metrics, weights, flow) in got.items():
        r_summary, r_metrics, r_weights, r_flow = ref[rid]
        assert metrics == r_metrics, f"{rid}: metrics differ"
        assert summary == r_summary, f"{rid}: summary differs"
        assert weights == r_weights, f"{rid}: weights differ"
        assert flow == r_flow, f"{rid}: gradient flow differs"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[Path, list[Job], dict]:
    """The sweep file, its 9 jobs, and each run trained in this process (what every executor must give)."""
    path = tmp_path_factory.mktemp("sweep") / "sweep.yaml"
    path.write_text(SWEEP)
    out = path.parent / "unused"
    jobs = [
        Job(r.config.run_id, r.label, r.config.to_dict(), out / r.config.run_id, r.keys)
        for r in load_sweep(path).runs
    ]
    ref = {j.run_id: comparable(train_job(j.config)) for j in jobs}
    assert len(ref) == 9
    return path, jobs, ref


def collect(executor: DaskExecutor, jobs: list[Job], on_each=None) -> dict:
    """executor.run, keeping every result by run id (each must come exactly once)."""
    got: dict = {}

    def on_done(job, res):
        assert job.run_id not in got, "a run was reported twice"
        got[job.run_id] = res
        if on_each:
            on_each(job, res)

    executor.run(jobs, on_done)
    return got


def marking(mark_dir: Path, killer: str | None = None):
    """train_job that first leaves a marker RUNID-PID and, for run `killer`, kills its own worker process.
    Built inside a function so cloudpickle ships it by value (workers cannot import this test module)."""
    fn = train_job

    def job(config: dict, path: str | None = None):
        import os as _os

        from ltd_bench.config import Config as _Config

        run_id = _Config.model_validate(config).run_id
        (mark_dir / f"{run_id}-{_os.getpid()}").touch()
        if run_id == killer:
            _os.kill(_os.getpid(), 9)
        return fn(config, path)

    return job


# -------------------------------------------------------------------------------------------- processes
class Procs:
    """Processes in their own sessions (process groups); kill() SIGKILLs each group."""

    def __init__(self, tmp: Path):
        self.tmp, self.procs = tmp, []

    def start(self, args: list[str], name: str, env: dict | None = None) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")
        p = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=self.tmp,
        )
        log.close()
        self.procs.append(p)
        return p

    def scheduler(self, env: dict | None = None, extra: tuple[str, ...] = ()) -> str:
        file = self.tmp / f"scheduler-{len(self.procs)}.json"
        file.unlink(missing_ok=True)  # never read a stale address
        self.start(
            [
                DASK,
                "scheduler",
                "--host",
                HOST,
                "--port",
                "0",
                "--no-dashboard",
                "--dashboard-address",
                f"{HOST}:0",
                "--scheduler-file",
                str(file),
                "--idle-timeout",
                "300",
                *extra,
            ],
            "scheduler",
            env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                return json.loads(file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        raise RuntimeError("the dask scheduler did not start:\n" + (self.tmp / "scheduler.log").read_text())

    def worker(self, address: str, name: str, extra: tuple[str, ...] = ()) -> subprocess.Popen:
        # --dashboard-address: with --no-dashboard, the HTTP endpoint (health, metrics) still listens
        return self.start(
            [
                DASK,
                "worker",
                address,
                "--name",
                name,
                "--host",
                HOST,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--no-dashboard",
                "--dashboard-address",
                f"{HOST}:0",
                "--death-timeout",
                "30",
                *extra,
            ],
            name,
        )

    def kill(self, p: subprocess.Popen) -> None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()

    def kill_all(self) -> None:
        for p in self.procs:
            self.kill(p)


@pytest.fixture
def procs(tmp_path):
    ps = Procs(tmp_path)
    try:
        yield ps
    finally:
        ps.kill_all()


class Cluster:
    """A `dask scheduler` and two single-threaded `dask worker`s. The scheduler runs with
    allowed-failures 0: a run whose worker dies errors at once with KilledWorker, so the executor must
    resubmit it itself, as it must against any external scheduler."""

    def __init__(self, procs: Procs):
        self.procs = procs
        self.address = procs.scheduler(env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
        self.names = ["w0", "w1"]
        self.workers = [procs.worker(self.address, name) for name in self.names]

    def replace(self, i: int) -> None:
        """SIGKILL worker i's process group (nanny and worker: a machine gone) and start a new worker."""
        self.procs.kill(self.workers[i])
        self.names[i] = f"w{len(self.procs.procs)}"
        self.workers[i] = self.procs.worker(self.address, self.names[i])

    def replace_busy(self, client) -> str:
        """Replace a worker that is executing a run right now; returns that run's key. `client` is
        connected beforehand: a connection made once the runs are going can come too late to see them."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            names = {a: w["name"] for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
            for addr, keys in client.processing().items():
                if keys and names.get(addr) in self.names:
                    self.replace(self.names.index(names[addr]))
                    return keys[0]
            time.sleep(0.02)
        raise AssertionError("no worker was busy")

    def ready(self) -> None:
        with distributed.Client(self.address, timeout=30, set_as_default=False) as c:
            c.wait_for_workers(2, timeout=60)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ps = Procs(tmp_path_factory.mktemp("cluster"))
    try:
        yield Cluster(ps)
    finally:
        ps.kill_all()


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


# --------------------------------------------------------------------------------------------- tests
def test_worker_killed_mid_run_is_retried_elsewhere(cluster, sweep, tmp_path):
    _, jobs, ref = sweep
    cluster.ready()
    marks = tmp_path / "marks"
    marks.mkdir()
    killed, done = [], set()

    def kill_a_busy_worker(job, res):
        done.add(job.run_id)
        if killed:
            return
        # a worker that started a run which has not come back is mid-run: take its whole group down
        busy = {int(pid) for rid, pid in (m.name.split("-") for m in marks.iterdir()) if rid not in done}
        for i, w in enumerate(cluster.workers):
            if any(_pgid(pid) == w.pid for pid in busy):
                killed.append(i)
                cluster.replace(i)  # and a fresh worker joins mid-sweep
                return

    got = collect(
        DaskExecutor(scheduler=cluster.address, max_tries=3, fn=marking(marks)),
        jobs,
        on_each=kill_a_busy_worker,
    )
    assert killed, "no worker was killed"
    assert_same({rid: comparable(r) for rid, r in got.items()}, ref)
    # the run the dead worker was executing ran again elsewhere (a finished result that died with the
    # worker before the client fetched it is recomputed too, so there may be one more)
    assert len(list(marks.iterdir())) >= len(jobs) + 1


def test_cli_sweep_on_a_cluster_with_a_worker_killed(cluster, sweep, tmp_path):
    path, _, ref = sweep
    cluster.ready()
    killed = []
    command = ("sweep", str(path), "--executor", "dask", "--scheduler", cluster.address)
    command += ("--out", str(tmp_path / "out"), "--no-progress")
    with distributed.Client(cluster.address, timeout=30, set_as_default=False) as watcher:
        # from the sweep's first line (before it submits), watch for a busy worker and SIGKILL it mid-run;
        # watching from the first finished run instead could miss them all (the runs are packed: 2 packs)
        rc, out = cli(
            *command, on_first=lambda: killed.append(cluster.replace_busy(watcher)), at="sweep dasksweep:"
        )
    assert rc == 0, out
    assert killed and killed[0].startswith("ltd-train-"), killed
    assert "[9/9]" in out and "9 unsolved" in out, out
    assert_same({d.name: read_run(d) for d in (tmp_path / "out" / "dasksweep").iterdir() if d.is_dir()}, ref)
    rc, again = cli(*command)  # the same command again: everything is done, nothing is submitted
    assert rc == 0 and "9 done, 0 to run" in again, again


def test_ctrl_c_cancels_what_is_in_flight(cluster, sweep):
    _, jobs, _ = sweep
    cluster.ready()
    done = []

    def interrupt(job, res):
        done.append(job.run_id)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect(DaskExecutor(scheduler=cluster.address), jobs, on_each=interrupt)
    assert len(done) == 1
    with distributed.Client(cluster.address, timeout=30, set_as_default=False) as c:
        deadline = time.monotonic() + 10
        while left := c.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.tasks)):
            assert time.monotonic() < deadline, f"tasks left on the scheduler: {left}"
            time.sleep(0.2)


def test_workers_caps_runs_in_flight_on_a_cluster(cluster, sweep, tmp_path):
    _, jobs, ref = sweep
    cluster.ready()
    spans = tmp_path / "spans"
    spans.mkdir()

    def timed(mark_dir: Path):
        fn = train_job

        def job(config: dict, path: str | None = None):
            import time as _t

            start = _t.monotonic()
            res = fn(config, path)
            (mark_dir / f"{config['seed']}-{config['method']}").write_text(f"{start} {_t.monotonic()}")
            return res

        return job

    got = collect(DaskExecutor(scheduler=cluster.address, workers=1, fn=timed(spans)), jobs[:3])
    assert_same({rid: comparable(r) for rid, r in got.items()}, {j.run_id: ref[j.run_id] for j in jobs[:3]})
    # CLOCK_MONOTONIC is system-wide on Linux: spans from two worker processes compare
    times = sorted(tuple(map(float, f.read_text().split())) for f in spans.iterdir())
    assert len(times) == 3
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(times, times[1:], strict=False)), times


def test_lost_scheduler_stops_with_one_line(procs, sweep):
    _, jobs, _ = sweep
    address = procs.scheduler()
    scheduler = procs.procs[-1]
    procs.worker(address, "w0")
    done = []

    def kill_scheduler(job, res):
        done.append(job.run_id)
        procs.kill(scheduler)

    with pytest.raises(
        RuntimeError,
        match=rf"^lost the Dask scheduler at {address}: .*; finished runs are "
        "kept, re-run the same command to resume$",
    ) as e:
        collect(DaskExecutor(scheduler=address, connect_timeout_s=3), jobs, on_each=kill_scheduler)
    assert "\n" not in str(e.value)
    assert len(done) == 1  # delivered before the loss; nothing after it


def test_unreachable_scheduler_is_one_line(sweep):
    _, jobs, _ = sweep
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    ex = DaskExecutor(scheduler=f"tcp://{HOST}:{port}", connect_timeout_s=1)
    with pytest.raises(RuntimeError, match=rf"^cannot reach the Dask scheduler at tcp://{HOST}:{port}: "):
        ex.run(jobs[:1], lambda j, r: None)


def test_worker_environment_must_match():
    """A worker with another torch (or without ltd_bench) would give other numbers: refused before any run."""
    here = _env_probe()()

    class FakeClient:
        def __init__(self, env):
            self.env = env

        def nthreads(self):
            return {"tcp://127.0.0.1:1": 1, "tcp://127.0.0.1:2": 1}

        def wait_for_workers(self, n, timeout):
            pass

        def run(self, fn):
            return {"tcp://127.0.0.1:1": here, "tcp://127.0.0.1:2": self.env}

    ex = DaskExecutor(scheduler="tcp://127.0.0.1:8786")
    ex._check_workers(FakeClient(dict(here)))  # the same environment: fine
    with pytest.raises(
        RuntimeError,
        match=r"worker tcp://127.0.0.1:2 does not match this environment: "
        r"torch 0\.0 \(here .*\); workers need the same",
    ):
        ex._check_workers(FakeClient({**here, "torch": "0.0"}))
    with pytest.raises(RuntimeError, match="cannot import ltd_bench"):
        ex._check_workers(FakeClient({"error": "cannot import ltd_bench/torch (ModuleNotFoundError: ...)"}))


def test_local_cluster_records_a_worker_killer_as_failed(sweep, tmp_path):
    _, jobs, ref = sweep
    jobs = jobs[:4]
    marks = tmp_path / "marks"
    marks.mkdir()
    bad = jobs[-1].run_id  # last: the others are done by the time it has used up its tries
    ex = DaskExecutor(workers=2, max_tries=2, fn=marking(marks, killer=bad))
    got = collect(ex, jobs)
    assert ex.address.startswith(f"tcp://{HOST}:")
    failed = got.pop(bad).summary
    assert failed["status"] == "failed" and failed["run_id"] == bad
    assert failed["error"].startswith("KilledWorker: 2 worker(s) died running it"), failed["error"]
    assert len([m for m in marks.iterdir() if m.name.startswith(f"{bad}-")]) == 2  # max_tries, no more
    # the rest finished, with their own numbers: none was charged for the killer's deaths
    assert_same({rid: comparable(r) for rid, r in got.items()}, {j.run_id: ref[j.run_id] for j in jobs[:-1]})


def test_cli_sweep_on_a_local_cluster(sweep, tmp_path):
    path, _, ref = sweep
    rc, out = cli(
        "sweep",
        str(path),
        "--executor",
        "dask",
        "--workers",
        "1",
        "--out",
        str(tmp_path / "out"),
        "--no-progress",
    )
    assert rc == 0, out
    assert_same({d.name: read_run(d) for d in (tmp_path / "out" / "dasksweep").iterdir() if d.is_dir()}, ref)


def cli(*args: str, on_first=None, at: str = "[1/", timeout: float = 120) -> tuple[int, str]:
    """`ltd-bench ARGS` in its own process group; `on_first()` runs once, at the first line (stdout or
    stderr) that starts with `at` (default: the first run reported)."""
    p = subprocess.Popen(
        [str(BIN / "ltd-bench"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **INTERRUPTIBLE,
    )
    lines = []
    try:
        deadline = time.monotonic() + timeout
        for line in p.stdout:
            lines.append(line)
            if on_first is not None and line.startswith(at):
                on_first()
                on_first = None
            assert time.monotonic() < deadline, "".join(lines)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return p.returncode, "".join(lines)


# ------------------------------------------------------------------------------------------------- TLS
def doc_block(path: Path, lang: str, marker: str) -> str:
    """The first ```lang block of a Markdown file that contains `marker`, dedented."""
    for m in re.finditer(rf"^([ \t]*)```{lang}\n(.*?)^\1```", path.read_text(), re.M | re.S):
        if marker in m.group(2):
            return textwrap.dedent(m.group(2))
    raise AssertionError(f"no {lang} block with {marker!r} in {path}")


def small_sweep(folder: Path) -> Path:
    """The sweep with seed 0 only: 3 runs, one per method, with the same run ids as in the full sweep."""
    path = folder / "small.yaml"
    path.write_text(SWEEP.replace("seed: [0, 1, 2]", "seed: [0]"))
    return path


def dotted(d: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}: dask.config.set replaces a nested dict's top key whole."""
    out = {}
    for k, v in d.items():
        out.update(dotted(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def tls_flags(certs: Path, key: str = "key.pem") -> list[str]:
    return [
        "--tls-ca-file",
        str(certs / "ca.pem"),
        "--tls-cert",
        str(certs / "cert.pem"),
        "--tls-key",
        str(certs / key),
    ]


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> tuple[Path, Path]:
    """A CA with its certificate and key, made by the OpenSSL commands docs/cluster.md gives (the same lines
    are in the README), and a second set of the same: another CA, as a stranger would have."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    commands = doc_block(ROOT / "docs" / "cluster.md", "bash", "openssl req -x509")
    readme = (ROOT / "README.md").read_text()
    for line in commands.splitlines():
        if line.startswith("openssl"):
            assert line in readme, f"README lacks: {line}"
    made = []
    for name in ("ours", "stranger"):
        folder = tmp_path_factory.mktemp(name)
        subprocess.run(["bash", "-eu", "-c", commands], cwd=folder, check=True, capture_output=True)
        assert (folder / "key.pem").stat().st_mode & 0o077 == 0  # the key is readable by its owner alone
        made.append(folder)
    return made[0], made[1]


class TlsCluster:
    """A `dask scheduler` with TLS, started with the flags docs/cluster.md gives (on 127.0.0.1), and TLS
    workers started on demand."""

    def __init__(self, procs: Procs, certs: Path):
        self.procs, self.certs = procs, certs
        self.address = procs.scheduler(extra=("--protocol", "tls", *tls_flags(certs)))
        assert self.address.startswith(f"tls://{HOST}:"), self.address
        self.workers: list[subprocess.Popen] = []

    def client(self) -> distributed.Client:
        security = distributed.security.Security(
            require_encryption=True,
            tls_ca_file=str(self.certs / "ca.pem"),
            tls_client_cert=str(self.certs / "cert.pem"),
            tls_client_key=str(self.certs / "key.pem"),
        )
        return distributed.Client(self.address, timeout=30, security=security, set_as_default=False)

    def start_worker(self) -> None:
        name = f"tls-w{len(self.procs.procs)}"
        self.workers.append(self.procs.worker(self.address, name, extra=tuple(tls_flags(self.certs))))

    def ready(self) -> None:
        if not self.workers:
            self.start_worker()
        with self.client() as c:
            c.wait_for_workers(1, timeout=60)

    def without_workers(self) -> None:
        for w in self.workers:
            self.procs.kill(w)
        self.workers.clear()
        with self.client() as c:
            deadline = time.monotonic() + 30
            while c.nthreads():
                assert time.monotonic() < deadline, "the scheduler still lists workers"
                time.sleep(0.1)


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory, certs):
    ps = Procs(tmp_path_factory.mktemp("tls-cluster"))
    try:
        yield TlsCluster(ps, certs[0])
    finally:
        ps.kill_all()


def one_line(err: str) -> str:
    """The single line a refused command printed (no traceback, nothing else)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_cli_sweep_on_a_tls_cluster_says_it_waits_for_a_worker(tls_cluster, certs, sweep, tmp_path):
    """The documented secure route: a sweep through a TLS scheduler with the --tls-* flags, started before
    any worker: it says it waits (for how many, how long), goes on when a worker joins, and writes exactly
    the numbers of local runs."""
    _, _, ref = sweep
    tls_cluster.without_workers()
    rc, out = cli(
        "sweep",
        str(small_sweep(tmp_path)),
        "--executor",
        "dask",
        "--scheduler",
        tls_cluster.address,
        *tls_flags(certs[0]),
        "--out",
        str(tmp_path / "out"),
        "--no-progress",
        on_first=tls_cluster.start_worker,  # the worker joins only once the sweep said it waits
        at="no Dask worker at",
    )
    assert rc == 0, out
    assert (
        f"no Dask worker at {tls_cluster.address} yet: waiting up to 300 s for 1 to join (--worker-wait)"
        in out
    ), out
    assert "--tls-ca-file CA --tls-cert CERT --tls-key KEY" in out  # how to start a TLS worker
    got = {d.name: read_run(d) for d in (tmp_path / "out" / "dasksweep").iterdir() if d.is_dir()}
    assert "[3/3]" in out and len(got) == 3, out
    assert_same(got, {rid: ref[rid] for rid in got})


def test_tls_settings_from_the_dask_config(tls_cluster, certs, sweep, tmp_path, ltd_main):
    """The Dask config file docs/cluster.md writes (its commands run with HOME here, ~/certs our files)
    instead of the flags; a flag overrides its config setting."""
    import dask

    _, _, ref = sweep
    tls_cluster.ready()
    ours, stranger = certs
    home = tmp_path / "home"
    home.mkdir()
    (home / "certs").symlink_to(ours)
    block = doc_block(ROOT / "docs" / "cluster.md", "bash", ".config/dask")
    writes = block[: block.index("\nEOF\n") + 5]  # up to the end of the here-document
    subprocess.run(["bash", "-eu", "-c", writes], env={**os.environ, "HOME": str(home)}, check=True)
    written = dask.config.collect(paths=[str(home / ".config" / "dask")], env={})
    assert written["distributed"]["comm"]["tls"]["client"]["key"] == f"{home}/certs/key.pem"
    small = small_sweep(tmp_path)
    with dask.config.set(dotted(written)):
        rc, out, err = ltd_main(
            "sweep", small, "--executor", "dask", "--scheduler", tls_cluster.address, "--out", tmp_path / "o"
        )
        assert rc == 0, out + err
    got = {d.name: read_run(d) for d in (tmp_path / "o" / "dasksweep").iterdir() if d.is_dir()}
    assert len(got) == 3
    assert_same(got, {rid: ref[rid] for rid in got})
    (home / "certs").unlink()
    (home / "certs").symlink_to(stranger)  # the config now names the stranger's files
    with dask.config.set(dotted(written)):
        with pytest.raises(RuntimeError, match="^the TLS handshake with the Dask scheduler at "):
            with make_executor("dask", None, tls_cluster.address)._client():
                pass
        files = dict(zip(["tls_ca_file", "tls_cert", "tls_key"], tls_flags(ours)[1::2], strict=True))
        with make_executor("dask", None, tls_cluster.address, **files)._client() as client:
            assert client.nthreads()  # the flags won


def test_tls_cluster_refuses_a_client_without_its_certificate(tls_cluster, certs, sweep, tmp_path, ltd_main):
    """One line each, no traceback: no certificate at all (a usage error, exit 2, nothing written), a
    certificate from another CA (refused by the scheduler, exit 1), plain tcp to a TLS scheduler (exit 1)."""
    path, _, _ = sweep
    ours, stranger = certs
    out = tmp_path / "out"
    base = ("sweep", path, "--executor", "dask", "--out", out, "--no-progress", "--scheduler")

    rc, _, err = ltd_main(*base, tls_cluster.address)
    assert rc == 2
    assert one_line(err) == (
        f"error --scheduler {tls_cluster.address} needs the cluster's CA certificate: give --tls-ca-file, "
        "or set distributed.comm.tls.ca-file in the Dask config"
    )
    assert not out.exists()

    handshake = f"error the TLS handshake with the Dask scheduler at {tls_cluster.address} failed: "
    for flags in (tls_flags(stranger), [*tls_flags(ours)[:2], *tls_flags(stranger)[2:]]):
        rc, _, err = ltd_main(*base, tls_cluster.address, *flags)
        assert rc == 1
        line = one_line(err)
        assert line.startswith(handshake), line
        assert line.endswith("need certificates signed by one CA (--tls-ca-file, --tls-cert, --tls-key)")

    plain = tls_cluster.address.replace("tls://", "tcp://")
    rc, _, err = ltd_main(*base, plain)
    assert rc == 1
    line = one_line(err)
    assert line.startswith(f"error cannot reach the Dask scheduler at {plain}: "), line
    assert line.endswith("(a scheduler started with TLS is reached at tls://HOST:PORT)"), line


BAD_FLAGS = [  # (arguments after the sweep file, with {ca} {cert} {key} {other_key} {enc_key}; the one line)
    (["--tls-cert", "{cert}"], "--tls-cert needs --executor dask"),
    (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler needs --executor dask"),
    (["--worker-wait", "5"], "--worker-wait needs --executor dask"),
    (["--executor", "dask", "--tls-ca-file", "{ca}"], "--tls-ca-file needs a tls:// --scheduler (without"),
    (
        ["--executor", "dask", "--scheduler", "tcp://127.0.0.1:9", "--tls-key", "{key}"],
        "--tls-key needs a tls:// --scheduler (--scheduler is tcp://127.0.0.1:9)",
    ),
    (["--executor", "dask", "--worker-wait", "5"], "--worker-wait needs --scheduler"),
    (
        ["--executor", "dask", "--scheduler", "tcp://127.0.0.1:9", "--worker-wait", "-1"],
        "--worker-wait: -1.0 is not a number of seconds >= 0",
    ),
    (
        ["TLS", "--tls-ca-file", "{missing}", "--tls-cert", "{cert}", "--tls-key", "{key}"],
        "--tls-ca-file: no such file",
    ),
    (
        ["TLS", "--tls-ca-file", "{ca}", "--tls-cert", "{cert}"],
        "--tls-cert {cert} holds no private key: give --tls-key",
    ),
    (["TLS", "--tls-ca-file", "{ca}", "--tls-key", "{key}"], "--tls-key needs --tls-cert"),
    (
        ["TLS", "--tls-ca-file", "{ca}", "--tls-cert", "{cert}", "--tls-key", "{other_key}"],
        "the key does not belong to the certificate",
    ),
    (
        ["TLS", "--tls-ca-file", "{ca}", "--tls-cert", "{cert}", "--tls-key", "{enc_key}"],
        "--tls-key {enc_key}: the key is encrypted with a passphrase",
    ),
    (
        ["TLS", "--tls-ca-file", "{key}", "--tls-cert", "{cert}", "--tls-key", "{key}"],
        "--tls-ca-file {key}: not a PEM CA certificate",
    ),
]


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_bad_tls_and_dask_flags_are_one_line_exit_2(certs, sweep, tmp_path, ltd_main, dry_run):
    """Each refused before anything runs, connects or is written, naming the flag; a dry run refuses the
    same (it used to accept --scheduler without --executor dask)."""
    path, _, _ = sweep
    ours, stranger = certs
    enc_key = tmp_path / "enc-key.pem"
    subprocess.run(
        ["openssl", "pkey", "-in", ours / "key.pem", "-aes256", "-passout", "pass:secret", "-out", enc_key],
        check=True,
        capture_output=True,
    )
    files = {
        "ca": ours / "ca.pem",
        "cert": ours / "cert.pem",
        "key": ours / "key.pem",
        "other_key": stranger / "key.pem",
        "enc_key": enc_key,
        "missing": tmp_path / "missing.pem",
    }
    out = tmp_path / "out"
    tls = ["--executor", "dask", "--scheduler", "tls://127.0.0.1:9"]  # never contacted
    extra = ["--dry-run"] if dry_run else []
    for args, expected in BAD_FLAGS:
        args = [a.format(**files) for a in args]
        args = [*tls, *args[1:]] if args[:1] == ["TLS"] else args
        rc, _, err = ltd_main("sweep", path, "--out", out, "--no-progress", *args, *extra)
        assert rc == 2, (args, err)
        line = one_line(err)
        assert line.startswith("error --") and expected.format(**files) in line, (args, line)
        assert not out.exists(), args
    # and a dry run with good TLS flags lists the runs, without connecting
    if dry_run:
        rc, stdout, err = ltd_main("sweep", path, "--out", out, *tls, *tls_flags(ours), "--dry-run")
        assert rc == 0 and "9 to run" in stdout, stdout + err
        assert not out.exists()


def test_no_worker_joins_within_worker_wait(sweep, tmp_path, ltd_main):
    """An external scheduler without workers: the sweep says it waits, for 1 worker and how long, then
    gives up after --worker-wait seconds with one line, exit 1; --worker-wait 0 does not wait."""
    path, _, _ = sweep
    with distributed.LocalCluster(  # a scheduler in this process, no workers
        n_workers=0, processes=False, protocol="tcp://", host=HOST, scheduler_port=0, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        args = ("sweep", path, "--executor", "dask", "--scheduler", address, "--out", tmp_path / "o")
        rc, _, err = ltd_main(*args, "--worker-wait", "0.5")
        assert rc == 1, err
        assert err.splitlines() == [
            f"no Dask worker at {address} yet: waiting up to 0.5 s for 1 to join (--worker-wait); start "
            f"workers with `dask worker {address} --nthreads 1`",
            f"error no Dask worker joined the scheduler at {address} within 0.5 s; start some with "
            f"`dask worker {address} --nthreads 1` (or wait longer: --worker-wait SECONDS)",
        ]
        rc, _, err = ltd_main(*args, "--worker-wait", "0")
        assert rc == 1
        assert one_line(err).startswith(f"error no Dask worker at {address} and --worker-wait is 0;")
