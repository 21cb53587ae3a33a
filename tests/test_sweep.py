"""Sweeps: expansion (methods × grid × zip, de-dup, --set), every error at once with exit 2 and nothing
written, dry runs, resume after partial writes / SIGKILL / Ctrl-C, failed runs, workers-independent numbers."""

import datetime
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from subprocs import INTERRUPTIBLE

from ltd_bench import jobs, runner
from ltd_bench import train as train_module
from ltd_bench.config import ConfigError
from ltd_bench.outputs import is_finished, read_summary
from ltd_bench.sweep import is_sweep_file, load_sweep, sweep_command

REPO = Path(__file__).resolve().parents[1]
TINY_FILE = REPO / "configs" / "sweeps" / "tiny.yaml"
# tiny.yaml shrunk to ~0.05 s per run (its own budget is ~2 s per run, for demos and timing)
SMALL = [
    "task.seq_len=10",
    "task.test_size=50",
    "model.hidden_size=4",
    "train.steps=20",
    "train.eval_every=10",
]
BASE = {
    "task": {"name": "temporal_order", "seq_len": 10, "test_size": 50},
    "model": {"hidden_size": 4},
    "train": {"steps": 20, "eval_every": 10},
}


def write(tmp_path: Path, sweep: dict | str, name: str = "sweep.yaml") -> Path:
    p = tmp_path / name
    p.write_text(
        sweep if isinstance(sweep, str) else yaml.safe_dump(sweep, allow_unicode=True, sort_keys=False)
    )
    return p


def run(
    path: Path, out: Path, overrides=(), workers=1, dry_run=False, executor="local"
) -> tuple[int, str, str]:
    o, e = io.StringIO(), io.StringIO()
    rc = sweep_command(
        path,
        out=out,
        overrides=list(overrides),
        workers=workers,
        dry_run=dry_run,
        executor=executor,
        scheduler=None,
        progress=True,
        console=Console(file=o, width=250),
        err_console=Console(file=e, width=250),
    )
    return rc, o.getvalue(), e.getvalue()


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("*/*") if p.is_dir())


def metrics(d: Path) -> list[list[str]]:
    """metrics.csv without the wall_time_s column: what must not depend on timing or workers."""
    rows = [line.split(",") for line in (d / "metrics.csv").read_text().splitlines()]
    i = rows[0].index("wall_time_s")
    return [r[:i] + r[i + 1 :] for r in rows]


def all_metrics(out: Path) -> dict[str, list]:
    return {d.name: metrics(d) for d in run_dirs(out)}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """tiny.yaml (8 runs) swept once in-process: the reference every resume must reproduce."""
    out = tmp_path_factory.mktemp("ref")
    rc, stdout, _ = run(TINY_FILE, out, SMALL)
    assert rc == 0 and "8 runs, 0 done, 8 to run" in stdout
    return out


