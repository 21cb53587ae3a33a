"""A declared comparison: method against reference, the endpoint its test is about, and its Holm family.

A sweep file's `compare:` lists them before any run exists; `ltd-bench report` tests exactly those.

    compare:
      - [rnn+clip+Ω, rnn+clip]                               # time to solve (log-rank), the default
      - {method: rnn+clip+Ω, reference: lstm+clip, test: solved, family: vs LSTM}

Endpoints (`test:`):
  time    time to solve: two-sided log-rank test on (steps to solve, censored at the budget)
  solved  solved by the budget: two-sided Boschloo exact test on the solved counts (scipy)
A claim about solved fractions ("10 of 10 against 5 of 10") is tested by `solved`; one about how soon
by `time`. `family:` names the Holm family the comparison's tests are adjusted in; by default every
test of a report is one family. sweep.json records a comparison as [method, reference] when it has
neither, so folders written before the endpoint existed read the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .registry import shown

TESTS = {"time": "time to solve (log-rank)", "solved": "solved by the budget (Boschloo's exact test)"}
KEYS = ("method", "reference", "test", "family")


@dataclass(frozen=True)
class Comparison:
    method: str
    reference: str
    test: str = "time"
    family: str = ""  # "" = the report's one family

    @property
    def pair(self) -> tuple[str, str]:
        return self.method, self.reference

    def to_json(self) -> list | dict:
        if self.test == "time" and not self.family:
            return [self.method, self.reference]
        return {
            k: v
            for k, v in zip(KEYS, (self.method, self.reference, self.test, self.family), strict=True)
            if v
        }


def parse(item: Any, where: str, errors: list[str]) -> Comparison | None:
    """One `compare:` entry ([method, reference] or a mapping with KEYS) -> Comparison, or None after
    appending every problem to errors as '<where>.<field>: ...'."""
    if isinstance(item, list):
        if len(item) == 2 and all(isinstance(m, str) for m in item):
            return _checked(Comparison(*item), where, errors)
        errors.append(
            f"{where}: expected [method, reference], two method labels (or a mapping with "
            f"{', '.join(KEYS)}), got {shown(item, quote_str=True)}"
        )
        return None
    if not isinstance(item, dict):
        errors.append(
            f"{where}: expected [method, reference] or a mapping with {', '.join(KEYS)}, got {shown(item, quote_str=True)}"
        )
        return None
    n = len(errors)
    for k in item:
        if k not in KEYS:
            errors.append(f"{where}.{k}: unknown key (allowed: {', '.join(KEYS)})")
    for k in ("method", "reference"):
        if not isinstance(item.get(k), str) or not item.get(k):
            errors.append(f"{where}.{k}: required, a method label, got {shown(item.get(k), quote_str=True)}")
    test = item.get("test", "time")
    if test not in TESTS:
        allowed = "; ".join(f"{k}: {v}" for k, v in TESTS.items())
        errors.append(f"{where}.test: {shown(test, quote_str=True)} is not an endpoint (allowed: {allowed})")
    family = item.get("family", "")
    if not isinstance(family, str):
        errors.append(f"{where}.family: expected a name (a string), got {shown(family, quote_str=True)}")
    if len(errors) > n:
        return None
    return _checked(Comparison(item["method"], item["reference"], test, family), where, errors)


def _checked(c: Comparison, where: str, errors: list[str]) -> Comparison | None:
    if c.method == c.reference:
        errors.append(f"{where}: compares {c.method!r} with itself")
        return None
    return c


def from_json(raw: Any) -> list[Comparison]:
    """sweep.json's `compare` -> comparisons; ValueError naming the first bad entry."""
    out, errors = [], []
    for i, item in enumerate(raw or []):
        c = parse(item, f"compare[{i}]", errors)
        if errors:
            raise ValueError(errors[0])
        if c not in out:
            out.append(c)
    return out


def normalise(pairs) -> list[Comparison]:
    """Comparisons or (method, reference) tuples -> comparisons, duplicates dropped."""
    out = []
    for p in pairs:
        c = p if isinstance(p, Comparison) else Comparison(*p)
        if c not in out:
            out.append(c)
    return out
