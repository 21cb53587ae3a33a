"""Every table the CLI prints reads at 80 columns: no line wider, no label cut to `rnn+cli…`, no number
broken across lines; narrowing steps are taken only where needed; command help in whole sentences."""

import io
import re

import pytest
import yaml
from rich.console import Console

from runfolders import make_run

from ltd_bench.fit import SIMPLE, Fit, fitted

LABELS = ["rnn+clip+Ω (norm 1)", "lstm+clip (adam)", "lstm+clip (sgd, momentum)"]


def render(renderable, width: int) -> str:
    o = io.StringIO()
    Console(file=o, width=width, color_system=None).print(renderable)
    return o.getvalue()


def readable(text: str, width: int = 80) -> None:
    lines = text.splitlines()
    assert max(map(len, lines)) <= width, text
    assert "…" not in text, text


HEADER = ["task", "T", "method", "solved", "RMST [95% CI]", "loss/base"]
ROWS = [
    ["temporal_order", "100", LABELS[0], "10/10", "43.7k [29.2k, 59k]", "0.062"],
    ["", "", LABELS[2], "7/10", "36.8k [14.3k, 63.9k]", "0.028"],
]
FIT = Fit(breaks={"method": (" (",), "RMST [95% CI]": (" [",)}, drop=("loss/base",), keys=2)


def test_a_table_that_fits_is_left_as_it_is():
    wide = render(fitted(Console(width=200), HEADER, ROWS, FIT, **SIMPLE), 200)
    assert "temporal_order  100" in wide.replace("   ", "  ") or re.search(
        r"temporal_order\s+100\s+rnn", wide
    )
    assert LABELS[0] in wide and "36.8k [14.3k, 63.9k]" in wide and "loss/base" in wide


@pytest.mark.parametrize("width", [80, 60, 45])
def test_narrower_steps_only_as_needed_and_nothing_cut(width):
    text = render(fitted(Console(width=width), HEADER, ROWS, FIT, **SIMPLE), width)
    readable(text, width)
    assert "temporal_order · T 100" in text  # the key columns head their group
    for number in ("43.7k", "[29.2k, 59k]", "10/10", "7/10"):
        assert number in text  # whole, on one line
    if width == 80:
        assert LABELS[0] in text and "loss/base" in text  # no break or drop was needed
    if width == 45:
        assert "loss/base" not in text and "lstm+clip" in text and "(sgd, momentum)" in text


def test_report_at_80_columns(tmp_path, ltd_main):
    for label in LABELS:
        for seed in range(3):
            make_run(tmp_path, method=label, seed=seed, seq_len=100, status="solved" if seed else "unsolved")
    rc, out, _ = ltd_main("report", tmp_path, "--compare", f"{LABELS[0]}:{LABELS[2]}")
    assert rc == 0
    readable(out)
    for label in LABELS:  # each label whole on a line, or broken only before its bracket
        head, _, tail = label.partition(" (")
        assert label in out or (re.search(rf"^\s*{re.escape(head)}\s", out, re.M) and f"({tail}" in out), (
            label
        )


def test_sweep_dry_run_at_80_columns(tmp_path, ltd_main):
    sweep = {
        "name": "narrow",
        "base": {"task": {"name": "copying", "seq_len": 10, "options": {"copy_len": 3}}},
        "methods": {label: {"clipping.mode": "norm"} for label in LABELS},
        "grid": {"seed": [0, 1], "task.seq_len": [10, 20], "clipping.threshold": [0.5, 1.0]},
    }
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(sweep, allow_unicode=True))
    rc, out, _ = ltd_main("sweep", p, "--dry-run", "--out", tmp_path / "out")
    assert rc == 0
    table = out[out.index("┏") :]  # the lines above it are sentences (the folder's path may be long)
    readable(table)
    assert all(label in table or label.replace(" (", "\n") for label in LABELS) and "threshold" in table


def test_help_lists_each_command_in_one_sentence(ltd_main):
    rc, out, _ = ltd_main("--help")
    assert rc == 0
    commands = re.findall(r"^│ (\w+)\s{2,}(.*?)\s*│$", out, re.M)
    names = [name for name, _ in commands]
    assert {"run", "sweep", "bench", "report", "status", "tensorboard"} <= set(names)
    for name, summary in commands:  # one line each, a whole sentence: no continuation line follows
        assert summary.endswith("."), (name, summary)
    assert not re.search(r"^│\s{10,}\S", out, re.M), out
