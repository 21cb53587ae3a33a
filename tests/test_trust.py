"""Nothing read from disk is trusted unchecked (trust.py): checkpoints prove themselves (digest, run id,
config hash; a bad one is set aside and the run starts afresh), run folders are verified on load (the
config hashes to the run id, summary fields fit the config) by the report, load_runs, sweeps and `run`,
reads are bounded before anything is decompressed, and an unwritable --out is a usage error."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from runfolders import make_run
from test_sweep import BASE, cli, run, write

import ltd_bench
from ltd_bench import trust
from ltd_bench.config import validate_dict
from ltd_bench.outputs import (
    CHECKPOINT,
    REJECTED,
    finished,
    prepare,
    read_checkpoint,
    read_flow,
    read_summary,
    run_dir,
    write_checkpoint,
)
from ltd_bench.runner import train_in
from ltd_bench.runs import load
from ltd_bench.tasks import task_of
from ltd_bench.train import resume_problem

TINY = {
    "task": {"name": "adding", "seq_len": 10, "test_size": 50},
    "model": {"hidden_size": 8},
    "train": {"steps": 60, "eval_every": 20, "checkpoint_s": 100000, "stop_when_solved": False},
}


def tiny(seed: int = 0, hidden: int = 8, name: str = "t"):
    raw = json.loads(json.dumps(TINY))
    raw["model"]["hidden_size"] = hidden
    return validate_dict({"name": name, "seed": seed, **raw}, "tiny")


def folder(out: Path, cfg) -> Path:
    path = run_dir(out, cfg)
    prepare(path, cfg)
    return path


def checkpointed(out: Path, cfg, steps: int = 30) -> Path:
    """A run of `cfg` stopped after `steps` steps: its folder holds its checkpoint."""
    path = folder(out, cfg)
    calls = iter(range(10**6))
    res = train_in(cfg, path, stop=lambda: next(calls) >= steps)
    assert res.summary["status"] == "interrupted" and (path / CHECKPOINT).is_file()
    return path


def outcome(res) -> str:
    """Every metrics row but its wall time, as text (NaN compares equal to NaN)."""
    return json.dumps([{k: v for k, v in r.items() if k != "wall_time_s"} for r in res.metrics])


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> str:
    """The uninterrupted seed-0 run: what a run that starts afresh must reproduce."""
    cfg = tiny()
    return outcome(train_in(cfg, folder(tmp_path_factory.mktemp("fresh"), cfg)))


# ------------------------------------------------------------------------------------------ checkpoints
def resume_warns_once_and_starts_afresh(path: Path, cfg, fresh: str, expect: str) -> None:
    warnings: list[str] = []
    res = train_in(cfg, path, warn=warnings.append)
    assert len(warnings) == 1 and expect in warnings[0] and REJECTED in warnings[0], warnings
    assert (path / REJECTED).is_file()  # kept for inspection, not deleted
    assert outcome(res) == fresh  # afresh: the uninterrupted run's numbers


def test_a_flipped_byte_in_a_tensor_is_noticed(tmp_path, fresh):
    cfg = tiny()
    path = checkpointed(tmp_path, cfg)
    state, _ = read_checkpoint(path, cfg)
    weights = max(state["trainer"]["model"].values(), key=lambda t: t.numel()).numpy().tobytes()
    data = bytearray((path / CHECKPOINT).read_bytes())
    at = data.find(weights) + len(weights) // 2  # the middle of the recurrent weights' data
    data[at : at + 8] = bytes(b ^ 0xFF for b in data[at : at + 8])
    (path / CHECKPOINT).write_bytes(bytes(data))
    resume_warns_once_and_starts_afresh(path, cfg, fresh, "digest mismatch")


def test_another_runs_checkpoint_with_its_run_id_edited_is_refused(tmp_path, fresh):
    mine, other = tiny(0), tiny(1)
    theirs = checkpointed(tmp_path / "other", other)
    path = folder(tmp_path, mine)
    data = (theirs / CHECKPOINT).read_bytes().replace(other.run_id.encode(), mine.run_id.encode())
    (path / CHECKPOINT).write_bytes(data)
    resume_warns_once_and_starts_afresh(path, mine, fresh, "")


def test_a_checkpoint_of_another_shape_is_set_aside_not_an_error(tmp_path, fresh):
    mine, wide = tiny(0), tiny(0, hidden=16)
    state, _ = read_checkpoint(checkpointed(tmp_path / "wide", wide), wide)
    state["run_id"] = mine.run_id
    path = folder(tmp_path, mine)
    write_checkpoint(path, state, mine)  # sealed for this run: only its tensors' shapes are wrong
    assert "another shape" in resume_problem(mine, state)
    resume_warns_once_and_starts_afresh(path, mine, fresh, "weights of another shape")


def test_run_with_a_checkpoint_of_another_shape_trains_afresh_every_time(tmp_path, ltd_main):
    mine, wide = tiny(0, name="shape"), tiny(0, hidden=16, name="shape")
    state, _ = read_checkpoint(checkpointed(tmp_path / "wide", wide), wide)
    state["run_id"] = mine.run_id
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(mine.to_dict()))
    path = folder(tmp_path / "out", mine)
    write_checkpoint(path, state, mine)
    code, out, err = ltd_main("run", cfg_file, "--out", tmp_path / "out", "--no-progress")
    assert code == 0 and read_summary(path)["status"] == "unsolved", (out, err)
    assert err.count("warning") == 1 and "another shape" in err and "Traceback" not in err


def test_seal_binds_digest_run_and_config():
    blob = trust.seal(b"payload", "abc", "h" * 64)
    assert trust.unseal(blob, "abc", "h" * 64) == b"payload"
    for data, run_id, h, why in [
        (blob, "abd", "h" * 64, "another run"),
        (blob, "abc", "g" * 64, "another config"),
        (blob[:-1], "abc", "h" * 64, "truncated"),
        (blob[:-1] + b"X", "abc", "h" * 64, "digest"),
        (blob.replace(b'"abc"', b'"abd"'), "abd", "h" * 64, "digest"),  # an edited header field
        (b"PK\x03\x04junk", "abc", "h" * 64, "no header"),
    ]:
        with pytest.raises(ValueError, match=why):
            trust.unseal(data, run_id, h)


# ------------------------------------------------------------------------------- run folders on load
def healthy(root: Path) -> list[Path]:
    return [make_run(root, seed=s, steps=1500, every=500, steps_to_solve=1000) for s in range(3)]


def test_a_config_edited_after_the_run_is_skipped_not_a_cell_of_its_own(tmp_path, ltd_main):
    d = healthy(tmp_path)[0]
    for field, value in (("task.seq_len", 60), ("train.lr", 0.5)):
        config = yaml.safe_load((d / "config.yaml").read_text())
        section, key = field.split(".")
        config[section][key] = value
        (d / "config.yaml").write_text(yaml.safe_dump(config))
        res = load(tmp_path)
        assert len(res.runs) == 2 and set(res.runs.seq_len) == {50}
        assert [w for w in res.warnings if str(d) in w and "hashes to run id" in w]
    code, out, err = ltd_main("report", tmp_path)
    assert code == 0 and str(d) in err and "2 finished run(s)" in out


BAD_SUMMARIES = {  # steps_to_solve of a solved run with a budget of 1500 steps, as JSON text
    "1e9": "1e9",
    "10**9": "1000000000",
    "-500": "-500",
    "true": "true",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "0.5": "0.5",
}


@pytest.mark.parametrize("text", list(BAD_SUMMARIES.values()), ids=list(BAD_SUMMARIES))
def test_a_summary_out_of_range_is_skipped_with_a_warning(tmp_path, ltd_main, text):
    d = healthy(tmp_path)[0]
    raw = (d / "summary.json").read_text().replace('"steps_to_solve": 1000', f'"steps_to_solve": {text}')
    (d / "summary.json").write_text(raw)
    runs = ltd_bench.load_runs(tmp_path)  # never raises
    assert len(runs) == 2 and all(runs.steps_to_solve == 1000)
    (warning,) = [w for w in runs.attrs["warnings"] if str(d) in w]
    assert "steps_to_solve" in warning or "JSON allows" in warning
    code, out, err = ltd_main("report", tmp_path)
    assert code == 0 and "Traceback" not in err and str(d) in err and "2 finished run(s)" in out


@pytest.mark.parametrize(
    "field, value, why",
    [
        ("status", "done", "status"),
        ("test_error", 1.5, "test_error"),
        ("steps", 10**6, "steps"),
        ("wall_time_s", -1, "wall_time_s"),
        ("run_id", "0123456789ab", "run_id"),
        ("nonfinite_grad_steps", "3", "nonfinite_grad_steps"),
    ],
)
def test_summary_fields_are_typed_and_ranged_against_the_config(field, value, why):
    cfg = tiny()
    good = {"status": "solved", "steps_to_solve": 40, "steps": 40, "test_error": 0.0, "run_id": cfg.run_id}
    assert trust.summary_problems(good, cfg, cfg.run_id) == []
    problems = trust.summary_problems(good | {field: value}, cfg, cfg.run_id)
    assert len(problems) == 1 and why in problems[0]


def test_an_extended_budget_passes_when_its_config_hashes_to_its_folder(tmp_path):
    """However a run was trained (in several sessions, or continued to a larger budget), a folder whose
    config.yaml hashes to its name and whose summary fits that config is trusted."""
    d = make_run(tmp_path, steps=3000, every=500, steps_to_solve=2500)
    s = json.loads((d / "summary.json").read_text())
    (d / "summary.json").write_text(json.dumps(s | {"extended_from": "0123456789ab", "sessions": 2}))
    assert finished(d) == (True, None) and len(load(tmp_path).runs) == 1


def test_a_sweep_and_run_retrain_a_finished_folder_that_fails_its_checks(tmp_path, ltd_main):
    p = write(tmp_path, {"name": "sw", "base": BASE, "grid": {"seed": [0, 1]}})
    assert run(p, tmp_path / "out")[0] == 0
    bad = sorted((tmp_path / "out" / "sw").glob("*/summary.json"))[0].parent
    s = json.loads((bad / "summary.json").read_text())
    (bad / "summary.json").write_text(json.dumps(s | {"status": "solved", "steps_to_solve": 10**9}))
    rc, out, err = run(p, tmp_path / "out")
    assert rc == 0 and "2 runs, 1 done, 1 to run" in out and str(bad) in err and "steps_to_solve" in err
    assert finished(bad) == (True, None)
    (bad / "summary.json").write_text(json.dumps(s | {"steps_to_solve": 10**9, "status": "solved"}))
    cfg_file = tmp_path / "one.yaml"
    cfg_file.write_text(yaml.safe_dump(yaml.safe_load((bad / "config.yaml").read_text())))
    code, out, err = ltd_main("run", cfg_file, "--out", tmp_path / "out", "--no-progress")
    assert code == 0 and "not trusted" in err and str(bad) in err and finished(bad) == (True, None)


# ------------------------------------------------------------------------------------------ bounded reads
def npz_with(member: str, header_shape: tuple, data: bytes) -> bytes:
    """An .npz whose member's .npy header claims `header_shape` (float32), followed by `data`."""
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, {"descr": "<f4", "fortran_order": False, "shape": header_shape})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("step.npy", _npy(np.arange(3)))
        z.writestr(f"{member}.npy", npy.getvalue() + data)
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
    except ValueError:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def test_an_npz_whose_header_claims_a_huge_shape_is_refused_before_reading(tmp_path):
    d = make_run(tmp_path, flow=True)
    (d / "gradient_flow.npz").write_bytes(npz_with("grad_norm", (1 << 20, 1 << 12), bytes(4096)))  # 16 GiB
    with pytest.raises(ValueError, match=r"gradient_flow.npz: grad_norm has shape \(1048576, 4096\), beyond"):
        read_flow(d)
    assert peak_mb(lambda: read_flow(d)) < 8


