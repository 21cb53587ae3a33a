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
LSTM method. Each tests its declared endpoint (comparisons.py) in every cell both ran (times past the
shorter budget censored there): time to solve by a two-sided log-rank test, solved by the budget by
Boschloo's exact test; plus one test stratified by cell per comparison and task with two cells or more
(pooling across tasks means nothing). Holm's adjustment runs within each family (by default one: the
whole report). A side that never solved makes the RMST ratio a bound ("≥ 6"), never an estimate with an
interval. Verdicts:
  no-information  no run on either side solved: there is nothing to test (not counted in Holm's m)
  helps / behind  Holm-adjusted p < ALPHA; the direction from the RMST ratio (< 1: the method is faster),
                  or from the solved fractions for the solved endpoint
  equivalent      only with a margin declared beforehand: the ratio's 95% CI inside (1/margin, margin)
  inconclusive    everything else
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .comparisons import Comparison, normalise
from .config import Config, flatten
from .stats import (
    boschloo,
    holm,
    mh_solved_difference,
    quartiles,
    solved_difference,
    stratified_solved,
    wilson_interval,
)
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
    n_tests: int  # tests in all (Holm's m when there is one family)
    comparisons: list[Comparison] = field(default_factory=list)  # as declared, with endpoint and family
    families: dict[str, int] = field(default_factory=dict)  # Holm family ("" = the report's) -> its m
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
        values = ", ".join(sorted({str(v) for v in fin[c] if not pd.isna(v)}))  # not where it does not apply
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


SOLVED_DIFF = ("solved_diff", "solved_diff_low", "solved_diff_high")  # the solved endpoint's effect


def compare(a: Arm, b: Arm, ci: bool = True, test: str = "time") -> dict:
    """One cell's comparison: counts, RMSTs and their ratio (a / b), and the declared endpoint's test
    (log-rank for "time", Boschloo for "solved"; no Holm yet). A side that never solved makes the ratio a
    bound: its RMST is the budget, a floor on what it would have taken (ratio_bound "lower": the ratio is
    at least this; "upper": at most)."""
    tau = min(a.budget, b.budget)
    ta, sa = censor_at(a.time, a.solved, tau)
    tb, sb = censor_at(b.time, b.solved, tau)
    row = dict(
        n_method=len(ta), k_method=int(sa.sum()), n_ref=len(tb), k_ref=int(sb.sum()), budget_steps=tau,
        endpoint=test,
    )  # fmt: skip
    row.update(_loss_columns(a.loss, b.loss))
    if not (sa.any() or sb.any()):
        none = dict(p=math.nan, test="none: nothing solved", p_min=math.nan, rmst_method=tau, rmst_ref=tau)
        return row | none | ({"p_logrank": math.nan} if test == "time" else {})
    ra, rb = rmst(ta, sa, tau), rmst(tb, sb, tau)
    bound = "lower" if not sa.any() else "upper" if not sb.any() else ""
    if ci and not bound:
        ratio, lo, hi = rmst_ratio([(ta, sa, tb, sb, tau)])
    else:
        ratio, lo, hi = max(ra, 1) / max(rb, 1), math.nan, math.nan
    row |= dict(rmst_method=ra, rmst_ref=rb, rmst_ratio=ratio, rmst_ratio_low=lo, rmst_ratio_high=hi)
    row["ratio_bound"] = bound
    if test == "solved":
        counts = row["k_method"], row["n_method"], row["k_ref"], row["n_ref"]
        res = boschloo(*counts)
        row |= dict(zip(SOLVED_DIFF, solved_difference(*counts), strict=True))
        return row | dict(p=res.p, p_boschloo=res.p, test=res.name, p_min=res.p_min)
    lr = logrank(ta, sa, tb, sb)
    return row | dict(p=lr.p, p_logrank=lr.p, test=f"log-rank ({lr.describe()})", p_min=lr.p_min)


def compare_pooled(strata: list[tuple[Arm, Arm]], test: str = "time") -> dict:
    """One comparison over several cells of one task: the endpoint's test stratified by cell, and the
    geometric-mean RMST ratio over the cells where something solved (a bound when any of them is one;
    none when bounds point both ways)."""
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
        endpoint=test,
    )
    row.update(_loss_columns(*(np.concatenate([s[i].loss for s in strata]) for i in (0, 1))))
    if not row["k_method"] + row["k_ref"]:
        return row | dict(p=math.nan, test="none: nothing solved", p_min=math.nan)
    informative = [c for c in cut if c[1].any() or c[3].any()]  # both never solved: no ratio there
    bounds = {"lower" if not c[1].any() else "upper" for c in informative if not (c[1].any() and c[3].any())}
    if not bounds:
        ratio, lo, hi = rmst_ratio(informative)
    else:
        logs = [math.log(max(rmst(*c[:2], c[4]), 1) / max(rmst(*c[2:4], c[4]), 1)) for c in informative]
        ratio, lo, hi = (math.exp(float(np.mean(logs))) if len(bounds) == 1 else math.nan), math.nan, math.nan
    row |= dict(rmst_ratio=ratio, rmst_ratio_low=lo, rmst_ratio_high=hi)
    row["ratio_bound"] = bounds.pop() if len(bounds) == 1 else "mixed" if bounds else ""
    if test == "solved":
        res, u = stratified_solved([(c[1], c[3]) for c in cut])
        diff = mh_solved_difference([(c[1].sum(), len(c[1]), c[3].sum(), len(c[3])) for c in cut])
        row |= dict(zip(SOLVED_DIFF, (diff, math.nan, math.nan), strict=True))  # no interval when pooled
        return row | dict(p=res.p, p_boschloo=math.nan, test=res.name, p_min=res.p_min, _u=u)
    lr = stratified_logrank([c[:4] for c in cut])
    desc = f"log-rank stratified by cell ({lr.describe()})"
    return row | dict(p=lr.p, p_logrank=lr.p, test=desc, p_min=lr.p_min, _u=lr.u)


