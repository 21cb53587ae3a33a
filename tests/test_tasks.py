"""Tasks: generator structure, determinism, losses, error criteria and closed-form baselines."""

import math

import pytest
import torch
import torch.nn.functional as F

from ltd_bench.registry import UnknownName
from ltd_bench.tasks import TASKS, Task, make_task, preset, task_options, task_variants

CASES = [(n, v) for n in TASKS.names() for v in task_variants(n)]
IDS = [f"{n}-{v}" for n, v in CASES]
T = 20  # short, but every window (0.1 T wide) holds >= 2 steps


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def one_hot_channels(task: Task) -> bool:
    return task.name in {"copying", "memorization", "temporal_order", "temporal_order_3bit", "permutation"}


@pytest.mark.parametrize("name,variant", CASES, ids=IDS)
def test_shapes_dtypes_ranges(name, variant):
    task = make_task(name, T, variant)
    assert isinstance(task, Task) and task.name == name and task.variant == variant
    lengths = set()
    for i in range(12):
        x, y = task.sample(5, gen(i))
        L = x.shape[0]
        lengths.add(L)
        assert x.dtype == torch.float32 and x.shape[1:] == (5, task.input_size)
        assert L <= task.max_len()
        if task.options.get("jitter"):
            assert T <= L < T + T // 10
        else:
            assert L == task.max_len()
        if task.target == "sequence":
            assert y.shape == (L, 5) and y.dtype == torch.int64
        else:
            assert y.shape == (5,)
            assert y.dtype == (torch.float32 if task.loss_kind == "mse" else torch.int64)
        if task.loss_kind == "ce":
            assert 0 <= int(y.min()) and int(y.max()) < task.output_size
        else:
            assert task.output_size == 1
        if one_hot_channels(task):
            assert torch.equal(x.sum(-1), torch.ones(L, 5))
    assert (len(lengths) > 1) == bool(task.options.get("jitter"))  # jitter is drawn per batch
    assert max(lengths) == task.max_len()  # the memory estimate is tight


@pytest.mark.parametrize("name,variant", CASES, ids=IDS)
def test_deterministic_given_generator(name, variant):
    task = make_task(name, T, variant)
    x1, y1 = task.sample(8, gen(3))
    x2, y2 = task.sample(8, gen(3))
    x3, y3 = task.sample(8, gen(4))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape != x3.shape or not torch.equal(x1, x3)


@pytest.mark.parametrize("name,variant", CASES, ids=IDS)
def test_float32_and_same_batch_under_any_default_dtype(name, variant):
    task = make_task(name, T, variant)
    x32, y32 = task.sample(4, gen(1))
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if old == torch.float32 else torch.float32)
    try:
        x, y = task.sample(4, gen(1))
    finally:
        torch.set_default_dtype(old)
    assert x.dtype == torch.float32 and torch.equal(x, x32) and torch.equal(y, y32)


# ----------------------------------------------------------------------------- structure per task

B = 300