def test_the_flow_bound_is_the_tasks_own_sequence_length(tmp_path):
    """Copying feeds T + 2 copy_len steps, not T: a real record of every step is read, one wider refused."""
    d = make_run(tmp_path, task="copying", seq_len=10, options={"copy_len": 3}, flow=True)
    cfg = trust.config_of(yaml.safe_load((d / "config.yaml").read_text()), d.name)
    x, _ = task_of(cfg.task).sample(2, torch.Generator().manual_seed(0))
    rows = trust.max_evals(cfg)
    for width, ok in ((x.shape[0], True), (x.shape[0] + 1, False)):
        buf = io.BytesIO()
        np.savez(buf, step=np.arange(rows), grad_norm=np.ones((rows, width), np.float32))
        (d / "gradient_flow.npz").write_bytes(buf.getvalue())
        if ok:
            assert read_flow(d)["grad_norm"].shape == (rows, 16)
        else:
            with pytest.raises(ValueError, match="beyond the"):
                read_flow(d)


def test_a_compressed_bomb_is_refused_by_its_declared_size(tmp_path):
    d = make_run(tmp_path, flow=True)  # 4 evaluations of T=50: 200 values
    buf = io.BytesIO()
    np.savez_compressed(buf, step=np.arange(4), grad_norm=np.zeros((4, 2_500_000), np.float32))  # 40 MB
    (d / "gradient_flow.npz").write_bytes(buf.getvalue())
    assert (d / "gradient_flow.npz").stat().st_size < 200_000
    with pytest.raises(ValueError, match="unpacks to 40,000,128 bytes"):
        read_flow(d)
    assert peak_mb(lambda: read_flow(d)) < 8


