"""Where the report's worker processes come from (standard library only, so that the ``kit``
command can start the fork server before it imports anything else: it warms up meanwhile)."""
from __future__ import annotations

import multiprocessing
import sys


def worker_context():
    """Where workers come from: on Linux a fork server that has imported the tooling and the kit
    (started here, once per process; it warms up in the background), elsewhere spawn."""
    if not sys.platform.startswith("linux"):
        return multiprocessing.get_context("spawn")
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["kit.report.warm"])  # only at its first start
    forkserver.ensure_running()
    return context
