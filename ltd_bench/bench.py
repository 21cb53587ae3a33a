"""`ltd-bench bench`: what Ω, the trainer and the data cost, measured side by side.

Every measure runs in this one process, interleaved: each repeat visits every measure once, in a
fixed round-robin order, so slow drifts of a shared machine (other jobs, thermal state) hit all of
them alike; the table reports medians over repeats and ratios of medians.

Measures, per sequence length T (vanilla tanh RNN on `adding`, SGD lr 0.01, norm clipping at 1):
- step: one `Trainer.step` without Ω (the code path of `ltd-bench run`), ms per step.
- step_omega_book / step_omega_pascanu2013: the same step with Ω (α = 1), either form; ratio to step.
- step_naive_omega: the same step with Ω from `omega.naive_omega` (Python-unrolled RNN, g_t by
  autograd with create_graph, a second backward through the unrolled graph): the reference cost.
- data_generation: `task.sample` alone, ratio to step.
- peak_mem_step / peak_mem_omega_book: peak tensor memory of one step above what was held before it
  (MB). CPU: the running total of bytes allocated minus freed through PyTorch's CPU allocator, as
  recorded by torch.profiler(profile_memory=True); the BPTT scratch buffers (models.Workspace) are
  dropped first, so they count. CUDA: torch.cuda.max_memory_allocated after a reset.
- bare_loop_rnn / bare_loop_lstm: a hand-written PyTorch loop (fused nn.RNN / nn.LSTM, the adding
  data drawn inline, SGD, clip_grad_norm_), N steps from building the model to the last update.
- run_loop_rnn / run_loop_lstm: `train.train()` — what `ltd-bench run` executes, minus writing
  files — for the same N = 4 × eval_every steps at the default eval_every: building the Trainer and
  the held-out set, evaluation + probe at steps 0, 250, ..., N (5 evaluations per 1000 steps where a
  long run has 4: conservative), results packaging. Ratio to the bare loop. The loop measures run
  at the shortest T only (the trainer's overhead scales with T like the step does).
With `--pack K` (repeatable) the bench times packs instead (pack.py): per T and with Ω off and on, the
single run's step (Trainer.step, as `ltd-bench run` trains) against `pack.Pack.step` of K runs (what
`ltd-bench sweep` trains; K = 1 is the pack engine with one run), interleaved in the same round-robin,
in ms and run-steps per second; `speedup` is the single step's time over the pack's per run-step (goal
≥ PACK_GOAL), and each Ω pack row's ratio is its time over the plain pack of the same K (goal
≤ PACK_OMEGA_GOAL); goals from PACK_GOAL_FROM runs.
The process runs with train()'s settings: train.threads (default 1; bench_command's `threads`)
intra-op threads, subnormals flushed (models.flush_denormals) — the bare loops too, so they differ
from the trainer in code only. Columns: median wall ms per step (perf_counter; ratios and goals use
these) and median process-CPU ms per step (steadier on a shared machine; CPU only); on CUDA every
timing is bracketed by torch.cuda.synchronize.
"""

from __future__ import annotations

import contextlib
import csv as csv_module
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from rich import box
from rich.console import Console
from rich.table import Table

from . import choices
from .config import Config, TrainConfig
from .models import WORKSPACE, training_threads
from .omega import naive_omega
from .registry import did_you_mean
from .train import Trainer, train

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
]
OMEGA_WEIGHT = 1.0  # Ω weight of the timed Ω steps (the cost does not depend on it)
EVAL_EVERY = TrainConfig.model_fields["eval_every"].default
LOOP_STEPS = (
    4 * EVAL_EVERY
)  # N of the loop measures: evaluations at 0, 1, 2, 3, 4 × eval_every (5 where a long run has 4)


PACK_GOAL = 1.35  # run-steps per second of a pack over the single run's, on one thread
PACK_OMEGA_GOAL = 1.10  # a pack's step with Ω over its plain step
PACK_GOAL_FROM = (
    8  # the goals hold from this pack size (a pack of 1 is never trained: train_runs steps it alone)
)
PACK_SEQ_LENS = [100, 200]  # `bench --pack` without --seq-len
PACK_TEST_SIZE = 100  # held-out sequences of the timed packs' runs (built, not timed)


