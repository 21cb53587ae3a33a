"""Declared comparisons: the endpoint and Holm family syntax, sweep.json round trip, bounds, families."""

import io
import json
import math

import pytest
from rich.console import Console
from runfolders import make_run

from ltd_bench.analysis import analyse, ratio_text
from ltd_bench.comparisons import Comparison, from_json
from ltd_bench.config import ConfigError
from ltd_bench.report import run_report
from ltd_bench.runs import load
from ltd_bench.stats import boschloo
from ltd_bench.sweep import load_sweep

BASE = "name: s\nbase: {task: {name: temporal_order, seq_len: 10}, train: {steps: 10}}\n"
METHODS = "methods: {a: {clipping.mode: norm}, b: {}}\n"


def test_pairs_and_mappings_declare_endpoint_and_family(tmp_path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        BASE + METHODS + "compare:\n  - [a, b]\n  - {method: a, reference: b, test: solved, family: counts}\n"
    )
    sw = load_sweep(sweep)
    assert sw.manifest()["compare"] == [
        ["a", "b"],
        {"method": "a", "reference": "b", "test": "solved", "family": "counts"},
    ]
    back = from_json(json.loads(json.dumps(sw.manifest()["compare"])))
    assert back == [Comparison("a", "b"), Comparison("a", "b", "solved", "counts")]


def test_bad_comparisons_are_all_reported_with_their_field(tmp_path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        BASE
        + METHODS
        + "compare:\n  - {method: a, reference: c, test: speed}\n  - {method: a, refrence: b}\n"
        "  - {method: a, reference: b, family: 3}\n  - [a, b, solved]\n"
    )
    with pytest.raises(ConfigError) as e:
        load_sweep(sweep)
    errs = e.value.errors
    assert (
        f'{sweep}: compare[0].test: "speed" is not an endpoint' in errs[0] and "solved: solved by" in errs[0]
    )
    assert f"{sweep}: compare[1].refrence: unknown key (allowed: method, reference, test, family)" in errs
    assert f"{sweep}: compare[1].reference: required, a method label, got null" in errs
    assert f"{sweep}: compare[2].family: expected a name (a string), got 3" in errs
    assert any(x.startswith(f"{sweep}: compare[3]: expected [method, reference]") for x in errs)
    assert len(errs) == 5  # compare[0]'s unknown 'c' is not checked while its endpoint is bad


