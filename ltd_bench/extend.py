"""Extending a budget: raise train.steps and a run its budget stopped goes on from where it stopped.

A run id hashes train.steps, so a larger budget (in the sweep file, or `--set train.steps=N`) gives new
run ids and new folders. Nothing in training reads train.steps but the budget's own last evaluation and
the stop, so up to the smaller budget a run with the larger one does exactly what the shorter run did.
A *sibling* is a finished run in the same folder OUT/<name>/ whose config differs only in a smaller
train.steps (the same `lineage`). The longer run then begins from the largest such sibling that allows:

- copy: the sibling stopped before its budget could (diverged, or solved on the eval_every grid with
  stop_when_solved): a longer budget ends the same way at the same step, so the sibling's files are the
  longer run's, copied with its config and run id;
- continue: its budget stopped it, and it kept its state there (final_state.pt: train.py keeps the
  state a longer run has at that step, before the budget's own evaluation when that one is off the
  eval_every grid). The state becomes the longer run's checkpoint.pt, from which it continues as from
  any checkpoint, alone or in a pack: the same metrics, summary and weights as a run trained with the
  larger budget from update 0;
- restart: no kept state (a folder written before ltd-bench kept one, or with --no-weights): the
  longer run trains from update 0, and the command says so.

In reports a longer run supersedes its shorter siblings (`supersede`): per lineage only the largest
budget among the runs counted is read, so an extended sweep is one sweep at its new budget, never two
cells of the same runs. The shorter folders stay on disk, untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .config import Config
from .outputs import (
    CHECKPOINT,
    FINAL,
    FINAL_STATE,
    atomic_write,
    is_finished,
    prepare,
    read_checkpoint,
    read_config,
    read_summary,
    write_checkpoint,
)

if TYPE_CHECKING:
    import pandas as pd

COPIED = ("metrics.csv", "gradient_flow.npz", "model.pt")  # a copied run's files besides config and summary


def lineage(cfg: Config) -> str:
    """The run id with the budget set aside: runs that differ only in train.steps share it."""
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"steps": 1})}).run_id


def stopped_early(summary: dict, cfg: Config) -> bool:
    """The run ended before its budget could end it, at a step a longer budget ends at too."""
    solved_at = summary.get("steps_to_solve")
    on_grid = isinstance(solved_at, int) and solved_at % cfg.train.eval_every == 0
    return summary.get("status") == "diverged" or (
        summary.get("status") == "solved" and cfg.train.stop_when_solved and on_grid
    )


@dataclass(frozen=True)
class Origin:
    """Where a run with a larger budget begins: `kind` copy, continue or restart (module doc)."""

    kind: str
    path: Path  # the sibling's folder
    config: Config  # the sibling's (its final state is sealed with its run id and config)
    steps: int  # the sibling's train.steps


class Siblings:
    """The finished runs of one folder OUT/<name>/ by lineage, read once (config.yaml, summary.json),
    less the runs `skip` names (a sweep's own runs: resuming a sweep reads no config again)."""

    def __init__(self, folder: Path, skip: set[str] = frozenset()):
        self.by_lineage: dict[str, list[tuple[Config, Path, dict]]] = {}
        for d in sorted(folder.iterdir()) if folder.is_dir() else []:
            summary = read_summary(d) if d.name not in skip else None
            if summary is None or summary.get("status") not in FINAL or not is_finished(d):
                continue
            try:
                cfg = Config.model_validate(read_config(d))
            except ValueError:  # a folder this version cannot read as a config is nobody's sibling
                continue
            if cfg.run_id != d.name:  # an edited config.yaml: not the run its folder holds (trust.py)
                continue
            self.by_lineage.setdefault(lineage(cfg), []).append((cfg, d, summary))

    def origin(self, cfg: Config) -> Origin | None:
        """Where `cfg` begins, from its siblings with a smaller budget (largest first); None: none."""
        shorter = [s for s in self.by_lineage.get(lineage(cfg), []) if s[0].train.steps < cfg.train.steps]
        shorter.sort(key=lambda s: -s[0].train.steps)
        for c, d, summary in shorter:
            if stopped_early(summary, c):
                return Origin("copy", d, c, c.train.steps)
            if (d / FINAL_STATE).is_file():
                return Origin("continue", d, c, c.train.steps)
        if shorter:
            c, d, _ = shorter[0]
            return Origin("restart", d, c, c.train.steps)
        return None

    def plan(self, cfgs: Iterable[Config], paths: list[Path]) -> dict[str, Origin]:
        """run id -> Origin for the runs that have a shorter sibling and no checkpoint of their own (one
        that has continues from it: it is further on)."""
        out = {}
        for cfg, path in zip(cfgs, paths, strict=True):
            o = self.origin(cfg) if not (path / CHECKPOINT).is_file() else None
            if o is not None:
                out[cfg.run_id] = o
        return out


def begin(path: Path, cfg: Config, origin: Origin) -> tuple[bool, str]:
    """Make the prepared run folder `path` (config.yaml written) begin where `origin` says. Returns
    (finished: the folder now holds the run's result, what was done in words)."""
    was = f"{origin.config.run_id} (train.steps {origin.steps:,})"
    if origin.kind == "copy":
        for name in COPIED:
            if (origin.path / name).is_file():
                atomic_write(path / name, (origin.path / name).read_bytes())
        summary = json.loads((origin.path / "summary.json").read_text())
        summary["run_id"] = cfg.run_id
        atomic_write(path / "summary.json", json.dumps(summary, indent=2) + "\n")  # as write_result
        return True, f"the result of {was}, which stopped before its budget, copied"
    if origin.kind == "continue":
        state, why = read_checkpoint(origin.path, origin.config, name=FINAL_STATE)
        if state is not None:
            state["run_id"] = cfg.run_id
            write_checkpoint(path, state, cfg)
            return False, f"continues {was} from its final state at step {state['step']:,}"
        return False, f"{why}; trains from update 0"
    return False, f"{was} kept no final state: trains from update 0"


def for_run(path: Path, cfg: Config) -> tuple[bool, str] | None:
    """`ltd-bench run`: begin `cfg` in its folder `path` from a shorter sibling; None when it has none."""
    origin = Siblings(path.parent).origin(cfg)
    if origin is None:
        return None
    prepare(path, cfg)
    return begin(path, cfg, origin)


def describe(plan: dict[str, Origin], target: int | None = None) -> str | None:
    """One line on what a sweep's plan does with shorter siblings; None when there are none."""
    if not plan:
        return None
    n = {k: sum(o.kind == k for o in plan.values()) for k in ("continue", "copy", "restart")}
    budgets = ", ".join(f"{s:,}" for s in sorted({o.steps for o in plan.values()}))
    parts = [f"{n['continue']} continue from their final state"] if n["continue"] else []
    parts += [f"{n['copy']} copy a solved or diverged result"] if n["copy"] else []
    if n["restart"]:
        parts.append(f"{n['restart']} train from update 0 (their shorter run kept no final state)")
    return f"extending train.steps from {budgets}: {', '.join(parts)}"


# ---------------------------------------------------------------------------------------------- reports
def supersede(runs: pd.DataFrame, counted=FINAL) -> tuple[pd.DataFrame, list[str]]:
    """Per lineage, only the largest train.steps among runs whose status is in `counted` is kept; returns
    (the runs left, the run folders dropped). Only runs that share name, seed, task, T and method with a
    run of another budget are read again (their config.yaml), so a folder without budgets costs nothing."""
    import pandas as pd  # here: a sweep (and its dry run) never needs it

    if runs.empty or "train.steps" not in runs:
        return runs, []
    steps = pd.to_numeric(runs["train.steps"], errors="coerce")
    keys = [c for c in ("name", "seed", "task", "seq_len", "method") if c in runs]
    several = steps.groupby([runs[k].astype(str) for k in keys]).transform("nunique") > 1
    if not several.any():
        return runs, []
    ids = {}
    for i in runs.index[several]:
        try:
            ids[i] = lineage(Config.model_validate(read_config(Path(runs.at[i, "run_dir"]))))
        except ValueError:
            continue
    line = pd.Series(ids, dtype=object)
    top = steps[line.index].where(runs.loc[line.index, "status"].isin(counted)).groupby(line).transform("max")
    drop = line.index[steps[line.index] < top]
    return runs.drop(index=drop), sorted(runs.loc[drop, "run_dir"])
