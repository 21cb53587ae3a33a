"""Sweeps: one YAML expands to many validated run configs (methods × grid × zip), run resumably.

    name: clip_threshold            # runs go to OUT/<name>/<run_id>/
    base: ../quickstart.yaml         # or an inline mapping of config sections
    methods: {rnn+clip: {clipping.mode: norm}, lstm+clip: {model.type: lstm, clipping.mode: norm}}
    grid: {clipping.threshold: [0.1, 1, 10], seed: [0, 1, 2]}     # cartesian product
    zip: {task.seq_len: [20, 50], train.steps: [2000, 8000]}      # paired, equal lengths

Each run = base + name + method overrides (+ `method: <label>`) + grid/zip values + --set. Every run is
validated before anything starts; a finished run (outputs.is_finished) is never trained again.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from .config import (
    Config,
    ConfigError,
    apply_overrides,
    dotted_get,
    flatten,
    method_of,
    run_id_of,
    set_dotted,
    validate_dict,
)
from .extend import Siblings, describe
from .outputs import (
    atomic_write,
    finished,
    run_dir,
)
from . import compact, tboard
from . import exclude as exclusions
from .comparisons import Comparison
from .comparisons import parse as parse_comparison
from .registry import did_you_mean, shown
from .trust import SWEEP_JSON_BYTES, read_capped
from .yamlio import YamlError, read_yaml

if TYPE_CHECKING:
    from .jobs import Job

SWEEP_KEYS = ["name", "base", "methods", "grid", "zip", "exclude", "compare"]
RUN_KEYS = {"seed", "task", "model", "train", "clipping", "regularizer"}  # sections of a run config
# keys no run config has: they make a YAML file a sweep
MARKERS = {"base", "methods", "grid", "zip", "compare"}
MAX_RUNS = (
    100_000  # more runs than a cluster trains in a month at these sizes: surely a typo; --max-runs raises it
)
DRY_RUN_ROWS = 500  # a dry run lists its runs in a table up to this many; past it, a line per method
PACK_SIZES_SHOWN = 3  # pack sizes named in the sweep's opening lines (the most common ones)
RESERVED = {"name": "every run is named after the sweep", "method": "set by the methods: labels"}


@dataclass(frozen=True, slots=True)
class SweepRun:
    resolved: dict  # config.to_dict(), its sections shared with other runs (compact.py): read, never change
    label: str  # the method label (the sweep's, or derived: rnn+clip, ...)
    keys: dict  # swept dotted key -> resolved value
    run_id: str = ""  # config.run_id, computed once (a sweep of 50,000 runs asks for it often)

    @property
    def config(self) -> Config:
        """The run's validated Config, built afresh at each call: a sweep keeps none (compact.py)."""
        return compact.config(self.resolved)


@dataclass
class Sweep:
    name: str
    path: Path
    runs: list[SweepRun]
    grid_keys: list[str] = field(default_factory=list)
    zip_keys: list[str] = field(default_factory=list)
    methods: dict[str, dict] = field(default_factory=dict)
    duplicates: int = 0  # expanded points whose config equalled an earlier one (same run_id)
    excluded: int = 0  # expanded points left out by the sweep file's exclude: entries
    compare: list = field(default_factory=list)  # declared comparisons as sweep.json records them

    def manifest(self) -> dict:
        return {
            "name": self.name,
            "grid_keys": self.grid_keys,
            "zip_keys": self.zip_keys,
            "methods": self.methods,
            "runs": [r.run_id for r in self.runs],
            "compare": self.compare,
            "plan": {r.run_id: _planned(r) for r in self.runs},  # what `ltd-bench status` shows
        }


def _planned(r: SweepRun) -> dict:
    c = r.resolved
    return {
        "method": r.label,
        "steps": c["train"]["steps"],
        "seed": c["seed"],
        "seq_len": c["task"]["seq_len"],
    }


# ------------------------------------------------------------------------------------------- loading
def is_sweep_file(path: Path | str) -> bool:
    """A readable YAML mapping with a sweep-only key; anything else is left to load_config to judge."""
    try:
        raw = read_yaml(Path(path))
    except YamlError:
        return False
    return isinstance(raw, dict) and bool(MARKERS & set(raw))


