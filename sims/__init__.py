"""Biophysical experiments on the models, each writing one run to the results store.

Programmatic entry (used by the CLI and by other parts of homeobridge)::

    from sims import run
    path = run("homeostasis-sweep", ["model=lif-ip", "duration=60"], "numpy", Store("results"))

:func:`run` applies ``key=value`` overrides to the experiment's validated config (a bad key or
value is a :class:`UserError`, raised before any work), returns the existing file when a complete run with the same
configuration (and backend) is already in the store, and otherwise simulates and writes
``results/sims/<name>/<run-id>.h5`` (schema: docs/store-schema.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.core.config import apply_overrides
from bridge.core.errors import UserError
from bridge.core.progress import progress_bar
from bridge.core.store import Stopwatch, Store, write_arrays
from sims import information, ip, scaling
from sims.backend import brian_backend, check

KIND = "sims"


@dataclass(frozen=True)
class SimSpec:
    """An experiment: its config class (a validated :class:`bridge.core.config.Config`) and
    ``function(cfg, finish, report) -> (arrays, attrs)``.

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
    """(spec, validated config, stored config dict incl. backend); UserError on bad input."""
    spec = get_sim(name)
    cfg = apply_overrides(spec.config(), overrides)
    return spec, cfg, {**cfg.to_dict(), "backend": check(backend)}


def run(name: str, overrides: list[str] | None, backend: str, store: Store,
        report: Callable[[float], None] | None = None, rerun: bool = False) -> Path:
    """Run experiment ``name`` (or find it complete in ``store``) and return its file's path.

    ``report(fraction)`` is called as the simulation advances (runtime targets only);
    ``rerun`` simulates again even when a complete run exists (replacing it).
    """
    import brian2  # heavy (~1 s); only a simulation needs it

    spec, cfg, config = configure(name, overrides, backend)
    existing = store.find_run(KIND, name, config)
    if existing is not None and not rerun:
        return existing
    clock = Stopwatch()
    with brian_backend(backend) as finish:
        brian2.seed(cfg.seed)
        arrays, attrs = spec.function(cfg, finish, report if backend != "cpp_standalone" else None)
    with store.write(KIND, name, config, cfg.seed, clock) as h5:
        write_arrays(h5, arrays)
        for group, values in attrs.items():
            node = h5 if group == "/" else h5.require_group(group)
            node.attrs.update(values)
    return store.path_for(KIND, name, config)


def run_with_progress(name: str, overrides: list[str] | None, backend: str, store: Store,
                      enabled: bool = True, rerun: bool = False) -> Path:
    """:func:`run` behind a rich progress bar of the simulated fraction (drawn after validation)."""
    configure(name, overrides, backend)
    with progress_bar(enabled) as progress:
        task = progress.add_task(f"sim {name} (% simulated)", total=100)
        path = run(name, overrides, backend, store,
                   report=lambda fraction: progress.update(task, completed=100 * fraction), rerun=rerun)
        progress.update(task, completed=100)
    return path
