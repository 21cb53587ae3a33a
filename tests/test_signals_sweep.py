"""Signals to a whole process group (as `timeout`, a batch scheduler's time limit or systemd send them),
once or twice, locally and packed: every run that was training keeps a checkpoint and an `interrupted`
summary, the sweep says how many, and the rerun ends bit-identical to an uninterrupted sweep. And one
writer per run: a second `ltd-bench run` on a run another live process trains leaves its folder alone.
Real processes throughout: these cases are about processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_sweep import BASE, all_metrics, cli, group_gone, metrics, run, run_dirs, write

from subprocs import INTERRUPTIBLE

from ltd_bench.outputs import CHECKPOINT, CLAIM, is_finished, read_summary

STEPS = 2500  # several seconds a run, one by one or packed: the signal lands while all of them train


@pytest.fixture(scope="module")
def four(tmp_path_factory) -> tuple[Path, Path]:
    """A 4-run sweep and its uninterrupted result (in-process, one worker)."""
    d = tmp_path_factory.mktemp("four")
    p = write(
        d,
        {
            "name": "four",
            "base": {
                **BASE,
                "model": {"hidden_size": 8},
                "train": {"steps": STEPS, "eval_every": 50, "checkpoint_s": 100000},
            },
            "methods": {"rnn+clip": {"clipping.mode": "norm"}, "rnn": {}},
            "grid": {"seed": [0, 1]},
        },
    )
    rc, _, err = run(p, d / "ref")
    assert rc == 0, err
    return p, d / "ref"


def start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **INTERRUPTIBLE)


def wait_training(proc: subprocess.Popen, out: Path, n: int, timeout: float = 120) -> None:
    """Until `n` runs have logged evaluations past step 0 (their workers are in the training loop)."""
    end = time.monotonic() + timeout
    while (
        sum(
            len((d / "metrics.csv").read_text().splitlines()) > 2
            for d in out.glob("*/*")
            if (d / "metrics.csv").is_file()
        )
        < n
    ):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "training did not start in time"
        time.sleep(0.05)


CASES = {  # how the group is signalled, how often, and how the sweep trains
    "kill-TERM-group-local": ("kill", signal.SIGTERM, 1, ["--pack", "off"]),
    "kill-TERM-twice-packed": ("kill", signal.SIGTERM, 2, ["--pack", "4"]),
    "kill-INT-twice-local": ("kill", signal.SIGINT, 2, ["--pack", "off"]),
    "timeout-local": ("timeout", signal.SIGTERM, 1, ["--pack", "off"]),
    "timeout-packed": ("timeout", signal.SIGTERM, 1, ["--pack", "4"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_signal_to_the_group_keeps_every_run_and_the_rerun_is_bit_identical(tmp_path, four, case):
    how, sig, times, pack = CASES[case]
    p, ref = four
    out = tmp_path / "out"
    cmd = cli("sweep", str(p), "--out", str(out), "--workers", "2", "--no-progress", *pack)
    # under `timeout`, its own group signal: a SIGTERM to timeout is passed to the whole group exactly as
    # at expiry (timeout runs the command in a process group of its own and signals that group)
    proc = start(["timeout", "600", *cmd] if how == "timeout" else cmd)
    wait_training(proc, out, 2 if "off" in pack else 4)
    for _ in range(times):
        if how == "timeout":
            proc.send_signal(sig)  # timeout forwards it to the group
        else:
            os.killpg(proc.pid, sig)
        time.sleep(0.3)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr)
    assert group_gone(proc.pid), "a worker outlived the sweep"
    trained = [d for d in run_dirs(out) if (d / "metrics.csv").is_file()]
    stopped = [d for d in trained if not is_finished(d)]
    assert stopped, "no run was training when the signal came"
    for d in stopped:  # each one kept its progress: a checkpoint and the interrupted summary
        s = read_summary(d)
        assert s is not None and s["status"] == "interrupted" and 0 < s["steps"] < STEPS, (d, s, stderr)
        assert (d / CHECKPOINT).is_file()
    assert f"{len(stopped)} interrupted" in stderr, stderr
    rc, _, err = run(p, out)  # the rerun continues them from their checkpoints
    assert rc == 0, err
    assert all_metrics(out) == all_metrics(ref)


# ------------------------------------------------------------------------------------- one writer per run
LONG = """name: busy
task: {name: adding, seq_len: 10, test_size: 50}
model: {hidden_size: 8}
train: {steps: 1000000, eval_every: 20, threads: 1, stop_when_solved: false}
"""


def snapshot(folder: Path) -> dict:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()}


def test_a_second_run_of_a_run_in_training_says_who_holds_it_and_touches_nothing(tmp_path):
    from ltd_bench.config import load_config

    cfg_path = tmp_path / "long.yaml"
    cfg_path.write_text(LONG)
    out = tmp_path / "out"
    folder = out / "busy" / load_config(cfg_path).run_id
    first = start(cli("run", str(cfg_path), "--out", str(out), "--no-progress"))
    try:
        end = time.monotonic() + 120
        while not (
            (folder / "metrics.csv").is_file() and len((folder / "metrics.csv").read_text().splitlines()) > 2
        ):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < end, "the first run did not start training in time"
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGSTOP)  # frozen, so that any change to the folder is the second's
        before = snapshot(folder)
        second = subprocess.run(
            cli("run", str(cfg_path), "--out", str(out), "--no-progress"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1, (second.stdout, second.stderr)
        assert (
            f"pid {first.pid} on {os.uname().nodename}" in second.stderr and "Traceback" not in second.stderr
        )
        assert snapshot(folder) == before and (folder / CLAIM).is_file()
    finally:
        os.kill(first.pid, signal.SIGCONT)
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 130 and read_summary(folder)["status"] == "interrupted"
    assert not (folder / CLAIM).exists()  # released when it ended
    assert metrics(folder)[0][0] == "step"