def test_unknown_method_in_a_mapping_names_its_field(tmp_path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(BASE + METHODS + "compare: [{method: a, reference: c}]\n")
    with pytest.raises(ConfigError) as e:
        load_sweep(sweep)
    assert e.value.errors == [f"{sweep}: compare[0].reference: unknown method 'c' (allowed: a, b)"]


def test_a_bad_endpoint_exits_2_from_the_cli(tmp_path, ltd_main):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(BASE + METHODS + "compare: [{method: a, reference: b, test: speed}]\n")
    code, out, err = ltd_main("sweep", str(sweep), "--out", str(tmp_path / "out"), "--dry-run")
    assert code == 2 and "compare[0].test" in out + err and not (tmp_path / "out").exists()


@pytest.fixture
def ten_vs_five(tmp_path):
    """T=20: Ω solves 10/10, clipping 5/10, both early. T=50: Ω 4/10, clipping none (a bound)."""
    for s in range(10):
        make_run(tmp_path, seq_len=20, seed=s, omega=2.0, steps_to_solve=1000 + 100 * s, steps=8000)
        st = "solved" if s < 5 else "unsolved"
        make_run(tmp_path, seq_len=20, seed=s, status=st, steps_to_solve=1000 + 100 * s, steps=8000)
        st = "solved" if s < 4 else "unsolved"
        make_run(
            tmp_path, seq_len=50, seed=s, omega=2.0, status=st, steps_to_solve=2000 + 500 * s, steps=8000
        )
        make_run(tmp_path, seq_len=50, seed=s, status="unsolved", steps=8000)
    return tmp_path


def test_the_solved_endpoint_tests_the_counts(ten_vs_five):
    runs = load(ten_vs_five).runs
    time_, solved = (
        analyse(runs, [Comparison("rnn+clip+Ω", "rnn+clip", t)]).verdicts.set_index(["scope", "seq_len"])
        for t in ("time", "solved")
    )
    cell = solved.loc[("cell", 20)]
    assert cell.p == pytest.approx(boschloo(10, 10, 5, 10).p) and cell.endpoint == "solved"
    assert "Boschloo" in cell.reason and "solves more" in cell.reason
    assert time_.loc[("cell", 20)].p != pytest.approx(cell.p)  # a different test on the same runs
    assert solved.loc[("pooled", math.nan)].test.startswith("exact test of solved counts stratified")


def test_a_ratio_with_a_side_that_never_solved_is_a_bound(ten_vs_five):
    v = analyse(load(ten_vs_five).runs, [("rnn+clip+Ω", "rnn+clip")]).verdicts
    t50 = v[(v.scope == "cell") & (v.seq_len == 50)].iloc[0]
    assert t50.ratio_bound == "upper" and math.isnan(t50.rmst_ratio_low) and math.isnan(t50.rmst_ratio_high)
    assert ratio_text(t50.to_dict()) == f"≤ {t50.rmst_ratio:.2g}"  # never "x [x, x]"
    assert "a bound: the reference never solved" in t50.reason
    t20 = v[(v.scope == "cell") & (v.seq_len == 20)].iloc[0]
    assert t20.ratio_bound == "" and "[" in ratio_text(t20.to_dict())
    pooled = v[v.scope == "pooled"].iloc[0]  # one cell a bound: the pooled ratio is one too
    assert pooled.ratio_bound == "upper" and ratio_text(pooled.to_dict()).startswith("≤ ")
    flipped = analyse(load(ten_vs_five).runs, [("rnn+clip", "rnn+clip+Ω")]).verdicts
    row = flipped[(flipped.scope == "cell") & (flipped.seq_len == 50)].iloc[0]
    assert row.ratio_bound == "lower" and ratio_text(row.to_dict()).startswith("≥ ")


def test_pooled_tests_stay_within_a_task(tmp_path):
    for i, task in enumerate(("temporal_order", "adding")):
        for T in (20, 50):
            for s in range(10 * i, 10 * i + 3):  # run ids hold no task: distinct seeds keep them apart
                make_run(tmp_path, task, task=task, seq_len=T, seed=s, omega=2.0, steps_to_solve=1000)
                make_run(tmp_path, task, task=task, seq_len=T, seed=s, status="unsolved")
    v = analyse(load(tmp_path).runs, [("rnn+clip+Ω", "rnn+clip")]).verdicts
    pooled = v[v.scope == "pooled"]
    assert sorted(pooled.task) == ["adding", "temporal_order"] and set(pooled.n_cells) == {2}


def test_holm_runs_within_each_declared_family_and_the_table_says_so(ten_vs_five):
    cmp = [
        Comparison("rnn+clip+Ω", "rnn+clip", "time", "speed"),
        Comparison("rnn+clip+Ω", "rnn+clip", "solved", "counts"),
    ]
    an = analyse(load(ten_vs_five).runs, cmp)
    assert an.families == {"speed": 3, "counts": 3} and an.n_tests == 6
    for _, g in an.verdicts.groupby("family"):
        assert (g.family_size == 3).all()
        smallest = g.p.min()
        assert g.loc[g.p.idxmin(), "p_adjusted"] == pytest.approx(min(1.0, 3 * smallest))
    con = Console(file=io.StringIO(), width=250)
    from ltd_bench import render

    render.terminal(con, an, "t")
    text = con.file.getvalue()
    assert "Holm within each family: speed (3), counts (3)" in text and "family (m)" in text


def test_report_prints_bounds_as_bounds(ten_vs_five, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    con = Console(file=io.StringIO(), width=250)
    err = Console(file=io.StringIO(), width=250)
    assert run_report(ten_vs_five, markdown=out / "t.md", console=con, err_console=err) == 0
    md = (out / "t.md").read_text()
    verdicts = md[md.index("## Verdicts") :]
    row = next(line for line in verdicts.splitlines() if line.startswith("| temporal_order | 50 |"))
    assert row.split(" | ")[3].startswith("≤ ") and "[" not in row.split(" | ")[3]
    assert "RMST ratio (method/ref) ≤ " in row


def test_sweep_json_merges_declarations_of_both_forms_once(tmp_path):
    from ltd_bench.sweep import _write_manifest

    path = tmp_path / "sweep.json"
    solved = {"method": "a", "reference": "b", "test": "solved"}
    first = {
        "name": "s",
        "grid_keys": [],
        "zip_keys": [],
        "runs": ["r1"],
        "methods": {},
        "compare": [["a", "b"], solved],
    }
    _write_manifest(path, first)
    _write_manifest(path, first | {"runs": ["r2"], "compare": [solved, ["b", "a"]]})
    assert json.loads(path.read_text())["compare"] == [["a", "b"], solved, ["b", "a"]]
    assert from_json(json.loads(path.read_text())["compare"])[1] == Comparison("a", "b", "solved")
