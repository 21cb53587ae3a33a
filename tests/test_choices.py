"""choices.py is the one list of names: config validation allows exactly these, every one is
implemented, and the package's import graph has no cycle."""

import ast
import typing
from pathlib import Path

import pytest

from ltd_bench import choices
from ltd_bench.catalog import CHOICES
from ltd_bench.config import Config, flatten
from ltd_bench.models import INITS, MODELS
from ltd_bench.omega import SCHEDULES
from ltd_bench.train import OPTIMIZERS

PKG = Path(__file__).resolve().parents[1] / "ltd_bench"


@pytest.mark.parametrize(
    "registry,table",
    [
        (MODELS, choices.MODELS),
        (INITS, choices.INITS),
        (OPTIMIZERS, choices.OPTIMIZERS),
        (SCHEDULES, choices.SCHEDULES),
    ],
)
def test_every_declared_name_is_implemented(registry, table):
    assert registry.missing() == [] and registry.names() == sorted(table)


def test_config_allows_exactly_the_declared_names():
    fields = {}
    for section in ("model", "train", "clipping", "regularizer"):
        for name, f in Config.model_fields[section].annotation.model_fields.items():
            fields[f"{section}.{name}"] = f.annotation
    for key, table in CHOICES.values():
        assert typing.get_args(fields[key]) == tuple(table), key
    assert all(key in flatten(Config().to_dict()) for key, _ in CHOICES.values())


def test_an_undeclared_name_cannot_register():
    with pytest.raises(ValueError, match="not declared"):
        MODELS.register("transformer")


def test_the_import_graph_has_no_cycle():
    graph = {}
    for p in PKG.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(p.read_text())):  # lazy imports inside functions count too
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ltd_bench."):
                deps.add(node.module.split(".")[1])
        graph[p.stem] = {d for d in deps if (PKG / f"{d}.py").exists() and d != p.stem}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for d in sorted(graph[m]):
            assert state.get(d) != 1, "import cycle: " + " -> ".join([*path, m, d])
            if d not in state:
                visit(d, [*path, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert "jobs" in graph["dask_executor"] and "executors" not in graph["dask_executor"]
