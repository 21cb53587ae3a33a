"""Config behaviour: every error at once, unknown keys with did-you-mean, no silent coercion, finite and
in-range numbers, --set overrides, `validate` output, stable run ids, and property-based loader checks."""

import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ltd_bench.config import (
    NAME_RE,
    ClippingConfig,
    Config,
    ConfigError,
    ModelConfig,
    RegularizerConfig,
    TaskConfig,
    TrainConfig,
    apply_overrides,
    load_config,
    resolved_yaml,
    set_dotted,
    validate_dict,
)
from ltd_bench.yamlio import YamlError, dump

import os

FAST = settings(
    max_examples=int(os.environ.get("LTD_HYPOTHESIS_EXAMPLES", 100)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SECTIONS = {
    "task": TaskConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "clipping": ClippingConfig,
    "regularizer": RegularizerConfig,
}
SMALL = {
    "name": "t",
    "task": {"name": "adding", "seq_len": 10, "test_size": 50},
    "model": {"hidden_size": 8},
    "train": {"steps": 20, "eval_every": 10, "threads": 1},
}


def errors(raw, source="cfg.yaml") -> list[str]:
    with pytest.raises(ConfigError) as e:
        validate_dict(raw, source)
    assert str(e.value) == "\n".join(e.value.errors)
    return e.value.errors


def one_error(raw) -> str:
    errs = errors(raw)
    assert len(errs) == 1, errs
    return errs[0]


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture
def ltd(ltd_main):
    return ltd_main


# ------------------------------------------------------------------------------------ all at once
def test_defaults_are_valid():
    cfg = validate_dict({}, "x")
    assert cfg.task.name == "adding" and cfg.model.type == "rnn" and cfg.clipping.mode == "none"


def test_four_mistakes_give_four_lines(tmp_path):
    p = write(tmp_path, "nmae: x\ntrain:\n  lr: -1\n  steps: true\nmodel:\n  type: lstn\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    errs = e.value.errors
    assert len(errs) == 4, errs
    assert all(line.startswith(f"{p}: ") for line in errs)
    joined = "\n".join(errs)
    for needle in (
        "nmae: unknown key (did you mean 'name'?)",
        "train.lr: Input should be greater than 0",
        "train.steps: Input should be a valid integer, got True (bool)",
        "model.type: unknown value 'lstn' (did you mean 'lstm'?) (allowed: rnn, lstm, gru, orthogonal)",
    ):
        assert needle in joined


def test_semantic_and_type_errors_together():
    errs = errors({"name": "a/b", "task": {"name": "addding"}, "train": {"lr": "x"}})
    assert len(errs) == 3
    assert any("task.name: unknown task 'addding' (did you mean 'adding'?)" in e for e in errs)
    assert any(e.startswith("cfg.yaml: name: invalid name 'a/b'") for e in errs)


def test_every_line_names_file_and_field():
    for e in errors({"seed": -1, "task": {"seq_len": 1, "test_size": 5}, "clipping": {"threshold": 0}}):
        assert re.match(r"^cfg\.yaml: [a-z_.]+: \S", e), e


# ------------------------------------------------------------------------------------- unknown keys
@pytest.mark.parametrize(
    "section,key,hint",
    [
        (None, "sead", "seed"),
        ("task", "seqlen", "seq_len"),
        ("model", "hiden_size", "hidden_size"),
        ("train", "lrr", "lr"),
        ("clipping", "treshold", "threshold"),
        ("regularizer", "omega_wieght", "omega_weight"),
    ],
)
def test_unknown_keys_at_any_depth(section, key, hint):
    raw = {key: 1} if section is None else {section: {key: 1}}
    msg = one_error(raw)
    path = key if section is None else f"{section}.{key}"
    schema = Config if section is None else SECTIONS[section]
    assert msg.startswith(f"cfg.yaml: {path}: unknown key (did you mean '{hint}'?)")
    assert msg.endswith(f"(allowed: {', '.join(schema.model_fields)})")


def test_unknown_key_without_a_close_match_still_lists_allowed():
    msg = one_error({"train": {"zzzz": 1}})
    assert "did you mean" not in msg and "(allowed: optimizer, lr," in msg


def test_unknown_task_option_with_did_you_mean():
    msg = one_error({"task": {"options": {"treshold": 0.1}}})
    assert (
        msg
        == "cfg.yaml: task.options.treshold: unknown option (did you mean 'threshold'?) (allowed: threshold, jitter)"
    )


def test_option_of_another_variant_is_unknown():
    msg = one_error({"task": {"name": "parity", "options": {"n_marked": 2}}})
    assert "task.options.n_marked: unknown option" in msg and "(allowed: none)" in msg


def test_unknown_names_suggest(tmp_path):
    # (a variant is checked against its task, so an unknown task cannot also have an unknown variant)
    assert "did you mean 'pascanu'?" in one_error({"task": {"name": "adding", "variant": "pascnu"}})
    cases = {
        ("task", "name", "addding"): "adding",
        ("model", "type", "lstn"): "lstm",
        ("model", "init", "orthogonl"): "orthogonal",
        ("model", "nonlinearity", "rellu"): "relu",
        ("train", "optimizer", "adma"): "adam",
        ("clipping", "mode", "nrom"): "norm",
        ("clipping", "nonfinite", "shrnk"): "shrink",
        ("regularizer", "form", "bok"): "book",
        ("train", "device", "cpuu"): "cpu",
    }
    raw = {}
    for (sec, key, bad), _ in cases.items():
        raw.setdefault(sec, {})[key] = bad
    errs = errors(raw)
    assert len(errs) == len(cases), errs
    for (sec, key, bad), good in cases.items():
        assert any(
            f"{sec}.{key}: " in e and repr(bad) in e and f"did you mean '{good}'?" in e and "allowed:" in e
            for e in errs
        ), (sec, key, errs)


def test_duplicate_keys_are_config_errors(tmp_path):
    p = write(tmp_path, "train:\n  lr: 0.1\n  lr: 0.2\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.errors == [f"{p}: duplicate key train.lr (lines 2 and 3)"]


# ---------------------------------------------------------------------------------- no coercion
@pytest.mark.parametrize(
    "path,value,kind",
    [
        ("train.steps", True, "integer"),
        ("train.batch_size", 16.5, "integer"),
        ("task.seq_len", "3", "integer"),
        ("train.steps", 20.0, "integer"),
        ("train.stop_when_solved", 1, "boolean"),
        ("train.stop_when_solved", "yes", "boolean"),
        ("train.lr", "0.1", "number"),
        ("train.lr", True, "number"),
        ("name", 5, "string"),
        ("task.variant", 1, "string"),
        ("task.options", [1], "dictionary"),
        ("train.threads", False, "integer"),
        ("model.forget_bias", "1", "number"),
    ],
)
def test_no_silent_coercion(path, value, kind):
    raw: dict = {}
    set_dotted(raw, path, value, [], "")
    msg = one_error(raw)
    assert msg.startswith(f"cfg.yaml: {path}: ") and kind in msg
    assert (f"got a {type(value).__name__}" if isinstance(value, list) else repr(value)) in msg


def test_task_option_types_are_strict():
    errs = errors({"task": {"options": {"jitter": 1, "threshold": True}}})
    assert len(errs) == 2 and all("expected" in e for e in errs)


def test_int_is_fine_where_a_float_belongs():
    cfg = validate_dict({"train": {"lr": 1}, "clipping": {"threshold": 5}}, "x")
    assert cfg.train.lr == 1 and cfg.clipping.threshold == 5


def test_yaml_readings_that_look_like_coercion(tmp_path):
    # `yes` is a YAML 1.1 boolean (fine for a bool field, an error for a string one); 010 is refused outright
    assert load_config(write(tmp_path, "train: {stop_when_solved: no}\n")).train.stop_when_solved is False
    with pytest.raises(ConfigError, match="name: Input should be a valid string, got False"):
        load_config(write(tmp_path, "name: no\n"))
    with pytest.raises(ConfigError, match="ambiguous number '010'"):
        load_config(write(tmp_path, "seed: 010\n"))


# ---------------------------------------------------------------------------------------- ranges
@pytest.mark.parametrize(
    "path,value,what",
    [
        ("train.lr", float("nan"), "finite"),
        ("train.lr", float("inf"), "finite"),
        ("train.lr", -1e-3, "greater than 0"),
        ("train.lr", 0, "greater than 0"),
        ("clipping.threshold", 0, "greater than 0"),
        ("clipping.threshold", float("-inf"), "finite"),
        ("clipping.threshold", -1, "greater than 0"),
        ("train.momentum", 1, "less than 1"),
        ("train.momentum", -0.5, "greater than or equal to 0"),
        ("regularizer.omega_weight", -1, "greater than or equal to 0"),
        ("regularizer.omega_weight", float("nan"), "finite"),
        ("train.success_error", 0, "greater than 0"),
        ("train.success_error", 1.5, "less than or equal to 1"),
        ("task.seq_len", 1, "greater than or equal to 2"),
        ("task.seq_len", 10**9, "less than or equal to"),
        ("task.test_size", 0, "greater than or equal to"),
        ("train.batch_size", 0, "greater than or equal to 1"),
        ("train.steps", 0, "greater than or equal to 1"),
        ("train.eval_every", -5, "greater than or equal to 1"),
        ("seed", -1, "greater than or equal to 0"),
        ("seed", 2**64, "less than"),
        ("model.hidden_size", 0, "greater"),
        ("model.forget_bias", float("nan"), "finite"),
        ("regularizer.decay_steps", 0, "greater"),
    ],
)
def test_numbers_finite_and_in_range(path, value, what):
    raw: dict = {}
    set_dotted(raw, path, value, [], "")
    msg = one_error(raw)
    assert msg.startswith(f"cfg.yaml: {path}: ") and what in msg


def test_nan_in_a_task_option():
    assert "task.options.threshold: expected float, got nan" in one_error(
        {"task": {"options": {"threshold": float("nan")}}}
    )


def test_yaml_spellings_of_non_finite(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "train: {lr: .nan}\nclipping: {threshold: .inf}\n"))
    assert len(e.value.errors) == 2 and all("finite number" in x for x in e.value.errors)


@pytest.mark.parametrize(
    "name", ["a/b", "../x", "..", ".", "/abs", "a\\b", "", "a b", "x" * 101, "名前", "a\nb", "~"]
)
def test_bad_names(name):
    msg = one_error({"name": name})
    assert msg.startswith("cfg.yaml: name: invalid name") and "letters, digits and -_.+" in msg


@pytest.mark.parametrize("name", ["run", "a-b_c.d+e", "...", ".hidden", "1e3", "x" * 100])
def test_good_names(name):
    assert NAME_RE.match(name) and validate_dict({"name": name}, "x").name == name


def test_method_label_is_one_printable_line():
    assert "method: must be printable text on one line" in one_error({"method": "a\nb"})
    assert validate_dict({"method": "rnn+clip+Ω"}, "x").method == "rnn+clip+Ω"


def test_init_and_nonlinearity_must_fit_the_model():
    errs = errors({"model": {"type": "lstm", "init": "identity", "nonlinearity": "relu"}})
    assert (
        len(errs) == 2
        and any("model.init" in e for e in errs)
        and any("model.nonlinearity" in e for e in errs)
    )


def test_task_checks_name_the_field():
    msg = one_error({"task": {"name": "adding", "variant": "pascanu", "seq_len": 5}})
    assert msg.startswith("cfg.yaml: task.seq_len: ") and "needs seq_len >= 10" in msg
    msg = one_error({"task": {"options": {"threshold": -1}}})
    assert msg.startswith("cfg.yaml: task.options: ") and "threshold" in msg


def test_memory_estimate_refusal_draws_nothing(monkeypatch):
    """Refused from an estimate, before any data exists: drawing a batch would fail the test; and the
    estimate covers at least the held-out inputs alone (T × test_size × 2 channels of float32)."""

    from ltd_bench import tasks

    def no_data(*args, **kwargs):
        raise AssertionError("data was drawn before the refusal")

    monkeypatch.setattr(tasks.Adding, "sample", no_data)
    msg = one_error({"task": {"name": "adding", "seq_len": 100_000, "test_size": 1_000_000}})
    assert msg.startswith("cfg.yaml: task.seq_len: would need about") and "GiB" in msg
    gib = float(re.search(r"about ([0-9.]+) GiB", msg).group(1))
    assert gib >= 100_000 * 1_000_000 * 2 * 4 / 2**30
    assert validate_dict({"task": {"name": "adding", "seq_len": 100, "test_size": 1000}}, "x")  # small: fine


def test_long_junk_is_cut_short_in_messages():
    msg = one_error({"name": "x" * 100_000})
    assert len(msg) < 300
    msg = one_error({"train": {"k" * 10_000: 1}})
    assert len(msg) < 400


def test_top_level_must_be_a_mapping(tmp_path):
    for text, kind in (("- a\n- b\n", "list"), ("42\n", "int"), ("hello\n", "str")):
        with pytest.raises(ConfigError) as e:
            load_config(write(tmp_path, text))
        assert e.value.errors == [
            f"{tmp_path / 'c.yaml'}: (top level): expected a mapping of sections, got {kind}"
        ]


# ----------------------------------------------------------------------------------------- --set
def test_set_values_are_yaml_scalars(tmp_path):
    p = write(tmp_path, dump(SMALL))
    cfg = load_config(
        p,
        [
            "train.lr=1e-3",
            "model.type=lstm",
            "train.stop_when_solved=false",
            "seed=7",
            "task.options.threshold=0.1",
            "clipping.mode=norm",
            " train.momentum = 0.5",
        ],
    )
    assert cfg.train.lr == 1e-3 and isinstance(cfg.train.lr, float)
    assert cfg.model.type == "lstm" and cfg.train.stop_when_solved is False and cfg.seed == 7
    assert (
        cfg.task.options == {"threshold": 0.1} and cfg.clipping.mode == "norm" and cfg.train.momentum == 0.5
    )


def test_set_creates_sections_and_later_wins(tmp_path):
    p = write(tmp_path, "name: x\n")
    cfg = load_config(p, ["clipping.mode=value", "clipping.threshold=2", "clipping.threshold=3"])
    assert cfg.clipping.mode == "value" and cfg.clipping.threshold == 3


def test_set_quoted_string_stays_a_string(tmp_path):
    with pytest.raises(ConfigError, match=r"train.steps: Input should be a valid integer, got '5'"):
        load_config(write(tmp_path, "name: x\n"), ["train.steps='5'"])


@pytest.mark.parametrize(
    "item,needle",
    [
        ("train.lr", "expected dotted.key=value"),
        ("=3", "expected dotted.key=value"),
        ("train..lr=1", "expected dotted.key=value"),
        (".lr=1", "expected dotted.key=value"),
        ("train.=1", "expected dotted.key=value"),
        ("train.lr=[1", "--set: train.lr: line 1"),
        ("train.lr=!!python/name:os.system", "no Python or custom tags"),
        ("train.lr=a: b: c", "invalid YAML"),
        ("name.x=1", "--set: name: is not a section, cannot set name.x"),
    ],
)
def test_bad_set_syntax(tmp_path, item, needle):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "name: x\n"), [item])
    assert len(e.value.errors) == 1 and needle in e.value.errors[0], e.value.errors


def test_set_errors_and_file_errors_together(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "train: {lr: -1}\n"), ["oops", "train.lrr=1"])
    errs = e.value.errors
    assert len(errs) == 3 and errs[0].startswith("--set: 'oops'")
    assert any("train.lrr: unknown key (did you mean 'lr'?)" in x for x in errs)