def _axes(raw: Any, where: str, src: str, errors: list[str]) -> dict[str, list]:
    """A grid: or zip: section: dotted key -> non-empty list."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(f"{src}: {where}: expected a mapping of dotted.key: [values], got {type(raw).__name__}")
        return {}
    axes = {}
    for k, v in raw.items():
        key = str(k)
        if key in RESERVED:
            errors.append(f"{src}: {where}.{key}: cannot be swept ({RESERVED[key]})")
        elif not isinstance(v, list):
            errors.append(
                f"{src}: {where}.{key}: expected a list of values, got {shown(v)} ({type(v).__name__})"
            )
        elif not v:
            errors.append(f"{src}: {where}.{key}: empty list (an axis needs at least one value)")
        else:
            axes[key] = v
    return axes


def _methods(raw: Any, src: str, errors: list[str]) -> dict[str, dict]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        errors.append(f"{src}: methods: expected a mapping of label: {{dotted.key: value}}, got {shown(raw)}")
        return {}
    out = {}
    for label, over in raw.items():
        over = {} if over is None else over
        if not isinstance(over, dict):
            errors.append(
                f"{src}: methods.{label}: expected a mapping of dotted.key: value, got {shown(over)}"
            )
            continue
        flat = flatten(over)
        for key in RESERVED.keys() & flat.keys():
            errors.append(f"{src}: methods.{label}.{key}: cannot be set by a method ({RESERVED[key]})")
        out[str(label)] = {k: v for k, v in flat.items() if k not in RESERVED}
    return out


def _base(raw: dict, path: Path, errors: list[str]) -> tuple[dict | None, str]:
    """The base config mapping (None if unusable) and how errors coming from it are named."""
    base = raw.get("base")
    if base is None:
        errors.append(
            f"{path}: base: required (a config file relative to this sweep file, or an inline mapping)"
        )
        return None, "base"
    if isinstance(base, dict):
        return base, "base"
    if not isinstance(base, str):
        errors.append(f"{path}: base: expected a file path or a mapping, got {shown(base)}")
        return None, "base"
    file = path.parent / base
    try:
        data = read_yaml(file)
    except YamlError as e:
        errors.append(f"{path}: base: {base}: {e} (looked for {file.resolve()})")
        return None, "base"
    if not isinstance(data, dict):
        errors.append(
            f"{path}: base: {base}: expected a mapping of config sections, got {type(data).__name__}"
        )
        return None, "base"
    return data, f"base {base}"


def load_sweep(path: Path | str, overrides: list[str] = (), max_runs: int = MAX_RUNS) -> Sweep:
    """Expand and validate every run; raise ConfigError listing every problem, each naming file and key.
    The runs are counted before anything is expanded: more than `max_runs` is refused at once."""
    path, errors = Path(path), []
    try:
        raw = read_yaml(path)
    except YamlError as e:
        raise ConfigError([f"{path}: {e}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: (top level): expected a sweep mapping ({', '.join(SWEEP_KEYS)})"])
    if not MARKERS & set(raw) and set(raw) & RUN_KEYS:
        raise ConfigError(
            [f"{path}: is a run config, not a sweep (no base/methods/grid/zip): ltd-bench run {path}"]
        )
    for k in raw:
        if k not in SWEEP_KEYS:
            errors.append(
                f"{path}: {k}: unknown sweep key{did_you_mean(str(k), SWEEP_KEYS)} "
                f"(allowed: {', '.join(SWEEP_KEYS)})"
            )
    name = raw.get("name")
    if not isinstance(name, str):
        errors.append(f"{path}: name: required, a string (runs go to OUT/<name>/), got {shown(name)}")
    base, base_desc = _base(raw, path, errors)
    methods = _methods(raw.get("methods"), str(path), errors)
    compare = _compare(raw.get("compare"), str(path), list(methods) or None, errors)
    grid, zipped = (
        _axes(raw.get("grid"), "grid", str(path), errors),
        _axes(raw.get("zip"), "zip", str(path), errors),
    )
    for k in grid.keys() & zipped.keys():
        errors.append(f"{path}: zip.{k}: also in grid (sweep a key in one place)")
    for label, over in methods.items():
        for k in over.keys() & (grid.keys() | zipped.keys()):
            errors.append(f"{path}: methods.{label}.{k}: also swept by grid/zip, which would overwrite it")
    if len({len(v) for v in zipped.values()}) > 1:
        errors.append(
            f"{path}: zip: lists of different lengths: "
            + ", ".join(f"{k} has {len(v)}" for k, v in zipped.items())
        )
        zipped = {}
    exclude = exclusions.parse(raw.get("exclude"), str(path), {**grid, **zipped}, list(methods), errors)
    errors += exclusions.overridden(exclude, list(overrides), str(path))
    n_runs = max(1, len(methods)) * math.prod(len(v) for v in [*grid.values(), *list(zipped.values())[:1]])
    if n_runs > max_runs:
        sizes = [f"methods: {len(methods)}"] if methods else []
        sizes += [f"grid.{k}: {len(v)}" for k, v in grid.items()]
        sizes += [f"zip ({', '.join(zipped)}): {len(next(iter(zipped.values())))}"] if zipped else []
        errors.append(
            f"{path}: grid: {n_runs:,} runs ({' × '.join(sizes)}), more than --max-runs {max_runs:,}; "
            "sweep fewer values, or raise --max-runs if you mean it"
        )
        raise ConfigError(errors)
    if errors and (base is None or not isinstance(name, str)):
        raise ConfigError(errors)
    try:  # expand what is usable even after structural errors: every problem is reported in one go
        sweep = _expand(path, name, base, base_desc, methods, grid, zipped, list(overrides), exclude)
    except ConfigError as e:
        raise ConfigError(errors + e.errors) from None
    if not methods:  # labels derived from the configs (rnn+clip, ...): known only now
        again: list[str] = []  # the structural errors are in `errors` already: add only the new ones
        compare = _compare(raw.get("compare"), str(path), sorted({r.label for r in sweep.runs}), again)
        errors += [e for e in again if e not in errors]
    if errors:
        raise ConfigError(errors)
    sweep.compare = [c.to_json() for c in compare]
    return sweep


def _compare(raw: Any, src: str, labels: list[str] | None, errors: list[str]) -> list[Comparison]:
    """compare: the comparisons `ltd-bench report` tests, declared before any result exists (syntax:
    comparisons.py). labels None: not checked yet (the methods are derived later)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.append(
            f"{src}: compare: expected a list of [method, reference] pairs or "
            f"{{method, reference, test, family}} mappings, got {shown(raw)}"
        )
        return []
    out = []
    for i, item in enumerate(raw):
        c = parse_comparison(item, f"{src}: compare[{i}]", errors)
        if c is None:
            continue
        if labels is None:
            out.append(c)
            continue
        listed = isinstance(item, list)
        unknown = [(j, m) for j, m in enumerate(c.pair) if m not in labels]
        for j, m in unknown:
            field_ = f"[{j}]" if listed else f".{('method', 'reference')[j]}"
            errors.append(
                f"{src}: compare[{i}]{field_}: unknown method {m!r}{did_you_mean(m, labels)} "
                f"(allowed: {', '.join(labels)})"
            )
        if not unknown and c not in out:
            out.append(c)
    return out


