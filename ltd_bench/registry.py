"""A small name → object registry whose unknown-name error suggests the nearest names."""

from __future__ import annotations

import difflib
from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class UnknownName(KeyError):
    def __init__(self, kind: str, name: str, choices: list[str]):
        self.kind, self.name, self.choices = kind, name, choices
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"unknown {self.kind} '{self.name}'{did_you_mean(self.name, self.choices)}"
            f" (allowed: {', '.join(self.choices)})"
        )


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str = ""):
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = obj
            self._help[name] = help or ((obj.__doc__ or "").strip().splitlines() or [""])[0]
            return obj

        return deco

    def get(self, name: str) -> T:
        if name not in self._items:
            raise UnknownName(self.kind, name, self.names())
        return self._items[name]

    def help(self, name: str) -> str:
        return self._help.get(name, "")

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
