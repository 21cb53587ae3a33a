"""A run continued from its checkpoint ends bit-identical to one never stopped: after a stop flag, after
a crash mid-run (in-process), and after `kill -9` of a real `ltd-bench run`. A finished run is not
trained again unless --force."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ltd_bench.config import validate_dict
from ltd_bench.outputs import CHECKPOINT, is_finished, prepare, read_summary, run_dir, write_result
from ltd_bench.runner import execute, train_in

CLI = str(Path(sys.executable).with_name("ltd-bench"))
CASES = {
    # the CPU fast path with Ω, momentum and norm clipping
    "rnn_omega": {
        "task": {"name": "temporal_order", "seq_len": 12, "test_size": 40},
        "model": {"hidden_size": 6, "init": "smart_tanh"},
        "train": {"steps": 60, "eval_every": 10, "lr": 0.05, "momentum": 0.9, "stop_when_solved": False},
        "clipping": {"mode": "norm", "threshold": 0.5},
        "regularizer": {
            "omega_weight": 2.0,
            "form": "pascanu2013",
            "schedule": "inverse_t",
            "decay_steps": 7,
        },
    },
    # Adam's moments, value clipping, random steps for NaN gradients (the clipper's own generator)
    "lstm_adam": {
        "task": {"name": "adding", "seq_len": 8, "test_size": 40},
        "model": {"type": "lstm", "hidden_size": 5},
        "train": {"steps": 50, "eval_every": 10, "optimizer": "adam", "lr": 0.01, "stop_when_solved": False},
        "clipping": {"mode": "value", "threshold": 0.1, "nonfinite": "random_step"},
        "regularizer": {"omega_weight": 0.5},
    },
}


def cfg(case: str, **train):
    raw = json.loads(json.dumps(CASES[case]))
    raw["train"].update({"checkpoint_s": 0, **train})
    return validate_dict({"name": case, "seed": 4, **raw}, case)


def fingerprint(res) -> str:
    """Everything a run produced but wall times, as one hash (NaN-safe, exact floats)."""
    metrics = [{k: v for k, v in r.items() if k != "wall_time_s"} for r in res.metrics]
    summary = {k: v for k, v in res.summary.items() if k != "wall_time_s"}
    weights = {k: v.numpy().tobytes().hex() for k, v in res.state_dict.items()}
    flow = {k: v.tobytes().hex() for k, v in res.flow.items()}
    blob = json.dumps([metrics, summary, weights, flow], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def folder(tmp_path, c):
    path = run_dir(tmp_path, c)
    prepare(path, c)
    return path


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("at", [1, 25])  # before the first evaluation interval ends; mid-run
def test_stop_then_continue_is_bit_identical(tmp_path, case, at):
    c = cfg(case)
    whole = fingerprint(train_in(c, folder(tmp_path / "a", c)))
    path = folder(tmp_path / "b", c)
    calls = iter(range(10**6))
    first = train_in(c, path, stop=lambda: next(calls) >= at)
    assert first.summary["status"] == "interrupted" and first.summary["steps"] == at
    assert (path / CHECKPOINT).is_file()
    rest = train_in(c, path)
    assert rest.summary["steps"] == c.train.steps  # stop_when_solved is off: the whole budget
    assert fingerprint(rest) == whole
    assert rest.summary["wall_time_s"] >= first.summary["wall_time_s"]  # time of both sessions


def test_crash_mid_run_continues_from_the_last_checkpoint(tmp_path):
    c = cfg("rnn_omega")
    whole = fingerprint(train_in(c, folder(tmp_path / "a", c)))
    path = folder(tmp_path / "b", c)

    def crash(step, row):
        if row is not None and step == 30:
            raise RuntimeError("machine lost")

    with pytest.raises(RuntimeError):
        train_in(c, path, progress=crash)
    rows = (path / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "10", "20", "30"]  # appended as they came
    res = train_in(c, path)  # the checkpoint is step 20's: step 30 is trained again, identically
    assert fingerprint(res) == whole
    lines = (path / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in lines[1:]] == ["0", "10", "20", "30", "40", "50", "60"]


def test_checkpoint_interval_does_not_change_the_run_id_or_the_numbers(tmp_path):
    a, b = cfg("lstm_adam", checkpoint_s=0), cfg("lstm_adam", checkpoint_s=1e6)
    assert a.run_id == b.run_id
    assert fingerprint(train_in(a, folder(tmp_path / "a", a))) == fingerprint(
        train_in(b, folder(tmp_path / "b", b))
    )


def test_a_finished_run_removes_its_checkpoint(tmp_path):
    c = cfg("lstm_adam")
    summary, path = execute(c, tmp_path)
    assert (
        summary["status"] in ("solved", "unsolved") and is_finished(path) and not (path / CHECKPOINT).exists()
    )


def test_a_checkpoint_of_another_run_is_ignored_with_a_warning(tmp_path):
    a, b = cfg("lstm_adam"), cfg("rnn_omega")
    path = folder(tmp_path, a)
    calls = iter(range(10**6))
    train_in(b, folder(tmp_path / "b", b), stop=lambda: next(calls) >= 5)
    (path / CHECKPOINT).write_bytes((run_dir(tmp_path / "b", b) / CHECKPOINT).read_bytes())
    warnings = []
    res = train_in(a, path, warn=warnings.append)
    assert len(warnings) == 1 and "another run" in warnings[0] and res.summary["steps"] == 50


# ------------------------------------------------------------------------------- real processes
LONG = """name: ck
seed: 1
task: {name: adding, seq_len: 10, test_size: 50}
model: {hidden_size: 8}
train: {steps: 3000, eval_every: 100, stop_when_solved: false, checkpoint_s: 0}
clipping: {mode: norm}
"""


def ltd(*args, cwd, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([CLI, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, **kw)


def test_kill_9_then_run_again_gives_the_uninterrupted_numbers(tmp_path):
    (tmp_path / "ck.yaml").write_text(LONG)
    ref = ltd("run", "ck.yaml", "--out", "ref", "--no-weights", cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    proc = subprocess.Popen(
        [CLI, "run", "ck.yaml", "--out", "out", "--no-weights"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    ck = next((tmp_path / "out" / "ck").glob("*"), None)
    deadline = time.monotonic() + 120
    while not (ck and (ck / CHECKPOINT).exists() and len((ck / "metrics.csv").read_text().splitlines()) > 4):
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
        time.sleep(0.02)
        ck = ck or next((tmp_path / "out" / "ck").glob("*"), None)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not is_finished(ck) and read_summary(ck) is None
    again = ltd("run", "ck.yaml", "--out", "out", "--no-weights", cwd=tmp_path)
    assert again.returncode == 0 and "continuing from the checkpoint" in again.stdout, again.stdout
    ref_dir = next((tmp_path / "ref" / "ck").glob("*"))
    strip = lambda text: [line.rsplit(",", 1)[0] for line in text.splitlines()]  # wall_time_s is last
    assert strip((ck / "metrics.csv").read_text()) == strip((ref_dir / "metrics.csv").read_text())
    a, b = read_summary(ck), read_summary(ref_dir)
    assert {k: v for k, v in a.items() if k != "wall_time_s"} == {
        k: v for k, v in b.items() if k != "wall_time_s"
    }
    assert (ck / "gradient_flow.npz").read_bytes() == (ref_dir / "gradient_flow.npz").read_bytes()


def test_run_on_a_finished_config_says_so_and_force_retrains(tmp_path):
    (tmp_path / "ck.yaml").write_text(LONG.replace("3000", "200"))
    first = ltd("run", "ck.yaml", "--out", "out", cwd=tmp_path)
    assert first.returncode == 0
    path = next((tmp_path / "out" / "ck").glob("*"))
    before = (path / "summary.json").stat().st_mtime_ns
    again = ltd("run", "ck.yaml", "--out", "out", cwd=tmp_path)
    assert (
        again.returncode == 0 and "already finished (unsolved)" in again.stdout and "--force" in again.stdout
    )
    assert (path / "summary.json").stat().st_mtime_ns == before  # nothing trained, nothing written
    forced = ltd("run", "ck.yaml", "--out", "out", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and (path / "summary.json").stat().st_mtime_ns > before


def test_write_result_of_an_interrupted_run_keeps_what_a_resume_needs(tmp_path):
    c = cfg("rnn_omega")
    path = folder(tmp_path, c)
    calls = iter(range(10**6))
    res = train_in(c, path, stop=lambda: next(calls) >= 15)
    write_result(path, res)
    assert read_summary(path)["status"] == "interrupted" and not is_finished(path)
    assert (path / CHECKPOINT).is_file()
