"""The fast paths behind `ltd-bench bench`'s numbers compute the same thing as the references, and
`bench --quick` runs end to end (no timing assertions: timings are the bench's output, not a test)."""

from __future__ import annotations

import csv

import pytest
import torch
from typer.testing import CliRunner

from ltd_bench import models as models_module
from ltd_bench.bench import COLUMNS
from ltd_bench.cli import app
from ltd_bench.config import Config, ModelConfig
from ltd_bench.models import build_model
from ltd_bench.omega import OmegaRNN, naive_omega, omega_for
from ltd_bench.train import Trainer

SIZES = [(1, 1, 1, 1), (2, 3, 2, 4), (9, 4, 3, 7), (23, 5, 2, 16)]  # (L, B, input, H)


def _net(L, B, I, H, nonlinearity="tanh", seed=0, out=2):
    net = build_model(
        ModelConfig(type="rnn", hidden_size=H, nonlinearity=nonlinearity), I, out, seed
    ).double()
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():  # weights large enough that Ω's terms are far from trivial
        net.rnn.weight_hh_l0.normal_(0, 1.2 / H**0.5, generator=g)
    x = torch.randn(L, B, I, generator=g, dtype=torch.float64)
    return net, x, g


def _loss_fns(L, B, g):
    y_seq = torch.randn(L, B, 2, generator=g, dtype=torch.float64)
    y_last = torch.randn(B, generator=g, dtype=torch.float64)
    return {
        "sequence": lambda out: (out - y_seq).square().mean(),  # the read-out gradient is dense
        "last": lambda out: (out[-1, :, 0] - y_last).square().mean(),
    }  # ... or zero before the last step


