"""The processes that train cells: forked from a fork server that has imported the training code once.

A spawned worker imports torch and the training code again (seconds); a worker forked from a
fork server that imported them once starts in milliseconds. :func:`start_worker_server` starts
that server early and returns at once: it imports ``modules`` in its own process while the
caller imports the rest of what it needs, on another core. :func:`worker_context` is the
context a process pool forks its workers from (the server started now if it was not already;
spawn where there is no fork server, i.e. not on Linux).

Only the standard library here: the command line calls this before it imports anything heavy.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing import forkserver
from multiprocessing.context import BaseContext


def worker_context(modules: tuple[str, ...]) -> BaseContext:
    """The context that forks workers from a server which has imported ``modules`` (and the
    caller's main module, which every worker re-runs: it must be cheap to import again)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(modules))
    return context


def start_worker_server(modules: tuple[str, ...]) -> None:
    """Start the fork server of :func:`worker_context` now, importing ``modules`` in the
    background; a later pool reuses it (its preload is the first one given). No-op without one."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        worker_context(modules)
        forkserver.ensure_running()
