"""Long-term-dependency benchmark tasks: generators, losses, error criteria and trivial baselines.

Spec: docs/science.md, "Tasks". Declarative facts (descriptions, references, variants, option defaults, the
text of loss/error/baseline) live in tasks/<name>.yaml, shipped as package `ltd_bench.presets`; this
module holds the code and computes the closed-form baselines.

Conventions shared by every task:
- x is TIME-MAJOR (L, B, input_size) float32 on gen.device; sampling is vectorised torch code that
  draws only from the given generator, so the same generator state gives the same batch.
- The model's read-out `out` is (L, B, output_size) for every step. target "last" scores out[-1];
  target "sequence" scores every step (cross-entropy averaged over all L*B steps).
- Pascanu length jitter (Pascanu, Mikolov, Bengio 2013, code): L = T + randint(T//10), drawn once per
  batch, so every sequence in a batch has the same length and L varies between batches.
- baseline_loss / baseline_error are those of the best predictor that ignores the sequence content
  (a constant, or a per-step constant for sequence targets) under the task's own loss.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import math
from pathlib import Path

from ltd_bench.lazy import LazyModule
from ltd_bench.registry import Registry, UnknownName, did_you_mean, short
from ltd_bench.yamlio import loads

torch = LazyModule(
    "torch", globals(), "torch"
)  # validating a config needs no torch: imported on first sample
F = LazyModule("torch.nn.functional", globals(), "F")
EVAL_CHUNK = 1000  # held-out sequences drawn (and evaluated) together at most (heldout.py)

__all__ = [
    "TASKS",
    "Task",
    "UnknownName",
    "check_option",
    "make_task",
    "preset",
    "task_options",
    "task_variants",
]

TASKS: Registry = Registry("task")


# ----------------------------------------------------------------------------- presets


def _preset_root():
    try:  # an installed wheel maps the top-level tasks/ directory to this package (pyproject.toml)
        import ltd_bench.presets  # noqa: F401

        return importlib.resources.files("ltd_bench.presets")
    except ImportError:  # a checkout run with PYTHONPATH=. has no such package
        return Path(__file__).resolve().parent.parent / "tasks"


@functools.lru_cache(maxsize=None)
def _load_preset(name: str) -> dict:
    path = _preset_root() / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no preset file {name}.yaml for task '{name}'")
    return loads(path.read_text(encoding="utf-8"))


def preset(name: str) -> dict:
    """The parsed tasks/<name>.yaml (a copy: callers may modify it)."""
    TASKS.get(name)  # UnknownName with did-you-mean for a bad name
    return copy.deepcopy(_load_preset(name))


def _preset_view(name: str) -> dict:
    """The parsed preset, not copied: for reading only (validating every run of a big sweep reads it)."""
    TASKS.get(name)
    return _load_preset(name)


def task_variants(name: str) -> list[str]:
    return list(_preset_view(name)["variants"])


def task_options(name: str, variant: str | None = None) -> dict[str, object]:
    """Option name -> default for `variant` (None: the preset's default variant). Task-wide options
    come from the preset's `options`; a variant's own `options` add to or override them."""
    return copy.deepcopy(options_view(name, variant))


def options_view(name: str, variant: str | None = None) -> dict[str, object]:
    """task_options, its values not copied: for reading only (validating every run of a big sweep reads it)."""
    p = _preset_view(name)
    v = _check_variant(name, p, variant)
    return {**(p.get("options") or {}), **(p["variants"][v] or {}).get("options", {})}


def _check_variant(name: str, p: dict, variant: str | None) -> str:
    v = p["default_variant"] if variant is None else variant
    if v not in p["variants"]:
        raise ValueError(
            f"unknown variant '{v}' for task '{name}'{did_you_mean(str(v), list(p['variants']))}"
            f" (allowed: {', '.join(p['variants'])})"
        )
    return v


def check_option(value, default):
    """A task option's value must have the type of its preset default (an int is fine where a float is
    expected; floats must be finite). Returns the value (as float where a float is expected)."""
    if isinstance(default, bool) or isinstance(value, bool):
        ok = type(value) is type(default)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and math.isfinite(value)
        value = float(value) if ok else value
    else:
        ok = type(value) is type(default)
    if not ok:
        raise ValueError(f"expected {type(default).__name__}, got {short(value)} ({type(value).__name__})")
    return value


def _register(name: str):
    def deco(cls):
        cls.name = name
        return TASKS.register(name, _load_preset(name)["description"])(cls)

    return deco


def make_task(
    name: str, seq_len: int, variant: str | None = None, seq_len_max: int | None = None, **options
) -> "Task":
    return TASKS.get(name)(seq_len, variant, seq_len_max=seq_len_max, **options)


def task_of(t) -> "Task":
    """The task of a config's `task` section (config.TaskConfig)."""
    return make_task(t.name, t.seq_len, t.variant, seq_len_max=t.seq_len_max, **t.options)


