"""Report figures as png, pdf or svg. At most 4 × 3 panels and 10 inches tall a page; more panels, more
pages (name.png, name_2.png, ...). Object API only (Figure + its canvas): no pyplot state, no GUI.

verdicts              per declared comparison, its endpoint's effect with a 95% interval in every cell
                      and pooled per task, marked by verdict: the RMST ratio (a bound, where one side
                      never solved, is an arrow) or the difference in fraction solved
time_to_solve         Kaplan–Meier fraction solved vs updates per cell; ticks mark censored runs
success_vs_length     solved/n (Wilson 95%) vs T per task and variant, only panels with 2+ lengths
success_vs_threshold  the same vs the clipping threshold, when some method's runs vary it
learning_curves       test error of every run (thin) and the median over runs (bold) where all of a
                      method's runs in the cell share an outcome (a median of two outcomes is no run's)
grad_norm_omega       pre-clip gradient norm (window mean and window max: spikes show in the max) and Ω
gradient_flow         ‖∂L/∂h_t‖ over time-distance at one step for every run of the figure (the last
                      evaluation before any run stopped, or --flow-step), normalised to the last time
                      step, split by outcome: runs at their own last evaluation would compare a solved
                      run at step 1,000 with a stalled one at 15,000
Panels of one figure share their x range. where.png is wheremap.py's.
Only finished runs (solved / unsolved / diverged) are drawn; a figure without data is skipped.
"""

from __future__ import annotations

import contextvars
import math
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from .analysis import COUNTED, SOLVED_DIFF, Analysis, prepare
from .outputs import read_flow
from .render import axis_parts, steps, task_label
from .survival import censor_at, kaplan_meier

NCOLS, NROWS = 3, 4  # panels per page: 12 stay legible on one printed page
PANEL_W, PANEL_H, TITLE_H = 3.9, 2.3, 0.7  # inches: 4 rows and the title fit in 10 inches
TITLE_CHARS = 50  # what fits on one line above a PANEL_W panel at 8 pt
CHARS_PER_INCH = 12  # characters of a 10 pt suptitle per inch of figure width (with margin)
DPI = 110
# a label "method (n=10, 10 solved)" longer than this overflows half a panel: the legends of a page that
# has one go beside their panels, one column, on wider panels, two to a row (else they squeeze the data)
LEGEND_CHARS = 40
DECADES = 100  # log axis once the data spans two decades
MEDIAN_LW, RUN_LW, RUN_ALPHA = 2.0, 0.7, 0.35
RATIO_COLUMNS = ["rmst_ratio", "rmst_ratio_low", "rmst_ratio_high", "ratio_bound"]
BOUND_ARROW = 1.8  # a bound's arrow spans this factor on the log axis: it points, it does not measure
RATIO_TICKS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
BANNER = contextvars.ContextVar("banner", default="")  # make_plots: an interim report's mark on every page
VERDICT_STYLE = {  # verdict: (colour, marker); "no-information" has no ratio and is written out instead
    "helps": ("tab:green", "o"),
    "behind": ("tab:red", "o"),
    "equivalent": ("tab:cyan", "D"),
    "inconclusive": ("0.45", "o"),
}