def test_apply_overrides_does_not_touch_the_input():
    raw = {"train": {"lr": 0.1}}
    new, errs = apply_overrides(raw, ["train.lr=0.5"])
    assert raw == {"train": {"lr": 0.1}} and new == {"train": {"lr": 0.5}} and errs == []


# --------------------------------------------------------------------------------- validate / run id
def test_validate_prints_resolved_config_and_run_id(tmp_path, ltd):
    p = write(tmp_path, "name: demo\ntrain: {lr: 1e-3}\n")
    code, out, err = ltd("validate", p, "--set", "model.type=lstm")
    assert code == 0 and err == ""
    body, _, tail = out.rpartition("# run_id: ")
    cfg = load_config(p, ["model.type=lstm"])
    assert tail.strip() == cfg.run_id and re.fullmatch(r"[0-9a-f]{12}", cfg.run_id)
    assert yaml.safe_load(body) == cfg.to_dict()  # every field, defaults included
    assert body == resolved_yaml(cfg)


def test_validate_prints_user_text_verbatim(tmp_path, ltd):
    """rich must not eat `[bold]` or `:smile:` in a method label, nor wrap a long line."""
    label = "[bold]x[/bold] :smile: " + "y" * 35
    p = write(tmp_path, dump({"name": "n", "method": label}))
    code, out, _ = ltd("validate", p)
    assert code == 0 and load_config(p).method == label
    assert yaml.safe_load(out.rpartition("# run_id")[0])["method"] == label


