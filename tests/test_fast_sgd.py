"""fast_sgd.step is torch.optim.SGD.step bit for bit (with and without momentum, its state included),
and is used only where that holds."""

import pytest
import torch

from ltd_bench import fast_sgd


def _params(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(*s, generator=g)) for s in ((7, 5), (5,), (3, 7))]


def _groups(params, groups: bool):
    """One group, or the last parameter in a group of its own rate (the orthogonal model's A)."""
    return [{"params": params[:-1]}, {"params": params[-1:], "lr": 0.0041}] if groups else params


@pytest.mark.parametrize("momentum,groups", [(0.0, False), (0.9, False), (0.0, True), (0.9, True)])
def test_the_fast_step_is_sgds_bit_for_bit(momentum, groups):
    ours, ref = _params(0), _params(0)
    opt_ours = torch.optim.SGD(_groups(ours, groups), lr=0.037, momentum=momentum)
    opt_ref = torch.optim.SGD(_groups(ref, groups), lr=0.037, momentum=momentum)
    assert fast_sgd.plain(opt_ours)
    g = torch.Generator().manual_seed(1)
    for step in range(5):
        for a, b in zip(ours, ref, strict=True):
            grad = torch.randn(a.shape, generator=g) * 10.0**-step
            a.grad, b.grad = grad.clone(), grad.clone()
        ours[1].grad = ref[1].grad = None if step == 2 else ours[1].grad  # a parameter without a gradient
        fast_sgd.step(opt_ours)
        opt_ref.step()
        for a, b in zip(ours, ref, strict=True):
            assert torch.equal(a, b)
        sa, sb = opt_ours.state_dict(), opt_ref.state_dict()
        assert sa["state"].keys() == sb["state"].keys()
        for i, st in sb["state"].items():
            assert all(torch.equal(sa["state"][i][k], v) for k, v in st.items())


def test_other_settings_take_sgds_own_step():
    p = _params(0)
    assert not fast_sgd.plain(torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True))
    assert not fast_sgd.plain(torch.optim.SGD(p, lr=0.1, weight_decay=1e-4))
    assert not fast_sgd.plain(torch.optim.SGD(p, lr=0.1, maximize=True))
    assert not fast_sgd.plain(torch.optim.Adam(p, lr=0.1))
    extra = [{"params": p[:1]}, {"params": p[1:], "weight_decay": 1e-4}]  # any group's extras
    assert not fast_sgd.plain(torch.optim.SGD(extra, lr=0.1))
