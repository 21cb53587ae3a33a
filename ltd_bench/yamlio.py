"""Safe YAML in and out: duplicate keys, Python tags and alias bombs are errors, never surprises."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

MAX_NODES = 100_000  # a real config has < 1k nodes; an alias bomb expands past this long before memory runs out
MAX_BYTES = 1 << 20  # 1 MiB: no config is bigger; refusing early keeps binary junk from reaching the parser


class YamlError(ValueError):
    """A YAML document that cannot be a config; the message is one line and names the place."""


class _Loader(yaml.SafeLoader):
    """SafeLoader (no Python object tags) that also refuses duplicate keys."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise YamlError(f"line {key_node.start_mark.line + 1}: a key must be a plain scalar")
            if key in seen:
                raise YamlError(f"line {key_node.start_mark.line + 1}: duplicate key '{key}' "
                                f"(first at line {seen[key]})")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 reads `1e-3` as a string; researchers write learning rates that way, so accept it as a float.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _count_nodes(node: yaml.Node, budget: list[int]) -> None:
    """Count nodes with aliases expanded, stopping at MAX_NODES (alias bombs are exponential)."""
    stack = [node]
    while stack:
        n = stack.pop()
        budget[0] += 1
        if budget[0] > MAX_NODES:
            raise YamlError(f"document expands to more than {MAX_NODES} nodes (alias bomb?)")
        if isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                stack.extend((k, v))


def loads(text: str) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_nodes(node, [0])
        return loader.construct_document(node)
    except YamlError:
        raise
    except yaml.constructor.ConstructorError as e:
        where = f"line {e.problem_mark.line + 1}: " if e.problem_mark else ""
        raise YamlError(f"{where}{e.problem} (only plain YAML is allowed: no Python tags)") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise YamlError(f"{where}invalid YAML: {problem}") from None
    finally:
        loader.dispose()


def read_yaml(path: Path) -> Any:
    """Load a YAML file safely; every failure is a YamlError with a one-line reason."""
    if not path.exists():
        raise YamlError("file not found")
    if path.is_dir():
        raise YamlError("is a directory, not a file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise YamlError(f"cannot read file: {e.strerror}") from None
    if len(data) > MAX_BYTES:
        raise YamlError(f"file is {len(data)} bytes; configs are at most {MAX_BYTES}")
    if b"\x00" in data:
        raise YamlError("binary file, not YAML text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise YamlError("not UTF-8 text") from None
    if not text.strip():
        raise YamlError("file is empty")
    return loads(text)


def parse_scalar(text: str) -> Any:
    """A --set value: parsed as a YAML scalar (or flow list/map), so `2`, `1e-3`, `true`, `[1, 2]` work."""
    if text.strip() == "":
        return ""
    return loads(text)


def dump(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, default_flow_style=False)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
