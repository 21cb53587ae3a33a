"""End-to-end CLI: every task × model at a tiny budget, the run folder contract, ls and validate."""

import csv
import json

import pytest
import yaml
from typer.testing import CliRunner

from ltd_bench import choices
from ltd_bench.cli import app
from ltd_bench.tasks import TASKS

runner = CliRunner()
TINY = (
    "name: t\ntask: {{name: {task}, seq_len: 12, test_size: 20}}\nmodel: {{type: {model}, hidden_size: 4}}\n"
    "train: {{steps: 4, eval_every: 2, threads: 1}}\nclipping: {{mode: norm}}\n"
    "regularizer: {{omega_weight: {omega}}}\n"
)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("task", TASKS.names())
@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_run_every_task_and_model(tmp_path, task, model):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TINY.format(task=task, model=model, omega=1.0 if model == "rnn" else 0.0))
    res = invoke("run", cfg, "--out", tmp_path / "out", "--no-progress")
    assert res.exit_code == 0, res.output
    (run,) = (tmp_path / "out" / "t").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] in {"solved", "unsolved", "diverged"}
    assert summary["run_id"] == run.name and summary["steps"] in (4, summary["steps_to_solve"])
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows][:2] == [0, 2]
    assert {"step", "train_loss", "test_loss", "test_error", "grad_norm", "clip_rate", "omega"} <= set(
        rows[0]
    )
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["task"]["name"] == task and resolved["train"]["lr"] == 0.01  # defaults resolved
    assert (run / "model.pt").is_file() and (run / "gradient_flow.npz").is_file()
    assert summary["status"] in res.output  # the result table


def test_same_config_same_run_folder_and_numbers(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TINY.format(task="adding", model="rnn", omega=2.0))
    outs = []
    for out in ("a", "b"):
        assert invoke("run", cfg, "--out", tmp_path / out, "--no-progress").exit_code == 0
        (run,) = (tmp_path / out / "t").iterdir()
        rows = list(csv.DictReader((run / "metrics.csv").open()))
        outs.append((run.name, [{k: v for k, v in r.items() if k != "wall_time_s"} for r in rows]))
    assert outs[0] == outs[1]


def test_set_override_changes_the_run(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TINY.format(task="parity", model="rnn", omega=0.0))
    res = invoke("validate", cfg, "--set", "task.seq_len=20", "--set", "train.lr=1e-3")
    assert res.exit_code == 0
    body = yaml.safe_load(res.output)
    assert body["task"]["seq_len"] == 20 and body["train"]["lr"] == 0.001
    assert "# run_id:" in res.output


def test_ls_lists_everything():
    res = invoke("ls", "tasks")
    assert res.exit_code == 0
    for name in TASKS.names():
        assert name in res.output
    res = invoke("ls")
    for table in (
        choices.MODELS,
        choices.CLIPPING,
        choices.OPTIMIZERS,
        choices.INITS,
        choices.NONFINITE,
        choices.OMEGA_FORMS,
        choices.SCHEDULES,
    ):
        assert all(name in res.output for name in table)
    assert "parity.marked" in res.output and "n_marked=2" in res.output  # variants with their options
    assert invoke("ls", "taks").exit_code == 2


def test_ls_fields_lists_every_config_field_with_its_default(monkeypatch):
    from ltd_bench import cli
    from ltd_bench.config import Config, flatten

    monkeypatch.setattr(cli.out_console, "_width", 250)  # one row per field: nothing folds
    out = invoke("ls", "fields").output
    for key in flatten(Config().to_dict()):
        assert key in out, key
    assert "checkpoint_s" in out and "300.0" in out and "rnn | lstm | gru" in out


def test_config_error_exit_2_writes_nothing(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: t\nmodel: {type: lsmt, hiden_size: 4}\ntrain: {steps: 16.5}\n")
    res = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    err = res.output
    assert "model.type" in err and "did you mean 'lstm'" in err
    assert "model.hiden_size" in err and "hidden_size" in err
    assert "train.steps" in err
    assert not (tmp_path / "out").exists()
