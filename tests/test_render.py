"""How tables show a cell's settings (render.py): a setting that does not apply reads '–', never a
placeholder value or 'nan'."""

from runfolders import make_run

from ltd_bench.analysis import analyse
from ltd_bench.render import cell_table, verdict_table
from ltd_bench.runs import load


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
