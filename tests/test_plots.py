"""Report figures: which are drawn, in which formats, page limits, and what the gradient-flow panel shows."""

import numpy as np
import pytest
from runfolders import make_run

from ltd_bench import plots
from ltd_bench.analysis import analyse, prepare
from ltd_bench.comparisons import Comparison
from ltd_bench.plots import NCOLS, NROWS, _Pages, common_step, make_plots
from ltd_bench.runs import load
from ltd_bench.stats import solved_difference

SIGNATURES = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF", "svg": b"<?xml"}


class Capture:
    """Every page drawn, by file stem (drawing costs seconds: each figure is made once per module)."""

    def __init__(self):
        self.figs = {}

    def __enter__(self):
        self.mp = pytest.MonkeyPatch()
        save = _Pages.save

        def keep(pages, out_dir, fmt, saved):
            self.figs[pages.stem] = pages.figs
            save(pages, out_dir, fmt, saved)

        self.mp.setattr(_Pages, "save", keep)
        return self

    def __exit__(self, *exc):
        self.mp.undo()


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """One cell (temporal order, T=20), three methods; Ω solves at 1000/1500/2000 and has flow records."""
    root = tmp_path_factory.mktemp("runs")
    for s in range(3):
        make_run(root, seq_len=20, seed=s, omega=2.0, steps_to_solve=1000 + 500 * s, flow=True)
        make_run(root, seq_len=20, seed=s, status="unsolved", flow=True)
        make_run(root, seq_len=20, seed=s, model="lstm", clip="none", status="solved" if s else "diverged")
    res = load(root)
    an = analyse(res.runs)
    with Capture() as cap:
        written, warnings = make_plots(res, an, tmp_path_factory.mktemp("plots"))
    return res, an, written, warnings, cap.figs


def test_figures_written(drawn):
    _, _, written, warnings, _ = drawn
    assert {p.name for p in written} == {
        "verdicts.png",
        "time_to_solve.png",
        "learning_curves.png",
        "grad_norm_omega.png",
        "gradient_flow.png",
    }
    assert not warnings
    for p in written:
        assert p.read_bytes()[:8] == SIGNATURES["png"] and p.stat().st_size > 5000


@pytest.mark.parametrize("fmt", ["pdf", "svg"])
def test_vector_formats_are_reproducible(drawn, tmp_path, fmt):
    res, an, *_ = drawn
    bare = type(res)(res.runs, {}, [], [])  # no metrics: the figures that need none
    files, _ = make_plots(bare, an, tmp_path / "a", fmt=fmt)
    assert {p.name for p in files} == {f"{n}.{fmt}" for n in ("verdicts", "time_to_solve", "gradient_flow")}
    assert all(p.read_bytes()[:5].startswith(SIGNATURES[fmt]) for p in files)
    saved = []
    for i in range(2):
        (tmp_path / str(i)).mkdir()
        _Pages(1, "t", "x").save(tmp_path / str(i), fmt, saved)
    assert saved[0].read_bytes() == saved[1].read_bytes()  # no dates or random ids inside


def test_pages_hold_at_most_twelve_panels_and_ten_inches():
    pages = _Pages(14, "t", "x")
    assert len(pages.figs) == 2 and len(pages.axes) == 14
    for fig in pages.figs:
        assert fig.get_size_inches()[1] <= 10 and sum(ax.get_visible() for ax in fig.axes) <= NCOLS * NROWS
    assert "page 2 of 2" in pages.figs[1]._suptitle.get_text()
    assert len(_Pages(8, "t", "y", ncols=2).figs) == 1 and len(_Pages(9, "t", "y", ncols=2).figs) == 2


def test_common_step_is_the_last_one_every_run_trained_past():
    a, b, c = np.array([0, 250, 500, 750]), np.array([0, 250, 500, 750, 1000]), np.arange(0, 15001, 250)
    assert common_step({"a": a, "b": b, "c": c}) == 500  # a stopped at 750: at 500 all three still trained
    assert common_step({"a": np.array([0, 250]), "b": np.array([0, 250, 500])}) == 0
    assert common_step({"a": np.array([0]), "b": np.array([0, 250])}) == 0  # nothing earlier: the last shared
    assert common_step({"a": np.array([100]), "b": np.array([200])}) is None


