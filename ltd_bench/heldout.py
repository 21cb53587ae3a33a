"""A run's held-out sequences: what evaluation and the Ω probe see.

By default one fixed set, drawn once from its own stream (task.test_seed), the same for every seed, so
that two evaluations differ only by the model. `task.test_fresh` draws new sequences from that stream at
every evaluation, as the original code checks (RNN.py); the stream's state is part of a checkpoint. With
a length range (task.seq_len_max) the set is spread evenly over it: up to LENGTHS lengths, equal shares.
"""

from __future__ import annotations

import torch

from .tasks import EVAL_CHUNK, Task  # EVAL_CHUNK lives there: config's memory check needs no torch

LENGTHS = 10  # lengths a held-out set spreads over when a run trains on a range


class HeldOut:
    def __init__(self, task: Task, size: int, seed: int, fresh: bool, device: torch.device):
        self.task, self.size, self.fresh, self.device = task, size, fresh, device
        self.gen = torch.Generator().manual_seed(seed)  # on the CPU: every device sees the same sequences
        self.sets = self._draw()

    def next(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The (x, y) chunks of the next evaluation: the fixed set, or freshly drawn ones."""
        if self.fresh:
            self.sets = self._draw()
        return self.sets

    @torch.inference_mode(False)  # called from an evaluation: the probe then takes gradients through them
    def _draw(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for T, n in self.layout():
            for i in range(0, n, EVAL_CHUNK):
                x, y = self.task.sample(min(EVAL_CHUNK, n - i), self.gen, T)
                out.append((x.to(self.device), y.to(self.device)))
        return out

    def layout(self) -> list[tuple[int | None, int]]:
        """(length, sequences) pairs: [(None, size)] for one length (the task's own draw, jitter included)."""
        lengths = self.task.lengths()
        if len(lengths) == 1:
            return [(None, self.size)]
        k = min(LENGTHS, len(lengths), self.size)
        picks = [lengths[(2 * j + 1) * len(lengths) // (2 * k)] for j in range(k)]  # centres of k equal bins
        return [(T, self.size // k + (j < self.size % k)) for j, T in enumerate(picks)]

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Continue the stream; a fixed set stays the one drawn at construction."""
        self.gen.set_state(state["gen"])
        if self.fresh:
            self.sets = None  # the next evaluation draws from the restored stream