class _Pages:
    """Panels laid out on as many pages as needed; save() writes them and records the files."""

    def __init__(self, n: int, title: str, stem: str, ncols: int = NCOLS, panel_w: float = PANEL_W):
        self.n, self.title, self.stem, self.ncols = n, title, stem, ncols
        self.per_page = ncols * NROWS
        self.figs, self.axes = [], []
        for start in range(0, n, self.per_page):
            k = min(self.per_page, n - start)
            cols = min(ncols, k) if ncols == NCOLS else ncols
            rows = math.ceil(k / cols)
            fig = Figure(figsize=(panel_w * cols, min(10.0, PANEL_H * rows + TITLE_H)), layout="constrained")
            FigureCanvasAgg(fig)
            axs = fig.subplots(rows, cols, squeeze=False).ravel()
            for ax in axs[k:]:
                ax.set_visible(False)
            pages = math.ceil(n / self.per_page)
            full = title + (f" (page {len(self.figs) + 1} of {pages})" if pages > 1 else "")
            width = int(panel_w * cols * CHARS_PER_INCH)  # wrapped to the figure: never cut at its edges
            fig.suptitle("\n".join(textwrap.wrap(full, width)), fontsize=10)
            if BANNER.get():  # interim.py: never mistaken for a final figure
                fig.text(0.5, 0.5, "INTERIM", ha="center", va="center", fontsize=60, color="red", alpha=0.12)
                fig.suptitle(f"{BANNER.get()}\n{fig.get_suptitle()}", fontsize=8, color="darkred", wrap=True)
            self.figs.append(fig)
            self.axes.extend(axs[:k])

    def save(self, out_dir: Path, fmt: str, saved: list[Path]) -> None:
        # same input, same file: no dates, and SVG ids from a fixed salt instead of random ones
        meta = {"png": {}, "pdf": {"CreationDate": None}, "svg": {"Date": None}}[fmt]
        with matplotlib.rc_context({"svg.hashsalt": "ltd-bench"}):
            for i, fig in enumerate(self.figs):
                path = out_dir / f"{self.stem}{'' if i == 0 else f'_{i + 1}'}.{fmt}"
                fig.savefig(path, format=fmt, dpi=DPI, metadata=meta)
                saved.append(path)


def _colors(methods) -> dict:
    return {m: f"C{i % 10}" for i, m in enumerate(sorted(set(methods)))}


def _maybe_log(ax, values, axis: str = "x") -> None:
    v = np.asarray([x for x in values if np.isfinite(x) and x > 0], dtype=float)
    if len(v) and v.max() / v.min() >= DECADES:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _title(row, axes: list[str], budget=None, extra: str = "", with_t: bool = True) -> str:
    parts = [task_label(row)] + ([f"T={row['seq_len']}"] if with_t else [])
    parts += axis_parts(row, axes)
    if budget is not None:
        parts.append(f"budget {steps(budget, short=True)}")
    parts += [extra] if extra else []
    lines = [parts[0]]  # wrap between parts, not inside one
    for part in parts[1:]:
        if len(lines[-1]) + 3 + len(part) > TITLE_CHARS:
            lines.append(part)
        else:
            lines[-1] += " · " + part
    return "\n".join(lines)


def _small(ax, legend: bool = True, on_top: bool = False) -> None:
    """Small fonts; on_top: a fraction axis with headroom above 1 for the legend, so it hides no data."""
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)
    ax.xaxis.label.set_size(8)
    ax.yaxis.label.set_size(8)
    ax.title.set_size(8)
    if on_top:
        ax.set_ylim(-0.04, 1.5)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    if legend and ax.get_legend_handles_labels()[0]:
        kw = dict(loc="upper center", ncols=2) if on_top else {}
        ax.legend(fontsize=6, framealpha=0.8, **kw)


