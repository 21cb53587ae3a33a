"""A big sweep's runs held compactly: each run as its resolved config (Config.to_dict()) whose sections are
shared with every other run that has the same section, and a Config built from that only when asked.
50,000 validated Config objects take ~160 MB; their runs differ in a seed and a few swept values, so
their sections repeat, and the dicts take a few MB. Shared sections are read, never changed."""

from __future__ import annotations

from typing import Iterable

from pydantic import BaseModel

from .config import Config

SECTIONS = tuple(  # task, model, train, clipping, regularizer
    k
    for k, f in Config.model_fields.items()
    if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
)


class Sections:
    """Resolved configs whose equal sections are one dict (its JSON, as pydantic writes it, names it)."""

    def __init__(self):
        self.seen: dict[tuple[str, bytes], dict] = {}

    def resolved(self, cfg: Config) -> dict:
        """cfg.to_dict(), its sections shared."""
        out = cfg.to_dict()
        for name in SECTIONS:
            section = getattr(cfg, name)
            key = (
                name,
                section.__pydantic_serializer__.to_json(section),
            )  # model_dump_json, less its wrapper
            out[name] = self.seen.setdefault(key, out[name])
        return out


def config(resolved: dict) -> Config:
    """A Config of its own (nothing shared) from a resolved config."""
    return Config.model_validate(resolved)


def shapes(resolved: Iterable[dict]) -> list[Config]:
    """One Config per run for planning packs (packplan.py reads only the sections): runs whose sections
    are the same shared dicts get the same object, so a sweep of 50,000 runs builds a handful."""
    made: dict[tuple[int, ...], Config] = {}
    out = []
    for r in resolved:
        key = tuple(id(r[name]) for name in SECTIONS)
        cfg = made.get(key)
        if cfg is None:
            cfg = made[key] = config(r)
        out.append(cfg)
    return out
