"""`ltd-bench bench --pack K`: packs (pack.py) against one run, the torch-op floor and a peer.

Per T and with Ω off and on, interleaved in bench's round-robin (bench_timing): the single run's step
(Trainer.step, as `ltd-bench run` trains) and `pack.Pack.step` of K runs (what `ltd-bench sweep`
trains; K = 1 is the pack engine with one run), in ms and run-steps per second; `speedup` is the single
step's time over the pack's per run-step (goal ≥ PACK_GOAL), and each Ω pack row's ratio is its time
over the plain pack of the same K (goal ≤ PACK_OMEGA_GOAL). Beside them, per K (Ω off):
- floor_K: the torch-op floor of the pack's step (bench_floor.py: its products and elementwise passes
  timed alone); each pack row shows it and its time over it (goal ≤ FLOOR_GOAL for plain packs; an Ω
  row's ratio is over the same floor, so it includes Ω's own cost).
- peer_K: the same K runs as a torch.func ensemble (bench_peer.py, plain SGD); each plain pack row
  shows the peer's time over its own (goal ≥ PEER_GOAL).
Goals hold from PACK_GOAL_FROM runs. `update` picks how the packs' runs clip and step (batched.py:
per_run, batched, auto = the device's default; "both" times each, the batched rows named *_batched).
"""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from . import batched
from .bench_floor import Floor
from .bench_peer import Peer
from .bench_timing import (
    OMEGA_WEIGHT,
    Measure,
    Setup,
    finish,
    fmt,
    header,
    pack_steps,
    result_table,
    timed,
    train_steps,
)
from .config import Config
from .pack import Pack
from .train import Trainer

PACK_GOAL = 1.35  # run-steps per second of a pack over the single run's, on one thread
PACK_OMEGA_GOAL = 1.10  # a pack's step with Ω over its plain step
FLOOR_GOAL = 1.3  # a plain pack's step over the torch-op floor of its ops
PEER_GOAL = 2.0  # the torch.func ensemble's time per run-step over a plain pack's
PACK_GOAL_FROM = (
    8  # the goals hold from this pack size (a pack of 1 is never trained: train_runs steps it alone)
)
PACK_SEQ_LENS = [100, 200]  # `bench --pack` without --seq-len
PACK_TEST_SIZE = 100  # held-out sequences of the timed packs' runs (built, not timed)


def updates_of(update: str, device: torch.device) -> list[str]:
    """The update paths to time: "both", or the one `update` resolves to on `device`."""
    return ["per_run", "batched"] if update == "both" else [batched.resolve(update, device)]