def _expand(
    path: Path,
    name: str,
    base: dict,
    base_desc: str,
    methods: dict[str, dict],
    grid: dict[str, list],
    zipped: dict[str, list],
    overrides: list[str],
    exclude: dict[int, dict] | None = None,
) -> Sweep:
    src = str(path)
    exclude, hits, n_out = exclude or {}, {}, 0  # hits: points each entry names; n_out: points left out
    zip_points = list(zip(*zipped.values(), strict=True)) or [()]
    runs, seen, errors = [], set(), {}  # errors: (path, msg, origin) -> method labels it occurs in
    sections = compact.Sections()
    fixed = {"name": "the sweep's name:", "method": "a methods: label"}
    set_origins = {o.partition("=")[0].strip(): f"--set {o}" for o in overrides}  # applied last: they win
    for label, over in (methods or {None: {}}).items():
        for gvals in itertools.product(*grid.values()):
            for zvals in zip_points:
                points = [*over.items(), *zip(grid, gvals, strict=True), *zip(zipped, zvals, strict=True)]
                if exclude:
                    swept = {"method": label, **dict(points[len(over) :])}
                    if hit := exclusions.excluded(exclude, swept):
                        for i in hit:
                            hits[i] = hits.get(i, 0) + 1
                        n_out += 1
                        continue
                run = {
                    **_copy(base),
                    "name": name,
                    **({"method": label} if label is not None else {}),
                }
                errs: list[str] = []
                for k, v in points:
                    set_dotted(run, k, v, errs, src)
                run, set_errs = apply_overrides(run, overrides) if overrides else (run, [])
                try:
                    cfg = validate_dict(run, src) if not errs + set_errs else None
                except ConfigError as e:
                    errs += e.errors
                    cfg = None
                if errs + set_errs:  # what set each key, for the messages (only then: 50,000 runs)
                    kinds = [f"method '{label}':"] * len(over) + ["grid"] * len(grid) + ["zip"] * len(zipped)
                    origins = (
                        fixed
                        | {k: f"{kind} {k}={shown(v)}" for kind, (k, v) in zip(kinds, points, strict=True)}
                        | set_origins
                    )
                for e in errs + set_errs:
                    key = _attribute(e, src, origins, base_desc)
                    errors.setdefault(key, []).append(label)
                if cfg is None:
                    continue
                resolved = sections.resolved(cfg)  # a swept mapping (task.options) keeps its whole value
                run_id = run_id_of(resolved)
                if run_id in seen:
                    continue
                seen.add(run_id)
                keys = {k: dotted_get(resolved, k) for k in [*grid, *zipped]}
                runs.append(SweepRun(resolved, method_of(cfg), keys, run_id))
    unused = exclusions.unused(exclude, hits, src)
    if errors or unused:
        raise ConfigError([_describe(src, k, labels, list(methods)) for k, labels in errors.items()] + unused)
    n_points = max(1, len(methods)) * len(zip_points) * math.prod(len(v) for v in grid.values())
    return Sweep(
        runs[0].resolved["name"] if runs else name,
        path,
        runs,
        list(grid),
        list(zipped),
        methods,
        duplicates=n_points - n_out - len(runs),
        excluded=n_out,
    )