def test_gradient_flow_is_drawn_at_one_step_normalised_and_split_by_outcome(drawn):
    (fig,) = drawn[4]["gradient_flow"]
    ax = fig.axes[0]
    # Ω runs stop at 1000, 1500, 2000: every run still trained past step 500; the LSTM runs have no record
    assert "step 500, 6 runs (3 without)" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["rnn+clip, not solved (n=3)", "rnn+clip+Ω, solved (n=3)"]
    bold = [ln for ln in ax.get_lines() if ln.get_linewidth() == plots.MEDIAN_LW]
    for line, decay in zip(bold, (0.9, 0.99), strict=True):  # runfolders' profiles decay^(distance)
        y = line.get_ydata()
        assert y[0] == pytest.approx(1.0) and y == pytest.approx(decay ** np.arange(20), rel=1e-5)
    assert [ln.get_linestyle() for ln in bold] == ["--", "-"]  # not solved dashed, solved solid


def test_declared_flow_step(drawn, tmp_path):
    res, an, *_ = drawn
    fin = prepare(res.runs)
    fin = fin[fin.status != "interrupted"].reset_index(drop=True)
    with Capture() as cap:
        plots._gradient_flow(fin, an, plots._colors(fin.method), tmp_path, "png", [], [], 1500)
    title = cap.figs["gradient_flow"][0].axes[0].get_title()
    assert "step 1,500, 5 runs (4 without)" in title  # the Ω run solved at 1000 had stopped


def test_learning_curves_and_km_legends(drawn):
    ax = drawn[4]["learning_curves"][0].axes[0]
    assert len([ln for ln in ax.get_lines() if ln.get_linewidth() == plots.RUN_LW]) == 9  # every run
    # a median where all of a method's runs share an outcome: not for the LSTM (2 solved, 1 diverged)
    medians = [ln for ln in ax.get_lines() if ln.get_linewidth() == plots.MEDIAN_LW]
    assert [ln.get_label() for ln in medians] == ["rnn+clip (n=3)", "rnn+clip+Ω (n=3)"]
    assert "lstm (n=3, 2 solved: no median)" in [t.get_text() for t in ax.get_legend().get_texts()]
    km = drawn[4]["time_to_solve"][0].axes[0]
    assert [t.get_text() for t in km.get_legend().get_texts()] == [
        "lstm (n=3, 2 solved)",
        "rnn+clip (n=3, 0 solved)",
        "rnn+clip+Ω (n=3, 3 solved)",
    ]
    (top,) = [ln for ln in km.get_lines() if ln.get_label().startswith("rnn+clip+Ω")]  # its step curve
    assert top.get_ydata()[-1] == pytest.approx(1.0) and 2000 in top.get_xdata()


def test_long_method_names_put_the_legend_beside_the_panel_not_over_it(tmp_path):
    """A legend whose labels overflow half a panel goes beside its panel (one column, on wider panels, two
    panels to a row): the axes keep their width and the fraction axis its plain range."""
    root = tmp_path / "runs"
    names = ["orthogonal+clip+Ω (rmsprop)", "orthogonal+clip (rmsprop)", "rnn+clip+Ω", "lstm+clip (adam)"]
    for s in range(2):
        for T in (20, 40, 60):
            for m in names:
                make_run(root, seq_len=T, seed=s, method=m, steps_to_solve=1000 + 500 * s)
    res = load(root)
    with Capture() as cap:
        make_plots(res, analyse(res.runs), tmp_path / "plots")
    (fig,) = cap.figs["time_to_solve"]
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3 and fig.get_figwidth() == pytest.approx(2 * 2 * plots.PANEL_W)
    fig.canvas.draw()
    for ax in axes:
        box, legend = ax.get_window_extent(), ax.get_legend().get_window_extent()
        assert legend.x0 >= box.x1  # beside, not over the data
        assert box.width > 0.45 * fig.bbox.width / 2  # the panel keeps most of its half of the figure
        assert ax.get_ylim()[1] == pytest.approx(1.04)


def test_long_panel_titles_wrap_between_parts():
    row = {"task": "temporal_order", "variant": None, "seq_len": 50}
    row |= {"clipping.mode": "value", "clipping.threshold": 0.01, "model.hidden_size": 50}
    title = plots._title(row, ["clipping.mode", "clipping.threshold", "model.hidden_size"], 30000)
    lines = title.split("\n")
    assert len(lines) == 2 and all(len(line) <= plots.TITLE_CHARS for line in lines)
    assert title.replace("\n", " · ").split(" · ")[1:] == [
        "T=50",
        "mode=value",
        "threshold=0.01",
        "hidden_size=50",
        "budget 30k",
    ]
    assert "\n" not in plots._title(row, [], 30000)  # a short title stays on one line