def omega_goal(seq_len: int) -> float:
    """The goal for Ω's cost: Ω step / plain step ≤ 1.25 at T=200, ≤ 1.15 at T=1000 (used for T ≥ 1000)."""
    return 1.15 if seq_len >= 1000 else 1.25


@dataclass
class Measure:
    name: str
    run: Callable[[], int]  # does the work, returns the number of steps (or calls) it did
    warmup: Callable[[], object] | None = None  # first-call costs (imports, allocations); default: run()
    wall: list[float] = field(default_factory=list)  # ms per step, one entry per repeat
    cpu: list[float] = field(default_factory=list)


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


def naive_step(tr: Trainer, alpha: float, form: str) -> None:
    """Trainer.step with Ω from the naive reference: plain forward/backward, then Ω by a Python-unrolled
    RNN and a second backward through it (create_graph), added before clipping."""
    x, y = tr.task.sample(tr.cfg.train.batch_size, tr.data_gen)
    tr.opt.zero_grad(set_to_none=False)
    out, _ = tr.model(x)
    tr.task.loss(out, y).backward()
    omega = naive_omega(tr.model, x, y, lambda o: tr.task.loss(o, y), form)
    (alpha * omega).backward()
    if tr.clip().apply:
        tr.opt.step()


def bare_loop(
    kind: str, seq_len: int, hidden: int, batch: int, steps: int, device: torch.device, seed: int = 0
) -> None:
    """The hand-written baseline: what one would write in plain PyTorch for the adding problem."""
    torch.manual_seed(seed)
    gen = torch.Generator(device).manual_seed(seed + 1)
    rnn = (torch.nn.RNN if kind == "rnn" else torch.nn.LSTM)(2, hidden).to(device)
    head = torch.nn.Linear(hidden, 1).to(device)
    params = [*rnn.parameters(), *head.parameters()]
    opt = torch.optim.SGD(params, lr=0.01)
    ar, half = torch.arange(batch, device=device), seq_len // 2
    for _ in range(steps):
        vals = torch.rand(seq_len, batch, generator=gen, device=device)
        p0 = torch.randint(0, half, (batch,), generator=gen, device=device)
        p1 = torch.randint(half, seq_len, (batch,), generator=gen, device=device)
        marker = torch.zeros(seq_len, batch, device=device)
        marker[p0, ar] = 1.0
        marker[p1, ar] = 1.0
        x, y = torch.stack([vals, marker], -1), vals[p0, ar] + vals[p1, ar]
        opt.zero_grad()
        hs, _ = rnn(x)
        loss = F.mse_loss(head(hs[-1]).squeeze(-1), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()


# --------------------------------------------------------------------------------------- memory
def peak_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Peak of tensor bytes allocated by fn() above what was allocated when it started (see module doc)."""
    WORKSPACE.clear()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(path))
        events = json.loads(path.read_text()).get("traceEvents", [])
    mem = sorted(
        (e for e in events if e.get("name") == "[memory]" and e.get("args", {}).get("Device Type", 0) == 0),
        key=lambda e: e["ts"],
    )
    if not mem:
        return 0
    # "Total Allocated" is the profiler's running count since the process began profiling: the peak
    # during fn() is its maximum minus the count just before fn()'s first allocation
    base = mem[0]["args"]["Total Allocated"] - mem[0]["args"]["Bytes"]
    return max(0, max(e["args"]["Total Allocated"] for e in mem) - base)


@contextlib.contextmanager
def _quiet_stderr():
    """The profiler's C++ side logs start/stop lines straight to file descriptor 2: mute it meanwhile."""
    try:
        sys.stderr.flush()
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved), os.close(null)


# ------------------------------------------------------------------------------------------ timing
def timed(m: Measure, device: torch.device) -> None:
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    sync()
    w0, c0 = time.perf_counter(), time.process_time()
    n = m.run()
    sync()
    m.wall.append((time.perf_counter() - w0) * 1e3 / n)
    m.cpu.append((time.process_time() - c0) * 1e3 / n)