def copy_of(finished: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(finished, out)  # copy2: mtimes kept
    return out


def no_training(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("trained")

    monkeypatch.setattr(runner, "train", refuse)
    monkeypatch.setattr(jobs, "train_runs", refuse)  # runs trained as a pack


# ------------------------------------------------------------------------------------------ expansion
def test_methods_grid_zip_order_values_and_labels(tmp_path):
    p = write(
        tmp_path,
        {
            "name": "exp",
            "base": BASE,
            "methods": {"a": {"clipping.mode": "norm"}, "b": {"clipping": {"mode": "value"}}},
            "grid": {"clipping.threshold": [1.0, 10.0], "seed": [0, 1]},
            "zip": {"task.seq_len": [10, 12], "train.steps": [20, 30]},
        },
    )
    sw = load_sweep(p)
    got = [
        (
            r.label,
            r.config.clipping.mode,
            r.config.clipping.threshold,
            r.config.seed,
            r.config.task.seq_len,
            r.config.train.steps,
        )
        for r in sw.runs
    ]
    want = [
        (m, mode, t, s, L, n)
        for m, mode in (("a", "norm"), ("b", "value"))
        for t in (1.0, 10.0)
        for s in (0, 1)
        for L, n in ((10, 20), (12, 30))
    ]
    assert got == want and sw.duplicates == 0
    assert all(
        r.config.name == "exp" and r.config.method == r.label and r.config.model.hidden_size == 4
        for r in sw.runs
    )
    assert sw.runs[-1].keys == {"clipping.threshold": 10.0, "seed": 1, "task.seq_len": 12, "train.steps": 30}
    assert sw.manifest()["methods"] == {"a": {"clipping.mode": "norm"}, "b": {"clipping.mode": "value"}}
    assert sw.grid_keys == ["clipping.threshold", "seed"] and sw.zip_keys == ["task.seq_len", "train.steps"]


def test_a_swept_mapping_is_shown_whole(tmp_path, ltd_main):
    """Zipping task.options: each run's key is the mapping it got ({} too), as --dry-run lists it."""
    zipped = {"task.name": ["copying", "parity"], "task.options": [{"copy_len": 3}, {}]}
    p = write(tmp_path, {"name": "exp", "base": BASE, "zip": zipped})
    assert [r.keys["task.options"] for r in load_sweep(p).runs] == [{"copy_len": 3}, {}]
    code, out, err = ltd_main("sweep", p, "--out", tmp_path / "out", "--dry-run")
    assert code == 0 and '{"copy_len": 3}' in out, err


def test_identical_configs_are_run_once_and_set_applies_to_every_run(tmp_path):
    p = write(
        tmp_path, {"name": "exp", "base": BASE, "grid": {"seed": [0, 0, 1], "clipping.threshold": [1, 2]}}
    )
    sw = load_sweep(p)
    assert len(sw.runs) == 4 and sw.duplicates == 2 and all(r.label == "rnn" for r in sw.runs)
    sw = load_sweep(p, ["clipping.threshold=5", "train.lr=0.5"])  # --set wins over the grid: 2 distinct runs
    assert len(sw.runs) == 2 and {r.config.clipping.threshold for r in sw.runs} == {5.0}
    assert all(r.config.train.lr == 0.5 and r.keys["clipping.threshold"] == 5.0 for r in sw.runs)
    assert len({r.config.run_id for r in sw.runs}) == 2


def test_base_file_is_relative_to_the_sweep_file(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({**BASE, "name": "ignored"}))
    (tmp_path / "sweeps").mkdir()
    p = write(tmp_path / "sweeps", {"name": "exp", "base": "../base.yaml", "grid": {"seed": [3]}})
    (r,) = load_sweep(p).runs
    assert r.config.name == "exp" and r.config.seed == 3 and r.config.task.seq_len == 10


def test_shipped_sweeps_are_valid():
    for f in sorted((REPO / "configs" / "sweeps").glob("*.yaml")):
        assert is_sweep_file(f) and load_sweep(f).runs, f
        assert f.read_text().startswith(f"# ltd-bench sweep configs/sweeps/{f.name}"), f


def test_is_sweep_file(tmp_path):
    assert is_sweep_file(write(tmp_path, {"name": "x", "base": BASE}))
    assert not is_sweep_file(write(tmp_path, {**BASE, "name": "x"}, "run.yaml"))
    assert not is_sweep_file(write(tmp_path, "grid: [unclosed", "broken.yaml"))
    assert not is_sweep_file(tmp_path / "missing.yaml")


# ------------------------------------------------------------------------------------------ errors
ERRORS = {
    "zip_length": (
        {"zip": {"task.seq_len": [10, 12], "seed": [0, 1, 2]}},
        ["zip: lists of different lengths: task.seq_len has 2, seed has 3"],
    ),
    "empty_list": ({"grid": {"seed": []}}, ["grid.seed: empty list"]),
    "not_a_list": ({"grid": {"seed": 3}}, ["grid.seed: expected a list of values, got 3 (int)"]),
    "a_date": (  # YAML reads 2026-01-02 as a date, which JSON cannot write: the message still can
        {"grid": {"seed": datetime.date(2026, 1, 2)}},
        ['grid.seed: expected a list of values, got "2026-01-02" (date)'],
    ),
    "unknown_grid_key": (
        {"grid": {"model.hiden_size": [4, 8]}},
        [
            "model.hiden_size: unknown key (did you mean 'hidden_size'?)",
            "(from grid model.hiden_size=4)",
            "(from grid model.hiden_size=8)",
        ],
    ),
    "unknown_method_key": (
        {"methods": {"a": {"clipping.mod": "norm"}, "b": {}}},
        ["clipping.mod: unknown key (did you mean 'mode'?)", "(from method 'a': clipping.mod=norm)"],
    ),
    "bad_grid_value": (
        {"grid": {"clipping.threshold": [1.0, 0]}},
        ["clipping.threshold: Input should be greater than 0, got 0", "from grid clipping.threshold=0"],
    ),
    "unknown_top_level": ({"gird": {"seed": [0]}}, ["gird: unknown sweep key (did you mean 'grid'?)"]),
    "missing_base": ({"base": "nowhere.yaml"}, ["base: nowhere.yaml: file not found"]),
    "swept_twice": ({"grid": {"seed": [0]}, "zip": {"seed": [1]}}, ["zip.seed: also in grid"]),
    "base_x_method": (
        {
            "base": {**BASE, "model": {"hidden_size": 4, "init": "smart_tanh"}},
            "methods": {"rnn": {}, "lstm": {"model.type": "lstm"}},
        },
        ["model.init: init 'smart_tanh' is for vanilla RNNs", "(from base; in method 'lstm')"],
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_sweep_errors_exit_2_and_write_nothing(tmp_path, case):
    extra, expected = ERRORS[case]
    p = write(tmp_path, {"name": "exp", "base": BASE, **extra})
    with pytest.raises(ConfigError) as ei:
        load_sweep(p)
    for msg in expected:
        assert any(e.startswith(f"{p}: ") and msg in e for e in ei.value.errors), (msg, ei.value.errors)
    out = tmp_path / "out"
    rc, _, err = run(p, out)
    assert rc == 2 and str(p) in err and not out.exists()


def test_all_errors_are_reported_at_once(tmp_path):
    p = write(
        tmp_path,
        {
            "name": "exp",
            "base": BASE,
            "gird": 1,
            "methods": {"a": {"model.tpye": "rnn"}},
            "grid": {"seed": [], "clipping.threshold": [-1, 0]},
            "zip": {"a.b": [1], "c.d": [1, 2]},
        },
    )
    with pytest.raises(ConfigError) as ei:
        load_sweep(p, ["train.lr=0"])
    text = "\n".join(ei.value.errors)
    for part in (
        "gird: unknown sweep key",
        "grid.seed: empty list",
        "zip: lists of different lengths",
        "model.tpye: unknown key",
        "got -1",
        "got 0 (int) (from grid",
        "(from --set train.lr=0)",
    ):
        assert part in text, text
    assert len(ei.value.errors) == 7  # each problem once, not once per run


def test_unknown_executor_exits_2(tmp_path):
    rc, _, err = run(TINY_FILE, tmp_path / "out", SMALL, executor="ray")
    assert rc == 2 and "unknown executor 'ray'" in err and not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------ running
def test_dry_run_lists_and_trains_nothing(tmp_path, monkeypatch, finished):
    no_training(monkeypatch)
    rc, stdout, _ = run(TINY_FILE, tmp_path / "out", SMALL, dry_run=True)
    assert rc == 0 and not (tmp_path / "out").exists()
    assert (
        "8 runs, 0 done, 8 to run" in stdout and stdout.count("todo") == 8 and "clipping.threshold" in stdout
    )
    rc, stdout, _ = run(TINY_FILE, finished, SMALL, dry_run=True)
    assert rc == 0 and stdout.count("done") >= 8 and "todo" not in stdout


def test_tiny_sweep_writes_8_runs_and_a_rerun_trains_nothing(tmp_path, monkeypatch, finished):
    out = copy_of(finished, tmp_path)
    dirs = run_dirs(out)
    assert len(dirs) == 8 and all(is_finished(d) for d in dirs)
    sw = json.loads((out / "tiny" / "sweep.json").read_text())
    assert sw["grid_keys"] == ["clipping.threshold", "seed"] and sw["zip_keys"] == []
    assert set(sw["methods"]) == {"rnn+clip", "rnn+clip+Ω"} and sorted(sw["runs"]) == [d.name for d in dirs]
    mtimes = {d: (d / "summary.json").stat().st_mtime_ns for d in dirs}
    no_training(monkeypatch)
    rc, stdout, _ = run(TINY_FILE, out, SMALL)
    assert rc == 0 and "8 runs, 8 done, 0 to run" in stdout
    assert mtimes == {d: (d / "summary.json").stat().st_mtime_ns for d in dirs}


def test_resume_redoes_exactly_the_unfinished_runs(tmp_path, finished):
    out = copy_of(finished, tmp_path)
    dirs = run_dirs(out)
    (dirs[0] / "summary.json").unlink()  # killed before the last write
    (dirs[1] / "summary.json").write_text('{"status": "sol')  # torn write (not atomic elsewhere)
    for f in dirs[2].iterdir():  # only the config got written
        if f.name != "config.yaml":
            f.unlink()
    for d, status in ((dirs[3], "interrupted"), (dirs[4], "failed")):
        s = json.loads((d / "summary.json").read_text())
        (d / "summary.json").write_text(json.dumps({**s, "status": status}))
    kept = {d: (d / "summary.json").stat().st_mtime_ns for d in dirs[5:]}
    rc, stdout, _ = run(TINY_FILE, out, SMALL)
    assert rc == 0 and "8 runs, 3 done, 5 to run" in stdout and stdout.count("] rnn+clip") == 5
    assert all(is_finished(d) for d in run_dirs(out)) and len(run_dirs(out)) == 8
    assert kept == {d: (d / "summary.json").stat().st_mtime_ns for d in dirs[5:]}
    assert all_metrics(out) == all_metrics(finished)


def test_a_run_that_raises_is_recorded_failed_and_the_sweep_goes_on(tmp_path, monkeypatch):
    """Alone or in a pack (the default packs these runs), a run that raises fails alone."""
    real = train_module.Trainer

    class Flaky(real):
        def __init__(self, cfg):
            if cfg.seed == 1:
                raise FloatingPointError("injected")
            super().__init__(cfg)

    monkeypatch.setattr(train_module, "Trainer", Flaky)
    out = tmp_path / "out"
    rc, stdout, err = run(TINY_FILE, out, SMALL)
    assert rc == 1 and "4 run(s) failed" in err and stdout.count("FAILED FloatingPointError: injected") == 4
    summaries = [json.loads((d / "summary.json").read_text()) for d in run_dirs(out)]
    failed = [s for s in summaries if s["status"] == "failed"]
    assert len(failed) == 4 and all(s["error"] == "FloatingPointError: injected" for s in failed)
    monkeypatch.setattr(train_module, "Trainer", real)
    rc, stdout, _ = run(TINY_FILE, out, SMALL)  # failed runs are retried, finished ones kept
    assert rc == 0 and "8 runs, 4 done, 4 to run" in stdout


def test_workers_do_not_change_the_numbers(tmp_path, finished):
    rc, _, _ = run(TINY_FILE, tmp_path / "out", SMALL, workers=2)
    assert rc == 0 and all_metrics(tmp_path / "out") == all_metrics(finished)


def test_run_gives_the_sweeps_numbers(tmp_path, finished):
    """`ltd-bench run` on a swept run's resolved config lands in the same folder with the same metrics."""
    from typer.testing import CliRunner

    from ltd_bench.cli import app

    ref = run_dirs(finished)[0]
    res = CliRunner().invoke(app, ["run", str(ref / "config.yaml"), "--out", str(tmp_path), "--no-progress"])
    assert res.exit_code == 0, res.output
    (mine,) = run_dirs(tmp_path)
    assert mine.name == ref.name and metrics(mine) == metrics(ref)


# ------------------------------------------------------------------------------ real processes, signals
def cli(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("ltd-bench")
    base = [str(exe)] if exe.exists() else [sys.executable, "-c", "from ltd_bench.cli import main; main()"]
    return [*base, *args]


def start(p: Path, out: Path, workers: int, extra: list[str] = ()) -> subprocess.Popen:
    return subprocess.Popen(
        cli("sweep", str(p), "--out", str(out), "--workers", str(workers), "--no-progress", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **INTERRUPTIBLE,
    )


def wait_for_first_run(proc: subprocess.Popen, out: Path, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not list(out.glob("*/*/summary.json")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "no run finished in time"
        time.sleep(0.01)


def group_gone(pgid: int, timeout: float = 10) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


ONE_BY_ONE = ["--pack", "off"]


@pytest.fixture(scope="module")
def sixteen(tmp_path_factory) -> tuple[Path, Path]:
    """A 16-run sweep and its uninterrupted result (in-process, one worker). 300 steps: trained one
    by one (ONE_BY_ONE) on 2 workers, its runs finish over about 2.5 s, seconds for a signal sent at the
    first finished run to land mid-sweep (packed, all 16 finish within about 0.1 s of each other)."""
    d = tmp_path_factory.mktemp("sixteen")
    p = write(
        d,
        {
            "name": "sixteen",
            "base": {**BASE, "model": {"hidden_size": 8}, "train": {"steps": 300}},
            "methods": {"rnn+clip": {"clipping.mode": "norm"}, "rnn": {}},
            "grid": {"seed": list(range(8))},
        },
    )
    rc, _, _ = run(p, d / "ref")
    assert rc == 0
    return p, d / "ref"


def test_sigkill_mid_sweep_then_resume_loses_nothing(tmp_path, sixteen):
    p, ref = sixteen
    out = tmp_path / "out"
    proc = start(p, out, workers=2, extra=ONE_BY_ONE)
    wait_for_first_run(proc, out)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n = sum(is_finished(d) for d in run_dirs(out))
    assert 1 <= n < 16 and group_gone(proc.pid)
    proc = start(p, out, workers=2)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert f"16 runs, {n} done, {16 - n} to run" in stdout
    assert all(is_finished(d) for d in run_dirs(out)) and all_metrics(out) == all_metrics(ref)


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_exits_130_and_keeps_finished_runs(tmp_path, sixteen, workers):
    p, ref = sixteen
    out = tmp_path / "out"
    proc = start(p, out, workers, extra=ONE_BY_ONE)
    wait_for_first_run(proc, out)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in stderr, (stdout, stderr)
    assert group_gone(proc.pid)  # the workers were stopped too
    done = [d for d in run_dirs(out) if is_finished(d)]
    assert 1 <= len(done) < 16 and all(metrics(d) == metrics(ref / "sixteen" / d.name) for d in done)


def test_ctrl_c_checkpoints_running_runs(tmp_path, sixteen):
    p, ref = sixteen
    out = tmp_path / "out"
    proc = start(p, out, workers=2, extra=["--set", "train.steps=3000", "--set", "train.checkpoint_s=1000"])
    wait_for_checkpointless_training(proc, out)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "checkpointed" in stderr, (stdout, stderr)
    interrupted = [d for d in run_dirs(out) if (read_summary(d) or {}).get("status") == "interrupted"]
    assert interrupted and all((d / "checkpoint.pt").is_file() for d in interrupted)


def wait_for_checkpointless_training(proc, out: Path, timeout: float = 60) -> None:
    """Until some run has written evaluations (training is under way in the workers)."""
    end = time.monotonic() + timeout
    while not any(
        len((d / "metrics.csv").read_text().splitlines()) > 2
        for d in out.glob("*/*")
        if (d / "metrics.csv").is_file()
    ):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "no training in time"
        time.sleep(0.02)


def test_kill_9_of_the_main_process_leaves_no_worker(tmp_path, sixteen):
    p, _ = sixteen
    proc = start(p, tmp_path / "out", workers=2, extra=["--set", "train.steps=100000"])
    wait_for_checkpointless_training(proc, tmp_path / "out")
    os.kill(proc.pid, signal.SIGKILL)  # the main process alone: its workers are not signalled
    proc.wait()
    assert group_gone(proc.pid, timeout=10)  # workers and the fork server are gone within 10 s


def test_a_closed_stdout_does_not_stop_the_sweep(tmp_path, sixteen):
    p, ref = sixteen
    out = tmp_path / "out"
    proc = start(p, out, workers=1)
    proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    proc.wait(timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr.read()
    assert len(run_dirs(out)) == 16 and all_metrics(out) == all_metrics(ref)


def test_two_sweeps_on_one_folder_split_the_work(tmp_path):
    p = write(
        tmp_path,
        {
            "name": "shared",
            "base": {**BASE, "model": {"hidden_size": 8}, "train": {"steps": 2000, "eval_every": 100}},
            "grid": {"seed": list(range(6))},
        },
    )
    out = tmp_path / "out"
    # one run at a time: a pack would claim all six at once (tests/test_pack.py: packs and claims); 2000
    # steps a run (about 1.3 s) so that a second sweep starting seconds late still finds runs to claim
    a, b = start(p, out, workers=1, extra=ONE_BY_ONE), start(p, out, workers=1, extra=ONE_BY_ONE)
    (oa, ea), (ob, eb) = a.communicate(timeout=300), b.communicate(timeout=300)
    assert a.returncode == 0 and b.returncode == 0, (ea, eb)
    assert len(run_dirs(out)) == 6 and all(is_finished(d) for d in run_dirs(out))
    trained = [sum(line.startswith("[") for line in o.splitlines()) for o in (oa, ob)]  # "[k/n] ..." per run
    assert sum(trained) == 6 and min(trained) >= 1, (oa, ob)  # no run trained twice, both worked
    assert not list(out.glob("*/*/claim"))  # claims released


def test_an_absurd_grid_is_refused_at_once(tmp_path):
    p = write(
        tmp_path,
        {
            "name": "huge",
            "base": BASE,
            "grid": {
                "seed": list(range(100)),
                "train.lr": [0.01 * (i + 1) for i in range(100)],
                "train.steps": list(range(1, 101)),
                "task.seq_len": list(range(2, 102)),
            },
        },
    )
    rc, stdout, err = run(p, tmp_path / "out", dry_run=True)
    assert rc == 2 and "100,000,000 runs" in err and "grid.seed: 100" in err and "--max-runs" in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="more than --max-runs 10"):
        load_sweep(
            write(tmp_path, {"name": "s", "base": BASE, "grid": {"seed": list(range(11))}}), max_runs=10
        )


def test_sweep_json_drops_earlier_runs_that_never_started(tmp_path):
    """A run an earlier sweep planned but no longer plans (an exclude: added since) and never started must
    not stay in sweep.json, where status would count it as waiting for ever; a started one stays."""
    from ltd_bench.sweep import _write_manifest

    path = tmp_path / "sweep.json"
    plan = {r: {"method": "m", "steps": 10} for r in ("started", "dropped", "kept")}
    first = {"name": "s", "grid_keys": [], "zip_keys": [], "methods": {}, "runs": list(plan), "plan": plan}
    _write_manifest(path, first)
    (tmp_path / "started").mkdir()
    _write_manifest(path, first | {"runs": ["kept"], "plan": {"kept": plan["kept"]}})
    merged = json.loads(path.read_text())
    assert merged["runs"] == ["started", "kept"]
    assert set(merged["plan"]) == {"started", "kept"}
