"""`ltd-bench status`: each run's state read from its folder, rates and ETAs against hand computations,
stalled runs, old folders without a plan, nothing written; and a real sweep watched while it trains,
then killed."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from runfolders import make_run
from subprocs import INTERRUPTIBLE

from ltd_bench import status as status_module
from ltd_bench.config import resolved_yaml, validate_dict
from ltd_bench.outputs import MetricsLog, write_result
from ltd_bench.jobs import failed_result
from ltd_bench.status import duration, read_sweep

HERE = {"host": socket.gethostname(), "pid": os.getpid()}  # a claim held by a live process (this one)


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def rows(steps, wall_every=1.0, error=0.5):
    return [
        {"step": s, "test_error": error, "test_loss": 1.0, "wall_time_s": wall_every * i}
        for i, s in enumerate(steps)
    ]


def begun(root: Path, seed: int, metrics: list[dict], claim: dict | None, steps=10_000) -> Path:
    """A run folder as a sweep leaves it while training: config.yaml, metrics rows, maybe a claim."""
    cfg = validate_dict(
        {"name": "exp", "seed": seed, "train": {"steps": steps}, "clipping": {"mode": "norm"}}, "t"
    )
    d = root / "exp" / cfg.run_id
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(resolved_yaml(cfg))
    log = MetricsLog(d, metrics)
    assert log.file.is_file()
    if claim:
        (d / "claim").write_text(json.dumps(claim))
    return d


@pytest.fixture
def folder(tmp_path):
    """One sweep folder: 2 finished (1 solved), 1 failed, 1 training, 1 killed, 1 interrupted, 1 not begun
    (in the plan)."""
    make_run(tmp_path, seed=0, status="solved", steps=10_000, clip="norm")
    make_run(tmp_path, seed=1, status="unsolved", steps=10_000, clip="norm")
    cfg = validate_dict({"name": "exp", "seed": 9}, "t")
    bad = tmp_path / "exp" / cfg.run_id
    write_result(bad, failed_result(cfg.to_dict(), "RuntimeError: boom"))
    training = begun(tmp_path, 2, rows(range(0, 3001, 500)), HERE)  # 500 steps a second
    killed = begun(tmp_path, 3, rows(range(0, 1001, 500)), {"host": socket.gethostname(), "pid": dead_pid()})
    stopped = begun(tmp_path, 6, rows(range(0, 1001, 500)), None)  # Ctrl-C: fresh rows, but not training
    (stopped / "summary.json").write_text(json.dumps({"status": "interrupted", "method": "rnn+clip"}))
    plan = {"waiting1": {"method": "rnn+clip", "steps": 10_000, "seed": 4, "seq_len": 50}}
    (tmp_path / "exp" / "sweep.json").write_text(
        json.dumps({"name": "exp", "runs": ["waiting1"], "plan": plan})
    )
    return tmp_path / "exp", training, killed


def test_each_run_is_in_its_state_with_step_rate_and_eta_as_computed_by_hand(folder):
    path, training, killed = folder
    sw = read_sweep(path)
    by_id = {r.run_id: r for r in sw.runs}
    states = sorted((r.state, r.outcome or "") for r in sw.runs)
    assert states == [
        ("failed", "failed"),
        ("finished", "solved"),
        ("finished", "unsolved"),
        ("stopped", "interrupted"),
        ("stopped", "killed"),
        ("training", ""),
        ("waiting", ""),
    ]
    t = by_id[training.name]
    # last 6 rows: steps 500..3000 over wall 1..6 s
    assert (t.step, t.budget, t.error, t.seed) == (3000, 10_000, 0.5, 2) and t.rate == pytest.approx(500)
    assert t.eta == pytest.approx(7000 / 500) and not t.stalled
    assert by_id[killed.name].step == 1000 and by_id[killed.name].rate is None
    assert by_id["waiting1"].budget == 10_000 and by_id["waiting1"].seq_len == 50
    # one run trains at 500/s: its 7,000 left, then 9,000 for each stopped run and the waiting run's 10,000
    assert sw.eta() == pytest.approx((7000 + 2 * 9000 + 10_000) / 500)


def test_stalled_after_the_threshold_and_three_of_its_own_intervals(folder):
    path, training, _ = folder
    old = time.time() - 1000
    os.utime(training / "metrics.csv", (old, old))
    (t,) = [r for r in read_sweep(path).runs if r.state == "training"]
    assert t.stalled and 999 < t.age < 1100
    (t,) = [r for r in read_sweep(path, stalled_s=2000).runs if r.state == "training"]
    assert not t.stalled
    slow = begun(path.parent, 5, rows(range(0, 3001, 500), wall_every=400.0), HERE)  # a row every 400 s
    os.utime(slow / "metrics.csv", (old, old))
    (s,) = [r for r in read_sweep(path).runs if r.run_id == slow.name]
    assert s.state == "training" and not s.stalled  # 1000 s < 3 × 400 s


def test_a_row_being_written_is_not_read_and_a_long_file_is_read_from_its_end(tmp_path):
    d = begun(tmp_path, 0, rows(range(0, 500_001, 500)), HERE, steps=1_000_000)
    with open(d / "metrics.csv", "a") as f:
        f.write("500500,0.1,0.2")  # the next row, half written
    (r,) = read_sweep(tmp_path / "exp").runs
    assert r.step == 500_000 and r.rate == pytest.approx(500)


def test_a_folder_without_plan_counts_its_waiting_runs_and_reads_configs(folder):
    path, training, _ = folder
    (path / "sweep.json").write_text(json.dumps({"name": "exp", "runs": ["a", "b", training.name]}))
    sw = read_sweep(path)
    assert sw.unknown_waiting == 2 and sw.count("waiting") == 0
    (t,) = [r for r in sw.runs if r.state == "training"]
    assert t.method == "rnn+clip" and t.budget == 10_000 and t.seq_len == 100  # from config.yaml
    assert sw.eta() == pytest.approx((7000 + 2 * 9000 + 2 * 10_000) / 500)


def snapshot(root: Path) -> dict:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        if p.is_file()
        else "dir"
        for p in sorted(root.rglob("*"))
    }


def test_the_command_prints_every_state_at_80_columns_and_writes_nothing(folder, ltd_main, monkeypatch):
    path, training, killed = folder
    monkeypatch.setenv("COLUMNS", "80")
    before = snapshot(path.parent)
    rc, out, err = ltd_main("status", path.parent)
    assert rc == 0 and not err
    assert snapshot(path.parent) == before
    assert "7 runs: 2 finished, 1 training, 2 stopped, 1 waiting, 1 failed" in out
    assert training.name in out and killed.name in out and "killed" in out and "interrupted" in out
    assert "3000" in out and "ETA 1m" in out and max(map(len, out.splitlines())) <= 80


def test_watch_redraws_until_ctrl_c(folder, ltd_main, monkeypatch):
    calls = []

    def sleep(s):
        calls.append(s)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(status_module.time, "sleep", sleep)
    rc, out, _ = ltd_main("status", folder[0], "--watch", "--interval", "3")
    assert rc == 0 and calls == [3.0, 3.0] and "7 runs" in out


def test_durations():
    assert [duration(s) for s in (None, 5, 125, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == [
        "–",
        "5s",
        "2m",
        "3h05",
        "2d04h",
    ]


def test_not_a_folder_exits_2(tmp_path, ltd_main):
    rc, _, err = ltd_main("status", tmp_path / "nothing")
    assert rc == 2 and "is not a folder" in err


# ------------------------------------------------------------------------------------ real processes
def cli(*args) -> list[str]:
    exe = Path(sys.executable).with_name("ltd-bench")
    return [str(exe), *map(str, args)]


def status_of(out: Path) -> str:
    res = subprocess.run(
        cli("status", out), capture_output=True, text=True, timeout=120, env=os.environ | {"COLUMNS": "200"}
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.mark.slow
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="its failing runs fail for want of CUDA")
def test_a_live_sweep_then_killed(tmp_path):
    """One worker, one run at a time: two runs fail (train.device cuda, none here), two finish, one trains
    (a budget it will not reach), one waits; status sees each, then the killed run after a SIGKILL."""
    sweep = {
        "name": "live",
        "base": {
            "task": {"name": "temporal_order", "seq_len": 10, "test_size": 50},
            "model": {"hidden_size": 4},
            "train": {"eval_every": 50},
        },
        "methods": {
            "broken": {"train.device": "cuda"},
            "quick": {"train.steps": 20},
            "long": {"train.steps": 10_000_000, "train.stop_when_solved": False},
        },
        "grid": {"seed": [0, 1]},
    }
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(sweep, sort_keys=False))  # the methods train in this order
    out = tmp_path / "out"
    args = ("sweep", p, "--out", out, "--workers", "1", "--pack", "off", "--no-progress")
    proc = subprocess.Popen(
        cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **INTERRUPTIBLE
    )
    try:
        end = time.monotonic() + 120
        while True:  # until the long run has evaluated a few times
            files = [f for f in out.glob("live/*/metrics.csv") if len(f.read_text().splitlines()) > 4]
            if files and len(list(out.glob("live/*/summary.json"))) == 4:
                break
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < end, "the long run did not start in time"
            time.sleep(0.1)
        text = status_of(out)
        assert "6 runs: 2 finished, 1 training, 1 waiting, 2 failed" in text
        line = next(x for x in text.splitlines() if files[0].parent.name in x)
        assert " long " in line and "10M" in line and line.rstrip().endswith("training"), line
        assert "updates/s in all; ETA" in text
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    text = status_of(out)
    assert "6 runs: 2 finished, 1 stopped, 1 waiting, 2 failed" in text and "in all" not in text
    line = next(x for x in text.splitlines() if files[0].parent.name in x)
    assert line.rstrip().endswith("killed"), line