def pack_measures(seq_len: int, setup: Setup, sizes: list[int], update: str = "auto") -> list[Measure]:
    """Per Ω off/on: the single run's step, and a Pack of K runs (seeds 0..K-1) per size K (and update
    path), each timed per run-step over at least `setup.steps` run-steps; per K with Ω off, the floor and
    the peer."""
    ms, steps, paths = [], setup.steps, updates_of(update, setup.device)
    for alpha in (0.0, OMEGA_WEIGHT):
        suffix = "_omega" if alpha else ""

        def cfg(seed: int, alpha=alpha) -> Config:
            return setup.config("rnn", seq_len, alpha=alpha, test_size=PACK_TEST_SIZE, seed=seed)

        single = Trainer(cfg(0))

        ms.append(Measure(f"single{suffix}", lambda tr=single, a=alpha: train_steps(tr, steps, a)))
        for k in sizes:
            n = -(-steps // k)  # pack steps: at least `steps` run-steps
            for path in paths:
                p = Pack([Trainer(cfg(seed)) for seed in range(k)], update=path)
                tag = "_batched" if path == "batched" and len(paths) > 1 else ""

                ms.append(Measure(f"pack_{k}{tag}{suffix}", lambda p=p, n=n, a=alpha: pack_steps(p, n, a)))
            if alpha:
                continue
            task = single.task
            shape = (k, seq_len, setup.batch, task.input_size, setup.hidden, task.output_size)
            floor = Floor(*shape, device=setup.device, steps=n)
            ms.append(Measure(f"floor_{k}", floor.run, extra=floor))
            peer = Peer([cfg(seed) for seed in range(k)], setup.device)

            def run_peer(peer=peer, n=n) -> int:
                for _ in range(n):
                    peer.step()
                return n * len(peer)

            ms.append(Measure(f"peer_{k}", run_peer))
    return ms


def bench_pack(
    seq_lens: list[int], setup: Setup, sizes: list[int], update: str, csv: Path | None, console: Console
) -> int:
    info = header(console, setup, "ltd-bench bench --pack")
    paths = updates_of(update, setup.device)
    console.print(
        f"vanilla tanh RNN on adding, H={setup.hidden}, batch {setup.batch}, SGD + norm clipping; packs of "
        f"{', '.join(map(str, sizes))} runs ({' and '.join(paths)} update) against one run, the torch-op floor "
        f"and a torch.func peer; {setup.repeats} repeats × ≥ {setup.steps} run-steps, interleaved; medians; "
        "load average: "
        + (" ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"),
        highlight=False,
    )
    rows: list[dict] = []
    notes: list[str] = []
    with console.status("benchmarking") as st:
        for T in seq_lens:
            ms = pack_measures(T, setup, sizes, update)
            for m in list(ms):  # warm-up; a pack's first step also checks it against the single runs
                try:
                    m.run()
                except Exception as e:  # torch.func may lack a rule for a device's RNN kernel: no peer
                    if not m.name.startswith("peer_"):
                        raise
                    ms.remove(m)
                    notes.append(f"{m.name} (T={T}) left out: {type(e).__name__}: {str(e)[:200]}")
            for m in ms:  # the floor's breakdown: timed repeats only
                if isinstance(m.extra, Floor):
                    m.extra.times = {name: [] for name in m.extra.times}
            for r in range(setup.repeats):
                st.update(f"T={T}: repeat {r + 1}/{setup.repeats}")
                for m in ms:
                    timed(m, setup.device)
            rows += pack_rows(ms, T, setup.device, paths)
            notes.append(floor_note(ms, T))
            del ms
    table = render_pack(rows)
    code = finish(rows, setup, info, table, csv, console)
    for note in notes:
        console.print(note, highlight=False, soft_wrap=True)
    return code


def floor_note(ms: list[Measure], seq_len: int) -> str:
    """Where the floor of the largest pack goes: each op's share of it."""
    f = max((m.extra for m in ms if isinstance(m.extra, Floor)), key=lambda f: f.K)
    per = {name: statistics.median(ts) / f.K for name, ts in f.times.items()}
    total = sum(per.values())
    parts = ", ".join(f"{name} {v / total:.0%}" for name, v in sorted(per.items(), key=lambda x: -x[1])[:6])
    return f"floor of a pack of {f.K} at T={seq_len}: {total:.3g} ms per run-step; {parts}"


def _parts(name: str) -> tuple[str, int | None, bool, bool]:
    """(kind, K, batched, Ω) of a measure name: single[_omega], pack_K[_batched][_omega], floor_K, peer_K."""
    bits = name.split("_")
    k = int(bits[1]) if len(bits) > 1 and bits[1].isdigit() else None
    return bits[0], k, "batched" in bits, name.endswith("_omega")


def pack_rows(ms: list[Measure], seq_len: int, device: torch.device, paths: list[str]) -> list[dict]:
    """One row per measure: ms and CPU ms per run-step, run-steps per second; for packs the speedup over
    the single run (same Ω), for Ω packs the ratio to the plain pack of that K and path, the floor of
    that K and the time over it, for plain packs the peer's time over the pack's; goals from K = 8."""
    med = {m.name: statistics.median(m.wall) for m in ms}
    rows = []
    for m in ms:
        kind, k, is_batched, omega_on = _parts(m.name)
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
            "update": "",
            "floor_ms": math.nan,
            "floor_ratio": math.nan,
            "floor_goal": math.nan,
            "peer_ratio": math.nan,
            "peer_goal": math.nan,
        }
        oks = []
        goals = k is not None and k >= PACK_GOAL_FROM
        if kind == "pack":
            row["update"] = "batched" if is_batched or paths == ["batched"] else "per_run"
            row["speedup"] = med["single_omega" if omega_on else "single"] / med[m.name]
            floor = med[f"floor_{k}"]
            row.update(floor_ms=floor, floor_ratio=med[m.name] / floor)
            if goals:
                row["speedup_goal"] = PACK_GOAL
                oks.append(row["speedup"] >= PACK_GOAL)
            if omega_on:
                den = m.name.removesuffix("_omega")
                row.update(ratio=med[m.name] / med[den], ratio_to=den)
                if goals:
                    row["goal"] = PACK_OMEGA_GOAL
                    oks.append(row["ratio"] <= PACK_OMEGA_GOAL)
            else:
                row["peer_ratio"] = med.get(f"peer_{k}", math.nan) / med[m.name]
                if goals:
                    row["floor_goal"] = FLOOR_GOAL
                    oks.append(row["floor_ratio"] <= FLOOR_GOAL)
                if goals and f"peer_{k}" in med:
                    row["peer_goal"] = PEER_GOAL
                    oks.append(row["peer_ratio"] >= PEER_GOAL)
        row["ok"] = ("yes" if all(oks) else "no") if oks else ""
        rows.append(row)
    return rows


def render_pack(rows: list[dict]) -> Table:
    t = result_table(
        "ltd-bench bench --pack (medians; per run-step)",
        f"speedup: the single run's ms ÷ the pack's per run-step (goal ≥ {PACK_GOAL:g}); Ω cost: the Ω "
        f"pack's ms ÷ the plain pack's (goal ≤ {PACK_OMEGA_GOAL:g}); ÷ floor: the pack's ms ÷ the floor row's "
        f"(the torch ops of its step timed alone; goal ≤ {FLOOR_GOAL:g}, plain packs; Ω rows over the same floor); "
        f"peer ÷: the peer row's ms (torch.func ensemble, plain SGD, no clipping) ÷ the plain pack's (goal ≥ {PEER_GOAL:g}); goals from "
        f"{PACK_GOAL_FROM} runs; batched K: a pack of K with the batched update (--update both)",
        padding=(0, 1, 0, 0),  # one space between columns: the table fits 80 columns
    )
    t.add_column("T", justify="right", no_wrap=True)
    t.add_column("Ω", no_wrap=True)
    t.add_column("runs", justify="right", no_wrap=True)
    for c in ("ms", "run-steps/s", "speedup", "Ω cost", "÷ floor", "peer ÷", "ok"):
        t.add_column(c, justify="right", no_wrap=True)
    label = {"single": "single", "pack": "pack of {}", "floor": "floor of {}", "peer": "peer of {}"}
    for r in rows:
        ok = {"yes": "[green]yes[/green]", "no": "[red]no[/red]"}.get(r["ok"], "")
        kind = r["measure"].split("_")[0]
        t.add_row(
            str(r["seq_len"]),
            "on" if r["measure"].endswith("_omega") else "off",
            label[kind].format(r["pack"]) if "_batched" not in r["measure"] else f"batched {r['pack']}",
            fmt(r["median_ms_per_step"]),
            fmt(r["run_steps_per_s"], 4),
            fmt(r["speedup"]),
            fmt(r["ratio"]),
            fmt(r["floor_ratio"]),
            fmt(r["peer_ratio"]),
            ok,
        )
    return t
