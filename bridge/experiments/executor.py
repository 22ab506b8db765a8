"""The parallel executor of training grids, shared by ``compare`` and ``study``.

Each planned cell is a :class:`TrainConfig` (or, for a cell that cannot be trained, the reason
why). Cells already complete in the store on today's inputs are reused; the rest run on one of
two executors:

- ``local`` (default): ``workers`` processes (forked from a fork server that has imported the
  training code once: ``bridge.core.workers``), each with its share of the cores this process
  may use (``usable_cores``) as threads, and the store passed by its root (fitted rules load
  from it);
- ``ray``: each cell a Ray task (``num_cpus`` its share of the threads, ``num_gpus=1`` for a
  cell on CUDA) on the cluster at ``ray_address`` (or ``$RAY_ADDRESS``; none: a local Ray with
  ``workers`` x threads CPUs). The driver loads each cell's fitted rule and sends it with the
  cell; the task trains and returns the history, and the driver writes the HDF5 file, so the
  workers need no shared file system (only the data set) and the store stays atomic.

Either way Ctrl-C (or a killed driver) cancels the queued cells and leaves no half-written
file; finished ones stay in the store, so a rerun finishes the rest.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import torch

from bridge.core.errors import UserError
from bridge.core.progress import progress_bar
from bridge.core.store import Stopwatch, Store
from bridge.core.workers import usable_cores, worker_context
from bridge.learning.train import (
    TrainConfig,
    existing_run,
    load_train_rule,
    run_training,
    train,
    write_training,
)

EXECUTORS = ("local", "ray")
# What the fork server imports before it forks workers: the training code, and torch._dynamo, which
# torch.optim imports on a process's first optimizer (2-4 s here); imported once in the server, not
# in every worker's first cell.
WORKER_PRELOAD = (__name__, "torch._dynamo")


def _train_in_worker(train_cfg: TrainConfig, root: str, threads: int, rerun: bool) -> str:
    """One cell in a worker process: the store is passed by its root, rules load from it."""
    torch.set_num_threads(threads)
    return str(train(train_cfg, Store(root), progress=False, rerun=rerun))


def _train_remotely(train_cfg: TrainConfig, rule, threads: int) -> tuple[dict, str, float]:
    """One cell as a Ray task: (history, start time, seconds); nothing written here."""
    torch.set_num_threads(threads)
    clock = Stopwatch()
    history = run_training(train_cfg, rule, progress=False)
    return history, clock.started, clock.seconds()


def run_grid(planned: list[TrainConfig | str], workers: int, store: Store, progress: bool = True,
             rerun: bool = False, label: str = "cells", executor: str = "local",
             ray_address: str = "") -> list[Path | str]:
    """Train every feasible planned cell not already complete in the store (every one: ``rerun``)
    on ``executor`` (module docstring).

    Returns, in plan order, each cell's run path, or for a cell that cannot be trained its reason.
    """
    if executor not in EXECUTORS:
        raise UserError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    feasible = [c for c in planned if not isinstance(c, str)]
    todo = [c for c in feasible if rerun or existing_run(c, store) is None]
    threads = max(1, usable_cores() // workers)
    with progress_bar(progress) as bar:
        task = bar.add_task(label, total=len(feasible), completed=len(feasible) - len(todo))
        if todo:
            execute = _execute_ray if executor == "ray" else _execute
            execute(todo, workers, store, threads, rerun, lambda: bar.advance(task), ray_address)
    results = [c if isinstance(c, str) else existing_run(c, store) for c in planned]
    if any(r is None for r in results):
        raise UserError(f"{label}: some runs did not finish; rerun to complete them")
    return results


def _execute(todo: list[TrainConfig], workers: int, store: Store, threads: int, rerun: bool,
             done: Callable[[], None], ray_address: str = "") -> None:
    with ProcessPoolExecutor(max_workers=workers, mp_context=worker_context(WORKER_PRELOAD)) as pool:
        pending = {pool.submit(_train_in_worker, c, str(store.root), threads, rerun) for c in todo}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
                    done()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _execute_ray(todo: list[TrainConfig], workers: int, store: Store, threads: int, rerun: bool,
                 done: Callable[[], None], ray_address: str = "") -> None:
    import ray  # heavy, and an optional extra (pip install homeobridge[ray]): only when asked for

    address = ray_address or os.environ.get("RAY_ADDRESS", "")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address or None, num_cpus=None if address else workers * threads,
                 include_dashboard=False, log_to_driver=False)
    rules = [load_train_rule(c, store) for c in todo]
    pending = {}
    try:
        for config, rule in zip(todo, rules):
            gpus = 1 if config.device == "cuda" else 0
            task = ray.remote(num_cpus=threads, num_gpus=gpus)(_train_remotely)
            pending[task.remote(config, rule, threads)] = (config, rule)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                config, rule = pending.pop(ref)
                history, started, seconds = ray.get(ref)
                write_training(config, rule, history, store, Stopwatch.elsewhere(started, seconds))
                done()
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()
