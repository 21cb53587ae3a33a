"""The sweep's progress bar, in updates trained: it moves while runs train, not only as they finish.

The workers already write each evaluation's row to their run's metrics.csv (runner.spec_in); a thread
in the sweep's process reads the last row of every run the sweep holds a claim on, every POLL_S: no
channel from the workers, nothing on their hot path. Total = the budgets of the runs to train; a run
that ends before its budget (solved, diverged, failed) takes what it did not train off the total, so
the speed is updates really trained and the ETA the time to train what is left at that speed. Where
workers do not see the folders (Dask without a shared file system) the bar moves run by run.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Iterable

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .status import last_step

POLL_S = 2.0  # rows come every eval_every updates (seconds apart); the ETA averages over 30 s anyway


class UpdatesBar:
    """`with UpdatesBar(console, enabled, jobs, held) as bar:` ... `bar.done(path, steps)` per run.
    jobs: the runs to train (jobs.Job: .path, .config); held(): the folders training now."""

    def __init__(self, console: Console, enabled: bool, jobs: Iterable, held: Callable[[], Iterable[Path]]):
        self.budgets = {j.path: int(j.config["train"]["steps"]) for j in jobs}
        self.enabled, self.held = enabled, held
        self.trained: dict[Path, int] = {}  # updates seen per run (never less than seen before)
        self.total, self.finished = sum(self.budgets.values()), 0
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.bar = Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            TextColumn("{task.fields[updates]} updates · {task.fields[runs]} runs"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )

    def __enter__(self) -> UpdatesBar:
        if self.enabled:
            for path in self.budgets:  # continued runs: what they trained before is not this sweep's speed
                self.trained[path] = min(last_step(path) or 0, self.budgets[path])
            self.bar.start()
            done = sum(self.trained.values())
            self.task = self.bar.add_task("sweep", total=self.total, completed=done, updates="", runs="")
            self.show()
            threading.Thread(target=self.poll, daemon=True, name="ltd-bench-progress").start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.enabled:
            self.bar.stop()

    def poll(self) -> None:
        while not self.stop.wait(POLL_S):
            try:
                held = list(self.held())
            except RuntimeError:  # the set changed while copied: next time
                continue
            for path in held:
                step = last_step(path)
                if step is not None and path in self.budgets:
                    with self.lock:
                        self.trained[path] = min(max(self.trained.get(path, 0), step), self.budgets[path])
            self.show()

    def done(self, path: Path, steps: int | None) -> None:
        """A run ended after `steps` updates: what it did not train of its budget leaves the total."""
        if not self.enabled:
            return
        with self.lock:
            budget = self.budgets.get(path, 0)
            final = min(max(self.trained.get(path, 0), steps or 0), budget)
            self.total -= budget - final
            self.trained[path] = final
            self.budgets[path] = final
            self.finished += 1
        self.show()

    def show(self) -> None:
        with self.lock:
            done = sum(self.trained.values())
            fields = {
                "updates": f"{_k(done)}/{_k(self.total)}",
                "runs": f"{self.finished}/{len(self.budgets)}",
            }
            self.bar.update(self.task, completed=done, total=max(self.total, 1), **fields)


def _k(n: int) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e3:.3g}k" if n >= 1e4 else str(n)
