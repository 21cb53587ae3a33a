"""One training run: data on the fly, Ω before clipping, periodic held-out evaluation, an outcome.

`train()` does no file I/O: it returns a RunResult that the caller writes (locally, or after it comes
back from a Dask worker), and hands each evaluation's row and each checkpoint's state to callbacks.
Everything random comes from generators seeded by the config, and a checkpoint holds their states, so
a run continued from a checkpoint ends bit-identical to one never stopped.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import __version__, choices, fast_sgd, omega
from .clipping import Clipper
from .config import Config, method_of
from .models import RecurrentNet, build_model, training_threads
from .outputs import RunResult
from .pack import Pack, pack_key
from .registry import Registry
from .heldout import HeldOut
from .tasks import Task, task_of

OPTIMIZERS: Registry = Registry("optimizer", choices.OPTIMIZERS)
OPTIMIZERS.register("sgd")(lambda p, c: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum))
OPTIMIZERS.register("adam")(lambda p, c: torch.optim.Adam(p, lr=c.lr))
OPTIMIZERS.register("rmsprop")(lambda p, c: torch.optim.RMSprop(p, lr=c.lr, momentum=c.momentum))

PROBE_SIZE = 100  # held-out sequences on which Ω and gradient flow are measured at each evaluation
EVAL_SLICE = 125  # sequences per forward in evaluate(): activations stay in cache (~20% faster than 1000)
CHECKPOINT_VERSION = 1
FLOW_KEYS = ("step", "grad_norm", "ratio_mean", "spectral_radius")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is cuda but no CUDA device is available")
    return torch.device(name)


class Trainer:
    """The model, its optimizer, clipper, data streams and held-out set; `step`, `evaluate`, `probe`."""

    def __init__(self, cfg: Config):
        self.cfg, t = cfg, cfg.task
        self.device = resolve_device(cfg.train.device)
        self.task: Task = task_of(t)
        self.model: RecurrentNet = build_model(
            cfg.model, self.task.input_size, self.task.output_size, seed=cfg.seed
        ).to(self.device)
        # Separate streams: training data (per seed), the held-out sets (the same for every seed), policy noise.
        self.data_gen = torch.Generator(self.device).manual_seed(cfg.seed + 1)
        self.heldout = HeldOut(self.task, t.test_size, t.test_seed, t.test_fresh, self.device)
        self.test = self.heldout.sets
        self.params = list(self.model.parameters())
        tc = cfg.train  # the orthogonal model's A trains at its own rate (models.RecurrentNet.param_groups)
        groups = self.model.param_groups(tc.lr_orth if tc.lr_orth is not None else tc.lr / 10)
        self.opt = OPTIMIZERS.get(tc.optimizer)(groups, tc)
        self.plain_sgd = fast_sgd.plain(self.opt)  # SGD's arithmetic without its per-call overhead
        c = cfg.clipping
        self.clip = Clipper(
            c.mode,
            c.threshold,
            c.nonfinite,
            self.params,
            self.model.w_hh_param,
            torch.Generator().manual_seed(cfg.seed + 2),
            bad_norm=c.bad_norm,
            skew=self.model.kind == "orthogonal",
        )

    def step(self, alpha: float) -> tuple[float, float, bool, bool]:
        """One update. Returns (loss, pre-clip gradient norm, clipped, gradient finite)."""
        x, y = self.task.sample(self.cfg.train.batch_size, self.data_gen)
        self.opt.zero_grad(set_to_none=False)
        with self.model.cached():  # the orthogonal model's W_hh: one exponential per update
            loss = omega.backward(self.model, self.task, x, y, alpha, self.cfg.regularizer.form)
        return self.update(loss)

    def update(self, loss: torch.Tensor) -> tuple[float, float, bool, bool]:
        """The second half of `step`, once the gradients are in .grad (here, or by a pack.Pack): clip, then
        the optimizer step."""
        clip = self.clip(loss)  # reads the loss with the gradient norm: one host read per step
        if clip.apply:
            fast_sgd.step(self.opt) if self.plain_sgd else self.opt.step()
        return (clip.loss if not math.isnan(clip.loss) else loss.item()), clip.norm, clip.clipped, clip.finite

    @torch.inference_mode()
    def evaluate(self) -> tuple[float, float]:
        """(mean loss, error rate) on the held-out set."""
        with self.model.cached():
            return self._evaluate()

    def _evaluate(self) -> tuple[float, float]:
        self.model.eval()
        self.test = self.heldout.next()
        last = self.task.target == "last"
        loss = wrong = n = 0.0
        for xc, yc in self.test:  # in slices of EVAL_SLICE sequences: measured faster than 1000 at once
            for x, y in zip(xc.split(EVAL_SLICE, 1), yc.split(EVAL_SLICE, -1), strict=True):
                hs = self.model.rnn(x)[0]
                out = self.model.readout(hs[-1:] if last else hs)  # "last": only out[-1] is scored
                b = x.shape[1]
                loss += self.task.loss(out, y).double() * b
                wrong += self.task.wrong(out, y).sum()
                n += b
        loss, wrong = float(loss), float(wrong)  # one host read
        self.model.train()
        return loss / n, wrong / n

    def probe(self) -> dict:
        """Ω and the gradient flow on the first PROBE_SIZE held-out sequences (no parameter update)."""
        x, y = self.test[0]
        with self.model.cached():
            return omega.probe(
                self.model, self.task, x[:, :PROBE_SIZE], y[..., :PROBE_SIZE], self.cfg.regularizer.form
            )

    def state_dict(self) -> dict:
        return {
            "model": {k: v.clone() for k, v in self.model.state_dict().items()},  # a pack's: views
            "optimizer": _copied(self.opt.state_dict()),  # a batched pack's: views (batched.py)
            "data_gen": self.data_gen.get_state(),
            "clipper": self.clip.state_dict(),
            "heldout": self.heldout.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.data_gen.set_state(state["data_gen"].to(self.data_gen.get_state().device))
        self.clip.load_state_dict(state["clipper"])
        self.heldout.load_state_dict(state["heldout"])


def _copied(state):
    """A state dict with every tensor cloned (views of a pack's stacks would save the whole stack)."""
    if isinstance(state, torch.Tensor):
        return state.clone()
    if isinstance(state, dict):
        return {k: _copied(v) for k, v in state.items()}
    return [_copied(v) for v in state] if isinstance(state, list) else state


def resume_problem(cfg: Config, state: dict) -> str | None:
    """Why a checkpoint's state cannot continue `cfg` (another version, layout or tensor shapes), or None;
    checked before training starts, so that such a checkpoint is set aside instead of failing the run."""
    if state.get("version") != CHECKPOINT_VERSION:
        return f"checkpoint version {state.get('version')!r}, expected {CHECKPOINT_VERSION}"
    trainer = state.get("trainer")
    missing = [k for k in ("step", "metrics", "flow", "interval") if k not in state]
    if not isinstance(trainer, dict) or not isinstance(trainer.get("model"), dict) or missing:
        return "checkpoint lacks " + (", ".join(missing) or "the trainer's state")
    task = task_of(cfg.task)
    want = build_model(cfg.model, task.input_size, task.output_size, seed=cfg.seed).state_dict()
    got = trainer["model"]
    shape = lambda v: tuple(v.shape) if isinstance(v, torch.Tensor) else None
    bad = [k for k in want.keys() | got.keys() if shape(want.get(k)) != shape(got.get(k))]
    if bad:
        k = sorted(bad)[0]
        return f"weights of another shape ({k}: {shape(got.get(k))}, this config's {shape(want.get(k))})"
    return None


@dataclass
class Interval:
    """Training statistics between two evaluations (Python floats: no per-step tensors)."""

    n: int = 0
    loss: float = 0.0
    clipped: int = 0
    finite: int = 0
    norm: float = 0.0
    norm_max: float = 0.0

    def add(self, loss: float, norm: float, clipped: bool, finite: bool) -> None:
        self.n += 1
        self.loss += loss
        self.clipped += clipped
        if finite:
            self.finite += 1
            self.norm += norm
            self.norm_max = max(self.norm_max, norm)

    def flush(self) -> dict:
        n, f = self.n, self.finite
        row = {
            "train_loss": self.loss / n if n else math.nan,
            "grad_norm": self.norm / f if f else math.nan,
            "grad_norm_max": self.norm_max if f else math.nan,
            "clip_rate": self.clipped / n if n else math.nan,
        }
        self.__init__()
        return row


@dataclass
class RunSpec:
    """A run to train and what to call as it trains (train()'s arguments, for train_runs)."""

    cfg: Config
    on_eval: Callable[[dict], None] | None = None
    progress: Callable[[int, dict | None], None] | None = None
    checkpoint: Callable[[dict], None] | None = None
    resume: dict | None = None


def train(
    cfg: Config,
    on_eval: Callable[[dict], None] | None = None,
    progress: Callable[[int, dict | None], None] | None = None,
    checkpoint: Callable[[dict], None] | None = None,
    resume: dict | None = None,
    stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Train one run.

    on_eval(row) gets each evaluation's metrics row; progress(step, row or None) is for a bar;
    checkpoint(state) gets the whole state at the first evaluation train.checkpoint_s after the last
    one, and when `stop()` turns true (checked between steps), after which the run ends `interrupted`;
    `resume` is such a state to continue from. Ctrl-C (KeyboardInterrupt) also ends it `interrupted`,
    without a checkpoint (it may land mid-step). A run its budget stopped returns such a state as it
    stood at the budget (RunResult.final_state: before the budget's own evaluation when that one is off
    the eval_every grid), for a larger budget to continue from (extend.py).
    """
    (res,) = train_runs([RunSpec(cfg, on_eval, progress, checkpoint, resume)], stop)
    if isinstance(res, BaseException):
        raise res
    return res


def train_runs(
    specs: list[RunSpec], stop: Callable[[], bool] | None = None, pack: bool = True, update: str = "auto"
) -> list[RunResult | Exception]:
    """Train runs side by side, as train() trains each: one loop steps every run still training in turn.
    With `pack`, runs that agree on shapes (pack.pack_key) step as one batched model (pack.Pack), with
    the same numbers as alone on the CPU; runs that finish leave their pack. Each run evaluates, logs and
    checkpoints on its own schedule; `stop` interrupts them all (each checkpoints). A run whose own work
    raises (building it, its evaluation, its callbacks) ends alone: its slot holds the exception.
    `update`: how a pack's runs clip and step (pack.Pack; batched.UPDATES)."""
    threads = {s.cfg.train.threads for s in specs}
    if len(threads) != 1:
        raise ValueError(f"runs trained together need one train.threads, got {sorted(threads)}")
    # subnormals flushed: vanishing gradients would otherwise crawl through subnormal arithmetic (models.py)
    with training_threads(threads.pop()):
        return _Loop([_Run(s) for s in specs], pack, update).go(stop)


class _Loop:
    """train_runs' loop: the runs still training, in groups that step together (a Pack, or one run)."""

    def __init__(self, runs: list[_Run], pack: bool, update: str = "auto"):
        self.runs, self.pack, self.update = runs, pack, update

    def go(self, stop: Callable[[], bool] | None) -> list[RunResult | Exception]:
        groups: list[tuple[Pack | None, list[_Run]]] = []
        try:  # building a Trainer imports for seconds: Ctrl-C may land there
            for r in self.runs:
                r.begin()
            groups = self.group([r for r in self.runs if r.training])
            while groups:
                if stop and stop():
                    for r in self.training():
                        r.interrupt()
                    break
                groups = [g for group in groups for g in self.step(*group)]
        except KeyboardInterrupt:
            pass
        for r in self.runs:  # Ctrl-C: every run not finished ends interrupted, without a checkpoint
            if r.error is None and not r.res.summary:
                r.finish("interrupted")
        return [r.result() for r in self.runs]

    def training(self) -> list[_Run]:
        return [r for r in self.runs if r.training]

    def group(self, runs: list[_Run]) -> list[tuple[Pack | None, list[_Run]]]:
        """Runs with one pack key in one Pack (in their order); the rest one by one."""
        keys: dict = {}
        for r in runs:
            keys.setdefault((r.pack_key if self.pack else None) or id(r), []).append(r)
        out = []
        for rs in keys.values():
            try:
                out.append((Pack([r.tr for r in rs], self.update) if len(rs) > 1 else None, rs))
            except Exception:  # e.g. out of memory for the stacked tensors: one by one, as alone
                for r in rs:
                    r.pack_key = None
                out += [(None, [r]) for r in rs]
        for _, rs in out:
            for r in rs:
                r.packed = r.packed or len(rs)
        return out

    def step(self, engine: Pack | None, runs: list[_Run]) -> list[tuple[Pack | None, list[_Run]]]:
        """One step of a group; returns the group(s) that go on (a smaller pack when runs finished)."""
        alphas = [omega.weight(r.cfg.regularizer, r.step) for r in runs]
        try:
            outs = engine.step(alphas) if engine else [runs[0].tr.step(alphas[0])]
        except Exception as e:
            for r in runs:
                r.fail(e)
            return []
        for r, out in zip(runs, outs, strict=True):
            r.advance(*out)
        left = [r for r in runs if r.training]
        if engine is not None and engine.exact is False:  # not the single run's numbers: one by one
            for r in runs:
                r.pack_key, r.packed = None, 1
            return self.group(left)
        return [(engine, runs)] if len(left) == len(runs) else self.group(left)


class _Run:
    """One run of train_runs: its Trainer, its bookkeeping between evaluations, the state a checkpoint
    holds, and its RunResult."""

    def __init__(self, spec: RunSpec):
        self.cfg, self.spec = spec.cfg, spec
        self.on_eval, self.progress, self.checkpoint = spec.on_eval, spec.progress, spec.checkpoint
        self.tr: Trainer | None = None
        self.res = RunResult(config=self.cfg.to_dict(), run_id=self.cfg.run_id)
        self.flow: dict[str, list] = {k: [] for k in FLOW_KEYS}
        self.acc = Interval()
        self.step, self.solved_at, self.best, self.nonfinite = 0, None, math.inf, 0
        self.training, self.error, self.packed, self.pack_key = False, None, 0, None
        self.elapsed0 = 0.0  # wall time of earlier sessions of this run (resumed from a checkpoint)
        self.kept: dict | None = None  # the state at the budget, as a longer budget has it (extend.py)
        self.start = self.last_checkpoint = time.perf_counter()

    def elapsed(self) -> float:
        return round(self.elapsed0 + time.perf_counter() - self.start, 3)

    # ----------------------------------------------------------------------------------- lifecycle
    def begin(self) -> None:
        """Build the Trainer, then continue from the checkpoint or evaluate step 0."""
        self.training = True
        try:
            self.tr = Trainer(self.cfg)
            self.pack_key = pack_key(self.cfg)
            done = self.load(self.spec.resume) if self.spec.resume else self.evaluate()
        except Exception as e:
            self.fail(e)
            return
        if done or self.step >= self.cfg.train.steps:
            self.finish("done")

    def advance(self, loss: float, norm: float, clipped: bool, finite: bool) -> None:
        """Book one step (Trainer.step's return); evaluate when due; finish when done."""
        tc = self.cfg.train
        self.step += 1
        if not math.isfinite(loss):
            self.finish("diverged")
            return
        self.nonfinite += not finite
        self.acc.add(loss, norm, clipped, finite)
        try:
            if self.step % tc.eval_every == 0 or self.step == tc.steps:
                if self.step % tc.eval_every:  # the budget's own evaluation, which a longer budget skips
                    self.kept = self.state()
                if self.evaluate():
                    self.finish("done")
                    return
            elif self.progress and self.step % 50 == 0:
                self.progress(self.step, None)
        except Exception as e:
            self.fail(e)
            return
        if self.step >= tc.steps:
            self.kept = self.kept or self.state()
            self.finish("done")

    def interrupt(self) -> None:
        """`stop`: checkpoint, then end interrupted."""
        try:
            self.save()
        except Exception as e:
            self.fail(e)
            return
        self.finish("interrupted")

    def fail(self, error: Exception) -> None:
        self.training, self.error = False, error

    def finish(self, status: str) -> None:
        """End the run: "done" (solved or unsolved), "diverged" or "interrupted"; the RunResult is made."""
        self.training = False
        if status == "diverged" and self.acc.n:
            self.res.metrics.append(self.row(math.nan, math.nan, math.nan))
        if status == "done":
            status = "solved" if self.solved_at is not None else "unsolved"
        self.res.summary = self.summary(status, self.step if status == "diverged" else None)
        if self.tr:  # copies: in a pack the parameters are views of the pack's tensors
            self.res.state_dict = {
                k: v.detach().to("cpu", copy=True) for k, v in self.tr.model.state_dict().items()
            }
        self.res.flow = {
            k: np.asarray(v, dtype=np.int64 if k == "step" else np.float32) for k, v in self.flow.items()
        }
        if self.kept and status in (
            "solved",
            "unsolved",
        ):  # a run stopped by its budget: a longer one goes on
            self.res.final_state = self.kept

    def result(self) -> RunResult | Exception:
        return self.error if self.error is not None else self.res

    # ---------------------------------------------------------------------------------- evaluation
    def row(self, test_loss: float, test_error: float, omega_value: float) -> dict:
        return {
            "step": self.step,
            **self.acc.flush(),
            "test_loss": test_loss,
            "test_error": test_error,
            "omega": omega_value,
            "omega_weight": omega.weight(self.cfg.regularizer, self.step),
            "nonfinite_steps": self.nonfinite,
            "wall_time_s": self.elapsed(),
        }

    def evaluate(self) -> bool:
        """Evaluate, log, maybe checkpoint; True when the run should stop (solved)."""
        tc = self.cfg.train
        test_loss, test_error = self.tr.evaluate()
        self.best = min(self.best, test_error)
        probe = self.tr.probe()
        row = self.row(test_loss, test_error, probe["omega"])
        self.res.metrics.append(row)
        for k in FLOW_KEYS:
            self.flow[k].append(self.step if k == "step" else probe[k])
        if self.solved_at is None and test_error < tc.success_error:
            self.solved_at = self.step
        if self.on_eval:
            self.on_eval(row)
        if self.progress:
            self.progress(self.step, row)
        done = self.solved_at is not None and tc.stop_when_solved
        due = time.perf_counter() - self.last_checkpoint >= tc.checkpoint_s
        if due and not done and 0 < self.step < tc.steps:
            self.save()
        return done

    def summary(self, status: str, diverged_at: int | None) -> dict:
        """The run's summary.json: everything a report needs without reading metrics.csv. `packed`: how
        many runs trained together (pack.py) when this session of the run began; 1: alone."""
        cfg, last = self.cfg, (self.res.metrics[-1] if self.res.metrics else {})
        t = cfg.task
        task = self.tr.task if self.tr else task_of(t)
        s = {
            "status": status,
            "steps_to_solve": self.solved_at,
            "steps": self.step,
            "test_loss": last.get("test_loss"),
            "test_error": last.get("test_error"),
            "best_test_error": self.best if math.isfinite(self.best) else None,
            "baseline_loss": task.baseline_loss,
            "baseline_error": task.baseline_error,
            "final_omega": last.get("omega"),
            "wall_time_s": self.elapsed(),
            "run_id": self.res.run_id,
            "name": cfg.name,
            "method": method_of(cfg),
            "diverged_at_step": diverged_at,
            "nonfinite_grad_steps": self.nonfinite,
            "device": str(self.tr.device if self.tr else cfg.train.device),
            "threads": cfg.train.threads,
            "packed": self.packed or 1,
            "torch": torch.__version__,
            "ltd_bench": __version__,
        }
        if cfg.model.type in ("lstm", "gru"):
            s["note"] = (
                f"Ω for {cfg.model.type} uses the cell's Jacobian w.r.t. h_t-1 (batched VJP): an extension, "
                "not in Pascanu et al. 2013"
            )
        return s

    # ------------------------------------------------------------------------------- checkpoints
    def state(self) -> dict:
        """Everything needed to continue the run bit for bit from here (between steps)."""
        return {
            "version": CHECKPOINT_VERSION,
            "run_id": self.res.run_id,
            "trainer": self.tr.state_dict(),
            "step": self.step,
            "solved_at": self.solved_at,
            "best": self.best,
            "nonfinite": self.nonfinite,
            "interval": dict(vars(self.acc)),
            "metrics": list(self.res.metrics),
            "flow": {
                k: [torch.from_numpy(v) if isinstance(v, np.ndarray) else v for v in vs]
                for k, vs in self.flow.items()
            },
            "elapsed": self.elapsed(),
        }

    def save(self) -> None:
        if not self.checkpoint:
            return
        self.checkpoint(self.state())
        self.last_checkpoint = time.perf_counter()

    def load(self, state: dict) -> bool:
        """Continue from a checkpoint (written between steps); returns False (not done)."""
        if state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint version {state.get('version')!r}, expected {CHECKPOINT_VERSION}")
        self.tr.load_state_dict(state["trainer"])
        self.step, self.solved_at, self.best = state["step"], state["solved_at"], state["best"]
        self.nonfinite, self.acc = state["nonfinite"], Interval(**state["interval"])
        self.res.metrics = list(state["metrics"])
        self.flow = {
            k: [v.numpy() if isinstance(v, torch.Tensor) else v for v in vs]
            for k, vs in state["flow"].items()
        }
        self.elapsed0, self.start = state["elapsed"], time.perf_counter()
        return False
