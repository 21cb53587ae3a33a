"""Typed, validated run configs: every error at once, each naming file and field.

Each field carries its one-line meaning (`description`, shown by `ltd-bench ls fields`); a comment on
a default says why it has that value. Allowed names come from choices.py.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import choices
from .lazy import LazyModule
from .registry import did_you_mean, short
from .yamlio import YamlError, dump, parse_scalar, read_yaml

tasks = LazyModule("ltd_bench.tasks", globals(), "tasks")  # the registries, loaded when first validating

NAME_RE = re.compile(r"^[A-Za-z0-9_.+-]{1,100}$")  # names become folder names: no separators, no '..'
MEMORY_LIMIT_BYTES = 8 << 30  # refuse configs whose tensors alone would need more than 8 GiB
# Settings that cannot change a result: left out of the run id, so changing them continues the same run.
NOT_IN_RUN_ID = {("train", "checkpoint_s"), ("train", "tensorboard")}
# Protocol options added after results existed: left out of the run id at their default, so a config
# that does not use them keeps the id (and the folder) it always had.
LATER_DEFAULTS = {
    ("task", "seq_len_max"): None,
    ("task", "test_fresh"): False,
    ("clipping", "bad_norm"): None,
    ("model", "orthogonal_map"): "matrix_exp",
    ("train", "lr_orth"): None,
}


def _one_of(table: dict[str, str]):
    return Literal[tuple(table)]


class _Section(BaseModel):
    # strict: no silent coercion of `true` to 1 or `16.5` to 16; finite numbers only.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, validate_default=True)


class TaskConfig(_Section):
    name: str = Field("adding", description="benchmark task (ltd-bench ls tasks)")
    # 100: the length most long-term-dependency papers report first
    seq_len: int = Field(
        100, ge=2, le=100_000, description="sequence length T (some tasks add steps or jitter)"
    )
    # null: one length; [seq_len, seq_len_max) per batch is how the original code draws lengths (RNN.py)
    seq_len_max: int | None = Field(
        None,
        ge=3,
        le=100_000,
        description="each batch's length uniform in [seq_len, seq_len_max); null: seq_len",
    )
    variant: str | None = Field(None, description="task variant; null: the task's default variant")
    # 1% error = 10 mistakes: the "solved" bar is resolvable
    test_size: int = Field(1000, ge=10, le=1_000_000, description="held-out sequences per evaluation")
    test_seed: int = Field(
        20_130_000, ge=0, lt=2**63, description="seed of the held-out sets: the same for every seed"
    )
    # false: one fixed set, so evaluations differ only by the model; true: the original code's check
    test_fresh: bool = Field(False, description="draw new held-out sequences at every evaluation")
    options: dict[str, Any] = Field(
        default_factory=dict, description="task-specific options (ltd-bench ls tasks; checked against tasks/)"
    )


class ModelConfig(_Section):
    type: _one_of(choices.MODELS) = Field("rnn", description="recurrent cell")
    hidden_size: int = Field(50, ge=1, le=4096, description="hidden units H")  # 50: Pascanu et al. 2013
    nonlinearity: _one_of(choices.NONLINEARITIES) = Field(
        "tanh", description="activation of the vanilla and orthogonal RNN (modrelu: orthogonal only)"
    )
    init: _one_of(choices.INITS) = Field(
        "default", description="weight initialisation (orthogonal model: of A, its other weights expRNN's)"
    )
    # 1 keeps the cell open early (Gers et al. 2000; Jozefowicz et al. 2015)
    forget_bias: float = Field(1.0, ge=-10, le=10, description="LSTM forget-gate bias at initialisation")
    # matrix_exp: expRNN's map (its `--mode exprnn`); PyTorch's parametrizations.orthogonal names it so
    orthogonal_map: _one_of(choices.ORTHOGONAL_MAPS) = Field(
        "matrix_exp", description="orthogonal model: W_hh as a function of a skew-symmetric A"
    )


class TrainConfig(_Section):
    optimizer: _one_of(choices.OPTIMIZERS) = Field("sgd", description="optimizer")
    lr: float = Field(0.01, gt=0, le=10, description="learning rate")  # plain SGD 0.01: Pascanu et al. 2013
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD/RMSProp momentum")  # 0: the paper's plain SGD
    # null: lr/10, expRNN's finding ("10 times" the orthogonal rate for the rest; its --lr_orth)
    lr_orth: float | None = Field(
        None, gt=0, le=10, description="orthogonal model: learning rate of its skew-symmetric A; null: lr/10"
    )
    batch_size: int = Field(
        20, ge=1, le=65_536, description="sequences per update"
    )  # 20: Pascanu et al. 2013
    steps: int = Field(10_000, ge=1, le=1_000_000_000, description="update budget")
    # an evaluation (1000 sequences + the Ω probe) costs 5-30 steps: every 500 keeps it <= 6% of a run
    eval_every: int = Field(500, ge=1, description="updates between held-out evaluations (and checkpoints)")
    # "solved" = held-out error below 1%, the paper's bar
    success_error: float = Field(0.01, gt=0, le=1, description="solved when held-out error is below this")
    stop_when_solved: bool = Field(True, description="end the run at the first evaluation that solves it")
    # H=50, batch 20 is latency-bound: one CPU thread beats GPU kernel launches
    device: _one_of(choices.DEVICES) = Field("cpu", description="where to train")
    # H~50 products are too small to split; 1 thread also makes `run` and `sweep` numbers identical
    threads: int = Field(1, ge=1, le=256, description="torch intra-op threads")
    # a kill loses at most this much training (plus one evaluation interval); writing one costs ~ms
    checkpoint_s: float = Field(
        300.0,
        ge=0,
        le=1e6,
        description="seconds between checkpoints (0: at every evaluation); not in the run id",
    )
    # off: event files are an extra (pip install -e '.[tensorboard]'); `ltd-bench tensorboard` writes them later
    tensorboard: bool = Field(
        False,
        description="also write each evaluation to OUT/<name>/tensorboard/ (TensorBoard); not in the run id",
    )


class ClippingConfig(_Section):
    mode: _one_of(choices.CLIPPING) = Field("none", description="gradient clipping")
    # 1: Pascanu et al. 2013's norm threshold
    threshold: float = Field(1.0, gt=0, le=1e6, description="clipping threshold v (norm or per component)")
    nonfinite: _one_of(choices.NONFINITE) = Field("skip", description="what a NaN/Inf gradient does")
    # null: only NaN/Inf are bad; 1e10 is the original code's guard (RNN.py)
    bad_norm: float | None = Field(
        None,
        gt=0,
        le=1e300,
        description="a gradient norm above this is treated as non-finite (nonfinite policy)",
    )


class RegularizerConfig(_Section):
    # the paper used α = 2 and 4 with the pascanu2013 form
    omega_weight: float = Field(0.0, ge=0, le=1e6, description="α, the weight of Ω (0: off)")
    form: _one_of(choices.OMEGA_FORMS) = Field("book", description="which Ω (docs/science.md)")
    schedule: _one_of(choices.SCHEDULES) = Field("constant", description="α over training")
    decay_steps: int = Field(1000, ge=1, description="inverse_t: α_t = α / (1 + step/decay_steps)")


class Config(_Section):
    name: str = Field("run", description="run name: results go to OUT/<name>/<run_id>/")
    seed: int = Field(
        0, ge=0, lt=2**63, description="seed of the weights, the training data and policy noise"
    )
    method: str | None = Field(
        None,
        max_length=60,
        pattern=r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$",
        description="method label in reports (a sweep's methods: key); null: derived, e.g. rnn+clip+Ω",
    )
    task: TaskConfig = Field(default_factory=TaskConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    clipping: ClippingConfig = Field(default_factory=ClippingConfig)
    regularizer: RegularizerConfig = Field(default_factory=RegularizerConfig)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def run_id(self) -> str:
        """Content hash of the resolved config, less NOT_IN_RUN_ID: the same config always gets the same id."""
        return run_id_of(self.to_dict())


def run_id_of(resolved: dict) -> str:
    """Config.run_id from a resolved config's to_dict() (for callers that have it already; not modified)."""
    d = {k: dict(v) if isinstance(v, dict) else v for k, v in resolved.items()}
    for section, key in NOT_IN_RUN_ID:
        d[section].pop(key, None)
    for (section, key), default in LATER_DEFAULTS.items():
        if d[section].get(key, default) == default:
            d[section].pop(key, None)
    return content_id(d)


