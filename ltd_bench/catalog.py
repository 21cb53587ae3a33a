"""What `ltd-bench ls` lists: every name a config may use, one line each, and every config field with
its default, what it allows and what it means (generated from config.py, so it cannot drift)."""

from __future__ import annotations

import typing

from pydantic import BaseModel

from . import choices
from .config import Config

CHOICES = {  # list name -> (the config field that takes these names, the table)
    "models": ("model.type", choices.MODELS),
    "nonlinearities": ("model.nonlinearity", choices.NONLINEARITIES),
    "inits": ("model.init", choices.INITS),
    "orthogonal-maps": ("model.orthogonal_map", choices.ORTHOGONAL_MAPS),
    "optimizers": ("train.optimizer", choices.OPTIMIZERS),
    "devices": ("train.device", choices.DEVICES),
    "clipping": ("clipping.mode", choices.CLIPPING),
    "nonfinite": ("clipping.nonfinite", choices.NONFINITE),
    "omega-forms": ("regularizer.form", choices.OMEGA_FORMS),
    "schedules": ("regularizer.schedule", choices.SCHEDULES),
}


def catalog() -> dict[str, tuple[list[str], list[tuple[str, ...]]]]:
    """list name -> (column headers, rows)."""
    from .tasks import TASKS, preset, task_options

    tasks, variants = [], []
    for n in TASKS.names():
        p = preset(n)
        tasks.append((n, p.get("description", ""), str(p.get("default_seq_len")), p["default_variant"]))
        for v, spec in p["variants"].items():
            opts = ", ".join(f"{k}={o}" for k, o in task_options(n, v).items())
            variants.append((f"{n}.{v}", (spec or {}).get("description", ""), opts or "—"))
    out = {
        "tasks": (
            ["task.name", "description", "suggested T", "default variant"],
            tasks,
        ),
        "variants": (["task.variant", "description", "task.options (defaults)"], variants),
    }
    for name, (field, table) in CHOICES.items():
        out[name] = ([field, "meaning"], list(table.items()))
    out["fields"] = (["field", "default", "allowed", "meaning"], fields())
    return out


def fields(model: type[BaseModel] = Config, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """Every config field, dotted: (name, default, allowed values or range, meaning)."""
    rows = []
    for name, f in model.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows += fields(ann, f"{prefix}{name}.")
            continue
        default = f.get_default(call_default_factory=True)
        rows.append((f"{prefix}{name}", _show(default), _allowed(ann, f.metadata), f.description or ""))
    return rows


def _allowed(ann, metadata) -> str:
    if typing.get_origin(ann) is typing.Literal:
        return " | ".join(typing.get_args(ann))
    bounds = []
    for m in metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                bounds.append(f"{sym} {_show(getattr(m, attr))}")
    kind = getattr(ann, "__name__", None) or str(ann).replace("typing.", "").replace("None", "null")
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def _show(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int) and v > 0 and v & (v - 1) == 0 and v >= 2**16:
        return f"2^{v.bit_length() - 1}"
    if isinstance(v, int) and abs(v) >= 10_000:
        return f"{v:_}"
    return "{}" if v == {} else str(v)
