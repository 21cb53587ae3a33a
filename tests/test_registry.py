"""The registry and the helpers every error message uses."""

import datetime

import pytest

from ltd_bench.registry import Registry, UnknownName, did_you_mean, short, shown


def test_did_you_mean_suggests_only_close_names():
    assert did_you_mean("lsmt", ["rnn", "lstm", "gru"]) == " (did you mean 'lstm'?)"
    assert did_you_mean("transformer", ["rnn", "lstm", "gru"]) == ""


def test_short_cuts_long_values():
    assert short("x" * 1000) == repr("x" * 1000)[:57] + "..." and len(short("x" * 1000)) == 60
    assert short("ab") == "'ab'" and short("ab", quote=False) == "ab"


def test_shown_writes_values_as_json_strings_bare_unless_asked():
    assert shown("norm") == "norm" and shown("norm", quote_str=True) == '"norm"'
    assert shown({"copy_len": 3}) == '{"copy_len": 3}' and shown([1, None, True]) == "[1, null, true]"
    assert shown("Ω") == "Ω" and shown(["Ω"]) == '["Ω"]'  # not escaped to \\u03a9
    assert shown(datetime.date(2026, 1, 2)) == '"2026-01-02"'  # YAML reads 2026-01-02 as a date


def test_unknown_name_lists_and_suggests():
    reg = Registry("model")
    reg.register("lstm", "an LSTM")(object)
    with pytest.raises(UnknownName) as e:
        reg.get("lsmt")
    assert str(e.value) == "unknown model 'lsmt' (did you mean 'lstm'?) (allowed: lstm)"


def test_a_declared_registry_takes_its_help_and_refuses_strangers():
    reg = Registry("mode", declared={"a": "first", "b": "second"})
    reg.register("a")(object)
    assert reg.help("a") == "first" and reg.missing() == ["b"]
    with pytest.raises(ValueError, match="not declared"):
        reg.register("c")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(object)
