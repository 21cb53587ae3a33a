"""Shared fixtures."""

import sys

import pytest

from ltd_bench.cli import main


@pytest.fixture
def ltd_main(capsys, monkeypatch):
    """The real console entry point (ltd_bench.cli:main), in-process: (exit code, stdout, stderr)."""

    def call(*args):
        monkeypatch.setattr(sys, "argv", ["ltd-bench", *map(str, args)])
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main()
        out, err = capsys.readouterr()
        return e.value.code, out, err

    return call
