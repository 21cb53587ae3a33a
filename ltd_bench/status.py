"""`ltd-bench status DIR`: how far the sweeps writing into DIR have come, read from another terminal or
another machine (a Dask sweep's shared file system) while they train.

Only reads: no claim is taken, no lock, nothing written. Each run folder says what it is through the
files outputs.py defines: summary.json of a final status, finished; of `failed`, failed; a claim whose
holder is alive, training (its metrics.csv's last rows give its step, held-out error and rate);
anything else begun (metrics rows, a checkpoint, an `interrupted` summary) is stopped: killed or
interrupted, to be continued by the next sweep. The runs a sweep has not begun come from the run list
its sweep.json records (with each run's method and budget since sweep.json has a `plan`; older folders
give their count only).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from .outputs import CHECKPOINT, CLAIM, FINAL, claim_holder, read_summary

# No metrics row for this long (and for 3x the run's own time between rows) flags a training run as
# stalled. 600 s: an evaluation every 500 updates comes within seconds to a few minutes even at
# T = 1000 on one CPU core, and it is outputs.CLAIM_STALE_S, after which another sweep takes a run over.
STALLED_S = 600.0
RATE_ROWS = 6  # a run's rate is measured over its last rows (5 evaluation intervals)
TAIL_BYTES = 8192  # read from the end of metrics.csv: the last rows, whatever the file's length
STATES = ("finished", "training", "stopped", "waiting", "failed")


@dataclass
class Run:
    run_id: str
    method: str = "?"
    state: str = "waiting"
    outcome: str | None = None  # solved, unsolved, diverged, failed, interrupted, killed
    step: int | None = None
    budget: int | None = None
    error: float | None = None
    rate: float | None = None  # updates per second, over the last rows
    age: float | None = None  # seconds since the last metrics row
    stalled: bool = False
    seed: int | None = None
    seq_len: int | None = None
    wall: float | None = None  # a finished run's wall time: its rate stands in where nothing trains

    @property
    def eta(self) -> float | None:
        if self.rate and self.budget is not None and self.step is not None:
            return max(0, self.budget - self.step) / self.rate
        return None


@dataclass
class Sweep:
    name: str
    path: Path
    runs: list[Run] = field(default_factory=list)
    unknown_waiting: int = 0  # runs sweep.json lists without a plan: no method or budget known

    def count(self, state: str, method: str | None = None) -> int:
        return sum(r.state == state and method in (None, r.method) for r in self.runs)

    @property
    def methods(self) -> list[str]:
        return sorted({r.method for r in self.runs})

    def eta(self) -> float | None:
        """Seconds until every run has trained its full budget (runs that solve stop sooner), at the rates
        measured now and with as many runs training at once as now; None when nothing trains."""
        training = [r for r in self.runs if r.state == "training" and r.eta is not None]
        if not training:
            return None
        rates = {m: [r.rate for r in training if r.method == m] for m in self.methods}
        done = {m: [r.step / r.wall for r in self.runs if r.method == m and r.wall and r.step] for m in rates}
        every = [r.rate for r in training]
        work = sum(r.eta for r in training)
        for r in self.runs:
            if r.state in ("waiting", "stopped"):
                rate = statistics.median(rates.get(r.method) or done.get(r.method) or every)
                left = (r.budget or statistics.median(x.budget for x in training if x.budget)) - (r.step or 0)
                work += max(0, left) / rate
        if self.unknown_waiting:
            per_run = statistics.median(r.budget / r.rate for r in training)
            work += self.unknown_waiting * per_run
        return max(work / len(training), max(r.eta for r in training))


# ------------------------------------------------------------------------------------------ reading
def _tail(file: Path) -> tuple[list[str], list[list[str]]]:
    """metrics.csv's header and its last complete rows, reading at most TAIL_BYTES of its end."""
    with open(file, "rb") as f:
        header = f.readline().decode().strip().split(",")
        size = f.seek(0, os.SEEK_END)
        start = max(len(",".join(header)) + 1, size - TAIL_BYTES)
        f.seek(start)
        text = f.read().decode(errors="replace")
    lines = text.split("\n")
    if start > len(",".join(header)) + 1:
        lines = lines[1:]  # the first line read may be the end of a row
    rows = [line.split(",") for line in lines[:-1]]  # the last piece: "" or a row still being written
    return header, [r for r in rows if len(r) == len(header)]


