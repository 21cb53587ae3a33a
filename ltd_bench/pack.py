"""Packs: K vanilla-RNN runs that agree on shapes trained as one batched model.

A sweep is mostly one small net trained many times (seeds × methods × lengths). One run at H = 50,
batch 20 is a handful of (20 × 50) @ (50 × 50) products per time step, dominated by per-op dispatch
on a CPU core and by kernel launches on a GPU. A pack stacks K runs' weights on a leading axis and runs
the forward and the hand-written backward through time (models.rnn_states, models.bptt_rnn, Ω's
closed-form hook omega.OmegaRNN) once for all of them: one batched product per time step instead of K.

Everything else stays each run's own: its `train.Trainer` builds its weights from its own seed and
draws its batches from its own generator; its parameters and their .grad become views of its slice of
the stacked tensors, so its clipper (its own global norm and threshold), its optimizer (its own learning
rate, momentum, state), its evaluation, probe and checkpoints are the single-run code on its own
tensors (with `update="batched"`, the default on CUDA, clipping and optimizer steps run for every run
at once: batched.py). On the CPU a run trained in a pack gives the same numbers, bit for bit, as
trained alone (tests/test_pack.py); on CUDA the pack's hand-written BPTT replaces cuDNN, which agrees
to round-off.

What runs must share to pack (`pack_key`): the task and its length (one length for every batch: no
jitter, no length range), the model (a vanilla RNN — tanh, relu or sigmoid units — or an orthogonal RNN
and its map, and the hidden size), the batch size, the device and thread count, and Ω's form and whether
Ω is on; and shapes for which batching cannot move a last bit (batch × hidden and batch × inputs
multiples of 4 floats, batch × hidden × min(hidden, inputs) ≥ 400; see ALIGN and SMALL). Seeds, learning
rates, momentum, optimizers, clipping, Ω's weight and schedule, budgets and evaluation intervals may
differ; runs that finish (solved, diverged, out of steps, failed) leave the pack, so compute follows the
runs still training. The orthogonal RNN (orthogonal.py) packs too, with its map and nonlinearity in the
key: the runs' W_hh through the parametrization batched where each run keeps its bits alone — the Cayley
map always, exp(A) for the runs with ‖A‖₁ ≥ θ₁₂ (orthogonal.pack_weights: below it torch.matrix_exp picks
another Taylor degree for one matrix than for a batch), the others one by one — forward and backward,
and the batched BPTT on them. LSTM and GRU do not pack: the fused single-run kernel already batches each
step's gates, and a packed cell written with per-step products measured slower per run (README,
Performance).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch.nn import functional as F

from .models import WORKSPACE, bptt_rnn, rnn_grads, rnn_states
from . import batched, omega
from .omega import OmegaRNN
from .orthogonal import pack_weights
from .packplan import *  # noqa: F403  (pack_key, plan, ... were defined here: callers import them from pack)
from .packplan import pack_key

# a state_dict's names, in the order of RecurrentNet.parameters()
NAMES = (
    "rnn.weight_ih_l0",
    "rnn.weight_hh_l0",
    "rnn.bias_ih_l0",
    "rnn.bias_hh_l0",
    "readout.weight",
    "readout.bias",
)
ORIGINAL = "rnn.parametrizations.weight_hh_l0.original"  # the orthogonal model's A (orthogonal.py)


class Pack:
    """The training step of K trainers (train.Trainer) whose runs share a pack_key, as one batched model.

    Construction moves each trainer's weights into stacked tensors (a leading run axis) and makes its
    parameters and their gradients views of its slice, each aligned as a tensor of its own would be;
    `step` then does what Trainer.step does for each run — draw its batch, zero its gradients, the
    backward (Ω's gradient added), clip, update — with the recurrences batched over the runs.

    The first step of each layout (shapes, pack size, device, threads) in a process is also computed run
    by run, as alone (omega.backward), and the gradients compared bit for bit: BLAS libraries may give
    other last bits for a product batched, or at another memory alignment, than alone (MKL does, for
    some small shapes). If any differs, `exact` turns False, that step goes on with the single-run
    gradients, and the runs should step one by one from then on. A pack is built for a fixed set of
    runs: when runs leave, build a new one from the rest (their current weights are copied over)."""

    VERDICTS: dict[tuple, bool] = {}  # per layout: the batched step gave every run its single-run numbers

    def __init__(self, trainers: Sequence, update: str = "auto"):
        """update: how each run clips and steps — "per_run" (each run's Trainer.update), "batched"
        (batched.BatchedUpdate: at once, to float rounding), or "auto" (batched.DEFAULT per device)."""
        self.trainers = list(trainers)
        first = self.trainers[0]
        keys = {pack_key(tr.cfg) for tr in self.trainers}
        if None in keys or len(keys) > 1:
            raise ValueError("a pack needs runs that agree on its shapes (pack.pack_key)")
        params = [dict(tr.model.named_parameters()) for tr in self.trainers]
        self.names = tuple(params[0])  # NAMES, or the orthogonal model's (ORIGINAL for W_hh)
        with torch.no_grad():
            self.weights = {n: _aligned_stack([p[n].detach() for p in params]) for n in self.names}
            self.grads = {n: _aligned_stack([torch.zeros_like(p[n]) for p in params]) for n in self.names}
        for k, p in enumerate(params):
            for n in self.names:
                p[n].data = self.weights[n][k]
                p[n].grad = self.grads[n][k]
        self.task, self.batch = first.task, first.cfg.train.batch_size
        self.nonlinearity = first.model.rnn.nonlinearity
        reg = first.cfg.regularizer
        self.form = reg.form if reg.omega_weight > 0 else None  # Ω on for every run of the pack, or for none
        self.orthogonal = first.model.kind == "orthogonal"
        w = self.weights["readout.weight"]
        self.layout = (pack_key(first.cfg), len(self.trainers), str(w.device), torch.get_num_threads())
        self.exact = self.VERDICTS.get(self.layout)  # None: not checked yet in this process
        self.update = batched.resolve(update, w.device)
        w_hh = ORIGINAL if self.orthogonal else NAMES[1]  # the parameter behind W_hh (shrink's target)
        self.batched = (
            batched.BatchedUpdate(self.trainers, self.weights, self.grads, w_hh)
            if self.update == "batched"
            else None
        )

    def __len__(self) -> int:
        return len(self.trainers)

    def step(self, alphas: Sequence[float]) -> list[tuple[float, float, bool, bool]]:
        """One update of every run (Ω weights `alphas`, one per run). Returns per run what Trainer.step
        does: (loss, pre-clip gradient norm, clipped, gradient finite)."""
        batches = [tr.task.sample(self.batch, tr.data_gen) for tr in self.trainers]
        for g in self.grads.values():  # as zero_grad(set_to_none=False), then autograd's accumulation
            g.zero_()
        xs, ys = [xb for xb, _ in batches], [yb for _, yb in batches]
        losses = self.backward(xs, ys, alphas)
        if self.exact is None and self.device.type == "cpu":
            losses = self._check(xs, ys, alphas, losses)
        if self.batched is not None and self.exact is not False:  # (not: .grad are the single run's)
            return self.batched.step(losses)
        return [tr.update(loss) for tr, loss in zip(self.trainers, losses, strict=True)]

    @property
    def device(self) -> torch.device:
        return self.weights["readout.weight"].device

    def _check(self, xs, ys, alphas, losses) -> list[torch.Tensor]:
        """Compare this step's gradients and losses with the single run's (omega.backward, run by run, on
        the same batches); on any difference, leave the single run's in place (see the class doc)."""
        ours = {n: g.clone() for n, g in self.grads.items()}
        singles, same = [], True
        for k, (tr, x, y, alpha) in enumerate(zip(self.trainers, xs, ys, alphas, strict=True)):
            params = dict(tr.model.named_parameters())
            for p in params.values():
                p.grad = torch.zeros_like(p)
            loss = omega.backward(tr.model, tr.task, x, y, alpha, tr.cfg.regularizer.form)
            singles.append(loss.detach())
            same = same and torch.equal(loss.detach(), losses[k])
            for n, p in params.items():
                same = same and torch.equal(p.grad, ours[n][k])
        self.exact = self.VERDICTS[self.layout] = same
        if same:  # back to the pack's gradients (equal)
            for k, tr in enumerate(self.trainers):
                for n, p in tr.model.named_parameters():
                    p.grad = self.grads[n][k]
            return losses
        return singles

    def backward(
        self, xs: list[torch.Tensor], ys: list[torch.Tensor], alphas: Sequence[float]
    ) -> list[torch.Tensor]:
        """omega.backward's fast path for every run at once: adds ∇L (+ ∂(αΩ)/∂W_hh) to the gradients;
        returns each run's loss (0-d tensors, not read). The recurrences run time-major (L, K, B, H):
        each step's batched product then reads and writes one contiguous block; the products over all
        steps (weight gradients, Ω's) run-major (K, L, B, H), on copies."""
        w_ih, w_hh, b_ih, b_hh, act_bias, w_graph = self._recurrent()
        hs = rnn_states(
            torch.stack(xs, 1),
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            self.nonlinearity,
            WORKSPACE,
            act_bias=None if act_bias is None else act_bias.unsqueeze(-2),
        )
        losses, direct, g_out_w, g_out_b = self._readout(hs, ys)
        hook = None
        if self.form is not None:
            alpha = torch.tensor(list(alphas), dtype=hs.dtype, device=hs.device)
            hook = OmegaRNN(alpha, self.form, last_only=self.task.target == "last")
        # with Ω and the last step read out, δ = f' ⊙ g is formed run by run below, in cache
        defer = hook is not None and self.task.target == "last"
        delta, g = bptt_rnn(
            direct, hs, w_hh, self.nonlinearity, keep_g=hook is not None, ws=WORKSPACE, form_delta=not defer
        )
        terms = None
        if hook is not None:
            terms = hook.terms(delta, g, direct, w_hh, delta0=delta[0] * g[0] if defer else None)
            terms = (terms[0] * terms[2][:, 0], *terms[1:])  # g_0 J_0 ⊙ α c_0, every run at once
        gr = self.grads
        grad_w_hh = torch.empty_like(w_hh) if w_graph is not None else None
        for k, xk in enumerate(xs):  # each run's products over all steps on a copy of its slice, in cache
            dk = WORKSPACE.get("pack.delta", delta[:, k])
            dk = torch.mul(delta[:, k], g[:, k], out=dk) if defer else dk.copy_(delta[:, k])
            hk, g_hh = hs[:, k], None
            if terms is None:
                hk = WORKSPACE.get("pack.h", hk).copy_(hk)
            else:  # h_{t-1} + α c_t g_t J_t straight into a buffer of the run's own
                gj0c, gj, coef = terms
                right = WORKSPACE.get("pack.h", gj[:, k])
                g_hh = OmegaRNN.grad(dk, hk, gj0c[k], gj[:, k], coef[k], out=right, scaled=True)
            g_ih, g_hh, g_b = rnn_grads(dk, xk, hk, g_hh)
            gr["rnn.weight_ih_l0"][k].add_(g_ih)
            if w_graph is None:
                gr["rnn.weight_hh_l0"][k].add_(g_hh)
                gr["rnn.bias_ih_l0"][k].add_(g_b)
                gr["rnn.bias_hh_l0"][k].add_(g_b)
                continue
            grad_w_hh[k] = g_hh
            if act_bias is not None:  # modReLU's b: Σ_t δ_t ⊙ sign(h_t), as models._RNNFunction
                gr["rnn.modrelu_bias"][k].add_((dk * hk.sign()).sum((0, 1)))
            else:
                gr["rnn.bias_ih_l0"][k].add_(g_b)
        if w_graph is not None:  # W_hh's gradients back through the exponentials (pack_weights)
            grads = torch.autograd.grad(w_graph, self._originals, list(grad_w_hh.unbind(0)))
            for k, ga in enumerate(grads):
                gr[ORIGINAL][k].add_(ga)
        gr["readout.weight"].add_(g_out_w)
        gr["readout.bias"].add_(g_out_b)
        return losses

    def _recurrent(self) -> tuple:
        """(W_ih, W_hh, b_ih, b_hh, modReLU's b or None, and the orthogonal model's per-run W_hh with their
        graphs to A, or None), stacked: W_hh from each run's parametrization (orthogonal.py) on its A."""
        w = self.weights
        if not self.orthogonal:
            return (
                w["rnn.weight_ih_l0"],
                w["rnn.weight_hh_l0"],
                w["rnn.bias_ih_l0"],
                w["rnn.bias_hh_l0"],
                None,
                None,
            )
        rnn = self.trainers[0].model.rnn
        self._originals = [a.detach().requires_grad_() for a in w[ORIGINAL]]
        with torch.enable_grad():
            w_graph = pack_weights(rnn.parametrizations.weight_hh_l0[0], self._originals)
        zero = torch.zeros_like(w["readout.bias"][:, :1]).expand(len(self), rnn.hidden_size)
        b = w.get("rnn.bias_ih_l0", zero)
        w_hh = _aligned_stack([q.detach() for q in w_graph])
        return w["rnn.weight_ih_l0"], w_hh, b, zero, w.get("rnn.modrelu_bias"), w_graph

    def _readout(self, hs: torch.Tensor, ys: list[torch.Tensor]):
        """Each run's read-out and loss through autograd (as the single run's), in one backward for all:
        (losses, ∂L/∂h, the read-out weight's and bias's gradients). ∂L/∂h is (L, K, B, H), or (1, K, B, H)
        when the loss reads the last step only (models.bptt_rnn takes either)."""
        last = self.task.target == "last"  # the loss reads out[-1] only: read out the last step only
        h = (hs[-1:] if last else hs).detach().requires_grad_()
        wo = self.weights["readout.weight"].detach().requires_grad_()
        bo = self.weights["readout.bias"].detach().requires_grad_()
        with torch.enable_grad():
            losses = [
                self.task.loss(F.linear(hk, wk, bk), yk)
                for hk, wk, bk, yk in zip(h.unbind(1), wo.unbind(0), bo.unbind(0), ys, strict=True)
            ]
            direct, g_w, g_b = torch.autograd.grad(losses, [h, wo, bo])
        return [loss.detach() for loss in losses], direct, g_w, g_b


def _aligned_stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """torch.stack, with each slice starting on a 64-byte boundary, as a tensor of its own does (PyTorch's
    CPU allocator aligns to 64 bytes): a run's parameters then sit in memory as they would alone."""
    first = tensors[0]
    n = first.numel()
    per = -(-n * first.element_size() // 64) * 64 // first.element_size()  # n rounded up to 64 bytes
    buf = first.new_empty(len(tensors), per)
    for row, t in zip(buf, tensors, strict=True):
        row[:n].copy_(t.reshape(-1))
    return buf[:, :n].view(len(tensors), *first.shape) if per == n else buf[:, :n].unflatten(1, first.shape)
