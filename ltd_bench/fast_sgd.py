"""torch.optim.SGD's step for the settings a run uses, without its per-call overhead.

A step of the paper's net (H = 50) is a few hundred microseconds of arithmetic; `SGD.step` adds its
own: the no-grad and profiler wrappers, building per-group lists, dispatch to `_single_tensor_sgd`
(measured ~3× the arithmetic of six small parameter updates). `step` does the same in-place ops as the
single-tensor path — the CPU's default — in the same order, so every bit is the same: p ← p − lr·d with
d the gradient or, with momentum, the buffer b ← m·b + g (b = g at the first step), kept in the
optimizer's own state (its checkpoints unchanged), group by group with each group's own rate and
momentum (the orthogonal model's A is a group of its own, models.RecurrentNet.param_groups). Other
settings (weight decay, dampening, Nesterov, maximize, tensors as lr, CUDA's foreach path) go to
SGD.step itself.
"""

from __future__ import annotations

import torch


def plain(opt: torch.optim.Optimizer) -> bool:
    """Whether `step` applies: a CPU torch.optim.SGD whose every group has the default extras."""
    return type(opt) is torch.optim.SGD and all(_plain(g) for g in opt.param_groups)


def _plain(g: dict) -> bool:
    extras = (g["weight_decay"], g["dampening"], g["nesterov"], g["maximize"], g.get("differentiable"))
    on_cpu = all(p.device.type == "cpu" for p in g["params"])
    return on_cpu and not any(extras) and not g.get("foreach") and isinstance(g["lr"], float)


@torch.no_grad()
def step(opt: torch.optim.SGD) -> None:
    """SGD.step's arithmetic (single-tensor path) for an optimizer for which `plain` holds."""
    for g in opt.param_groups:
        lr, m = g["lr"], g["momentum"]
        for p in g["params"]:
            if p.grad is None:
                continue
            d = p.grad
            if m != 0:
                state = opt.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = d.detach().clone()
                else:
                    buf.mul_(m).add_(d, alpha=1)  # SGD's alpha = 1 - dampening (0)
                d = buf
            p.add_(d, alpha=-lr)
