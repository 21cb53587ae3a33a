"""A small name → object registry whose unknown-name error suggests the nearest names, and the two
helpers every error message uses (did_you_mean, short, shown)."""

from __future__ import annotations

import difflib
import json
from typing import Any, Generic, Iterator, TypeVar

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def short(value: Any, limit: int = 60, quote: bool = True) -> str:
    """repr (or str) cut to `limit` characters: a 1 MiB junk value must not become a 1 MiB error line."""
    text = repr(value) if quote else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: Any, quote_str: bool = False) -> str:
    """A config value as a message shows it: JSON (a YAML date or other non-JSON value by its str), a
    string bare unless quote_str (where a bare word would read as part of the sentence)."""
    if isinstance(value, str) and not quote_str:
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


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
    """name → implementation. With `declared` (a choices.py table: name → one line), only declared names
    may register and their help is that line, so the names a config accepts and the implementations
    cannot drift apart (`missing()` lists declared names not implemented; a test keeps it empty)."""

    def __init__(self, kind: str, declared: dict[str, str] | None = None):
        self.kind, self.declared = kind, declared
        self._items: dict[str, T] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str = ""):
        if self.declared is not None and name not in self.declared:
            raise ValueError(f"{self.kind} '{name}' is not declared in choices.py")

        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = obj
            first_doc_line = ((obj.__doc__ or "").strip().splitlines() or [""])[0]
            self._help[name] = help or (self.declared or {}).get(name) or first_doc_line
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

    def missing(self) -> list[str]:
        return [n for n in self.declared or {} if n not in self._items]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