def content_id(d: Any) -> str:
    """12 hex digits of SHA-256 over canonical JSON: run ids (and ids of configs that failed to validate)."""
    return hashlib.sha256(_CANONICAL.encode(d).encode()).hexdigest()[:12]


# json.dumps(d, sort_keys=True, separators=(",", ":"), default=str), its encoder built once, not per call
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def name_error(name: str) -> str | None:
    """Why `name` cannot be a folder name under OUT, or None. Names become folders: no separators, no '..'."""
    if not NAME_RE.match(name) or name in {".", ".."}:
        return f"invalid name {short(name)} (allowed: 1-100 letters, digits and -_.+ only)"
    return None


class ConfigError(Exception):
    """One or more config problems, each `FILE: dotted.path: what is wrong (allowed: …)`."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


# ---------------------------------------------------------------------------------------------- errors
def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Allowed keys of the section a location points into (for unknown-key messages)."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            break
        model = ann
    return list(model.model_fields)


def _describe(err: dict) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", err["ctx"]["expected"])
        return (
            f"unknown value {short(value)}{did_you_mean(str(value), allowed)} (allowed: {', '.join(allowed)})"
        )
    if kind == "missing":
        return "required"
    if kind == "string_pattern_mismatch":
        return f"must be printable text on one line, got {short(value)}"
    shown = (
        f", got a {type(value).__name__}"
        if isinstance(value, (dict, list))
        else f", got {short(value)} ({type(value).__name__})"
    )
    return f"{err['msg']}{shown}"


def _format(source: str, errors: list[dict], schema: type[BaseModel] = Config) -> list[str]:
    out = []
    for e in errors:
        loc = tuple(p for p in e["loc"] if not str(p).startswith("function-"))
        path = ".".join(short(p, 40, quote=False) for p in loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            allowed = _fields_at(schema, loc[:-1])
            msg = f"unknown key{did_you_mean(str(loc[-1])[:100], allowed)} (allowed: {', '.join(allowed)})"
        else:
            msg = _describe(e)
        out.append(f"{source}: {path}: {msg}")
    return out


# ------------------------------------------------------------------------------------ semantic checks
def _semantic_errors(raw: dict) -> list[tuple[str, str]]:
    """Checks that need the registries (task names, variants, options) or span fields. They read the raw
    mapping, skipping fields of the wrong type (pydantic reports those), so all errors come out at once."""
    errs: list[tuple[str, str]] = []
    name = raw.get("name")
    if isinstance(name, str) and name_error(name):
        errs.append(("name", name_error(name)))
    t = raw.get("task") if isinstance(raw.get("task"), dict) else {}
    m = raw.get("model") if isinstance(raw.get("model"), dict) else {}
    tname = t.get("name", TaskConfig.model_fields["name"].default)
    if isinstance(tname, str) and tname not in tasks.TASKS:
        names = tasks.TASKS.names()
        errs.append(
            ("task.name", f"unknown task {tname!r}{did_you_mean(tname, names)} (allowed: {', '.join(names)})")
        )
    elif isinstance(tname, str):
        variants, variant = tasks.task_variants(tname), t.get("variant")
        if isinstance(variant, str) and variant not in variants:
            errs.append(
                (
                    "task.variant",
                    f"unknown variant {variant!r} of {tname}"
                    f"{did_you_mean(variant, variants)} (allowed: {', '.join(variants)})",
                )
            )
        vname = variant if isinstance(variant, str) and variant in variants else None
        known, options = tasks.options_view(tname, vname), t.get("options")
        for key, value in options.items() if isinstance(options, dict) else ():
            if not isinstance(key, str):  # pydantic reports the key's type
                continue
            if key not in known:
                errs.append(
                    (
                        f"task.options.{short(key, 40, quote=False)}",
                        f"unknown option{did_you_mean(key[:100], list(known))} "
                        f"(allowed: {', '.join(known) or 'none'})",
                    )
                )
            else:
                try:
                    tasks.check_option(value, known[key])
                except ValueError as e:
                    errs.append((f"task.options.{key}", str(e)))
    lo, hi = t.get("seq_len", TaskConfig.model_fields["seq_len"].default), t.get("seq_len_max")
    if isinstance(lo, int) and isinstance(hi, int) and not isinstance(hi, bool) and hi <= lo:
        errs.append(("task.seq_len_max", f"must be greater than task.seq_len ({lo}), got {hi} (or null)"))
    mtype = m.get("type", "rnn")
    if mtype in {"lstm", "gru"} and m.get("init") in choices.RNN_ONLY_INITS:
        errs.append(
            (
                "model.init",
                f"init {m['init']!r} is for vanilla RNNs (allowed for {mtype}: default, orthogonal)",
            )
        )
    if mtype in {"lstm", "gru"} and m.get("nonlinearity", "tanh") != "tanh":
        errs.append(("model.nonlinearity", f"{mtype} has fixed gate nonlinearities (allowed: tanh)"))
    errs += _orthogonal_errors(mtype, m, raw.get("train") if isinstance(raw.get("train"), dict) else {})
    return errs


def _orthogonal_errors(mtype: str, m: dict, tr: dict) -> list[tuple[str, str]]:
    """The orthogonal model's own names (inits, modReLU, the map, lr_orth) against the model type."""
    init, nl = m.get("init", "default"), m.get("nonlinearity", "tanh")
    if mtype == "orthogonal":
        errs = []
        if isinstance(init, str) and init in choices.INITS and init not in choices.ORTHOGONAL_INITS:
            errs.append(
                (
                    "model.init",
                    f"init {init!r} is not for the orthogonal model (allowed for orthogonal: "
                    f"{', '.join(choices.ORTHOGONAL_INITS)})",
                )
            )
        if (
            isinstance(nl, str)
            and nl in choices.NONLINEARITIES
            and nl not in choices.ORTHOGONAL_NONLINEARITIES
        ):
            allowed = ", ".join(choices.ORTHOGONAL_NONLINEARITIES)
            errs.append(
                ("model.nonlinearity", f"{nl!r} is not for the orthogonal model (allowed: {allowed})")
            )
        return errs
    errs = []
    if init in ("henaff", "cayley"):
        errs.append(("model.init", f"init {init!r} is for model.type orthogonal (its skew-symmetric A)"))
    if nl == "modrelu" and mtype == "rnn":
        errs.append(
            ("model.nonlinearity", "modrelu is for model.type orthogonal (allowed: tanh, relu, sigmoid)")
        )
    if m.get("orthogonal_map", "matrix_exp") != "matrix_exp":
        errs.append(("model.orthogonal_map", f"is for model.type orthogonal, not {mtype}"))
    if tr.get("lr_orth") is not None:
        errs.append(("train.lr_orth", f"is for model.type orthogonal, not {mtype} (leave it null)"))
    return errs


