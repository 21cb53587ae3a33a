"""Popen options for tests that Ctrl-C a real `ltd-bench` process."""

import signal


def _default_sigint() -> None:
    # A shell without job control (`nohup … &`, a CI runner's background step) starts its children with
    # SIGINT ignored, and Python then never raises KeyboardInterrupt: give the child the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


INTERRUPTIBLE = {"start_new_session": True, "preexec_fn": _default_sigint}