def test_oversized_run_files_are_refused_unread(tmp_path):
    d = healthy(tmp_path)[0]
    rows = (d / "metrics.csv").read_text().splitlines()
    (d / "metrics.csv").write_text(
        "\n".join([rows[0]] + rows[1:2] * 5000) + "\n"
    )  # 5,000 rows for 4 evaluations
    (healthy(tmp_path / "b")[1] / "summary.json").write_text(" " * (trust.SUMMARY_BYTES + 1))
    warnings = load(tmp_path).warnings + load(tmp_path / "b").warnings
    assert any(str(d) in w and "metrics.csv" in w for w in warnings)
    assert any("summary.json is" in w and "bytes" in w for w in warnings)


# --------------------------------------------------------------------------------------------- exit codes
@contextlib.contextmanager
def unwritable(path: Path):
    """A folder nobody may create anything in: read-only by its mode, and immutable for root, whom modes
    do not stop (chattr +i)."""
    path.mkdir()
    os.chmod(path, 0o555)
    if os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("running as root where chattr +i is not available: nothing here is unwritable to root")
    try:
        yield path
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        os.chmod(path, 0o755)


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_an_unwritable_out_is_a_usage_error_in_one_line(tmp_path, command):
    config = write(
        tmp_path, {"name": "sw", "base": BASE, "grid": {"seed": [0]}} if command == "sweep" else BASE
    )
    with unwritable(tmp_path / "readonly") as readonly:
        p = subprocess.run(
            cli(command, str(config), "--out", str(readonly / "out")),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 2, (p.stdout, p.stderr)
        assert p.stderr.strip().count("\n") == 0 and str(readonly) in p.stderr and "not writable" in p.stderr
        assert list(readonly.iterdir()) == []