@functools.lru_cache(maxsize=256)
def _task_shape(task_json: str) -> tuple[int, int] | str:
    """(longest sequence, input width) of a task section, or why the task refuses it: built once per
    distinct task section (a big sweep validates tens of thousands of runs of a few tasks)."""
    try:
        task = tasks.task_of(TaskConfig.model_validate_json(task_json))
    except (ValueError, TypeError, ArithmeticError) as e:  # the task's own checks (minimum length, ranges)
        return str(e)
    return task.max_len(), task.input_size


def _memory_errors(cfg: Config) -> list[tuple[str, str]]:
    t = cfg.task
    shape = _task_shape(t.model_dump_json())
    if isinstance(shape, str):
        return [("task.seq_len" if "seq_len" in shape else "task.options", short(shape, 300, quote=False))]
    need = estimate_bytes(cfg, *shape)
    if need <= MEMORY_LIMIT_BYTES:
        return []
    sizes = "task.seq_len, task.test_size, train.batch_size, model.hidden_size"
    if t.options:  # e.g. copying's n_symbols sets the input width
        sizes += f" or task.options ({', '.join(t.options)})"
    return [
        (
            "task.seq_len",
            f"would need about {need / 2**30:.1f} GiB of memory (limit {MEMORY_LIMIT_BYTES / 2**30:.0f} GiB;"
            f" refused before allocating): lower {sizes}",
        )
    ]


