"""Run one config into its folder: prepare, train (with an optional rich progress bar), write."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .config import Config
from .outputs import prepare, run_dir, write_result
from .train import RunResult, train


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SIGTERM (a scheduler or `kill`) ends a run like Ctrl-C: finished work is written, status interrupted."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def execute(
    cfg: Config, out: Path, progress: bool = False, weights: bool = True, console: Console | None = None
) -> tuple[dict, Path]:
    path = run_dir(out, cfg)
    prepare(path, cfg)
    with sigterm_as_interrupt(), _progress(cfg, progress, console) as cb:
        res = train(cfg, progress=cb)
    finish(res)
    write_result(path, res, weights=weights)
    return res.summary, path


def finish(res: RunResult) -> None:
    """Summary fields derived from the metrics (kept here so train() stays lean)."""
    last = res.metrics[-1] if res.metrics else {}
    res.summary["final_omega"] = last.get("omega")
    kind = res.config["model"]["type"]
    if kind != "rnn":
        res.summary["note"] = (
            f"Ω for {kind} uses the cell's Jacobian w.r.t. h_t-1 (batched VJP): an extension, "
            f"not in Pascanu et al. 2013"
        )


@contextlib.contextmanager
def _progress(cfg: Config, enabled: bool, console: Console | None):
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with bar:
        tid = bar.add_task(
            f"{cfg.name} {cfg.task.name} T={cfg.task.seq_len} {cfg.model.type}",
            total=cfg.train.steps,
            info="",
        )

        def cb(step: int, row: dict | None) -> None:
            info = None if row is None else f"test err {row['test_error']:.3f} loss {row['test_loss']:.4g}"
            bar.update(tid, completed=step, **({"info": info} if info else {}))

        yield cb
