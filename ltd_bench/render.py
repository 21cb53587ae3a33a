"""The analysis as text: a terminal report readable at 100 columns, CSV files and a Markdown report."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .analysis import ALPHA, SOLVED_DIFF, Analysis, ratio_text, solved_text

RULE = (
    "Each comparison tests the endpoint declared with it. Time to solve (the default): two-sided log-rank "
    "test, runs that never solved censored at their budget, diverged runs at the step they diverged; "
    "exact over all splits of the pooled runs below 15 runs a side (Monte Carlo, labelled so, only where "
    "there are too many to enumerate); the direction from the RMST ratio (method/reference; < 1 = solves "
    "sooner), a bound (≥, ≤) when one side never solved. Solved by the budget: Boschloo's exact test "
    "(pooled: exact test of the counts stratified by cell). Pooled tests pool the cells of one task. "
    f"helps / behind: Holm-adjusted p < {ALPHA} within the comparison's family (one per report unless "
    "declared). equivalent: only with --margin, when the ratio's 95% bootstrap interval lies inside it. "
    "no-information: neither side solved a run. inconclusive: anything else. Only solved/unsolved/"
    "diverged runs count."
)
SOLVED_RULE = (
    " Δ solved: the method's fraction solved by the budget minus the reference's, with Newcombe's hybrid "
    "score 95% interval (pooled: the Mantel–Haenszel difference over the cells, no interval); the solved "
    "endpoint's effect, in place of the RMST ratio."
)
CELL_CSV = [
    "method",
    "n_runs",
    "n_solved",
    "success_rate",
    "success_lo",
    "success_hi",
    "median_steps_to_solve",
    "km_median_steps",
    "budget_steps",
    "rmst_steps",
    "rmst_low",
    "rmst_high",
    "mean_test_error",
    "mean_test_loss",
    "baseline_loss",
    "loss_over_baseline",
    "loss_over_baseline_q1",
    "loss_over_baseline_q3",
    "n_diverged",
    "n_excluded",
]
VERDICT_CSV = [
    "scope",
    "n_cells",
    "method",
    "reference",
    "endpoint",
    "family",
    "family_size",
    "verdict",
    "reason",
    "p",
    "p_adjusted",
    "p_logrank",
    "p_boschloo",
    "ratio_bound",
    "rmst_ratio",
    "rmst_ratio_low",
    "rmst_ratio_high",
    "n_method",
    "k_method",
    "n_ref",
    "k_ref",
    "budget_steps",
    "rmst_method",
    "rmst_ref",
    "test",
    "p_min",
    "loss_over_baseline_method",
    "loss_over_baseline_method_iqr",
    "loss_over_baseline_ref",
    "loss_over_baseline_ref_iqr",
]
RUN_CSV = [
    "run_id",
    "name",
    "task",
    "seq_len",
    "method",
    "seed",
    "status",
    "steps_to_solve",
    "steps",
    "test_error",
    "test_loss",
    "best_test_error",
    "baseline_loss",
    "baseline_error",
    "diverged_at_step",
    "nonfinite_grad_steps",
    "wall_time_s",
    "error",
    "run_dir",
]
# where a terminal too narrow for a table may break its cells (fit.py): never inside a number or a label
CELL_BREAKS = {"method": (" (",), "RMST [95% CI]": (" [",)}
VERDICT_BREAKS = {"method vs reference": (" vs ",), "RMST ratio [CI]": (" [",), "Δ solved [95% CI]": (" [",)}
STYLE = {"helps": "green", "behind": "red", "equivalent": "cyan", "no-information": "dim", "inconclusive": ""}


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def setting(row, axis: str) -> str:
    """A cell's value on one axis; '–' where it does not apply: a task without that option, or the
    threshold of a run without clipping."""
    v = row[axis]
    if _missing(v) or (axis == "clipping.threshold" and row.get("clipping.mode") == "none"):
        return "–"
    if axis.startswith("task.options.") and isinstance(v, float) and v.is_integer():
        return str(int(v))  # grouping made the column float: copy_len 3, not 3.0
    return str(v)


def steps(v, short: bool = False) -> str:
    """A number of updates: 12,125 (or 12.1k when short); '–' when missing."""
    if _missing(v):
        return "–"
    if short and v >= 1000:
        return f"{v / 1000:.3g}k"
    return f"{v:,.0f}"


def num(v, digits: int = 2) -> str:
    return "–" if _missing(v) else f"{v:.{digits}g}"


def _int(v) -> str:
    """20.0 -> '20' (a column with missing values turns integers into floats)."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def task_label(row) -> str:
    """'parity (marked)': the task with its variant."""
    return f"{row['task']} ({row['variant']})" if row.get("variant") else str(row["task"])


