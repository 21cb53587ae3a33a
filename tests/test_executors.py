"""Executors: the local pool hands every result to the parent, survives a dying worker, stops its workers
on Ctrl-C, and gives the same numbers as running in-process."""

import os
import sys
import time
from pathlib import Path

import pytest
from tinyjobs import comparable, config

from ltd_bench.config import Config
from ltd_bench.executors import LocalExecutor, make_executor
from ltd_bench.jobs import ExecutorError, Job
from ltd_bench.outputs import FINAL, RunResult


def job(cfg: dict) -> Job:
    c = Config.model_validate(cfg)
    return Job(c.run_id, "rnn+clip", cfg, Path("/nonexistent") / c.run_id, {"seed": c.seed})


# Top-level stand-ins for train_job: pool workers unpickle them by name.
def fake(cfg: dict, path: str | None = None) -> RunResult:
    """Instant 'training': sleeps `seed` tenths of a second, reports the worker's pid."""
    time.sleep(cfg["seed"] / 10)
    return RunResult(cfg, Config.model_validate(cfg).run_id, summary={"status": "solved", "pid": os.getpid()})


def crash_on_seed_1(cfg: dict, path: str | None = None) -> RunResult:
    if cfg["seed"] == 1:
        os._exit(3)  # what an OOM kill looks like to the pool
    return fake(cfg)


# ------------------------------------------------------------------------------------------ the pool
def test_pool_results_come_back_to_the_parent():
    jobs = [job(config(seed=s)) for s in range(4)]
    seen = []
    LocalExecutor(2, fn=fake).run(jobs, lambda j, r: seen.append((j.run_id, r.summary["pid"], os.getpid())))
    assert sorted(r for r, _, _ in seen) == sorted(j.run_id for j in jobs)
    assert all(parent == os.getpid() and pid != parent for _, pid, parent in seen)


def test_pool_matches_in_process_numbers():
    jobs = [job(config(seed=s)) for s in range(3)]
    here, pool = {}, {}
    LocalExecutor(1).run(jobs, lambda j, r: here.__setitem__(j.run_id, comparable(r)))
    LocalExecutor(2).run(jobs, lambda j, r: pool.__setitem__(j.run_id, comparable(r)))
    assert here == pool and len(here) == 3
    assert all(r["status"] in FINAL and len(r["metrics"]) == 3 for r in here.values())  # trained, not failed


def test_dying_worker_is_retried_then_recorded_failed():
    jobs = [job(config(seed=s)) for s in (0, 1, 2, 3)]
    got = {}
    LocalExecutor(2, fn=crash_on_seed_1, max_tries=2).run(
        jobs, lambda j, r: got.__setitem__(j.keys["seed"], r)
    )
    assert sorted(got) == [0, 1, 2, 3]
    assert got[1].summary["status"] == "failed" and "worker process died 2 times" in got[1].summary["error"]
    assert all(got[s].summary["status"] == "solved" for s in (0, 2, 3))


def sleeper(cfg: dict, path: str | None = None) -> RunResult:
    """Notes its pid in its run folder, then sleeps `seed` seconds (no StopFlag: only a kill ends it)."""
    Path(path).mkdir(parents=True, exist_ok=True)
    (Path(path) / "pid").write_text(str(os.getpid()))
    time.sleep(cfg["seed"])
    return fake(cfg)


def test_ctrl_c_stops_the_workers(tmp_path):
    jobs = [job(config(seed=s)) for s in (0, 300, 301)]  # the others would sleep 5 minutes
    jobs = [Job(j.run_id, j.label, j.config, tmp_path / j.run_id, j.keys) for j in jobs]
    seen = []

    def on_done(j, r):
        seen.append(j.keys["seed"])
        if len(seen) == 1:
            while not (tmp_path / jobs[1].run_id / "pid").exists():
                time.sleep(0.05)  # a sleeper is running
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        LocalExecutor(2, fn=sleeper).run(jobs, on_done)
    assert seen == [0]  # nothing else was delivered as if it had finished
    pid = int((tmp_path / jobs[1].run_id / "pid").read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped when run() returned
        os.kill(pid, 0)


def test_in_process_interrupted_run_stops_the_sweep(monkeypatch):
    def interrupted(cfg, path=None):
        return RunResult(cfg, "x", summary={"status": "interrupted"})

    seen = []
    with pytest.raises(KeyboardInterrupt):
        LocalExecutor(1, fn=interrupted).run(
            [job(config(seed=s)) for s in range(3)], lambda j, r: seen.append(j)
        )
    assert len(seen) == 1  # written (as interrupted), then the sweep stops


# ------------------------------------------------------------------------------------------ factory
def test_make_executor_errors():
    assert isinstance(make_executor("local", 3, None), LocalExecutor)
    with pytest.raises(ExecutorError, match="did you mean 'local'"):
        make_executor("locl", None, None)
    with pytest.raises(ExecutorError, match="--scheduler needs --executor dask"):
        make_executor("local", None, "tcp://h:1")


def test_dask_without_distributed_gives_the_install_hint(monkeypatch):
    monkeypatch.delitem(sys.modules, "ltd_bench.dask_executor", raising=False)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ExecutorError, match=r"pip install -e '\.\[dask\]'"):
        make_executor("dask", 2, None)
