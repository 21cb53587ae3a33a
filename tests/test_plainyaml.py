"""plainyaml.parse reads the run config format exactly as the safe loader does, and declines anything else."""

from pathlib import Path

import pytest
import yaml

from ltd_bench.config import Config, resolved_yaml
from ltd_bench.plainyaml import parse
from ltd_bench.yamlio import loads

ROOT = Path(__file__).resolve().parents[1]
WRITTEN = sorted((ROOT / "results").rglob("config.yaml"))


def test_every_committed_config_reads_as_the_safe_loader_reads_it():
    assert WRITTEN
    for path in WRITTEN:
        text = path.read_text()
        got, want = parse(text), loads(text)
        assert got is not None, path  # the written format: none falls back
        assert got == want == yaml.safe_load(text) and repr(got) == repr(want), path


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "-3",
        "12",
        "0.0",
        "1.0e-05",
        "-2.5e+20",
        "null",
        "true",
        "false",
        "{}",
        "[]",
        "abc",
        "rnn+clip (adam)",
        "lstm+clip+Ω",
        "a.b-c/d",
        "'010'",
        "'yes'",
        "'1e3'",
        "''",
        "'a b: c'",
        "x_1",
    ],
)
def test_edge_scalars_equal_the_safe_loader(value):
    text = f"a:\n  b: {value}\n  c: 1\nd: x\n"
    assert parse(text) == loads(text) == yaml.safe_load(text)
    assert repr(parse(text)) == repr(loads(text))


@pytest.mark.parametrize(
    "text",
    [
        "a: yes\n",
        "a: Yes\n",
        "a: no\n",
        "a: On\n",
        "a: off\n",
        "a: NULL\n",
        "a: True\n",
        "a: ~\n",
        "yes: 1\n",
        "a: 010\n",
        "a: 0x10\n",
        "a: 1_000\n",
        "a: 1e3\n",
        "a: .inf\n",
        "a: 1:30\n",
        "a: 2020-01-01\n",
        "a: !!str 3\n",
        "a: &x 1\nb: *x\n",
        "a: 1 # note\n",
        "a: [1, 2]\n",
        "a:\n- 1\n",
        "a: 1\na: 2\n",
        "a:\n   b: 1\n",
        "a:\n",
        "a: 1",
        "a: 'it''s'\n",
        'a: "x"\n',
        "a: b \n",
        "a:  b\n",
        "  a: 1\n",
        "a: 1\n  b: 2\n",
        "a: b:c\n",
        "a: 1.\n",
        "a: -0.5.1\n",
        "a:\n  b:\nc: 1\n",
        "<<: 1\n",
        "a: 00.5\n",
    ],
)
def test_anything_else_falls_back(text):
    assert parse(text) is None


def test_a_resolved_config_round_trips_through_it():
    cfg = Config.model_validate({"name": "x", "task": {"name": "adding", "seq_len": 10}})
    d = parse(resolved_yaml(cfg))
    assert d == cfg.to_dict() and Config.model_validate(d).run_id == cfg.run_id
