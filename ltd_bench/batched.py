"""A pack's clipping and optimizer step as tensor operations over its run axis (pack.Pack).

The per-run path (`Pack.step` → `Trainer.update` for each run) clips with each run's `Clipper` and
steps each run's torch optimizer, reading each run's gradient norm back to the host: K host reads and
K × (a dozen) small kernels per step. `BatchedUpdate` does the same arithmetic on the stacked (K, ...)
gradients and weights at once: each run's global norm (the norm of its per-parameter norms, as the
Clipper), norm and value clipping at each run's own threshold, the non-finite policies (skip, shrink;
random_step draws from the run's own generator, as alone), and SGD (with momentum), Adam and RMSProp
with each run's own learning rate (per parameter group: the orthogonal model's A has its own) and
momentum and its own step count. Decisions are masks, not branches: a run that must not step keeps
its weights and optimizer state by `torch.where`. The step's one host read is the (K, 4) table of
what `Trainer.update` returns (loss, norm, clipped, finite), at the end — one per pack step, none per
run or per time step; a pack with random_step runs reads its non-finite mask once more, mid-step (the
noise is drawn on the host, only for the runs that need it).

Each run's optimizer state lives in stacked tensors whose rows are the run's own torch optimizer's
state (views, as the weights are the pack's rows), so its checkpoints, a smaller pack after runs
leave, and a run that goes on alone see the state the batched step left. Arithmetic: the same
formulas as torch.optim's single-tensor code, with per-run scalars as (K,) tensors (bias corrections
in float64, as Python computes them there); it agrees with the per-run path to float rounding, not
bit for bit (tests/test_batched.py) — on the CPU the per-run path stays the default (`DEFAULT`).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from .clipping import NONFINITE, SHRINK

UPDATES = ("auto", "per_run", "batched")
# auto: the per-run path on the CPU keeps every run's numbers bit for bit as alone (its reference);
# on a GPU the per-run path's K host reads per step would swamp the batched recurrence
DEFAULT = {"cpu": "per_run", "cuda": "batched"}


def resolve(update: str, device: torch.device) -> str:
    """ "per_run" or "batched" for a pack on `device` (update: one of UPDATES)."""
    if update not in UPDATES:
        raise ValueError(f"update: {update!r} is not one of {', '.join(UPDATES)}")
    return DEFAULT.get(device.type, "batched") if update == "auto" else update


def _col(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A (K,) per-run vector shaped to broadcast over a (K, ...) stack."""
    return v.view(-1, *[1] * (like.dim() - 1))


