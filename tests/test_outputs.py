"""The run folder: atomic writes, metrics appended as they come, checkpoints that cannot run code,
claims that let two sweeps share a folder."""

import json
import os
import pickle
import socket
import subprocess
import sys

import pytest
import torch

from ltd_bench import outputs, trust
from ltd_bench.config import validate_dict
from ltd_bench.outputs import (
    CHECKPOINT,
    CLAIM,
    Claims,
    MetricsLog,
    RunResult,
    atomic_write,
    claim_holder,
    is_finished,
    prepare,
    read_checkpoint,
    run_dir,
    write_checkpoint,
    write_result,
)

CFG = validate_dict({"name": "t", "task": {"seq_len": 10, "test_size": 50}, "train": {"steps": 5}}, "t")


# ------------------------------------------------------------------------------------- atomic writes
def test_atomic_write(tmp_path):
    p = tmp_path / "sub" / "f.txt"
    atomic_write(p, "hello")
    atomic_write(p, b"bytes")
    assert p.read_bytes() == b"bytes"
    assert sorted(x.name for x in p.parent.iterdir()) == ["f.txt"]  # no temp file left


def test_atomic_write_failure_leaves_old_content_and_no_temp(tmp_path, monkeypatch):
    p = tmp_path / "f.txt"
    atomic_write(p, "old")

    def boom(*a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        atomic_write(p, "new")
    assert p.read_text() == "old" and [x.name for x in tmp_path.iterdir()] == ["f.txt"]


# ---------------------------------------------------------------------------------------- the folder
def test_run_dir_refuses_to_leave_out(tmp_path):
    assert run_dir(tmp_path, CFG) == (tmp_path / "t" / CFG.run_id).resolve()
    (tmp_path / "t").symlink_to(tmp_path.parent)  # OUT/<name> leads outside OUT
    with pytest.raises(ValueError, match="outside"):
        run_dir(tmp_path, CFG)


def test_prepare_keeps_only_the_checkpoint_and_the_claim(tmp_path):
    for name in ("metrics.csv", "summary.json", CHECKPOINT, CLAIM):
        (tmp_path / name).write_text("x")
    (tmp_path / "junk").mkdir()
    prepare(tmp_path, CFG)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CHECKPOINT, CLAIM, "config.yaml"])
    prepare(tmp_path, CFG, keep_checkpoint=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CLAIM, "config.yaml"])


def test_metrics_log_appends_rows_that_a_reader_sees_at_once(tmp_path):
    log = MetricsLog(tmp_path, [{"step": 0, "test_error": 0.5}])
    log.append({"step": 10, "test_error": 0.25, "train_loss": float("nan")})
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("step,train_loss") and len(lines) == 3
    assert lines[2].split(",")[:4] == ["10", "", "", "0.25"]  # NaN is an empty field


def test_a_final_result_removes_the_checkpoint_an_interrupted_one_keeps_it(tmp_path):
    path = run_dir(tmp_path, CFG)
    for status, kept in (("interrupted", True), ("solved", False)):
        write_checkpoint(path, {"run_id": CFG.run_id}, CFG)
        summary = {"status": status, "steps_to_solve": 0 if status == "solved" else None}
        res = RunResult(CFG.to_dict(), CFG.run_id, metrics=[{"step": 0}], summary=summary)
        write_result(path, res, weights=False)
        assert (path / CHECKPOINT).exists() == kept
        assert is_finished(path) == (not kept)


# --------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip(tmp_path):
    state = {
        "run_id": "abc",
        "w": torch.arange(3.0),
        "metrics": [{"step": 1, "x": 0.5}],
        "best": float("inf"),
    }
    state["run_id"] = CFG.run_id
    write_checkpoint(tmp_path, state, CFG)
    got, why = read_checkpoint(tmp_path, CFG)
    assert why is None and torch.equal(got["w"], state["w"]) and got["metrics"] == state["metrics"]
    other = CFG.model_copy(update={"seed": 1})
    got, why = read_checkpoint(tmp_path, other)
    assert got is None and f"belongs to another run ({CFG.run_id}, not {other.run_id})" in why
    assert read_checkpoint(tmp_path / "none", CFG) == (None, None)


