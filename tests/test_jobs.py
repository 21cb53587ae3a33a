"""What a worker runs: train_job gives train()'s numbers, never raises (a crash is a `failed` result)."""

from tinyjobs import TINY, comparable, config

from ltd_bench import jobs
from ltd_bench.config import Config
from ltd_bench.jobs import failed_result, train_job
from ltd_bench.outputs import FINAL


def test_train_job_trains_and_finishes():
    """train_job is train() on the validated config: the same metrics, summary and weights, bit for bit."""
    import torch

    from ltd_bench.train import train

    res = train_job(config())
    assert res.summary["status"] in FINAL and res.summary["threads"] == 1
    assert res.summary["final_omega"] == res.metrics[-1]["omega"]
    assert res.run_id == Config.model_validate(config()).run_id and len(res.metrics) == 3
    assert [m["step"] for m in res.metrics] == [0, 10, 20] and res.summary["steps"] == 20
    ref = train(Config.model_validate(config()))
    assert comparable(res) == comparable(ref)
    skip = {"wall_time_s"}
    assert {k: v for k, v in res.summary.items() if k not in skip} == {
        k: v for k, v in ref.summary.items() if k not in skip
    }
    assert res.state_dict.keys() == ref.state_dict.keys()
    assert all(torch.equal(res.state_dict[k], ref.state_dict[k]) for k in ref.state_dict)
    start = train(Config.model_validate({**config(), "train": {**config()["train"], "steps": 1}}))
    assert not torch.equal(start.state_dict["rnn.weight_hh_l0"], res.state_dict["rnn.weight_hh_l0"])


def test_train_job_broken_config_is_a_failed_result():
    bad = {**config(), "model": {"type": "transformer"}}
    res = train_job(bad)
    s = res.summary
    assert s["status"] == "failed" and s["error"].startswith("ValidationError: ")
    assert s["name"] == "run" and s["run_id"] and res.metrics == []


def test_train_job_crash_inside_training(monkeypatch):
    def boom(cfg, **kw):
        raise RuntimeError("exploded at step 3")

    monkeypatch.setattr(jobs, "train", boom)
    cfg = config(method="rnn+clip")
    s = train_job(cfg).summary
    assert s["status"] == "failed" and s["error"] == "RuntimeError: exploded at step 3"
    assert s["run_id"] == Config.model_validate(cfg).run_id and s["method"] == "rnn+clip"
    assert "boom" in s["traceback"]


def test_failed_result_from_message():
    s = failed_result(config(), "KilledWorker: gone").summary
    assert s["status"] == "failed" and s["error"] == "KilledWorker: gone" and s["traceback"] is None


def test_train_job_in_a_visible_folder_logs_and_checkpoints_there(tmp_path):
    from ltd_bench.outputs import CHECKPOINT, prepare, run_dir

    cfg = Config.model_validate(config(train={**TINY["train"], "checkpoint_s": 0}))
    path = run_dir(tmp_path, cfg)
    prepare(path, cfg)
    res = train_job(cfg.to_dict(), str(path))
    assert comparable(res) == comparable(train_job(cfg.to_dict()))
    assert len((path / "metrics.csv").read_text().splitlines()) == 1 + len(res.metrics)  # appended as it went
    assert (path / CHECKPOINT).is_file()  # the final files (and the checkpoint's removal) are the parent's
    elsewhere = train_job(cfg.to_dict(), str(tmp_path / "not-here"))  # e.g. a Dask worker without the folder
    assert comparable(elsewhere) == comparable(res) and not (tmp_path / "not-here").exists()
