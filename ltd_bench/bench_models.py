"""`ltd-bench bench --orthogonal`: the orthogonal RNN's training step against the vanilla RNN's.

Per sequence length T (default ORTHOGONAL_SEQ_LENS), interleaved round-robin like every bench measure
(bench.py): `Trainer.step` of the vanilla tanh RNN (`step_rnn`) and of the orthogonal RNN (`step_orthogonal`:
tanh, matrix_exp, expRNN's henaff init; `_cayley`: the Cayley map; `_modrelu`: modReLU units), each
ratio to step_rnn, the first with the goal ORTHOGONAL_GOAL; and both with Ω (α = 1, book form), the
orthogonal one's ratio to the vanilla one's. The orthogonal step is the vanilla step (the same hand-written
BPTT) plus one exponential of A and its backward (orthogonal.py): its cost is fixed per update, so the ratio
falls with T and rises with H (H³ against T·B·H²).

`ltd-bench bench --orthogonal --pack K` (`bench_orthogonal_packs`): per model of PACK_VARIANTS (the
vanilla RNN beside the orthogonal variants, Ω off), one run's `Trainer.step` against `pack.Pack.step` of K
runs (seeds 0..K-1, what `ltd-bench sweep` trains), in ms per run-step; speedup = the single step's ms ÷
the pack's. No goal: the orthogonal pack batches its exponentials only where that keeps every run's bits
(orthogonal.pack_weights), and the vanilla row says what the same pack engine gives without them.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .bench_timing import (
    OMEGA_WEIGHT,
    Measure,
    Setup,
    finish,
    fmt,
    goal_cells,
    header,
    pack_steps,
    result_table,
    time_interleaved,
    train_steps,
)
from .bench_pack import PACK_TEST_SIZE
from .config import Config
from .train import Trainer

ORTHOGONAL_GOAL = 1.3  # the orthogonal step over the vanilla step at T = 100, one thread
ORTHOGONAL_SEQ_LENS = [100]
VARIANTS = {  # measure: (model fields over the bench's vanilla RNN, Ω on, the step it is compared with)
    "step_rnn": ({}, False, None),
    "step_orthogonal": ({"type": "orthogonal"}, False, "step_rnn"),
    "step_orthogonal_cayley": ({"type": "orthogonal", "orthogonal_map": "cayley"}, False, "step_rnn"),
    "step_orthogonal_modrelu": ({"type": "orthogonal", "nonlinearity": "modrelu"}, False, "step_rnn"),
    "step_rnn_omega": ({}, True, None),
    "step_orthogonal_omega": ({"type": "orthogonal"}, True, "step_rnn_omega"),
}


PACK_VARIANTS = {
    name.removeprefix("step_"): model for name, (model, omega, _) in VARIANTS.items() if not omega
}


def config(setup: Setup, seq_len: int, model: dict, omega: bool, **kw) -> Config:
    """The bench's run (Setup.config: adding, SGD, norm clipping; `kw` its seed, test_size) with `model`'s
    fields over the vanilla RNN's."""
    raw = setup.config("rnn", seq_len, alpha=OMEGA_WEIGHT if omega else 0.0, **kw).to_dict()
    raw["model"].update(model)
    return Config.model_validate(raw)


def run_bench(
    console: Console, setup: Setup, what: str, intro: str, seq_lens: list[int], measures_of, rows_of
):
    """(machine info, rows): per T, the measures `measures_of(T)` timed interleaved, `rows_of(ms, T)`."""
    info = header(console, setup, what)
    console.print(intro, highlight=False)
    rows: list[dict] = []
    with console.status("benchmarking") as st:
        for T in seq_lens:
            ms = measures_of(T)
            time_interleaved(ms, setup, st.update, f"T={T}")  # a pack's first step checks its bits
            rows += rows_of(ms, T)
    return info, rows


def bench_orthogonal(seq_lens: list[int], setup: Setup, csv: Path | None, console: Console) -> int:
    def measures_of(T: int) -> list[Measure]:
        ms = []
        for name, (model, omega, _) in VARIANTS.items():
            tr, alpha = Trainer(config(setup, T, model, omega)), OMEGA_WEIGHT if omega else 0.0
            ms.append(Measure(name, lambda tr=tr, alpha=alpha: train_steps(tr, setup.steps, alpha)))
        return ms

    intro = (
        f"adding, H={setup.hidden}, batch {setup.batch}, SGD + norm clipping; {setup.repeats} repeats × "
        f"{setup.steps} steps, interleaved; medians"
    )
    rows_of = lambda ms, T: ratio_rows(ms, T, setup.device)
    info, rows = run_bench(
        console, setup, "ltd-bench bench --orthogonal", intro, seq_lens, measures_of, rows_of
    )
    return finish(rows, setup, info, render(rows), csv, console)


