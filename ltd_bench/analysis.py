"""What the report concludes: per-cell tables, declared comparisons and their verdicts (pandas, scipy).

Cells. A cell is (task, variant, T) plus every setting in which runs of one method label differ, other
than the seed and settings that change no result (NEUTRAL). Such runs are different experiments and are
never pooled: those settings become columns of every table (`axes`) and the report says so.

Per cell and method: runs, solved k/n with a Wilson interval, the Kaplan–Meier median time to solve (or
"not reached"), the RMST up to the cell's budget with a bootstrap interval, the final test loss over the
trivial baseline, and the diverged count. Only finished runs count (solved, unsolved, diverged); a
diverged run is censored at the step it diverged at (see survival.py).

Comparisons (method vs reference) are declared, never chosen by results: --compare, else the sweep's
`compare:`, else every method with Ω > 0 against the same model and clipping without Ω and against each
LSTM method. Each is a two-sided log-rank test in every cell both ran (times past the shorter budget
censored there), plus one test stratified by cell per pair that shares two cells or more. Holm's
adjustment runs over all of them together. Verdicts:
  no-information  no run on either side solved: there is nothing to test (not counted in Holm's m)
  helps / behind  Holm-adjusted p < ALPHA; the direction from the RMST ratio (< 1: the method is faster)
  equivalent      only with a margin declared beforehand: the ratio's 95% CI inside (1/margin, margin)
  inconclusive    everything else
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import Config, flatten
from .stats import holm, quartiles, wilson_interval
from .survival import censor_at, km_median, logrank, rmst, rmst_ci, rmst_ratio, stratified_logrank

COUNTED = ("solved", "unsolved", "diverged")  # interrupted/failed runs say nothing about a method
ALPHA = 0.05  # family-wise: Holm keeps the chance of any false helps/behind in a report below this
BASE = ["task", "variant", "seq_len"]
# never split cells: seeds and labels, and settings that change no result (where and how fast it ran)
NEUTRAL = {"seed", "name", "method", "train.device", "train.threads", "train.checkpoint_s"}
VERDICTS = ("helps", "behind", "equivalent", "no-information", "inconclusive")


@dataclass
class Analysis:
    cells: pd.DataFrame  # one row per cell × method
    verdicts: pd.DataFrame  # one row per comparison: every cell both methods ran, then the pooled tests
    keys: list[str]  # columns naming a cell: task, variant, seq_len, *axes
    axes: list[str]  # settings beyond task/variant/T that split cells
    notes: list[str]  # what split cells, comparisons that found no runs
    pairs: list[tuple[str, str]]  # (method, reference) as declared
    source: str  # where the pairs come from
    margin: float | None
    n_tests: int  # Holm's m
    interim: str = ""  # interim.py: the banner of a report that counts unfinished runs


@dataclass(frozen=True)
class Arm:
    """One method's finished runs in one cell: time to solve or censoring, and final loss / baseline."""

    time: np.ndarray
    solved: np.ndarray
    budget: float  # the shortest step budget among them (or interim horizon: interim.py)
    loss: np.ndarray

    @classmethod
    def of(cls, runs: pd.DataFrame) -> Arm:
        return cls(
            runs["_time"].to_numpy(float),
            runs["_solved"].to_numpy(bool),
            float(runs["_horizon"].min()),
            runs["_loss"].to_numpy(float),
        )


# ----------------------------------------------------------------------------------------------- cells
def _num(runs: pd.DataFrame, col: str) -> pd.Series:
    return (
        pd.to_numeric(runs[col], errors="coerce").astype(float)
        if col in runs
        else pd.Series(np.nan, runs.index)
    )


def _with_defaults(df: pd.DataFrame) -> pd.DataFrame:
    """A run written before a setting existed lacks its key; new settings change no result at their
    defaults, so a missing key reads as the default instead of splitting old runs from new ones."""
    for key, value in flatten(Config().to_dict()).items():
        if key in df and "." in key and value is not None and not isinstance(value, (dict, list)):
            missing = df[key].isna()
            if missing.any():
                df[key] = df[key].astype(object)
                df.loc[missing, key] = value
    return df


