"""Run one config into its folder: continue from its checkpoint if there is one, append metrics as they
come, checkpoint periodically, write the result. Used by `ltd-bench run` and by sweep workers."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from . import tboard
from .config import Config
from .outputs import (
    Claims,
    MetricsLog,
    RunResult,
    claim_holder,
    heartbeat,
    prepare,
    read_checkpoint,
    run_dir,
    write_checkpoint,
    write_result,
)

if TYPE_CHECKING:
    from .train import RunSpec


def train(cfg: Config, **kw) -> RunResult:
    """train.train, imported on first use: a sweep's dry run plans without torch."""
    from .train import train as run

    return run(cfg, **kw)


@contextlib.contextmanager
def handling(handler):
    """SIGINT and SIGTERM go to `handler` within the block, and back to what they were after it; outside
    the main thread (where Python cannot set handlers) signals are left alone."""
    try:
        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class StopFlag:
    """SIGINT or SIGTERM asks the run to stop at the next step boundary (it checkpoints and ends
    `interrupted`); with `hard` (`ltd-bench run` in a terminal), a second Ctrl-C stops at once
    (KeyboardInterrupt). A repeated SIGTERM does not, nor anything in a sweep's worker: a signal to the
    whole process group, once or twice, must leave every run checkpointed. Outside the main thread, a
    no-op."""

    def __init__(self, hard: bool = True):
        self.requested, self.hard = False, hard

    def __call__(self) -> bool:
        return self.requested

    @contextlib.contextmanager
    def installed(self):
        def handler(signum, frame):
            if self.requested and self.hard and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.requested = True

        with handling(handler):
            yield self


@contextlib.contextmanager
def interrupt_once():
    """SIGINT or SIGTERM (Ctrl-C, `kill`, `timeout`, a scheduler) ends what runs with KeyboardInterrupt,
    once: later ones are ignored, so that a signal sent twice to a whole process group cannot cut short
    the wind-down the first one started (workers checkpointing, results being written). After one, they
    stay ignored past the block: the process is on its way out with 130, and a second signal of the group
    landing after the block (seen under load, 0.3 s after the first) would otherwise kill it there."""
    seen = []

    def handler(signum, frame):
        seen.append(signum)
        if len(seen) == 1:
            raise KeyboardInterrupt

    try:
        with handling(handler):
            yield
    finally:
        if seen:  # the handler was installed, so this is the main thread
            for s in (signal.SIGINT, signal.SIGTERM):
                signal.signal(s, signal.SIG_IGN)


@contextlib.contextmanager
def signals_deferred():
    """SIGINT and SIGTERM wait until the block ends, then are raised again (to the handlers outside: an
    enclosing block defers them further): what the block writes (a run's final files, the results of
    runs winding down) is not cut short by a signal."""
    got = []
    with handling(lambda signum, frame: got.append(signum)):
        yield
    if got:
        signal.raise_signal(got[0])


def spec_in(
    cfg: Config,
    path: Path,
    progress: Callable[[int, dict | None], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RunSpec:
    """The run `cfg` whose folder is `path` (config.yaml already there), ready for train_runs: continuing
    from checkpoint.pt if it holds this run; metrics.csv grows row by row and checkpoint.pt is replaced
    as training goes. The final files are the caller's (write_result)."""
    from .train import RunSpec, resume_problem

    state, why = read_checkpoint(path, cfg, check=lambda s: resume_problem(cfg, s))
    if why and warn:
        warn(why)
    log = MetricsLog(path, state["metrics"] if state else [])
    events = tboard.live(path, cfg, state["metrics"] if state else [])  # train.tensorboard: event files too
    on_eval = log.append if events is None else lambda row: (log.append(row), events.append(row))
    return RunSpec(cfg, on_eval, progress, lambda s: write_checkpoint(path, s, cfg), state)


def train_in(
    cfg: Config,
    path: Path,
    progress: Callable[[int, dict | None], None] | None = None,
    stop: Callable[[], bool] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RunResult:
    """Train `cfg` in its folder `path` (see spec_in); writes no final files: the caller does
    (write_result), here or in a sweep's parent process."""
    s = spec_in(cfg, path, progress, warn)
    return train(
        cfg, on_eval=s.on_eval, progress=s.progress, checkpoint=s.checkpoint, resume=s.resume, stop=stop
    )


class RunBusy(Exception):
    """Another live process trains this run (its claim names host and pid)."""


@contextlib.contextmanager
def hold(path: Path):
    """Claim the run folder `path` for the block (as a sweep claims each run it trains), refreshing the
    claim while it runs: one writer per run. RunBusy, with nothing touched, when a live process holds it."""
    claims = Claims()
    if not claims.acquire(path):
        h = claim_holder(path) or {}
        raise RunBusy(
            f"{path} is being trained by pid {h.get('pid', '?')} on {h.get('host', '?')}: "
            "wait for it (or stop that process) and rerun"
        )
    try:
        with heartbeat(claims):
            yield
    finally:
        claims.release_all()


def execute(
    cfg: Config,
    out: Path,
    progress: bool = False,
    weights: bool = True,
    console: Console | None = None,
    warn: Callable[[str], None] | None = None,
) -> tuple[dict, Path]:
    """`ltd-bench run`: train into OUT/<name>/<run_id>/ (continuing a killed or interrupted attempt)."""
    path = run_dir(out, cfg)
    prepare(path, cfg)
    with StopFlag().installed() as stop, _progress(cfg, progress, console) as cb:
        res = train_in(cfg, path, progress=cb, stop=stop, warn=warn)
    write_result(path, res, weights=weights)
    return res.summary, path


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
