"""The peer: what a PyTorch user writes to train K small nets at once — a `torch.func` ensemble.

The K runs' `nn.RNN` + `nn.Linear` read-out (models.RecurrentNet, each built from its run's seed as
`ltd-bench run` builds it) are stacked with `stack_module_state`; one step draws each run's batch from
its own generator (task.sample, as a run does), takes every run's gradient at once with
`vmap(grad(loss))` over `functional_call` of the module, and updates with plain SGD (one foreach add).
No clipping, no Ω: the least a peer does per step. `bench --pack` times it beside the packs.
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch.func import functional_call, grad, stack_module_state, vmap

from .config import Config
from .models import build_model
from .tasks import task_of


class Peer:
    """K runs (configs that agree on the task, model and batch) as one torch.func ensemble."""

    def __init__(self, cfgs: Sequence[Config], device: torch.device | str = "cpu"):
        first = cfgs[0]
        self.task, self.batch, self.device = task_of(first.task), first.train.batch_size, torch.device(device)
        task = self.task
        models = [
            build_model(c.model, task.input_size, task.output_size, seed=c.seed).to(self.device) for c in cfgs
        ]
        self.params, self.buffers = stack_module_state(models)
        base = copy.deepcopy(models[0]).to("meta")

        def loss(params, buffers, x, y):
            out, _ = functional_call(base, (params, buffers), (x,))
            return task.loss(out, y)

        self.grads = vmap(grad(loss))
        self.gens = [torch.Generator(self.device).manual_seed(c.seed + 1) for c in cfgs]
        self.lr = [c.train.lr for c in cfgs]
        if len(set(self.lr)) != 1:
            raise ValueError("a peer ensemble steps every run at one learning rate")

    def __len__(self) -> int:
        return len(self.gens)

    def batches(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each run's next batch from its own generator, stacked on a leading run axis."""
        xs, ys = zip(*(self.task.sample(self.batch, g) for g in self.gens), strict=True)
        return torch.stack(xs), torch.stack(ys)

    def step(self) -> None:
        x, y = self.batches()
        g = self.grads(self.params, self.buffers, x, y)
        with torch.no_grad():
            torch._foreach_add_(list(self.params.values()), [g[n] for n in self.params], alpha=-self.lr[0])
