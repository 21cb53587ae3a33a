"""What is read back from a run folder is checked before it is used: run folders are shared, copied,
synced and hand-edited, and checkpoints live for days. One place for every check, so that the report,
load_runs, sweeps, `run` and anything else reading a folder judge it the same way:

    config_of(config, run_id)        the folder's config.yaml must hash to the folder's run id
    summary_problems(summary, cfg)   summary.json's fields typed and in range for that config
    seal / unseal                    a checkpoint's bytes with a digest, the run id and the config's hash
    read_capped, read_npz            reads that stop at a size the config implies, before decompressing

Every failure is a ValueError (or a list of reasons) of one line that says what is wrong, never a crash.
A run whose budget was extended or that was trained in several sessions passes like any other: only
what is in the folder now is judged, never how it got there.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

from .bounded import read_fd
from .config import Config, NOT_IN_RUN_ID
from .tasks import task_of

SWEEP_JSON_BYTES = 64 << 20  # a sweep.json lists its run ids, 16 bytes each: millions of runs fit
SUMMARY_BYTES = 1 << 20  # a summary.json is ~1 KB; a note or an error message never reaches a MiB
ROW_BYTES = 1024  # a metrics.csv row is ~200 bytes; generous, so only junk is refused
EXTRA_ROWS = 16  # besides one row per evaluation: step 0, the last step, a diverged run's last row, an
# off-grid evaluation where a budget was extended; slack, as these bound memory rather than judge


# -------------------------------------------------------------------------------------- the config
def config_hash(cfg: Config) -> str:
    """SHA-256 (64 hex digits) of the run-defining resolved config: what the run id is the prefix of."""
    d = cfg.to_dict()
    for section, key in NOT_IN_RUN_ID:
        d[section].pop(key, None)
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def config_of(config: dict, run_id: str) -> Config:
    """The folder's config.yaml as a Config whose run id is the folder's; ValueError otherwise (a config
    edited after the run, or a folder renamed or copied under another run's id)."""
    from pydantic import ValidationError

    try:
        cfg = Config.model_validate(config)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(map(str, first["loc"])) or "(top level)"
        raise ValueError(f"config.yaml: {where}: {first['msg']} ({e.error_count()} problem(s))") from None
    if cfg.run_id != run_id:
        raise ValueError(
            f"config.yaml hashes to run id {cfg.run_id}, not the folder's {run_id} "
            "(edited after the run, or another run's folder)"
        )
    return cfg


def max_evals(cfg: Config) -> int:
    """The most metrics rows (and gradient-flow entries) a run of this config writes."""
    return cfg.train.steps // cfg.train.eval_every + EXTRA_ROWS


def max_len(cfg: Config) -> int:
    """The longest sequence a run of this config feeds its net: the task's own (copying adds 2 copy_len
    steps to T, a jittered task a tenth), not task.seq_len."""
    return task_of(cfg.task).max_len()


# ------------------------------------------------------------------------------------- the summary
STATUS_FIELDS = {"solved", "unsolved", "diverged", "interrupted", "failed"}
STEP_FIELDS = ("steps_to_solve", "steps", "diverged_at_step")  # integral, 0 ≤ v ≤ train.steps
COUNT_FIELDS = ("nonfinite_grad_steps", "packed", "threads")  # integral, ≥ 0
RATE_FIELDS = ("test_error", "best_test_error", "baseline_error")  # finite, in [0, 1]
NUMBER_FIELDS = ("test_loss", "baseline_loss", "final_omega", "wall_time_s")  # finite (wall time ≥ 0)


def _integral(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def summary_problems(summary: dict, cfg: Config, run_id: str) -> list[str]:
    """What is wrong with summary.json's fields for a run of `cfg` in folder `run_id` (empty: nothing).
    Absent or null optional fields are fine: a failed run has few."""
    s, budget, why = summary, cfg.train.steps, []
    status = s.get("status")
    if status not in STATUS_FIELDS:
        return [f"status {status!r} not one of {'|'.join(sorted(STATUS_FIELDS))}"]
    if s.get("run_id") not in (None, run_id):
        why.append(f"run_id {s.get('run_id')!r} is not the folder's {run_id}")
    for k in STEP_FIELDS:
        v = s.get(k)
        if v is not None and not (_integral(v) and 0 <= v <= budget):
            why.append(f"{k} {v!r} is not a whole number of steps in [0, {budget}] (train.steps)")
    for k in COUNT_FIELDS:
        v = s.get(k)
        if v is not None and not (_integral(v) and v >= 0):
            why.append(f"{k} {v!r} is not a whole number >= 0")
    for k in RATE_FIELDS:
        v = s.get(k)
        if v is not None and not (_number(v) and 0 <= v <= 1):
            why.append(f"{k} {v!r} is not a finite fraction in [0, 1]")
    for k in NUMBER_FIELDS:
        v = s.get(k)
        if v is not None and not (_number(v) and (k != "wall_time_s" or v >= 0)):
            why.append(f"{k} {v!r} is not a finite number" + (" >= 0" if k == "wall_time_s" else ""))
    if status == "solved" and s.get("steps_to_solve") is None:
        why.append("status solved but steps_to_solve is null")
    if status in ("unsolved", "diverged") and s.get("steps_to_solve") is not None:
        why.append(f"status {status} but steps_to_solve is {s['steps_to_solve']!r}")
    return why


def parse_json(data: bytes) -> object:
    """Strict JSON: NaN and ±Infinity are not JSON, and none of our writers produce them."""

    def refuse(name: str):
        raise ValueError(f"{name} is not a number JSON allows")

    return json.loads(data, parse_constant=refuse)


# --------------------------------------------------------------------------------------- bounded reads
def read_capped(file: Path, cap: int) -> bytes:
    """A file's bytes, refused (ValueError) beyond `cap` bytes: checked by size first, then by reading at
    most cap + 1 bytes (a file that grows meanwhile, or a FIFO, cannot make it read more). OSError as
    open() raises it (a directory: IsADirectoryError)."""
    fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC)  # like open(): waits for a FIFO's writer
    try:
        st = os.fstat(fd)
        if st.st_size > cap:
            raise ValueError(f"{file.name} is {st.st_size:,} bytes, beyond the {cap:,} it can need")
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(file))
        data = read_fd(fd, st.st_size, cap)
    finally:
        os.close(fd)
    if len(data) > cap:
        raise ValueError(f"{file.name} is more than the {cap:,} bytes it can need")
    return data