class BatchedUpdate:
    """Clip and step every run of a pack at once. `weights`, `grads`: the pack's stacks (name → (K, ...)),
    in the order of each run's parameters; `w_hh`: the name of the parameter behind W_hh (shrink's
    target: W_hh, or the orthogonal model's A)."""

    def __init__(self, trainers: Sequence, weights: dict, grads: dict, w_hh: str):
        self.trainers, self.weights, self.grads, self.w_hh = list(trainers), weights, grads, w_hh
        self.names = list(weights)
        dev = weights[w_hh].device
        clips = [tr.cfg.clipping for tr in self.trainers]
        f64 = dict(dtype=torch.float64, device=dev)
        vec = lambda xs, **kw: torch.tensor(xs, **(kw or f64))
        self.v = vec([c.threshold for c in clips])
        self.bad = vec([math.inf if c.bad_norm is None else c.bad_norm for c in clips])
        self.norm_mode = vec([c.mode == "norm" for c in clips], dtype=torch.bool, device=dev)
        self.value_mode = vec([c.mode == "value" for c in clips], dtype=torch.bool, device=dev)
        self.any_value = bool(any(c.mode == "value" for c in clips))
        pol = [c.nonfinite for c in clips]
        self.skip = vec([p == "skip" for p in pol], dtype=torch.bool, device=dev)
        self.shrink = vec([p == "shrink" for p in pol], dtype=torch.bool, device=dev)
        self.random = vec([p == "random_step" for p in pol], dtype=torch.bool, device=dev)
        self.any_random, self.any_shrink = "random_step" in pol, "shrink" in pol
        groups: dict[tuple, list[int]] = {}
        for k, tr in enumerate(self.trainers):
            groups.setdefault(_Optimizer.key(tr.opt), []).append(k)
        self.opts = [_Optimizer(self, idx) for idx in groups.values()]

    @torch.no_grad()
    def step(self, losses: Sequence[torch.Tensor]) -> list[tuple[float, float, bool, bool]]:
        """What Trainer.update returns for each run, (loss, pre-clip norm, clipped, finite), having
        clipped and stepped every run as its Clipper and optimizer would."""
        gs = [self.grads[n] for n in self.names]
        norm = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in gs]), dim=0
        ).double()
        finite = torch.isfinite(norm) & ~(norm > self.bad)
        # norm clipping: g · v/(‖g‖ + 1e-6) where ‖g‖ > v (the factor in float64, as the Clipper's Python)
        by_norm = finite & self.norm_mode & (norm > self.v)
        scale = torch.where(by_norm, self.v / (norm + 1e-6), 1.0).to(gs[0].dtype)
        for g in gs:
            g.mul_(_col(scale, g))
        clipped = by_norm
        if self.any_value:  # value clipping: clamp to ±v where max |g| > v
            max_abs = torch.stack([g.flatten(1).abs().amax(1) for g in gs]).amax(0).double()
            by_value = finite & self.value_mode & (max_abs > self.v)
            bound = torch.where(by_value, self.v, math.inf).to(gs[0].dtype)
            for g in gs:
                b = _col(bound, g)
                torch.clamp(g, -b, b, out=g)
            clipped = clipped | by_value
        bad = ~finite
        shrink = bad & self.shrink  # shrink: the gradient is SHRINK · W_hh
        for n, g in self.grads.items() if self.any_shrink else ():
            new = (
                SHRINK * self.weights[n]
                if n == self.w_hh
                else torch.zeros((), dtype=g.dtype, device=g.device)
            )
            torch.where(_col(shrink, g), new, g, out=g)
        if self.any_random:  # random_step: noise from the run's own generator, drawn as alone
            for k in (bad & self.random).nonzero().flatten().tolist():
                tr = self.trainers[k]
                NONFINITE.get("random_step")(tr.clip, [self.grads[n][k] for n in self.names])
        apply = finite | ~self.skip
        for opt in self.opts:
            opt.step(apply)
        loss = torch.stack([x.detach().reshape(()) for x in losses]).double()
        table = torch.stack([loss, norm, clipped.double(), finite.double()], 1).tolist()  # the one read
        return [(lo, no, bool(c), bool(f)) for lo, no, c, f in table]


