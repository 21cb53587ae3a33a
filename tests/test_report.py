"""`ltd-bench report` end to end: outputs, declared comparisons, stdout/stderr, and bad input."""

import io
import json

import pandas as pd
import pytest
from rich.console import Console
from runfolders import make_run

from ltd_bench import outputs
from ltd_bench.config import ConfigError
from ltd_bench.report import run_report
from ltd_bench.sweep import _write_manifest, load_sweep


@pytest.fixture
def folder(tmp_path):
    """Two lengths; Ω solves every run, clipping alone none, the LSTM 2 of 3 (one diverged); one
    interrupted run and a damaged folder."""
    for T in (20, 50):
        for s in range(3):
            make_run(tmp_path, seq_len=T, seed=s, omega=2.0, steps_to_solve=500 + 500 * s)
            make_run(tmp_path, seq_len=T, seed=s, status="unsolved")
            make_run(
                tmp_path, seq_len=T, seed=s, model="lstm", clip="none", status="solved" if s else "diverged"
            )
    make_run(tmp_path, seed=9, omega=2.0, status="interrupted")
    (make_run(tmp_path, name="bad", seed=10) / "summary.json").write_text('{"status": "solved", "steps_to')
    return tmp_path


def consoles(width=250):
    return Console(file=io.StringIO(), width=width), Console(file=io.StringIO(), width=width)