def read_npz(file: Path, max_elements: int) -> dict[str, np.ndarray]:
    """An .npz of plain numeric arrays, each at most `max_elements` elements. Each member's .npy header is
    read first (a few hundred bytes decompressed); a shape beyond the limit, an object dtype or a member
    whose declared size exceeds what its shape needs is refused before its data is decompressed."""
    from numpy.lib import format as npformat

    out = {}
    try:
        with zipfile.ZipFile(file) as z:
            infos = z.infolist()
            if len(infos) > 64:
                raise ValueError(f"{len(infos)} members; a run writes a handful")
            for info in infos:
                name = info.filename.removesuffix(".npy")
                if info.file_size > max_elements * 8 + 4096:  # the zip's own record, before opening
                    raise ValueError(f"{name} unpacks to {info.file_size:,} bytes, beyond its config's")
                with z.open(info) as f:
                    version = npformat.read_magic(f)
                    read_header = (
                        npformat.read_array_header_1_0
                        if version == (1, 0)
                        else npformat.read_array_header_2_0
                    )
                    shape, fortran, dtype = read_header(f)
                    n = math.prod(shape)
                    if dtype.hasobject or dtype.kind not in "biuf":
                        raise ValueError(f"{name} has dtype {dtype}, not plain numbers")
                    if n > max_elements:
                        raise ValueError(
                            f"{name} has shape {shape}, beyond the {max_elements:,} values its config implies"
                        )
                    data = f.read(n * dtype.itemsize)
                if len(data) != n * dtype.itemsize:
                    raise ValueError(f"{name} is truncated")
                arr = np.frombuffer(data, dtype=dtype)
                out[name] = arr.reshape(shape[::-1]).T.copy() if fortran else arr.reshape(shape).copy()
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from None
    except ValueError:
        raise
    return out


# ----------------------------------------------------------------------------------------- checkpoints
MAGIC = (
    b"ltd-bench checkpoint 2\n"  # then one JSON line (run id, config hash, digest), then torch.save's bytes
)


def seal(payload: bytes, run_id: str, cfg_hash: str) -> bytes:
    """The bytes of a checkpoint file: a header naming the run and its config, and a SHA-256 digest over
    both and the payload, so that a flipped byte, an edited field or another run's file is noticed."""
    head = {"run_id": run_id, "config_sha256": cfg_hash, "bytes": len(payload)}
    head["sha256"] = _digest(head, payload)
    return MAGIC + json.dumps(head, sort_keys=True).encode() + b"\n" + payload


def unseal(data: bytes, run_id: str, cfg_hash: str) -> bytes:
    """The payload of a sealed checkpoint of this run and config; ValueError saying why not."""
    if not data.startswith(MAGIC):
        raise ValueError("not a verified checkpoint (no header: damaged, or written by an older version)")
    line, sep, payload = data[len(MAGIC) :].partition(b"\n")
    try:
        head = parse_json(line) if sep else None
    except (ValueError, UnicodeDecodeError):
        head = None
    if not isinstance(head, dict) or not all(
        isinstance(head.get(k), str) for k in ("run_id", "config_sha256", "sha256")
    ):
        raise ValueError("damaged header")
    if head.get("bytes") != len(payload):
        raise ValueError(f"holds {len(payload):,} of {head.get('bytes')!r} bytes (truncated or padded)")
    if head["sha256"] != _digest({k: v for k, v in head.items() if k != "sha256"}, payload):
        raise ValueError("digest mismatch (damaged or edited)")
    if head["run_id"] != run_id:
        raise ValueError(f"belongs to another run ({head['run_id']}, not {run_id})")
    if head["config_sha256"] != cfg_hash:
        raise ValueError("was written for another config than this folder's")
    return payload


def _digest(head: dict, payload: bytes) -> str:
    h = hashlib.sha256(json.dumps(head, sort_keys=True).encode())
    h.update(payload)
    return h.hexdigest()


def checkpoint_cap(cfg: Config) -> int:
    """The most bytes a checkpoint of this config can need: weights with the optimizer's moments, the
    metrics rows and the gradient-flow arrays so far, plus room for the rest (generators, bookkeeping)."""
    h, n = cfg.model.hidden_size, 4 if cfg.model.type == "lstm" else 1
    params = n * h * (h + 64) + 64 * h  # inputs and outputs of the tasks are at most a few dozen wide
    return 16 * 4 * params + max_evals(cfg) * (ROW_BYTES + 16 * max_len(cfg)) + (64 << 20)