class _Optimizer:
    """The runs of a pack (indices `idx`) whose torch optimizers share a class and every setting but the
    learning rate and momentum, stepped at once. State: (k, ...) stacks whose rows are the runs' own."""

    KINDS = ("SGD", "Adam", "RMSprop")

    @staticmethod
    def key(opt: torch.optim.Optimizer) -> tuple:
        kind = type(opt).__name__
        group = opt.param_groups[0]
        if kind not in _Optimizer.KINDS:
            raise ValueError(f"batched update: no batched form of {kind}")
        # groups (the orthogonal model's A has its own, models.RecurrentNet.param_groups) may differ in lr
        rest = [{k: v for k, v in g.items() if k not in ("params", "lr")} for g in opt.param_groups]
        if any(r != rest[0] for r in rest):
            raise ValueError(f"batched update: {kind}'s parameter groups differ in more than lr")
        fixed = {k: v for k, v in group.items() if k not in ("params", "lr", "momentum")}
        for k in ("weight_decay", "dampening"):
            if fixed.get(k, 0):
                raise ValueError(f"batched update: {kind} with {k} {fixed[k]} has no batched form")
        if fixed.get("nesterov") or fixed.get("amsgrad") or fixed.get("centered") or fixed.get("maximize"):
            raise ValueError(f"batched update: {kind} with {fixed} has no batched form")
        return (kind, *sorted((k, repr(v)) for k, v in fixed.items()))

    def __init__(self, up: BatchedUpdate, idx: list[int]):
        self.up, self.idx = up, idx
        first = up.trainers[idx[0]].opt
        self.kind, self.group = type(first).__name__, first.param_groups[0]
        dev = up.weights[up.w_hh].device
        f64 = dict(dtype=torch.float64, device=dev)
        self.all = len(idx) == len(up.trainers)
        self.rows = torch.tensor(idx, device=dev)
        groups = [up.trainers[k].opt.param_groups[0] for k in idx]
        params = [dict(zip(up.names, up.trainers[k].model.parameters(), strict=True)) for k in idx]
        lrs = [{id(p): g["lr"] for g in up.trainers[k].opt.param_groups for p in g["params"]} for k in idx]
        self.lr = {  # per parameter, the rate of its group in each run's optimizer
            n: torch.tensor([lr[id(ps[n])] for ps, lr in zip(params, lrs, strict=True)], **f64)
            for n in up.names
        }
        mom = [g.get("momentum", 0.0) for g in groups]
        self.mom = torch.tensor(mom, **f64)
        self.has_mom = [m != 0 for m in mom]
        names = {
            "SGD": ["momentum_buffer"],
            "Adam": ["exp_avg", "exp_avg_sq"],
            "RMSprop": ["square_avg", "momentum_buffer"],
        }[self.kind]
        own = [up.trainers[k].opt.state for k in idx]

        def stack(s: str, like: torch.Tensor, n: str | None) -> torch.Tensor:
            """State `s` of parameter `n` for the group's runs, (k, ...): the optimizer's where it has
            it (a checkpoint, an earlier pack), else zeros (torch's own initial state)."""
            out = torch.zeros_like(like)
            for j, (ps, st) in enumerate(zip(params, own, strict=True)):
                v = st.get(ps[n or up.names[0]], {}).get(s)
                if v is not None:
                    out[j].copy_(v)
            return out

        # one step count per run (each of its parameters' `step` is a view of it), float32 as torch's
        self.steps = None if self.kind == "SGD" else stack("step", torch.zeros(len(idx), device=dev), None)
        self.state = {s: {n: stack(s, self._take(up.weights[n]), n) for n in up.names} for s in names}
        for j, (ps, st) in enumerate(zip(params, own, strict=True)):  # the runs' state: rows of the stacks
            # (a run that has not stepped yet gets torch's initial state: zeros, step 0)
            mine = {
                s: per_name for s, per_name in self.state.items() if s != "momentum_buffer" or self.has_mom[j]
            }
            for n, p in ps.items():
                if self.steps is not None:
                    st[p]["step"] = self.steps[j]
                for s, per_name in mine.items():  # torch keeps no momentum buffer without momentum
                    st[p][s] = per_name[n][j]

    def _take(self, t: torch.Tensor) -> torch.Tensor:
        return t if self.all else t.index_select(0, self.rows)

    @torch.no_grad()
    def step(self, apply: torch.Tensor) -> None:
        up, on = self.up, apply if self.all else apply.index_select(0, self.rows)
        if self.steps is not None:
            self.steps.add_(on.to(self.steps.dtype))
        for n in up.names:
            w, g = self._take(up.weights[n]), self._take(up.grads[n])
            new = getattr(self, "_" + self.kind.lower())(n, w, g, on)
            new = torch.where(_col(on, w), new, w)
            if self.all:
                up.weights[n].copy_(new)
            else:
                up.weights[n].index_copy_(0, self.rows, new)

    def _keep(self, s: str, n: str, new: torch.Tensor, on: torch.Tensor) -> None:
        buf = self.state[s][n]
        buf.copy_(torch.where(_col(on, buf), new, buf))

    def _sgd(self, n, w, g, on):
        lr = _col(self.lr[n].to(w.dtype), w)
        if "momentum_buffer" not in self.state or not any(self.has_mom):
            return w - lr * g
        buf = self.state["momentum_buffer"][n]
        new = buf * _col(self.mom.to(w.dtype), w) + g  # a fresh buffer is 0 · m + g = g, as torch's clone
        self._keep("momentum_buffer", n, new, on)
        return w - lr * torch.where(_col(self.mom != 0, w), new, g)

    def _adam(self, n, w, g, on):
        b1, b2 = self.group["betas"]
        m, v = self.state["exp_avg"][n], self.state["exp_avg_sq"][n]
        m_new, v_new = torch.lerp(m, g, 1 - b1), v * b2 + (1 - b2) * g * g
        self._keep("exp_avg", n, m_new, on)
        self._keep("exp_avg_sq", n, v_new, on)
        t = self.steps.double()
        size = _col((self.lr[n] / (1 - b1**t)).to(w.dtype), w)
        bc2 = _col((1 - b2**t).sqrt().to(w.dtype), w)
        return w - size * m_new / (v_new.sqrt() / bc2 + self.group["eps"])

    def _rmsprop(self, n, w, g, on):
        a, eps = self.group["alpha"], self.group["eps"]
        sq = self.state["square_avg"][n]
        sq_new = sq * a + (1 - a) * g * g
        self._keep("square_avg", n, sq_new, on)
        d = g / (sq_new.sqrt() + eps)
        if any(self.has_mom):
            buf = self.state["momentum_buffer"][n]
            new = buf * _col(self.mom.to(w.dtype), w) + d
            self._keep("momentum_buffer", n, new, on)
            d = torch.where(_col(self.mom != 0, w), new, d)
        return w - _col(self.lr[n].to(w.dtype), w) * d