def measures_for(seq_len: int, setup: Setup, loops: bool) -> tuple[list[Measure], dict]:
    steps = setup.steps
    mk = lambda **kw: setup.config("rnn", seq_len, **kw)
    plain, book, pasc, naive = (
        Trainer(mk()),
        Trainer(mk(alpha=OMEGA_WEIGHT)),
        Trainer(mk(alpha=OMEGA_WEIGHT, form="pascanu2013")),
        Trainer(mk()),
    )
    naive_steps = max(1, steps // 4)  # ~10× a step: fewer of them per repeat, same per-step median

    def steps_of(tr: Trainer, alpha: float) -> Callable[[], int]:
        def run() -> int:
            for _ in range(steps):
                tr.step(alpha)
            return steps

        return run

    def naive_run() -> int:
        for _ in range(naive_steps):
            naive_step(naive, OMEGA_WEIGHT, "book")
        return naive_steps

    def data_run() -> int:
        for _ in range(steps):
            plain.task.sample(setup.batch, plain.data_gen)
        return steps

    ms = [
        Measure("step", steps_of(plain, 0.0)),
        Measure("step_omega_book", steps_of(book, OMEGA_WEIGHT)),
        Measure("step_omega_pascanu2013", steps_of(pasc, OMEGA_WEIGHT)),
        Measure("step_naive_omega", naive_run),
        Measure("data_generation", data_run),
    ]
    if loops:
        n, shape = setup.loop_steps, (seq_len, setup.hidden, setup.batch)
        for kind in ("rnn", "lstm"):
            cfg = setup.config(
                kind, seq_len, steps=n, eval_every=setup.loop_eval_every, test_size=setup.test_size
            )
            short = setup.config(kind, seq_len, steps=2, eval_every=1, test_size=setup.test_size)
            ms.append(
                Measure(
                    f"bare_loop_{kind}",
                    lambda k=kind: bare_loop(k, *shape, n, setup.device) or n,
                    warmup=lambda k=kind: bare_loop(k, *shape, 2, setup.device),
                )
            )
            ms.append(
                Measure(f"run_loop_{kind}", lambda c=cfg: train(c) and n, warmup=lambda c=short: train(c))
            )
    mem = {"peak_mem_step": lambda: plain.step(0.0), "peak_mem_omega_book": lambda: book.step(OMEGA_WEIGHT)}
    return ms, mem


RATIOS = {  # measure: (denominator, goal or None)
    "step_omega_book": ("step", omega_goal),
    "step_omega_pascanu2013": ("step", omega_goal),
    "step_naive_omega": ("step", None),
    "data_generation": ("step", lambda T: 0.05),
    "run_loop_rnn": ("bare_loop_rnn", lambda T: 1.10),
    "run_loop_lstm": ("bare_loop_lstm", lambda T: 1.10),
    "peak_mem_omega_book": ("peak_mem_step", lambda T: 1.3),
}


def bench_seq_len(seq_len: int, setup: Setup, loops: bool, status: Callable[[str], None]) -> list[dict]:
    device, repeats = setup.device, setup.repeats
    ms, mem = measures_for(seq_len, setup, loops)
    for m in ms:  # warm-up: first-call costs (imports, allocator, kernels) stay out of the medians
        (m.warmup or m.run)()
    for r in range(repeats):
        status(f"T={seq_len}: repeat {r + 1}/{repeats}")
        for m in ms:
            timed(m, device)
    peaks = {}
    for name in mem:  # the median of a few, interleaved (profiling is slow: not timed)
        peaks[name] = []
    for _ in range(3):
        for name, fn in mem.items():
            peaks[name].append(peak_bytes(fn, device) / 2**20)
    rows = {
        m.name: {
            "measure": m.name,
            "seq_len": seq_len,
            "median_ms_per_step": statistics.median(m.wall),
            "cpu_ms_per_step": statistics.median(m.cpu) if device.type == "cpu" else math.nan,
            "peak_mb": math.nan,
        }
        for m in ms
    }
    for name, values in peaks.items():
        rows[name] = {
            "measure": name,
            "seq_len": seq_len,
            "median_ms_per_step": math.nan,
            "cpu_ms_per_step": math.nan,
            "peak_mb": statistics.median(values),
        }
    order = [
        "step",
        "step_omega_book",
        "step_omega_pascanu2013",
        "step_naive_omega",
        "data_generation",
        "peak_mem_step",
        "peak_mem_omega_book",
        "bare_loop_rnn",
        "run_loop_rnn",
        "bare_loop_lstm",
        "run_loop_lstm",
    ]
    out = []
    for name in (n for n in order if n in rows):
        row = rows[name]
        row.update(ratio=math.nan, ratio_to="", goal=math.nan, ok="")
        if name in RATIOS:
            den, goal = RATIOS[name]
            key = "peak_mb" if name.startswith("peak") else "median_ms_per_step"
            row["ratio"] = row[key] / rows[den][key] if rows.get(den, {}).get(key) else math.nan
            row["ratio_to"] = den
            if goal is not None:
                row["goal"] = goal(seq_len)
                row["ok"] = "yes" if row["ratio"] <= row["goal"] else "no"
        out.append(row)
    return out


# ---------------------------------------------------------------------------------------- command
def bench_command(
    seq_lens: list[int],
    hidden: int,
    batch: int,
    device: str,
    repeats: int,
    steps: int,
    csv: Path | None,
    quick: bool,
    console: Console,
    threads: int | None = None,
    pack: list[int] | None = None,
    measures: Callable[[list[int], Setup, Path | None, Console], int] | None = None,
) -> int:
    """Run the benchmark, print the table, optionally write CSV. Exit code: 0 done, 2 bad usage.
    seq_lens None: 200 and 1000, or with `pack` (pack sizes K) PACK_SEQ_LENS. `measures`: another bench
    to run with this command's checks and setup instead (e.g. bench_models.bench_orthogonal)."""
    from .train import resolve_device

    if device not in choices.DEVICES:
        hint = (
            " (did you mean 'cuda'?)"
            if device.lower() == "gpu"
            else did_you_mean(device, list(choices.DEVICES))
        )
        console.print(
            f"[red]error[/red] --device: unknown device {device!r}{hint} (allowed: {', '.join(choices.DEVICES)})",
            soft_wrap=True,
        )
        return 2
    try:
        dev = resolve_device(device)
    except (RuntimeError, ValueError) as e:
        console.print(f"[red]error[/red] --device: {e}")
        return 2
    if measures and pack:
        console.print("[red]error[/red] --orthogonal and --pack are separate benches: choose one")
        return 2
    seq_lens = seq_lens or (PACK_SEQ_LENS if pack else [200, 1000])
    if quick and pack:  # a smoke test of the pack measures: the smallest shapes that pack
        seq_lens, hidden, batch, repeats, steps = [12], 10, 20, 2, 2
    loops = {}
    if quick and not pack:  # a smoke test: tiny everything, still every measure
        seq_lens, hidden, batch, repeats, steps = [12], 8, 4, 2, 2
        loops = dict(loop_steps=8, loop_eval_every=2, test_size=20)
    bad = [t for t in seq_lens if t < 2]
    if bad or not seq_lens:
        console.print(f"[red]error[/red] --seq-len must be ≥ 2 (got {bad or 'none'})")
        return 2
    threads = threads or TrainConfig.model_fields["threads"].default
    setup = Setup(hidden, batch, dev, threads, repeats, steps, **loops)
    if pack:
        from .pack import pack_key

        sizes = sorted(set(pack))
        unpackable = [T for T in seq_lens if pack_key(setup.config("rnn", T)) is None]
        if any(k < 1 for k in sizes) or unpackable:
            why = (
                "--pack sizes must be ≥ 1"
                if any(k < 1 for k in sizes)
                else (
                    f"H={hidden}, batch {batch} do not pack (pack.pack_key: batch × hidden a multiple of 4, and "
                    "batch × hidden × 2 inputs ≥ 400)"
                )
            )
            console.print(f"[red]error[/red] {why}", soft_wrap=True)
            return 2
        with training_threads(threads):
            return _bench_pack(seq_lens, setup, sizes, csv, console)
    with training_threads(threads):  # as train() does; restored afterwards
        if measures is not None:
            return measures(seq_lens, setup, csv, console)
        return _bench(seq_lens, setup, csv, console)


def _bench(seq_lens: list[int], setup: Setup, csv: Path | None, console: Console) -> int:
    info = _header(console, setup, "ltd-bench bench")
    console.print(
        f"vanilla tanh RNN on adding, H={setup.hidden}, batch {setup.batch}, SGD + norm clipping; {setup.repeats} "
        f"repeats × {setup.steps} steps (loops: {setup.loop_steps} steps at T={min(seq_lens)}), interleaved; medians",
        highlight=False,
    )
    rows: list[dict] = []
    with console.status("benchmarking") as st:
        for T in seq_lens:
            rows += bench_seq_len(T, setup, T == min(seq_lens), lambda s: st.update(s))
    return _finish(rows, setup, info, render(rows, setup.device), csv, console)


def _header(console: Console, setup: Setup, what: str) -> dict:
    info = machine(setup.device)
    console.print(
        f"[bold]{what}[/bold] · {info['cpu']} ({info['cores']} cores) · torch {info['torch']} · "
        f"{info['threads']} thread(s) · device {info['device']}{' · ' + info['gpu'] if info['gpu'] else ''}"
    )
    return info


def _finish(
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
    console.print("all goals met" if not missed else f"[yellow]goals missed[/yellow]: {', '.join(missed)}")
    if csv is not None:
        write_csv(rows, csv)
        console.print(f"wrote {csv}")
    return 0


# --------------------------------------------------------------------------------------- packs
def pack_measures(seq_len: int, setup: Setup, sizes: list[int]) -> list[Measure]:
    """Per Ω off/on: the single run's step, and a Pack of K runs (seeds 0..K-1) per size K, each timed
    per run-step over at least `setup.steps` run-steps."""
    from .pack import Pack

    ms, steps = [], setup.steps
    for alpha in (0.0, OMEGA_WEIGHT):
        suffix = "_omega" if alpha else ""

        def cfg(seed: int, alpha=alpha) -> Config:
            return setup.config("rnn", seq_len, alpha=alpha, test_size=PACK_TEST_SIZE, seed=seed)

        single = Trainer(cfg(0))

        def run_single(tr=single, alpha=alpha) -> int:
            for _ in range(steps):
                tr.step(alpha)
            return steps

        ms.append(Measure(f"single{suffix}", run_single))
        for k in sizes:
            p = Pack([Trainer(cfg(seed)) for seed in range(k)])
            n = -(-steps // k)  # pack steps: at least `steps` run-steps

            def run_pack(p=p, n=n, alpha=alpha) -> int:
                for _ in range(n):
                    p.step([alpha] * len(p))
                return n * len(p)

            ms.append(Measure(f"pack_{k}{suffix}", run_pack))
    return ms


def _bench_pack(
    seq_lens: list[int], setup: Setup, sizes: list[int], csv: Path | None, console: Console
) -> int:
    info = _header(console, setup, "ltd-bench bench --pack")
    console.print(
        f"vanilla tanh RNN on adding, H={setup.hidden}, batch {setup.batch}, SGD + norm clipping; packs of "
        f"{', '.join(map(str, sizes))} runs against one run; {setup.repeats} repeats × ≥ {setup.steps} run-steps, "
        "interleaved; medians; load average: "
        + (" ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"),
        highlight=False,
    )
    rows: list[dict] = []
    with console.status("benchmarking") as st:
        for T in seq_lens:
            ms = pack_measures(T, setup, sizes)
            for m in ms:  # warm-up; a pack's first step also checks it against the single runs (pack.Pack)
                m.run()
            for r in range(setup.repeats):
                st.update(f"T={T}: repeat {r + 1}/{setup.repeats}")
                for m in ms:
                    timed(m, setup.device)
            rows += pack_rows(ms, T, setup.device)
            del ms
    return _finish(rows, setup, info, render_pack(rows), csv, console)


def pack_rows(ms: list[Measure], seq_len: int, device: torch.device) -> list[dict]:
    """One row per measure: ms and CPU ms per run-step, run-steps per second, the speedup over the single
    run (same Ω) with its goal from K = 8 on, and for Ω packs the ratio to the plain pack of that K."""
    med = {m.name: statistics.median(m.wall) for m in ms}
    rows = []
    for m in ms:
        omega_on = m.name.endswith("_omega")
        k = int(m.name.split("_")[1]) if m.name.startswith("pack_") else None
        row = {
            "measure": m.name,
            "seq_len": seq_len,
            "median_ms_per_step": med[m.name],
            "cpu_ms_per_step": statistics.median(m.cpu) if device.type == "cpu" else math.nan,
            "peak_mb": math.nan,
            "pack": k if k is not None else "",
            "run_steps_per_s": 1e3 / med[m.name],
            "ratio": math.nan,
            "ratio_to": "",
            "goal": math.nan,
            "speedup": math.nan,
            "speedup_goal": math.nan,
            "ok": "",
        }
        oks = []
        if k is not None:
            row["speedup"] = med["single_omega" if omega_on else "single"] / med[m.name]
            if k >= PACK_GOAL_FROM:
                row["speedup_goal"] = PACK_GOAL
                oks.append(row["speedup"] >= PACK_GOAL)
            if omega_on:
                den = f"pack_{k}"
                row.update(ratio=med[m.name] / med[den], ratio_to=den)
                if k >= PACK_GOAL_FROM:
                    row["goal"] = PACK_OMEGA_GOAL
                    oks.append(row["ratio"] <= PACK_OMEGA_GOAL)
        row["ok"] = ("yes" if all(oks) else "no") if oks else ""
        rows.append(row)
    return rows


def render_pack(rows: list[dict]) -> Table:
    t = Table(
        title="ltd-bench bench --pack (medians; per run-step)",
        title_justify="left",
        caption=f"speedup: the single run's ms ÷ the pack's per run-step (goal ≥ {PACK_GOAL:g}); Ω cost: the Ω "
        f"pack's ms ÷ the plain pack's (goal ≤ {PACK_OMEGA_GOAL:g}); goals from {PACK_GOAL_FROM} runs",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    t.add_column("T", justify="right")
    t.add_column("Ω")
    t.add_column("runs", justify="right")
    for c in ("ms", "cpu ms", "run-steps/s", "speedup", "Ω cost", "ok"):
        t.add_column(c, justify="right", no_wrap=True)
    for r in rows:
        ok = {"yes": "[green]yes[/green]", "no": "[red]no[/red]"}.get(r["ok"], "")
        t.add_row(
            str(r["seq_len"]),
            "on" if r["measure"].endswith("_omega") else "off",
            f"pack of {r['pack']}" if r["pack"] != "" else "single",
            _fmt(r["median_ms_per_step"]),
            _fmt(r["cpu_ms_per_step"]),
            _fmt(r["run_steps_per_s"], 4),
            _fmt(r["speedup"]),
            _fmt(r["ratio"]),
            ok,
        )
    return t


def _fmt(v, digits: int = 3) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.{digits}g}"
    return str(v)


def render(rows: list[dict], device: torch.device) -> Table:
    dens = ", ".join(f"{m} ÷ {d}" for m, (d, _) in RATIOS.items())
    t = Table(
        title="ltd-bench bench (medians; ms per step, MB peak)",
        title_justify="left",
        caption=f"ratio: {dens}",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    t.add_column("measure", no_wrap=True, min_width=22)
    for c in ("T", "ms", "cpu ms", "MB", "ratio", "goal", "ok"):
        t.add_column(c, justify="right", no_wrap=True)
    for r in rows:
        ok = {"yes": "[green]yes[/green]", "no": "[red]no[/red]"}.get(r["ok"], "")
        goal = f"≤ {r['goal']:g}" if not math.isnan(r["goal"]) else ""
        t.add_row(
            r["measure"],
            str(r["seq_len"]),
            _fmt(r["median_ms_per_step"]),
            _fmt(r["cpu_ms_per_step"]),
            _fmt(r["peak_mb"]),
            _fmt(r["ratio"]),
            goal,
            ok,
        )
    return t


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
