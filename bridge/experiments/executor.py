"""The parallel executor of training grids, shared by ``compare`` and ``study``.

Each planned cell is a :class:`TrainConfig` (or, for a cell that cannot be trained, the reason
why). Cells already complete in the store on today's inputs are reused; the rest run on one of
two executors:

- ``local`` (default): ``workers`` processes (forked from a fork server that has imported the
  training code once: ``bridge.core.workers``), each training one task at a time on one CPU
  thread (``train.CPU_THREADS``), with the store passed by its root (fitted rules load from it);
- ``ray``: each task a Ray task (one CPU, ``num_gpus=1`` for a cell on CUDA) on the cluster at
  ``ray_address`` (or ``$RAY_ADDRESS``; none: a local Ray with ``workers`` CPUs). The driver
  loads each task's fitted rule and sends it with the task; the task trains and returns the
  histories, and the driver writes the HDF5 files, so the workers need no shared file system
  (only the data set) and the store stays atomic.

A task is an ensemble (the cells that differ only in seed and learning rate, trained as one
network: ``bridge.learning.ensemble_training``) or a cell of the single engine; each cell is
written as its own run file either way, and a killed task loses only itself.

Either way Ctrl-C (or a killed driver) cancels the queued cells and leaves no half-written
file; finished ones stay in the store, so a rerun finishes the rest.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from bridge.core.errors import UserError
from bridge.core.progress import progress_bar
from bridge.core.store import Stopwatch, Store
from bridge.core.workers import worker_context
from bridge.learning.engine import run_cells, train_cells
from bridge.learning.ensemble_training import MEMBERS_AT_MOST, ensemble_key
from bridge.learning.train import CPU_THREADS, TrainConfig, existing_run, load_train_rule, write_training

EXECUTORS = ("local", "ray")
# What the fork server imports before it forks workers: the training code, and torch._dynamo, which
# torch.optim imports on a process's first optimizer (2-4 s here); imported once in the server, not
# in every worker's first cell.
WORKER_PRELOAD = (__name__, "torch._dynamo")


def groups(todo: list[TrainConfig], store: Store, workers: int = 1) -> list[list[TrainConfig]]:
    """The cells as tasks, largest first: the cells that can be members of one ensemble
    (``ensemble_key``: equal but for seed and lr; fitted rules loaded from ``store``) together,
    split so every worker gets work (at most MEMBERS_AT_MOST a task; a member's numbers do not
    depend on its ensemble); every other cell alone."""
    grouped: dict[str, list[TrainConfig]] = {}
    tasks = []
    for config in todo:
        key = ensemble_key(config, load_train_rule(config, store))
        if key is None:
            tasks.append([config])
        else:
            grouped.setdefault(key, []).append(config)
    for members in grouped.values():
        size = min(MEMBERS_AT_MOST, math.ceil(len(members) / workers))
        tasks += [members[i:i + size] for i in range(0, len(members), size)]
    return sorted(tasks, key=len, reverse=True)


def _train_in_worker(configs: list[TrainConfig], root: str, rerun: bool) -> list[str]:
    """One task in a worker process: the store is passed by its root, rules load from it."""
    return [str(path) for path in train_cells(configs, Store(root), progress=False, rerun=rerun)]


def _train_remotely(configs: list[TrainConfig], rule) -> tuple[list[dict], str, float]:
    """One task as a Ray task: (histories, start time, seconds); nothing written here."""
    clock = Stopwatch()
    histories = run_cells(configs, rule, progress=False)
    return histories, clock.started, clock.seconds()


def run_grid(planned: list[TrainConfig | str], workers: int, store: Store, progress: bool = True,
             rerun: bool = False, label: str = "cells", executor: str = "local",
             ray_address: str = "") -> list[Path | str]:
    """Train every feasible planned cell not already complete in the store (every one: ``rerun``)
    on ``executor`` (module docstring), the cells of one ensemble as one task.

    Returns, in plan order, each cell's run path, or for a cell that cannot be trained its reason.
    """
    if executor not in EXECUTORS:
        raise UserError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    feasible = [c for c in planned if not isinstance(c, str)]
    todo = [c for c in feasible if rerun or existing_run(c, store) is None]
    with progress_bar(progress) as bar:
        task = bar.add_task(label, total=len(feasible), completed=len(feasible) - len(todo))
        if todo:
            execute = _execute_ray if executor == "ray" else _execute
            execute(groups(todo, store, workers), workers, store, rerun, lambda k: bar.advance(task, k), ray_address)
    results = [c if isinstance(c, str) else existing_run(c, store) for c in planned]
    if any(r is None for r in results):
        raise UserError(f"{label}: some runs did not finish; rerun to complete them")
    return results


def _execute(tasks: list[list[TrainConfig]], workers: int, store: Store, rerun: bool,
             done: Callable[[int], None], ray_address: str = "") -> None:
    with ProcessPoolExecutor(max_workers=workers, mp_context=worker_context(WORKER_PRELOAD)) as pool:
        pending = {pool.submit(_train_in_worker, t, str(store.root), rerun): len(t) for t in tasks}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
                    done(pending.pop(future))
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _execute_ray(tasks: list[list[TrainConfig]], workers: int, store: Store, rerun: bool,
                 done: Callable[[int], None], ray_address: str = "") -> None:
    import ray  # heavy, and an optional extra (pip install homeobridge[ray]): only when asked for

    address = ray_address or os.environ.get("RAY_ADDRESS", "")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address or None, num_cpus=None if address else workers * CPU_THREADS,
                 include_dashboard=False, log_to_driver=False)
    pending = {}
    try:
        for configs in tasks:
            rule = load_train_rule(configs[0], store)
            gpus = 1 if configs[0].device == "cuda" else 0
            remote = ray.remote(num_cpus=CPU_THREADS, num_gpus=gpus)(_train_remotely)
            pending[remote.remote(configs, rule)] = (configs, rule)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                configs, rule = pending.pop(ref)
                histories, started, seconds = ray.get(ref)
                for config, history in zip(configs, histories):
                    write_training(config, rule, history, store, Stopwatch.elsewhere(started, seconds))
                done(len(configs))
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()
