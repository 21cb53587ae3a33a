"""What every `ltd-bench bench` measure shares: a Measure (repeated, interleaved, medians), the Setup
of one bench (shape, device, threads, how long), the machine it ran on, the CSV it writes."""

from __future__ import annotations

import csv as csv_module
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from rich import box
from rich.console import Console
from rich.table import Table

from .config import Config, TrainConfig

COLUMNS = [
    "measure",
    "seq_len",
    "median_ms_per_step",
    "cpu_ms_per_step",
    "peak_mb",
    "ratio",
    "ratio_to",
    "goal",
    "ok",
    "hidden",
    "batch",
    "device",
    "threads",
    "repeats",
    "steps",
    "torch",
    "cpu",
    "gpu",
    "pack",
    "run_steps_per_s",
    "speedup",
    "speedup_goal",
    "update",  # packs: how each run's clipping and optimizer step ran (batched.py)
    "floor_ms",  # packs: the torch-op floor of a run-step (bench_floor.py)
    "floor_ratio",
    "floor_goal",
    "peer_ratio",  # packs: the torch.func ensemble's ms per run-step over the pack's (bench_peer.py)
    "peer_goal",
]
OMEGA_WEIGHT = 1.0  # Ω weight of the timed Ω steps (the cost does not depend on it)
EVAL_EVERY = TrainConfig.model_fields["eval_every"].default
LOOP_STEPS = (
    4 * EVAL_EVERY
)  # N of the loop measures: evaluations at 0, 1, 2, 3, 4 × eval_every (5 where a long run has 4)


@dataclass
class Measure:
    name: str
    run: Callable[[], int]  # does the work, returns the number of steps (or calls) it did
    warmup: Callable[[], object] | None = None  # first-call costs (imports, allocations); default: run()
    wall: list[float] = field(default_factory=list)  # ms per step, one entry per repeat
    cpu: list[float] = field(default_factory=list)
    extra: object | None = None  # what the measure keeps for its report (bench_pack: the Floor)


@dataclass(frozen=True)
class Setup:
    """What every measure of one bench shares: the model's shape, where it runs, how long it is timed."""

    hidden: int
    batch: int
    device: torch.device
    threads: int
    repeats: int
    steps: int  # steps (or run-steps) per measure and repeat
    loop_steps: int = LOOP_STEPS  # length of the loop measures (bare_loop_*, run_loop_*)
    loop_eval_every: int | None = None  # run_loop_*'s evaluation interval; None: train.eval_every's default
    test_size: int | None = None  # run_loop_*'s held-out sequences; None: task.test_size's default

    def config(
        self,
        kind: str,
        seq_len: int,
        *,
        alpha: float = 0.0,
        form: str = "book",
        steps: int = LOOP_STEPS,
        eval_every: int | None = None,
        test_size: int | None = None,
        seed: int = 0,
    ) -> Config:
        """A run on `adding` at this shape: SGD 0.01, norm clipping at 1, Ω at weight `alpha`."""
        train_cfg = {
            "batch_size": self.batch,
            "steps": steps,
            "device": self.device.type,
            "threads": self.threads,
        }
        train_cfg |= {"stop_when_solved": False, "optimizer": "sgd", "lr": 0.01}
        if eval_every is not None:
            train_cfg["eval_every"] = eval_every
        task = {"name": "adding", "seq_len": seq_len} | (
            {"test_size": test_size} if test_size is not None else {}
        )
        return Config.model_validate(
            {
                "name": "bench",
                "seed": seed,
                "task": task,
                "model": {"type": kind, "hidden_size": self.hidden},
                "train": train_cfg,
                "clipping": {"mode": "norm", "threshold": 1.0},
                "regularizer": {"omega_weight": alpha, "form": form},
            }
        )


# ------------------------------------------------------------------------------------------ machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else "",
    }


# ------------------------------------------------------------------------------------------ timing
def timed(m: Measure, device: torch.device) -> None:
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    sync()
    w0, c0 = time.perf_counter(), time.process_time()
    n = m.run()
    sync()
    m.wall.append((time.perf_counter() - w0) * 1e3 / n)
    m.cpu.append((time.process_time() - c0) * 1e3 / n)


def train_steps(tr, n: int, alpha: float = 0.0) -> int:
    """n steps of one run's Trainer.step at Ω weight alpha; returns n (a Measure's run)."""
    for _ in range(n):
        tr.step(alpha)
    return n


def pack_steps(p, n: int, alpha: float = 0.0) -> int:
    """n steps of a pack.Pack, every run at Ω weight alpha; returns the run-steps done (n × K)."""
    for _ in range(n):
        p.step([alpha] * len(p))
    return n * len(p)


def time_interleaved(ms: list[Measure], setup: Setup, status: Callable[[str], None], label: str) -> None:
    """Each measure's warm-up (first-call costs), then `setup.repeats` rounds timing every measure once,
    round-robin, so that a drift of the machine falls on all alike (medians taken from m.wall, m.cpu)."""
    for m in ms:
        (m.warmup or m.run)()
    for r in range(setup.repeats):
        status(f"{label}: repeat {r + 1}/{setup.repeats}")
        for m in ms:
            timed(m, setup.device)


def result_table(title: str, caption: str, **style) -> Table:
    """A bench's table: title and caption left-aligned, a simple head rule (`style`: more rich options)."""
    return Table(
        title=title,
        title_justify="left",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        **style,
    )


def header(console: Console, setup: Setup, what: str) -> dict:
    info = machine(setup.device)
    console.print(
        f"[bold]{what}[/bold] · {info['cpu']} ({info['cores']} cores) · torch {info['torch']} · "
        f"{info['threads']} thread(s) · device {info['device']}{' · ' + info['gpu'] if info['gpu'] else ''}"
    )
    return info


def finish(
    rows: list[dict], setup: Setup, info: dict, table: Table, csv: Path | None, console: Console
) -> int:
    """The table, the goals missed, the CSV (every row with the setup and the machine)."""
    extra = {
        "hidden": setup.hidden,
        "batch": setup.batch,
        "device": info["device"],
        "threads": info["threads"],
    }
    extra |= {"repeats": setup.repeats, "steps": setup.steps, "torch": info["torch"], "cpu": info["cpu"]}
    for r in rows:
        r.update(extra, gpu=info["gpu"])
    console.print(table)
    missed = [f"{r['measure']} (T={r['seq_len']})" for r in rows if r["ok"] == "no"]
    if any(r["ok"] for r in rows):  # a bench (or a size) with no goal says nothing about goals
        console.print(
            "all goals met" if not missed else f"[yellow]goals missed[/yellow]: {', '.join(missed)}"
        )
    if csv is not None:
        write_csv(rows, csv)
        console.print(f"wrote {csv}")
    return 0


def fmt(v, digits: int = 3) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.{digits}g}"
    return str(v)


def write_csv(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv_module.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow(
                {
                    k: ("" if isinstance(r.get(k), float) and math.isnan(r[k]) else r.get(k, ""))
                    for k in COLUMNS
                }
            )


def goal_cells(row: dict) -> tuple[str, str]:
    """A row's goal and whether it was met, as table cells ("≤ 1.3", a green yes or a red no)."""
    ok = {"yes": "[green]yes[/green]", "no": "[red]no[/red]"}.get(row["ok"], "")
    return (f"≤ {row['goal']:g}" if not math.isnan(row["goal"]) else ""), ok
