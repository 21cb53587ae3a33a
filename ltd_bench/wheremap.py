"""Where, at a glance: each declared comparison's verdicts along each swept axis, one row per group of cells.

A group is the cells that agree on everything but one axis (the length T, or any setting that splits
cells, e.g. the clipping threshold) and differ along it: a row reads the verdict at each value of the axis
in order, then the pooled verdict of the comparison's task (the test stratified by cell over every cell of
the task; when those are more than the row's, the row says how many). No new test: every verdict is one
of the report's, Holm-adjusted in its family.

Text (terminal and Markdown), <stem>_where.csv, and a figure: success against the axis per method with
95% Wilson bands, and the verdicts marked above it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .analysis import Analysis
from .render import setting, setting_label

SYMBOL = {"helps": "+", "behind": "−", "equivalent": "=", "inconclusive": "?", "no-information": "○"}
COLOR = {"helps": "tab:green", "behind": "tab:red", "equivalent": "tab:cyan", "inconclusive": "0.35"}
COLOR["no-information"] = "0.65"
LEGEND = "+ helps, − behind, = equivalent, ? inconclusive, ○ no-information (nothing solved on either side)"
RIGHT = 2.2  # x room (in axis values) right of the last value: comparison labels above, legend below
CSV = [
    "method",
    "reference",
    "endpoint",
    "family",
    "axis",
    "group",
    "values",
    "verdicts",
    "pooled",
    "pooled_cells",
]


def _order(values: list) -> list:
    try:
        return sorted(values, key=float)
    except (TypeError, ValueError):
        return sorted(values, key=str)


def value_label(axis: str, value, row=None) -> str:
    """'T=20', 'threshold=0.1', 'copy_len=3', 'no clipping' (a clipping mode of none has no threshold)."""
    if axis == "seq_len":
        return f"T={int(value)}" if float(value).is_integer() else f"T={value}"
    if axis == "clipping.mode" and value == "none":
        return "no clipping"
    return f"{axis.split('.')[-1]}={setting({axis: value}, axis)}"


def where_map(an: Analysis) -> pd.DataFrame:
    """One row per (declared comparison, axis, group of cells differing only along it with 2+ values)."""
    v = an.verdicts
    if v.empty:
        return pd.DataFrame(columns=CSV)
    cells = v[v.scope == "cell"]
    pooled = v[v.scope == "pooled"]
    rows = []
    for (m, ref, endpoint), comp in cells.groupby(["method", "reference", "endpoint"], sort=False):
        for axis in sorted(["seq_len", *an.axes], key=lambda a: -cells[a].nunique()):  # longest first
            fixed = [k for k in an.keys if k != axis]
            for _, g in comp.groupby(fixed, dropna=False, sort=True):
                if g[axis].nunique(dropna=False) < 2:
                    continue
                g = g.assign(_x=g[axis]).set_index("_x").loc[_order(list(g[axis]))]
                first = g.iloc[0]
                pool = pooled[
                    (pooled.method == m)
                    & (pooled.reference == ref)
                    & (pooled.endpoint == endpoint)
                    & (pooled.task == first.task)
                    & (pooled.variant == first.variant)
                ]
                n_pool = int(pool.n_cells.iloc[0]) if len(pool) else 0
                rows.append(
                    {
                        "method": m,
                        "reference": ref,
                        "endpoint": endpoint,
                        "family": first.family,
                        "axis": axis,
                        "group": setting_label(first, [k for k in fixed if k not in ("task", "variant")]),
                        "values": [value_label(axis, x) for x in g.index],
                        "verdicts": list(g.verdict),
                        "pooled": pool.verdict.iloc[0] if len(pool) else "",
                        "pooled_cells": n_pool,
                        "_cells": len(g),
                        "_key": {k: first[k] for k in fixed},
                    }
                )
    return pd.DataFrame(rows, columns=[*CSV, "_cells", "_key"])


def _pooled(r) -> str:
    if not r.pooled:
        return "–"
    more = f" (all {r.pooled_cells} cells of the task)" if r.pooled_cells > r._cells else ""
    return r.pooled + more


def _comparison(r) -> str:
    return f"{r.method} vs {r.reference}" + (" (solved)" if r.endpoint == "solved" else "")


def table(wm: pd.DataFrame, short: bool) -> tuple[list[str], list[list[str]]]:
    header = ["comparison", "cells", "along", "verdict at each value, in order", "pooled"]
    rows = []
    for _, r in wm.iterrows():
        if short:
            along = "  ".join(
                f"{x.split('=')[-1]} {SYMBOL[v]}" for x, v in zip(r["values"], r.verdicts, strict=True)
            )
            pooled = SYMBOL.get(r.pooled, "–") + (f" ({r.pooled_cells})" if r.pooled_cells > r._cells else "")
        else:
            along = ", ".join(f"{x}: {v}" for x, v in zip(r["values"], r.verdicts, strict=True))
            pooled = _pooled(r)
        axis = "T" if r.axis == "seq_len" else r.axis.split(".")[-1]
        rows.append([_comparison(r), r.group, axis, along, pooled])
    return header, rows


def terminal(console, an: Analysis) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    wm = where_map(an)
    if wm.empty:
        return
    header, rows = table(wm, short=True)
    t = Table(title="Where, at a glance", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for h in header:
        t.add_column(h, overflow="fold")
    for r in rows:
        t.add_row(*map(Text, r))
    console.print(t)
    console.print(
        f"{LEGEND}. pooled: the comparison's test stratified by cell over its task ((n): over n cells).",
        style="dim",
        markup=False,
        highlight=False,
    )


def markdown(an: Analysis) -> list[str]:
    wm = where_map(an)
    if wm.empty:
        return []
    header, rows = table(wm, short=False)
    esc = lambda s: str(s).replace("|", "\\|")
    lines = ["## Where, at a glance", "", "Each declared comparison along each axis the cells differ in, one "
             "row per group of cells that differ only there: the verdict at each value in order (from the "
             "verdict table above), then the pooled verdict of the comparison over its task.", ""]  # fmt: skip
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return [*lines, ""]


def write_csv(path: Path, an: Analysis) -> Path | None:
    """<stem>_where.csv next to the table CSV; lists joined by ';'."""
    wm = where_map(an)
    if wm.empty:
        return None
    out = wm[CSV].copy()
    out["values"] = out["values"].map(";".join)
    out["verdicts"] = out["verdicts"].map(";".join)
    path = Path(path).with_name(f"{Path(path).stem}_where.csv")
    out.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------------------------ figure
def _cells_of(an: Analysis, key: dict) -> np.ndarray:
    """Which rows of the cell table a where-map group covers (a missing setting matches a missing one)."""
    sel = np.ones(len(an.cells), bool)
    for k, val in key.items():
        col = an.cells[k]
        sel &= (col == val).to_numpy() | (col.isna().to_numpy() & pd.isna(val))
    return sel


def figure(an: Analysis, out_dir: Path, fmt: str = "png") -> list[Path]:
    """where.<fmt>: per axis and group, success against the axis per method of the group's comparisons
    (95% Wilson band), each comparison's verdicts marked above the curves, the pooled one on the right."""
    from .plots import PANEL_W, _colors, _Pages, _small

    wm = where_map(an)
    if wm.empty:
        return []
    first = lambda comps: np.flatnonzero(_cells_of(an, comps._key.iloc[0]))[0]  # the report's cell order
    axes = list(dict.fromkeys(wm.axis))  # where_map's order: the axis with the most values first
    groups = sorted(
        wm.groupby(["axis", "group"], sort=False), key=lambda g: (axes.index(g[0][0]), first(g[1]))
    )
    colors = _colors(an.cells.method)
    title = f"Where, at a glance: solved fraction (95% Wilson band) and verdicts ({LEGEND})"
    pages = _Pages(len(groups), title, "where", ncols=min(2, len(groups)), panel_w=1.6 * PANEL_W)
    for ax, ((axis, label), comps) in zip(pages.axes, groups, strict=True):
        cells = an.cells[_cells_of(an, comps._key.iloc[0])]
        values = _order(list(cells[axis].unique()))
        pos = {x: i for i, x in enumerate(values)}  # even spacing: values as categories, in order
        methods = list(dict.fromkeys([*comps.method, *comps.reference]))
        for m in methods:
            g = cells[cells.method == m].copy()
            g["_p"] = g[axis].map(pos)
            g = g.sort_values("_p")
            ax.fill_between(g._p, g.success_lo, g.success_hi, color=colors[m], alpha=0.15, lw=0)
            ax.plot(g._p, g.success_rate, "o-", ms=3, color=colors[m], label=m)
        for i, (_, r) in enumerate(comps.iterrows()):
            y = 1.12 + 0.13 * i
            for x, v in zip(r["values"], r.verdicts, strict=True):
                p = next(pos[val] for val in values if value_label(axis, val) == x)
                ax.text(p, y, SYMBOL[v], ha="center", va="center", fontsize=9, color=COLOR[v], weight="bold")
            pooled = f"; pooled {SYMBOL[r.pooled]}" if r.pooled else ""
            ax.text(len(values) - 0.6, y, f"{_comparison(r)}{pooled}", ha="left", va="center", fontsize=5.5,
                    color=COLOR.get(r.pooled, "0.3"))  # fmt: skip
        ax.set_xticks(range(len(values)), [value_label(axis, x).split("=")[-1] for x in values])
        ax.set_xlim(-0.5, len(values) - 0.5 + RIGHT)
        ax.set_ylim(-0.04, 1.12 + 0.13 * len(comps))
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
        ax.set(xlabel="T" if axis == "seq_len" else axis.split(".")[-1], ylabel="fraction solved")
        ax.set_title(label, fontsize=8)
        _small(ax, legend=False)
        ax.legend(fontsize=6, loc="lower right", frameon=False)  # in the room right of the last value
    saved: list[Path] = []
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    pages.save(Path(out_dir), fmt, saved)
    return saved
