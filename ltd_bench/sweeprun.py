"""Executing a planned sweep: each unit (a run, or a pack of runs) claimed as the executor asks for it,
results written by this process as they come, one line per finished run, and the closing summary.
`sweep.sweep_command` plans (what is done, what packs, what extends a shorter run) and hands over here."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.markup import escape

from .config import Config
from .extend import begin
from .jobs import Job, PackJob
from .outputs import (
    CHECKPOINT,
    FINAL,
    Claims,
    RunResult,
    claim_holder,
    heartbeat,
    is_finished,
    prepare,
    read_summary,
    write_result,
)
from .progress import UpdatesBar
from .registry import shown
from .runner import interrupt_once, signals_deferred


def execute(
    ex,
    todo: list[Job],
    units: Callable[[list[Job]], list[list[Job]]],
    config: Callable[[str], Config],
    origins: dict[str, Path],
    folder: Path,
    console: Console,
    err_console: Console,
    progress: bool,
) -> int:
    """Train `todo` on executor `ex` (units: how pending jobs group into packs; config: a run id's Config;
    origins: run id -> the finished shorter run it continues from; folder: the sweep's, named in the
    closing line). 0 all ran, 1 some run failed or the executor lost its scheduler, 130 interrupted
    (finished runs kept, the others resume)."""
    counts: dict[str, int] = {}
    start = time.perf_counter()
    claims, elsewhere = Claims(), []

    def claimed(pending: list[Job]):
        """Jobs (or packs of them) this sweep claimed, one unit at a time as the executor asks: another
        sweep on the same folder skips them, and this one skips theirs (`elsewhere`), so two sweeps split
        the work. A pack claims each of its runs' folders; the runs it got train together."""
        for unit in units(pending):
            mine = []
            for job in unit:
                if is_finished(job.path):
                    continue
                if not claims.acquire(job.path):
                    elsewhere.append(job)
                elif is_finished(job.path):  # another sweep finished it just before we claimed it
                    claims.release(job.path)
                else:
                    cfg = config(job.run_id)
                    prepare(job.path, cfg)
                    o = origins.get(job.run_id)
                    if o and not (job.path / CHECKPOINT).is_file():  # one of its own: continue from that
                        copied, how = begin(job.path, cfg, o)
                        if copied:  # its result is a shorter run's: nothing to train
                            claims.release(job.path)
                            tally(job, read_summary(job.path) or {}, f" ({how})")
                            continue
                    mine.append(job)
            if len(mine) > 1:
                yield PackJob(tuple(mine))
            elif mine:
                yield mine[0]

    with (
        interrupt_once(),
        heartbeat(claims),
        UpdatesBar(console, progress and console.is_terminal, todo, lambda: claims.held) as bar,
    ):

        def on_done(job: Job, res: RunResult) -> None:
            with signals_deferred():  # a signal now would leave the run without its summary
                # the parent writes: a killed worker leaves nothing trusted
                prepare(job.path, config(job.run_id))
                write_result(job.path, res)
                claims.release(job.path)
            tally(job, res.summary)

        def tally(job: Job, summary: dict, note: str = "") -> None:
            status = summary.get("status", "failed")
            counts[status] = counts.get(status, 0) + 1
            bar.done(job.path, summary.get("steps"))
            n = sum(counts.values())
            console.print(f"[{n}/{len(todo)}] {_line(job, summary)}{note}", soft_wrap=True, markup=False)

        try:
            while todo:  # a second round takes over runs whose other sweep died meanwhile
                ex.run(claimed(todo), on_done)
                todo, elsewhere[:] = [j for j in elsewhere if claim_holder(j.path) is None], []
        except KeyboardInterrupt:
            n = sum(v for k, v in counts.items() if k in FINAL)
            kept = counts.get("interrupted", 0)
            err_console.print(
                f"interrupted: {n} run(s) finished and kept, {kept} interrupted"
                + (" (checkpointed: they continue from there)" if kept else "")
                + "; rerun the same command to resume",
                soft_wrap=True,
            )
            return 130
        except RuntimeError as e:  # the Dask executor lost (or never reached) its scheduler: one line
            err_console.print(f"[red]error[/red] {escape(str(e))}", soft_wrap=True)
            return 1
        finally:
            claims.release_all()
    return _closing(console, err_console, counts, time.perf_counter() - start, folder, elsewhere)


def _closing(
    console: Console,
    err_console: Console,
    counts: dict[str, int],
    wall: float,
    folder: Path,
    elsewhere: list[Job],
) -> int:
    """The sweep's last lines (what trained, what another sweep still holds, what failed) and its exit code."""
    trained = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none trained here"
    others = [j for j in elsewhere if not is_finished(j.path)]
    console.print(
        f"{sum(counts.values())} runs in {wall:.1f} s: {trained} · ltd-bench report {folder}",
        soft_wrap=True,
        markup=False,
    )
    if others:
        holders = sorted({f"pid {h['pid']} on {h['host']}" for j in others if (h := claim_holder(j.path))})
        console.print(
            f"{len(others)} run(s) left to another sweep training them ({', '.join(holders) or 'now finished'})",
            soft_wrap=True,
            markup=False,
        )
    if counts.get("failed"):
        err_console.print(
            f"{counts['failed']} run(s) failed (summary.json says why); "
            "the next sweep of this file retries them",
            soft_wrap=True,
        )
        return 1
    return 0


def _line(job: Job, s: dict) -> str:
    keys = " ".join(f"{k}={shown(v)}" for k, v in job.keys.items())
    status = s.get("status")
    if status == "failed":
        outcome = f"FAILED {s.get('error')}"
    elif status == "solved":
        outcome = f"solved at step {s.get('steps_to_solve')}"
    elif status == "diverged":
        outcome = f"diverged at step {s.get('diverged_at_step')}"
    else:
        err = s.get("test_error")
        outcome = f"{status}" + (f" (test error {err:.3f})" if isinstance(err, float) else "")
    return (
        f"{job.label}  {keys}  {outcome}  {s.get('steps') or 0} steps  {s.get('wall_time_s') or 0:.1f} s  "
        f"{job.run_id}"
    )
