"""End-to-end CLI: every task × model at a tiny budget, the run folder contract, ls and validate."""

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from ltd_bench import choices
from ltd_bench.cli import app
from ltd_bench.config import Config
from ltd_bench.tasks import TASKS
from ltd_bench.train import Trainer

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
    assert summary["status"] in res.output  # the result table
    # the files agree with each other: the summary is the last evaluation, "solved" means an evaluation
    # below the bar, and model.pt holds the weights that scored it (re-evaluated here from the folder)
    evaluated = [r for r in rows if r["test_error"] != ""]  # a diverged run's last row has no evaluation
    errors = [float(r["test_error"]) for r in evaluated]
    bar = resolved["train"]["success_error"]
    assert (summary["status"] == "solved") == any(e < bar for e in errors)
    assert summary["best_test_error"] == pytest.approx(min(errors))
    assert int(rows[-1]["step"]) == summary["steps"]
    if summary["status"] != "diverged":
        assert float(rows[-1]["test_error"]) == pytest.approx(summary["test_error"])
        tr = Trainer(Config.model_validate(resolved))
        tr.model.load_state_dict(torch.load(run / "model.pt", weights_only=True))
        loss, err = tr.evaluate()
        assert err == pytest.approx(summary["test_error"]) and loss == pytest.approx(summary["test_loss"])
    with np.load(run / "gradient_flow.npz") as flow:  # one probe per evaluation, ‖∇_{h_t} L‖ per step
        assert flow["step"].tolist() == [int(r["step"]) for r in evaluated]
        assert flow["grad_norm"].shape[0] == len(evaluated) and (flow["grad_norm"] >= 0).all()
        assert flow["grad_norm"].shape[1] >= 12  # every step of a test sequence (T = 12, some tasks add)
    if model == "rnn":  # Ω weight 1: logged at every evaluation
        assert all(float(r["omega"]) >= 0 and float(r["omega_weight"]) == 1.0 for r in evaluated)


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


# --------------------------------------------------------------------------------- messages that guide
REPO_CONFIGS = __import__("pathlib").Path(__file__).resolve().parents[1] / "configs"


def test_a_sweep_file_given_to_run_and_a_run_config_given_to_sweep(tmp_path, ltd_main):
    code, out, err = ltd_main("run", REPO_CONFIGS / "sweeps" / "tiny.yaml", "--out", tmp_path)
    assert code == 2 and "is a sweep file" in err and "ltd-bench sweep" in err and "unknown key" not in err
    code, out, err = ltd_main("sweep", REPO_CONFIGS / "rnn.yaml", "--out", tmp_path)
    assert code == 2 and "is a run config, not a sweep" in err and "ltd-bench run" in err
    assert list(tmp_path.iterdir()) == []


def test_sweep_out_a_file_is_a_usage_error(tmp_path, ltd_main):
    (tmp_path / "f").write_text("x")
    code, out, err = ltd_main("sweep", REPO_CONFIGS / "sweeps" / "tiny.yaml", "--out", tmp_path / "f")
    assert code == 2 and "is not a directory" in err and "Error" not in err


def test_an_unknown_option_that_is_a_config_field_points_to_set(ltd_main):
    code, out, err = ltd_main("run", REPO_CONFIGS / "quickstart.yaml", "--step", "300")
    assert code == 2 and "No such option: --step" in err and "--set train.steps=VALUE" in err


def test_a_bad_set_key_is_blamed_on_set_not_the_file(ltd_main):
    for cmd in ("run", "validate"):
        code, out, err = ltd_main(cmd, REPO_CONFIGS / "rnn.yaml", "--set", "train.stepz=3")
        assert code == 2 and "--set train.stepz=3: train.stepz: unknown key (did you mean 'steps'?)" in err
        assert "rnn.yaml" not in err


def test_version(ltd_main):
    from ltd_bench import __version__

    code, out, err = ltd_main("--version")
    assert code == 0 and out.strip() == f"ltd-bench {__version__}"


def test_bench_unknown_device_is_one_line(ltd_main):
    code, out, err = ltd_main("bench", "--device", "gpu", "--quick")
    text = out + err
    assert code == 2 and "unknown device 'gpu'" in text and "allowed: cpu, cuda, auto" in text
    assert "mkldnn" not in text  # not torch's list of every device type


@pytest.mark.parametrize(
    "good,bad,field",
    [
        ("task.seq_len_max=200", "task.seq_len_max=20", "task.seq_len_max"),
        ("task.test_fresh=true", "task.test_fresh=1", "task.test_fresh"),
        ("clipping.bad_norm=1e10", "clipping.bad_norm=-1", "clipping.bad_norm"),
        ("task.variant=pascanu2013", "task.options.wrong_if=sometimes", "task.options"),
    ],
)
def test_validate_shows_and_checks_the_protocol_options(tmp_path, ltd_main, good, bad, field):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("name: p\ntask: {name: memorization, seq_len: 50}\nmodel: {hidden_size: 8}\n")
    code, out, err = ltd_main("validate", cfg, "--set", good)
    key, value = good.split("=")
    assert code == 0 and f"{key.rsplit('.', 1)[1]}: " in out, err
    code, out, err = ltd_main("validate", cfg, "--set", bad)
    assert code == 2 and field in err and "Traceback" not in err