def test_run_with_markup_in_the_method_label(tmp_path, ltd):
    p = write(tmp_path, dump({**SMALL, "method": "[/x] rnn", "train": {**SMALL["train"], "steps": 5}}))
    code, out, err = ltd("run", p, "--out", tmp_path / "out", "--no-weights")
    assert code == 0 and "[/x] rnn" in out and "error" not in err


def test_validate_errors_exit_2_one_line_each(tmp_path, ltd):
    p = write(tmp_path, "nmae: x\ntrain: {lr: -1}\nname: '[/x]'\n")  # '[/x]' would be rich markup
    code, out, err = ltd("validate", p)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith(f"error {p}: ") for line in lines)
    assert "'[/x]'" in err and "Traceback" not in err


def test_run_id_is_stable_and_sensitive():
    base = validate_dict(SMALL, "a")
    assert validate_dict(SMALL, "b").run_id == base.run_id  # the source does not matter
    explicit = validate_dict(base.to_dict(), "c")  # defaults written out: the same config
    assert explicit.run_id == base.run_id
    reordered = dict(reversed(list(SMALL.items())))
    assert validate_dict(reordered, "d").run_id == base.run_id
    changes = [
        "seed=1",
        "name=u",
        "method=m",
        "task.seq_len=11",
        "task.variant=pascanu",
        "task.test_size=51",
        "task.test_seed=1",
        "task.options.threshold=0.05",
        "model.type=gru",
        "model.hidden_size=9",
        "model.nonlinearity=relu",
        "model.init=orthogonal",
        "model.forget_bias=0.5",
        "train.optimizer=adam",
        "train.lr=0.02",
        "train.momentum=0.9",
        "train.batch_size=21",
        "train.steps=21",
        "train.eval_every=5",
        "train.success_error=0.02",
        "train.stop_when_solved=false",
        "train.device=auto",
        "train.threads=2",
        "clipping.mode=norm",
        "clipping.threshold=2",
        "clipping.nonfinite=shrink",
        "regularizer.omega_weight=2",
        "regularizer.form=pascanu2013",
        "regularizer.schedule=inverse_t",
        "regularizer.decay_steps=10",
    ]
    ids = {base.run_id}
    for change in changes:
        raw, errs = apply_overrides(SMALL, [change])
        assert not errs
        ids.add(validate_dict(raw, "x").run_id)
    assert len(ids) == len(changes) + 1


