"""The peer (bench_peer.py): its vmap(grad(...)) gives each run the gradient autograd gives that run's
own nn.RNN + Linear on the same batch, and its step is plain SGD with it."""

import pytest
import torch

from ltd_bench.bench_peer import Peer
from ltd_bench.config import validate_dict
from ltd_bench.models import build_model


def configs(k, **train):
    return [
        validate_dict(
            {
                "seed": s,
                "task": {"name": "adding", "seq_len": 9, "test_size": 20},
                "model": {"hidden_size": 7},
                "train": {"batch_size": 5, **train},
            },
            "test",
        )
        for s in range(k)
    ]


def test_the_peer_computes_each_runs_autograd_gradient_and_steps_sgd():
    cfgs = configs(3, lr=0.1)
    peer = Peer(cfgs)
    x, y = peer.batches()
    grads = peer.grads(peer.params, peer.buffers, x, y)
    before = {n: p.detach().clone() for n, p in peer.params.items()}
    for k, c in enumerate(cfgs):
        net = build_model(c.model, peer.task.input_size, peer.task.output_size, seed=c.seed)
        for n, p in net.named_parameters():  # the ensemble starts from each run's own weights
            assert torch.equal(p.detach(), before[n][k])
        out, _ = net(x[k])
        peer.task.loss(out, y[k]).backward()
        for n, p in net.named_parameters():
            torch.testing.assert_close(grads[n][k], p.grad, rtol=1e-5, atol=1e-7, msg=n)
    peer2 = Peer(cfgs)
    peer2.step()  # draws the same batches (each run's generator from its seed), then SGD
    for n, p in peer2.params.items():
        torch.testing.assert_close(p.detach(), before[n] - 0.1 * grads[n], rtol=1e-5, atol=1e-7)


def test_the_peer_needs_one_learning_rate():
    cfgs = configs(2)
    cfgs[1] = cfgs[1].model_copy(update={"train": cfgs[1].train.model_copy(update={"lr": 0.5})})
    with pytest.raises(ValueError, match="one learning rate"):
        Peer(cfgs)