def prepare(runs: pd.DataFrame) -> pd.DataFrame:
    """Every run with its variant, budget, and (time, solved): solved at steps_to_solve, else censored at
    the step it diverged at or at the last step it trained."""
    df = _with_defaults(runs.copy())
    variant = df["task.variant"] if "task.variant" in df else pd.Series(None, index=df.index, dtype=object)
    df["variant"] = variant.astype(object).where(variant.notna(), "")
    steps, budget = _num(df, "steps"), _num(df, "train.steps")
    df["_budget"] = budget.fillna(steps)
    # RMST and tests stop at the budget, or where an unfinished run (interim.py) is known to be unsolved
    df["_horizon"] = np.fmin(df._budget, _num(df, "interim_reached"))
    df["_solved"] = df.status == "solved"
    stopped = np.where(df.status == "diverged", _num(df, "diverged_at_step").fillna(steps), steps)
    df["_time"] = np.where(df._solved, _num(df, "steps_to_solve"), stopped)
    df["_time"] = df["_time"].fillna(df._budget)
    base = _num(df, "baseline_loss")
    df["_loss"] = _num(df, "test_loss") / base.where(base > 0)
    w = _num(df, "regularizer.omega_weight").fillna(0)
    df["_omega"] = (w > 0) | df.method.astype(str).str.contains("Ω")
    return df


