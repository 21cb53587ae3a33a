"""Held-out sequences: one fixed set by default, fresh ones from the same stream on request (the same for
every seed), spread over a length range; and the protocol options end to end."""

import json
from pathlib import Path

import pytest
import torch

from ltd_bench.config import Config, validate_dict
from ltd_bench.heldout import HeldOut
from ltd_bench.runner import train_in
from ltd_bench.outputs import prepare, run_dir
from ltd_bench.tasks import make_task
from ltd_bench.train import Trainer, train


def held(fresh=False, seq_len_max=None, size=50, seed=9):
    return HeldOut(
        make_task("temporal_order", 20, seq_len_max=seq_len_max), size, seed, fresh, torch.device("cpu")
    )


def same(a, b) -> bool:
    return len(a) == len(b) and all(
        torch.equal(x, u) and torch.equal(y, v) for (x, y), (u, v) in zip(a, b, strict=True)
    )


def test_fixed_set_is_drawn_once_as_before():
    h = held()
    first = h.next()
    assert same(first, h.next()) and sum(x.shape[1] for x, _ in first) == 50
    g = torch.Generator().manual_seed(9)  # the draw the trainer always made: one chunk from test_seed
    x, y = make_task("temporal_order", 20).sample(50, g)
    assert torch.equal(first[0][0], x) and torch.equal(first[0][1], y)


def test_fresh_sets_differ_each_time_and_follow_the_stream():
    a, b = held(fresh=True), held(fresh=True)
    a1, a2 = a.next(), a.next()
    assert not same(a1, a2) and same(a1, b.next()) and same(a2, b.next())  # same stream, same order


def test_a_range_is_covered_evenly():
    h = held(seq_len_max=120, size=1000)
    layout = h.layout()
    assert len(layout) == 10 and sum(n for _, n in layout) == 1000 and all(n == 100 for _, n in layout)
    lengths = [T for T, _ in layout]
    assert lengths == sorted(lengths) and lengths[0] - 20 == 120 - 1 - lengths[-1] or lengths[0] >= 20
    assert min(lengths) < 30 and max(lengths) > 110  # the ends of [20, 120) are represented
    assert {x.shape[0] for x, _ in h.next()} == set(lengths)  # temporal order has no jitter by default


def test_fresh_state_is_restored():
    a = held(fresh=True)
    a.next()
    state = a.state_dict()
    want = a.next()
    b = held(fresh=True)
    b.load_state_dict(state)
    assert same(b.next(), want)


BASE = {
    "task": {"name": "temporal_order", "seq_len": 12, "test_size": 40},
    "model": {"hidden_size": 6},
    "train": {"steps": 40, "eval_every": 10, "stop_when_solved": False, "checkpoint_s": 0},
}


def cfg(**sections):
    raw = json.loads(json.dumps(BASE))
    for k, v in sections.items():
        raw.setdefault(k, {}).update(v)
    return validate_dict(raw, "t")


def test_seeds_share_fresh_held_out_sets():
    a, b = (
        Trainer(cfg(task={"test_fresh": True})),
        Trainer(Config.model_validate({**cfg(task={"test_fresh": True}).to_dict(), "seed": 5})),
    )
    a.evaluate(), b.evaluate()
    assert same(a.test, b.test)


@pytest.mark.parametrize("task", [{"test_fresh": True}, {"seq_len_max": 20, "test_fresh": True}])
def test_protocol_options_continue_bit_identically(tmp_path, task):
    c = cfg(task=task)
    whole = train(c)
    path = run_dir(tmp_path, c)
    prepare(path, c)
    calls = iter(range(10**6))
    train_in(c, path, stop=lambda: next(calls) >= 15)
    rest = train_in(c, path)
    strip = lambda rows: json.dumps([{k: v for k, v in r.items() if k != "wall_time_s"} for r in rows])
    assert strip(rest.metrics) == strip(whole.metrics)


def test_protocol_options_at_their_defaults_keep_the_run_id():
    pinned = json.loads((Path(__file__).parent / "data" / "regression_runs.json").read_text())
    for case in pinned.values():  # ids recorded before these options existed
        assert Config.model_validate(case["config"]).run_id == case["run_id"]
    c = cfg()
    for section, key, value in [
        ("task", "seq_len_max", 30),
        ("task", "test_fresh", True),
        ("clipping", "bad_norm", 1e10),
    ]:
        changed = Config.model_validate({**c.to_dict(), section: {**c.to_dict()[section], key: value}})
        assert changed.run_id != c.run_id, key


@pytest.mark.parametrize(
    "section,value,message",
    [
        ({"task": {"seq_len_max": 12}}, None, "task.seq_len_max: must be greater than task.seq_len (12)"),
        ({"task": {"test_fresh": "yes"}}, None, "task.test_fresh"),
        ({"clipping": {"bad_norm": 0}}, None, "clipping.bad_norm"),
        (
            {
                "task": {
                    "variant": "pascanu2013",
                    "options": {"wrong_if": "sometimes"},
                    "name": "memorization",
                }
            },
            None,
            "wrong_if must be recall or any_step",
        ),
    ],
)
def test_protocol_options_refuse_bad_values(section, value, message):
    from ltd_bench.config import ConfigError

    raw = json.loads(json.dumps(BASE))
    for k, v in section.items():
        raw[k] = {**raw.get(k, {}), **v}
    with pytest.raises(ConfigError) as e:
        validate_dict(raw, "f.yaml")
    assert any(message in line and line.startswith("f.yaml: ") for line in e.value.errors), e.value.errors
