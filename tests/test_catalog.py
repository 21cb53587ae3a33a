"""`ltd-bench ls`'s content, generated from the config models and choices.py so it cannot drift."""

from ltd_bench import choices
from ltd_bench.catalog import catalog, fields
from ltd_bench.config import Config, flatten


def test_every_field_is_listed_with_its_default_and_a_meaning():
    rows = {name: (default, allowed, meaning) for name, default, allowed, meaning in fields()}
    assert set(rows) == set(flatten(Config().to_dict()))
    assert all(meaning for _, _, meaning in rows.values())
    assert rows["model.type"][:2] == ("rnn", " | ".join(choices.MODELS))
    assert rows["train.lr"][1] == "float (> 0, <= 10)" and rows["train.checkpoint_s"][0] == "300.0"
    assert rows["task.variant"][0] == "null" and rows["train.stop_when_solved"][0] == "true"


def test_variants_come_with_their_options():
    header, rows = catalog()["variants"]
    names = [r[0] for r in rows]
    assert "adding.pascanu" in names and "parity.marked" in names
    assert dict((r[0], r[2]) for r in rows)["parity.marked"] == "n_marked=2"