# ------------------------------------------------------------------------------------------- figures
def _time_to_solve(fin, an, colors, out, fmt, saved) -> None:
    cells = list(fin.groupby(an.keys, dropna=False, sort=True))
    beside = max(len(str(m)) for m in fin.method) + len(" (n=10, 10 solved)") > LEGEND_CHARS
    pages = _Pages(
        len(cells),
        "Time to solve: Kaplan–Meier fraction of runs solved (| = censored run)",
        "time_to_solve",
        **({"ncols": 2, "panel_w": 2 * PANEL_W} if beside else {}),
    )
    for ax, (_, cell) in zip(pages.axes, cells, strict=True):
        tau = float(cell._budget.min())
        for i, (m, g) in enumerate(cell.groupby("method", sort=True)):
            t, s = censor_at(g._time, g._solved, tau)
            cdf = kaplan_meier(t, s).cdf
            xs = np.r_[0.0, cdf.quantiles, t.max() if BANNER.get() else tau]  # interim: as far as observed
            ys = np.r_[0.0, cdf.probabilities, cdf.probabilities[-1]]
            ls = ["-", "--", "-.", ":"][
                i % 4
            ]  # equal curves (e.g. none solved) stay visible on top of each other
            ax.step(
                xs, ys, where="post", color=colors[m], ls=ls, label=f"{m} (n={len(g)}, {int(s.sum())} solved)"
            )
            if (~s).any():
                ax.plot(t[~s], cdf.evaluate(t[~s]), "|", color=colors[m], ms=9, mew=1.5)
        if BANNER.get():  # where RMST and verdicts stop (interim.py)
            h = float(cell._horizon.min())
            ax.axvline(h, color="gray", ls=":", lw=1, label=f"interim horizon {steps(h, short=True)}")
        ax.set(xlabel="updates", ylabel="fraction solved")
        ax.set_title(_title(cell.iloc[0], an.axes, tau))
        _small(ax, legend=not beside, on_top=not beside)
        if beside:
            ax.set_ylim(-0.04, 1.04)
            ax.legend(fontsize=6, framealpha=0.8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    for ax in pages.axes:  # one x range for all panels: the longest budget
        ax.set_xlim(0, float(fin._budget.max()) * 1.02)
    pages.save(out, fmt, saved)


def _cell_label(row, keys: list[str]) -> str:
    """The cell named by the keys that vary among the comparisons drawn ('pooled (k cells)' for a pool)."""
    if row["scope"] != "cell":
        task = f"{task_label(row)}, " if "task" in keys or "variant" in keys else ""
        return f"{task}pooled ({int(row['n_cells'])} cells)"
    parts = [task_label(row)] if "task" in keys or "variant" in keys else []
    parts += [f"T={row['seq_len']:g}"] if "seq_len" in keys else []
    return " · ".join(parts + axis_parts(row, [a for a in keys if "." in a])) or "the cell"


def _verdicts(an: Analysis, out, fmt, saved) -> None:
    """A forest plot per declared comparison, each in its endpoint's own effect: the RMST ratio (time to
    solve) or the difference in fraction solved (solved by the budget), in every cell and pooled."""
    v = an.verdicts
    if v.empty:
        return
    extra = [*RATIO_COLUMNS, *SOLVED_DIFF]
    v = v.reindex(columns=[*v.columns, *(c for c in extra if c not in v)])  # none: nothing solved
    cells = v[v.scope == "cell"]
    keys = [k for k in an.keys if cells[k].nunique(dropna=False) > 1]
    pairs = list(dict.fromkeys(zip(v.method, v.reference, v.endpoint, strict=True)))
    title = "Declared comparisons: RMST ratio (95% CI; arrow: a bound, one side never solved)"
    if (v.endpoint == "solved").all():
        title = "Declared comparisons: difference in fraction solved (95% Newcombe interval; pooled: Mantel–Haenszel)"
    elif (v.endpoint == "solved").any():
        title = "Declared comparisons: each one's endpoint's effect (95% CI; arrow: a bound)"
    pages = _Pages(len(pairs), title, "verdicts", ncols=min(2, len(pairs)), panel_w=1.5 * PANEL_W)  # + labels
    for ax, (m, ref, endpoint) in zip(pages.axes, pairs, strict=True):
        rows = v[(v.method == m) & (v.reference == ref) & (v.endpoint == endpoint)].reset_index(drop=True)
        y = np.arange(len(rows))[::-1]
        (_solved_panel if endpoint == "solved" else _ratio_panel)(ax, rows, y)
        ax.set_yticks(y, [_cell_label(r, keys) for _, r in rows.iterrows()], fontsize=6)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_title(f"{m} vs {ref}" + (" (test: solved by the budget)" if endpoint == "solved" else ""))
        _small(ax, legend=False)
    pages.save(out, fmt, saved)


def _counts(r) -> str:
    return f"{r.k_method:.0f}/{r.n_method:.0f} vs {r.k_ref:.0f}/{r.n_ref:.0f}"


def _estimated(ax, rows: pd.DataFrame, y: np.ndarray, effect: str, at: float):
    """(y, row, colour, marker) of each row with an estimate of `effect`; a row without one (nothing
    solved) has its verdict and counts written out at x = `at` instead."""
    for yi, (_, r) in zip(y, rows.iterrows(), strict=True):
        if r.verdict not in VERDICT_STYLE or not np.isfinite(r[effect]):
            ax.text(at, yi, f"{r.verdict} ({_counts(r)})", ha="center", va="center", fontsize=6, color="0.45")
            continue
        yield yi, r, *VERDICT_STYLE[r.verdict]


def _ratio_panel(ax, rows: pd.DataFrame, y: np.ndarray) -> None:
    """RMST ratios on a log axis; a bound (one side never solved) is a one-sided arrow, never an interval."""
    for yi, r, color, marker in _estimated(ax, rows, y, "rmst_ratio", at=1):
        bound = {"lower": 1, "upper": -1}.get(r.get("ratio_bound") or "", 0)
        if bound:
            tip = r.rmst_ratio * BOUND_ARROW**bound
            ax.annotate("", (tip, yi), (r.rmst_ratio, yi), arrowprops=dict(arrowstyle="->", color=color))
            ax.plot(r.rmst_ratio, yi, "|", ms=8, mew=2, color=color)
            label = f"  {'≥' if bound > 0 else '≤'} {r.rmst_ratio:.2g}: {r.verdict} ({_counts(r)})"
            ax.text(max(tip, r.rmst_ratio), yi, label, fontsize=6, color=color, va="center")
            continue
        err = [[r.rmst_ratio - r.rmst_ratio_low], [r.rmst_ratio_high - r.rmst_ratio]]
        ax.errorbar(r.rmst_ratio, yi, xerr=err, fmt=marker, ms=4, capsize=2, color=color)
        ax.text(r.rmst_ratio_high, yi, f"  {r.verdict} ({_counts(r)})", fontsize=6, color=color, va="center")
    ax.axvline(1, color="gray", lw=1, ls=":")
    ax.set_xscale("log")
    ends = pd.concat([rows.rmst_ratio_low, rows.rmst_ratio_high, rows.rmst_ratio * BOUND_ARROW])
    ends = pd.concat([ends, rows.rmst_ratio / BOUND_ARROW])
    lo, hi = np.nanmin([ends.min(), 0.5]), np.nanmax([ends.max(), 2.0])
    ax.set_xlim(lo / 1.5, hi * 3)  # room on the right for the verdict labels
    ticks = [t for t in RATIO_TICKS if lo / 1.5 <= t <= hi * 3]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="RMST ratio, method / reference (< 1: solves sooner)")


