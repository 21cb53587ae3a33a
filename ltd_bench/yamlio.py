"""Safe YAML in and out: duplicate keys, Python tags and alias bombs are errors, never surprises."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from .bounded import read_fd
from .plainyaml import parse as parse_plain
from .registry import short

MAX_NODES = (
    100_000  # a real config has < 1k nodes; an alias bomb expands past this long before memory runs out
)
MAX_BYTES = 1 << 20  # 1 MiB: no config is bigger; refusing early keeps binary junk from reaching the parser
MAX_DEPTH = (
    64  # a config nests 3 levels, a sweep file 5; PyYAML's composer recurses and would overflow at ~300
)

_ABSENT = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlError(ValueError):
    """A YAML document that cannot be a config; the message is one line and names the place."""


# YAML 1.1 reads `1e-3` as a string; researchers write learning rates that way, so accept it as a float.
_EXP_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
# YAML 1.1 reads `010` as octal 8 and `1:30` as 90 (base 60): silent surprises, so both are refused.
_AMBIGUOUS_NUMBER = re.compile(r"^[-+]?(?:0[0-7_]+|[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)$")


def _line(node_or_mark) -> str:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return f"line {mark.line + 1}: " if mark is not None else ""


class _Loader(yaml.SafeLoader):
    """SafeLoader (no Python object tags) that also refuses duplicate keys, deep nesting, ambiguous
    numbers, and turns every constructor failure into a YamlError naming the line."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlError(f"{_line(self.peek_event())}nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (YamlError, yaml.YAMLError):
            raise
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError):
            # e.g. `!!int abc`, `!!bool maybe`, a date 2020-13-45, an integer with 5000 digits
            tag = node.tag.rsplit(":", 1)[-1]
            shown = short(node.value) if isinstance(node, yaml.ScalarNode) else f"this {node.id}"
            raise YamlError(f"{_line(node)}cannot read {shown} as {tag}") from None

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:  # `<<: *base` (flattened by the SafeLoader; later keys win)
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise YamlError(f"{_line(key_node)}a key must be a plain scalar")
            if key in seen:
                raise YamlError(f"{_line(key_node)}duplicate key '{key}' (first at line {seen[key]})")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        self._refuse_ambiguous(node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node):
        self._refuse_ambiguous(node)
        return super().construct_yaml_float(node)

    def _refuse_ambiguous(self, node):
        if isinstance(node.value, str) and _AMBIGUOUS_NUMBER.match(node.value.strip()):
            raise YamlError(
                f"{_line(node)}ambiguous number {node.value!r} (YAML 1.1 reads a leading 0 as octal "
                f"and a:b as base 60): write it plainly, or quote it if it is text"
            )


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXP_FLOAT, list("-+.0123456789"))
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """libyaml's parser (where PyYAML was built with it) and the plain safe constructor: for reading many
    machine-written files (every run folder's config.yaml, whose content its run id then verifies). Only
    documents without anchors or aliases (no bombs) and provably shallow (_shallow) are given to it."""

    _tags: dict = {}  # (kind, value, implicit) -> tag: a run's scalars recur across thousands of files

    def resolve(self, kind, value, implicit):
        key = (kind, value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._tags) < 100_000:  # bounded: a file of unique values costs no lasting memory
                self._tags[key] = tag
        return tag


_FastLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXP_FLOAT, list("-+.0123456789"))


class _Dumper(yaml.SafeDumper):
    """Quotes every string the loader would read as something else (e.g. a name `1e3`), so a dump loads back."""