def test_verdict_forest_has_a_row_per_cell_and_pool_at_its_ratio(tmp_path):
    """Ω solves sooner at T=20 (5/5 by 2,000 updates against 4,000-6,000); at T=50 neither side solves
    (no ratio: the verdict is written out instead)."""
    for s in range(5):
        make_run(tmp_path, seq_len=20, seed=s, omega=2.0, steps_to_solve=1000 + 250 * s, steps=8000)
        make_run(tmp_path, seq_len=20, seed=s, steps_to_solve=4000 + 500 * s, steps=8000)
        make_run(tmp_path, seq_len=50, seed=s, omega=2.0, status="unsolved")
        make_run(tmp_path, seq_len=50, seed=s, status="unsolved")
    an = analyse(load(tmp_path).runs)
    with Capture() as cap:
        plots._verdicts(an, tmp_path, "png", [])
    (fig,) = cap.figs["verdicts"]
    (ax,) = [a for a in fig.axes if a.get_visible()]
    rows = an.verdicts
    assert ax.get_title() == "rnn+clip+Ω vs rnn+clip" and len(rows) == 3
    labels = [t.get_text() for t in ax.get_yticklabels()]
    ticks = [t.get_position()[1] for t in ax.get_yticklabels()]
    assert labels == ["T=20", "T=50", "pooled (2 cells)"] and ticks == sorted(ticks, reverse=True)  # top down
    drawn_x = sorted(round(float(ln.get_xdata()[0]), 6) for ln in ax.get_lines() if ln.get_marker() == "o")
    ratios = rows.rmst_ratio.dropna()
    assert len(ratios) == 2 and drawn_x == sorted(round(float(x), 6) for x in ratios)
    texts = [t.get_text() for t in ax.texts]
    assert "no-information (0/5 vs 0/5)" in texts
    assert {"helps", "no-information"} <= set(rows.verdict)  # a coloured row and a written-out one
    assert sorted(t.split(" (")[0].strip() for t in texts) == sorted(rows.verdict)  # one verdict per row


def test_a_solved_comparison_is_drawn_as_a_difference_in_fraction_solved(tmp_path):
    """The solved endpoint's panel shows what its test tested: k/n differences with Newcombe's interval on
    a linear axis, the pooled row a point; the same runs' time comparison stays on the RMST ratio's log axis."""
    for T in (20, 50):
        for s in range(5):
            make_run(tmp_path, seq_len=T, seed=s, omega=2.0, steps_to_solve=1000 + 250 * s, steps=8000)
            make_run(tmp_path, seq_len=T, seed=s, status="solved" if s < 2 else "unsolved", steps=8000)
    cmp = [Comparison("rnn+clip+Ω", "rnn+clip", "solved"), Comparison("rnn+clip+Ω", "rnn+clip", "time")]
    an = analyse(load(tmp_path).runs, cmp)
    with Capture() as cap:
        plots._verdicts(an, tmp_path, "png", [])
    solved, time_ = (a for a in cap.figs["verdicts"][0].axes if a.get_visible())
    assert solved.get_title().endswith("(test: solved by the budget)") and solved.get_xscale() == "linear"
    assert time_.get_xscale() == "log"
    d, lo, hi = solved_difference(5, 5, 2, 5)
    points = [ln for ln in solved.get_lines() if ln.get_marker() == "o"]
    assert [float(ln.get_xdata()[0]) for ln in points] == pytest.approx([d, d, d])  # two cells and pooled
    bars = [seg for c in solved.collections for seg in c.get_segments()]  # the intervals' horizontal lines
    spans = sorted((round(float(s[0][0]), 6), round(float(s[1][0]), 6)) for s in bars if s[0][1] == s[1][1])
    assert spans.count((round(lo, 6), round(hi, 6))) == 2  # each cell's Newcombe interval, none pooled


def test_verdict_forest_when_nothing_solved_anywhere(tmp_path):
    for s in range(3):
        make_run(tmp_path, seed=s, omega=2.0, status="unsolved")
        make_run(tmp_path, seed=s, status="unsolved")
    an = analyse(load(tmp_path).runs)
    with Capture() as cap:
        plots._verdicts(an, tmp_path, "png", saved := [])
    (ax,) = [a for a in cap.figs["verdicts"][0].axes if a.get_visible()]
    assert [t.get_text() for t in ax.texts] == ["no-information (0/3 vs 0/3)"] and len(saved) == 1


def test_a_title_suffix_wraps_like_any_part():
    row = {"task": "temporal_order", "variant": None, "seq_len": 50, "clipping.mode": "value"}
    title = plots._title(row, ["clipping.mode"], extra="step 30,000, 12 runs (3 without)")
    assert all(len(line) <= plots.TITLE_CHARS for line in title.split("\n"))
    assert title.endswith("step 30,000, 12 runs (3 without)")
