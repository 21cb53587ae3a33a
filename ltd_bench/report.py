"""`ltd-bench report`: load run folders, build the per-cell table and the Ω verdicts, write CSV/Markdown/plots.

A *cell* is (task, seq_len, every other swept key); a *method* is (model, clipping mode, Ω weight > 0),
labelled e.g. `rnn+clip+Ω` (see `method_label`). Only runs that finished (solved / unsolved / diverged)
count in success statistics; `interrupted` and `failed` runs are listed but never counted. A diverged
run counts as a run that did not solve.

Verdict rule (one row per Ω method and reference; references: (a) the best LSTM method (without Ω) of the
cell = highest success rate, then lowest median steps-to-solve, then more runs; (b) the same method without Ω =
same model type and clipping mode with omega_weight 0, e.g. `rnn+clip`). With k/n solved runs per side:
  1. n_omega < 2 or n_ref < 2                         -> inconclusive (one seed proves nothing).
  2. Fisher's exact two-sided p < 0.05 on k/n         -> helps if Ω's rate is higher, else behind.
  3. equal success rates (k_o/n_o == k_r/n_r) and both sides have >= 2 solved runs: compare the median
     steps-to-solve; one side >= 1.5x faster          -> helps / behind, otherwise tie.
  4. |rate_o - rate_r| <= 0.2 and n >= 3 on both sides -> tie (includes "both solve nothing").
  5. otherwise                                        -> inconclusive (more seeds needed).
References are looked up in the same cell; a swept key that a reference method never varies (e.g.
omega_weight for `rnn+clip`, or the clipping threshold of an unclipped LSTM) does not split it, and the
reason column then says at which setting the reference ran.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pandas as pd
import yaml

from ltd_bench.config import dotted_get as _get, method_label
from ltd_bench.stats import fisher_exact, median_or_nan, wilson_interval

STATUSES = ("solved", "unsolved", "diverged", "interrupted", "failed")
COUNTED = ("solved", "unsolved", "diverged")  # finished runs; interrupted/failed say nothing about the method
METRICS_REQUIRED = ("step", "test_error", "test_loss")  # what the learning curves and checks need
ALPHA = 0.05  # conventional significance level for Fisher's test on success counts
STEP_RATIO = (
    1.5  # median steps-to-solve must differ by this factor to call it (seed spread is ~2x, DESIGN.md)
)
TIE_RATE_DELTA = 0.2  # "equal-ish" success rates: at most one run in five apart
TIE_MIN_N = 3  # a tie claim needs at least 3 runs per side (DESIGN.md: use >= 3 seeds)
# Keys that never form a cell axis: seeds and bookkeeping, and the keys that define the method itself.
NOT_AXES = {
    "seed",
    "name",
    "method",
    "task.name",
    "task.seq_len",
    "task.test_seed",
    "train.device",
    "model.type",
    "clipping.mode",
}
INT_FIELDS = ("steps_to_solve", "steps", "diverged_at_step", "nonfinite_grad_steps")
FLOAT_FIELDS = (
    "test_loss",
    "test_error",
    "best_test_error",
    "baseline_loss",
    "baseline_error",
    "wall_time_s",
)


def flatten(d: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists become JSON strings so that they can be grouped on."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, (list, tuple)) else v
    return out


# ----------------------------------------------------------------------------------------------- loading
def read_metrics(run_dir: Path) -> pd.DataFrame:
    """metrics.csv as numbers; raises ValueError saying what is wrong (empty, truncated, malformed)."""
    path = Path(run_dir) / "metrics.csv"
    text = path.read_text()
    if not text.strip():
        raise ValueError("empty file")
    rows = list(csv.reader(text.splitlines()))
    header = rows[0]
    missing = [c for c in METRICS_REQUIRED if c not in header]
    if missing:
        raise ValueError(f"header lacks {', '.join(missing)}")
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            last = i == len(rows) and not text.endswith("\n")
            what = "truncated" if last else "malformed"
            raise ValueError(f"{what}: line {i} has {len(row)} of {len(header)} fields")
    df = pd.DataFrame(rows[1:], columns=header)
    for c in header:
        num = pd.to_numeric(df[c].replace("", math.nan), errors="coerce")
        bad = num.isna() & ~df[c].isin(["", "nan", "NaN"])
        if bad.any():
            raise ValueError(f"non-numeric {c} value {df[c][bad].iloc[0]!r}")
        df[c] = num
    return df


def _load_one(run_dir: Path) -> dict:
    """One run folder -> one flat row; raises ValueError('<file>: <what>') when damaged."""

    def need(name):
        p = run_dir / name
        if not p.is_file():
            raise ValueError(f"missing {name}")
        return p

    try:
        summary = json.loads(need("summary.json").read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"summary.json: invalid/truncated JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(summary, dict):
        raise ValueError("summary.json: not a JSON object")
    status = summary.get("status")
    if status not in STATUSES:
        raise ValueError(f"summary.json: status {status!r} not one of {'|'.join(STATUSES)}")
    if status in COUNTED:
        miss = [f for f in ("steps_to_solve", "test_error", "test_loss") if f not in summary]
        if miss:
            raise ValueError(f"summary.json: missing {', '.join(miss)}")
    if status == "solved" and not isinstance(summary.get("steps_to_solve"), (int, float)):
        raise ValueError("summary.json: status solved but steps_to_solve is null")
    try:
        config = yaml.safe_load(need("config.yaml").read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"config.yaml: invalid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise ValueError("config.yaml: not a mapping")
    for key in ("task.name", "task.seq_len", "model.type"):
        if _get(config, key) is None:
            raise ValueError(f"config.yaml: missing {key}")
    if (run_dir / "metrics.csv").is_file() or status in COUNTED:  # failed early may have no metrics
        try:
            read_metrics(run_dir)
        except FileNotFoundError:
            raise ValueError("missing metrics.csv") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"metrics.csv: {e}") from None
    row = flatten(config)
    for k, v in summary.items():
        if not isinstance(v, (dict, list)):
            row[k] = v
    row["method"] = summary.get("method") or config.get("method") or method_label(config)
    row["task"], row["seq_len"] = _get(config, "task.name"), _get(config, "task.seq_len")
    row["run_id"] = summary.get("run_id") or run_dir.name
    row["status"], row["run_dir"] = status, str(run_dir)
    return row


def _run_dirs(root: Path) -> list[Path]:
    """Folders holding summary.json, plus folders with only metrics.csv (runs that never finished)."""
    found = {p.parent for p in root.rglob("summary.json")} | {p.parent for p in root.rglob("metrics.csv")}
    return sorted(found)


def load_runs(root: Path) -> tuple[pd.DataFrame, list[str]]:
    """All readable runs under `root` as one row each, and warnings naming every skipped folder.

    runs_df.attrs: 'sweep_axes' (grid/zip keys from sweep.json files, or None when there is none) and
    'method_keys' (keys set by a sweep's methods: section).
    """
    root, rows, warnings = Path(root), [], []
    if not root.exists():
        return pd.DataFrame(), [f"{root} does not exist"]
    for d in _run_dirs(root):
        try:
            rows.append(_load_one(d))
        except (ValueError, OSError, UnicodeDecodeError) as e:
            warnings.append(f"skipped {d}: {e}")
    axes, method_keys, seen = set(), set(), set()
    for sweep in sorted({Path(r["run_dir"]).parent / "sweep.json" for r in rows}):
        if not sweep.is_file():
            continue
        try:
            sw = json.loads(sweep.read_text())
            for k in [*(sw.get("grid_keys") or []), *(sw.get("zip_keys") or [])]:
                axes |= set(k) if isinstance(k, list) else {k}  # zip keys may come as groups
            for over in (sw.get("methods") or {}).values():
                method_keys |= set(flatten(over or {}))
            seen.add(sweep)
        except (ValueError, AttributeError, TypeError) as e:
            warnings.append(f"ignored {sweep}: not a valid sweep.json ({e})")
    df = pd.DataFrame(rows)
    if df.empty:
        df.attrs.update(sweep_axes=None, method_keys=[])
        return df, warnings
    dup = df.duplicated("run_id", keep="first")
    for _, r in df[dup].iterrows():
        first = df.loc[(df.run_id == r.run_id) & ~dup, "run_dir"].iloc[0]
        warnings.append(f"skipped {r.run_dir}: duplicate of run {r.run_id} at {first} (counted once)")
    df = df[~dup].reset_index(drop=True)
    for c in INT_FIELDS:
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    for c in FLOAT_FIELDS:
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    excluded = df[~df.status.isin(COUNTED)]
    if len(excluded):
        warnings.append(
            f"{len(excluded)} run(s) interrupted/failed: listed but not counted in success "
            f"statistics ({', '.join(sorted(Path(p).name for p in excluded.run_dir))})"
        )
    df.attrs.update(sweep_axes=sorted(axes) if seen else None, method_keys=sorted(method_keys))
    return df, warnings


# ------------------------------------------------------------------------------------------------ tables
def _omega_run(df: pd.DataFrame) -> pd.Series:
    w = pd.to_numeric(df.get("regularizer.omega_weight", pd.Series(0, index=df.index)), errors="coerce")
    return df.method.astype(str).str.contains("Ω") | (w.fillna(0) > 0)


def cell_axes(runs: pd.DataFrame) -> list[str]:
    """Swept keys beyond task/seq_len/method: sweep.json grid+zip keys when known, else the config keys
    whose values vary within some method's runs (seeds, bookkeeping and method-defining keys excluded)."""
    skip = NOT_AXES | set(runs.attrs.get("method_keys") or [])
    sweep = runs.attrs.get("sweep_axes")
    if sweep is not None:
        return [k for k in sweep if k in runs.columns and k not in skip]
    cand = [c for c in runs.columns if "." in c and c not in skip and runs[c].notna().any()]
    return sorted(c for c in cand if (runs.groupby("method")[c].nunique(dropna=False) > 1).any())


def success_table(runs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """k/n solved, Wilson 95% CI, median steps and means per group of `by`, counting finished runs only."""
    out = []
    for key, g in runs.groupby(by, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        fin = g[g.status.isin(COUNTED)]
        n, k = len(fin), int((fin.status == "solved").sum())
        lo, hi = wilson_interval(k, n)
        solved = fin[fin.status == "solved"]
        row = dict(zip(by, key, strict=True))
        row.update(
            n_runs=n,
            n_solved=k,
            success_rate=k / n if n else math.nan,
            success_lo=lo if n else math.nan,
            success_hi=hi if n else math.nan,
            median_steps_to_solve=median_or_nan(
                solved.get("steps_to_solve", pd.Series(dtype=float)).astype(float)
            ),
            mean_test_error=fin["test_error"].astype(float).mean() if n else math.nan,
            mean_test_loss=fin["test_loss"].astype(float).mean() if n else math.nan,
            baseline_loss=g["baseline_loss"].astype(float).median() if "baseline_loss" in g else math.nan,
            n_diverged=int((fin.status == "diverged").sum()),
            n_excluded=len(g) - n,
            model_type=str(g["model.type"].mode().iloc[0]),
            clip_mode=str(g["clipping.mode"].mode().iloc[0]) if "clipping.mode" in g else "none",
            omega=bool(_omega_run(g).any()),
        )
        out.append(row)
    return pd.DataFrame(out)


def _pick_best(cands: pd.DataFrame) -> pd.Series | None:
    cands = cands[cands.n_runs > 0]
    if cands.empty:
        return None
    key = cands.assign(
        _r=-cands.success_rate, _s=cands.median_steps_to_solve.fillna(math.inf), _n=-cands.n_runs
    )
    return cands.loc[key.sort_values(["_r", "_s", "_n", "method"]).index[0]]


def verdict(k_o: int, n_o: int, k_r: int, n_r: int, med_o: float, med_r: float) -> tuple[str, float, str]:
    """(verdict, p_value, reason) for Ω (k_o/n_o solved) vs a reference (k_r/n_r): the module docstring rule."""
    p = fisher_exact(k_o, n_o, k_r, n_r) if n_o and n_r else math.nan
    counts = f"{k_o}/{n_o} vs {k_r}/{n_r} solved"
    if n_o < 2 or n_r < 2:
        return "inconclusive", p, f"{counts}: need >= 2 runs per side"
    r_o, r_r = k_o / n_o, k_r / n_r
    if p < ALPHA:
        return ("helps" if r_o > r_r else "behind"), p, f"{counts}, Fisher p={p:.3g} < {ALPHA}"
    if k_o * n_r == k_r * n_o and k_o >= 2 and k_r >= 2:
        ratio = max(med_r, 1.0) / max(med_o, 1.0)  # steps >= 1; guards a solve at step 0
        steps = f"median steps {med_o:.0f} vs {med_r:.0f}"
        if ratio >= STEP_RATIO:
            return "helps", p, f"{counts}, equal rates; {steps} ({ratio:.2g}x faster)"
        if 1 / ratio >= STEP_RATIO:
            return "behind", p, f"{counts}, equal rates; {steps} ({1 / ratio:.2g}x slower)"
        return "tie", p, f"{counts}, equal rates; {steps} (within {STEP_RATIO}x)"
    if abs(r_o - r_r) <= TIE_RATE_DELTA + 1e-12 and min(n_o, n_r) >= TIE_MIN_N:
        return "tie", p, f"{counts}, p={p:.3g}; rates within {TIE_RATE_DELTA}, n >= {TIE_MIN_N}"
    if min(n_o, n_r) < TIE_MIN_N:
        return "inconclusive", p, f"{counts}, p={p:.3g}: not significant, too few runs to call a tie"
    return (
        "inconclusive",
        p,
        f"{counts}, p={p:.3g}: rates {abs(r_o - r_r):.2f} apart, not significant: more seeds",
    )


def _same(a, b) -> bool:
    return (pd.isna(a) and pd.isna(b)) or a == b


def build_tables(runs: pd.DataFrame, axes: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells_df, verdicts_df) from load_runs' frame; `axes` overrides the detected swept keys."""
    if runs.empty:
        return pd.DataFrame(), pd.DataFrame()
    axes = cell_axes(runs) if axes is None else list(axes)
    group = ["task", "seq_len", *axes]
    cells = success_table(runs, group + ["method"])
    verdicts = []
    for _, c in cells[cells.omega].iterrows():
        same_group = cells[(cells.task == c.task) & (cells.seq_len == c.seq_len) & (cells.method != c.method)]
        matched, notes = [], {}
        for m, sub in same_group.groupby("method"):
            ok = pd.Series(True, index=sub.index)
            for a in axes:  # an axis the reference method never varies does not split it
                if sub[a].nunique(dropna=False) > 1:
                    ok &= sub[a].apply(lambda v, want=c[a]: _same(v, want))
            matched.append(sub[ok])
            notes[m] = ", ".join(
                f"{a}={sub[ok][a].iloc[0]}"
                for a in axes
                if len(sub[ok]) and not _same(sub[ok][a].iloc[0], c[a])
            )
        refs = pd.concat(matched) if matched else cells.iloc[0:0]
        lstm = _pick_best(refs[(refs.model_type == "lstm") & ~refs.omega])
        plain = refs[(refs.model_type == c.model_type) & (refs.clip_mode == c.clip_mode) & ~refs.omega]
        bare = plain[plain.method == c.method.replace("+Ω", "")]
        plain = _pick_best(bare if len(bare) else plain)
        for against, ref, missing in (
            ("best LSTM", lstm, "no LSTM run in this cell"),
            ("without Ω", plain, f"no {c.model_type} run with clipping {c.clip_mode} and no Ω in this cell"),
        ):
            row = {k: c[k] for k in group}
            row.update(
                method=c.method,
                against=against,
                ref_method=None if ref is None else ref.method,
                n_omega=c.n_runs,
                k_omega=c.n_solved,
                n_ref=0,
                k_ref=0,
                median_steps_omega=c.median_steps_to_solve,
                median_steps_ref=math.nan,
            )
            if ref is None:
                row.update(p_value=math.nan, verdict="inconclusive", reason=missing)
            else:
                v, p, why = verdict(
                    c.n_solved,
                    c.n_runs,
                    ref.n_solved,
                    ref.n_runs,
                    c.median_steps_to_solve,
                    ref.median_steps_to_solve,
                )
                note = notes.get(ref.method)
                row.update(
                    n_ref=ref.n_runs,
                    k_ref=ref.n_solved,
                    median_steps_ref=ref.median_steps_to_solve,
                    p_value=p,
                    verdict=v,
                    reason=why + (f" [ref at {note}]" if note else ""),
                )
            verdicts.append(row)
    cols = [
        *group,
        "method",
        "against",
        "ref_method",
        "n_omega",
        "k_omega",
        "n_ref",
        "k_ref",
        "p_value",
        "median_steps_omega",
        "median_steps_ref",
        "verdict",
        "reason",
    ]
    return cells, pd.DataFrame(verdicts, columns=cols)


# ----------------------------------------------------------------------------------------------- writers
VERDICT_RULE = (
    f"Verdict rule: n < 2 on either side -> inconclusive; Fisher's exact two-sided p < {ALPHA} "
    f"on solved/n -> helps/behind; equal rates with >= 2 solved each -> median steps-to-solve "
    f"{STEP_RATIO}x apart -> helps/behind, else tie; rates within {TIE_RATE_DELTA} with n >= "
    f"{TIE_MIN_N} each -> tie; else inconclusive. Only solved/unsolved/diverged runs count."
)


def _fmt(v, key: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "–"
    if isinstance(v, float):
        if "steps" in key and math.isfinite(v):
            return f"{v:.0f}"
        return f"{v:.3g}"
    return str(v)


def _display(cells: pd.DataFrame, verdicts: pd.DataFrame, axes: list[str]):
    """Human-readable (header, rows) for both tables, shared by rich and Markdown."""
    ch = [
        "task",
        "T",
        *axes,
        "method",
        "solved k/n",
        "success [95% CI]",
        "median steps",
        "test error",
        "test loss",
        "baseline loss",
        "diverged",
        "excluded",
    ]
    cr = [
        [
            _fmt(c.task),
            _fmt(c.seq_len),
            *[_fmt(c[a]) for a in axes],
            c.method,
            f"{c.n_solved}/{c.n_runs}",
            "–" if not c.n_runs else f"{c.success_rate:.2f} [{c.success_lo:.2f}, {c.success_hi:.2f}]",
            _fmt(c.median_steps_to_solve, "steps"),
            _fmt(c.mean_test_error),
            _fmt(c.mean_test_loss),
            _fmt(c.baseline_loss),
            str(c.n_diverged),
            str(c.n_excluded),
        ]
        for _, c in cells.iterrows()
    ]
    vh = [
        "task",
        "T",
        *axes,
        "method",
        "vs",
        "ref method",
        "Ω k/n",
        "ref k/n",
        "p (Fisher)",
        "median steps Ω",
        "median steps ref",
        "verdict",
        "reason",
    ]
    vr = [
        [
            _fmt(v.task),
            _fmt(v.seq_len),
            *[_fmt(v[a]) for a in axes],
            v.method,
            v.against,
            _fmt(v.ref_method),
            f"{v.k_omega}/{v.n_omega}",
            f"{v.k_ref}/{v.n_ref}",
            _fmt(v.p_value),
            _fmt(v.median_steps_omega, "steps"),
            _fmt(v.median_steps_ref, "steps"),
            v.verdict,
            v.reason,
        ]
        for _, v in verdicts.iterrows()
    ]
    return (ch, cr), (vh, vr)


def _pipe_table(header: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(map(esc, r)) + " |" for r in rows])


def write_markdown(path: Path, root: Path, cells, verdicts, axes, warnings) -> None:
    (ch, cr), (vh, vr) = _display(cells, verdicts, axes)
    n = cells.n_runs[cells.n_runs > 0] if len(cells) else pd.Series(dtype=int)
    n_line = f"Runs per cell and method: {n.min()}–{n.max()}" if len(n) else "No finished runs."
    parts = [
        f"# ltd-bench report: `{root}`",
        "",
        n_line + " (success = solved/n, 95% Wilson interval; "
        "interrupted/failed runs are excluded and counted in 'excluded').",
        "",
        "## Cells",
        "",
        _pipe_table(ch, cr),
        "",
        "## Ω verdicts",
        "",
        VERDICT_RULE,
        "",
        _pipe_table(vh, vr) if len(vr) else "_No cell has a method with Ω > 0._",
        "",
    ]
    if warnings:
        parts += ["## Warnings", "", *[f"- {w}" for w in warnings], ""]
    Path(path).write_text("\n".join(parts))


def write_csvs(
    path: Path, runs: pd.DataFrame, cells: pd.DataFrame, verdicts: pd.DataFrame, axes
) -> list[Path]:
    """cells -> path; tidy per-run rows -> <stem>_runs.csv; verdicts -> <stem>_verdicts.csv."""
    path = Path(path)
    first = [
        "run_id",
        "name",
        "task",
        "seq_len",
        *axes,
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
    first = list(dict.fromkeys(c for c in first if c in runs.columns))
    tidy = runs[first + sorted(c for c in runs.columns if c not in first)]
    out = [path, path.with_name(f"{path.stem}_runs.csv"), path.with_name(f"{path.stem}_verdicts.csv")]
    for p, df in zip(out, (cells, tidy, verdicts), strict=True):
        df.to_csv(p, index=False)
    return out


def _rich_tables(console, cells, verdicts, axes, warnings) -> None:
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    (ch, cr), (vh, vr) = _display(cells, verdicts, axes)
    short = [a.split(".")[-1] for a in axes]  # narrower headers when the last parts are unambiguous
    if len(set(short)) == len(short):
        ch, vh = ([short[axes.index(h)] if h in axes else h for h in hs] for hs in (ch, vh))

    def table(title, header, rows, last_wraps=False):
        t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
        for i, h in enumerate(header):  # numbers never wrap; only the reason column folds
            wrap = last_wraps and i == len(header) - 1
            t.add_column(
                h,
                no_wrap=not wrap,
                overflow="fold" if wrap else "ellipsis",
                ratio=1 if wrap else None,
                min_width=24 if wrap else None,
            )
        for r in rows:
            t.add_row(*r)
        widths = [max([cell_len(h)] + [cell_len(str(r[i])) for r in rows]) for i, h in enumerate(header)]
        if last_wraps:
            widths[-1] = min(widths[-1], 24)
        if sum(widths) + 3 * len(widths) <= console.width:  # 3 = padding + separator per column
            console.print(t)
            return
        console.print(title, style="bold", markup=False, highlight=False)  # too narrow: one record per row
        for r in rows:
            console.print(
                Text("- ")
                + Text("; ").join(Text.assemble(f"{h}: ", v) for h, v in zip(header, r, strict=True))
            )

    table("Success per cell and method (finished runs; 95% Wilson CI)", ch, [list(map(Text, r)) for r in cr])
    if vr:
        style = {"helps": "green", "behind": "red", "tie": "cyan", "inconclusive": "dim"}
        table(
            "Ω verdicts",
            vh,
            [[*map(Text, r[:-2]), Text(r[-2], style=style[r[-2]]), Text(r[-1])] for r in vr],
            last_wraps=True,
        )  # Text: a '[...]' in a value is not rich markup
        console.print(VERDICT_RULE, style="dim", markup=False, highlight=False)
    else:
        console.print("No cell has a method with Ω > 0: no verdicts.")
    for w in warnings:
        console.print(f"warning: {w}", style="yellow", markup=False, highlight=False)


def run_report(
    root: Path, csv: Path | None = None, markdown: Path | None = None, plots: Path | None = None, console=None
) -> int:
    """Print tables, write the requested outputs. 0 ok (some runs may be skipped), 2 nothing to report,
    1 an output could not be written."""
    from rich.console import Console

    console = console or Console()
    root = Path(root)
    if not root.exists():
        console.print(f"error: {root} does not exist", markup=False, highlight=False)
        return 2
    runs, warnings = load_runs(root)
    if runs.empty:
        for w in warnings:
            console.print(f"warning: {w}", style="yellow", markup=False, highlight=False)
        console.print(
            f"error: no readable run under {root} (looked for */summary.json)", markup=False, highlight=False
        )
        return 2
    axes = cell_axes(runs)
    cells, verdicts = build_tables(runs, axes)
    skipped = sum(w.startswith("skipped") for w in warnings)
    console.print(
        f"{len(runs)} run(s) from {root}" + (f", {skipped} skipped" if skipped else ""),
        markup=False,
        highlight=False,
    )
    _rich_tables(console, cells, verdicts, axes, warnings)
    try:
        if csv:
            Path(csv).parent.mkdir(parents=True, exist_ok=True)
            for p in write_csvs(Path(csv), runs, cells, verdicts, axes):
                console.print(f"wrote {p}", markup=False, highlight=False)
        if markdown:
            Path(markdown).parent.mkdir(parents=True, exist_ok=True)
            write_markdown(Path(markdown), root, cells, verdicts, axes, warnings)
            console.print(f"wrote {markdown}", markup=False, highlight=False)
        if plots:
            from ltd_bench.plots import make_plots

            plot_warnings: list[str] = []
            for p in make_plots(runs, list(runs.run_dir), Path(plots), warnings=plot_warnings):
                console.print(f"wrote {p}", markup=False, highlight=False)
            for w in plot_warnings:
                console.print(f"warning: {w}", style="yellow", markup=False, highlight=False)
    except OSError as e:
        console.print(f"error: could not write output: {e}", markup=False, highlight=False)
        return 1
    return 0