def test_run_id_distinguishes_int_and_float_spellings_consistently():
    a = validate_dict({"train": {"lr": 1}}, "x")
    b = validate_dict({"train": {"lr": 1.0}}, "x")
    assert a.run_id == b.run_id  # lr is a float field: 1 and 1.0 are the same value


# ------------------------------------------------------------------------------------ property-based
NAMES = st.one_of(
    st.from_regex(NAME_RE, fullmatch=True),
    st.sampled_from(
        [
            "1e3",
            "1.5e3",
            ".5e3",
            "yes",
            "no",
            "null",
            "true",
            "010",
            "0x10",
            "1_000",
            ".inf",
            ".nan",
            "...",
            "2020-01-01",
            "-1",
            "+1",
        ]
    ),
).filter(lambda s: s not in {".", ".."})
FLOATS = st.floats(min_value=1e-6, max_value=10, allow_nan=False, allow_subnormal=False)


def _section(**fields):
    return st.fixed_dictionaries({}, optional=fields)


VALID = st.fixed_dictionaries(
    {},
    optional={
        "name": NAMES,
        "seed": st.integers(0, 2**63 - 1),
        "method": st.one_of(
            st.none(), st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=60)
        ),
        "task": _section(
            seq_len=st.integers(10, 200),
            test_size=st.integers(10, 2000),
            test_seed=st.integers(0, 2**63 - 1),
            variant=st.sampled_from([None, "sum", "pascanu"]),
            options=_section(threshold=FLOATS, jitter=st.booleans()),
        ),
        "model": _section(
            type=st.sampled_from(["rnn", "lstm", "gru"]),
            hidden_size=st.integers(1, 64),
            init=st.sampled_from(["default", "orthogonal"]),
            forget_bias=st.floats(-10, 10, allow_nan=False, allow_subnormal=False),
        ),
        "train": _section(
            optimizer=st.sampled_from(["sgd", "adam", "rmsprop"]),
            lr=FLOATS,
            momentum=st.floats(0, 0.999, allow_nan=False, allow_subnormal=False),
            batch_size=st.integers(1, 64),
            steps=st.integers(1, 10**6),
            eval_every=st.integers(1, 10**4),
            success_error=st.floats(1e-6, 1, allow_nan=False, allow_subnormal=False),
            stop_when_solved=st.booleans(),
            device=st.sampled_from(["auto", "cpu", "cuda"]),
            threads=st.integers(1, 8),
        ),
        "clipping": _section(
            mode=st.sampled_from(["none", "value", "norm"]),
            threshold=st.floats(1e-6, 1e6, allow_nan=False, allow_subnormal=False),
            nonfinite=st.sampled_from(["skip", "shrink", "random_step"]),
        ),
        "regularizer": _section(
            omega_weight=st.floats(0, 1e6, allow_nan=False, allow_subnormal=False),
            form=st.sampled_from(["book", "pascanu2013"]),
            schedule=st.sampled_from(["constant", "inverse_t"]),
            decay_steps=st.integers(1, 10**6),
        ),
    },
)


