"""Imported only in the forkserver of a sweep's process pool (executors._context preloads it): the
server ignores SIGTERM. `timeout`, a batch scheduler's time limit or systemd signal the whole process
group; a server that died of it would close the pipes its pool watches its workers by, and the pool
would report them dead before they could checkpoint. (It ignores SIGINT already.) The workers it forks
inherit this (executors._worker_init sets it as well) and handle SIGTERM while they train (StopFlag)."""

import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
