"""ltd-bench: long-term-dependency benchmarks for recurrent nets. `ltd_bench.load_runs(path)` reads a
results folder into a pandas DataFrame, one row per run (see ltd_bench.runs)."""

__version__ = "0.1.0"
__all__ = ["__version__", "load_runs"]


def __getattr__(name: str):
    # lazy: `import ltd_bench` (and every CLI start) stays free of pandas and torch until this is used
    if name == "load_runs":
        from .runs import load_runs

        return load_runs
    raise AttributeError(f"module 'ltd_bench' has no attribute {name!r}")