_Dumper.add_implicit_resolver("tag:yaml.org,2002:float", _EXP_FLOAT, list("-+.0123456789"))


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML writes NEL/LS/PS raw in plain and single-quoted scalars, where they read back as line breaks
    style = '"' if _LINE_BREAKS.search(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LINE_BREAKS = re.compile("[\x85\u2028\u2029]")
_Dumper.add_representer(str, _represent_str)


def _walk(node: yaml.Node) -> None:
    """Count nodes with aliases expanded, stopping at MAX_NODES (alias bombs are exponential), and name every
    duplicate key by its dotted path. Iterative, and each mapping is checked once: deep, shared or
    self-referencing documents cannot overflow the stack or take quadratic time."""
    count, dupes, checked = 0, [], set()
    stack: list[tuple[yaml.Node, tuple | None]] = [(node, None)]  # path as a linked list: (name, parent)
    while stack:
        n, path = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise YamlError(f"document expands to more than {MAX_NODES} nodes (alias bomb?)")
        if isinstance(n, yaml.SequenceNode):
            stack.extend((v, ("[]", path)) for v in n.value)
        elif isinstance(n, yaml.MappingNode):
            first_visit = id(n) not in checked
            checked.add(id(n))
            seen: dict[tuple, int] = {}
            for k, v in n.value:
                name = k.value if isinstance(k, yaml.ScalarNode) else "?"
                if first_visit and isinstance(k, yaml.ScalarNode) and k.tag != _MERGE_TAG:
                    ident = (k.tag, k.value)
                    if ident in seen and len(dupes) < 10:
                        dupes.append(
                            f"{_dotted((name, path))} (lines {seen[ident]} and {k.start_mark.line + 1})"
                        )
                    seen.setdefault(ident, k.start_mark.line + 1)
                stack.append((k, ("[key]", path)))
                stack.append((v, (name, path)))
    if dupes:
        raise YamlError(f"duplicate key{'s' if len(dupes) > 1 else ''} {', '.join(sorted(dupes))}")


def _dotted(path: tuple | None) -> str:
    parts = []
    while path is not None and len(parts) < MAX_DEPTH:
        parts.append(short(path[0], 40, quote=False))
        path = path[1]
    return ".".join(reversed(parts))


def _shallow(text: str) -> bool:
    """True when `text` cannot nest deeper than MAX_DEPTH: a level needs more indentation, a `-`, `?` or
    `:` on its line, or a flow bracket. libyaml's composer has no depth limit of its own."""
    flow = text.count("[") + text.count("{")
    lines = text.splitlines()
    deepest = max((len(ln) - len(ln.lstrip(" ")) + sum(map(ln.count, "-?:")) for ln in lines), default=0)
    return flow + deepest <= MAX_DEPTH


_PLAIN = {  # the common scalars of a machine-written file, converted directly; any other tag: the constructor
    "tag:yaml.org,2002:str": str,
    "tag:yaml.org,2002:null": lambda v: None,
    "tag:yaml.org,2002:bool": lambda v: v.lower() in ("yes", "true", "on"),
}
_DECIMAL = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?$")


def _plain(node, loader) -> Any:
    """A composed document as Python values, faster than the constructor for the plain scalars, lists
    and mappings a written config holds (no aliases: the fast path excludes them); a duplicate key or
    an unusual scalar (0x10, .inf, 1_000, a tag) raises, so that the checked loader reads the document."""
    if node is None:
        return None
    if isinstance(node, yaml.ScalarNode):
        v, tag = node.value, node.tag
        if tag in _PLAIN:
            return _PLAIN[tag](v)
        if tag == "tag:yaml.org,2002:int" and _DECIMAL.match(v):
            return int(v)
        if tag == "tag:yaml.org,2002:float" and _FLOAT.match(v):
            return float(v)
        raise ValueError(f"not a plain scalar: {v!r}")
    if isinstance(node, yaml.SequenceNode):
        return [_plain(n, loader) for n in node.value]
    if isinstance(node, yaml.MappingNode):
        out = {_plain(k, loader): _plain(v, loader) for k, v in node.value}
        if len(out) != len(node.value):
            raise ValueError("duplicate key")
        return out
    raise ValueError(f"unexpected node {node!r}")


def loads(text: str, fast: bool = False) -> Any:
    """One YAML document, safely. fast: parsed by _FastLoader (~6x faster) when the document allows;
    anything it cannot read is read by the checked loader, whose error is the one raised."""
    if fast:  # the exact format ltd-bench writes first (plainyaml.py); None: anything else
        plain = parse_plain(text)
        if plain is not None:
            return plain
    if fast and "&" not in text and "*" not in text and _shallow(text):
        loader = _FastLoader(text)
        try:
            return _plain(loader.get_single_node(), loader)
        except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError):
            pass
        finally:
            loader.dispose()
    loader = None
    try:
        loader = _Loader(text)  # the reader checks for non-printable characters right here
        node = loader.get_single_node()
        if node is None:
            return None
        _walk(node)
        return loader.construct_document(node)
    except YamlError:
        raise
    except RecursionError:  # not reachable with MAX_DEPTH, kept as a last guard
        raise YamlError(f"nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError) as e:
        # a constructor that finishes lazily (e.g. `!!set 0`, `!!omap [1]`) fails outside construct_object
        raise YamlError(f"cannot construct this document: {short(str(e), 100, quote=False)}") from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        raise YamlError(
            f"line {line}: invalid YAML: character #x{e.character:04x} is not allowed "
            f"(control characters cannot appear in YAML)"
        ) from None
    except yaml.constructor.ConstructorError as e:
        hint = (
            " (only plain YAML is allowed: no Python or custom tags)"
            if "constructor for the tag" in e.problem
            else ""
        )
        raise YamlError(f"{_line(e.problem_mark)}{e.problem}{hint}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or getattr(e, "reason", None) or str(e).splitlines()[0]
        raise YamlError(f"{where}invalid YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml(path: Path, fast: bool = False) -> Any:
    """Load a YAML file safely; every failure is a YamlError with a one-line reason (fast: see loads)."""
    try:
        try:  # one stat, not one per check: thousands of run folders are read this way
            st = os.stat(path)
        except OSError as e:
            if e.errno in _ABSENT:  # as Path.exists() judges it
                raise YamlError("file not found") from None
            raise
        if stat.S_ISDIR(st.st_mode):
            raise YamlError("is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            raise YamlError("not a regular file")
        if st.st_size > MAX_BYTES:
            raise YamlError(f"file is {st.st_size} bytes; configs are at most {MAX_BYTES}")
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = read_fd(fd, st.st_size, MAX_BYTES)
        finally:
            os.close(fd)
    except OSError as e:
        raise YamlError(f"cannot read file: {e.strerror or e}") from None
    if len(data) > MAX_BYTES:
        raise YamlError(f"file is more than {MAX_BYTES} bytes; configs are at most {MAX_BYTES}")
    if b"\x00" in data:
        raise YamlError("binary file, not YAML text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise YamlError(f"not UTF-8 text (byte {e.start})") from None
    if not text.strip():
        raise YamlError("file is empty")
    return loads(text, fast=fast)


def parse_scalar(text: str) -> Any:
    """A --set value: parsed as a YAML scalar (or flow list/map), so `2`, `1e-3`, `true`, `[1, 2]` work."""
    if text.strip() == "":
        return ""
    return loads(text)


def dump(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
