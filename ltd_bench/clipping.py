"""Gradient clipping (docs/science.md, "Gradient clipping"): element-wise (Mikolov 2012) and global norm
(Pascanu et al. 2013, Alg. 1), and what to do with a non-finite gradient. Applied after Ω's gradient has
been added to the loss gradient, just before the update."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import choices
from .registry import Registry

CLIPPING: Registry = Registry("clipping mode", choices.CLIPPING)
NONFINITE: Registry = Registry("non-finite policy", choices.NONFINITE)
SHRINK = 0.02  # the original code's replacement gradient: 0.02 · W_hh


@dataclass
class ClipResult:
    norm: float  # pre-clip global L2 norm (inf/nan when the gradient was non-finite)
    clipped: bool
    finite: bool
    apply: bool  # False: skip the optimizer step
    loss: float = math.nan  # the loss passed in, read in the same host read as the norm


class Clipper:
    """Clips the gradients of `params` in place, one call per step: `clip(loss)` -> ClipResult. A norm
    that is NaN/Inf, or above `bad_norm` (the original code's guard: 1e10), goes to the non-finite policy.
    `w_hh`: the parameter behind W_hh (shrink's target); `skew`: it is the orthogonal model's, of which the
    map reads the strict lower triangle alone (random_step draws its noise there)."""

    def __init__(
        self,
        mode: str,
        threshold: float,
        nonfinite: str,
        params: list[torch.nn.Parameter],
        w_hh: torch.nn.Parameter,
        gen: torch.Generator,
        bad_norm: float | None = None,
        skew: bool = False,
    ):
        self.mode, self.v, self.bad_norm = mode, threshold, bad_norm
        self._clip, self._nonfinite = CLIPPING.get(mode), NONFINITE.get(nonfinite)
        self.params, self.w_hh, self.gen = params, w_hh, gen
        self.skew_at = next(i for i, p in enumerate(params) if p is w_hh) if skew else None

    def __call__(self, loss: torch.Tensor | None = None) -> ClipResult:
        grads = [p.grad for p in self.params if p.grad is not None]
        reads = [torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))]
        if self.mode == "value":  # max |g| over all components, in the same read
            reads.append(torch.stack(torch._foreach_norm(grads, math.inf)).max())
        if loss is not None:
            reads.append(loss.detach().reshape(()))
        # the step's one host read (free on CPU; on CUDA the only sync): it decides what happens below
        vals = (
            torch.stack([r.to(torch.float64) for r in reads]).tolist()
            if len(reads) > 1
            else [float(reads[0])]
        )
        norm, loss_value = vals[0], (vals[-1] if loss is not None else math.nan)
        if not math.isfinite(norm) or (self.bad_norm is not None and norm > self.bad_norm):
            return ClipResult(norm, False, False, self._nonfinite(self, grads), loss_value)
        max_abs = vals[1] if self.mode == "value" else math.nan
        return ClipResult(norm, self._clip(grads, self.v, norm, max_abs), True, True, loss_value)

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])


# ------------------------------------------------------------------------- modes: return whether clipped
@CLIPPING.register("none")
def _no_clipping(grads: list[torch.Tensor], v: float, norm: float, max_abs: float) -> bool:
    return False


@CLIPPING.register("norm")
def _clip_norm(grads: list[torch.Tensor], v: float, norm: float, max_abs: float) -> bool:
    if norm <= v:
        return False
    torch._foreach_mul_(grads, v / (norm + 1e-6))
    return True


@CLIPPING.register("value")
def _clip_value(grads: list[torch.Tensor], v: float, norm: float, max_abs: float) -> bool:
    if max_abs <= v:
        return False
    torch._foreach_clamp_min_(grads, -v)
    torch._foreach_clamp_max_(grads, v)
    return True


# ------------------------------------------------------- non-finite policies: return whether to step
@NONFINITE.register("skip")
def _skip(clipper: Clipper, grads: list[torch.Tensor]) -> bool:
    return False


@NONFINITE.register("shrink")
def _shrink(clipper: Clipper, grads: list[torch.Tensor]) -> bool:
    for g in grads:
        g.zero_()
    clipper.w_hh.grad.copy_(SHRINK * clipper.w_hh.detach())
    return True


@NONFINITE.register("random_step")
def _random_step(clipper: Clipper, grads: list[torch.Tensor]) -> bool:
    noise = [torch.randn(g.shape, generator=clipper.gen).to(g.device) for g in grads]
    if clipper.skew_at is not None:  # noise the map does not read would move nothing, and shrink the step
        noise[clipper.skew_at].tril_(-1)
    scale = clipper.v / float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(noise))))
    for g, z in zip(grads, noise, strict=True):
        g.copy_(z * scale)
    return True
