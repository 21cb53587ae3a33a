"""Bad-input corpus for `ltd-bench run` and `ltd-bench validate`.

Every case must: exit 2, print a short message naming the file (or --set/--out) and the field, print no
traceback, and write nothing (the --out folder is never created).

How to add a case
- a file: drop it into tests/bad_inputs/ with a first line `# expect: needle | needle | ...` (substrings the
  error output must contain); it is picked up automatically and run through both commands. Files that
  cannot hold a comment (binary, empty) get their needles in NO_COMMENT below.
- a situation (missing file, permissions, --set, --out ...): add a row to GENERATED.
- sweep files: add rows to SWEEP_CASES (file in tests/bad_inputs/sweeps/, needles); they are run through
  `validate` and `sweep --dry-run` with the same checks.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest


HERE = Path(__file__).parent / "bad_inputs"
CLI = str(Path(sys.executable).with_name("ltd-bench"))
GOOD = "name: ok\ntask: {name: adding, seq_len: 10, test_size: 50}\nmodel: {hidden_size: 8}\ntrain: {steps: 5, threads: 1}\n"

NO_COMMENT = {  # files whose bytes cannot carry an `# expect:` line
    "empty.yaml": ["file is empty"],
    "non_utf8.yaml": ["not UTF-8 text"],
    "binary_garbage.yaml": ["binary file"],
    "utf16.yaml": ["binary file"],  # UTF-16 text is full of NUL bytes
}


def expectations(path: Path) -> list[str]:
    if path.name in NO_COMMENT:
        return NO_COMMENT[path.name]
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: needle | ...'"
    return [n.strip() for n in first[len("# expect: ") :].split("|")]


FILES = sorted(p for p in HERE.glob("*.yaml"))


# ------------------------------------------------------------------------------------------ harness
@pytest.fixture
def ltd(ltd_main, monkeypatch, tmp_path):
    """The console entry point in-process (exit code, stdout+stderr), run from an empty working folder."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    def call(*args):
        code, out, err = ltd_main(*args)
        return code, out + err

    return call


def check_refused(code: int, output: str, needles: list[str], out_dir: Path | None, work: Path) -> None:
    assert code == 2, output
    assert "Traceback" not in output, output
    lines = output.strip().splitlines()
    assert 1 <= len(lines) <= 8 and all(len(line) <= 600 for line in lines), output
    for needle in needles:
        assert needle in output, f"{needle!r} not in {output!r}"
    if out_dir is not None:
        assert not out_dir.exists(), f"{out_dir} was created"
    assert list(work.iterdir()) == [], "something was written to the working folder"


def both(ltd, tmp_path, args: list, needles: list[str], commands=("validate", "run")):
    for cmd in commands:
        out_dir = tmp_path / f"out_{cmd}"
        extra = ["--out", out_dir] if cmd == "run" else []
        code, output = ltd(cmd, *args, *extra)
        check_refused(code, output, needles, out_dir if cmd == "run" else None, tmp_path / "work")


# ------------------------------------------------------------------------------------------- corpus
def test_corpus_is_big_enough():
    assert len(FILES) + len(GENERATED) >= 30


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_bad_file(path, ltd, tmp_path):
    # the file's own path appears in every message (load_config prefixes it)
    both(ltd, tmp_path, [path], [str(path), *expectations(path)])


def _write(tmp: Path, name: str, data: bytes | str = GOOD) -> Path:
    p = tmp / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


def deny_reading(monkeypatch, path: Path) -> None:
    """Opening `path` fails with EACCES, as it does for anyone but root after chmod 000. Tests run as root
    in CI, where chmod alone stops nothing: this makes the refusal happen there too."""

    def guard(real_open):
        def guarded(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == os.path.abspath(path):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(file))
            return real_open(file, *args, **kwargs)

        return guarded

    for module, name in ((builtins, "open"), (io, "open"), (os, "open")):  # os.open: the bounded reads
        monkeypatch.setattr(module, name, guard(getattr(module, name)))


def _missing(tmp, mp):
    return [tmp / "nope.yaml"], ["nope.yaml: file not found"]


def _directory(tmp, mp):
    (tmp / "adir.yaml").mkdir()
    return [tmp / "adir.yaml"], ["adir.yaml: is a directory, not a file"]