def ratio_rows(ms: list[Measure], seq_len: int, device) -> list[dict]:
    """One row per measure: median ms per step and its ratio to the step it is compared with."""
    med = {m.name: statistics.median(m.wall) for m in ms}
    rows = []
    for m in ms:
        den = VARIANTS[m.name][2]
        row = {
            "measure": m.name,
            "seq_len": seq_len,
            "median_ms_per_step": med[m.name],
            "cpu_ms_per_step": statistics.median(m.cpu) if device.type == "cpu" else math.nan,
            "peak_mb": math.nan,
            "ratio": med[m.name] / med[den] if den else math.nan,
            "ratio_to": den or "",
            "goal": ORTHOGONAL_GOAL if m.name == "step_orthogonal" else math.nan,
            "ok": "",
        }
        if not math.isnan(row["goal"]):
            row["ok"] = "yes" if row["ratio"] <= row["goal"] else "no"
        rows.append(row)
    return rows


def render(rows: list[dict]) -> Table:
    t = result_table(
        "ltd-bench bench --orthogonal (medians; ms per training step)",
        "ratio: the orthogonal step ÷ the vanilla RNN's (with Ω: ÷ the vanilla RNN's with Ω)",
    )
    t.add_column("measure", no_wrap=True, min_width=24)
    for c in ("T", "ms", "cpu ms", "ratio", "goal", "ok"):
        t.add_column(c, justify="right", no_wrap=True)
    for r in rows:
        goal, ok = goal_cells(r)
        t.add_row(
            r["measure"],
            str(r["seq_len"]),
            fmt(r["median_ms_per_step"]),
            fmt(r["cpu_ms_per_step"]),
            fmt(r["ratio"]),
            goal,
            ok,
        )
    return t


def bench_orthogonal_packs(
    seq_lens: list[int], setup: Setup, sizes: list[int], update: str, csv: Path | None, console: Console
) -> int:
    from . import batched
    from .pack import Pack

    if update == "both":
        console.print(
            "[red]error[/red] --update both: with --orthogonal, one path (auto, per_run or batched)"
        )
        return 2
    path = batched.resolve(update, setup.device)

    def measures_of(T: int) -> list[Measure]:
        ms = []
        for name, model in PACK_VARIANTS.items():
            single = Trainer(config(setup, T, model, False, test_size=PACK_TEST_SIZE))
            ms.append(Measure(f"{name}:single", lambda tr=single: train_steps(tr, setup.steps)))
            for k in sizes:
                runs = [
                    Trainer(config(setup, T, model, False, test_size=PACK_TEST_SIZE, seed=s))
                    for s in range(k)
                ]
                p, n = Pack(runs, update=path), -(-setup.steps // k)  # ≥ setup.steps run-steps
                ms.append(Measure(f"{name}:pack_{k}", lambda p=p, n=n: pack_steps(p, n)))
        return ms

    intro = (
        f"adding, H={setup.hidden}, batch {setup.batch}, SGD + norm clipping, Ω off; packs of "
        f"{', '.join(map(str, sizes))} runs ({path} update) against one run, per model; {setup.repeats} "
        f"repeats × ≥ {setup.steps} run-steps, interleaved; medians"
    )
    rows_of = lambda ms, T: pack_rows(ms, T, setup.device, path)
    what = "ltd-bench bench --orthogonal --pack"
    info, rows = run_bench(console, setup, what, intro, seq_lens, measures_of, rows_of)
    return finish(rows, setup, info, render_packs(rows), csv, console)


def pack_rows(ms: list[Measure], seq_len: int, device, update: str) -> list[dict]:
    """One row per measure: median ms per (run-)step, run-steps per second, a pack's speedup over its
    model's single run."""
    med = {m.name: statistics.median(m.wall) for m in ms}
    rows = []
    for m in ms:
        model, _, kind = m.name.partition(":")
        k = int(kind.removeprefix("pack_")) if kind.startswith("pack_") else 1
        rows.append(
            {
                "measure": m.name,
                "model": model,
                "pack": k if kind != "single" else "",
                "seq_len": seq_len,
                "median_ms_per_step": med[m.name],
                "cpu_ms_per_step": statistics.median(m.cpu) if device.type == "cpu" else math.nan,
                "peak_mb": math.nan,
                "run_steps_per_s": 1e3 / med[m.name],
                "speedup": med[f"{model}:single"] / med[m.name] if kind != "single" else math.nan,
                "goal": math.nan,
                "ok": "",
                "update": update if kind != "single" else "",
            }
        )
    return rows


def render_packs(rows: list[dict]) -> Table:
    t = result_table(
        "ltd-bench bench --orthogonal --pack (medians; per run-step)",
        "speedup: the model's single step ÷ its pack's ms per run-step",
    )
    t.add_column("model", no_wrap=True)
    for c in ("T", "runs", "ms", "cpu ms", "run-steps/s", "speedup"):
        t.add_column(c, justify="right", no_wrap=True)
    for r in rows:
        t.add_row(
            r["model"],
            str(r["seq_len"]),
            str(r["pack"] or 1),
            fmt(r["median_ms_per_step"]),
            fmt(r["cpu_ms_per_step"]),
            fmt(r["run_steps_per_s"], 4),
            fmt(r["speedup"]),
        )
    return t