def _loss_columns(loss_a: np.ndarray, loss_b: np.ndarray) -> dict:
    qa, qb = quartiles(loss_a), quartiles(loss_b)
    return dict(
        loss_over_baseline_method=qa[0],
        loss_over_baseline_method_iqr=f"{qa[1]:.2f}–{qa[2]:.2f}" if math.isfinite(qa[0]) else "",
        loss_over_baseline_ref=qb[0],
        loss_over_baseline_ref_iqr=f"{qb[1]:.2f}–{qb[2]:.2f}" if math.isfinite(qb[0]) else "",
    )


def ratio_text(row: dict, ci: bool = True) -> str:
    """'0.53 [0.34, 0.78]', '≥ 6' (a bound: one side never solved), or '–' (none, or bounds both ways)."""
    ratio = row.get("rmst_ratio", math.nan)
    if not math.isfinite(ratio):
        return "–"
    sign = {"lower": "≥ ", "upper": "≤ "}.get(row.get("ratio_bound") or "", "")
    lo, hi = row.get("rmst_ratio_low", math.nan), row.get("rmst_ratio_high", math.nan)
    interval = f" [{lo:.2g}, {hi:.2g}]" if ci and not sign and math.isfinite(lo) else ""
    return f"{sign}{ratio:.2g}{interval}"


def solved_text(row: dict) -> str:
    """'+0.9 [0.61, 0.98]' (a cell: Newcombe's interval), '+0.45' (pooled: Mantel–Haenszel), or '–'."""
    d = row.get("solved_diff", math.nan)
    if not math.isfinite(d):
        return "–"
    lo, hi = row.get("solved_diff_low", math.nan), row.get("solved_diff_high", math.nan)
    interval = f" [{lo:.2g}, {hi:.2g}]" if math.isfinite(lo) else ""
    return f"{d:+.2g}{interval}" if d else f"0{interval}"


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
    ratio, bound = row.get("rmst_ratio", math.nan), row.get("ratio_bound") or ""
    family = f" in family {row['family']!r}" if row.get("family") else ""
    p = f"{row['test']}: p={_p(row['p'])}, Holm {_p(p_adjusted)} over {n_tests} test{'s' * (n_tests != 1)}{family}"
    if row.get("endpoint") == "solved":
        fa, fb = row["k_method"] / row["n_method"], row["k_ref"] / row["n_ref"]
        mh = " (Mantel–Haenszel)" if pooled else ""
        text = f"{solved}{where}; difference in fraction solved{mh} {solved_text(row)}; {p}"
        if p_adjusted < ALPHA and fa != fb:
            return (
                "helps" if fa > fb else "behind"
            ), f"{text} < {ALPHA}: solves {'more' if fa > fb else 'fewer'}"
        return "inconclusive", _why_not(row, text, p_adjusted, "the solved fractions are equal")
    geo = "geometric mean " if pooled else ""
    what = {"lower": " (a bound: the method never solved)", "upper": " (a bound: the reference never solved)"}
    what["mixed"] = " (none: cells where either side never solved point both ways)"
    text = f"{solved}{where}; RMST ratio ({geo}method/ref) {ratio_text(row)}{what.get(bound, '')}; {p}"
    sooner = ratio < 1 if math.isfinite(ratio) else row.get("_u", 0.0) > 0  # U > 0: the method solves sooner
    if p_adjusted < ALPHA and ratio != 1:
        word = "helps" if sooner else "behind"
        return word, f"{text} < {ALPHA}: solves {'sooner' if sooner else 'later'}"
    ci = row.get("rmst_ratio_low", math.nan), row.get("rmst_ratio_high", math.nan)
    if margin and math.isfinite(ci[0]) and 1 / margin < ci[0] and ci[1] < margin:
        return "equivalent", f"{text}; ratio CI inside the declared margin ({1 / margin:.2g}, {margin:.3g})"
    return "inconclusive", _why_not(row, text, p_adjusted, "the RMST ratio is exactly 1")