# ----------------------------------------------------------------------------- base class


class Task:
    """One benchmark task at one length: sample() batches, loss() and wrong() score a read-out."""

    name: str = ""
    loss_kind: str = "ce"  # "mse" | "ce"
    target: str = "last"  # "last" | "sequence"
    input_size: int
    output_size: int
    recall_len: int = 0  # sequence targets: the last recall_len steps decide wrong()
    extra_len: int = 0  # steps the task adds to T (copying, memorization)
    min_len: int = 1  # shortest T the generator supports
    baseline_loss: float | None = None
    baseline_error: float | None = None

    def __init__(self, seq_len: int, variant: str | None = None, seq_len_max: int | None = None, **options):
        p = _load_preset(self.name)
        self.variant = _check_variant(self.name, p, variant)
        allowed = task_options(self.name, self.variant)
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            hint = did_you_mean(unknown[0], list(allowed))
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)} for task '{self.name}' variant "
                f"'{self.variant}'{hint} (allowed: {', '.join(allowed) or 'none'})"
            )
        self.options = {}
        for k, d in allowed.items():
            try:
                self.options[k] = check_option(options.get(k, d), d)
            except ValueError as e:
                raise ValueError(f"task '{self.name}': option '{k}': {e}") from None
        for k, v in self.options.items():
            setattr(self, k, v)
        if isinstance(seq_len, bool) or not isinstance(seq_len, int):
            raise ValueError(f"task '{self.name}': seq_len must be an int, got {seq_len!r}")
        if seq_len_max is not None and not seq_len_max > seq_len:
            raise ValueError(
                f"task '{self.name}': seq_len_max must be > seq_len ({seq_len}), got {seq_len_max}"
            )
        self.seq_len, self.seq_len_max = seq_len, seq_len_max
        self._setup()
        if seq_len < self.min_len:
            raise ValueError(
                f"task '{self.name}' ({self.variant}) needs seq_len >= {self.min_len}, got {seq_len}"
            )

    def _setup(self) -> None:  # subclasses: sizes, option checks, baselines
        raise NotImplementedError

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}(seq_len={self.seq_len}, variant={self.variant!r}{opts})"

    def _jitter(self, T: int) -> int:
        return T // 10 if self.options.get("jitter") else 0

    def _length(self, gen: torch.Generator, T: int | None = None) -> int:
        """This batch's length: T if given, else seq_len, or with seq_len_max one uniform draw from
        [seq_len, seq_len_max) (Pascanu 2013 code, RNN.py); then the task's jitter where it has it on,
        l = T + randint(int(0.1 T)) (addition.py; T//10 == 0: none). One batch, one length."""
        if T is None:
            T = self.seq_len if self.seq_len_max is None else self._draw(self.seq_len, self.seq_len_max, gen)
        j = self._jitter(T)
        return T + (self._draw(0, j, gen) if j else 0)

    @staticmethod
    def _draw(lo: int, hi: int, gen: torch.Generator) -> int:
        return int(torch.randint(lo, hi, (1,), generator=gen, device=gen.device))

    def lengths(self) -> list[int]:
        """The lengths T a batch can have before jitter: [seq_len], or the whole range."""
        return [self.seq_len] if self.seq_len_max is None else list(range(self.seq_len, self.seq_len_max))

    def max_len(self) -> int:
        T = self.lengths()[-1]
        return T + max(self._jitter(T) - 1, 0) + self.extra_len

    def sample(
        self, batch_size: int, gen: torch.Generator, T: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (L, B, input_size) float32; y (B,) float32 (mse) / int64 (ce), or (L, B) int64 (sequence).
        T: the length before jitter (default: seq_len, or a draw from the range)."""
        raise NotImplementedError

    def _check_out(self, out: torch.Tensor, y: torch.Tensor) -> None:
        L, B = y.shape if self.target == "sequence" else (out.shape[0], y.shape[0])
        if out.dim() != 3 or tuple(out.shape) != (L, B, self.output_size):
            raise ValueError(
                f"task '{self.name}': out must be (L, B, output_size) = ({L}, {B}, "
                f"{self.output_size}), got {tuple(out.shape)}"
            )

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self._check_out(out, y)
        if self.target == "sequence":
            return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        if self.loss_kind == "mse":
            return F.mse_loss(out[-1, :, 0], y)
        return F.cross_entropy(out[-1], y)

    def wrong(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self._check_out(out, y)
        if self.target == "sequence":  # wrong_if any_step: the original memorization criterion
            r = out.shape[0] if self.options.get("wrong_if") == "any_step" else self.recall_len
            return (out[-r:].argmax(-1) != y[-r:]).any(0)
        if self.loss_kind == "mse":
            return (out[-1, :, 0] - y) ** 2 > self.threshold
        return out[-1].argmax(-1) != y


def _randint(lo, hi, size, gen):
    return torch.randint(lo, hi, size, generator=gen, device=gen.device)


# ----------------------------------------------------------------------------- regression tasks


class _TwoMarked(Task):
    """Two channels per step: channel 0 a U[0,1] value, channel 1 a 0/1 marker on exactly two steps.
    (Pascanu's code stores the marker in channel 0; the order does not matter to a learner.)"""

    loss_kind, input_size, output_size = "mse", 2, 1

    def _windows(self, L: int) -> tuple[tuple[int, int], tuple[int, int]]:
        # Pascanu 2013 code (addition.py, multiplication.py): p0 = randint(int(.1l)),
        # p1 = int(.1l) + randint(int(.4l)), i.e. [0, 0.1l) and [0.1l, 0.5l), in integer arithmetic.
        return (0, L // 10), (L // 10, L // 10 + 4 * L // 10)

    def _combine(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _check_threshold(self) -> float:
        if not self.threshold > 0:
            raise ValueError(f"task '{self.name}': threshold must be > 0, got {self.threshold}")
        return math.sqrt(self.threshold)

    def sample(self, batch_size, gen, T=None):
        L, B = self._length(gen, T), batch_size
        (lo0, hi0), (lo1, hi1) = self._windows(L)
        vals = torch.rand(L, B, generator=gen, device=gen.device, dtype=torch.float32)
        p0, p1 = _randint(lo0, hi0, (B,), gen), _randint(lo1, hi1, (B,), gen)
        marker = torch.zeros(L, B, device=gen.device, dtype=torch.float32)
        marker.scatter_(0, p0[None], 1.0).scatter_(0, p1[None], 1.0)  # scatter, not index_put_: no CUDA sync
        a, b = vals.gather(0, p0[None])[0], vals.gather(0, p1[None])[0]
        return torch.stack([vals, marker], -1), self._combine(a, b)


@_register("adding")
class Adding(_TwoMarked):
    """Adding problem (Hochreiter & Schmidhuber 1997; `sum`: Le et al. 2015, Arjovsky et al. 2016;
    `pascanu`: Pascanu, Mikolov, Bengio 2013 code)."""

    def _setup(self):
        r = self._check_threshold()
        if self.variant == "sum":
            # Predict E[a+b] = 1: MSE = Var(a+b) = 2/12; a+b is triangular on [0, 2], so
            # P(|a+b-1| > r) = (1-r)^2.
            self.min_len = 2  # each half must hold a step
            self.baseline_loss, self.baseline_error = 1 / 6, max(1 - r, 0.0) ** 2
        else:
            # Predict E[(a+b)/2] = 1/2: MSE = Var(a+b)/4 = 1/24; P(|a+b-1| > 2r) = (1-2r)^2.
            self.min_len = 10  # the first window [0, 0.1l) must not be empty
            self.baseline_loss, self.baseline_error = 1 / 24, max(1 - 2 * r, 0.0) ** 2

    def _windows(self, L):
        if self.variant == "sum":  # Le 2015 / Arjovsky 2016: one marker uniformly in each half
            return (0, L // 2), (L // 2, L)
        return super()._windows(L)

    def _combine(self, a, b):
        return a + b if self.variant == "sum" else (a + b) / 2


@_register("multiplication")
class Multiplication(_TwoMarked):
    """Multiplication problem (Hochreiter & Schmidhuber 1997; Pascanu, Mikolov, Bengio 2013 code)."""

    min_len = 10  # the first window [0, 0.1l) must not be empty

    def _setup(self):
        r = self._check_threshold()
        # Predict E[ab] = 1/4: MSE = E[(ab)^2] - 1/16 = 1/9 - 1/16 = 7/144. The product of two U[0,1]
        # has CDF G(z) = z - z ln z on (0, 1], so the error is 1 - (G(1/4 + r) - G(1/4 - r)), clamped.
        G = lambda z: 0.0 if z <= 0 else 1.0 if z >= 1 else z - z * math.log(z)
        self.baseline_loss, self.baseline_error = 7 / 144, 1 - (G(0.25 + r) - G(0.25 - r))

    def _combine(self, a, b):
        return a * b


# ----------------------------------------------------------------------------- last-step classification


@_register("parity")
class Parity(Task):
    """Parity (Bengio, Simard, Frasconi 1994): XOR of all bits, or (`marked`) of n_marked marked bits."""

    output_size = 2
    baseline_loss, baseline_error = math.log(2), 0.5  # both labels equally likely

    def _setup(self):
        self.input_size = 1 if self.variant == "all" else 2
        if self.variant == "marked":
            if self.n_marked < 1:
                raise ValueError(f"task 'parity': n_marked must be >= 1, got {self.n_marked}")
            self.min_len = self.n_marked

    def sample(self, batch_size, gen, T=None):
        T, B = self._length(gen, T), batch_size
        bits = _randint(0, 2, (T, B), gen)
        if self.variant == "all":
            return bits.float().unsqueeze(-1), bits.sum(0) % 2
        # n_marked distinct positions per sequence: the first k of a uniform random permutation.
        u = torch.rand(T, B, generator=gen, device=gen.device, dtype=torch.float32)
        idx = u.argsort(0)[: self.n_marked]
        marker = torch.zeros(T, B, dtype=torch.long, device=gen.device).scatter_(0, idx, 1)
        return torch.stack([bits, marker], -1).float(), (bits * marker).sum(0) % 2


class _TemporalOrder(Task):
    """Temporal order (Hochreiter & Schmidhuber 1997, exp. 6; Pascanu 2013 tempOrder*.py): one-hot
    over 6 symbols (0 = A, 1 = B, 2..5 distractors); every step holds a random distractor except the
    relevant steps, which hold A or B; class = sum_i v_i 2^i with v_i = 0 for A, 1 for B."""

    input_size, min_len = 6, 10  # a window of width int(0.1 L) must not be empty
    starts: tuple[int, ...] = ()  # window starts in tenths of L; each window is 0.1 L wide

    def _setup(self):
        self.output_size = 2 ** len(self.starts)
        self.baseline_loss = math.log(self.output_size)  # uniform over equally likely classes
        self.baseline_error = 1 - 1 / self.output_size

    def sample(self, batch_size, gen, T=None):
        L, B = self._length(gen, T), batch_size
        vals = _randint(2, 6, (L, B), gen)
        v = _randint(0, 2, (len(self.starts), B), gen)
        ar = torch.arange(B, device=gen.device)
        for i, s in enumerate(self.starts):  # 2 or 3 relevant symbols, not a loop over batch or time
            vals[s * L // 10 + _randint(0, L // 10, (B,), gen), ar] = v[i]
        w = 2 ** torch.arange(len(self.starts), device=gen.device)
        return F.one_hot(vals, 6).float(), (v * w[:, None]).sum(0)


@_register("temporal_order")
class TemporalOrder(_TemporalOrder):
    """Temporal order, 2 relevant symbols in [0.1L, 0.2L) and [0.5L, 0.6L); classes AA, BA, AB, BB."""

    starts = (1, 5)


@_register("temporal_order_3bit")
class TemporalOrder3Bit(_TemporalOrder):
    """3-bit temporal order: relevant symbols in [0.1L,0.2L), [0.3L,0.4L), [0.6L,0.7L); 8 classes."""

    starts = (1, 3, 6)


@_register("permutation")
class Permutation(Task):
    """Random permutation (Hochreiter & Schmidhuber 1997, exp. 2; Pascanu 2013 permutation.py): the first
    symbol is 0 or 1, the others uniform over 2..n_symbols-1; predict the first one at the end. Output is
    an n_symbols-way softmax as in permutation.py, so the net must also learn that only 0/1 occur."""

    baseline_loss, baseline_error = math.log(2), 0.5  # probability 1/2 on each of {0, 1}

    def _setup(self):
        if self.n_symbols < 3:
            raise ValueError(f"task 'permutation': n_symbols must be >= 3, got {self.n_symbols}")
        self.input_size = self.output_size = self.n_symbols

    def sample(self, batch_size, gen, T=None):
        vals = _randint(2, self.n_symbols, (self._length(gen, T), batch_size), gen)
        vals[0] = _randint(0, 2, (batch_size,), gen)
        return F.one_hot(vals, self.n_symbols).float(), vals[0].clone()


# ----------------------------------------------------------------------------- sequence targets


class _Recall(Task):
    """Shared by copying and memorization: a pattern of `k` symbols to recall in the last k steps.
    CE averages over all steps, so the content-blind predictor (certain blank before the recall, uniform
    over the n possible symbols during it) scores k ln n / L_total; it gets all k right w.p. n^-k."""

    target = "sequence"

    def _set_recall(self, k: int, n: int) -> None:
        if k < 1 or n < 2:
            raise ValueError(f"task '{self.name}': need a pattern length >= 1 and >= 2 symbols, got {k}, {n}")
        self.recall_len, self.extra_len = k, 2 * k
        # averaged over the lengths a batch can have (uniform), as the training data and held-out sets are
        self.baseline_loss = sum(k * math.log(n) / (T + 2 * k) for T in self.lengths()) / len(self.lengths())
        self.baseline_error = 1 - float(n) ** -k


@_register("copying")
class Copying(_Recall):
    """Copying memory (Arjovsky, Shah, Bengio 2016 §4.1). Input one-hot over n_symbols + 2 channels:
    0 = blank, 1..n_symbols = symbols, n_symbols + 1 = delimiter. Output n_symbols + 1 classes
    (0 = blank, 1..n_symbols; the delimiter is never a target). Length T + 2 copy_len."""

    def _setup(self):
        self._set_recall(self.copy_len, self.n_symbols)
        self.input_size, self.output_size = self.n_symbols + 2, self.n_symbols + 1

    def sample(self, batch_size, gen, T=None):
        T, k, n = self._length(gen, T), self.copy_len, self.n_symbols
        sym = _randint(1, n + 1, (k, batch_size), gen)
        x = torch.zeros(T + 2 * k, batch_size, dtype=torch.long, device=gen.device)
        x[:k] = sym
        x[T + k - 1] = n + 1  # k symbols, T-1 blanks, then the delimiter
        y = torch.zeros_like(x)
        y[-k:] = sym
        return F.one_hot(x, n + 2).float(), y


@_register("memorization")
class Memorization(_Recall):
    """Noiseless memorization (Pascanu, Mikolov, Bengio 2013, memorization.py). Input one-hot over
    n_values + 2 channels: 0..n_values-1 = values, n_values = blank, n_values + 1 = delimiter. Layout:
    n_pos values, L blanks, the delimiter, n_pos - 1 blanks (length L + 2 n_pos). Output n_values + 1
    classes (values, then blank = n_values); recall starts AT the delimiter step, as in the original code."""

    def _setup(self):
        if self.wrong_if not in ("recall", "any_step"):
            raise ValueError(
                f"task 'memorization': wrong_if must be recall or any_step, got {self.wrong_if!r}"
            )
        self._set_recall(self.n_pos, self.n_values)
        self.input_size, self.output_size = self.n_values + 2, self.n_values + 1

    def sample(self, batch_size, gen, T=None):
        T, k, n = self._length(gen, T), self.n_pos, self.n_values
        pat = _randint(0, n, (k, batch_size), gen)
        x = torch.full((T + 2 * k, batch_size), n, dtype=torch.long, device=gen.device)
        x[:k] = pat
        x[T + k] = n + 1
        y = torch.full_like(x, n)
        y[-k:] = pat
        return F.one_hot(x, n + 2).float(), y
