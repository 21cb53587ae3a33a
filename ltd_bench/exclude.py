"""A sweep's `exclude:`: points of the grid that are left out, each said where it is declared.

    exclude:  # a method leaves a cell where the pilot shows it cannot be informative there
      - {method: rnn+clip (sgd), task.name: parity}
      - {method: lstm+clip (sgd), task.name: copying, task.seq_len: 100}

An entry leaves out every expanded point that has all of the entry's values: `method` is a methods:
label, every other key a grid: or zip: key, compared with the values as the sweep file writes them (so
`task.options: {copy_len: 3}` matches the zip's `{copy_len: 3}`). An entry that names a key the sweep
does not sweep, a value no axis has, a key that --set also sets, or that leaves out nothing is an error: a
typo must not quietly keep a run in, or take one out. Entries may overlap.
"""

from __future__ import annotations

import json
from typing import Any

from .registry import did_you_mean, shown


def parse(raw: Any, src: str, axes: dict[str, list], labels: list[str], errors: list[str]) -> dict[int, dict]:
    """The valid entries of `exclude:` by their index in the file; problems appended to `errors` as `SRC: exclude[i].key: ...`.
    axes: the swept keys (grid and zip) -> their values; labels: the methods (empty: none declared)."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        errors.append(
            f"{src}: exclude: expected a list of {{method or swept.key: value}} mappings, got {shown(raw)}"
        )
        return {}
    allowed = {"method": labels, **axes} if labels else dict(axes)
    out = {}
    for i, entry in enumerate(raw):
        where = f"{src}: exclude[{i}]"
        if not isinstance(entry, dict) or not entry:
            got = "an empty one (it would leave out every run)" if entry == {} else shown(entry)
            errors.append(f"{where}: expected a mapping of method or swept.key: value, got {got}")
            continue
        ok = True
        for key, value in entry.items():
            key = str(key)
            if key not in allowed:
                errors.append(
                    f"{where}.{key}: not a swept key{did_you_mean(key, list(allowed))} "
                    f"(allowed: {', '.join(allowed) or 'none: the sweep has no methods, grid or zip'})"
                )
                ok = False
            elif not any(_same(value, v) for v in allowed[key]):
                swept = ", ".join(_key(v) for v in {_key(v): v for v in allowed[key]}.values())
                errors.append(f"{where}.{key}: {_key(value)} is not one of the swept values ({swept})")
                ok = False
        if ok:
            out[i] = {str(k): v for k, v in entry.items()}
    return out


def excluded(entries: dict[int, dict], point: dict) -> list[int]:
    """The indices of the entries that leave `point` (method and swept key -> value) out."""
    return [i for i, e in entries.items() if all(k in point and _same(v, point[k]) for k, v in e.items())]


def overridden(entries: dict[int, dict], overrides: list[str], src: str) -> list[str]:
    """Errors for --set options on a key an entry names: the entry would match the value before --set and
    so leave out (or keep) runs by a value they no longer have."""
    keys = {o.partition("=")[0].strip(): o for o in overrides}
    return [
        f"{src}: exclude[{i}].{k}: also set by --set {keys[s]}, which would change what the entry leaves out"
        for i, e in entries.items()
        for k in e
        for s in keys
        if s == k or s.startswith(k + ".") or k.startswith(s + ".")
    ]


def unused(entries: dict[int, dict], hits: dict[int, int], src: str) -> list[str]:
    """Errors for entries that left nothing out (hits: index -> points it left out)."""
    return [
        f"{src}: exclude[{i}]: leaves out no run (no point of the sweep has all of {_key(e)})"
        for i, e in entries.items()
        if not hits.get(i)
    ]


def _same(a: Any, b: Any) -> bool:
    """Equal as YAML values, so that 1 and 1.0 match but True and 1 do not, at any depth."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b or (_number(a) and _number(b) and a == b)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _key(v: Any) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)
