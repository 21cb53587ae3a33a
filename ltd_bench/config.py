"""Typed, validated run configs (DESIGN.md "Contracts"): every error at once, each naming file and field."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .registry import did_you_mean
from .yamlio import YamlError, dump, parse_scalar, read_yaml

NAME_RE = re.compile(r"^[A-Za-z0-9_.+-]{1,100}$")  # names become folder names: no separators, no '..'
MEMORY_LIMIT_BYTES = 8 << 30  # refuse configs whose tensors alone would need more than 8 GiB


class _Section(BaseModel):
    # strict: no silent coercion of `true` to 1 or `16.5` to 16; finite numbers only.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, validate_default=True)


class TaskConfig(_Section):
    name: str = "adding"
    seq_len: int = Field(100, ge=2, le=100_000)  # T; 100 is the length most LTD papers report first
    variant: str | None = None  # None: the preset's default variant
    test_size: int = Field(
        1000, ge=10, le=1_000_000
    )  # 1% error = 10 mistakes: the "solved" bar is resolvable
    test_seed: int = Field(20_130_000, ge=0, lt=2**63)  # its own stream: one fixed held-out set for all seeds
    options: dict[str, Any] = Field(default_factory=dict)  # task-specific, checked against tasks/<name>.yaml


class ModelConfig(_Section):
    type: Literal["rnn", "lstm", "gru"] = "rnn"
    hidden_size: int = Field(50, ge=1, le=4096)  # 50 units: Pascanu et al. 2013's setting
    nonlinearity: Literal["tanh", "relu"] = "tanh"  # RNN only
    init: Literal["default", "orthogonal", "identity", "smart_tanh", "basic_tanh"] = "default"
    forget_bias: float = Field(
        1.0, ge=-10, le=10
    )  # LSTM: 1 keeps the cell open early (Gers 2000, Jozefowicz 2015)


class TrainConfig(_Section):
    optimizer: Literal["sgd", "adam", "rmsprop"] = "sgd"
    lr: float = Field(0.01, gt=0, le=10)  # plain SGD 0.01: Pascanu et al. 2013
    momentum: float = Field(0.0, ge=0, lt=1)  # 0: the paper's plain SGD
    batch_size: int = Field(20, ge=1, le=65_536)  # 20: Pascanu et al. 2013's minibatch
    steps: int = Field(10_000, ge=1, le=1_000_000_000)
    eval_every: int = Field(500, ge=1)  # eval (1000 sequences + Ω probe) costs 5-30 steps: 500 keeps it ≤ 6%
    success_error: float = Field(0.01, gt=0, le=1)  # "solved" = held-out error below 1%, the paper's bar
    stop_when_solved: bool = True
    device: Literal["auto", "cpu", "cuda"] = (
        "cpu"  # H=50, batch 20 is latency-bound: a CPU thread beats kernel launches
    )
    threads: int = Field(
        1, ge=1, le=256
    )  # H~50 products are too small to split; 1 also makes run = sweep numbers


class ClippingConfig(_Section):
    mode: Literal["none", "value", "norm"] = "none"
    threshold: float = Field(1.0, gt=0, le=1e6)  # 1: Pascanu et al. 2013's norm threshold
    nonfinite: Literal["skip", "shrink", "random_step"] = "skip"  # NaN/Inf gradient policy (DESIGN.md)


class RegularizerConfig(_Section):
    omega_weight: float = Field(0.0, ge=0, le=1e6)  # α; the paper used 2 and 4 with the pascanu2013 form
    form: Literal["book", "pascanu2013"] = "book"
    schedule: Literal["constant", "inverse_t"] = "constant"
    decay_steps: int = Field(1000, ge=1)  # inverse_t: α_t = α / (1 + step/decay_steps)


class Config(_Section):
    name: str = "run"
    seed: int = Field(0, ge=0, lt=2**63)
    method: str | None = Field(
        None, max_length=60, pattern=r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
    )  # a sweep's label; one line
    task: TaskConfig = Field(default_factory=TaskConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    clipping: ClippingConfig = Field(default_factory=ClippingConfig)
    regularizer: RegularizerConfig = Field(default_factory=RegularizerConfig)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def run_id(self) -> str:
        """Content hash of the resolved config: the same config always gets the same id."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


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
        return f"unknown value {_short(value)}{did_you_mean(str(value), allowed)} (allowed: {', '.join(allowed)})"
    if kind == "missing":
        return "required"
    if kind == "string_pattern_mismatch":
        return f"must be printable text on one line, got {_short(value)}"
    shown = (
        f", got a {type(value).__name__}"
        if isinstance(value, (dict, list))
        else f", got {_short(value)} ({type(value).__name__})"
    )
    return f"{err['msg']}{shown}"


