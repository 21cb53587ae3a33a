"""How tables show a cell's settings and a comparison's effect (render.py): a setting that does not apply
reads '–', never a placeholder value or 'nan'; each comparison's effect is its own endpoint's."""

import pandas as pd
from runfolders import make_run

from ltd_bench.analysis import analyse
from ltd_bench.comparisons import Comparison
from ltd_bench.render import cell_table, rule, verdict_table, write_csvs
from ltd_bench.runs import load
from ltd_bench.stats import solved_difference


def rows_by(table):
    header, rows, _ = table
    return header, [dict(zip(header, r, strict=True)) for r in rows]


def test_task_options_show_as_the_config_says_and_dash_where_they_do_not_apply(tmp_path):
    for s in range(2):
        make_run(tmp_path, task="copying", seq_len=10, seed=s)  # copy_len 10, the default
        make_run(tmp_path, task="copying", seq_len=10, seed=s, options={"copy_len": 3})
        make_run(tmp_path, task="adding", seq_len=10, seed=s)
    an = analyse(load(tmp_path).runs)
    header, rows = rows_by(cell_table(an, short=False))
    assert "copy_len" in header
    shown = {(r["task"], r["copy_len"]) for r in rows}
    assert shown == {("copying", "10"), ("copying", "3"), ("adding", "–")}


def test_a_run_without_clipping_has_no_threshold_to_show(tmp_path):
    for clip, threshold in (("none", 1.0), ("norm", 1.0), ("norm", 10.0)):  # none's 1.0: a placeholder
        for omega in (0.0, 2.0):
            method = "rnn+Ω" if omega else "rnn"  # one method across modes, as in the clipping part
            make_run(tmp_path, clip=clip, omega=omega, threshold=threshold, method=method)
    an = analyse(load(tmp_path).runs, [("rnn+Ω", "rnn")])
    _, cells = rows_by(cell_table(an, short=False))
    assert {(r["mode"], r["threshold"]) for r in cells} == {("none", "–"), ("norm", "1.0"), ("norm", "10.0")}
    _, verdicts = rows_by(verdict_table(an, short=False))
    assert {(r["mode"], r["threshold"]) for r in verdicts if r["mode"]} == {
        ("none", "–"),
        ("norm", "1.0"),
        ("norm", "10.0"),
    }


def test_each_comparison_shows_its_own_endpoints_effect(tmp_path):
    """A solved-by-the-budget comparison shows the difference in fraction solved (Newcombe's interval),
    never the RMST ratio of a test it did not run; a time comparison the RMST ratio; each column only when
    some comparison has that endpoint, and the CSV carries the difference only then too."""
    for T in (20, 50):
        for s in range(4):
            make_run(tmp_path, seq_len=T, seed=s, omega=2.0, steps_to_solve=1000 + 100 * s, steps=4000)
            make_run(tmp_path, seq_len=T, seed=s, status="solved" if s < 1 else "unsolved", steps=4000)
    runs = load(tmp_path).runs
    both = [Comparison("rnn+clip+Ω", "rnn+clip", "solved"), Comparison("rnn+clip+Ω", "rnn+clip", "time")]
    header, rows = rows_by(verdict_table(analyse(runs, both), short=False))
    assert {"RMST ratio [CI]", "Δ solved [95% CI]"} <= set(header)
    t20 = [r for r in rows if r["T"] == "20"]
    solved, time_ = (next(r for r in t20 if r["test"] == t) for t in ("solved", "time"))
    d, lo, hi = solved_difference(4, 4, 1, 4)
    assert (
        solved["Δ solved [95% CI]"] == f"{d:+.2g} [{lo:.2g}, {hi:.2g}]" and solved["RMST ratio [CI]"] == "–"
    )
    assert time_["Δ solved [95% CI]"] == "–" and time_["RMST ratio [CI]"].startswith("0.")
    pooled = next(r for r in rows if r["task"].endswith("pooled (2 cells)") and r["test"] == "solved")
    assert pooled["Δ solved [95% CI]"] == f"{d:+.2g}"  # Mantel–Haenszel: a point, no interval

    only_solved = analyse(runs, both[:1])
    header, _ = rows_by(verdict_table(only_solved, short=False))
    assert "Δ solved [95% CI]" in header and "RMST ratio [CI]" not in header
    only_time = analyse(runs, both[1:])
    header, _ = rows_by(verdict_table(only_time, short=False))
    assert "RMST ratio [CI]" in header and "Δ solved [95% CI]" not in header
    for an, has in ((only_solved, True), (only_time, False)):
        write_csvs(tmp_path / "t.csv", runs, an)
        assert ("solved_diff_low" in pd.read_csv(tmp_path / "t_verdicts.csv").columns) is has
        assert ("Δ solved" in rule(an)) is has
