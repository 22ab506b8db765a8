"""Biophysical experiments on the models, each writing one run to the results store.

Programmatic entry (used by the CLI and by other parts of homeobridge)::

    from sims import run
    path = run("homeostasis-sweep", ["model=lif-ip", "duration=60"], backend="numpy", store=Store())

:func:`run` applies ``key=value`` overrides to the experiment's config dataclass (a bad key or
value is a :class:`UserError`), returns the existing file when a complete run with the same
configuration (and backend) is already in the store, and otherwise simulates and writes
``results/sims/<name>/<run-id>.h5`` (schema: docs/store-schema.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.config import apply_overrides, to_dict
from bridge.errors import UserError
from bridge.store import Store, write_arrays
from sims import information, ip, scaling
from sims.backend import brian_backend, check

KIND = "sims"


@dataclass(frozen=True)
class SimSpec:
    """An experiment: its config dataclass and ``function(cfg, finish, report) -> (arrays, attrs)``.

    ``arrays`` maps HDF5 paths to arrays; ``attrs`` maps a group path ("/" for the root) to
    its attributes.
    """

    name: str
    summary: str
    config: type
    function: Callable[..., tuple[dict[str, Any], dict[str, dict]]]


SIMS: dict[str, SimSpec] = {spec.name: spec for spec in [
    SimSpec("fi-curve", "steady-state response vs constant input, before and after IP",
            ip.FiCurveConfig, ip.fi_curve),
    SimSpec("homeostasis-sweep", "IP neurons on a grid of OU input mean x sd, one NeuronGroup",
            ip.HomeostasisSweepConfig, ip.homeostasis_sweep),
    SimSpec("scaling", "synaptic scaling after all inputs are scaled by a factor",
            scaling.ScalingConfig, scaling.scaling),
    SimSpec("information", "output entropy and information potential with and without IP",
            information.InformationConfig, information.information),
]}


def get_sim(name: str) -> SimSpec:
    if name not in SIMS:
        raise UserError(f"unknown experiment {name!r}; valid experiments: {', '.join(SIMS)}")
    return SIMS[name]


def configure(name: str, overrides: list[str] | None, backend: str) -> tuple[SimSpec, Any, dict]:
    """(spec, config dataclass, stored config dict incl. backend); UserError on bad input."""
    spec = get_sim(name)
    cfg = apply_overrides(spec.config(), overrides)
    return spec, cfg, {**to_dict(cfg), "backend": check(backend)}


def run(name: str, overrides: list[str] | None = None, backend: str = "numpy",
        store: Store | None = None, report: Callable[[float], None] | None = None) -> Path:
    """Run experiment ``name`` (or find it complete in ``store``) and return its file's path.

    ``report(fraction)`` is called as the simulation advances (runtime targets only).
    """
    import brian2

    spec, cfg, config = configure(name, overrides, backend)
    store = store or Store()
    existing = store.find_run(KIND, name, config)
    if existing is not None:
        return existing
    with brian_backend(backend) as finish:
        brian2.seed(cfg.seed)
        arrays, attrs = spec.function(cfg, finish, report if backend != "cpp_standalone" else None)
    with store.write(KIND, name, config, cfg.seed) as h5:
        write_arrays(h5, arrays)
        for group, values in attrs.items():
            node = h5 if group == "/" else h5.require_group(group)
            node.attrs.update(values)
    return store.path_for(KIND, name, config)


def run_with_progress(name: str, overrides: list[str] | None, backend: str, store: Store,
                      enabled: bool = True) -> Path:
    """:func:`run` behind a rich progress bar of the simulated fraction."""
    from bridge.progress import progress_bar

    with progress_bar(enabled) as progress:
        task = progress.add_task(f"sim {name} (% simulated)", total=100)
        path = run(name, overrides, backend, store,
                   report=lambda fraction: progress.update(task, completed=100 * fraction))
        progress.update(task, completed=100)
    return path
