"""Where, at a glance: verdicts along each swept axis, on hand-made run folders with two axes."""

import io

import pandas as pd
import pytest
from rich.console import Console
from runfolders import make_run

from ltd_bench import plots, wheremap
from ltd_bench.analysis import analyse
from ltd_bench.render import setting_label
from ltd_bench.report import run_report
from ltd_bench.runs import load

# (T, threshold) -> (Ω's outcome, plain clipping's outcome) over 5 seeds
DESIGN = {
    (20, 0.1): ("solved", "unsolved"),  # 5/5 vs 0/5: helps
    (20, 1.0): ("solved", "unsolved"),
    (50, 0.1): ("unsolved", "unsolved"),  # nothing solved: no-information
    (50, 1.0): ("solved", "solved"),  # the same times: inconclusive
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for (T, thr), (omega_status, plain_status) in DESIGN.items():
        for s in range(5):
            kw = dict(seq_len=T, seed=s, threshold=thr, steps_to_solve=500 + 250 * s, steps=4000)
            make_run(root, omega=2.0, status=omega_status, **kw)
            make_run(root, status=plain_status, **kw)
    return root


@pytest.fixture(scope="module")
def an(folder):
    return analyse(load(folder).runs, [("rnn+clip+Ω", "rnn+clip")])


def verdict_at(an, T, thr):
    v = an.verdicts
    return v[(v.scope == "cell") & (v.seq_len == T) & (v["clipping.threshold"] == thr)].verdict.item()


def test_one_row_per_group_along_each_axis_in_order(an):
    assert an.axes == ["clipping.threshold"]
    wm = wheremap.where_map(an)
    rows = {(r.axis, r.group): (r["values"], r.verdicts) for _, r in wm.iterrows()}
    assert set(rows) == {
        ("seq_len", "temporal_order · threshold=0.1"),
        ("seq_len", "temporal_order · threshold=1.0"),
        ("clipping.threshold", "temporal_order · T=20"),
        ("clipping.threshold", "temporal_order · T=50"),
    }
    for thr in (0.1, 1.0):
        values, verdicts = rows[("seq_len", f"temporal_order · threshold={thr}")]
        assert values == ["T=20", "T=50"] and verdicts == [verdict_at(an, 20, thr), verdict_at(an, 50, thr)]
    values, verdicts = rows[("clipping.threshold", "temporal_order · T=50")]
    assert values == ["threshold=0.1", "threshold=1.0"] and verdicts == ["no-information", "inconclusive"]
    assert rows[("clipping.threshold", "temporal_order · T=20")][1] == ["helps", "helps"]
    pooled = an.verdicts[an.verdicts.scope == "pooled"].verdict.item()
    assert set(wm.pooled) == {pooled} and set(wm.pooled_cells) == {4}


def test_the_map_in_text_markdown_csv_and_figure(folder, tmp_path):
    con, err = Console(file=io.StringIO(), width=200), Console(file=io.StringIO(), width=200)
    out = tmp_path / "out"
    rc = run_report(
        folder, csv=out / "t.csv", markdown=out / "t.md", plots=out / "plots", console=con, err_console=err
    )
    assert rc == 0
    text = con.file.getvalue()
    assert "Where, at a glance" in text and "20 +  50 ○" in text and f"wrote {out / 't_where.csv'}" in text
    csv = pd.read_csv(out / "t_where.csv")
    assert list(csv.columns) == wheremap.CSV and len(csv) == 4
    row = csv[(csv.axis == "clipping.threshold") & (csv.group == "temporal_order · T=50")].iloc[0]
    assert row["values"] == "threshold=0.1;threshold=1.0" and row.verdicts == "no-information;inconclusive"
    md = (out / "t.md").read_text()
    section = md[md.index("## Where, at a glance") :]
    assert (
        "| rnn+clip+Ω vs rnn+clip | temporal_order · T=50 | threshold | threshold=0.1: no-information, threshold=1.0: inconclusive |"
        in section
    )
    assert "(all 4 cells of the task)" in section
    assert (out / "plots" / "where.png").stat().st_size > 5000


def test_no_axis_with_two_values_no_map(tmp_path):
    for s in range(3):
        make_run(tmp_path, seed=s, omega=2.0)
        make_run(tmp_path, seed=s, status="unsolved")
    an = analyse(load(tmp_path).runs)
    assert wheremap.where_map(an).empty and wheremap.markdown(an) == []
    assert wheremap.write_csv(tmp_path / "t.csv", an) is None and wheremap.figure(an, tmp_path) == []


def test_cells_without_clipping_say_so():
    row = {
        "task": "temporal_order",
        "variant": "",
        "seq_len": 50,
        "clipping.mode": "none",
        "clipping.threshold": 1.0,
    }
    assert (
        setting_label(row, ["seq_len", "clipping.mode", "clipping.threshold"])
        == "temporal_order · T=50 · no clipping"
    )
    assert wheremap.value_label("clipping.mode", "none") == "no clipping"
    assert wheremap.value_label("seq_len", 20) == "T=20"


def test_a_task_option_reads_as_written_and_only_where_it_applies(tmp_path):
    """Copying with 3 and with 10 symbols beside adding: the groups and values read copy_len=3 (never 3.0),
    adding's group names no copy_len, and the figure's panels run along T first, in the report's cell order."""
    for s in range(3):
        for T in (10, 20):
            for task, options in (("adding", None), ("copying", {"copy_len": 3}), ("copying", None)):
                kw = dict(task=task, seq_len=T, seed=s, options=options, steps=4000)
                make_run(tmp_path, omega=2.0, **kw)
                make_run(tmp_path, status="unsolved" if s else "solved", **kw)
    an = analyse(load(tmp_path).runs, [("rnn+clip+Ω", "rnn+clip")])
    wm = wheremap.where_map(an)
    groups = {(r.axis, r.group): r["values"] for _, r in wm.iterrows()}
    assert groups == {
        ("seq_len", "adding"): ["T=10", "T=20"],
        ("seq_len", "copying · copy_len=3"): ["T=10", "T=20"],
        ("seq_len", "copying · copy_len=10"): ["T=10", "T=20"],
        ("task.options.copy_len", "copying · T=10"): ["copy_len=3", "copy_len=10"],
        ("task.options.copy_len", "copying · T=20"): ["copy_len=3", "copy_len=10"],
    }
    drawn, save = [], plots._Pages.save
    with pytest.MonkeyPatch.context() as mp:  # figure() lays its panels out with plots._Pages
        mp.setattr(plots._Pages, "save", lambda pages, *a: drawn.append(pages) or save(pages, *a))
        wheremap.figure(an, tmp_path / "plots")
    axes = [a for a in drawn[0].figs[0].axes if a.get_visible()]
    titles = [a.get_title() for a in axes]
    assert titles[:3] == ["adding", "copying · copy_len=3", "copying · copy_len=10"]  # T first, cell order
    assert {a.get_xlabel() for a in axes[3:]} == {"copy_len"}
