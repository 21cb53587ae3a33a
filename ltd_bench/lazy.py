"""A module imported on first use: validating configs and planning a sweep touch modules that sample,
train or pack with torch, but need none of it (importing torch costs ~2 s of CPU and ~190 MB)."""

from __future__ import annotations

import importlib


class LazyModule:
    """Stands for module `name` as global `alias` of `namespace` (a module's globals()) until first used:
    then imports it and puts the module itself there, so later uses cost nothing extra."""

    def __init__(self, name: str, namespace: dict, alias: str):
        self._name, self._namespace, self._alias = name, namespace, alias

    def __getattr__(self, attr: str):
        module = importlib.import_module(self._name)
        self._namespace[self._alias] = module
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<{self._name}, imported on first use>"