def _copy(v: Any) -> Any:
    """A copy of a YAML-loaded value (mappings, lists, scalars): deepcopy's generality costs much more
    for the tens of thousands of runs of a big sweep."""
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v if isinstance(v, (str, int, float, bool, type(None))) else copy.deepcopy(v)


def _attribute(error: str, src: str, origins: dict[str, str], base_desc: str) -> tuple[str, str, str]:
    """Split `SRC: dotted.path: msg` and name what set that path (method, grid, zip, --set or base)."""
    if not error.startswith(src + ": "):
        return "", error, ""  # an --set syntax error: already names its source
    where, _, msg = error[len(src) + 2 :].partition(": ")
    hits = [k for k in origins if where == k or where.startswith(k + ".") or k.startswith(where + ".")]
    return where, msg, origins[max(hits, key=len)] if hits else base_desc


def _describe(src: str, key: tuple[str, str, str], labels: list, all_labels: list[str]) -> str:
    where, msg, origin = key
    if not where:
        return msg
    ctx = [f"from {origin}"]
    if all_labels and set(labels) != set(all_labels) and not origin.startswith("method "):
        ctx.append("in method " + ", ".join(f"'{x}'" for x in dict.fromkeys(labels)))
    return f"{src}: {where}: {msg} ({'; '.join(ctx)})"