def _solved_panel(ax, rows: pd.DataFrame, y: np.ndarray) -> None:
    """Differences in fraction solved on [−1, 1], Newcombe's interval per cell (pooled: a point)."""
    for yi, r, color, marker in _estimated(ax, rows, y, "solved_diff", at=0):
        lo, hi = (
            (r.solved_diff_low, r.solved_diff_high)
            if np.isfinite(r.solved_diff_low)
            else (r.solved_diff,) * 2
        )
        ax.errorbar(r.solved_diff, yi, xerr=[[r.solved_diff - lo], [hi - r.solved_diff]], fmt=marker, ms=4,
                    capsize=2, color=color)  # fmt: skip
        ax.text(hi, yi, f"  {r.verdict} ({_counts(r)})", fontsize=6, color=color, va="center")
    ax.axvline(0, color="gray", lw=1, ls=":")
    ax.set_xlim(-1.05, 2.0)  # room on the right for the verdict labels
    ax.set_xticks([-1, -0.5, 0, 0.5, 1])
    ax.set(xlabel="fraction solved, method − reference (> 0: solves more)")


def _success(an, colors, out, fmt, saved, x: str, stem: str, xlabel: str) -> None:
    """Success rate with Wilson bars vs `x` (seq_len or an axis), one panel per value of the other keys."""
    tab = an.cells
    panel_keys = [k for k in an.keys if k != x]
    if x != "seq_len" and not (tab.groupby([*panel_keys, "method"], dropna=False)[x].nunique() > 1).any():
        return
    panels = [(k, p) for k, p in tab.groupby(panel_keys, dropna=False, sort=True) if p[x].nunique() > 1]
    if not panels:  # one value per panel is a point, not a curve: the where figure has the other axes
        return
    what = "sequence length" if x == "seq_len" else x
    pages = _Pages(len(panels), f"Solved runs (fraction, 95% Wilson interval) vs {what}", stem)
    for ax, (_, p) in zip(pages.axes, panels, strict=True):
        methods = sorted(p.method.unique())
        xs_all = p[x].astype(float)
        log = xs_all.min() > 0 and xs_all.max() / xs_all.min() >= DECADES
        if log:
            ax.set_xscale("log")
        span = (xs_all.max() - xs_all.min()) or 1.0
        for i, m in enumerate(methods):
            g = p[p.method == m].sort_values(x)
            shift = i - (len(methods) - 1) / 2  # dodge sideways so bars do not hide each other
            xs = g[x].astype(float) * 1.04**shift if log else g[x].astype(float) + 0.015 * span * shift
            n = sorted(set(g.n_runs))
            err = [g.success_rate - g.success_lo, g.success_hi - g.success_rate]
            ax.errorbar(xs, g.success_rate, yerr=err, marker="o", ms=3, capsize=2, color=colors[m],
                        label=f"{m} (n={n[0]}{f'–{n[-1]}' if len(n) > 1 else ''})")  # fmt: skip
        if not log:
            ax.set_xticks(sorted(p[x].unique()))
        budget = p.budget_steps.unique()
        others = [a for a in an.axes if a != x]
        ax.set_title(
            _title(p.iloc[0], others, budget[0] if len(budget) == 1 else None, with_t=x != "seq_len")
        )
        ax.set(xlabel=xlabel, ylabel="fraction solved")
        _small(ax, on_top=True)
    pages.save(out, fmt, saved)


