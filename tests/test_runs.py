"""Loading results folders: known counts, damaged folders named and skipped, the public load_runs."""

import json
import shutil
import subprocess
import sys

import pytest
from runfolders import make_run

import ltd_bench
from ltd_bench import outputs
from ltd_bench.runs import load


@pytest.fixture
def folder(tmp_path):
    """rnn+clip 1/3 solved, rnn+clip+Ω 3/3, lstm 2/3 + 1 diverged, one interrupted and one failed run."""
    for s in range(3):
        make_run(tmp_path, seed=s, status="solved" if s == 0 else "unsolved", steps_to_solve=1500)
        make_run(tmp_path, seed=s, omega=2.0, steps_to_solve=1000 + 500 * s)
        make_run(tmp_path, seed=s, model="lstm", clip="none", status="solved" if s < 2 else "diverged")
    make_run(tmp_path, seed=7, omega=2.0, status="interrupted")
    failed = make_run(tmp_path, seed=8, model="lstm", clip="none", status="failed")
    (failed / "summary.json").write_text(json.dumps({"status": "failed", "error": "RuntimeError: boom"}))
    (failed / "metrics.csv").unlink()
    return tmp_path


def test_load_known_counts(folder):
    res = load(folder)
    runs = res.runs
    assert len(runs) == 11 and set(runs.method) == {"rnn+clip", "rnn+clip+Ω", "lstm"}
    assert runs.status.value_counts().to_dict() == {
        "solved": 6,
        "unsolved": 2,
        "diverged": 1,
        "interrupted": 1,
        "failed": 1,
    }
    assert (runs["train.steps"] == 2000).all() and (runs.seq_len == 50).all()
    assert runs.loc[runs.status == "diverged", "diverged_at_step"].iloc[0] == 700
    assert any("2 run(s) interrupted/failed" in w for w in res.warnings)
    assert len(res.metrics) == 10  # the failed run has none; every other metrics.csv parsed once
    one = sorted((folder / "exp").iterdir())[0]
    assert len(load(one).runs) == 1 and len(load(folder / "exp").runs) == 11


def test_damaged_folders_are_skipped_and_named(folder):
    bad = {
        "summary.json: invalid or truncated JSON (Unterminated string starting at line 1": lambda d: (
            d / "summary.json"
        ).write_text('{"status": "solved", "steps_to'),
        "metrics.csv: empty file": lambda d: (d / "metrics.csv").write_text(""),
        "missing config.yaml": lambda d: (d / "config.yaml").unlink(),
        "metrics.csv: truncated": lambda d: (d / "metrics.csv").write_text(
            (d / "metrics.csv").read_text()[:-12]
        ),
        "status None": lambda d: (d / "summary.json").write_text('{"steps_to_solve": null}'),
        "config.yaml: line 1": lambda d: (d / "config.yaml").write_text("model: [unclosed"),
        "metrics.csv: non-numeric test_error value 'x'": lambda d: (d / "metrics.csv").write_text(
            "step,test_error,test_loss\n0,x,1\n"
        ),
        "config.yaml hashes to run id": lambda d: (d / "config.yaml").write_text("task: {name: adding}\n"),
    }
    for i, damage in enumerate(bad.values()):
        damage(make_run(folder, name=f"bad{i}", seed=100 + i))
    res = load(folder)
    assert len(res.runs) == 11  # the healthy ones are all still there
    for i, expected in enumerate(bad):
        hits = [w for w in res.warnings if f"bad{i}" in w]
        assert len(hits) == 1 and expected in hits[0], (expected, hits)
    assert not any("at at" in w for w in res.warnings)


def test_duplicate_run_ids_count_once(folder):
    src = next(d for d in (folder / "exp").iterdir() if d.is_dir())  # the same run copied elsewhere
    shutil.copytree(src, folder / "backup" / "exp" / src.name)
    first = json.loads((src / "summary.json").read_text())
    res = load(folder)
    assert len(res.runs) == 11 and any(f"duplicate of run {first['run_id']}" in w for w in res.warnings)


def test_public_load_runs_is_a_dataframe_and_import_stays_light(folder):
    runs = ltd_bench.load_runs(folder)
    assert len(runs) == 11 and {"train.steps", "status", "steps_to_solve", "method", "run_dir"} <= set(runs)
    assert runs.attrs["warnings"] and isinstance(runs.attrs["warnings"][0], str)
    with pytest.raises(FileNotFoundError):
        ltd_bench.load_runs(folder / "nope")
    code = "import sys, ltd_bench; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_flow_reader_refuses_pickles(tmp_path):
    import numpy as np

    d = make_run(tmp_path, flow=True)
    assert outputs.read_flow(d)["grad_norm"].shape == (3, 50)  # evaluations at 0, 500, 1000
    np.savez(d / "gradient_flow.npz", step=np.array([0]), grad_norm=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="gradient_flow.npz"):
        outputs.read_flow(d)


def test_reading_a_results_folder_needs_no_torch():
    """load_runs and the report read folders without importing torch (seconds saved on every report)."""
    import subprocess
    import sys

    code = "import sys, ltd_bench, ltd_bench.report; ltd_bench.load_runs('.'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_task_options_read_at_their_effective_values(tmp_path):
    """Copying with `options: {}` is copy_len 10 (its default): the same value as a run that says so, an
    int as in the config; a task without the option (adding) leaves it missing."""
    make_run(tmp_path, task="copying", seq_len=10, seed=0)
    make_run(tmp_path, task="copying", seq_len=10, seed=1, options={"copy_len": 3})
    make_run(tmp_path, task="copying", seq_len=10, seed=2, options={"copy_len": 10})
    make_run(tmp_path, task="adding", seq_len=10, seed=3)
    runs = load(tmp_path).runs.set_index("seed")
    col = runs["task.options.copy_len"]
    assert [col[0], col[1], col[2]] == [10, 3, 10] and all(type(col[s]) is int for s in (0, 1, 2))
    assert col[3] is None


def test_no_option_set_no_column(tmp_path):
    make_run(tmp_path, task="copying", seq_len=10)
    assert not [c for c in load(tmp_path).runs.columns if c.startswith("task.options.")]