def _why_not(row: dict, text: str, p_adjusted: float, tie: str) -> str:
    floor = row.get("p_min", 0.0)
    why = f"{text} ≥ {ALPHA}" if p_adjusted >= ALPHA else f"{text}, but {tie}"
    if floor and floor >= ALPHA:
        why += f" (these run counts cannot reach p < {ALPHA}: smallest possible p {_p(floor)})"
    return why


def _p(p: float) -> str:
    return "–" if not math.isfinite(p) else f"{p:.2g}"


def _q(row: dict, side: str) -> str:
    med = row[f"loss_over_baseline_{side}"]
    return "–" if not math.isfinite(med) else f"{med:.2f} (IQR {row[f'loss_over_baseline_{side}_iqr']})"


# ------------------------------------------------------------------------------------------------ all
def _matches(a: pd.DataFrame, b: pd.DataFrame, axes: list[str]):
    """Pairs of cell rows (same task/variant/T) to compare: equal on every axis, except that a reference
    that ran one value of an axis is compared at each of the method's (e.g. an unclipped LSTM against every
    clipping threshold), and so is a method that ran one value its reference never ran. Noted. Never
    along a task axis (task.options.copy_len, ...; task, variant and T are cells already): a method that a
    sweep's exclude: left out of the other settings is compared at its own setting only."""
    vals_a = {x: a[x].tolist() for x in axes}
    vals_b = {x: b[x].tolist() for x in axes}
    single = lambda vals: len(set(map(str, vals))) <= 1
    for _, ra in a.iterrows():
        for _, rb in b.iterrows():
            ok, key, note = True, {}, []
            for x in axes:
                if _same(ra[x], rb[x]):
                    key[x] = ra[x]
                elif x.startswith("task."):  # another task setting (options, test size) is another problem
                    ok = False
                    break
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
    declared = normalise(pairs)
    present = set(cells.method)
    for m in dict.fromkeys(m for c in declared for m in c.pair if m not in present):
        notes.append(f"no finished run of method {m!r}: its comparisons are left out")
    by_row = {r: Arm.of(g) for r, g in fin.groupby("_row")}
    out, strata = [], {}
    for c in declared:
        for base, grp in cells.groupby(BASE, sort=True):
            ca, cb = grp[grp.method == c.method], grp[grp.method == c.reference]
            for ra, rb, key, note in _matches(ca, cb, axes):
                row = {**dict(zip(BASE, base, strict=True)), **key, "scope": "cell"}
                row |= {"method": c.method, "reference": c.reference, "family": c.family}
                row.update(compare(by_row[ra._row], by_row[rb._row], test=c.test))
                row["_note"] = "; ".join(note)
                row["_c"] = c
                out.append(row)
                strata.setdefault((c, base[0], base[1]), []).append((by_row[ra._row], by_row[rb._row]))
    for (c, task, variant), arms in strata.items():  # pooled only within a task: across tasks means nothing
        if len(arms) >= 2:
            row = {"task": task, "variant": variant, "scope": "pooled", "method": c.method}
            row |= {"reference": c.reference, "family": c.family, "_note": "", "_c": c}
            out.append(row | compare_pooled(arms, test=c.test))
    verdicts = pd.DataFrame(out)
    n_tests, families = 0, {}
    if len(verdicts):  # by cell, then in the declared order of the comparisons; pooled tests last
        order = {c: i for i, c in enumerate(declared)}
        verdicts["_pair"] = [order[c] for c in verdicts._c]
        verdicts["_pooled"] = verdicts.scope == "pooled"
        cols = ["_pooled", *[k for k in keys if k in verdicts], "_pair"]
        verdicts = (
            verdicts.sort_values(cols, kind="stable")
            .drop(columns=["_pair", "_pooled", "_c"])
            .reset_index(drop=True)
        )
        verdicts["p_adjusted"] = np.nan
        for fam, g in verdicts.groupby("family", sort=False):  # Holm within each family
            verdicts.loc[g.index, "p_adjusted"] = holm(g.p)
            families[fam] = int(g.p.notna().sum())
        n_tests = int(verdicts.p.notna().sum())
        verdicts["family_size"] = verdicts.family.map(families)
        decided = [decide(r, r["p_adjusted"], r["family_size"], margin) for r in verdicts.to_dict("records")]
        verdicts["verdict"] = [v for v, _ in decided]
        verdicts["reason"] = [
            w + (f" [{n}]" if n else "") for (_, w), n in zip(decided, verdicts._note, strict=True)
        ]
        verdicts = verdicts.drop(columns=[c for c in ("_note", "_u") if c in verdicts])
    return Analysis(
        cells.drop(columns="_row"), verdicts, keys, axes, notes, [c.pair for c in declared], source, margin,
        n_tests, declared, families,
    )  # fmt: skip