def _too_big(tmp, mp):
    return [_write(tmp, "big.yaml", GOOD + "# " + "x" * (1 << 20) + "\n")], ["big.yaml: file is", "at most"]


def _fifo(tmp, mp):
    os.mkfifo(tmp / "fifo.yaml")
    return [tmp / "fifo.yaml"], ["fifo.yaml: not a regular file"]


def _unreadable(tmp, mp):
    p = _write(tmp, "locked.yaml")
    p.chmod(0)
    if os.geteuid() == 0:  # root reads whatever the mode: refuse the open as the kernel does for others
        deny_reading(mp, p)
    return [p], ["locked.yaml: cannot read file", "Permission denied"]


def _set(*items, needles):
    def make(tmp, mp):
        args = [_write(tmp, "good.yaml")]
        for item in items:
            args += ["--set", item]
        return args, needles

    return make


GENERATED = {
    "missing_file": _missing,
    "directory_as_file": _directory,
    "file_over_1MiB": _too_big,
    "fifo_as_file": _fifo,
    "unreadable_chmod_000": _unreadable,
    "set_without_equals": _set("train.lr", needles=["--set: 'train.lr': expected dotted.key=value"]),
    "set_empty_key": _set("=1", needles=["--set: '=1': expected dotted.key=value"]),
    "set_empty_part": _set("train..lr=1", needles=["expected dotted.key=value"]),
    "set_unknown_key": _set(
        "train.lrr=0.1", needles=["--set train.lrr=0.1: train.lrr: unknown key (did you mean 'lr'?)"]
    ),
    "set_bad_yaml": _set("train.lr=[0.1", needles=["--set: train.lr: line 1"]),
    "set_python_tag": _set(
        "name=!!python/object/apply:os.system [ls]", needles=["--set: name:", "no Python"]
    ),
    "set_nan": _set(
        "train.lr=.nan", needles=["--set train.lr=.nan: train.lr: Input should be a finite number"]
    ),
    "set_into_a_scalar": _set("name.x=1", needles=["--set: name: is not a section"]),
    "set_wrong_type": _set(
        "train.steps=many", needles=["train.steps: Input should be a valid integer, got 'many'"]
    ),
    "set_bad_name": _set("name=../../etc", needles=["name: invalid name '../../etc'"]),
    "set_memory": _set(
        "task.seq_len=100000", "task.test_size=1000000", needles=["task.seq_len: would need about"]
    ),
}


@pytest.mark.parametrize("case", list(GENERATED))
def test_generated_case(case, ltd, tmp_path, monkeypatch):
    args, needles = GENERATED[case](tmp_path, monkeypatch)
    both(ltd, tmp_path, args, needles)


# ------------------------------------------------------------------------------- run-only situations
def test_name_that_resolves_outside_out(ltd, tmp_path):
    """OUT/<name> is a symlink to a folder elsewhere: refused before anything is written there."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "ok").symlink_to(elsewhere)
    code, output = ltd("run", _write(tmp_path, "good.yaml"), "--out", out)
    assert code == 2 and "Traceback" not in output
    assert "good.yaml: name:" in output and "outside" in output
    assert list(elsewhere.iterdir()) == [] and [p.name for p in out.iterdir()] == ["ok"]


def test_out_is_a_file(ltd, tmp_path):
    target = _write(tmp_path, "results", "not a folder")
    code, output = ltd("run", _write(tmp_path, "good.yaml"), "--out", target)
    assert code == 2 and "--out" in output and "is not a directory" in output and "Traceback" not in output
    assert target.read_text() == "not a folder"
    code, output = ltd("run", _write(tmp_path, "good.yaml"), "--out", target / "sub")
    assert code == 2 and "is not a directory" in output and "Traceback" not in output


def test_cuda_without_cuda(ltd, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "out"
    code, output = ltd("run", _write(tmp_path, "good.yaml"), "--set", "train.device=cuda", "--out", out)
    assert code == 2 and "train.device" in output and "Traceback" not in output and not out.exists()


def test_usage_errors_exit_2(ltd, tmp_path):
    for args in (["run"], ["validate"], ["run", _write(tmp_path, "good.yaml"), "--bogus"], ["frobnicate"]):
        code, output = ltd(*args)
        assert code == 2 and "Traceback" not in output, (args, output)


def test_yaml_tags_run_nothing(ltd, tmp_path, monkeypatch):
    """Both commands refuse the tags (exit 2, naming them) and no payload runs. The os.system payload is live:
    PyYAML's unsafe loader does run it (checked first, in a folder of its own), so its absence means something."""
    import yaml

    names = ("python_tag_os_system.yaml", "python_object_new.yaml")
    control = tmp_path / "control"
    control.mkdir()
    monkeypatch.chdir(control)
    yaml.unsafe_load((HERE / names[0]).read_text())
    assert (control / "PWNED_BY_YAML").exists()
    monkeypatch.chdir(tmp_path / "work")
    for name in names:
        for cmd in ("validate", "run"):
            out = tmp_path / f"out_{cmd}"
            code, output = ltd(cmd, HERE / name, *(["--out", out] if cmd == "run" else []))
            assert code == 2 and "no Python or custom tags" in output and "Traceback" not in output, output
            assert not out.exists()
    assert not list((tmp_path / "work").rglob("PWNED_BY_YAML")) and not list(tmp_path.glob("out_*"))
    assert not Path("PWNED_BY_YAML").exists()