# ----------------------------------------------------------------------------------------- running
def sweep_command(
    sweep_file: Path,
    out: Path,
    overrides: list[str],
    workers: int | None,
    dry_run: bool,
    executor: str,
    scheduler: str | None,
    progress: bool,
    console: Console,
    err_console: Console,
    executor_options: dict | None = None,
    max_runs: int = MAX_RUNS,
    pack: str | int = "auto",
) -> int:
    """`ltd-bench sweep`: 0 all ran, 1 some run failed, 2 bad sweep/usage (nothing written), 130 interrupted.
    executor_options: make_executor's keyword options (the Dask TLS files, --worker-wait). pack: "auto",
    "off" or K, how compatible runs are packed (pack.plan); each run keeps its own folder either way."""
    try:
        sw = load_sweep(sweep_file, overrides, max_runs=max_runs)
        tboard.check(compact.shapes(r.resolved for r in sw.runs), str(sweep_file))
    except ConfigError as e:
        for msg in e.errors:
            err_console.print(f"[red]error[/red] {escape(msg)}", soft_wrap=True)
        return 2
    # the training side is imported only now; torch itself only when a run trains (not on a dry run)
    from .executors import make_executor
    from .jobs import ExecutorError, Job, default_workers
    from .packplan import parse_size, plan
    from .sweeprun import execute

    try:
        size = parse_size(pack)
        # built on a dry run too (it neither runs nor connects): a dry run refuses what a real run refuses
        ex = make_executor(
            executor,
            workers,
            scheduler,
            **(executor_options or {}),
            notify=lambda msg: err_console.print(msg, soft_wrap=True, markup=False, highlight=False),
        )
    except (ValueError, ExecutorError) as e:
        err_console.print(f"[red]error[/red] {escape(str(e))}", soft_wrap=True)
        return 2
    by_id = {r.run_id: r for r in sw.runs}
    config = lambda run_id: by_id[run_id].config  # built when needed: a sweep keeps no Config per run
    fresh = dry_run and not (out / sw.name).exists()  # nothing done yet: no folder to look at per run
    paths = {} if fresh else _folders(out, sw)
    done = set() if fresh else _done(sw.runs, paths, err_console)
    pending = [r for r in sw.runs if r.run_id not in done]
    dups = f" ({sw.duplicates} duplicate configs dropped)" if sw.duplicates else ""
    dups += f" ({sw.excluded} left out by exclude:)" if sw.excluded else ""
    console.print(
        f"sweep {sw.name}: {len(sw.runs)} runs{dups}, {len(done)} done, {len(pending)} to run → {out / sw.name}",
        soft_wrap=True,
    )
    # a larger budget than a finished run of the same config: begin where that one stopped (extend.py)
    origins = (
        Siblings(out / sw.name, set(by_id)).plan(
            (r.config for r in pending), [paths[r.run_id] for r in pending]
        )
        if pending and not fresh  # a folder that does not exist yet holds no shorter run
        else {}
    )
    if extending := describe(origins):
        console.print(extending, soft_wrap=True, markup=False)
    share = workers or default_workers()  # --pack auto leaves no worker idle

    def units(pending: list[Job]) -> list[list[Job]]:
        shaped = compact.shapes(by_id[j.run_id].resolved for j in pending)
        return [[pending[i] for i in p] for p in plan(shaped, size, share)]

    line = _pack_line([len(u) for u in units(pending) if len(u) > 1])
    if line:
        console.print(line, soft_wrap=True, markup=False)
    if dry_run:
        _dry_run(console, sw, done, sweep_file)
        return 0
    todo = [Job(r.run_id, r.label, _copy(r.resolved), paths[r.run_id], r.keys) for r in pending]
    _write_manifest(out / sw.name / "sweep.json", sw.manifest())
    if not todo:
        return 0
    return execute(ex, todo, units, config, origins, out / sw.name, console, err_console, progress)


def _folders(out: Path, sw: Sweep) -> dict[str, Path]:
    """Run id -> run folder (outputs.run_dir), OUT/<name> resolved once: a run id (hex digits) cannot
    leave it, and a run folder that is a symlink is judged by run_dir itself (it refuses one leading out)."""
    if not sw.runs:
        return {}
    parent = run_dir(out, sw.runs[0].config).parent
    paths = {}
    for r in sw.runs:
        p = parent / r.run_id
        paths[r.run_id] = run_dir(out, r.config) if os.path.islink(p) else p
    return paths


def _done(runs: list[SweepRun], paths: dict[str, Path], err_console: Console) -> set[str]:
    """Run ids of the finished runs a resume may skip; a folder that says it finished but fails its
    checks (outputs.finished) is named in a warning, and trained again."""
    done = set()
    for r in runs:
        ok, why = finished(paths[r.run_id])
        if ok:
            done.add(r.run_id)
        elif why:
            err_console.print(f"warning: not trusted, trained again: {why}", soft_wrap=True, markup=False)
    return done


