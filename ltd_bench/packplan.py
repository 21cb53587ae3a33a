"""Which runs train together in a pack (pack.py trains them): what they must share (pack_key), how many
fit (max_size), and the grouping of a sweep's runs (plan). No torch: a sweep's dry run plans its packs
without starting it (torch is imported only where a run's device is "auto")."""

from __future__ import annotations

import json
import math
from typing import Sequence

from .config import Config
from .tasks import task_of

__all__ = [
    *("ALIGN", "BUFFERS", "CPU_SIZE", "CUDA_SIZE", "MEMORY_BYTES", "SMALL"),
    *("device_of", "max_size", "pack_key", "parse_size", "plan"),
]
CPU_SIZE = 32  # runs per pack on a CPU core: the measured knee of run-steps per second (bench --pack)
CUDA_SIZE = 1024  # on a GPU: enough runs per product to leave the launch-bound regime
MEMORY_BYTES = 2 << 30  # the BPTT buffers of one pack stay under this (the pack is made smaller)
# MKL's products can differ in the last bit when an operand moves by less than 16 bytes (measured: K = 50,
# N <= 8, any M), so a pack keeps every run's per-step blocks where a single run has them modulo 16 bytes:
# batch × hidden and batch × inputs must be multiples of ALIGN floats.
ALIGN = 4
SMALL = 400  # ATen computes batched products of fewer multiply-adds per matrix with a loop of its own
BUFFERS = 6  # (L, B, H) tensors per run in a pack step: h, f', δ (or g), the read-out's gradient, temporaries


def pack_key(cfg: Config) -> str | None:
    """What runs must share to train in one pack (as a string), or None when the run does not pack."""
    if cfg.model.type not in ("rnn", "orthogonal"):
        return None
    task = task_of(cfg.task)
    if task.max_len() != task.seq_len + task.extra_len:  # lengths that vary between batches
        return None
    b, h, i = cfg.train.batch_size, cfg.model.hidden_size, task.input_size
    if (b * h) % ALIGN or (b * i) % ALIGN:  # each run's per-step blocks aligned as when alone
        return None
    if b * h * min(h, i) < SMALL:  # batched products this small take ATen's own loop, not the BLAS
        return None
    t = {k: v for k, v in cfg.task.model_dump(mode="json").items() if not k.startswith("test_")}
    reg = cfg.regularizer
    key = {
        "task": t,
        "model": [cfg.model.hidden_size, cfg.model.nonlinearity]
        + (["orthogonal", cfg.model.orthogonal_map] if cfg.model.type == "orthogonal" else []),
        "train": [cfg.train.batch_size, cfg.train.device, cfg.train.threads],
        "omega": reg.form if reg.omega_weight > 0 else None,
    }
    return json.dumps(key, sort_keys=True)


def max_size(cfg: Config, device: str) -> int:
    """The largest pack for this run's shapes on `device` ("cpu" or "cuda"): CPU_SIZE or CUDA_SIZE, less
    where one run's BPTT buffers would take a pack over MEMORY_BYTES."""
    task = task_of(cfg.task)
    per_run = BUFFERS * task.max_len() * cfg.train.batch_size * cfg.model.hidden_size * 4
    size = CUDA_SIZE if device == "cuda" else CPU_SIZE
    return max(1, min(size, MEMORY_BYTES // max(per_run, 1)))


def device_of(cfg: Config) -> str:
    """Where the run will train: train.device, with auto resolved here."""
    if cfg.train.device == "auto":
        import torch  # here: the one question needing torch, asked only where a run says "auto"

        return "cuda" if torch.cuda.is_available() else "cpu"
    return cfg.train.device


def parse_size(value: str | int) -> str | int:
    """`--pack`: "auto", "off" or a size K >= 1; ValueError says what is allowed."""
    text = str(value).strip().lower()
    if text in ("auto", "off"):
        return text
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise ValueError(f"--pack: {value!r} is not auto, off or a number of runs >= 1")
    return k


def plan(cfgs: Sequence[Config], size: str | int, workers: int) -> list[list[int]]:
    """Group runs into packs: lists of indices into `cfgs`, ordered by their first run. size: "off" (each
    run alone), a number K (compatible runs K at a time, in as few packs as that allows, of sizes as
    equal as can be), or "auto": K = max_size for the device, less only where there would be fewer
    packs and lone runs than `workers` (each group then splits into an equal share of the missing ones).
    Runs of one shape may share one Config object (compact.shapes: only the sections are read here), so
    a sweep of 50,000 runs computes a pack key per shape."""
    if size in ("off", 1):
        return [[i] for i in range(len(cfgs))]
    groups: dict[str, list[int]] = {}
    out: list[list[int]] = []
    keys: dict[int, str | None] = {}  # per object: a sweep passes one Config per shape (compact.shapes)
    for i, c in enumerate(cfgs):
        if id(c) not in keys:
            keys[id(c)] = pack_key(c)
        key = keys[id(c)]
        if key is None:
            out.append([i])
        else:
            groups.setdefault(key, []).append(i)
    # packs per group that keep every worker busy: more runs per pack are faster per run-step
    share = math.ceil(max(0, workers - len(out)) / len(groups)) if groups else 1
    for idx in groups.values():
        k = size
        if size == "auto":
            first = cfgs[idx[0]]
            k = min(max_size(first, device_of(first)), math.ceil(len(idx) / max(1, share)))
        n = math.ceil(len(idx) / k)
        out += [idx[j * len(idx) // n : (j + 1) * len(idx) // n] for j in range(n)]
    return sorted(out, key=lambda p: p[0])