def cell_axes(fin: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Settings that differ between runs of one method in one (task, variant, T), and a note for each."""
    fixed = {"task.name", "task.seq_len", "task.variant"} | NEUTRAL
    cand = [c for c in fin.columns if "." in c and c not in fixed]
    if fin.empty or not cand:
        return [], []
    counts = fin.groupby(["method", *BASE], dropna=False)[cand].nunique(dropna=False)
    axes = [c for c in cand if (counts[c] > 1).any()]
    notes = []
    for c in axes:
        methods = sorted({k[0] for k in counts.index[counts[c] > 1]})
        values = ", ".join(sorted({str(v) for v in fin[c]}))
        notes.append(
            f"runs of {', '.join(methods)} differ in {c} ({values}): separate cells, never pooled "
            f"(column '{c.split('.')[-1]}')"
        )
    return axes, notes


def _cell_row(g: pd.DataFrame, tau: float) -> dict:
    n, k = len(g), int(g._solved.sum())
    lo, hi = wilson_interval(k, n)
    r, r_lo, r_hi = rmst_ci(g._time, g._solved, tau)
    loss = quartiles(g._loss)
    return dict(
        n_runs=n,
        n_solved=k,
        success_rate=k / n,
        success_lo=lo,
        success_hi=hi,
        median_steps_to_solve=float(g._time[g._solved].median()) if k else math.nan,  # solved runs only
        km_median_steps=km_median(g._time, g._solved),
        budget_steps=tau,
        rmst_steps=r,
        rmst_low=r_lo,
        rmst_high=r_hi,
        mean_test_error=_num(g, "test_error").mean(),
        mean_test_loss=_num(g, "test_loss").mean(),
        baseline_loss=_num(g, "baseline_loss").median(),
        loss_over_baseline=loss[0],
        loss_over_baseline_q1=loss[1],
        loss_over_baseline_q3=loss[2],
        n_diverged=int((g.status == "diverged").sum()),
        model_type=str(g["model.type"].mode().iloc[0]) if "model.type" in g else "",
        omega=bool(g._omega.any()),
    )


# ----------------------------------------------------------------------------------------- comparisons
def default_pairs(fin: pd.DataFrame) -> list[tuple[str, str]]:
    """Every method with Ω > 0 against the same model and clipping without Ω (the label without '+Ω' when
    there is one, else each such method), and against each LSTM method without Ω."""
    info = fin.groupby("method").agg(
        model=("model.type", "first"),
        clip=("clipping.mode", "first") if "clipping.mode" in fin else ("model.type", lambda s: "none"),
        omega=("_omega", "any"),
    )
    plain = info[~info.omega]
    pairs = []
    for m, row in info[info.omega].iterrows():
        same = plain[(plain["model"] == row["model"]) & (plain["clip"] == row["clip"])].index.tolist()
        bare = m.replace("+Ω", "")
        pairs += [(m, r) for r in ([bare] if bare in same else same)]
        pairs += [(m, r) for r in plain[plain["model"] == "lstm"].index if (m, r) not in pairs]
    return pairs


def compare(a: Arm, b: Arm, ci: bool = True) -> dict:
    """One cell's comparison: counts, RMSTs and their ratio (a / b), and the log-rank test (no Holm yet)."""
    tau = min(a.budget, b.budget)
    ta, sa = censor_at(a.time, a.solved, tau)
    tb, sb = censor_at(b.time, b.solved, tau)
    row = dict(n_method=len(ta), k_method=int(sa.sum()), n_ref=len(tb), k_ref=int(sb.sum()), budget_steps=tau)
    row.update(_loss_columns(a.loss, b.loss))
    if not (sa.any() or sb.any()):
        return row | dict(
            p_logrank=math.nan, test="none: nothing solved", p_min=math.nan, rmst_method=tau, rmst_ref=tau
        )
    test = logrank(ta, sa, tb, sb)
    ra, rb = rmst(ta, sa, tau), rmst(tb, sb, tau)
    ratio, lo, hi = (
        rmst_ratio([(ta, sa, tb, sb, tau)]) if ci else (max(ra, 1) / max(rb, 1), math.nan, math.nan)
    )
    return row | dict(
        p_logrank=test.p,
        test=f"log-rank ({test.describe()})",
        p_min=test.p_min,
        rmst_method=ra,
        rmst_ref=rb,
        rmst_ratio=ratio,
        rmst_ratio_low=lo,
        rmst_ratio_high=hi,
    )


def compare_pooled(strata: list[tuple[Arm, Arm]]) -> dict:
    """One pair over several cells: log-rank stratified by cell, geometric-mean RMST ratio."""
    cut = []
    for a, b in strata:
        tau = min(a.budget, b.budget)
        cut.append((*censor_at(a.time, a.solved, tau), *censor_at(b.time, b.solved, tau), tau))
    row = dict(
        n_method=sum(len(c[0]) for c in cut),
        k_method=sum(int(c[1].sum()) for c in cut),
        n_ref=sum(len(c[2]) for c in cut),
        k_ref=sum(int(c[3].sum()) for c in cut),
        n_cells=len(cut),
    )
    row.update(_loss_columns(*(np.concatenate([s[i].loss for s in strata]) for i in (0, 1))))
    if not row["k_method"] + row["k_ref"]:
        return row | dict(p_logrank=math.nan, test="none: nothing solved", p_min=math.nan)
    test = stratified_logrank([c[:4] for c in cut])
    ratio, lo, hi = rmst_ratio(cut)
    return row | dict(
        p_logrank=test.p,
        test=f"log-rank stratified by cell ({test.describe()})",
        p_min=test.p_min,
        rmst_ratio=ratio,
        rmst_ratio_low=lo,
        rmst_ratio_high=hi,
    )


def _loss_columns(loss_a: np.ndarray, loss_b: np.ndarray) -> dict:
    qa, qb = quartiles(loss_a), quartiles(loss_b)
    return dict(
        loss_over_baseline_method=qa[0],
        loss_over_baseline_method_iqr=f"{qa[1]:.2f}–{qa[2]:.2f}" if math.isfinite(qa[0]) else "",
        loss_over_baseline_ref=qb[0],
        loss_over_baseline_ref_iqr=f"{qb[1]:.2f}–{qb[2]:.2f}" if math.isfinite(qb[0]) else "",
    )


def decide(row: dict, p_adjusted: float, n_tests: int, margin: float | None = None) -> tuple[str, str]:
    """(verdict, reason naming its numbers) for one comparison row of compare()/compare_pooled()."""
    solved = f"{row['k_method']}/{row['n_method']} vs {row['k_ref']}/{row['n_ref']} solved"
    pooled = row.get("scope") == "pooled"
    where = f" in {int(row['n_cells'])} cells" if pooled else f" by {row['budget_steps']:,.0f} steps"
    if not row["k_method"] + row["k_ref"]:
        loss = (
            f"final test loss / baseline {_q(row, 'method')} vs {_q(row, 'ref')}"
            if math.isfinite(row["loss_over_baseline_method"]) or math.isfinite(row["loss_over_baseline_ref"])
            else "no final test loss"
        )
        return "no-information", f"{solved}{where}: no evidence either way; {loss}"
    ratio = row["rmst_ratio"]
    ci = row.get("rmst_ratio_low", math.nan), row.get("rmst_ratio_high", math.nan)
    ci_txt = f" [{ci[0]:.2g}, {ci[1]:.2g}]" if math.isfinite(ci[0]) else ""
    geo = "geometric mean " if pooled else ""
    p = f"{row['test']}: p={_p(row['p_logrank'])}, Holm {_p(p_adjusted)} over {n_tests} test{'s' * (n_tests != 1)}"
    text = f"{solved}{where}; RMST ratio ({geo}method/ref) {ratio:.2g}{ci_txt}; {p}"
    if p_adjusted < ALPHA and ratio != 1:
        word = "helps" if ratio < 1 else "behind"
        return word, f"{text} < {ALPHA}: solves {'sooner' if ratio < 1 else 'later'}"
    if margin and math.isfinite(ci[0]) and 1 / margin < ci[0] and ci[1] < margin:
        return "equivalent", f"{text}; ratio CI inside the declared margin ({1 / margin:.2g}, {margin:.3g})"
    floor = row.get("p_min", 0.0)
    why = f"{text} ≥ {ALPHA}" if p_adjusted >= ALPHA else f"{text}, but the RMST ratio is exactly 1"
    if floor and floor >= ALPHA:
        why += f" (these run counts cannot reach p < {ALPHA}: smallest possible p {_p(floor)})"
    return "inconclusive", why


def _p(p: float) -> str:
    return "–" if not math.isfinite(p) else f"{p:.2g}"


def _q(row: dict, side: str) -> str:
    med = row[f"loss_over_baseline_{side}"]
    return "–" if not math.isfinite(med) else f"{med:.2f} (IQR {row[f'loss_over_baseline_{side}_iqr']})"


# ------------------------------------------------------------------------------------------------ all
def _matches(a: pd.DataFrame, b: pd.DataFrame, axes: list[str]):
    """Pairs of cell rows (same task/variant/T) to compare: equal on every axis, except that a reference
    that ran one value of an axis is compared at each of the method's (e.g. an unclipped LSTM against every
    clipping threshold), and so is a method that ran one value its reference never ran. Noted."""
    vals_a = {x: a[x].tolist() for x in axes}
    vals_b = {x: b[x].tolist() for x in axes}
    single = lambda vals: len(set(map(str, vals))) <= 1
    for _, ra in a.iterrows():
        for _, rb in b.iterrows():
            ok, key, note = True, {}, []
            for x in axes:
                if _same(ra[x], rb[x]):
                    key[x] = ra[x]
                elif single(vals_b[x]):
                    key[x] = ra[x]
                    note.append(f"{rb.method} ran {x}={rb[x]} only")
                elif single(vals_a[x]) and not any(_same(ra[x], v) for v in vals_b[x]):
                    key[x] = rb[x]
                    note.append(f"{ra.method} ran {x}={ra[x]} only")
                else:
                    ok = False
                    break
            if ok:
                yield ra, rb, key, note


def _same(u, v) -> bool:
    return (pd.isna(u) and pd.isna(v)) or u == v


def analyse(runs: pd.DataFrame, pairs=None, source: str = "", margin: float | None = None) -> Analysis:
    """Tables and verdicts for load()'s runs; `pairs` None = the default comparisons."""
    fin = prepare(runs)
    fin = fin[fin.status.isin(COUNTED)].reset_index(drop=True)
    axes, notes = cell_axes(fin)
    keys = [*BASE, *axes]
    empty = pd.DataFrame(columns=[*keys, "method"])
    if fin.empty:
        return Analysis(empty, pd.DataFrame(), keys, axes, notes, [], source, margin, 0)
    fin["_row"] = fin.groupby([*keys, "method"], dropna=False, sort=True).ngroup()
    fin["_tau"] = fin.groupby(keys, dropna=False)["_horizon"].transform("min")
    rows = []
    for _, g in fin.groupby("_row", sort=True):
        first = g.iloc[0]
        rows.append(
            {
                **{k: first[k] for k in [*keys, "method"]},
                **_cell_row(g, float(first._tau)),
                "_row": first._row,
            }
        )
    cells = pd.DataFrame(rows)
    excluded = prepare(runs)
    excluded = excluded[~excluded.status.isin(COUNTED)]
    if len(excluded):
        n = excluded.groupby([*keys, "method"], dropna=False).size().rename("n_excluded").reset_index()
        cells = cells.merge(n, how="left", on=[*keys, "method"])
    cells["n_excluded"] = cells.get("n_excluded", pd.Series(0, index=cells.index)).fillna(0).astype(int)

    if pairs is None:
        pairs, source = (
            default_pairs(fin),
            "default: each Ω method vs the same RNN without Ω and vs each LSTM",
        )
    present = set(cells.method)
    for m in dict.fromkeys(m for p in pairs for m in p if m not in present):
        notes.append(f"no finished run of method {m!r}: its comparisons are left out")
    by_row = {r: Arm.of(g) for r, g in fin.groupby("_row")}
    out, strata = [], {}
    for a, b in pairs:
        for base, grp in cells.groupby(BASE, sort=True):
            ca, cb = grp[grp.method == a], grp[grp.method == b]
            for ra, rb, key, note in _matches(ca, cb, axes):
                row = {
                    **dict(zip(BASE, base, strict=True)),
                    **key,
                    "scope": "cell",
                    "method": a,
                    "reference": b,
                }
                row.update(compare(by_row[ra._row], by_row[rb._row]))
                row["_note"] = "; ".join(note)
                out.append(row)
                strata.setdefault((a, b), []).append((by_row[ra._row], by_row[rb._row]))
    for (a, b), arms in strata.items():
        if len(arms) >= 2:
            row = {"scope": "pooled", "method": a, "reference": b, "_note": ""}
            out.append(row | compare_pooled(arms))
    verdicts = pd.DataFrame(out)
    if len(verdicts):  # by cell, then in the declared order of the pairs; pooled tests last
        order = {p: i for i, p in enumerate(pairs)}
        verdicts["_pair"] = [order[(a, b)] for a, b in zip(verdicts.method, verdicts.reference, strict=True)]
        verdicts["_pooled"] = verdicts.scope == "pooled"
        cols = ["_pooled", *[k for k in keys if k in verdicts], "_pair"]
        verdicts = (
            verdicts.sort_values(cols, kind="stable")
            .drop(columns=["_pair", "_pooled"])
            .reset_index(drop=True)
        )
    n_tests = 0
    if len(verdicts):
        verdicts["p_adjusted"] = holm(verdicts.p_logrank)
        n_tests = int(verdicts.p_logrank.notna().sum())
        decided = [decide(r, r["p_adjusted"], n_tests, margin) for r in verdicts.to_dict("records")]
        verdicts["verdict"] = [v for v, _ in decided]
        verdicts["reason"] = [
            w + (f" [{n}]" if n else "") for (_, w), n in zip(decided, verdicts._note, strict=True)
        ]
        verdicts = verdicts.drop(columns="_note")
    return Analysis(
        cells.drop(columns="_row"), verdicts, keys, axes, notes, list(pairs), source, margin, n_tests
    )