def estimate_bytes(cfg: Config, max_len: int, input_size: int) -> int:
    """Upper estimate of tensor memory: held-out set + training graph + evaluation activations."""
    gates = choices.GATES[cfg.model.type]
    h = cfg.model.hidden_size
    test_set = cfg.task.test_size * max_len * (input_size + 1) * 4
    train_graph = max_len * cfg.train.batch_size * (h * (3 * gates + 4) + input_size) * 4 * 2
    evaluation = max_len * min(cfg.task.test_size, tasks.EVAL_CHUNK) * h * (gates + 2) * 4
    return test_set + train_graph + evaluation


# ------------------------------------------------------------------------------------------- loading
def apply_overrides(raw: dict, overrides: list[str], source: str = "--set") -> tuple[dict, list[str]]:
    """Apply `dotted.key=value` overrides (value parsed as a YAML scalar) to a copy of raw."""
    raw, errors = copy.deepcopy(raw), []
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not all(part.strip() for part in key.split(".")):
            errors.append(f"{source}: {short(item)}: expected dotted.key=value (e.g. train.lr=1e-3)")
            continue
        try:
            value = parse_scalar(text)
        except YamlError as e:
            errors.append(f"{source}: {key}: {e}")
            continue
        set_dotted(raw, ".".join(part.strip() for part in key.split(".")), value, errors, source)
    return raw, errors


