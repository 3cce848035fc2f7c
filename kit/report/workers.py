"""Where the report's worker processes come from (standard library only, so that the ``kit``
command can start the fork server before it imports anything else: it warms up meanwhile)."""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading


def worker_context():
    """Where workers come from: on Linux a fork server that has imported the tooling and the kit
    (started here, once per process; it warms up in the background), elsewhere spawn."""
    if not sys.platform.startswith("linux"):
        return multiprocessing.get_context("spawn")
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["kit.report.warm"])  # only at its first start
    _start_ignoring_ctrl_c(forkserver.ensure_running)
    return context


def _start_ignoring_ctrl_c(start) -> None:
    """Start the fork server with SIGINT ignored, which it keeps across exec: Ctrl-C reaches the
    whole process group, and the server would otherwise die of it while it imports (a traceback
    on the terminal) instead of ignoring it once it serves. Its workers inherit the same; the
    main process alone decides what Ctrl-C does (see :mod:`kit.report.faults`)."""
    if threading.current_thread() is not threading.main_thread():
        start()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        start()
    finally:
        signal.signal(signal.SIGINT, previous)



def stop_fork_server() -> None:
    """End this process's fork server now, if it runs (the next :func:`worker_context` starts another).

    A stopped run calls it: a server still importing the tooling would otherwise go on for seconds
    before it notices that nobody needs it any more.
    """
    if not sys.platform.startswith("linux"):
        return
    from multiprocessing import forkserver

    server = forkserver._forkserver  # no public API to stop it; _stop closes its pipe and reaps it
    if getattr(server, "_forkserver_pid", None):
        try:
            os.kill(server._forkserver_pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        server._stop()
