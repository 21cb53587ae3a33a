"""The sweep's bar counts updates: read from the rows the runs write while they train; a run that ends
early leaves its untrained budget off the total; continued runs start where they were; and a sweep on a
terminal shows it next to the per-run lines."""

import io
import time

import yaml
from rich.console import Console

from ltd_bench import progress
from ltd_bench.jobs import Job
from ltd_bench.outputs import MetricsLog
from ltd_bench.progress import UpdatesBar
from ltd_bench.sweep import sweep_command


def rows(last: int, every: int = 500) -> list[dict]:
    return [{"step": s, "test_error": 0.5, "test_loss": 1.0} for s in range(0, last + 1, every)]


def folder(tmp_path, name: str, last: int | None):
    d = tmp_path / name
    d.mkdir()
    if last is not None:
        MetricsLog(d, rows(last))
    return d


def job(path, steps=10_000) -> Job:
    return Job(path.name, "rnn", {"train": {"steps": steps}}, path, {})


def wait_for(cond, timeout: float = 10):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end
        time.sleep(0.01)


def test_updates_come_from_the_rows_and_an_early_end_shrinks_the_total(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "POLL_S", 0.01)
    a, b, c = folder(tmp_path, "a", 2000), folder(tmp_path, "b", None), folder(tmp_path, "c", None)
    held = [a, b]
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with UpdatesBar(console, True, [job(a), job(b), job(c)], lambda: held) as bar:
        task = bar.bar.tasks[0]
        assert (task.completed, task.total) == (2000, 30_000)  # a continues from its step 2000
        MetricsLog(a, rows(4000))
        MetricsLog(b, rows(1500))
        wait_for(lambda: task.completed == 5500)
        bar.done(b, 1700)  # solved at 1700: its other 8300 updates will never be trained
        assert (task.completed, task.total) == (5700, 21_700) and task.fields["runs"] == "1/3"
        held[:] = [a, c]
        MetricsLog(c, rows(500))
        wait_for(lambda: task.completed == 6200)
        assert task.fields["updates"] == "6200/21.7k"


def test_a_disabled_bar_reads_nothing(tmp_path):
    def held():
        raise AssertionError("polled")

    with UpdatesBar(Console(file=io.StringIO()), False, [job(tmp_path, 10)], held) as bar:
        bar.done(tmp_path, 5)


def test_a_sweep_on_a_terminal_shows_updates_and_its_per_run_lines(tmp_path):
    base = {
        "task": {"name": "temporal_order", "seq_len": 10, "test_size": 50},
        "model": {"hidden_size": 4},
        "train": {"steps": 20, "eval_every": 10},
    }
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"name": "bar", "base": base, "grid": {"seed": [0, 1]}}))
    o = io.StringIO()
    console = Console(file=o, force_terminal=True, color_system=None, highlight=False, width=120)
    rc = sweep_command(p, tmp_path / "out", [], 1, False, "local", None, True, console, console)
    text = o.getvalue()
    assert rc == 0 and "updates · " in text and text.count("[1/2]") == 1 and text.count("[2/2]") == 1