def _grads(net):
    return {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("form", ["book", "pascanu2013"])
@pytest.mark.parametrize("target", ["sequence", "last"])
def test_fast_omega_matches_naive_reference(size, form, target):
    """Ω and the gradient of loss + αΩ from the hand-written BPTT (Ω in closed form inside the backward)
    equal the naive reference: a Python-unrolled RNN, g_t by autograd with create_graph, autograd for Ω."""
    L, B, I, H = size
    net, x, g = _net(L, B, I, H, seed=L)
    loss_fn = _loss_fns(L, B, g)[target]
    alpha = 0.37
    net.zero_grad()
    out, _ = net(x)  # reference: nn.RNN autograd for the loss ...
    loss_fn(out).backward()
    ref_omega = naive_omega(net, x, None, loss_fn, form)  # ... and the naive Ω, differentiated by autograd
    (alpha * ref_omega).backward()
    ref = _grads(net)
    for hint in (None, target == "last"):  # Ω checks the read-out gradient itself, or is told
        net.zero_grad()
        hook = OmegaRNN(alpha, form, last_only=hint)
        out, _ = net.forward_fast(x, hook)
        loss_fn(out).backward()
        torch.testing.assert_close(hook.omega, ref_omega.detach(), rtol=1e-10, atol=1e-12)
        got = _grads(net)
        assert set(got) == set(ref)
        for name in ref:
            torch.testing.assert_close(got[name], ref[name], rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.parametrize("form", ["book", "pascanu2013"])
def test_fast_omega_matches_the_exposed_autograd_path(form):
    """The closed form agrees with the batched autograd Ω (omega_for, checked against explicit Jacobians
    in test_omega.py), for Ω's own gradient alone (zero loss weight is not possible: compare differences)."""
    net, x, g = _net(12, 3, 2, 6, seed=5)
    loss_fn = _loss_fns(12, 3, g)["sequence"]
    net.zero_grad()
    out, hs, u = net.forward_exposed(x)
    u.retain_grad(), hs.retain_grad()
    loss_fn(out).backward()
    omega, ratio, _ = omega_for(net, u.grad, hs.grad, u, hs, form)
    omega.backward()
    ref = _grads(net)
    net.zero_grad()
    hook = OmegaRNN(1.0, form)
    out, _ = net.forward_fast(x, hook)
    loss_fn(out).backward()
    torch.testing.assert_close(hook.omega, omega.detach())
    torch.testing.assert_close(hook.ratio, ratio.detach())
    for name, grad in _grads(net).items():
        torch.testing.assert_close(grad, ref[name], msg=name)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("size", SIZES)
def test_hand_written_bptt_matches_autograd(nonlinearity, size):
    L, B, I, H = size
    net, x, g = _net(L, B, I, H, nonlinearity, seed=2 * L)
    x.requires_grad_(True)
    loss_fn = _loss_fns(L, B, g)["sequence"]
    net.zero_grad()
    out, hs = net(x)
    loss_fn(out).backward()
    ref, ref_x = _grads(net), x.grad.clone()
    x.grad = None
    net.zero_grad()
    out2, hs2 = net.forward_fast(x)
    torch.testing.assert_close(hs2, hs.detach())
    loss_fn(out2).backward()
    for name, grad in _grads(net).items():
        torch.testing.assert_close(grad, ref[name], msg=name)
    torch.testing.assert_close(x.grad, ref_x)
    assert (
        net.rnn.bias_ih_l0.grad is not net.rnn.bias_hh_l0.grad
    )  # separate tensors: clipping scales each once


def _cfg(alpha, form="book", nonlinearity="tanh"):
    return Config.model_validate(
        {
            "task": {"name": "adding", "seq_len": 30, "test_size": 120},
            "model": {"type": "rnn", "hidden_size": 12, "nonlinearity": nonlinearity},
            "train": {"batch_size": 6, "steps": 5, "threads": 1},
            "clipping": {"mode": "norm", "threshold": 0.5},
            "regularizer": {"omega_weight": alpha, "form": form},
        }
    )


@pytest.mark.parametrize("alpha,form", [(0.0, "book"), (2.0, "book"), (2.0, "pascanu2013")])
def test_trainer_fast_path_takes_the_same_steps(alpha, form, monkeypatch):
    """Trainer.step and Trainer.probe on the fast path reproduce the autograd path (fused nn.RNN,
    identity-input δ, Ω by autograd) to float32 rounding."""
    fast = Trainer(_cfg(alpha, form))
    monkeypatch.setattr(models_module.RecurrentNet, "fast_path", property(lambda self: False))
    slow = Trainer(_cfg(alpha, form))
    monkeypatch.undo()
    assert fast.model.fast_path
    for _ in range(4):
        a = fast.step(alpha)
        monkeypatch.setattr(models_module.RecurrentNet, "fast_path", property(lambda self: False))
        b = slow.step(alpha)
        pb = slow.probe() if _ == 3 else None
        monkeypatch.undo()
        assert a[0] == pytest.approx(b[0], rel=1e-4) and a[1] == pytest.approx(b[1], rel=1e-4)
        assert a[2:] == b[2:]
    for p, q in zip(fast.model.parameters(), slow.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
    pa = fast.probe()
    assert pa["omega"] == pytest.approx(pb["omega"], rel=1e-4)
    assert pa["ratio_mean"] == pytest.approx(pb["ratio_mean"], rel=1e-4)
    assert pa["grad_norm"] == pytest.approx(pb["grad_norm"], rel=1e-3, abs=1e-9)


def test_bench_quick_writes_one_row_per_measure(tmp_path):
    out = tmp_path / "bench.csv"
    result = CliRunner().invoke(app, ["bench", "--quick", "--csv", str(out)])
    assert result.exit_code == 0, result.output
    with open(out, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == COLUMNS
    measures = [r["measure"] for r in rows]
    assert measures == [
        "step",
        "step_omega_book",
        "step_omega_pascanu2013",
        "step_naive_omega",
        "data_generation",
        "peak_mem_step",
        "peak_mem_omega_book",
        "bare_loop_rnn",
        "run_loop_rnn",
        "bare_loop_lstm",
        "run_loop_lstm",
    ]
    by = {r["measure"]: r for r in rows}
    # the denominators the module documents: each Ω step and the data against the plain step, each
    # trainer loop against its hand-written loop, Ω's peak memory against the plain step's
    assert {m: r["ratio_to"] for m, r in by.items() if r["ratio_to"]} == {
        "step_omega_book": "step",
        "step_omega_pascanu2013": "step",
        "step_naive_omega": "step",
        "data_generation": "step",
        "peak_mem_omega_book": "peak_mem_step",
        "run_loop_rnn": "bare_loop_rnn",
        "run_loop_lstm": "bare_loop_lstm",
    }
    for r in rows:
        assert r["device"] == "cpu" and r["threads"] == "1" and r["torch"] == torch.__version__ and r["cpu"]
        # --quick's sizes, as its help says: tiny everything
        assert (r["seq_len"], r["hidden"], r["batch"], r["repeats"], r["steps"]) == ("12", "8", "4", "2", "2")
        key = "peak_mb" if r["measure"].startswith("peak_mem") else "median_ms_per_step"
        other = {"peak_mb", "median_ms_per_step", "cpu_ms_per_step"} - {key}
        assert float(r[key]) > 0 and all(r[k] == "" for k in other - {"cpu_ms_per_step"})
        if key == "median_ms_per_step":
            assert float(r["cpu_ms_per_step"]) >= 0
        if r["ratio_to"]:  # a ratio of the two rows' medians, exactly as written
            assert float(r["ratio"]) == float(r[key]) / float(by[r["ratio_to"]][key])
        else:
            assert r["ratio"] == r["goal"] == r["ok"] == ""
        if r["goal"]:
            assert r["ok"] == ("yes" if float(r["ratio"]) <= float(r["goal"]) else "no")
        else:
            assert r["ok"] == ""
    missed = sorted(r["measure"] for r in rows if r["ok"] == "no")
    assert ("all goals met" in result.output) == (not missed)
    assert all(m in result.output for m in missed)
    assert "step_omega_book" in result.output and "ratio" in result.output


def test_bench_rejects_bad_usage():
    result = CliRunner().invoke(app, ["bench", "--seq-len", "1"])
    assert result.exit_code == 2


@pytest.mark.parametrize("form", ["book", "pascanu2013"])
@pytest.mark.parametrize("target", ["sequence", "last"])
def test_lstm_flow_matches_the_autograd_probe(form, target):
    """The LSTM probe's hand-written BPTT + closed-form g_t J_t equal omega_gated on forward_exposed's δ
    (the identity-input trick + a VJP of one cell step: checked against explicit Jacobians in test_omega)."""
    from torch.nn import functional as F

    from ltd_bench.omega import lstm_flow

    for L, B, I, H in SIZES:
        net = build_model(ModelConfig(type="lstm", hidden_size=H), I, 2, seed=L).double()
        g = torch.Generator().manual_seed(L)
        x = torch.randn(L, B, I, generator=g, dtype=torch.float64)
        loss_fn = _loss_fns(L, B, g)[target]
        out, hs, u = net.forward_exposed(x)
        delta, direct = torch.autograd.grad(loss_fn(out), [u, hs])
        ref_omega, ref_ratio, ref_g = omega_for(net, delta, direct, u, hs, form)
        r = net.rnn
        hs2 = r(x)[0].detach().requires_grad_()
        (direct2,) = torch.autograd.grad(loss_fn(net.readout(hs2)), hs2)
        u2 = F.linear(x, r.weight_ih_l0, r.bias_ih_l0).detach()
        omega, ratio, g_t = lstm_flow(
            u2, hs2.detach(), direct2, r.weight_hh_l0.detach(), r.bias_hh_l0.detach(), form
        )
        torch.testing.assert_close(omega, ref_omega.detach())
        torch.testing.assert_close(ratio, ref_ratio.detach())
        torch.testing.assert_close(g_t, ref_g)


def test_evaluate_in_slices_matches_one_batch():
    """evaluate() reads the test set in slices and, for "last" tasks, the last step only: same numbers."""
    from ltd_bench.train import EVAL_SLICE

    for kind in ("rnn", "lstm"):
        cfg = Config.model_validate(
            {
                "task": {"name": "adding", "seq_len": 15, "test_size": 2 * EVAL_SLICE + 7},
                "model": {"type": kind, "hidden_size": 9},
                "train": {"threads": 1},
            }
        )
        tr = Trainer(cfg)
        loss, err = tr.evaluate()
        with torch.no_grad():
            ref = [
                (tr.task.loss(tr.model(x)[0], y) * x.shape[1], tr.task.wrong(tr.model(x)[0], y).sum())
                for x, y in tr.test
            ]
        n = cfg.task.test_size
        assert loss == pytest.approx(float(sum(r[0] for r in ref)) / n, rel=1e-5)
        assert err == pytest.approx(float(sum(r[1] for r in ref)) / n)


@pytest.mark.parametrize("update", ["auto", "both"])
def test_bench_pack_quick_times_packs_against_one_run(tmp_path, update):
    """`bench --pack`: per T and Ω off/on, the single run and each pack size (per update path), per
    run-step; a speedup over the single run (same Ω) for packs, the Ω pack's ratio to the plain pack of
    its size and path; per K the floor and the peer, each pack's time over the floor and the peer's over
    the plain pack's; goals from 8 runs."""
    out = tmp_path / "pack.csv"
    args = ["bench", "--quick", "--pack", "1", "--pack", "8", "--update", update, "--csv", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    paths = [""] if update == "auto" else ["", "_batched"]
    packs = lambda k, om="": [(f"pack_{k}{p}{om}", str(k)) for p in paths]
    assert [(r["measure"], r["pack"]) for r in rows] == [
        ("single", ""),
        *packs(1),
        ("floor_1", "1"),
        ("peer_1", "1"),
        *packs(8),
        ("floor_8", "8"),
        ("peer_8", "8"),
        ("single_omega", ""),
        *packs(1, "_omega"),
        *packs(8, "_omega"),
    ]
    by = {r["measure"]: r for r in rows}
    for r in rows:
        ms = float(r["median_ms_per_step"])
        assert ms > 0 and float(r["run_steps_per_s"]) == pytest.approx(1e3 / ms)
        single = by["single_omega" if r["measure"].endswith("_omega") else "single"]
        is_pack = r["measure"].startswith("pack_")
        assert (r["update"] != "") == is_pack
        if is_pack:
            assert r["update"] == ("batched" if "_batched" in r["measure"] else "per_run")
            assert float(r["speedup"]) == float(single["median_ms_per_step"]) / ms
            floor = float(by[f"floor_{r['pack']}"]["median_ms_per_step"])
            assert float(r["floor_ms"]) == floor and float(r["floor_ratio"]) == ms / floor
        if r["measure"].endswith("_omega") and is_pack:
            assert r["ratio_to"] == r["measure"].removesuffix("_omega")
            assert float(r["ratio"]) == ms / float(by[r["ratio_to"]]["median_ms_per_step"])
            assert (r["goal"] != "") == (r["pack"] == "8") and r["peer_ratio"] == r["floor_goal"] == ""
        elif is_pack:
            peer = float(by[f"peer_{r['pack']}"]["median_ms_per_step"])
            assert float(r["peer_ratio"]) == peer / ms
            assert (r["floor_goal"] != "") == (r["peer_goal"] != "") == (r["pack"] == "8")
        assert (r["speedup_goal"] != "") == (is_pack and r["pack"] == "8")
        if r["ok"]:  # every goal of the row met
            met = float(r["speedup"]) >= float(r["speedup_goal"])
            met = met and (r["goal"] == "" or float(r["ratio"]) <= float(r["goal"]))
            met = met and (r["floor_goal"] == "" or float(r["floor_ratio"]) <= float(r["floor_goal"]))
            met = met and (r["peer_goal"] == "" or float(r["peer_ratio"]) >= float(r["peer_goal"]))
            assert r["ok"] == ("yes" if met else "no")
    assert "pack of 8" in result.output and "run-steps/s" in result.output
    assert "floor of a pack of 8 at T=12" in result.output


def test_bench_pack_refuses_shapes_that_do_not_pack():
    result = CliRunner().invoke(app, ["bench", "--pack", "8", "--hidden", "5", "--seq-len", "20"])
    assert result.exit_code == 2 and "do not pack" in result.output
    result = CliRunner().invoke(app, ["bench", "--pack", "8", "--update", "fast"])
    assert result.exit_code == 2 and "--update" in result.output and "per_run" in result.output


def test_bench_pack_goes_on_without_a_peer_that_cannot_run(tmp_path, monkeypatch):
    """Where torch.func cannot run the peer (a device's RNN kernel without a vmap rule), the pack rows
    come without the peer's ratio and the output says why."""
    from ltd_bench import bench_peer

    def fail(self):
        raise RuntimeError("no batching rule")

    monkeypatch.setattr(bench_peer.Peer, "step", fail)
    out = tmp_path / "pack.csv"
    result = CliRunner().invoke(app, ["bench", "--quick", "--pack", "8", "--csv", str(out)])
    assert result.exit_code == 0, result.output
    with open(out, newline="") as f:
        rows = {r["measure"]: r for r in csv.DictReader(f)}
    assert "peer_8" not in rows and rows["pack_8"]["peer_ratio"] == rows["pack_8"]["peer_goal"] == ""
    assert rows["pack_8"]["floor_goal"] != ""
    assert "peer_8 (T=12) left out: RuntimeError: no batching rule" in result.output