def test_outputs(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    con, err = consoles()
    rc = run_report(folder, csv=out / "t.csv", markdown=out / "t.md", console=con, err_console=err)
    assert rc == 0
    cells = pd.read_csv(out / "t.csv")
    assert {
        "task",
        "seq_len",
        "method",
        "n_runs",
        "n_solved",
        "success_rate",
        "median_steps_to_solve",
        "n_diverged",
        "km_median_steps",
        "rmst_steps",
        "rmst_low",
        "rmst_high",
        "loss_over_baseline",
    } <= set(cells.columns)
    assert len(cells) == 6 and cells.n_runs.tolist() == [3] * 6
    verdicts = pd.read_csv(out / "t_verdicts.csv")
    assert {"method", "reference", "verdict", "reason", "p_logrank", "p_adjusted", "rmst_ratio"} <= set(
        verdicts
    )
    assert {"task", "variant", "seq_len"} <= set(verdicts)
    assert set(verdicts.scope) == {"cell", "pooled"} and set(verdicts.verdict) <= {"helps", "inconclusive"}
    assert len(pd.read_csv(out / "t_runs.csv")) == 19  # the interrupted run is listed, not counted
    md = (out / "t.md").read_text()
    assert "## Time to solve per cell and method" in md and "## Verdicts" in md and "| rnn+clip+Ω |" in md
    assert "skipped" in md  # warnings are part of the written report
    text = con.file.getvalue()
    assert "rnn+clip+Ω vs rnn+clip" in text and "wrote" in text and "warning" not in text
    warnings = err.file.getvalue()
    assert "skipped" in warnings and "Unterminated string starting at line 1" in warnings
    assert "at at" not in warnings and "interrupted" in warnings


def test_terminal_table_fits_100_columns(folder):
    con, err = consoles(width=100)
    assert run_report(folder, console=con, err_console=err) == 0
    lines = con.file.getvalue().splitlines()
    assert max(map(len, lines)) <= 100 and not any("…" in ln for ln in lines)
    header = next(ln for ln in lines if ln.lstrip().startswith("task"))
    assert all(h in header for h in ("method", "solved", "KM median", "RMST", "loss/base"))
    row = next(ln for ln in lines if "rnn+clip+Ω vs lstm" in ln)
    assert row.split()[-1] in ("helps", "inconclusive")  # one comparison per line, verdict last


def test_metrics_parsed_once(folder, tmp_path, monkeypatch):
    calls = []
    real = outputs.read_metrics
    monkeypatch.setattr(outputs, "read_metrics", lambda p, *a: calls.append(p) or real(p, *a))
    con, err = consoles()
    from ltd_bench import plots

    monkeypatch.setattr(
        plots, "make_plots", lambda res, an, out, **kw: ([], [])
    )  # drawing is tested elsewhere
    assert run_report(folder, plots=tmp_path / "p", console=con, err_console=err) == 0
    assert len(calls) == len(set(calls)) == 19  # every readable folder once (the damaged one fails first)


def test_declared_comparisons_from_the_sweep_and_from_the_command_line(folder):
    manifest = {"name": "exp", "grid_keys": [], "zip_keys": [], "methods": {}, "runs": []}
    (folder / "exp" / "sweep.json").write_text(json.dumps(manifest | {"compare": [["lstm", "rnn+clip"]]}))
    con, err = consoles()
    assert run_report(folder, console=con, err_console=err) == 0
    text = con.file.getvalue()
    assert "declared in sweep.json" in text and "lstm vs rnn+clip" in text and "rnn+clip+Ω vs" not in text
    con, err = consoles()
    assert run_report(folder, compare=["rnn+clip+Ω:lstm"], console=con, err_console=err) == 0
    text = con.file.getvalue()
    assert "--compare" in text and "rnn+clip+Ω vs lstm" in text and "lstm vs rnn+clip" not in text


def test_sweep_file_declares_comparisons(tmp_path):
    sweep = tmp_path / "s.yaml"
    base = "name: s\nbase: {task: {name: temporal_order, seq_len: 10}, train: {steps: 10}}\n"
    sweep.write_text(base + "methods: {a: {clipping.mode: norm}, b: {}}\ncompare: [[a, b]]\n")
    sw = load_sweep(sweep)
    assert sw.compare == [["a", "b"]] and sw.manifest()["compare"] == [["a", "b"]]
    sweep.write_text(base + "methods: {a: {}, b: {clipping.mode: norm}}\ncompare: [[a, c], [b], [a, a]]\n")
    with pytest.raises(ConfigError) as e:
        load_sweep(sweep)
    assert e.value.errors == [
        f"{sweep}: compare[0][1]: unknown method 'c' (allowed: a, b)",
        f"{sweep}: compare[1]: expected [method, reference], two method labels (or a mapping with method, "
        'reference, test, family), got ["b"]',
        f"{sweep}: compare[2]: compares 'a' with itself",
    ]
    sweep.write_text(
        base + "grid: {clipping.mode: [none, norm]}\ncompare: [[rnn+clip, lstm]]\n"
    )  # derived labels
    with pytest.raises(
        ConfigError, match=r"compare\[0\]\[1\]: unknown method 'lstm' \(allowed: rnn, rnn\+clip\)"
    ):
        load_sweep(sweep)
    path = tmp_path / "sweep.json"  # a later sweep into the same folder adds its pairs to the earlier ones
    _write_manifest(path, sw.manifest() | {"compare": [["a", "b"]]})
    _write_manifest(path, sw.manifest() | {"compare": [["b", "a"], ["a", "b"]]})
    assert json.loads(path.read_text())["compare"] == [["a", "b"], ["b", "a"]]


@pytest.mark.parametrize(
    "args, message",
    [
        (["EMPTY"], "error: no run under"),
        (["INTERRUPTED"], "error: no finished run (solved, unsolved or diverged) under"),
        (
            ["RUNS", "--compare", "rnn+clip+Ω:lstm+clip"],
            "unknown method 'lstm+clip' (available: lstm, rnn+clip, rnn+clip+Ω)",
        ),
        (["RUNS", "--compare", "rnn+clip"], "expected METHOD:REFERENCE"),
        (["RUNS", "--compare", "rnn+clip:rnn+clip"], "compares rnn+clip with itself"),
        (["RUNS", "--margin", "1"], "--margin 1.0: must be a ratio above 1"),
        (["RUNS", "--margin", "0.8"], "--margin 0.8: must be a ratio above 1"),
        (
            ["RUNS", "--plots", "OUT/p", "--plots-format", "gif"],
            "--plots-format 'gif': unknown (allowed: png, pdf, svg)",
        ),
        (["RUNS", "--csv", ""], "--csv: needs a file name"),
        (["RUNS", "--csv", "OUT"], "is a folder; give a file name"),
        (["RUNS", "--markdown", "OUT/x.md/y.md", "--csv", "OUT/t.csv"], "is a file, not a folder"),
        (["NOPE"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_writes_nothing(ltd_main, tmp_path, args, message):
    runs, out = tmp_path / "runs", tmp_path / "out"
    for s in range(2):
        make_run(runs, seed=s, omega=2.0)
        make_run(runs, seed=s, model="lstm", clip="none")
        make_run(runs, seed=s)
    (tmp_path / "empty").mkdir()
    make_run(tmp_path / "interrupted", status="interrupted")
    out.mkdir()
    (out / "x.md").write_text("a file")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    subst = {"EMPTY": tmp_path / "empty", "INTERRUPTED": tmp_path / "interrupted", "RUNS": runs}
    subst |= {"NOPE": tmp_path / "nope"}
    argv = [str(subst.get(a, a)).replace("OUT", str(out)) for a in args]
    code, stdout, stderr = ltd_main("report", *argv)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("error") and "Traceback" not in stderr and stdout == ""
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written
