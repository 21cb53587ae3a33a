"""The floor (bench_floor.py) lists the work a pack's step does: its products' multiply-adds and its tanh
evaluations equal those the pack dispatches (recorded op by op under a TorchDispatchMode), at the
step's shapes; its measure runs every op and times each."""

import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ltd_bench.bench_floor import Floor, floor_ops
from ltd_bench.config import validate_dict
from ltd_bench.models import training_threads
from ltd_bench.pack import Pack
from ltd_bench.train import Trainer

PRODUCTS = {"mm", "addmm", "bmm", "baddbmm"}


class Record(TorchDispatchMode):
    """Multiply-adds of every product and the elements of every tanh dispatched meanwhile."""

    def __init__(self):
        super().__init__()
        self.macs = self.tanh = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__.rstrip("_")
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if name in PRODUCTS:
            a, b = tensors[-2], tensors[-1]  # (…, M, K) @ (…, K, N), after any bias / out
            self.macs += math.prod(a.shape) * b.shape[-1]
        elif name == "tanh":
            self.tanh += tensors[0].numel()
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("K,L,B,H", [(3, 7, 20, 12), (5, 12, 8, 25)])
def test_the_floor_counts_the_products_and_tanh_of_a_pack_step(K, L, B, H):
    cfgs = [
        validate_dict(
            {
                "seed": s,
                "task": {"name": "adding", "seq_len": L, "test_size": 20},
                "model": {"hidden_size": H},
                "train": {"batch_size": B},
            },
            "test",
        )
        for s in range(K)
    ]
    with training_threads(1):
        p = Pack([Trainer(c) for c in cfgs])
        batches = [tr.task.sample(B, tr.data_gen) for tr in p.trainers]
        with Record() as rec:
            p.backward([x for x, _ in batches], [y for _, y in batches], [0.0] * K)
    task = p.task
    ops = floor_ops(K, L, B, task.input_size, H, task.output_size)
    assert sum(op.count * op.macs for op in ops) == rec.macs > 0
    assert sum(op.count * op.tanh for op in ops) == rec.tanh == L * K * B * H


def test_the_floor_measure_runs_every_op_and_times_each():
    f = Floor(4, 6, 8, 2, 16, steps=3)
    assert f.run() == 12  # run-steps: pack steps × K
    assert set(f.times) == {op.name for op in floor_ops(4, 6, 8, 2, 16)}
    assert all(len(ts) == 1 and ts[0] > 0 for ts in f.times.values())
