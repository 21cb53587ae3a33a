"""A sweep's execution (sweeprun.py): the line each finished run prints and the closing summary with its
exit code. The claims, packs and resume it drives are tested end to end in test_sweep.py."""

import io
import os
import socket
from pathlib import Path

from rich.console import Console

from ltd_bench.jobs import Job
from ltd_bench.outputs import Claims
from ltd_bench.sweeprun import _closing, _line


def job(tmp_path: Path, name: str = "abc123") -> Job:
    return Job(name, "rnn+clip", {}, tmp_path / name, {"seed": 3, "task.options": {"copy_len": 3}})


def consoles():
    out, err = io.StringIO(), io.StringIO()
    return out, err, Console(file=out, width=300), Console(file=err, width=300)


def test_each_outcome_reads_as_one_line(tmp_path):
    j = job(tmp_path)
    solved = _line(j, {"status": "solved", "steps_to_solve": 4000, "steps": 4000, "wall_time_s": 12.34})
    assert (
        solved
        == 'rnn+clip  seed=3 task.options={"copy_len": 3}  solved at step 4000  4000 steps  12.3 s  abc123'
    )
    assert "diverged at step 700" in _line(j, {"status": "diverged", "diverged_at_step": 700, "steps": 700})
    assert "FAILED boom" in _line(j, {"status": "failed", "error": "boom"})
    assert "unsolved (test error 0.125)" in _line(j, {"status": "unsolved", "test_error": 0.125})
    assert "0 steps  0.0 s" in _line(j, {"status": "interrupted"})  # a summary without them still prints


def test_the_closing_line_counts_and_the_exit_code_says_whether_all_ran(tmp_path):
    out, err, c, e = consoles()
    assert _closing(c, e, {"solved": 3, "unsolved": 1}, 2.0, tmp_path / "sw", []) == 0
    assert f"4 runs in 2.0 s: 3 solved, 1 unsolved · ltd-bench report {tmp_path / 'sw'}" in out.getvalue()
    assert err.getvalue() == ""
    out, err, c, e = consoles()
    assert _closing(c, e, {"solved": 1, "failed": 2}, 1.0, tmp_path, []) == 1
    assert "2 run(s) failed" in err.getvalue() and "retries them" in err.getvalue()


def test_runs_another_live_sweep_holds_are_named_with_their_holder(tmp_path):
    held, gone = job(tmp_path, "held"), job(tmp_path, "gone")
    claims = Claims()
    assert claims.acquire(held.path)  # held by this (live) process, as another sweep would hold it
    gone.path.mkdir()
    try:
        out, _, c, e = consoles()
        assert _closing(c, e, {}, 0.5, tmp_path, [held, gone]) == 0
        text = out.getvalue()
        assert "none trained here" in text
        assert "2 run(s) left to another sweep training them" in text  # neither finished
        assert f"pid {os.getpid()} on {socket.gethostname()}" in text
    finally:
        claims.release_all()
