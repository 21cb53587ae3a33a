"""A sweep's exclude: leaves out exactly the points it names, says so, and refuses entries that could
hide a typo (unknown key, unswept value, an entry that leaves out nothing), all errors at once, exit 2."""

import pytest

from ltd_bench.config import ConfigError
from ltd_bench.exclude import excluded
from ltd_bench.sweep import load_sweep

from test_sweep import BASE, run, write

METHODS = {"rnn": {}, "rnn+Ω": {"regularizer.omega_weight": 2.0}, "lstm": {"model.type": "lstm"}}
ZIP = {"task.seq_len": [10, 20, 10], "task.options": [{}, {}, {"jitter": True}]}


def sweep(tmp_path, exclude, **extra):
    doc = {"name": "exp", "base": BASE, "methods": METHODS, "zip": ZIP, "grid": {"seed": [1, 2]}}
    return write(tmp_path, doc | {"exclude": exclude} | extra)


def points(sw) -> set:
    return {
        (r.label, r.keys["task.seq_len"], r.config.task.options.get("jitter"), r.config.seed) for r in sw.runs
    }


def test_exclude_leaves_out_exactly_the_matching_points(tmp_path):
    every = points(load_sweep(sweep(tmp_path, None)))
    assert len(every) == 3 * 3 * 2
    sw = load_sweep(
        sweep(
            tmp_path,
            [
                {"method": "lstm", "task.seq_len": 20},  # one length of one method
                {"method": "rnn", "task.options": {"jitter": True}},  # a mapping value, as the zip writes it
                {"seed": 2.0, "method": "rnn+Ω", "task.seq_len": 10},  # 2.0 is the swept 2
            ],
        )
    )
    gone = {p for p in every if p[0] == "lstm" and p[1] == 20}
    gone |= {p for p in every if p[0] == "rnn" and p[2] is True}
    gone |= {p for p in every if p[0] == "rnn+Ω" and p[1] == 10 and p[3] == 2}
    assert len(gone) == 2 + 2 + 2
    assert points(sw) == every - gone and sw.excluded == 6 and sw.duplicates == 0


def test_dry_run_says_how_many_were_left_out(tmp_path):
    p = sweep(tmp_path, [{"method": "lstm"}])
    rc, out, _ = run(p, tmp_path / "out", dry_run=True)
    assert rc == 0 and "sweep exp: 12 runs (6 left out by exclude:)" in out


def test_bad_entries_are_all_reported_at_once_and_nothing_is_written(tmp_path):
    p = sweep(
        tmp_path,
        [
            {"methd": "lstm"},  # unknown key
            {"method": "gru"},  # no such method
            {"task.seq_len": 50},  # a value no axis has
            {"task.name": "parity"},  # not swept
            {"method": "lstm", "task.options": {"jitter": True}, "seed": 1},  # fine
            {"method": "lstm", "task.seq_len": 20, "task.options": {"jitter": True}},  # matches no point
            "lstm",  # not a mapping
        ],
    )
    with pytest.raises(ConfigError) as ei:
        load_sweep(p)
    errors = ei.value.errors
    expected = [
        "exclude[0].methd: not a swept key (did you mean 'method'?)",
        'exclude[1].method: "gru" is not one of the swept values ("rnn", "rnn+Ω", "lstm")',
        "exclude[2].task.seq_len: 50 is not one of the swept values (10, 20)",
        "exclude[3].task.name: not a swept key",
        "exclude[5]: leaves out no run",
        "exclude[6]: expected a mapping",
    ]
    for msg in expected:
        assert any(e.startswith(f"{p}: ") and msg in e for e in errors), (msg, errors)
    assert not any("exclude[4]" in e for e in errors)
    out = tmp_path / "out"
    rc, _, err = run(p, out)
    assert rc == 2 and "exclude[0].methd" in err and "exclude[5]" in err and not out.exists()


def test_not_a_list_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as ei:
        load_sweep(sweep(tmp_path, {"method": "lstm"}))
    assert any("exclude: expected a list" in e for e in ei.value.errors)


@pytest.mark.parametrize(
    ("entry", "point", "hit"),
    [
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": True}, {"a": 1}, False),  # YAML's true is not the number 1
        ({"a": {"k": 3}}, {"a": {"k": 3}}, True),
        ({"a": {"k": 3}}, {"a": {"k": 3, "j": 1}}, False),
        ({"a": {"k": True}}, {"a": {"k": 1}}, False),  # at any depth
        ({"a": [1, {"k": 2}]}, {"a": [1.0, {"k": 2.0}]}, True),
        ({"a": "20"}, {"a": 20}, False),
        ({"a": None}, {"a": None}, True),
        ({"a": 1, "b": "x"}, {"a": 1, "b": "y"}, False),
        ({"a": 1}, {"b": 1}, False),
    ],
)
def test_matching_is_by_yaml_value(entry, point, hit):
    assert (excluded({0: entry}, point) == [0]) is hit


def test_overlapping_entries_each_count_what_they_name(tmp_path):
    sw = load_sweep(sweep(tmp_path, [{"method": "lstm"}, {"method": "lstm", "task.seq_len": 20}]))
    assert sw.excluded == 6 and {r.label for r in sw.runs} == {"rnn", "rnn+Ω"}


def test_set_on_a_key_an_entry_names_is_refused(tmp_path):
    """Else the entry would leave out runs by a value --set replaces (T = 10 runs trained as T = 20)."""
    p = sweep(tmp_path, [{"method": "lstm", "task.seq_len": 20}])
    for key in ("task.seq_len=20", "task=adding"):
        with pytest.raises(ConfigError) as ei:
            load_sweep(p, [key])
        assert any("exclude[0].task.seq_len: also set by --set" in e for e in ei.value.errors), (
            ei.value.errors
        )
    assert load_sweep(p, ["train.steps=10"]).excluded == 2  # another key: fine


def test_validate_says_how_many_were_left_out(tmp_path, ltd_main):
    code, out, _ = ltd_main("validate", sweep(tmp_path, [{"method": "lstm"}]))
    assert code == 0 and "sweep exp: 12 runs (6 left out by exclude:), all valid" in out