def _median(curves: list[tuple[pd.Series, bool]]) -> tuple[np.ndarray, np.ndarray]:
    """Median over runs at every step any of them was evaluated; a run that stopped because it solved
    holds its last value (else late medians would be over the unsolved runs only)."""
    idx = sorted(set().union(*(s.index for s, _ in curves)))
    cols = []
    for s, hold in curves:
        r = s.reindex(idx).ffill()
        r[r.index < s.index.min()] = np.nan
        if not hold:
            r[r.index > s.index.max()] = np.nan
        cols.append(r)
    return np.asarray(idx, dtype=float), pd.concat(cols, axis=1).median(axis=1).to_numpy()


def _runs_and_median(ax, cell, metrics, column, colors, hold: bool, positive=False) -> list[float]:
    """Every run thin; the median bold only where all of a method's runs share an outcome (the median of
    runs that solved and runs that stalled describes no run)."""
    seen = []
    for m, g in cell.groupby("method", sort=True):
        curves, mixed = [], g._solved.nunique() > 1
        for _, r in g.iterrows():
            df = metrics.get(r.run_dir)
            if df is None or column not in df or df[column].notna().sum() == 0:
                continue
            s = df.drop_duplicates("step", keep="last").set_index("step")[column].astype(float).dropna()
            if positive:
                s = s[s > 0]  # log axis
            if len(s):
                curves.append((s, hold and bool(r._solved)))
                ax.plot(s.index, s.to_numpy(), color=colors[m], lw=RUN_LW, alpha=RUN_ALPHA)
        if curves and mixed:
            k = int(g._solved.sum())
            ax.plot([], [], color=colors[m], lw=1.0, label=f"{m} (n={len(curves)}, {k} solved: no median)")
            seen += [float(x) for s, _ in curves for x in s.index]
        elif curves:
            x, med = _median(curves)
            ax.plot(x, med, color=colors[m], lw=MEDIAN_LW, label=f"{m} (n={len(curves)})")
            seen += list(x)
    return seen


def _share_x(axes, xs: list[float], start: float | None = None) -> None:
    """One x range (and scale) for every panel of a figure, so that panels compare at a glance."""
    v = np.asarray([x for x in xs if np.isfinite(x)], dtype=float)
    if not len(v):
        return
    pos = v[v > 0]
    log = len(pos) and pos.max() / pos.min() >= DECADES
    for ax in axes:
        ax.set_xscale("log" if log else "linear")
        ax.set_xlim(
            (pos.min() / 1.2, pos.max() * 1.2)
            if log
            else (start if start is not None else v.min(), v.max() * 1.02)
        )


