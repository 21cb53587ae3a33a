"""Reading an open file up to a cap, the cheap way: a report reads three small files in each of thousands
of run folders, and a buffered read(cap + 1) allocates the whole cap (a MiB for a config) before reading
a few hundred bytes, which costs several times the reading itself."""

from __future__ import annotations

import os

CHUNK = 1 << 26  # a file that grew after its size was taken is read on in pieces of at most this


def read_fd(fd: int, size: int, cap: int) -> bytes:
    """At most cap + 1 bytes from `fd`, whose size was `size` when checked: one read of what that size
    implies, then reads on until end of file or past the cap (a file that grew meanwhile, or a FIFO,
    cannot make it read more than cap + 1)."""
    first = os.read(fd, min(size, cap) + 1)
    parts, total = [first], len(first)
    while parts[-1] and total <= cap:
        parts.append(os.read(fd, min(cap + 1 - total, CHUNK)))
        total += len(parts[-1])
    return first if total == len(first) else b"".join(parts)
