"""The data behind docs/trust.md's "At scale" figures, rebuilt:

    python tests/atscale.py DIR     # DIR/RUNS5K (5,010 run folders, ~80 MB) and DIR/SW50K.yaml

RUNS5K: finished run folders as `ltd-bench run` writes them (runfolders.make_run), T in 50, 100, 200,
400, 800 × {rnn+clip, rnn+clip+Ω, lstm} × 334 seeds, 4 evaluations each; the RNNs solve, stay unsolved
or diverge by turns, the LSTMs solve or not. SW50K: a sweep of 2 methods × 5,000 seeds × 5 lengths of a
small adding-task config (H = 8, 100 steps), 50,000 runs.
"""

import sys
from pathlib import Path

from runfolders import make_run

LENGTHS = (50, 100, 200, 400, 800)
METHODS = (
    {"model": "rnn", "clip": "norm", "omega": 0.0},
    {"model": "rnn", "clip": "norm", "omega": 2.0},
    {"model": "lstm", "clip": "none", "omega": 0.0},
)


def runs5k(root: Path) -> int:
    n = 0
    for T in LENGTHS:
        for m in METHODS:
            outcomes = ("solved", "unsolved", "diverged") if m["model"] == "rnn" else ("solved", "unsolved")
            for seed in range(334):
                status = outcomes[seed % len(outcomes)]
                make_run(
                    root,
                    f"T{T}",
                    seq_len=T,
                    seed=seed,
                    status=status,
                    steps_to_solve=500 * (1 + seed % 4),
                    **m,
                )
                n += 1
    return n


def sw50k() -> str:
    return f"""name: sw50k
base: {{task: {{name: adding, seq_len: 50, test_size: 100}}, model: {{hidden_size: 8}}, train: {{steps: 100, eval_every: 50}}}}
methods:
  lstm: {{model.type: lstm}}
  rnn+clip: {{clipping.mode: norm}}
grid:
  task.seq_len: [{", ".join(map(str, LENGTHS))}]
  seed: [{", ".join(map(str, range(5000)))}]
"""


if __name__ == "__main__":
    out = Path(sys.argv[1])
    (out / "SW50K.yaml").parent.mkdir(parents=True, exist_ok=True)
    (out / "SW50K.yaml").write_text(sw50k())
    print(f"{runs5k(out / 'RUNS5K')} run folders in {out / 'RUNS5K'}, 50,000 runs in {out / 'SW50K.yaml'}")
