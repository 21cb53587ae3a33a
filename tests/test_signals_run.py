"""`ltd-bench run` under signals (real processes), divergence as a result, non-finite gradients counted."""

from __future__ import annotations

import csv
import json
import math
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from subprocs import INTERRUPTIBLE

from ltd_bench import train as train_module
from ltd_bench.cli import main
from ltd_bench.clipping import Clipper
from ltd_bench.config import load_config
from ltd_bench.outputs import is_finished, read_summary

CLI = str(Path(sys.executable).with_name("ltd-bench"))
# Long enough to still be running when the signal arrives (a step takes ~1 ms), tiny everywhere else.
LONG = """name: sig
task: {name: adding, seq_len: 10, test_size: 50}
model: {hidden_size: 8}
train: {steps: 1000000, eval_every: 20, threads: 1, stop_when_solved: false}
"""


class Run:
    """`ltd-bench run` in a real process on a pseudo-terminal, so that its progress bar shows when training
    has really started (config.yaml appears earlier: building the trainer can take seconds of lazy imports)."""

    def __init__(self, tmp_path: Path):
        cfg_path = tmp_path / "long.yaml"
        cfg_path.write_text(LONG)
        self.folder = tmp_path / "out" / "sig" / load_config(cfg_path).run_id
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [CLI, "run", str(cfg_path), "--out", str(tmp_path / "out")],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
            cwd=tmp_path,
            env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"},
            **INTERRUPTIBLE,
        )
        os.close(slave)
        self.buf = bytearray()
        self.reader = threading.Thread(target=self._read, args=(master,), daemon=True)
        self.reader.start()

    def _read(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            self.buf += chunk
        os.close(fd)

    def wait_training(self) -> None:
        deadline = time.monotonic() + 90
        while b"test err" not in self.buf:  # the bar shows the first evaluation: the training loop is running
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, "training did not start within 90 s: " + self.output()
            time.sleep(0.05)
        time.sleep(1.0)  # a few hundred steps more
        assert self.proc.poll() is None, "the run ended before the signal"

    def stop(self, sig: int) -> tuple[int, float]:
        t = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail("the run did not stop within 20 s of the signal")
        seconds = time.monotonic() - t
        self.reader.join(timeout=5)
        return self.proc.returncode, seconds

    def output(self) -> str:
        return self.buf.decode(errors="replace")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_writes_partial_results_and_exits_130(tmp_path, sig):
    from ltd_bench.outputs import read_checkpoint

    run = Run(tmp_path)
    run.wait_training()
    code, _ = run.stop(sig)  # how long that took is no test (a loaded machine is slow): what it left is
    out, folder = run.output(), run.folder
    assert code == 130, out
    assert "Traceback" not in out
    summary = read_summary(folder)
    assert summary is not None and summary["status"] == "interrupted", summary
    assert 0 < summary["steps"] < 1_000_000
    with open(folder / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 2 and rows[0]["step"] == "0" and int(rows[-1]["step"]) <= summary["steps"]
    assert not is_finished(folder)  # an interrupted run is redone by a resume, never trusted by a report
    assert not list(folder.glob(".*.tmp*"))  # no half-written temp files
    # it stopped between two steps: its checkpoint is at the summary's step, with the metrics rows written
    # so far and the very weights in model.pt (a stop mid-step would leave them apart)
    state, why = read_checkpoint(folder, load_config(tmp_path / "long.yaml"))
    assert why is None and state is not None and state["step"] == summary["steps"]
    assert [str(r["step"]) for r in state["metrics"]] == [r["step"] for r in rows]
    weights = torch.load(folder / "model.pt", weights_only=True)
    assert weights.keys() == state["trainer"]["model"].keys()
    assert all(torch.equal(weights[k], state["trainer"]["model"][k]) for k in weights)


def test_kill_9_leaves_no_summary(tmp_path):
    run = Run(tmp_path)
    run.wait_training()
    code, _ = run.stop(signal.SIGKILL)
    folder = run.folder
    assert code == -signal.SIGKILL
    assert (folder / "config.yaml").exists() and not (folder / "summary.json").exists()
    assert read_summary(folder) is None and not is_finished(folder)


# ------------------------------------------------------------------------------------------ divergence
DIVERGE = """name: boom
seed: 0
task: {name: adding, seq_len: 10, test_size: 50}
model: {hidden_size: 8, nonlinearity: relu, init: identity}
train: {lr: 10, steps: 50, eval_every: 10, threads: 1}
clipping: {mode: none}
"""


def run_in_process(monkeypatch, capsys, *args) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["ltd-bench", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        main()
    out, err = capsys.readouterr()
    return e.value.code, out + err


def test_divergence_is_a_result_exit_0(tmp_path, monkeypatch, capsys):
    """IRNN (relu, identity W_hh) with lr 10 and no clipping: the loss overflows within ~15 steps."""
    p = tmp_path / "diverge.yaml"
    p.write_text(DIVERGE)
    code, out = run_in_process(monkeypatch, capsys, "run", p, "--out", tmp_path / "out", "--no-progress")
    assert code == 0 and "Traceback" not in out
    folder = tmp_path / "out" / "boom" / load_config(p).run_id
    s = json.loads((folder / "summary.json").read_text())
    assert s["status"] == "diverged" and "diverged" in out
    assert isinstance(s["diverged_at_step"], int) and 1 <= s["diverged_at_step"] < 50
    assert s["steps"] == s["diverged_at_step"] and s["steps_to_solve"] is None
    assert is_finished(folder)  # a diverged run is a final result: a resume skips it
    with open(folder / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert int(rows[-1]["step"]) == s["diverged_at_step"]
    # the same config with norm clipping does not diverge
    code, out = run_in_process(
        monkeypatch,
        capsys,
        "run",
        p,
        "--set",
        "clipping.mode=norm",
        "--out",
        tmp_path / "out",
        "--no-progress",
    )
    assert code == 0 and "diverged" not in out.split("status", 1)[1].splitlines()[0]


class NaNEveryThird(Clipper):
    """Poisons W_hh's gradient on every third step, as an overflow in the backward pass would."""

    calls = 0

    def __call__(self, loss=None):
        NaNEveryThird.calls += 1
        if NaNEveryThird.calls % 3 == 0:
            self.w_hh.grad.view(-1)[0] = math.nan
        return super().__call__(loss)


@pytest.mark.parametrize("policy", ["skip", "shrink", "random_step"])
def test_non_finite_gradient_steps_are_counted(policy, tmp_path, monkeypatch):
    from ltd_bench.config import validate_dict

    NaNEveryThird.calls = 0
    monkeypatch.setattr(train_module, "Clipper", NaNEveryThird)
    cfg = validate_dict(
        {
            "task": {"seq_len": 10, "test_size": 50},
            "model": {"hidden_size": 8},
            "train": {"steps": 9, "eval_every": 3, "threads": 1},
            "clipping": {"mode": "norm", "nonfinite": policy},
        },
        "x",
    )
    res = train_module.train(cfg)
    assert res.summary["status"] != "diverged"  # a bad gradient is handled; only a non-finite loss diverges
    assert res.summary["nonfinite_grad_steps"] == 3
    assert [r["nonfinite_steps"] for r in res.metrics] == [0, 1, 2, 3]
    assert all(
        bool(torch.isfinite(t).all()) for t in res.state_dict.values()
    )  # NaN never reached the weights