def _pack_line(packs: list[int]) -> str | None:
    """How pending runs train packed, in one short line however many packs there are."""
    if not packs:
        return None
    sizes = sorted(Counter(packs).items(), key=lambda kv: (-kv[1], -kv[0]))
    shown = ", ".join(f"{n:,} of {k}" if n > 1 else f"1 of {k}" for k, n in sizes[:PACK_SIZES_SHOWN])
    more = f" and {len(sizes) - PACK_SIZES_SHOWN} other size(s)" if len(sizes) > PACK_SIZES_SHOWN else ""
    if len(packs) <= PACK_SIZES_SHOWN:
        shown, more = ", ".join(map(str, packs)), ""
    return (
        f"{sum(packs):,} runs train in {len(packs):,} pack(s) of {shown}{more} "
        "(same numbers as one by one; --pack off)"
    )


def _dry_run(console: Console, sw: Sweep, done: set[str], sweep_file: Path) -> None:
    """The runs as a table, or, past DRY_RUN_ROWS runs, a line per method (a table of 50,000 rows is
    neither read nor cheap to draw)."""
    if len(sw.runs) <= DRY_RUN_ROWS:
        console.print(_plan(sw, done, console))
        return
    per = Counter(r.label for r in sw.runs)
    todo = Counter(r.label for r in sw.runs if r.run_id not in done)
    for label, n in per.items():
        console.print(f"  {label}: {n:,} runs, {todo[label]:,} to run", soft_wrap=True, markup=False)
    console.print(
        f"(no table past {DRY_RUN_ROWS} runs: ltd-bench validate {sweep_file} lists every run id)",
        soft_wrap=True,
        markup=False,
    )


def _plan(sw: Sweep, done: set[str], console: Console):
    from .fit import Fit, fitted

    axes = [*sw.grid_keys, *sw.zip_keys]
    ends = [a.split(".")[-1] for a in axes]  # narrower headers where the last parts are unambiguous
    short = dict(zip(axes, ends, strict=True)) if len(set(ends)) == len(ends) else {}
    rows = [
        [r.run_id, r.label, *(shown(v) for v in r.keys.values()), "done" if r.run_id in done else "todo"]
        for r in sw.runs
    ]
    fit = Fit(short, {"method": (" (",), **{a: (", ",) for a in axes}}, drop=("run_id",))
    return fitted(
        console,
        ["run_id", "method", *axes, "state"],
        rows,
        fit,
        title=f"sweep {sw.name}",
        title_justify="left",
    )


def _write_manifest(path: Path, new: dict) -> None:
    """sweep.json for the report. A folder that earlier sweeps of this name also wrote into keeps their axes,
    methods and the runs they started (those folders are still there), merged in order. An earlier run that
    never started is dropped: the sweep now writing no longer plans it (an `exclude:` added since, a seed
    taken out), and `status` would otherwise count it as waiting for ever."""
    try:
        old = json.loads(read_capped(path, SWEEP_JSON_BYTES))
        merged = {"name": new["name"]}
        for k in ("grid_keys", "zip_keys"):
            merged[k] = list(dict.fromkeys([*old[k], *new[k]]))
        folders = {p.name for p in path.parent.iterdir() if p.is_dir()}
        started = [r for r in old["runs"] if r in new["runs"] or r in folders]
        merged["runs"] = list(dict.fromkeys([*started, *new["runs"]]))
        merged["methods"] = {**old["methods"], **new["methods"]}
        pairs = [*old.get("compare", []), *new.get("compare", [])]
        merged["compare"] = [
            json.loads(p) for p in dict.fromkeys(json.dumps(p, ensure_ascii=False) for p in pairs)
        ]
        kept = set(merged["runs"])
        merged["plan"] = {
            r: p for r, p in {**old.get("plan", {}), **new.get("plan", {})}.items() if r in kept
        }
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or unreadable: start afresh
        merged = new
    atomic_write(path, json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
