"""The tiny run config the worker-side tests (jobs, executors) train, and how they compare two results."""

from ltd_bench.config import validate_dict

TINY = {
    "task": {"name": "temporal_order", "seq_len": 10, "test_size": 50},
    "model": {"hidden_size": 4},
    "train": {"steps": 20, "eval_every": 10},
    "clipping": {"mode": "norm"},
}


def config(seed=0, **extra) -> dict:
    """A resolved config dict: TINY with this seed and any whole sections replaced."""
    return validate_dict({**TINY, "seed": seed, **extra}, "test").to_dict()


def comparable(res) -> dict:
    """The status and the metrics without wall time, as reprs (NaN == NaN)."""
    rows = [{k: repr(v) for k, v in row.items() if k != "wall_time_s"} for row in res.metrics]
    return {"status": res.summary.get("status"), "metrics": rows}