def axis_parts(row, axes: list[str]) -> list[str]:
    """'threshold=0.1' per axis; a run without clipping reads 'no clipping' (its threshold is unused), and
    a setting its cell does not have (adding's copy_len) is left out."""
    none = row.get("clipping.mode") == "none"
    parts = []
    for a in axes:
        if a != "seq_len" and _missing(row[a]):
            continue
        if a == "seq_len":
            parts.append(f"T={_int(row[a])}")
        elif a == "clipping.mode" and none:
            parts.append("no clipping")
        elif not (a == "clipping.threshold" and none):
            parts.append(f"{a.split('.')[-1]}={setting(row, a)}")
    return parts


def setting_label(row, keys: list[str]) -> str:
    """'temporal_order · T=50 · mode=norm': the task, then each key."""
    return " · ".join([task_label(row), *axis_parts(row, keys)])


def _axis_names(axes: list[str]) -> list[str]:
    short = [a.split(".")[-1] for a in axes]  # narrower headers when the last parts are unambiguous
    return short if len(set(short)) == len(short) else list(axes)


def _km(v, short: bool) -> str:
    return "not reached" if _missing(v) else steps(v, short)


def cell_table(an: Analysis, short: bool) -> tuple[list[str], list[list[str]], list[bool]]:
    """(header, rows, first-row-of-a-cell flags) for the per-cell × method table."""
    header = ["task", "T", *_axis_names(an.axes), "method", "solved"]
    header += [] if short else ["success [95% CI]"]
    header += ["KM median", "RMST [95% CI]", "loss/base", "div."]
    rows, first, prev = [], [], None
    for _, c in an.cells.iterrows():
        key = tuple(str(c[k]) for k in an.keys)
        new = key != prev
        prev = key
        cell = (
            [task_label(c), _int(c.seq_len), *[setting(c, a) for a in an.axes]] if new or not short else None
        )
        row = cell or [""] * (2 + len(an.axes))
        row += [str(c.method), f"{c.n_solved}/{c.n_runs}"]
        row += [] if short else [f"{c.success_rate:.2f} [{c.success_lo:.2f}, {c.success_hi:.2f}]"]
        rmst = f"{steps(c.rmst_steps, short)} [{steps(c.rmst_low, short)}, {steps(c.rmst_high, short)}]"
        row += [_km(c.km_median_steps, short), rmst]
        row += [num(c.loss_over_baseline), str(c.n_diverged)]
        rows.append(row)
        first.append(new)
    return header, rows, first


def _declared_columns(an: Analysis) -> tuple[bool, bool]:
    """(show the endpoint column, show the family column): only when some comparison is not the default."""
    return any(c.test != "time" for c in an.comparisons), len(an.families) > 1


def _effects(an: Analysis) -> tuple[bool, bool]:
    """(show the RMST ratio, show Δ solved): each comparison's effect is its endpoint's own, so a column
    appears only when some comparison has that endpoint."""
    ends = set(an.verdicts.endpoint) if len(an.verdicts) else set()
    return "time" in ends or not ends, "solved" in ends


def rule(an: Analysis) -> str:
    """The verdict rule under the table, with Δ solved explained where that column shows."""
    return RULE + SOLVED_RULE * _effects(an)[1]


def holm_caption(an: Analysis) -> str:
    if len(an.families) > 1:
        return "Holm within each family: " + ", ".join(
            f"{f or '(undeclared)'} ({m})" for f, m in an.families.items()
        )
    return f"Holm over {an.n_tests} tests"


def verdict_table(an: Analysis, short: bool) -> tuple[list[str], list[list[str]], list[bool]]:
    endpoint, family = _declared_columns(an)
    ratio, diff = _effects(an)
    header = ["task", "T", *_axis_names(an.axes), "method vs reference"] + ["test"] * endpoint
    header += (
        ["family (m)"] * family
        + ["RMST ratio [CI]"] * ratio
        + ["Δ solved [95% CI]"] * diff
        + ["p", "Holm p", "verdict"]
        + ([] if short else ["reason"])
    )
    rows, first, prev = [], [], None
    for _, v in an.verdicts.iterrows():
        if v.scope == "pooled":
            cell = [f"{task_label(v)}, pooled ({int(v.n_cells)} cells)", "", *[""] * len(an.axes)]
        else:
            cell = [task_label(v), _int(v.seq_len), *[setting(v, a) for a in an.axes]]
        new = cell != prev
        prev = cell
        row = (cell if new or not short else [""] * len(cell)) + [f"{v.method} vs {v.reference}"]
        row += [v.endpoint] * endpoint + [f"{v.family or '–'} ({int(v.family_size)})"] * family
        time = v.endpoint != "solved"
        row += [ratio_text(v.to_dict()) if time else "–"] * ratio + [solved_text(v.to_dict())] * diff
        row += [num(v.p), num(v.p_adjusted), v.verdict] + ([] if short else [v.reason])
        rows.append(row)
        first.append(new)
    return header, rows, first


