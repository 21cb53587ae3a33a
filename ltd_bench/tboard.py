"""TensorBoard event files of runs (the optional extra: pip install -e '.[tensorboard]').

Each evaluation's metrics row becomes scalars (TAGS), one TensorBoard run per run id, named by method
and seed, in OUT/<name>/tensorboard/<method>/seed<seed>-<run_id>/, with the config as hyper-parameters:

    tensorboard --logdir OUT/<name>/tensorboard

Written while a run trains when its config says `train.tensorboard: true` (a setting in no run id: it
changes no number), where its metrics rows are written (runner.spec_in); or afterwards from run folders
by `ltd-bench tensorboard DIR`, which writes the same events. The file is written synchronously, one
evaluation at a time, appended and closed: no writer thread per run in a worker that trains thousands
(torch's SummaryWriter starts one and needs closing, which a run's callbacks cannot do). A run started
again (from its checkpoint) rewrites its file from the rows it continues from, as metrics.csv is.
"""

from __future__ import annotations

import io
import json
import math
import re
import time
from pathlib import Path

from .config import flatten, method_label
from .outputs import atomic_write

TAGS = {  # metrics.csv column -> scalar tag
    "test_error": "heldout/error",
    "test_loss": "heldout/loss",
    "train_loss": "train/loss",
    "grad_norm": "train/grad_norm",
    "grad_norm_max": "train/grad_norm_max",
    "clip_rate": "train/clip_rate",
    "omega": "omega/value",
    "omega_weight": "omega/alpha",
}
FOLDER = "tensorboard"  # under OUT/<name>/: no run id is this word, so no run folder collides with it
MISSING = "train.tensorboard needs the tensorboard extra: pip install -e '.[tensorboard]' (or pip install tensorboard)"


def available() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def check(configs: list, src: str) -> None:
    """ConfigError (exit 2, nothing written) when a run asks for event files and the extra is missing."""
    from .config import ConfigError

    if any(c.train.tensorboard for c in configs) and not available():
        raise ConfigError([f"{src}: train.tensorboard: {MISSING}"])


def run_name(config: dict, run_id: str) -> str:
    """<method>/seed<seed>-<run_id>; a label's separators and leading dots made harmless for a path."""
    method = str(config.get("method") or method_label(config))
    method = re.sub(r"[/\\\x00]", "_", method).lstrip(".") or "_"
    return f"{method}/seed{config.get('seed')}-{run_id}"


def _records(events) -> bytes:
    from tensorboard.summary.writer.record_writer import RecordWriter

    buf = io.BytesIO()
    w = RecordWriter(buf)
    for e in events:
        w.write(e.SerializeToString())
    return buf.getvalue()


def _row_events(row: dict, wall_time: float):
    from tensorboard.compat.proto.event_pb2 import Event
    from torch.utils.tensorboard.summary import scalar

    step = int(row["step"])
    for col, tag in TAGS.items():
        v = row.get(col)
        if isinstance(v, (int, float)) and math.isfinite(v):
            yield Event(wall_time=wall_time, step=step, summary=scalar(tag, float(v)))


def _hparams(config: dict) -> dict:
    """The config as hyper-parameters: numbers, strings and booleans; anything else as JSON text."""
    out = {}
    for k, v in flatten(config).items():
        out[k] = v if isinstance(v, (bool, int, float, str)) else json.dumps(v, sort_keys=True)
    return out


def _head(config: dict, wall_time: float):
    from tensorboard.compat.proto.event_pb2 import Event
    from torch.utils.tensorboard.summary import hparams

    yield Event(wall_time=wall_time, file_version="brain.Event:2")
    exp, ssi, _ = hparams(_hparams(config), {"heldout/error": 0.0, "heldout/loss": 0.0})
    for summary in (exp, ssi):
        yield Event(wall_time=wall_time, summary=summary)


