"""A strict reader for exactly the YAML ltd-bench writes for a run (resolved_yaml): nested mappings two
spaces deep, keys that are plain words, and scalar values (null, true/false, decimal integers, floats as
repr writes them, plain or single-quoted words, {} and []). Reading 5,000 run folders spends most of its
time in a general YAML parser; this reads those files ~10x faster. Anything else (a list, a comment, a
tag, a flow mapping, a word YAML could read as something other than text) returns None, and the caller
reads the file with the safe loader; the run id then checks the content either way (trust.config_of).
"""

from __future__ import annotations

import re

_LINE = re.compile(r"( *)([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+(?:e[-+]?[0-9]+)?")
_WORD = re.compile(
    r"[^\W\d](?:[\w.+()/ -]*[\w.+()/-])?"
)  # starts with a letter: never a number, ~, tag or anchor
_QUOTED = re.compile(r"'([^'\\\n]*)'")  # single-quoted, without '' escapes
# plain words that YAML 1.1 reads as booleans or null in some spelling: only the exact ones below pass
_SPECIAL = {"yes", "no", "on", "off", "true", "false", "null", "y", "n"}
_CONST = {"null": None, "true": True, "false": False}
_MISSING = object()


def _scalar(v: str):
    if v in _CONST:
        return _CONST[v]
    if v in ("{}", "[]"):
        return {} if v == "{}" else []  # a fresh one each time
    if _INT.fullmatch(v):
        return int(v)
    if _FLOAT.fullmatch(v):
        return float(v)
    if _WORD.fullmatch(v) and v.lower() not in _SPECIAL:
        return v
    m = _QUOTED.fullmatch(v)
    if m:
        return m.group(1)
    return _MISSING


_lines: dict = {}  # line -> _read_line(line): most lines recur across thousands of run folders


def _read_line(line: str):
    """(indent, key, raw value or None, value) of one `key: value` line; _MISSING when not one."""
    m = _LINE.fullmatch(line)
    if m is None or m.group(2).lower() in _SPECIAL:
        return _MISSING
    value = m.group(3)
    v = None if value is None else _scalar(value)
    return _MISSING if v is _MISSING else (len(m.group(1)), m.group(2), value, v)


def parse(text: str) -> dict | None:
    """The mapping `text` holds when it is in the written format, else None (read it the general way)."""
    root: dict = {}
    stack = [(0, root)]  # (indent, mapping) of the open mappings
    pending = None  # (indent, parent, key) of a key with no value yet: its mapping must follow
    for line in text.split("\n"):
        if not line:
            continue
        got = _lines.get(line)
        if got is None:
            got = _read_line(line)
            if len(_lines) < 100_000:  # bounded: a file of unique lines costs no lasting memory
                _lines[line] = got
        if got is _MISSING:
            return None
        indent, key, value, v = got
        if isinstance(v, (dict, list)):
            v = type(v)()  # a fresh one each time: callers may change what they get
        if pending is not None:
            if indent != pending[0] + 2:
                return None
            child: dict = {}
            pending[1][pending[2]] = child
            stack.append((indent, child))
            pending = None
        while stack and stack[-1][0] > indent:
            stack.pop()
        if not stack or stack[-1][0] != indent:
            return None
        parent = stack[-1][1]
        if key in parent:
            return None
        if value is None:
            parent[key] = None  # placeholder, keeps the order; replaced by its mapping
            pending = (indent, parent, key)
            continue
        parent[key] = v
    if pending is not None or not text.endswith("\n"):
        return None
    return root
