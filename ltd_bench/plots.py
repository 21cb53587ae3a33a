"""Report plots (PNG). Object API only (Figure + FigureCanvasAgg): no pyplot global state, no GUI backend.

Every plot is skipped, not drawn empty, when its data is missing. Only finished runs (solved / unsolved /
diverged) are drawn. Curves over seeds: median and 25-75% band; runs that stopped early because they
were solved hold their last value afterwards (otherwise the median at late steps would be taken over the
unsolved runs only).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ltd_bench.report import COUNTED, cell_axes, read_metrics, success_table

DECADES = 100  # log axis once the data spans two decades (steps 100..50k; thresholds 0.01..1)
MAX_SERIES = 8  # split series by the other swept keys only while the legend stays readable
PANEL_W, PANEL_H = 5.0, 3.6  # inches per panel: readable at 100 dpi
DPI = 100  # small files, fast to write
LAYOUT = "constrained"  # no overlapping titles/labels; costs one extra layout pass per figure


def _figure(n_panels: int, ncols: int | None = None):
    ncols = ncols or min(3, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(PANEL_W * ncols, PANEL_H * nrows), layout=LAYOUT)
    FigureCanvasAgg(fig)
    axs = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axs[n_panels:]:
        ax.set_visible(False)
    return fig, axs


def _save(fig, out_dir: Path, name: str, saved: list[Path]) -> None:
    path = out_dir / name
    fig.savefig(path, dpi=DPI)
    saved.append(path)


def _maybe_log(ax, values, axis: str = "x") -> None:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x) and x > 0], dtype=float)
    if len(v) and v.max() / v.min() >= DECADES:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _colors(methods) -> dict:
    cmap = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9"]
    return {m: cmap[i % len(cmap)] for i, m in enumerate(sorted(set(methods)))}


def _series(runs: pd.DataFrame, axes: list[str]) -> tuple[list[str], str]:
    """Columns that split series (method, plus other swept keys while few) and a note on pooling.
    A key that never varies within a (task, T) panel (e.g. a task's variant zipped with its name) is a
    property of the panel, not a series."""
    axes = [a for a in axes if (runs.groupby(["task", "seq_len"])[a].nunique(dropna=False) > 1).any()]
    keys = ["method", *axes]
    if (
        axes
        and runs.groupby(["task", "seq_len"])[keys].apply(lambda g: len(g.drop_duplicates())).max()
        <= MAX_SERIES
    ):
        return keys, ""
    return ["method"], f" (pooled over {', '.join(axes)})" if axes else ""


def _label(key, cols: list[str]) -> str:
    key = key if isinstance(key, tuple) else (key,)
    return ", ".join(
        [str(key[0])] + [f"{c.split('.')[-1]}={v}" for c, v in zip(cols[1:], key[1:], strict=True)]
    )


def _band(curves: list[tuple[pd.Series, bool]]):
    """Align per-run curves on the union of steps; median, 25% and 75% per step over runs."""
    idx = sorted(set().union(*(s.index for s, _ in curves)))
    cols = []
    for s, hold in curves:
        r = s.reindex(idx)
        r = r.where(r.index.isin(s.index), r.ffill())  # fill only between/after own evaluations
        r[r.index < s.index.min()] = np.nan
        if not hold:
            r[r.index > s.index.max()] = np.nan
        cols.append(r)
    m = pd.concat(cols, axis=1)
    return m.index.to_numpy(float), m.median(axis=1), m.quantile(0.25, axis=1), m.quantile(0.75, axis=1)


def _success_plot(ax, tab, x, cols, colors) -> None:
    """Success rate with Wilson bars, one series per key of `cols`, dodged sideways so bars don't overlap."""
    groups = [(k, g[g.n_runs > 0].sort_values(x)) for k, g in tab.groupby(cols, dropna=False)]
    xs_all = tab[x].astype(float)
    log = ax.get_xscale() == "log"
    span = (xs_all.max() - xs_all.min()) or abs(xs_all.max()) or 1.0
    seen: dict = {}
    for i, (key, g) in enumerate(groups):
        if g.empty:
            continue
        shift = i - (len(groups) - 1) / 2
        xs = g[x].astype(float).to_numpy()
        xs = xs * 1.04**shift if log else xs + 0.012 * span * shift
        method = key[0] if isinstance(key, tuple) else key
        variant = seen.setdefault(method, [])  # same colour per method, marker per other-key value
        variant.append(key)
        err = [g.success_rate - g.success_lo, g.success_hi - g.success_rate]
        ax.errorbar(
            xs,
            g.success_rate,
            yerr=err,
            marker="osD^v<>p"[(len(variant) - 1) % 8],
            capsize=3,
            color=colors[method],
            ls="-" if len(variant) == 1 else "--",
            label=_label(key, cols),
        )
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("success rate (solved/n)")
    ax.grid(alpha=0.3)


def _success_vs_length(runs, axes, colors, out_dir, saved) -> None:
    cols, note = _series(runs, axes)
    tab = success_table(runs, ["task", "seq_len", *cols])
    tasks = sorted(tab.task.unique())
    fig, axs = _figure(len(tasks))
    for ax, task in zip(axs, tasks, strict=True):
        t = tab[tab.task == task]
        _success_plot(ax, t, "seq_len", cols, colors)
        ax.set_xticks(sorted(t.seq_len.unique()))
        ax.set(title=f"{task}: success vs length{note}", xlabel="sequence length T (time steps)")
        ax.legend(fontsize=8)
    fig.suptitle("Success rate (95% Wilson interval) vs sequence length")
    _save(fig, out_dir, "success_vs_length.png", saved)


def _success_vs_threshold(runs, axes, colors, out_dir, saved) -> None:
    key = "clipping.threshold"
    if key not in runs or "clipping.mode" not in runs:
        return
    clipped = runs[runs["clipping.mode"].fillna("none") != "none"]
    if clipped.empty or not (clipped.groupby(["task", "seq_len", "method"])[key].nunique() > 1).any():
        return
    cols, note = _series(clipped, [a for a in axes if a != key])
    tab = success_table(clipped, ["task", "seq_len", key, *cols])
    panels = sorted(tab.groupby(["task", "seq_len"]).groups)
    fig, axs = _figure(len(panels))
    for ax, (task, T) in zip(axs, panels, strict=True):
        t = tab[(tab.task == task) & (tab.seq_len == T)]
        _maybe_log(ax, t[key].astype(float))  # before plotting: the sideways dodge depends on the scale
        _success_plot(ax, t, key, cols, colors)
        ax.set(title=f"{task}, T={T}{note}", xlabel="clipping threshold v (gradient units)")
        ax.legend(fontsize=8)
    fig.suptitle("Success rate (95% Wilson interval) vs clipping threshold")
    _save(fig, out_dir, "success_vs_threshold.png", saved)


def _curves(runs, metrics, column, cols):
    """{(task, T): {series key: [(step-indexed values, hold), ...]}} for one metrics column."""
    out: dict = {}
    for _, r in runs.iterrows():
        m = metrics.get(r.run_dir)
        if m is None or column not in m or m.empty:
            continue
        s = m.set_index("step")[column].astype(float)
        s = s[~s.index.duplicated(keep="last")].sort_index()
        if s.notna().sum() == 0:
            continue
        key = tuple(r[c] for c in cols)
        out.setdefault((r.task, r.seq_len), {}).setdefault(key, []).append((s, r.status == "solved"))
    return out


def _draw_band(ax, curves, colors, cols, positive=False) -> list[float]:
    """Median line + 25-75% band per series; colour per method, line style per other-key value."""
    steps_seen, seen = [], {}
    for key, cs in sorted(curves.items(), key=lambda kv: str(kv[0])):
        x, med, q1, q3 = _band(cs)
        if positive:  # log axes: drop values <= 0 instead of letting them clip
            med, q1, q3 = (v.where(v > 0) for v in (med, q1, q3))
        variant = seen.setdefault(key[0], [])
        variant.append(key)
        c = colors[key[0]]
        ax.plot(
            x,
            med,
            color=c,
            ls=["-", "--", ":", "-."][(len(variant) - 1) % 4],
            label=f"{_label(key, cols)} (n={len(cs)})",
        )
        ax.fill_between(x, q1, q3, color=c, alpha=0.15, lw=0)
        steps_seen += list(x)
    return steps_seen


def _learning_curves(runs, metrics, axes, colors, out_dir, saved) -> None:
    cols, note = _series(runs, axes)
    data = _curves(runs, metrics, "test_error", cols)
    if not data:
        return
    panels = sorted(data)
    fig, axs = _figure(len(panels))
    for ax, (task, T) in zip(axs, panels, strict=True):
        steps = _draw_band(ax, data[(task, T)], colors, cols)
        sub = runs[(runs.task == task) & (runs.seq_len == T)]
        for col, style, what in (
            ("train.success_error", ":", "success threshold"),
            ("baseline_error", "--", "trivial baseline"),
        ):
            vals = sub[col].dropna().unique() if col in sub else []
            if len(vals) == 1:
                ax.axhline(float(vals[0]), color="gray", ls=style, lw=1, label=what)
        _maybe_log(ax, steps)
        ax.set(title=f"{task}, T={T}{note}", xlabel="training steps", ylabel="test error (fraction wrong)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Learning curves: median test error over seeds, 25–75% band")
    _save(fig, out_dir, "learning_curves.png", saved)


def _grad_norm_omega(runs, metrics, axes, colors, out_dir, saved) -> None:
    cols, note = _series(runs, axes)
    parts = [
        (c, lbl)
        for c, lbl in (
            ("grad_norm", "pre-clip gradient norm ‖g‖ (mean over interval)"),
            ("omega", "Ω (regularizer value)"),
        )
    ]
    data_by = {c: _curves(runs, metrics, c, cols) for c, _ in parts}
    parts = [(c, lbl) for c, lbl in parts if data_by[c]]
    if not parts:
        return
    panels = sorted(set().union(*(data_by[c] for c, _ in parts)))
    fig, axs = _figure(len(panels) * len(parts), ncols=len(parts))
    for i, (task, T) in enumerate(panels):
        for j, (col, ylabel) in enumerate(parts):
            ax = axs[i * len(parts) + j]
            data = data_by[col].get((task, T), {})
            steps = _draw_band(ax, data, colors, cols, positive=True)
            if col == "grad_norm" and "clipping.threshold" in runs:
                sub = runs[(runs.task == task) & (runs.seq_len == T) & (runs["clipping.mode"] == "norm")]
                thr = sub["clipping.threshold"].dropna().unique()
                if len(thr) == 1:
                    ax.axhline(float(thr[0]), color="gray", ls=":", lw=1, label="norm-clip threshold")
            ax.set_yscale("log")
            _maybe_log(ax, steps)
            ax.set(title=f"{task}, T={T}{note}", xlabel="training steps", ylabel=ylabel)
            ax.grid(alpha=0.3)
            if data:
                ax.legend(fontsize=8)
    fig.suptitle("Gradient norm before clipping and Ω during training (median over seeds, 25–75% band)")
    _save(fig, out_dir, "grad_norm_omega.png", saved)


def _gradient_flow(runs, colors, out_dir, saved, warnings) -> None:
    profiles: dict = {}  # (task, T) -> method -> ([first profiles], [last profiles])
    for _, r in runs.iterrows():
        path = Path(r.run_dir) / "gradient_flow.npz"
        if not path.is_file():
            continue
        try:
            with np.load(path) as z:
                g = np.asarray(z["grad_norm"], dtype=float)
            if g.ndim != 2 or g.shape[0] == 0:
                raise ValueError(f"grad_norm has shape {g.shape}, expected (evaluations, L)")
        except Exception as e:
            warnings.append(f"ignored {path}: {type(e).__name__}: {e}")
            continue
        first, last = profiles.setdefault((r.task, r.seq_len), {}).setdefault(r.method, ([], []))
        first.append(g[0][::-1])  # reversed: index = time-distance from the end, L-1-t
        last.append(g[-1][::-1])
    if not profiles:
        return
    panels = sorted(profiles)
    fig, axs = _figure(2 * len(panels), ncols=2)
    for i, (task, T) in enumerate(panels):
        for j, when in enumerate(("first", "last")):
            ax = axs[2 * i + j]
            for method, pair in sorted(profiles[(task, T)].items()):
                ps = pair[j]
                mat = np.full((len(ps), max(len(p) for p in ps)), np.nan)
                for k, p in enumerate(ps):
                    mat[k, : len(p)] = p
                med = np.nanmedian(np.where(mat > 0, mat, np.nan), axis=0)
                ax.plot(
                    np.arange(len(med)),
                    med,
                    color=colors[method],
                    ls="-" if "Ω" in method else "--",
                    label=f"{method} (n={len(ps)})",
                )
            ax.set_yscale("log")
            ax.set(
                title=f"{task}, T={T}: {when} evaluation",
                xlabel="time-distance from the end of the sequence (steps)",
                ylabel="‖∂L/∂h_t‖ (batch mean, median over runs)",
            )
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("Gradient-norm profile through time, with and without Ω")
    _save(fig, out_dir, "gradient_flow.png", saved)


def make_plots(
    runs_df: pd.DataFrame, run_dirs, out_dir: Path, warnings: list[str] | None = None
) -> list[Path]:
    """Write the report PNGs for the runs in `run_dirs` into out_dir; returns the files written."""
    warnings = [] if warnings is None else warnings
    wanted = {str(d) for d in run_dirs}
    runs = runs_df[runs_df.run_dir.isin(wanted) & runs_df.status.isin(COUNTED)] if len(runs_df) else runs_df
    if runs.empty:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    axes = cell_axes(runs_df)
    colors = _colors(runs.method)
    metrics = {}
    for d in runs.run_dir:
        try:
            metrics[d] = read_metrics(Path(d))
        except (OSError, ValueError) as e:
            warnings.append(f"no curves for {d}: metrics.csv {e}")
    saved: list[Path] = []
    _success_vs_length(runs, axes, colors, out_dir, saved)
    _success_vs_threshold(runs, axes, colors, out_dir, saved)
    _learning_curves(runs, metrics, axes, colors, out_dir, saved)
    _grad_norm_omega(runs, metrics, axes, colors, out_dir, saved)
    _gradient_flow(runs, colors, out_dir, saved, warnings)
    return saved