def last_step(folder: Path) -> int | None:
    """The step of the last row of the run's metrics.csv; None without one."""
    try:
        header, rows = _tail(folder / "metrics.csv")
        return int(float(rows[-1][header.index("step")])) if rows else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _float(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _progress(run: Run, folder: Path, now: float, stalled_s: float) -> None:
    """Step, error, rate and age from the last rows of the run's metrics.csv (if it has any)."""
    file = folder / "metrics.csv"
    try:
        header, rows = _tail(file)
        mtime = file.stat().st_mtime
    except (OSError, UnicodeDecodeError):
        return
    if not rows or "step" not in header:
        return
    col = {c: i for i, c in enumerate(header)}
    last = rows[-1]
    run.step = int(_float(last[col["step"]]) or 0)
    run.error = _float(last[col["test_error"]]) if "test_error" in col else None
    run.age = max(0.0, now - mtime)
    every = None
    if "wall_time_s" in col and len(rows) > 1:
        a, b = rows[-min(RATE_ROWS, len(rows))], last
        steps = run.step - int(_float(a[col["step"]]) or 0)
        wall = (_float(b[col["wall_time_s"]]) or 0) - (_float(a[col["wall_time_s"]]) or 0)
        if steps > 0 and wall > 0:
            run.rate = steps / wall
            every = wall / (min(RATE_ROWS, len(rows)) - 1)
    run.stalled = run.age > max(stalled_s, 3 * (every or 0))


_CONFIGS: dict[tuple[Path, int], dict] = {}  # config.yaml read once per folder and version (--watch)


def _config(run: Run, folder: Path) -> None:
    """Method, budget, seed and T from config.yaml (safe YAML), for runs the plan does not describe."""
    from .config import method_label
    from .outputs import read_config

    try:
        key = (folder, (folder / "config.yaml").stat().st_mtime_ns)
        c = _CONFIGS[key] if key in _CONFIGS else _CONFIGS.setdefault(key, read_config(folder))
    except (ValueError, OSError):
        return
    run.method = run.method if run.method != "?" else str(c.get("method") or method_label(c))
    train, task = c.get("train") or {}, c.get("task") or {}
    run.budget = run.budget or (train.get("steps") if isinstance(train, dict) else None)
    run.seed = c.get("seed")
    run.seq_len = task.get("seq_len") if isinstance(task, dict) else None


def read_run(folder: Path, plan: dict, now: float, stalled_s: float) -> Run:
    names = set(os.listdir(folder))
    run = Run(folder.name, **plan.get(folder.name, {}))
    summary = read_summary(folder) if "summary.json" in names else None
    status = (summary or {}).get("status")
    if summary and status in FINAL:
        run.state, run.outcome = "finished", status
        run.method = str(summary.get("method") or run.method)
        run.step = summary.get("steps")
        if isinstance(summary.get("wall_time_s"), (int, float)) and summary["wall_time_s"] > 0:
            run.wall = summary["wall_time_s"]  # for the rates of methods with nothing training
        return run
    if status == "failed":
        run.state, run.outcome = "failed", "failed"
        run.method = str(summary.get("method") or run.method)
        return run
    holder = claim_holder(folder) if CLAIM in names else None
    begun = bool(names & {"metrics.csv", CHECKPOINT}) or status == "interrupted"
    if (holder is None and not begun) or (holder is not None and "metrics.csv" not in names):
        return run  # waiting: nothing trained yet, or claimed by a sweep but not handed to a worker yet
    _progress(run, folder, now, stalled_s)
    fresh = status is None and CLAIM not in names and run.age is not None and run.age < stalled_s
    if holder is not None or fresh:
        run.state = "training"  # a claim alive, or no claim nor summary but fresh rows (`ltd-bench run`)
    else:
        run.state, run.outcome, run.stalled = "stopped", status or "killed", False
    if run.state == "stopped":
        run.rate = None  # the rate it had: not what it trains at now
    if run.method == "?" or run.budget is None or run.seq_len is None:  # a run sweep.json has no plan for
        _config(run, folder)
    return run


def _is_run_folder(p: Path) -> bool:
    return any((p / f).exists() for f in ("config.yaml", "summary.json", "metrics.csv", CLAIM))


def sweep_folders(root: Path) -> list[Path]:
    """`root` itself when it is a sweep folder (sweep.json, or run folders in it), else those under it."""

    def is_sweep(p: Path) -> bool:
        if (p / "sweep.json").is_file():
            return True
        return any(c.is_dir() and _is_run_folder(c) for c in p.iterdir())

    if is_sweep(root):
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and is_sweep(p))