# ----------------------------------------------------------------------------------- sweep files
# (file name in tests/bad_inputs/sweeps/, needles) — added by whoever owns the sweep engine.
SWEEP_CASES: list[tuple[str, list[str]]] = [
    ("zip_mismatch.yaml", ["zip: lists of different lengths", "seed has 3"]),
    ("unknown_key.yaml", ["gird: unknown sweep key", "did you mean 'grid'"]),
    ("missing_base.yaml", ["base:", "file not found"]),
    ("empty_axis.yaml", ["grid.seed: empty list"]),
    ("bad_grid_key.yaml", ["model.hiden_size", "did you mean 'hidden_size'", "from grid"]),
    ("grid_not_list.yaml", ["grid.seed: expected a list"]),
    ("bad_grid_value.yaml", ["clipping.threshold", "greater than 0", "-1.0"]),
    ("bad_method_value.yaml", ["model.type", "did you mean 'lstm'", "method 'm1'"]),
    ("bad_name.yaml", ["name: invalid name", "-_.+"]),
    ("methods_not_mapping.yaml", ["methods: expected a mapping"]),
]


@pytest.mark.parametrize("name,needles", SWEEP_CASES)
def test_bad_sweep_file(name, needles, ltd, tmp_path):
    path = HERE / "sweeps" / name
    both(ltd, tmp_path, [path], [str(path), *needles], commands=("validate",))
    out_dir = tmp_path / "out_sweep"
    code, output = ltd("sweep", path, "--out", out_dir, "--dry-run")
    check_refused(code, output, [*needles], out_dir, tmp_path / "work")


# --------------------------------------------------------------------- the real console script
def _spawn(args: list, cwd: Path) -> tuple[int, str, int]:
    """Run `ltd-bench ARGS` as a real process: exit code, output, peak RSS in MiB."""
    p = subprocess.Popen(
        [CLI, *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    out = p.stdout.read().decode()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, out, usage.ru_maxrss // 1024


def test_console_script_exit_codes(tmp_path):
    """Exit codes must reach the shell (click returns, rather than raises, them in non-standalone mode)."""
    work = tmp_path / "work"
    work.mkdir()
    code, out, _ = _spawn(["validate", HERE / "unknown_section_key.yaml"], work)
    assert code == 2 and "train.lrr" in out and "Traceback" not in out
    good = _write(tmp_path, "good.yaml")
    code, out, _ = _spawn(["validate", good], work)
    assert code == 0 and "# run_id: " in out


@pytest.mark.parametrize(
    "name", ["memory_seq_len_test_size.yaml", "memory_batch_hidden.yaml", "alias_bomb.yaml"]
)
def test_refused_before_allocating(name, tmp_path):
    """seq_len 100000 x test_size 1000000 would need ~1.2 TB: refused from the estimate, with the process
    never growing past what importing torch costs (peak RSS, measured by the kernel), nothing written."""
    work = tmp_path / "work"
    work.mkdir()
    code, out, rss_mib = _spawn(["run", HERE / name, "--out", tmp_path / "out"], work)
    assert code == 2 and "Traceback" not in out, out
    assert rss_mib < 1024, rss_mib
    assert not (tmp_path / "out").exists() and list(work.iterdir()) == []