def terminal(console, an: Analysis, title: str) -> None:
    """Both tables, the notes and the verdict rule, narrowed to the terminal where needed (fit.py);
    reasons are in CSV/Markdown."""
    from .fit import SIMPLE, Fit, fitted

    def show(caption, table_of, fit):
        header, rows, first = table_of(an, short=True)
        fit.keys = 2 + len(an.axes)  # task, T and the axes: a caption over their rows where narrow
        style = lambda col, value: STYLE.get(value, "") if col == "verdict" else ""
        console.print(
            fitted(
                console,
                header,
                rows,
                fit,
                first=first,
                style=style,
                sections=True,
                title=caption,
                title_justify="left",
                **SIMPLE,
            )
        )

    console.print(title, markup=False, highlight=False, style="bold magenta" if an.interim else "")
    counted = "finished runs" + ("; unfinished ones censored at their last evaluation" if an.interim else "")
    show(
        f"Time to solve per cell and method ({counted})",
        cell_table,
        Fit(breaks=CELL_BREAKS, drop=("loss/base",)),
    )
    console.print(
        "KM median: steps until half the runs solved (Kaplan–Meier; 'not reached' if fewer did). RMST: "
        "mean steps to solve within the budget, unsolved runs counting the whole budget; 95% bootstrap "
        "interval. loss/base: median final test loss over the trivial baseline.",
        style="dim",
        markup=False,
        highlight=False,
    )
    for note in an.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    if len(an.verdicts):
        caption = f"Verdicts ({an.source}; {holm_caption(an)})"
        show(caption, verdict_table, Fit(breaks=VERDICT_BREAKS, drop=("p",)))
        console.print(rule(an), style="dim", markup=False, highlight=False)
    else:
        console.print("No comparison has runs on both sides: no verdicts.", markup=False, highlight=False)


def _pipe_table(header: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(map(esc, r)) + " |" for r in rows])


def write_markdown(path: Path, root: Path, an: Analysis, warnings: list[str], extra: list[str] = ()) -> None:
    """The report as Markdown; `extra`: lines of further sections, placed before the warnings."""
    ch, cr, _ = cell_table(an, short=False)
    vh, vr, _ = verdict_table(an, short=False)
    n = an.cells.n_runs
    parts = [
        f"# ltd-bench {'INTERIM ' if an.interim else ''}report: `{root}`",
        "",
        f"**{an.interim}.**"
        if an.interim
        else f"{int(n.sum())} finished runs; {n.min()}–{n.max()} per cell and method. Interrupted and "
        "failed runs are not counted.",
        "",
        "## Time to solve per cell and method",
        "",
        _pipe_table(ch, cr),
        "",
        "Success: solved/n with a 95% Wilson interval. KM median: steps until half the runs solved "
        "(Kaplan–Meier; 'not reached' if fewer did). RMST: restricted mean steps to solve within the "
        "cell's budget (an unsolved run counts the whole budget), 95% bootstrap interval. loss/base: "
        "median final test loss over the trivial baseline. div.: diverged runs.",
        "",
        *([*[f"- {note}" for note in an.notes], ""] if an.notes else []),
        f"## Verdicts ({an.source}; {holm_caption(an)})",
        "",
        rule(an),
        "",
        _pipe_table(vh, vr) if vr else "_No comparison has runs on both sides._",
        "",
    ]
    parts += list(extra)
    if warnings:
        parts += ["## Warnings", "", *[f"- {w}" for w in warnings], ""]
    Path(path).write_text("\n".join(parts))


def write_csvs(path: Path, runs: pd.DataFrame, an: Analysis) -> list[Path]:
    """Cells -> path; one row per run -> <stem>_runs.csv; verdicts -> <stem>_verdicts.csv."""
    path = Path(path)
    out = [path, path.with_name(f"{path.stem}_runs.csv"), path.with_name(f"{path.stem}_verdicts.csv")]
    interim = lambda df: [c for c in df.columns if c.startswith("interim")]  # interim.py's columns
    cells = an.cells.reindex(columns=[*an.keys, *CELL_CSV, *interim(an.cells)])
    first = list(dict.fromkeys(c for c in [*RUN_CSV[:4], *an.axes, *RUN_CSV[4:]] if c in runs.columns))
    tidy = runs[first + sorted(c for c in runs.columns if c not in first)]
    diff = [*SOLVED_DIFF] * _effects(an)[1]
    verdicts = an.verdicts.reindex(columns=[*an.keys, *VERDICT_CSV, *diff, *interim(an.verdicts)])
    for p, df in zip(out, (cells, tidy, verdicts), strict=True):
        df.to_csv(p, index=False)
    return out