def _format(source: str, errors: list[dict], schema: type[BaseModel] = Config) -> list[str]:
    out = []
    for e in errors:
        loc = tuple(p for p in e["loc"] if not str(p).startswith("function-"))
        path = ".".join(_short(p, 40, quote=False) for p in loc) or "(top level)"
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
    from .tasks import TASKS, task_options, task_variants

    errs: list[tuple[str, str]] = []
    name = raw.get("name")
    if isinstance(name, str) and (not NAME_RE.match(name) or name in {".", ".."}):
        errs.append(("name", f"invalid name {_short(name)} (allowed: 1-100 letters, digits and -_.+ only)"))
    t = raw.get("task") if isinstance(raw.get("task"), dict) else {}
    m = raw.get("model") if isinstance(raw.get("model"), dict) else {}
    tname = t.get("name", TaskConfig.model_fields["name"].default)
    if isinstance(tname, str) and tname not in TASKS:
        names = TASKS.names()
        errs.append(
            ("task.name", f"unknown task {tname!r}{did_you_mean(tname, names)} (allowed: {', '.join(names)})")
        )
    elif isinstance(tname, str):
        variants, variant = task_variants(tname), t.get("variant")
        if isinstance(variant, str) and variant not in variants:
            errs.append(
                (
                    "task.variant",
                    f"unknown variant {variant!r} of {tname}"
                    f"{did_you_mean(variant, variants)} (allowed: {', '.join(variants)})",
                )
            )
        vname = variant if isinstance(variant, str) and variant in variants else None
        known, options = task_options(tname, vname), t.get("options")
        for key, value in options.items() if isinstance(options, dict) else ():
            if not isinstance(key, str):  # pydantic reports the key's type
                continue
            if key not in known:
                errs.append(
                    (
                        f"task.options.{_short(key, 40, quote=False)}",
                        f"unknown option{did_you_mean(key[:100], list(known))} "
                        f"(allowed: {', '.join(known) or 'none'})",
                    )
                )
            elif not _same_kind(value, known[key]):
                errs.append(
                    (
                        f"task.options.{key}",
                        f"expected {type(known[key]).__name__}, got {_short(value)} ({type(value).__name__})",
                    )
                )
    mtype = m.get("type", "rnn")
    if mtype in {"lstm", "gru"} and m.get("init") in {"identity", "smart_tanh", "basic_tanh"}:
        errs.append(
            (
                "model.init",
                f"init {m['init']!r} is for vanilla RNNs (allowed for {mtype}: default, orthogonal)",
            )
        )
    if mtype in {"lstm", "gru"} and m.get("nonlinearity", "tanh") != "tanh":
        errs.append(("model.nonlinearity", f"{mtype} has fixed gate nonlinearities (allowed: tanh)"))
    return errs


def _short(value: Any, limit: int = 60, quote: bool = True) -> str:
    """repr (or str) cut to `limit` characters: a 1 MiB junk value must not become a 1 MiB error line."""
    text = repr(value) if quote else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return type(value) is type(default)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and math.isfinite(value)
    return type(value) is type(default)


def _memory_errors(cfg: Config) -> list[tuple[str, str]]:
    from .tasks import make_task

    t = cfg.task
    try:
        task = make_task(t.name, t.seq_len, t.variant, **t.options)
    except (
        ValueError,
        TypeError,
        ArithmeticError,
    ) as e:  # the task's own checks (minimum length, option ranges)
        return [("task.seq_len" if "seq_len" in str(e) else "task.options", _short(str(e), 300, quote=False))]
    need = estimate_bytes(cfg, task.max_len(), task.input_size)
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


EVAL_CHUNK = 1000  # evaluate the test set in chunks of this many sequences


def estimate_bytes(cfg: Config, max_len: int, input_size: int) -> int:
    """Upper estimate of tensor memory: held-out set + training graph + evaluation activations."""
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cfg.model.type]
    h = cfg.model.hidden_size
    test_set = cfg.task.test_size * max_len * (input_size + 1) * 4
    train_graph = max_len * cfg.train.batch_size * (h * (3 * gates + 4) + input_size) * 4 * 2
    evaluation = max_len * min(cfg.task.test_size, EVAL_CHUNK) * h * (gates + 2) * 4
    return test_set + train_graph + evaluation


# ------------------------------------------------------------------------------------------- loading
def apply_overrides(raw: dict, overrides: list[str], source: str = "--set") -> tuple[dict, list[str]]:
    """Apply `dotted.key=value` overrides (value parsed as a YAML scalar) to a copy of raw."""
    raw, errors = copy.deepcopy(raw), []
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not all(part.strip() for part in key.split(".")):
            errors.append(f"{source}: {_short(item)}: expected dotted.key=value (e.g. train.lr=1e-3)")
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
        raise ConfigError(errors + e.errors) from None
    if errors:
        raise ConfigError(errors)
    return cfg


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
