"""The bounded read: what a stale size or a growing file can make it read, and errors as open() gives them."""

import os

import pytest

from ltd_bench import trust
from ltd_bench.bounded import read_fd


@pytest.mark.parametrize("size", [0, 10, 50, 49, 51, 1000])  # the size taken earlier, right or stale
@pytest.mark.parametrize("length,cap", [(50, 100), (50, 50), (500, 100), (0, 10)])
def test_read_fd_reads_the_file_up_to_cap_plus_one_whatever_its_size_was(tmp_path, size, length, cap):
    p = tmp_path / "f"
    p.write_bytes(bytes(i * 7 % 256 for i in range(length)))
    fd = os.open(p, os.O_RDONLY)
    try:
        assert read_fd(fd, size, cap) == p.read_bytes()[: cap + 1]
    finally:
        os.close(fd)


def test_read_capped_refuses_as_before(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match=f"Is a directory: '{tmp_path / 'd'}'"):
        trust.read_capped(tmp_path / "d", 1 << 20)
    with pytest.raises(FileNotFoundError, match="No such file"):
        trust.read_capped(tmp_path / "none", 10)
    (tmp_path / "big").write_bytes(b"x" * 11)
    with pytest.raises(ValueError, match="big is 11 bytes, beyond the 10 it can need"):
        trust.read_capped(tmp_path / "big", 10)
    assert trust.read_capped(tmp_path / "big", 11) == b"x" * 11
