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
With `--pack K` (repeatable) the bench times packs instead: see bench_pack.py.
The process runs with train()'s settings: train.threads (default 1; bench_command's `threads`)
intra-op threads, subnormals flushed (models.flush_denormals) — the bare loops too, so they differ
from the trainer in code only. Columns: median wall ms per step (perf_counter; ratios and goals use
these) and median process-CPU ms per step (steadier on a shared machine; CPU only); on CUDA every
timing is bracketed by torch.cuda.synchronize.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from . import choices
from .batched import UPDATES
from .bench_pack import PACK_SEQ_LENS, bench_pack
from .bench_timing import (
    COLUMNS,
    OMEGA_WEIGHT,
    Measure,
    Setup,
    finish,
    fmt,
    goal_cells,
    header,
    result_table,
    timed,
)
from .config import TrainConfig
from .models import WORKSPACE, training_threads
from .omega import naive_omega
from .registry import did_you_mean
from .train import Trainer, train

__all__ = ["COLUMNS", "bench_command"]


def omega_goal(seq_len: int) -> float:
    """The goal for Ω's cost: Ω step / plain step ≤ 1.25 at T=200, ≤ 1.15 at T=1000 (used for T ≥ 1000)."""
    return 1.15 if seq_len >= 1000 else 1.25


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
# Per-model rows: measure name -> model type, a plain Trainer.step of that model at the bench's shape,
# timed beside `step` (the vanilla RNN's); a model adds its row here and, for a ratio, to RATIOS.
MODEL_STEPS: dict[str, str] = {}


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
    ms += [Measure(m, steps_of(Trainer(setup.config(k, seq_len)), 0.0)) for m, k in MODEL_STEPS.items()]
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
        *MODEL_STEPS,
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
    update: str = "auto",
    pack_measures: Callable | None = None,
) -> int:
    """Run the benchmark, print the table, optionally write CSV. Exit code: 0 done, 2 bad usage.
    seq_lens None: 200 and 1000, or with `pack` (pack sizes K) PACK_SEQ_LENS; `update`: how the packs'
    runs clip and step (batched.UPDATES, or "both" to time each path). `measures`: another bench to run
    with this command's checks and setup instead (e.g. bench_models.bench_orthogonal); `pack_measures`, the
    same with `pack` (bench_models.bench_orthogonal_packs: called with the pack sizes and `update` too)."""
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
    if update not in (*UPDATES, "both"):
        allowed = ", ".join((*UPDATES, "both"))
        console.print(f"[red]error[/red] --update: {update!r} is not one of {allowed}", soft_wrap=True)
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
            if pack_measures is not None:
                return pack_measures(seq_lens, setup, sizes, update, csv, console)
            return bench_pack(seq_lens, setup, sizes, update, csv, console)
    with training_threads(threads):  # as train() does; restored afterwards
        if measures is not None:
            return measures(seq_lens, setup, csv, console)
        return _bench(seq_lens, setup, csv, console)


def _bench(seq_lens: list[int], setup: Setup, csv: Path | None, console: Console) -> int:
    info = header(console, setup, "ltd-bench bench")
    console.print(
        f"vanilla tanh RNN on adding, H={setup.hidden}, batch {setup.batch}, SGD + norm clipping; {setup.repeats} "
        f"repeats × {setup.steps} steps (loops: {setup.loop_steps} steps at T={min(seq_lens)}), interleaved; medians",
        highlight=False,
    )
    rows: list[dict] = []
    with console.status("benchmarking") as st:
        for T in seq_lens:
            rows += bench_seq_len(T, setup, T == min(seq_lens), lambda s: st.update(s))
    return finish(rows, setup, info, render(rows, setup.device), csv, console)


def render(rows: list[dict], device: torch.device) -> Table:
    dens = ", ".join(f"{m} ÷ {d}" for m, (d, _) in RATIOS.items())
    t = result_table("ltd-bench bench (medians; ms per step, MB peak)", f"ratio: {dens}")
    t.add_column("measure", no_wrap=True, min_width=22)
    for c in ("T", "ms", "cpu ms", "MB", "ratio", "goal", "ok"):
        t.add_column(c, justify="right", no_wrap=True)
    for r in rows:
        goal, ok = goal_cells(r)
        t.add_row(
            r["measure"],
            str(r["seq_len"]),
            fmt(r["median_ms_per_step"]),
            fmt(r["cpu_ms_per_step"]),
            fmt(r["peak_mb"]),
            fmt(r["ratio"]),
            goal,
            ok,
        )
    return t