def set_dotted(raw: dict, key: str, value: Any, errors: list[str], source: str) -> None:
    node, parts = raw, key.split(".")
    for i, part in enumerate(parts[:-1]):
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            errors.append(f"{source}: {'.'.join(parts[: i + 1])}: is not a section, cannot set {key}")
            return
        node = nxt
    node[parts[-1]] = value


def validate_dict(raw: Any, source: str) -> Config:
    """Validate a raw mapping; raise ConfigError with every problem found."""
    if not isinstance(raw, dict):
        raise ConfigError(
            [f"{source}: (top level): expected a mapping of sections, got {type(raw).__name__}"]
        )
    errors = [f"{source}: {path}: {msg}" for path, msg in _semantic_errors(raw)]
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as e:
        errors = _format(source, e.errors()) + errors
        cfg = None
    if cfg is not None and not errors:
        errors = [f"{source}: {path}: {msg}" for path, msg in _memory_errors(cfg)]
    if errors:
        raise ConfigError(errors)
    return cfg


def load_config(path: Path | str, overrides: list[str] = ()) -> Config:
    path = Path(path)
    try:
        raw = read_yaml(path)
    except YamlError as e:
        raise ConfigError([f"{path}: {e}"]) from None
    if raw is None:
        raise ConfigError([f"{path}: file is empty"])
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: (top level): expected a mapping of sections, got {type(raw).__name__}"])
    raw, errors = apply_overrides(raw, list(overrides))
    try:
        cfg = validate_dict(raw, str(path))
    except ConfigError as e:
        raise ConfigError(errors + [blame_overrides(msg, str(path), overrides) for msg in e.errors]) from None
    if errors:
        raise ConfigError(errors)
    return cfg


def blame_overrides(error: str, source: str, overrides: list[str]) -> str:
    """`SRC: dotted.path: msg` -> `--set key=value: dotted.path: msg` when an override set that path."""
    if not error.startswith(source + ": "):
        return error
    where, _, msg = error[len(source) + 2 :].partition(": ")
    for item in overrides:
        key = ".".join(p.strip() for p in item.partition("=")[0].split("."))
        if where == key or where.startswith(key + ".") or key.startswith(where + "."):
            return f"--set {item}: {where}: {msg}"
    return error


def resolved_yaml(cfg: Config) -> str:
    return dump(cfg.to_dict())


# ------------------------------------------------------------------------------------------ labels
def dotted_get(cfg: dict, key: str, default=None):
    """Dotted lookup in a nested config, also accepting an already flattened {dotted: value} dict."""
    if key in cfg:
        return cfg[key]
    cur = cfg
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}, 'c.d': 2} -> {'a.b': 1, 'c.d': 2}; an empty mapping and lists stay values."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def method_of(cfg: Config) -> str:
    """A run's method label: the sweep's (`method:`), else the derived one (method_label)."""
    return cfg.method or method_label(cfg.to_dict())


def method_label(config: dict) -> str:
    """Derived method label: model.type, '+clip' if clipping is on, '+Ω' if omega_weight > 0."""
    label = str(dotted_get(config, "model.type", "?"))
    if str(dotted_get(config, "clipping.mode", "none") or "none") != "none":
        label += "+clip"
    try:
        if float(dotted_get(config, "regularizer.omega_weight", 0) or 0) > 0:
            label += "+Ω"
    except (TypeError, ValueError):
        pass
    return label