@FAST
@given(VALID)
def test_valid_mappings_round_trip_through_resolved_yaml(raw):
    cfg = validate_dict(raw, "gen")
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "resolved.yaml"
        p.write_text(resolved_yaml(cfg), encoding="utf-8")
        again = load_config(p)
        p.write_text(
            dump(raw), encoding="utf-8"
        )  # the user's own (partial) mapping, dumped, loads the same too
        partial = load_config(p)
    assert again.run_id == cfg.run_id == partial.run_id and again.to_dict() == cfg.to_dict()


JUNK_KEYS = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)


@FAST
@given(VALID, st.sampled_from([None, *SECTIONS]), JUNK_KEYS)
def test_random_junk_keys_are_always_reported(raw, section, key):
    allowed = Config.model_fields if section is None else SECTIONS[section].model_fields
    assume(key not in allowed)
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    (raw if section is None else raw.setdefault(section, {}))[key] = 1
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "junk.yaml"
        p.write_text(dump(raw), encoding="utf-8")
        with pytest.raises(ConfigError) as e:
            load_config(p)
    path = key if section is None else f"{section}.{key}"
    assert any(f": {path}: unknown key" in line for line in e.value.errors), (path, e.value.errors)


@FAST
@given(
    st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1"))),
    st.lists(st.text(max_size=20), max_size=3),
)
def test_arbitrary_text_gives_a_config_or_a_config_error(text, overrides):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.yaml"
        p.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_config(p, overrides)
        except ConfigError as e:
            assert e.errors and all(isinstance(x, str) and x for x in e.errors)


@FAST
@given(
    st.dictionaries(
        st.sampled_from(["name", "seed", "task", "model", "train", "clipping", "regularizer", "x"]),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_subnormal=False)
            | st.text(max_size=8),
            lambda k: st.lists(k, max_size=3) | st.dictionaries(st.text(max_size=8), k, max_size=3),
            max_leaves=10,
        ),
    )
)
def test_arbitrary_shapes_give_a_config_or_a_config_error(raw):
    try:
        validate_dict(raw, "x")
    except ConfigError as e:
        assert e.errors


def test_yaml_error_is_not_a_config_error_subclass_surprise():
    # load_config wraps YamlError: callers catch only ConfigError
    assert not issubclass(YamlError, ConfigError)
