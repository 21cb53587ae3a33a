"""Safe YAML: duplicate keys, Python/custom tags, alias bombs, deep nesting, ambiguous numbers, size and
binary refusal, a dump that always loads back, atomic writes. Every failure is a one-line YamlError."""

import math
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltd_bench import yamlio
from ltd_bench.yamlio import (
    MAX_BYTES,
    MAX_DEPTH,
    YamlError,
    dump,
    loads,
    parse_scalar,
    read_yaml,
)

FAST = settings(
    max_examples=int(os.environ.get("LTD_HYPOTHESIS_EXAMPLES", 200)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def err(text: str) -> str:
    with pytest.raises(YamlError) as e:
        loads(text)
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400, msg
    return msg


# --------------------------------------------------------------------------------------- plain values
def test_plain_mapping():
    assert loads("a: 1\nb: {c: [1, 2.5, true, null, x]}") == {"a": 1, "b": {"c": [1, 2.5, True, None, "x"]}}


@pytest.mark.parametrize(
    "text,value",
    [
        ("1e-3", 1e-3),
        ("1E3", 1000.0),
        ("-2.5e-4", -2.5e-4),
        ("1.0e3", 1000.0),
        (".5e3", 500.0),
        ("+3e2", 300.0),
        ("0.01", 0.01),
        ("2", 2),
        ("0", 0),
        ("0x10", 16),
        ("1_000", 1000),
        ("true", True),
        ("'3'", "3"),
    ],
)
def test_numbers(text, value):
    got = parse_scalar(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", ["010", "-07", "1:30", "1:30:00", "01"])
def test_ambiguous_yaml11_numbers_are_refused(text):
    # YAML 1.1 would silently read 010 as 8 and 1:30 as 90
    assert "ambiguous number" in err(f"seed: {text}")


def test_ambiguous_number_can_be_quoted():
    assert loads("name: '010'") == {"name": "010"}


def test_non_finite_floats_are_values_not_errors():
    # the config layer refuses them with the field name; the YAML layer only reads them
    d = loads("a: .nan\nb: .inf\nc: -.inf")
    assert math.isnan(d["a"]) and d["b"] == math.inf and d["c"] == -math.inf


def test_empty_documents_are_none():
    assert loads("") is None and loads("# only a comment\n") is None and loads("---\n") is None


def test_merge_keys_work_and_explicit_keys_win():
    d = loads("base: &b {steps: 5, lr: 1}\ntrain:\n  <<: *b\n  steps: 6\n")
    assert d["train"] == {"steps": 6, "lr": 1}


# ------------------------------------------------------------------------------------------- refusals
def test_duplicate_key_names_the_dotted_path_and_lines():
    msg = err("train:\n  lr: 0.1\n  steps: 5\n  lr: 0.2\n")
    assert "duplicate key train.lr" in msg and "lines 2 and 4" in msg


def test_all_duplicate_keys_in_one_message():
    msg = err("a: 1\nb: {x: 1, x: 2}\na: 2\n")
    assert "a (lines 1 and 3)" in msg and "b.x" in msg


def test_duplicate_key_with_different_spelling_of_the_same_value():
    assert "duplicate key" in err("a: 1\n'a': 2\n")


def test_flow_mapping_duplicates():
    assert "duplicate key" in err("{a: 1, a: 2}")


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch pwned']",
        "!!python/name:os.system",
        "!!python/object:collections.OrderedDict {}",
        "!!python/module:os",
        "!!python/tuple [1, 2]",
        "!include other.yaml",
        "!foo bar",
    ],
)
def test_python_and_custom_tags_are_refused(tag, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    msg = err(f"name: {tag}")
    assert "line 1" in msg and "no Python or custom tags" in msg
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "text,reason",
    [
        ("a: !!int abc", "cannot read 'abc' as int"),
        ("a: !!float x", "as float"),
        ("a: !!bool maybe", "as bool"),
        ("a: 2020-13-45", "as timestamp"),
        ("a: !!timestamp x", "as timestamp"),
        ("a: !!int 1.5", "as int"),
        ("a: " + "1" * 5000, "as int"),  # Python refuses to parse ints longer than 4300 digits
        ("a: !!set 0", "cannot construct"),
        ("a: !!omap [1]", "line 1"),
        ("a: !!pairs [1]", "line 1"),
    ],
)
def test_constructor_failures_are_yaml_errors(text, reason):
    assert reason in err(text)


def test_alias_bomb_is_refused_quickly():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    assert "alias bomb" in err("\n".join(lines))


def test_self_referencing_alias_is_refused():
    assert "alias bomb" in err("a: &x [*x]")


def test_many_plain_nodes_are_refused(monkeypatch):
    monkeypatch.setattr(yamlio, "MAX_NODES", 1000)  # the mechanism, without parsing 100k nodes in pure Python
    assert "more than 1000" in err("[" + ",".join(["1"] * 1010) + "]")
    assert loads("[" + ",".join(["1"] * 990) + "]")


def test_deep_nesting_is_refused_not_a_recursion_error():
    assert "nested deeper" in err("a: " + "[" * 5000 + "]" * 5000)
    assert "nested deeper" in err("".join("  " * i + "k:\n" for i in range(MAX_DEPTH + 5)))


def test_moderate_nesting_is_fine():
    assert loads("a: " + "[" * 30 + "]" * 30)


@pytest.mark.parametrize(
    "text,where",
    [
        ("a: {b: 1", "line"),
        ("a: b: c", "line 1"),
        ("a:\n\tb: 1", "line 2"),
        ("- a\nb: 1", "line 2"),
        ("a: 1\n---\nb: 2", "line"),
        ("a: *missing", "undefined alias"),
        ("? [a]\n: 1", "plain scalar"),
        ("a: 1\nb: \x07", "line 2"),
        ("<<: 5", "merging"),
    ],
)
def test_malformed_yaml_names_the_line(text, where):
    assert where in err(text)


# --------------------------------------------------------------------------------------------- files
def test_read_yaml_refusals(tmp_path):
    def msg(p: Path) -> str:
        with pytest.raises(YamlError) as e:
            read_yaml(p)
        return str(e.value)

    assert msg(tmp_path / "missing.yaml") == "file not found"
    assert msg(tmp_path) == "is a directory, not a file"
    (tmp_path / "empty.yaml").write_text("  \n\n")
    assert msg(tmp_path / "empty.yaml") == "file is empty"
    (tmp_path / "bin.yaml").write_bytes(b"\x7fELF\x02\x01\x00\x00junk")
    assert "binary" in msg(tmp_path / "bin.yaml")
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in msg(tmp_path / "latin1.yaml")
    (tmp_path / "big.yaml").write_bytes(b"# " + b"x" * MAX_BYTES + b"\n")
    assert "bytes; configs are at most" in msg(tmp_path / "big.yaml")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert msg(fifo) == "not a regular file"  # opening a FIFO would block forever


def test_read_yaml_utf8_bom(tmp_path):
    (tmp_path / "bom.yaml").write_bytes("\ufeffname: x\n".encode("utf-8"))
    assert read_yaml(tmp_path / "bom.yaml") == {"name": "x"}


def test_read_yaml_unreadable(tmp_path, monkeypatch):
    """chmod 000: a one-line YamlError naming the cause. Root reads any file whatever its mode (CI runs as
    root), so there opening it is made to fail as the kernel fails it for everyone else (EACCES)."""
    import builtins
    import errno
    import io

    p = tmp_path / "secret.yaml"
    p.write_text("name: x\n")
    assert read_yaml(p) == {"name": "x"}
    p.chmod(0)
    if os.geteuid() == 0:

        def guard(real_open):
            def guarded(file, *args, **kwargs):
                if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == str(p):
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(file))
                return real_open(file, *args, **kwargs)

            return guarded

        for module, name in ((builtins, "open"), (io, "open"), (os, "open")):
            monkeypatch.setattr(module, name, guard(getattr(module, name)))
    with pytest.raises(YamlError) as e:
        read_yaml(p)
    assert str(e.value) == "cannot read file: Permission denied"