class EventLog:
    """One run's event file: its head (the config as hyper-parameters) and the rows so far written at
    once, then one evaluation per `append`. `start`: the wall time of the run's step 0 (rows carry their
    wall_time_s from it); default: now less the last row's wall_time_s."""

    def __init__(self, logdir: Path, config: dict, run_id: str, rows: list[dict], start: float | None = None):
        self.dir = logdir
        last = rows[-1].get("wall_time_s") if rows else None
        self.start = start if start is not None else time.time() - (last if isinstance(last, float) else 0.0)
        if self.dir.is_dir():  # a run started again: its earlier file goes, rewritten from `rows`
            for f in self.dir.glob("events.out.tfevents.*"):
                f.unlink()
        self.file = self.dir / f"events.out.tfevents.{int(self.start)}.{run_id}"
        events = [*_head(config, self.start)]
        for row in rows:
            events += _row_events(row, self._wall(row))
        atomic_write(self.file, _records(events))

    def _wall(self, row: dict) -> float:
        w = row.get("wall_time_s")
        return self.start + w if isinstance(w, (int, float)) and math.isfinite(w) else time.time()

    def append(self, row: dict) -> None:
        with open(self.file, "ab") as f:
            f.write(_records(_row_events(row, self._wall(row))))


def live(path: Path, cfg, rows: list[dict]) -> EventLog | None:
    """The event log of the run in folder `path` (OUT/<name>/<run_id>) when its config asks for one."""
    if not cfg.train.tensorboard:
        return None
    config = cfg.to_dict()
    return EventLog(path.parent / FOLDER / run_name(config, cfg.run_id), config, cfg.run_id, rows)


def export(root: Path, logdir: Path | None) -> tuple[list[Path], list[str]]:
    """`ltd-bench tensorboard`: an event file per run folder under `root` (as trained with
    train.tensorboard), into each sweep's own tensorboard/ folder or under `logdir`/<sweep name>/.
    Returns (written files, one warning per run folder skipped)."""
    from .outputs import read_run
    from .runs import _run_dirs

    written, warnings = [], []
    for d in _run_dirs(root):  # folders with summary.json or metrics.csv: never an event folder
        try:
            config, summary, metrics = read_run(d)
        except (ValueError, OSError, UnicodeDecodeError) as e:
            warnings.append(f"skipped {d}: {e}")
            continue
        rows = [] if metrics is None else metrics.to_dict("records")
        run_id = str(summary.get("run_id") or d.name)
        base = d.parent / FOLDER if logdir is None else logdir / d.parent.name
        try:  # step 0 at the summary's time less the run's wall time: the curves' relative times hold
            start = (d / "summary.json").stat().st_mtime - float(summary.get("wall_time_s") or 0)
        except OSError:
            start = None
        log = EventLog(base / run_name(config, run_id), config, run_id, rows, start)
        written.append(log.file)
    return written, warnings


def export_command(root: Path, logdir: Path | None, console, err_console) -> int:
    """`ltd-bench tensorboard`: 0 written (damaged folders skipped, each named), 2 bad input."""
    say = lambda con, text, **kw: con.print(text, markup=False, highlight=False, soft_wrap=True, **kw)
    if not available():
        say(
            err_console,
            f"error: {MISSING.replace('train.tensorboard', 'ltd-bench tensorboard')}",
            style="red",
        )
        return 2
    if not root.is_dir():
        say(err_console, f"error: {root} is not a folder of runs", style="red")
        return 2
    written, warnings = export(root, logdir)
    for w in warnings:
        say(err_console, f"warning: {w}", style="yellow")
    if not written:
        say(err_console, f"error: no run folder under {root}", style="red")
        return 2
    dirs = sorted({f.parent.parent.parent for f in written})  # each sweep's tensorboard/, or LOGDIR/<sweep>
    view = logdir or (dirs[0] if len(dirs) == 1 else root)
    say(
        console,
        f"wrote the event files of {len(written)} run(s); to browse them: tensorboard --logdir {view}",
    )
    return 0