class Payload:
    """Unpickling this would run a command: a checkpoint from a stranger's folder must never do so."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_checkpoint_carrying_code_is_refused_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for blob in (pickle.dumps({"run_id": CFG.run_id, "x": Payload()}),):
        (tmp_path / CHECKPOINT).write_bytes(blob)
        assert read_checkpoint(tmp_path, CFG)[0] is None
    buf = tmp_path / "zip.pt"  # the same payload inside torch's own zip format, sealed as ours are
    torch.save({"run_id": CFG.run_id, "x": Payload()}, buf)
    sealed = trust.seal(buf.read_bytes(), CFG.run_id, trust.config_hash(CFG))
    (tmp_path / CHECKPOINT).write_bytes(sealed)
    state, why = read_checkpoint(tmp_path, CFG)
    assert state is None and "UnpicklingError" in why
    assert not (tmp_path / "PWNED").exists()


def test_a_truncated_checkpoint_is_refused(tmp_path):
    write_checkpoint(tmp_path, {"run_id": CFG.run_id, "w": torch.zeros(1000)}, CFG)
    data = (tmp_path / CHECKPOINT).read_bytes()
    (tmp_path / CHECKPOINT).write_bytes(data[: len(data) // 2])
    assert read_checkpoint(tmp_path, CFG)[0] is None


# -------------------------------------------------------------------------------------------- claims
def test_a_claim_is_exclusive_and_released(tmp_path):
    a, b = Claims(), Claims()
    assert a.acquire(tmp_path) and not b.acquire(tmp_path)
    assert claim_holder(tmp_path) == {"host": socket.gethostname(), "pid": os.getpid()}
    a.release(tmp_path)
    assert claim_holder(tmp_path) is None and b.acquire(tmp_path)


def test_a_dead_process_claim_is_taken_over(tmp_path):
    p = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (tmp_path / CLAIM).write_text(json.dumps({"host": socket.gethostname(), "pid": int(p.stdout)}))
    assert claim_holder(tmp_path) is None
    c = Claims()
    assert c.acquire(tmp_path) and json.loads((tmp_path / CLAIM).read_text())["pid"] == os.getpid()
    assert [x.name for x in tmp_path.iterdir()] == [CLAIM]  # the stale one moved aside and gone


def test_another_hosts_claim_holds_until_it_goes_stale(tmp_path, monkeypatch):
    (tmp_path / CLAIM).write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    assert claim_holder(tmp_path) == {"host": "elsewhere", "pid": 1} and not Claims().acquire(tmp_path)
    old = (tmp_path / CLAIM).stat().st_mtime - outputs.CLAIM_STALE_S - 1
    os.utime(tmp_path / CLAIM, (old, old))
    assert claim_holder(tmp_path) is None and Claims().acquire(tmp_path)


def test_beat_refreshes_held_claims(tmp_path):
    c = Claims()
    c.acquire(tmp_path)
    os.utime(tmp_path / CLAIM, (0, 0))
    c.beat()
    assert (tmp_path / CLAIM).stat().st_mtime > 1e9


# ------------------------------------------------------------------------------------------- reading
def test_reading_many_folders_stage_by_stage_judges_each_as_one_by_one(tmp_path):
    """read_runs reads every summary, then every config, ...: each folder gets what read_run gives it
    alone, its first failure included, whatever its neighbours' state."""
    from runfolders import make_run

    dirs = [make_run(tmp_path, seed=s, status=("solved", "unsolved", "diverged")[s % 3]) for s in range(9)]
    (dirs[1] / "summary.json").write_text("{")  # its summary fails first: nothing else read
    (dirs[2] / "config.yaml").unlink()
    (dirs[3] / "config.yaml").write_text((dirs[3] / "config.yaml").read_text().replace("seed: 3", "seed: 4"))
    (dirs[4] / "metrics.csv").write_text("step,test_error\n0,0.5\n")
    (dirs[5] / "metrics.csv").unlink()
    s = json.loads((dirs[6] / "summary.json").read_text())
    (dirs[6] / "summary.json").write_text(json.dumps({**s, "steps": 10**9}))
    (dirs[7] / "summary.json").unlink()
    (dirs[7] / "summary.json").mkdir()

    def alone(d):
        try:
            return outputs.read_run(d, frame=False)
        except (ValueError, OSError) as e:
            return f"{type(e).__name__}: {e}"

    got = outputs.read_runs(dirs, frame=False)
    want = [alone(d) for d in dirs]
    assert [i for i, g in enumerate(got) if isinstance(g, tuple)] == [0, 8]  # the healthy ones
    for g, w in zip(got, want, strict=True):
        if isinstance(g, tuple):  # (config, summary, (columns, table))
            assert g[:2] == w[:2] and g[2][0] == w[2][0] and (g[2][1] == w[2][1]).all()
        else:
            assert f"{type(g).__name__}: {g}" == w
    assert "missing config.yaml" in want[2] and "hashes to run id" in want[3] and "header lacks" in want[4]
    assert "missing metrics.csv" in want[5] and "steps 1000000000" in want[6] and "missing summary" in want[7]
