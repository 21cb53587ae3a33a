"""The registry and the two helpers every error message uses."""

import pytest

from ltd_bench.registry import Registry, UnknownName, did_you_mean, short


def test_did_you_mean_suggests_only_close_names():
    assert did_you_mean("lsmt", ["rnn", "lstm", "gru"]) == " (did you mean 'lstm'?)"
    assert did_you_mean("transformer", ["rnn", "lstm", "gru"]) == ""


def test_short_cuts_long_values():
    assert short("x" * 1000) == repr("x" * 1000)[:57] + "..." and len(short("x" * 1000)) == 60
    assert short("ab") == "'ab'" and short("ab", quote=False) == "ab"


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