def _learning_curves(fin, an, metrics, colors, out, fmt, saved) -> None:
    cells = [
        (k, c) for k, c in fin.groupby(an.keys, dropna=False, sort=True) if c.run_dir.isin(metrics).any()
    ]
    if not cells:
        return
    title = "Learning curves: test error of every run (thin), the median (bold) where all of a method's runs share an outcome"
    pages = _Pages(len(cells), title, "learning_curves")
    xs: list[float] = []
    for ax, (_, cell) in zip(pages.axes, cells, strict=True):
        x = _runs_and_median(ax, cell, metrics, "test_error", colors, hold=True)
        xs += x
        for col, style, what in (
            ("train.success_error", ":", "solved below"),
            ("baseline_error", "--", "trivial baseline"),
        ):
            vals = cell[col].dropna().unique() if col in cell else []
            if len(vals) == 1:
                ax.axhline(float(vals[0]), color="gray", ls=style, lw=1, label=what)
        ax.set(xlabel="updates", ylabel="test error")
        ax.set_title(_title(cell.iloc[0], an.axes, cell._budget.min()))
        _small(ax)
    _share_x(pages.axes, xs)
    pages.save(out, fmt, saved)


def _grad_norm_omega(fin, an, metrics, colors, out, fmt, saved) -> None:
    parts = [
        ("grad_norm", "pre-clip ‖g‖, window mean"),
        ("grad_norm_max", "pre-clip ‖g‖, window max"),
        ("omega", "Ω"),
    ]
    has = lambda c, col: any(col in metrics.get(d, {}) and metrics[d][col].notna().any() for d in c.run_dir)
    cells = [c for _, c in fin.groupby(an.keys, dropna=False, sort=True) if any(has(c, p) for p, _ in parts)]
    if not cells:
        return
    title = (
        "Pre-clip gradient norm (mean and max over each evaluation window: spikes show in the max) and Ω "
        "during training: every run (thin), the median (bold) where all of a method's runs share an outcome"
    )
    pages = _Pages(len(parts) * len(cells), title, "grad_norm_omega", ncols=len(parts))
    xs: list[float] = []
    for i, cell in enumerate(cells):
        for j, (col, label) in enumerate(parts):
            ax = pages.axes[len(parts) * i + j]
            x = _runs_and_median(ax, cell, metrics, col, colors, hold=False, positive=True)
            xs += x
            if col.startswith("grad_norm") and "clipping.threshold" in cell:
                thr = cell[cell["clipping.mode"] == "norm"]["clipping.threshold"].dropna().unique()
                if len(thr) == 1:
                    ax.axhline(float(thr[0]), color="gray", ls=":", lw=1, label="norm-clip threshold")
            if x:
                ax.set_yscale("log")
            ax.set(xlabel="updates", ylabel=label)
            ax.set_title(_title(cell.iloc[0], an.axes))
            _small(ax, legend=j == 0)
    _share_x(pages.axes, xs)
    pages.save(out, fmt, saved)


def common_step(flows: dict[str, np.ndarray]) -> float | None:
    """The last evaluation step every run has and before which none of them had stopped: all are still
    training there. Falls back to the last step they all have (some run stopped at its first evaluation)."""
    shared = set.intersection(*(set(s.tolist()) for s in flows.values()))
    if not shared:
        return None
    stop = min(float(s.max()) for s in flows.values())
    before = [s for s in shared if s < stop]
    return max(before) if before else max(shared)


