"""TensorBoard event files: written as a sweep trains (train.tensorboard) and from run folders afterwards
(`ltd-bench tensorboard`), read back with TensorBoard's own reader and compared with metrics.csv; the
setting changes no run id; a run started again rewrites its file; a missing extra is a usage error."""

import io
import json

import numpy as np
import pytest
import yaml
from rich.console import Console

from ltd_bench import tboard
from ltd_bench.config import flatten, validate_dict
from ltd_bench.outputs import read_metrics
from ltd_bench.sweep import sweep_command

BASE = {
    "task": {"name": "temporal_order", "seq_len": 10, "test_size": 50},
    "model": {"hidden_size": 4},
    "train": {"steps": 40, "eval_every": 10, "stop_when_solved": False},
    "clipping": {"mode": "norm"},
    "regularizer": {"omega_weight": 0.5},
}


@pytest.fixture
def tb():
    return pytest.importorskip("tensorboard")


def read_events(folder):
    """{tag: [(step, value)]} and the hyper-parameters, through TensorBoard's reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    ea = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    ea.Reload()
    scalars = {t: [(e.step, e.value) for e in ea.Scalars(t)] for t in ea.Tags()["scalars"]}
    data = plugin_data_pb2.HParamsPluginData.FromString(
        ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    )
    hp = {
        k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
        for k, v in data.session_start_info.hparams.items()
    }
    return scalars, hp


def from_csv(run_dir):
    """What the events must hold: metrics.csv's rows, per tag, as float32 (TensorBoard stores those)."""
    m = read_metrics(run_dir)
    return {
        tag: [(int(s), float(np.float32(v))) for s, v in zip(m.step, m[col], strict=True) if np.isfinite(v)]
        for col, tag in tboard.TAGS.items()
    }


def sweep(tmp_path, out, extra=()):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"name": "tb", "base": BASE, "grid": {"seed": [0, 1]}}))
    o = io.StringIO()
    rc = sweep_command(
        p,
        out,
        ["train.tensorboard=true", *extra],
        1,
        False,
        "local",
        None,
        False,
        Console(file=o),
        Console(file=o),
    )
    return rc, o.getvalue()


def test_a_sweep_writes_each_evaluation_and_the_command_writes_the_same(tb, tmp_path):
    out = tmp_path / "out"
    rc, text = sweep(tmp_path, out)
    assert rc == 0, text
    runs = sorted(d for d in (out / "tb").iterdir() if (d / "summary.json").is_file())
    assert len(runs) == 2
    for d in runs:
        config = yaml.safe_load((d / "config.yaml").read_text())
        live = out / "tb" / "tensorboard" / "rnn+clip+Ω" / f"seed{config['seed']}-{d.name}"
        scalars, hp = read_events(live)
        expected = from_csv(d)
        assert scalars == expected and len(expected["heldout/error"]) == 5  # steps 0, 10, ..., 40
        assert (
            hp["train.steps"] == 40 and hp["seed"] == config["seed"] and hp["task.name"] == "temporal_order"
        )
        assert hp["train.tensorboard"] == 1 and hp["task.options"] == "{}"  # torch stores booleans as numbers
        assert set(hp) == set(flatten(config))
    # the same events from the folders, into another logdir: the same run names, scalars and hparams
    written, warnings = tboard.export(out, tmp_path / "logs")
    assert not warnings and len(written) == 2
    for f in written:
        name = f.parent.relative_to(tmp_path / "logs" / "tb")
        assert read_events(f.parent) == read_events(out / "tb" / "tensorboard" / name)


def test_the_setting_changes_no_run_id():
    on = validate_dict({**BASE, "train": {**BASE["train"], "tensorboard": True}}, "t")
    assert on.run_id == validate_dict(BASE, "t").run_id


def test_a_run_started_again_rewrites_its_file_from_the_rows_it_continues_from(tb, tmp_path):
    config = validate_dict(BASE, "t").to_dict()
    rows = [{"step": s, "test_error": 1 / (s + 1), "wall_time_s": s / 10} for s in range(0, 50, 10)]
    log = tboard.EventLog(tmp_path / "run", config, "abc", rows[:2])
    log.append(rows[2])  # then killed: the checkpoint holds rows[:2]
    log = tboard.EventLog(tmp_path / "run", config, "abc", rows[:2])
    for r in rows[2:]:
        log.append(r)
    scalars, _ = read_events(tmp_path / "run")
    assert scalars == {"heldout/error": [(r["step"], float(np.float32(r["test_error"]))) for r in rows]}
    assert len(list((tmp_path / "run").iterdir())) == 1


def test_a_method_label_cannot_lead_out_of_the_folder():
    assert tboard.run_name({"method": "../../x/y", "seed": 3}, "abc") == "_.._x_y/seed3-abc"


def test_without_the_extra_the_setting_is_refused_and_nothing_written(tmp_path, monkeypatch, ltd_main):
    monkeypatch.setattr(tboard, "available", lambda: False)
    rc, text = sweep(tmp_path, tmp_path / "out")
    assert rc == 2 and "train.tensorboard needs the tensorboard extra" in text
    c = tmp_path / "c.yaml"
    c.write_text(yaml.safe_dump({**BASE, "train": {**BASE["train"], "tensorboard": True}}))
    rc, _, err = ltd_main("run", c, "--out", tmp_path / "out")
    assert rc == 2 and "train.tensorboard needs the tensorboard extra" in err
    rc, _, err = ltd_main("tensorboard", tmp_path)
    assert rc == 2 and "needs the tensorboard extra" in err
    assert not (tmp_path / "out").exists()


def test_the_command_skips_damaged_folders_and_says_where_to_look(tb, tmp_path, ltd_main):
    out = tmp_path / "out"
    rc, _ = sweep(tmp_path, out, ["train.steps=10"])
    bad = out / "tb" / "0badc0ffee00"
    bad.mkdir()
    (bad / "summary.json").write_text(json.dumps({"status": "solved"}))
    rc, stdout, err = ltd_main("tensorboard", out, "--logdir", tmp_path / "logs")
    assert rc == 0 and "skipped" in err and "0badc0ffee00" in err
    assert "event files of 2 run(s)" in stdout and f"tensorboard --logdir {tmp_path / 'logs'}" in stdout