def _windows(task, L):
    if task.name == "adding" and task.variant == "sum":
        return [(0, L // 2), (L // 2, L)]  # one marker in each half
    return [(0, L // 10), (L // 10, L // 2)]  # Pascanu: [0, 0.1l), [0.1l, 0.5l)


@pytest.mark.parametrize(
    "name,variant", [("adding", "sum"), ("adding", "pascanu"), ("multiplication", "standard")]
)
def test_two_marked_structure(name, variant):
    task = make_task(name, T, variant)
    x, y = task.sample(B, gen(0))
    vals, marker = x[..., 0], x[..., 1]
    assert ((vals >= 0) & (vals <= 1)).all() and set(marker.unique().tolist()) <= {0.0, 1.0}
    assert (marker.sum(0) == 2).all()
    pos = marker.t().nonzero()[:, 1].view(B, 2)  # sorted marker steps per sequence
    for i, (lo, hi) in enumerate(_windows(task, x.shape[0])):
        assert ((pos[:, i] >= lo) & (pos[:, i] < hi)).all()
    a, b = (vals * marker).t()[torch.arange(B)[:, None], pos].unbind(1)
    expect = {"sum": a + b, "pascanu": (a + b) / 2}.get(variant, a * b)
    assert torch.allclose(y, expect)


def test_copying_structure():
    task = make_task("copying", T)
    x, y = task.sample(B, gen(0))
    k, n = task.copy_len, task.n_symbols
    sym = x.argmax(-1)
    assert ((sym[:k] >= 1) & (sym[:k] <= n)).all()
    assert (sym[k : T + k - 1] == 0).all() and (sym[T + k - 1] == n + 1).all() and (sym[T + k :] == 0).all()
    assert (y[:-k] == 0).all() and torch.equal(y[-k:], sym[:k])
    assert task.output_size == n + 1 and task.input_size == n + 2
    assert sym[:k].unique().numel() == n  # every symbol occurs


def test_memorization_structure():
    task = make_task("memorization", T)
    x, y = task.sample(B, gen(0))
    k, n = task.n_pos, task.n_values
    sym = x.argmax(-1)
    assert (sym[:k] < n).all() and sym[:k].unique().numel() == n
    assert (sym[k : T + k] == n).all() and (sym[T + k] == n + 1).all() and (sym[T + k + 1 :] == n).all()
    assert (y[:-k] == n).all() and torch.equal(y[-k:], sym[:k])


@pytest.mark.parametrize("variant", ["all", "marked"])
def test_parity_structure(variant):
    task = make_task("parity", T, variant)
    x, y = task.sample(B, gen(0))
    bits = x[..., 0]
    assert set(bits.unique().tolist()) == {0.0, 1.0}
    if variant == "all":
        assert torch.equal(y, bits.sum(0).long() % 2)
    else:
        marker = x[..., 1]
        assert (marker.sum(0) == task.n_marked).all()
        assert torch.equal(y, (bits * marker).sum(0).long() % 2)
    assert 0.3 < y.float().mean() < 0.7


@pytest.mark.parametrize("name,starts", [("temporal_order", (1, 5)), ("temporal_order_3bit", (1, 3, 6))])
def test_temporal_order_structure(name, starts):
    task = make_task(name, T)
    x, y = task.sample(B, gen(0))
    sym = x.argmax(-1)
    relevant = sym < 2  # A = 0, B = 1
    assert (relevant.sum(0) == len(starts)).all()
    pos = relevant.t().nonzero()[:, 1].view(B, len(starts))
    v = sym.t()[torch.arange(B)[:, None], pos]
    for i, s in enumerate(starts):
        assert ((pos[:, i] >= s * T // 10) & (pos[:, i] < (s + 1) * T // 10)).all()
    assert torch.equal(y, (v * 2 ** torch.arange(len(starts))).sum(1))
    assert sym[~relevant].unique().tolist() == [2, 3, 4, 5]  # all four distractors occur
    assert task.output_size == 2 ** len(starts) and y.unique().numel() == task.output_size


def test_temporal_order_jitter_windows():
    task = make_task("temporal_order", 50, jitter=True)
    for seed in range(5):
        x, _ = task.sample(50, gen(seed))
        L = x.shape[0]
        pos = (x.argmax(-1) < 2).t().nonzero()[:, 1].view(50, 2)
        assert ((pos[:, 0] >= L // 10) & (pos[:, 0] < 2 * L // 10)).all()
        assert ((pos[:, 1] >= L // 2) & (pos[:, 1] < L // 2 + L // 10)).all()


def test_permutation_structure():
    task = make_task("permutation", T)
    x, y = task.sample(B, gen(0))
    sym = x.argmax(-1)
    assert torch.equal(y, sym[0]) and set(y.tolist()) == {0, 1}
    assert (sym[1:] >= 2).all() and (sym[1:] < task.n_symbols).all()
    assert task.output_size == task.input_size == task.n_symbols


# ----------------------------------------------------------------------------- trivial baselines


def trivial_out(task, x, y):
    """The best content-blind predictor fitted on the sample itself: the mean target (MSE), the class
    frequencies (CE at the last step), or per-step class frequencies (sequence targets)."""
    L, Bn = x.shape[:2]
    out = torch.zeros(L, Bn, task.output_size, dtype=torch.float32)
    if task.loss_kind == "mse":
        out[-1, :, 0] = y.mean()
    elif task.target == "last":
        out[-1] = torch.log(torch.bincount(y, minlength=task.output_size) / Bn).clamp_min(-1e4)
    else:
        freq = F.one_hot(y, task.output_size).float().mean(1, keepdim=True)
        out[:] = torch.log(freq).clamp_min(-1e4)
    return out


@pytest.mark.parametrize("name,variant", CASES, ids=IDS)
def test_baseline_matches_closed_form(name, variant):
    task = make_task(name, 10, variant)
    n = min(200_000, 4_000_000 // (task.max_len() * task.input_size))  # <= 16 MB of inputs
    x, y = task.sample(n, gen(11))
    out = trivial_out(task, x, y)
    loss = float(task.loss(out, y))
    if task.loss_kind == "mse":
        per_seq = (out[-1, :, 0] - y) ** 2
    elif task.target == "last":
        per_seq = F.cross_entropy(out[-1], y, reduction="none")
    else:
        per_seq = F.cross_entropy(out.permute(1, 2, 0), y.t(), reduction="none").mean(1)
    assert loss == pytest.approx(float(per_seq.mean()), rel=1e-5)
    # 5 standard errors; CE adds a little for the downward bias of a fitted (plug-in) entropy.
    bias = 1e-3 * task.baseline_loss if task.loss_kind == "ce" else 0.0
    tol = 5 * float(per_seq.std()) / math.sqrt(n) + bias
    assert abs(loss - task.baseline_loss) < tol, (loss, task.baseline_loss, tol)
    err = float(task.wrong(out, y).float().mean())
    p = task.baseline_error
    assert abs(err - p) < 5 * math.sqrt(max(p * (1 - p), 1e-4) / n) + 1e-3, (err, p)


def test_baseline_depends_on_length_where_it_should():
    assert make_task("copying", 100).baseline_loss == pytest.approx(10 * math.log(8) / 120)
    assert make_task("copying", 200).baseline_loss < make_task("copying", 100).baseline_loss
    assert make_task("adding", 100).baseline_loss == make_task("adding", 400).baseline_loss


# ----------------------------------------------------------------------------- wrong()


@pytest.mark.parametrize("name,variant", CASES, ids=IDS)
def test_wrong_criterion(name, variant):
    task = make_task(name, T, variant)
    x, y = task.sample(64, gen(5))
    L, C = x.shape[0], task.output_size
    hit = torch.arange(64) % 2 == 0  # sequences we spoil
    if task.loss_kind == "mse":
        out = torch.randn(L, 64, 1, dtype=torch.float32)  # earlier steps must not matter
        out[-1, :, 0] = y
        assert not task.wrong(out, y).any() and float(task.loss(out, y)) == 0.0
        r = math.sqrt(task.threshold)
        for scale, flagged in [(0.9, False), (1.1, True)]:
            bad = out.clone()
            bad[-1, hit, 0] += scale * r
            assert torch.equal(task.wrong(bad, y), hit & flagged)
    elif task.target == "last":
        out = torch.randn(L, 64, C, dtype=torch.float32)
        out[-1] = 50 * F.one_hot(y, C).float()
        assert not task.wrong(out, y).any() and float(task.loss(out, y)) < 1e-6
        bad = out.clone()
        bad[-1, hit] = 50 * F.one_hot((y[hit] + 1) % C, C).float()
        assert torch.equal(task.wrong(bad, y), hit)
    else:
        out = 50 * F.one_hot(y, C).float()
        assert not task.wrong(out, y).any() and float(task.loss(out, y)) < 1e-6
        bad = out.clone()
        step = L - 1 - torch.arange(64) % task.recall_len  # one recalled position per sequence
        bad[step[hit], hit] = 50 * F.one_hot((y[step[hit], hit] + 1) % C, C).float()
        assert torch.equal(task.wrong(bad, y), hit)
        early = out.clone()
        early[0] = 50 * F.one_hot((y[0] + 1) % C, C).float()  # a non-recall step counts only for any_step
        counts = task.options.get("wrong_if") == "any_step"
        assert bool(task.wrong(early, y).all()) == counts and bool(task.wrong(early, y).any()) == counts
        assert float(task.loss(early, y)) > 1


def test_loss_rejects_wrong_shape():
    task = make_task("temporal_order", T)
    x, y = task.sample(4, gen(0))
    with pytest.raises(ValueError, match="out must be"):
        task.loss(torch.zeros(x.shape[0], 4, 3), y)


# ----------------------------------------------------------------------------- names, options, presets


def test_unknown_task_suggests_nearest():
    with pytest.raises(UnknownName, match="did you mean 'adding'"):
        make_task("addng", 10)
    with pytest.raises(UnknownName, match="temporal_order"):
        preset("temporal_ordr")


def test_unknown_option_names_allowed():
    with pytest.raises(ValueError) as e:
        make_task("copying", 10, n_symbol=3)
    assert all(s in str(e.value) for s in ("n_symbol", "n_symbols", "copy_len"))
    with pytest.raises(ValueError, match="n_marked"):
        make_task("parity", 10, "all", n_marked=3)  # only the `marked` variant has it
    with pytest.raises(ValueError, match="marked"):
        make_task("parity", 10, "markd")
    with pytest.raises(ValueError, match="option 'copy_len': expected int, got 2.5"):
        make_task("copying", 10, copy_len=2.5)
    with pytest.raises(ValueError, match="seq_len >= 10"):
        make_task("temporal_order", 5)


def test_options_change_behaviour():
    t = make_task("copying", 7, n_symbols=3, copy_len=4)
    x, y = t.sample(6, gen(0))
    assert x.shape == (15, 6, 5) and t.output_size == 4 and int(y.max()) <= 3
    t = make_task("memorization", 7, n_values=3, n_pos=2)
    assert t.sample(6, gen(0))[0].shape == (11, 6, 5) and t.output_size == 4
    t = make_task("parity", 12, "marked", n_marked=5)
    assert (t.sample(6, gen(0))[0][..., 1].sum(0) == 5).all()
    t = make_task("permutation", 12, n_symbols=10)
    assert t.sample(6, gen(0))[0].shape == (12, 6, 10)
    assert make_task("adding", 30, "pascanu", jitter=False).max_len() == 30
    strict = make_task("adding", 30, threshold=0.01)
    assert strict.baseline_error > make_task("adding", 30).baseline_error


@pytest.mark.parametrize("name", TASKS.names())
def test_presets_declare_what_the_code_uses(name):
    p = preset(name)
    assert p["name"] == name and TASKS.help(name) == p["description"]
    for key in ("description", "reference", "loss", "error", "baseline"):
        assert isinstance(p[key], str) and p[key].strip()
    assert isinstance(p["default_seq_len"], int) and p["default_variant"] in p["variants"]
    assert task_variants(name) == list(p["variants"])
    assert task_options(name) == task_options(name, p["default_variant"])
    for v, spec in p["variants"].items():
        assert spec["description"].strip()
        opts = task_options(name, v)
        task = make_task(name, p["default_seq_len"], v)
        assert task.options == opts  # defaults come from the preset, nothing is added in code
        assert make_task(name, 20, v, **opts).sample(2, gen(0))[0].shape[1] == 2
        if task.loss_kind == "mse":
            assert "threshold" in opts
    p["name"] = "mutated"
    assert preset(name)["name"] == name  # callers get a copy


# ----------------------------------------------------------------------------- length ranges
@pytest.mark.parametrize("name", TASKS.names())
def test_a_length_range_draws_each_batch_uniformly(name):
    task = make_task(name, 20, seq_len_max=25)
    g = gen(3)
    extra = task.extra_len
    lens = [task.sample(2, g)[0].shape[0] - extra for _ in range(400)]
    jitter = task.options.get("jitter")
    lo, hi = 20, 24 + (24 // 10 - 1 if jitter else 0)
    assert min(lens) >= lo and max(lens) <= hi and len(set(lens)) >= 5  # every length turns up
    assert task.max_len() == hi + extra and task.lengths() == list(range(20, 25))
    x, _ = task.sample(3, gen(1), T=23)  # a forced length (held-out sets) before jitter
    assert 23 <= x.shape[0] - extra <= 23 + (23 // 10 if jitter else 0)


def test_no_range_draws_nothing_extra():
    """Without a range the per-batch length costs no random draw: existing streams are unchanged."""
    a, b = make_task("copying", 12), make_task("copying", 12, seq_len_max=None)
    assert torch.equal(a.sample(4, gen(7))[0], b.sample(4, gen(7))[0])
    with pytest.raises(ValueError, match="seq_len_max must be > seq_len"):
        make_task("adding", 50, seq_len_max=50)


def test_recall_baseline_averages_over_the_range():
    lo = make_task("copying", 100).baseline_loss
    rng = make_task("copying", 100, seq_len_max=102).baseline_loss
    assert rng == pytest.approx((lo + make_task("copying", 101).baseline_loss) / 2)