def read_sweep(path: Path, stalled_s: float = STALLED_S, now: float | None = None) -> Sweep:
    now = time.time() if now is None else now
    try:
        manifest = json.loads((path / "sweep.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    ids = [r for r in manifest.get("runs", []) if isinstance(r, str)] if isinstance(manifest, dict) else []
    plan = {}
    for rid, p in (manifest.get("plan") or {}).items() if isinstance(manifest, dict) else []:
        if isinstance(p, dict):
            plan[rid] = {"method": str(p.get("method", "?")), "budget": p.get("steps")}
            plan[rid] |= {k: p[k] for k in ("seed", "seq_len") if isinstance(p.get(k), int)}
    sw = Sweep(str(manifest.get("name") or path.name) if isinstance(manifest, dict) else path.name, path)
    seen = set()
    with os.scandir(path) as it:
        for e in sorted(it, key=lambda e: e.name):
            if e.is_dir() and _is_run_folder(Path(e.path)):
                sw.runs.append(read_run(Path(e.path), plan, now, stalled_s))
                seen.add(e.name)
    for rid in ids:
        if rid not in seen:
            if rid in plan:
                sw.runs.append(Run(rid, **plan[rid]))
            else:
                sw.unknown_waiting += 1
    return sw


def read_status(root: Path, stalled_s: float = STALLED_S) -> list[Sweep]:
    return [read_sweep(p, stalled_s) for p in sweep_folders(root)]


# ---------------------------------------------------------------------------------------- rendering
def duration(s: float | None) -> str:
    """45s, 12m, 3h05, 2d04h; '–' when unknown."""
    if s is None or not math.isfinite(s):
        return "–"
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _n(v) -> str:
    """12,500 as 12.5k: step counts in a narrow column."""
    if v is None:
        return "–"
    return f"{v / 1e6:.3g}M" if v >= 1e6 else f"{v / 1e3:.3g}k" if v >= 1e4 else str(int(v))


RUN_FIT = {"short": {"budget": "of"}, "drop": ("seed", "T", "run")}


def render(sweeps: list[Sweep], console, root: Path):
    """Per sweep: a line of totals with its ETA, runs per method and state, and its training and stopped
    runs one by one (stalled ones first)."""
    from rich.console import Group
    from rich.text import Text

    from .fit import SIMPLE, Fit, fitted

    parts = []
    if not sweeps:
        parts.append(Text(f"no sweep or run folders under {root}"))
    for sw in sweeps:
        n = len(sw.runs) + sw.unknown_waiting
        counts = {s: sw.count(s) for s in STATES}
        counts["waiting"] += sw.unknown_waiting
        rate = sum(r.rate or 0 for r in sw.runs if r.state == "training")
        parts.append(Text.assemble((sw.name, "bold"), (f"  {sw.path}", "dim")))
        parts.append(Text(f"{n} runs: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v)))
        if rate:
            parts.append(
                Text(f"{rate:,.0f} updates/s in all; ETA {duration(sw.eta())} if no run stops early")
            )
        rows = []
        for m in sw.methods:
            solved = sum(r.method == m and r.outcome == "solved" for r in sw.runs)
            rows.append([m, *(str(sw.count(s, m)) for s in STATES[:1]), str(solved)])
            rows[-1] += [str(sw.count(s, m)) for s in STATES[1:]]
        if sw.unknown_waiting:
            rows.append(["(not begun)", "0", "0", "0", "0", str(sw.unknown_waiting), "0"])
        header = ["method", "finished", "solved", "training", "stopped", "waiting", "failed"]
        parts.append(fitted(console, header, rows, Fit(breaks={"method": (" (",)}), **SIMPLE))
        busy = sorted(
            (r for r in sw.runs if r.state in ("training", "stopped")),
            key=lambda r: (r.state != "training", not r.stalled, -(r.eta or 0), r.run_id),
        )
        if busy:
            rows = [
                [
                    r.run_id,
                    r.method,
                    "–" if r.seq_len is None else str(r.seq_len),
                    "–" if r.seed is None else str(r.seed),
                    _n(r.step),
                    _n(r.budget),
                    "–" if r.error is None else f"{r.error:.3f}",
                    "–" if r.rate is None else f"{r.rate:.0f}",
                    duration(r.eta) if r.state == "training" else "–",
                    _state(r),
                ]
                for r in busy
            ]
            header = ["run", "method", "T", "seed", "step", "budget", "error", "upd/s", "ETA", "state"]
            fit = Fit(**RUN_FIT, breaks={"method": (" (",)})
            parts.append(fitted(console, header, rows, fit, style=_style, **SIMPLE))
        parts.append(Text(""))
    return Group(*parts)


def _state(r: Run) -> str:
    if r.state == "stopped":
        return r.outcome or "stopped"
    if r.stalled:
        return f"stalled {duration(r.age)}"
    return "training" if r.step is not None else "starting"


def _style(column: str, value: str) -> str:
    return {"stalled": "bold red", "killed": "yellow", "interrupted": "yellow"}.get(value.split(" ")[0], "")


def status_command(root: Path, watch: bool, interval: float, stalled_s: float, console, err_console) -> int:
    """`ltd-bench status`: 0, or 2 when DIR is not a folder. --watch redraws every `interval` s until Ctrl-C."""
    if not root.is_dir():
        err_console.print(
            f"error: {root} is not a folder of sweeps or runs", style="red", markup=False, soft_wrap=True
        )
        return 2
    if not watch:
        console.print(render(read_status(root, stalled_s), console, root))
        return 0
    from rich.live import Live

    with Live(console=console, auto_refresh=False, screen=False) as live:
        try:
            while True:
                live.update(render(read_status(root, stalled_s), console, root), refresh=True)
                time.sleep(interval)
        except KeyboardInterrupt:
            pass
    return 0
