"""Gradient clipping (DESIGN.md): element-wise (Mikolov 2012) and global norm (Pascanu 2013, Alg. 1),
and what to do with a non-finite gradient. Applied after Ω's gradient is added, just before the update."""

from __future__ import annotations

from dataclasses import dataclass

import math

import torch

from .registry import Registry

CLIPPING: Registry = Registry("clipping mode")
CLIPPING.register("none", "no clipping; the pre-clip norm is still logged")(None)
CLIPPING.register("value", "element-wise: each gradient component clipped to [-v, v] (Mikolov 2012)")(None)
CLIPPING.register("norm", "global L2 norm over all parameters: if ‖g‖ > v then g ← v g/‖g‖ (Pascanu 2013)")(
    None
)
NONFINITE = ("skip", "shrink", "random_step")
SHRINK = 0.02  # the original code's replacement gradient: 0.02 · W_hh


@dataclass
class ClipResult:
    norm: float  # pre-clip global L2 norm (inf/nan when the gradient was non-finite)
    clipped: bool
    finite: bool
    apply: bool  # False: skip the optimizer step
    loss: float = math.nan  # the `loss` handed to the Clipper for this step, read in the same host read


class Clipper:
    def __init__(
        self,
        mode: str,
        threshold: float,
        nonfinite: str,
        params: list[torch.nn.Parameter],
        w_hh: torch.nn.Parameter,
        gen: torch.Generator,
    ):
        self.mode, self.v, self.policy = mode, threshold, nonfinite
        self.params, self.w_hh, self.gen = params, w_hh, gen
        self.loss: torch.Tensor | None = (
            None  # set before a call: read with the norm (one device sync per step)
        )

    def __call__(self) -> ClipResult:
        grads = [p.grad for p in self.params if p.grad is not None]
        reads = [torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))]
        if self.mode == "value":  # max |g| over all components, in the same read
            reads.append(torch.stack(torch._foreach_norm(grads, math.inf)).max())
        if self.loss is not None:
            reads.append(self.loss.detach().reshape(()))
        # the step's one host read (free on CPU; on CUDA the only sync): it decides the policy below
        vals = (
            torch.stack([r.to(torch.float64) for r in reads]).tolist()
            if len(reads) > 1
            else [float(reads[0])]
        )
        n, loss = vals[0], (vals[-1] if self.loss is not None else math.nan)
        self.loss = None
        if not math.isfinite(n):
            return ClipResult(n, False, False, self._nonfinite(grads), loss)
        clipped = False
        if self.mode == "norm" and n > self.v:
            torch._foreach_mul_(grads, self.v / (n + 1e-6))
            clipped = True
        elif self.mode == "value":
            clipped = vals[1] > self.v
            if clipped:
                torch._foreach_clamp_min_(grads, -self.v)
                torch._foreach_clamp_max_(grads, self.v)
        return ClipResult(n, clipped, True, True, loss)

    def _nonfinite(self, grads: list[torch.Tensor]) -> bool:
        """Replace a NaN/Inf gradient according to the policy; return whether to take the step."""
        if self.policy == "skip":
            return False
        for g in grads:
            g.zero_()
        if self.policy == "shrink":  # original code: gradient := 0.02 W_hh, everything else 0
            self.w_hh.grad.copy_(SHRINK * self.w_hh.detach())
        else:  # random_step (the book): a random direction of norm v
            noise = [torch.randn(g.shape, generator=self.gen).to(g.device) for g in grads]
            scale = self.v / float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(noise))))
            for g, z in zip(grads, noise, strict=True):
                g.copy_(z * scale)
        return True