# ---------------------------------------------------------------------------------------------- dump
@pytest.mark.parametrize(
    "s",
    [
        "1e3",
        "1.5e3",
        ".5e3",
        "010",
        "1:30",
        "yes",
        "no",
        "on",
        "null",
        "~",
        "true",
        ".inf",
        ".nan",
        "0x10",
        "2020-01-01",
        "- a",
        "a: b",
        "#x",
        "",
        " lead",
        "é",
        "x\ny",
    ],
)
def test_dump_quotes_strings_that_would_load_as_something_else(s):
    assert loads(dump({"name": s})) == {"name": s}


# ------------------------------------------------------------------------------------ property-based
YAMLISH = st.lists(
    st.sampled_from(
        [
            "a",
            "b",
            "train",
            "lr",
            ":",
            ": ",
            "- ",
            "\n",
            "  ",
            "\t",
            "{",
            "}",
            "[",
            "]",
            ",",
            "&x ",
            "*x",
            "&y ",
            "*y",
            "!!",
            "!!python/object:os.system",
            "!!int ",
            "!!float ",
            "!!binary ",
            "!!set ",
            "!!omap ",
            "<<: ",
            "? ",
            "|",
            ">",
            "'",
            '"',
            "#",
            "---",
            "...",
            "%YAML 1.1",
            "%TAG ! tag:x,2000:",
            "1e3",
            ".nan",
            "010",
            "1:3",
            "0x",
            "2020-13-45",
            "\x07",
            "\ufeff",
            "é",
            "\\",
            "~",
            "null",
            "true",
        ]
    ),
    max_size=40,
).map("".join)


@FAST
@given(st.one_of(st.text(max_size=200), YAMLISH))
def test_any_text_gives_a_value_or_a_yaml_error(text):
    try:
        loads(text)
    except YamlError as e:
        assert "\n" not in str(e)


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_from_a_file_give_a_value_or_a_yaml_error(data):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.yaml"
        p.write_bytes(data)
        try:
            read_yaml(p)
        except YamlError as e:
            assert "\n" not in str(e)


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_subnormal=False)
    | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
    max_leaves=20,
)


@FAST
@given(JSONISH)
def test_dump_then_load_is_identity(obj):
    assert loads(dump(obj)) == obj
