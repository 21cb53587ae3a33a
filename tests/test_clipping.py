"""Clipping and the non-finite gradient policies, checked against hand computations
(docs/science.md, "Gradient clipping")."""

import math

import pytest
import torch

from ltd_bench import choices
from ltd_bench.clipping import CLIPPING, NONFINITE, SHRINK, Clipper


def test_every_declared_mode_and_policy_is_implemented():
    assert CLIPPING.missing() == [] and sorted(CLIPPING.names()) == sorted(choices.CLIPPING)
    assert NONFINITE.missing() == [] and sorted(NONFINITE.names()) == sorted(choices.NONFINITE)


def make(mode="none", v=1.0, policy="skip", seed=0):
    w = torch.nn.Parameter(torch.tensor([[0.5, -1.0], [2.0, 0.25]]))
    b = torch.nn.Parameter(torch.tensor([0.1, -0.2, 0.3]))
    w.grad = torch.tensor([[3.0, 0.0], [0.0, -4.0]])  # ‖·‖ = 5
    b.grad = torch.tensor([0.0, 12.0, 0.0])  # global ‖g‖ = 13
    return Clipper(mode, v, policy, [w, b], w, torch.Generator().manual_seed(seed)), w, b


def gnorm(*ps) -> float:
    return math.sqrt(sum(float((p.grad**2).sum()) for p in ps))


def test_norm_clipping_above_threshold():
    clip, w, b = make("norm", v=2.6)
    r = clip()
    assert r.norm == pytest.approx(13.0) and r.clipped and r.finite and r.apply
    assert gnorm(w, b) == pytest.approx(2.6, rel=1e-6)
    assert torch.allclose(w.grad, torch.tensor([[3.0, 0.0], [0.0, -4.0]]) * 0.2, rtol=1e-6)  # same direction
    assert torch.allclose(b.grad, torch.tensor([0.0, 2.4, 0.0]), rtol=1e-6)


def test_norm_clipping_below_threshold_is_untouched():
    clip, w, b = make("norm", v=13.5)
    r = clip()
    assert r.norm == pytest.approx(13.0) and not r.clipped and r.apply
    assert torch.equal(w.grad, torch.tensor([[3.0, 0.0], [0.0, -4.0]])) and torch.equal(
        b.grad, torch.tensor([0.0, 12.0, 0.0])
    )


def test_value_clipping():
    clip, w, b = make("value", v=3.5)
    r = clip()
    assert r.norm == pytest.approx(13.0) and r.clipped and r.apply  # the pre-clip norm is reported
    assert torch.equal(w.grad, torch.tensor([[3.0, 0.0], [0.0, -3.5]]))  # 3 is inside [-3.5, 3.5]: unchanged
    assert torch.equal(b.grad, torch.tensor([0.0, 3.5, 0.0]))
    assert all(float(g.abs().max()) <= 3.5 for g in (w.grad, b.grad))


def test_value_clipping_below_threshold():
    clip, w, b = make("value", v=12.0)
    r = clip()
    assert not r.clipped and torch.equal(b.grad, torch.tensor([0.0, 12.0, 0.0]))


def test_no_clipping_still_reports_the_norm():
    clip, w, b = make("none", v=0.1)
    r = clip()
    assert r.norm == pytest.approx(13.0) and not r.clipped and r.apply and gnorm(w, b) == pytest.approx(13.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("mode", ["none", "value", "norm"])
def test_skip_policy(bad, mode):
    clip, w, b = make(mode, policy="skip")
    b.grad[0] = bad
    r = clip()
    assert not r.finite and not r.apply and not r.clipped and not math.isfinite(r.norm)


@pytest.mark.parametrize("mode", ["none", "value", "norm"])
def test_shrink_policy(mode):
    clip, w, b = make(mode, policy="shrink")
    b.grad[1] = math.nan
    r = clip()
    assert not r.finite and r.apply
    assert torch.allclose(w.grad, SHRINK * w.detach()) and SHRINK == 0.02  # gradient := 0.02 W_hh
    assert torch.equal(b.grad, torch.zeros(3))  # every other gradient 0


@pytest.mark.parametrize("v", [0.7, 1.0, 5.0])
def test_random_step_policy(v):
    clip, w, b = make("norm", v=v, policy="random_step", seed=3)
    w.grad[0, 0] = math.inf
    r = clip()
    assert not r.finite and r.apply
    assert gnorm(w, b) == pytest.approx(v, rel=1e-5)  # a random direction of norm = threshold
    again, w2, b2 = make("norm", v=v, policy="random_step", seed=3)
    w2.grad[0, 0] = math.inf
    again()
    assert torch.equal(w.grad, w2.grad) and torch.equal(b.grad, b2.grad)  # seeded: reproducible


def test_the_loss_is_read_with_the_norm():
    clip, w, b = make("norm", v=100.0)
    r = clip(torch.tensor(0.125, requires_grad=True) * 2)
    assert r.loss == 0.25 and r.norm == pytest.approx(13.0)
    assert math.isnan(make()[0]().loss)  # no loss given: NaN, never a stale value from an earlier call


@pytest.mark.parametrize("policy", ["skip", "shrink"])
def test_a_norm_above_bad_norm_is_treated_as_non_finite(policy):
    clip, w, b = make("norm", v=1.0, policy=policy)
    clip.bad_norm = 10.0  # the global norm is 13: the original code's guard, scaled down
    r = clip()
    assert not r.finite and r.apply == (policy == "shrink") and r.norm == pytest.approx(13.0)
    ok, w2, b2 = make("norm", v=1.0, policy=policy)
    ok.bad_norm = 13.5
    r2 = ok()
    assert (
        r2.finite and r2.clipped and gnorm(w2, b2) == pytest.approx(1.0, rel=1e-5)
    )  # below the guard: clipped