def _gradient_flow(fin, an, colors, out, fmt, saved, warnings, flow_step) -> None:
    panels = []
    for _, cell in fin.groupby(an.keys, dropna=False, sort=True):
        flows = {}
        for _, r in cell.iterrows():
            if not (Path(r.run_dir) / "gradient_flow.npz").is_file():
                continue
            try:
                flows[r.run_dir] = read_flow(Path(r.run_dir))
            except ValueError as e:
                warnings.append(f"ignored {r.run_dir}: {e}")
        if flows:
            panels.append((cell, flows, flow_step))
    if not panels:
        return
    if flow_step is None:  # one step for the whole figure: panels at different steps do not compare
        every = {d: f["step"] for _, flows, _ in panels for d, f in flows.items()}
        step = common_step(every)
        if step is None:  # no step that every run has: each cell at its own, said in its title
            warnings.append(
                "gradient_flow: no evaluation step common to every run; each panel at its own step"
            )
            own = [(c, f, common_step({d: x["step"] for d, x in f.items()})) for c, f, _ in panels]
            panels = [p for p in own if p[2] is not None]
        else:
            panels = [(c, f, step) for c, f, _ in panels]
    steps_used = {p[2] for p in panels}
    at = (
        f"at step {steps(steps_used.pop())} for every run" if len(steps_used) == 1 else "at one step per cell"
    )
    title = f"Gradient-norm profile ‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ {at}; solid: run solved, dashed: not"
    pages = _Pages(len(panels), title, "gradient_flow")
    for ax, (cell, flows, step) in zip(pages.axes, panels, strict=True):
        groups: dict = {}
        for _, r in cell[cell.run_dir.isin(flows)].iterrows():
            f = flows[r.run_dir]
            hit = np.flatnonzero(f["step"] == step)
            g = (
                np.asarray(f["grad_norm"][hit[-1]], dtype=float)[::-1] if len(hit) else None
            )  # index: T - 1 - t
            if g is None or not (np.isfinite(g[0]) and g[0] > 0):
                continue  # this run has no evaluation at that step (it stopped before), or no gradient
            prof = np.where(g > 0, g / g[0], np.nan)
            ls = "-" if r._solved else "--"
            ax.plot(np.arange(len(prof)), prof, color=colors[r.method], lw=RUN_LW, alpha=RUN_ALPHA, ls=ls)
            groups.setdefault((r.method, bool(r._solved)), []).append(prof)
        for (m, solved), profs in sorted(groups.items()):
            mat = np.full((len(profs), max(map(len, profs))), np.nan)
            for k, p in enumerate(profs):
                mat[k, : len(p)] = p
            label = f"{m}, {'solved' if solved else 'not solved'} (n={len(profs)})"
            ax.plot(
                np.nanmedian(mat, axis=0),
                color=colors[m],
                lw=MEDIAN_LW,
                ls="-" if solved else "--",
                label=label,
            )
        n = sum(map(len, groups.values()))
        missing = len(cell) - n
        ax.set_yscale("log")
        ax.set(xlabel="time-distance from the last step", ylabel="relative ‖∂L/∂h_t‖")
        extra = f"step {steps(step)}, {n} runs" + (f" ({missing} without)" if missing else "")
        ax.set_title(_title(cell.iloc[0], an.axes, extra=extra))
        _small(ax)
    pages.save(out, fmt, saved)


def make_plots(res, an: Analysis, out_dir: Path, fmt: str = "png", flow_step: int | None = None):
    """Write every figure the data allows; returns (files written, warnings)."""
    fin = prepare(res.runs)
    fin = fin[fin.status.isin(COUNTED)].reset_index(drop=True)
    warnings: list[str] = []
    if fin.empty:
        return [], warnings
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    colors = _colors(fin.method)
    saved: list[Path] = []
    token = BANNER.set(an.interim)
    try:
        _figures(fin, res, an, out_dir, fmt, flow_step, colors, saved, warnings)
    finally:
        BANNER.reset(token)
    return saved, warnings


def _figures(fin, res, an, out_dir, fmt, flow_step, colors, saved, warnings) -> None:
    _verdicts(an, out_dir, fmt, saved)
    _time_to_solve(fin, an, colors, out_dir, fmt, saved)
    _success(an, colors, out_dir, fmt, saved, "seq_len", "success_vs_length", "sequence length T")
    if "clipping.threshold" in an.axes:
        _success(
            an,
            colors,
            out_dir,
            fmt,
            saved,
            "clipping.threshold",
            "success_vs_threshold",
            "clipping threshold",
        )
    _learning_curves(fin, an, res.metrics, colors, out_dir, fmt, saved)
    _grad_norm_omega(fin, an, res.metrics, colors, out_dir, fmt, saved)
    _gradient_flow(fin, an, colors, out_dir, fmt, saved, warnings, flow_step)
