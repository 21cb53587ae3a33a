"""Extending a budget (extend.py): `ltd-bench sweep … --set train.steps=N` on a folder whose runs a smaller
budget stopped continues each from its kept final state, and every file it writes is the one a run
trained with the larger budget from update 0 writes (alone and packed, Ω on, a fresh held-out stream, an
off-grid and an on-grid budget); solved and diverged runs are copied; a folder without a kept state
trains from 0 and says so; the report counts the larger budget once."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ltd_bench.cli import app
from ltd_bench.config import Config, validate_dict
from ltd_bench.extend import lineage
from ltd_bench.outputs import CHECKPOINT, FINAL_STATE, read_checkpoint, read_config

runner = CliRunner()
# H = 12, batch 20, adding: shapes that pack (pack.pack_key); Ω with a schedule, momentum, norm clipping,
# a fresh held-out set per evaluation (its generator must continue too)
SWEEP = {
    "name": "ext",
    "base": {
        "task": {"name": "adding", "seq_len": 12, "test_size": 40, "test_fresh": True},
        "model": {"hidden_size": 12},
        "train": {"steps": 25, "eval_every": 10, "momentum": 0.9},
        "clipping": {"mode": "norm", "threshold": 1.0},
        "regularizer": {"omega_weight": 1.5, "schedule": "inverse_t", "decay_steps": 7},
    },
    "grid": {"seed": [0, 1, 2]},
}


def sweep(tmp_path: Path, out: Path, *args, spec=SWEEP) -> str:
    file = tmp_path / "s.yaml"
    file.write_text(json.dumps(spec))
    res = runner.invoke(
        app, ["sweep", str(file), "--out", str(out), "--no-progress", "--workers", "1", *map(str, args)]
    )
    assert res.exit_code == 0, res.output
    return res.output


def folders(out: Path, steps: int) -> dict[str, dict]:
    """The run folders of budget `steps`: every file, less wall times and the packed field."""
    got = {}
    for d in sorted(out.glob("ext/*/")):
        if json.loads((d / "summary.json").read_text())["run_id"] != d.name:
            raise AssertionError(f"{d}: summary names another run")
        if f"steps: {steps}\n" not in (d / "config.yaml").read_text():
            continue
        s = json.loads((d / "summary.json").read_text())
        cfg = Config.model_validate(read_config(d))
        state, why = read_checkpoint(d, cfg, name=FINAL_STATE, set_aside=False)
        got[d.name] = {
            "summary": {k: v for k, v in s.items() if k not in ("wall_time_s", "packed")},
            "metrics": [line.rsplit(",", 1)[0] for line in (d / "metrics.csv").read_text().splitlines()],
            "config": (d / "config.yaml").read_text(),
            "model": (d / "model.pt").read_bytes(),
            "flow": (d / "gradient_flow.npz").read_bytes(),
            "files": sorted(f.name for f in d.iterdir()),
            "final_state_step": state and state["step"],
        }
    return got


@pytest.mark.parametrize(
    ("pack", "short", "long", "goal", "statuses"),
    [
        ("auto", 25, 55, 0.1, {"unsolved"}),
        ("off", 20, 40, 0.1, {"unsolved"}),
        ("auto", 25, 55, 0.68, {"solved"}),
    ],
)
def test_an_extension_is_the_run_trained_with_the_larger_budget(tmp_path, pack, short, long, goal, statuses):
    """25 → 55 (both off the eval_every grid: the budget's own evaluation, which a longer run skips) in a
    pack; 20 → 40 (on the grid) one by one; and 25 → 55 where every short run "solves" at its budget's
    own evaluation (0.625-0.675 < 0.68), which a longer run never makes: it goes on, stopping when it
    solves at 30 (two of them: the pack shrinks) or 55. Each against the larger budget from update 0
    trained the other way (one by one, or packed)."""
    ext, ref = tmp_path / "ext", tmp_path / "ref"
    sweep(
        tmp_path, ext, "--pack", pack, "--set", f"train.steps={short}", "--set", f"train.success_error={goal}"
    )
    assert all(v["final_state_step"] == short for v in folders(ext, short).values())
    args = ["--set", f"train.steps={long}", "--set", f"train.success_error={goal}"]
    text = sweep(tmp_path, ext, "--pack", pack, *args)
    assert f"extending train.steps from {short}: 3 continue from their final state" in text
    sweep(tmp_path, ref, "--pack", "off" if pack == "auto" else "auto", *args)
    extended, scratch = folders(ext, long), folders(ref, long)
    assert len(scratch) == 3 and extended == scratch
    assert {v["summary"]["status"] for v in scratch.values()} == statuses
    # the report counts each config once, at the larger budget
    res = runner.invoke(app, ["report", str(ext / "ext")])
    assert res.exit_code == 0 and "3 finished run(s)" in res.output
    assert "3 run(s) superseded by the same config at a larger train.steps" in res.output


def test_solved_and_diverged_runs_are_copied_and_old_folders_train_from_zero(tmp_path):
    """A run that solved on the grid (stop_when_solved) or diverged ends the same way at any budget: its
    files are the longer run's. A folder without final_state.pt (written before one was kept) cannot be
    continued: the longer run trains from update 0, as the output says, with the same numbers."""
    spec = json.loads(json.dumps(SWEEP))
    spec["grid"] = {"train.lr": [0.01, 10], "train.success_error": [0.9, 0.05]}  # solves at 10 / diverges
    spec["base"]["clipping"] = {"mode": "none"}
    ext, ref = tmp_path / "ext", tmp_path / "ref"
    sweep(tmp_path, ext, spec=spec)
    statuses = [json.loads((d / "summary.json").read_text())["status"] for d in (ext / "ext").glob("*/")]
    assert sorted(statuses) == ["diverged", "diverged", "solved", "unsolved"], statuses
    for d in (ext / "ext").glob("*/"):  # the unsolved run as written before final states were kept
        (d / FINAL_STATE).unlink(missing_ok=True)
    text = sweep(tmp_path, ext, "--set", "train.steps=45", spec=spec)
    assert "3 copy a solved or diverged result, 1 train from update 0" in text, text
    assert text.count("which stopped before its budget, copied") == 3
    sweep(tmp_path, ref, "--set", "train.steps=45", spec=spec)
    assert folders(ext, 45) == folders(ref, 45)


def test_run_continues_a_shorter_budget_from_its_final_state(tmp_path):
    """`ltd-bench run --set train.steps=N` continues too, and says from what."""
    cfg = {k: v for k, v in SWEEP["base"].items()} | {"name": "ext", "seed": 4}
    file = tmp_path / "c.yaml"
    file.write_text(json.dumps(cfg))
    for out in ("ext", "ref"):
        if out == "ext":
            res = runner.invoke(app, ["run", str(file), "--out", str(tmp_path / out), "--no-progress"])
            assert res.exit_code == 0, res.output
        res = runner.invoke(
            app, ["run", str(file), "--out", str(tmp_path / out), "--no-progress", "--set", "train.steps=55"]
        )
        assert res.exit_code == 0, res.output
        if out == "ext":
            assert "continues" in res.output and "from its final state at step 25" in res.output
    assert folders(tmp_path / "ext", 55) == folders(tmp_path / "ref", 55)
    assert not any((tmp_path / "ext").glob(f"ext/*/{CHECKPOINT}"))


def test_lineage_sets_only_the_budget_aside():
    a = validate_dict({"seed": 1, "train": {"steps": 10}}, "t")
    b = validate_dict({"seed": 1, "train": {"steps": 99, "checkpoint_s": 5}}, "t")
    c = validate_dict({"seed": 1, "train": {"steps": 10, "eval_every": 7}}, "t")
    assert lineage(a) == lineage(b) != lineage(c) and a.run_id != b.run_id
