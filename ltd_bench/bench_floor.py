"""The torch-op floor of a packed step: the batched products and elementwise passes one step of a pack
of K vanilla tanh RNNs needs (Ω off, the loss on the last step), each timed alone on the machine at
hand, with nothing else — no Python bookkeeping, no data, no copies, no per-run calls. A pack step
made of PyTorch's own ops cannot take less; `bench --pack` prints each pack's time over it.

Per step (L time steps, K runs, batch B, I inputs, H hidden, O outputs), as pack.Pack computes it:
forward, per t: the input product (K × (B×I)@(I×H) + bias), the recurrent product (K × (B×H)@(H×H),
from t = 1), tanh; the read-out on h_L and its backward (three K × tiny products); backward: f' = 1 − h²
over all t, per t the recurrent product (from t = L−1 down) and δ ⊙ f'; the weight gradients as one
product over all steps each (K × (H×LB)@(LB×I) for W_ih, K × (H×(L−1)B)@((L−1)B×H) for W_hh, a sum
for the bias); the update: each run's gradient norm, the clipping scale, the SGD step over all
parameters. Products are the batched form (bmm/baddbmm over the run axis); `macs` and `tanh_elements`
let a test check the list against the products and the tanh the pack actually dispatches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Op:
    name: str
    count: int  # calls per pack step
    macs: int  # multiply-adds per call (products), 0 for elementwise passes
    tanh: int  # tanh evaluations per call
    build: Callable[[], Callable[[], object]]  # allocates the operands, returns the call


def floor_ops(K: int, L: int, B: int, I: int, H: int, O: int = 1, device="cpu") -> list[Op]:
    """The ops of one pack step (see the module doc), with their operand shapes."""
    f = dict(device=device, dtype=torch.float32)
    P = H * I + H * H + 2 * H + O * H + O  # parameters of one run

    def rnd(*shape):
        return torch.randn(*shape, **f) * 0.5

    def product(a, b, c=None):  # K × (a×b)@(b×c) into a buffer
        def build():
            x, w, out = rnd(K, a, b), rnd(K, b, c), torch.empty(K, a, c, **f)
            return lambda: torch.bmm(x, w, out=out)

        return build

    def acc_product(a, b, c):  # out += (a×b)@(b×c), in place, as the recurrences do
        def build():
            x, w, out = rnd(K, a, b), rnd(K, b, c), rnd(K, a, c)
            return lambda: out.baddbmm_(x, w)

        return build

    def input_product():
        x, w, bias, out = rnd(K, B, I), rnd(K, I, H), rnd(K, 1, H), torch.empty(K, B, H, **f)
        return lambda: torch.baddbmm(bias, x, w, out=out)

    def tanh():
        a, h = rnd(K, B, H) * 2, torch.empty(K, B, H, **f)
        return lambda: torch.tanh(a, out=h)

    def dtanh():
        hs, out = rnd(L, K, B, H).tanh(), torch.empty(L, K, B, H, **f)
        one = torch.ones((), **f)
        return lambda: torch.addcmul(one, hs, hs, value=-1, out=out)

    def mul():
        g, fp, d = rnd(K, B, H), rnd(K, B, H), torch.empty(K, B, H, **f)
        return lambda: torch.mul(g, fp, out=d)

    def bias_grad():
        d, out = rnd(K, L * B, H), torch.empty(K, H, **f)
        return lambda: torch.sum(d, 1, out=out)

    def clip():
        g, norm, out = rnd(K, P), torch.empty(K, **f), torch.empty(K, P, **f)

        def run():
            torch.linalg.vector_norm(g, dim=1, out=norm)
            torch.mul(g, norm.unsqueeze(1), out=out)

        return run

    def sgd():
        w, g = rnd(K, P), rnd(K, P)
        return lambda: w.add_(g, alpha=-0.01)

    return [
        Op("input product", L, K * B * I * H, 0, input_product),
        Op("recurrent product (forward)", L - 1, K * B * H * H, 0, acc_product(B, H, H)),
        Op("tanh", L, 0, K * B * H, tanh),
        Op("read-out", 1, K * B * H * O, 0, product(B, H, O)),
        Op("read-out backward (h)", 1, K * B * O * H, 0, product(B, O, H)),
        Op("read-out backward (W)", 1, K * O * B * H, 0, product(O, B, H)),
        Op("tanh derivative 1 - h²", 1, 0, 0, dtanh),
        Op("recurrent product (backward)", L - 1, K * B * H * H, 0, acc_product(B, H, H)),
        Op("δ ⊙ f'", L, 0, 0, mul),
        Op("W_hh gradient", 1, K * H * (L - 1) * B * H, 0, product(H, (L - 1) * B, H)),
        Op("W_ih gradient", 1, K * H * L * B * I, 0, product(H, L * B, I)),
        Op("bias gradient", 1, 0, 0, bias_grad),
        Op("gradient norm + clipping", 1, 0, 0, clip),
        Op("SGD update", 1, 0, 0, sgd),
    ]


class Floor:
    """A bench measure: every op of `floor_ops` `count` times in a row, once per pack step; `run()` does
    `steps` pack steps and returns the run-steps done (steps × K). `times[name]`: ms per pack step of
    each op, one entry per run() (for a breakdown)."""

    def __init__(self, K: int, L: int, B: int, I: int, H: int, O: int = 1, device="cpu", steps: int = 1):
        self.K, self.steps, self.device = K, steps, torch.device(device)
        self.ops = [(op, op.build()) for op in floor_ops(K, L, B, I, H, O, device)]
        self.times: dict[str, list[float]] = {op.name: [] for op, _ in self.ops}

    def run(self) -> int:
        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        for op, call in self.ops:
            sync()
            t0 = time.perf_counter()
            for _ in range(self.steps):
                for _ in range(op.count):
                    call()
            sync()
            self.times[op.name].append((time.perf_counter() - t0) * 1e3 / self.steps)
        return self.steps * self.K
