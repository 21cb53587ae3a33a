"""One training run: data on the fly, Ω before clipping, periodic held-out evaluation, outcome.

`train()` does no file I/O: it returns a RunResult that the caller writes (locally, or after it
comes back from a Dask worker). Everything random comes from generators seeded by the config.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from . import __version__
from .clipping import Clipper
from .config import EVAL_CHUNK, Config, method_label
from .models import RecurrentNet, bptt_rnn, build_model, flush_denormals, flushing_denormals, spectral_radius
from .omega import OmegaRNN, lstm_flow, omega_closed, omega_for
from .registry import Registry
from .tasks import Task, make_task

OPTIMIZERS: Registry = Registry("optimizer")
OPTIMIZERS.register("sgd", "SGD with optional momentum (Pascanu 2013: plain SGD, lr 0.01)")(
    lambda p, c: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum)
)
OPTIMIZERS.register("adam", "Adam (Kingma & Ba 2015); the usual choice for LSTMs")(
    lambda p, c: torch.optim.Adam(p, lr=c.lr)
)
OPTIMIZERS.register("rmsprop", "RMSProp (Tieleman & Hinton 2012), with momentum")(
    lambda p, c: torch.optim.RMSprop(p, lr=c.lr, momentum=c.momentum)
)

PROBE_SIZE = 100  # held-out sequences on which Ω and gradient flow are measured at each evaluation
EVAL_SLICE = 125  # sequences per forward in evaluate(): activations stay in cache (~20% faster than 1000)
FINAL = ("solved", "unsolved", "diverged")  # statuses a sweep may trust as finished


@dataclass
class RunResult:
    config: dict
    run_id: str
    metrics: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    state_dict: dict = field(default_factory=dict)
    flow: dict = field(default_factory=dict)  # gradient-flow arrays (see diagnostics in DESIGN/README)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is cuda but no CUDA device is available")
    return torch.device(name)


def omega_weight(cfg: Config, step: int) -> float:
    r = cfg.regularizer
    return r.omega_weight if r.schedule == "constant" else r.omega_weight / (1 + step / r.decay_steps)


class Trainer:
    def __init__(self, cfg: Config):
        self.cfg, t = cfg, cfg.task
        self.device = resolve_device(cfg.train.device)
        self.task: Task = make_task(t.name, t.seq_len, t.variant, **t.options)
        self.model: RecurrentNet = build_model(
            cfg.model, self.task.input_size, self.task.output_size, seed=cfg.seed
        ).to(self.device)
        # Separate streams: data, test set (fixed across seeds, drawn on CPU so every device sees it), policy noise.
        self.data_gen = torch.Generator(self.device).manual_seed(cfg.seed + 1)
        test_gen = torch.Generator().manual_seed(t.test_seed)
        xs, ys = zip(
            *(
                self.task.sample(min(EVAL_CHUNK, t.test_size - i), test_gen)
                for i in range(0, t.test_size, EVAL_CHUNK)
            ),
            strict=True,
        )
        self.test = [(x.to(self.device), y.to(self.device)) for x, y in zip(xs, ys, strict=True)]
        self.params = list(self.model.parameters())
        self.opt = OPTIMIZERS.get(cfg.train.optimizer)(self.params, cfg.train)
        c = cfg.clipping
        self.clip = Clipper(
            c.mode,
            c.threshold,
            c.nonfinite,
            self.params,
            self.model.w_hh,
            torch.Generator().manual_seed(cfg.seed + 2),
        )

    # ------------------------------------------------------------------------------------ one step
    def step(self, alpha: float) -> tuple[float, float, bool, bool]:
        """One update. Returns (loss, pre-clip norm, clipped, gradient finite)."""
        x, y = self.task.sample(self.cfg.train.batch_size, self.data_gen)
        self.opt.zero_grad(set_to_none=False)
        model, last = self.model, self.task.target == "last"  # "last": the loss reads out[-1] only (tasks.py)
        if model.fast_path:  # vanilla RNN on the CPU: hand-written BPTT, Ω (if any) inside its backward
            hook = OmegaRNN(alpha, self.cfg.regularizer.form, last_only=last) if alpha > 0 else None
            out, _ = model.forward_fast(x, hook, last_only=last)
            loss = self.task.loss(out, y)
            loss.backward()  # with Ω: ∂(αΩ)/∂W_hh is already added to the loss gradient, before clipping
        elif alpha > 0:
            out, hs, u = model.forward_exposed(x)
            u.retain_grad(), hs.retain_grad()
            loss = self.task.loss(out, y)
            loss.backward()
            omega, _, _ = omega_for(model, u.grad, hs.grad, u, hs, self.cfg.regularizer.form)
            (alpha * omega).backward()  # adds ∂(αΩ)/∂W_hh to the loss gradient, before clipping
        else:
            hs = model.rnn(x)[0]
            loss = self.task.loss(model.readout(hs[-1:] if last else hs), y)
            loss.backward()
        self.clip.loss = loss  # read together with the gradient norm: one host read per step
        clip = self.clip()
        if clip.apply:
            self.opt.step()
        return (clip.loss if not math.isnan(clip.loss) else loss.item()), clip.norm, clip.clipped, clip.finite

    # ---------------------------------------------------------------------------------- evaluation
    @torch.inference_mode()
    def evaluate(self) -> tuple[float, float]:
        self.model.eval()
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
        """Ω, ‖∇_{h_t} L‖ for every t and ‖g_t J_t‖/‖g_t‖ on a fixed held-out batch (no parameter update)."""
        x, y = self.test[0]
        x, y = x[:, :PROBE_SIZE], y[..., :PROBE_SIZE]
        m, form = self.model, self.cfg.regularizer.form
        if m.fast_path:  # no graph through time: forward, read-out gradient, the reverse loop, Ω's value
            hs = m.states(x).requires_grad_()
            (direct,) = torch.autograd.grad(self.task.loss(m.readout(hs), y), hs)
            delta, g = bptt_rnn(direct, hs.detach(), m.w_hh.detach(), m.rnn.nonlinearity, keep_g=True)
            with torch.no_grad():
                gj = (delta.view(-1, delta.shape[-1]) @ m.w_hh).view_as(delta)
                omega, ratio, _ = omega_closed(gj, g, form)
        elif m.kind == "lstm" and x.device.type == "cpu":  # the fused forward, then lstm_flow (no graph)
            r = m.rnn
            with torch.no_grad():
                hs = r(x)[0]
            hs.requires_grad_()
            (direct,) = torch.autograd.grad(self.task.loss(m.readout(hs), y), hs)
            with torch.no_grad():
                u = F.linear(x, r.weight_ih_l0, r.bias_ih_l0)
                omega, ratio, g = lstm_flow(u, hs.detach(), direct, r.weight_hh_l0, r.bias_hh_l0, form)
        else:
            out, hs, u = m.forward_exposed(x)
            loss = self.task.loss(out, y)
            delta, direct = torch.autograd.grad(loss, [u, hs])
            omega, ratio, g = omega_for(m, delta, direct, u, hs, form)
        per_example = g.norm(dim=-1) * x.shape[1]  # ‖∇_{h_t} L_b‖ of each example's own loss
        return {
            "omega": float(omega.detach()),
            "ratio_mean": float(ratio),
            "grad_norm": per_example.mean(1).detach().float().cpu().numpy(),
            "spectral_radius": spectral_radius(self.model.w_hh, self.model.kind),
        }


def train(
    cfg: Config,
    on_eval: Callable[[dict], None] | None = None,
    progress: Callable[[int, dict | None], None] | None = None,
) -> RunResult:
    """Train one run. Ctrl-C returns what was done with status `interrupted`."""
    torch.set_num_threads(cfg.train.threads)
    was_flushing = flushing_denormals()
    flush_denormals()  # vanishing gradients would otherwise crawl through subnormal arithmetic (models.py)
    start = time.perf_counter()
    tr: Trainer | None = None
    tc = cfg.train
    res = RunResult(config=cfg.to_dict(), run_id=cfg.run_id)
    flow: dict[str, list] = {"step": [], "grad_norm": [], "ratio_mean": [], "spectral_radius": []}
    status, solved_at, diverged_at, nonfinite, step = "unsolved", None, None, 0, 0
    acc = _Interval()
    best = math.inf

    def do_eval(step: int) -> bool:
        nonlocal solved_at, best
        test_loss, test_error = tr.evaluate()
        best = min(best, test_error)
        probe = tr.probe()
        row = {
            "step": step,
            **acc.flush(),
            "test_loss": test_loss,
            "test_error": test_error,
            "omega": probe["omega"],
            "omega_weight": omega_weight(cfg, step),
            "nonfinite_steps": nonfinite,
            "wall_time_s": round(time.perf_counter() - start, 3),
        }
        res.metrics.append(row)
        for k in flow:
            flow[k].append(step if k == "step" else probe[k])
        if solved_at is None and test_error < tc.success_error:
            solved_at = step
        if on_eval:
            on_eval(row)
        if progress:
            progress(step, row)
        return solved_at is not None and tc.stop_when_solved

    try:
        tr = Trainer(
            cfg
        )  # inside the try: its first optimizer imports for seconds, and Ctrl-C may land there
        stop = do_eval(0)
        while not stop and step < tc.steps:
            loss, norm, clipped, finite = tr.step(omega_weight(cfg, step))
            step += 1
            if not math.isfinite(loss):
                status, diverged_at = "diverged", step
                break
            nonfinite += not finite
            acc.add(loss, norm, clipped, finite)
            if step % tc.eval_every == 0 or step == tc.steps:
                stop = do_eval(step)
            elif progress and step % 50 == 0:
                progress(step, None)
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        torch.set_flush_denormal(was_flushing)  # a process-wide switch: leave it as the caller had it
    if status == "diverged" and acc.n:
        res.metrics.append(
            {
                "step": step,
                **acc.flush(),
                "test_loss": math.nan,
                "test_error": math.nan,
                "omega": math.nan,
                "omega_weight": omega_weight(cfg, step),
                "nonfinite_steps": nonfinite,
                "wall_time_s": round(time.perf_counter() - start, 3),
            }
        )
    elif status == "unsolved" and solved_at is not None:
        status = "solved"
    last = res.metrics[-1] if res.metrics else {}
    t = cfg.task
    task = tr.task if tr else make_task(t.name, t.seq_len, t.variant, **t.options)
    res.summary = {
        "status": status,
        "steps_to_solve": solved_at,
        "steps": step,
        "test_loss": last.get("test_loss"),
        "test_error": last.get("test_error"),
        "best_test_error": best if math.isfinite(best) else None,
        "baseline_loss": task.baseline_loss,
        "baseline_error": task.baseline_error,
        "wall_time_s": round(time.perf_counter() - start, 3),
        "run_id": res.run_id,
        "name": cfg.name,
        "method": method_of(cfg),
        "diverged_at_step": diverged_at,
        "nonfinite_grad_steps": nonfinite,
        "device": str(tr.device if tr else cfg.train.device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "ltd_bench": __version__,
    }
    res.state_dict = {k: v.detach().cpu() for k, v in tr.model.state_dict().items()} if tr else {}
    res.flow = {k: np.asarray(v, dtype=np.int64 if k == "step" else np.float32) for k, v in flow.items()}
    return res


def method_of(cfg: Config) -> str:
    """The sweep's label, else the derived one (config.method_label): rnn, rnn+clip, rnn+clip+Ω, ..."""
    return cfg.method or method_label(cfg.to_dict())


class _Interval:
    """Training statistics between two evaluations (kept as Python floats: no per-step tensors)."""

    def __init__(self):
        self.loss = self.norm = self.norm_max = 0.0
        self.n = self.clipped = self.finite = 0

    def add(self, loss: float, norm: float, clipped: bool, finite: bool) -> None:
        self.n += 1
        self.loss += loss
        self.clipped += clipped
        if finite:
            self.finite += 1
            self.norm += norm
            self.norm_max = max(self.norm_max, norm)

    def flush(self) -> dict:
        n = self.n
        row = {
            "train_loss": self.loss / n if n else math.nan,
            "grad_norm": self.norm / self.finite if self.finite else math.nan,
            "grad_norm_max": self.norm_max if self.finite else math.nan,
            "clip_rate": self.clipped / n if n else math.nan,
        }
        self.__init__()
        return row
