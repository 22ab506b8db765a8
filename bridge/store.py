"""The results store: one HDF5 file per run, written atomically, validated on open.

Layout::

    <root>/<kind>/<name>/<run-id>.h5

``root`` is ``./results`` unless ``HOMEOBRIDGE_RESULTS`` or an explicit argument says
otherwise. The run id is the first 16 hex digits of the SHA-256 of the canonical JSON of
``{"kind", "name", "config"}``, so the same configuration always maps to the same file
(resume) and two different configurations never share one.

Every file is written under a temporary name in the same directory and ``os.replace``d
into place only after it was closed complete, so a killed writer never leaves a file that
opens as a run. Root attributes (NIR-style: ``type`` per group, a ``metadata`` group):

    type             "homeobridge.run"
    schema_version   int, ``SCHEMA_VERSION``
    kind, name, run_id
    config           JSON text of the configuration
    seed             int
    versions         JSON text: python, brian2, torch, snntorch, numpy, h5py, homeobridge, git
    started, finished ISO-8601 UTC; wall_seconds float
    complete         True, written last

Everything that is not plain provenance lives in groups and datasets below the root; a
reader asks for them with :meth:`Run.require`, which raises :class:`StoreError` naming the
file and the missing path.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bridge.errors import UserError

RUN_TYPE = "homeobridge.run"
SCHEMA_VERSION = 1
ENV_RESULTS = "HOMEOBRIDGE_RESULTS"
_REQUIRED_ATTRS = (
    "type", "schema_version", "kind", "name", "run_id", "config", "seed",
    "versions", "started", "finished", "wall_seconds", "complete",
)


class StoreError(UserError):
    """Any problem reading or writing a run: the message names the file and the problem."""


def default_root() -> Path:
    """The results directory: ``$HOMEOBRIDGE_RESULTS`` or ``./results``."""
    return Path(os.environ.get(ENV_RESULTS, "results"))


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the form hashed for run ids."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def run_id(kind: str, name: str, config: dict) -> str:
    """Deterministic id of a run: sha256 of its kind, name and configuration (16 hex digits)."""
    text = canonical_json({"kind": kind, "name": name, "config": config})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def package_versions() -> dict[str, str]:
    """Versions of everything that can change a number: recorded in every run."""
    versions = {"python": platform.python_version()}
    for dist in ("brian2", "torch", "snntorch", "numpy", "h5py", "homeobridge"):
        versions[dist] = _version(dist)
    versions["git"] = _git_commit()
    return versions


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunInfo:
    """One complete run as listed by :meth:`Store.list_runs`."""

    kind: str
    name: str
    run_id: str
    path: Path
    seed: int
    finished: str
    wall_seconds: float
    config: dict

    def to_dict(self) -> dict:
        return {
            "kind": self.kind, "name": self.name, "run_id": self.run_id,
            "path": str(self.path), "seed": self.seed, "finished": self.finished,
            "wall_seconds": self.wall_seconds, "config": self.config,
        }


class Run:
    """A complete run opened read-only; use as a context manager.

    ``run.h5`` is the open ``h5py.File``; ``run.config``, ``run.seed``, ``run.kind``,
    ``run.name``, ``run.run_id``, ``run.versions`` are its provenance.
    """

    def __init__(self, path: Path, h5: h5py.File, expected_kind: str | None = None):
        self.path = path
        self.h5 = h5
        attrs = h5.attrs
        missing = [key for key in _REQUIRED_ATTRS if key not in attrs]
        if missing:
            raise StoreError(f"{path}: not a complete homeobridge run (missing {', '.join(missing)})")
        if attrs["type"] != RUN_TYPE:
            raise StoreError(f"{path}: wrong type {attrs['type']!r}, expected {RUN_TYPE!r}")
        version = int(attrs["schema_version"])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path}: schema version {version} is newer than this homeobridge "
                f"understands ({SCHEMA_VERSION}); upgrade homeobridge"
            )
        if not bool(attrs["complete"]):
            raise StoreError(f"{path}: run is marked incomplete")
        self.kind = str(attrs["kind"])
        self.name = str(attrs["name"])
        if expected_kind is not None and self.kind != expected_kind:
            raise StoreError(f"{path}: is a {self.kind!r} run, expected {expected_kind!r}")
        self.run_id = str(attrs["run_id"])
        self.seed = int(attrs["seed"])
        self.started = str(attrs["started"])
        self.finished = str(attrs["finished"])
        self.wall_seconds = float(attrs["wall_seconds"])
        try:
            self.config = json.loads(attrs["config"])
            self.versions = json.loads(attrs["versions"])
        except json.JSONDecodeError as err:
            raise StoreError(f"{path}: provenance is not valid JSON ({err})") from None

    def require(self, key: str) -> h5py.Dataset | h5py.Group:
        """The group or dataset at ``key``; StoreError naming file and key when absent."""
        if key not in self.h5:
            raise StoreError(f"{self.path}: missing dataset {key!r}")
        return self.h5[key]

    def array(self, key: str) -> np.ndarray:
        """The dataset at ``key`` read into memory."""
        node = self.require(key)
        if not isinstance(node, h5py.Dataset):
            raise StoreError(f"{self.path}: {key!r} is a group, expected a dataset")
        return node[()]

    def info(self) -> RunInfo:
        return RunInfo(
            self.kind, self.name, self.run_id, self.path, self.seed,
            self.finished, self.wall_seconds, self.config,
        )

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_run(path: str | Path, kind: str | None = None) -> Run:
    """Open and validate a run file; every failure is a :class:`StoreError`."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such run file")
    if not path.is_file():
        raise StoreError(f"{path}: not a file")
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        raise StoreError(f"{path}: not a readable HDF5 file ({_short(err)})") from None
    try:
        return Run(path, h5, kind)
    except StoreError:
        h5.close()
        raise


def _short(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


@contextlib.contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """A temporary path beside ``final`` that is renamed onto it when the block succeeds.

    On an exception (or a killed process) the temporary file is removed or left as a dot-file
    that nothing reads: ``final`` is never seen half-written. The file gets the usual
    ``0o666 & ~umask`` permissions, so other users and tools can read it.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


class Store:
    """A results directory. ``Store()`` uses :func:`default_root`."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()

    def path_for(self, kind: str, name: str, config: dict) -> Path:
        return self.root / kind / name / f"{run_id(kind, name, config)}.h5"

    def find_run(self, kind: str, name: str, config: dict) -> Path | None:
        """The path of the complete run with this configuration, or None (resume check)."""
        path = self.path_for(kind, name, config)
        if not path.exists():
            return None
        try:
            with open_run(path, kind):
                return path
        except StoreError:
            return None

    @contextlib.contextmanager
    def write(
        self, kind: str, name: str, config: dict, seed: int, path: Path | None = None
    ) -> Iterator[h5py.File]:
        """Write one run atomically; yields the open ``h5py.File`` for the run's data.

        The file appears at :meth:`path_for` (or at ``path``, for artefacts kept under a fixed
        name such as ``rules/<name>.h5``, replacing what is there) only when the ``with`` block
        finished without an exception; otherwise the temporary file is removed and nothing is left.
        """
        final = Path(path) if path is not None else self.path_for(kind, name, config)
        started, t0 = _now(), time.perf_counter()
        with atomic_output(final) as tmp, h5py.File(tmp, "w") as h5:
            h5.attrs.update({
                "type": RUN_TYPE, "schema_version": SCHEMA_VERSION, "kind": kind,
                "name": name, "run_id": run_id(kind, name, config), "config": canonical_json(config),
                "seed": int(seed), "versions": json.dumps(package_versions()),
                "started": started, "complete": False,
            })
            yield h5
            h5.attrs["finished"] = _now()
            h5.attrs["wall_seconds"] = time.perf_counter() - t0
            h5.attrs["complete"] = True

    def list_runs(self, kind: str | None = None) -> list[RunInfo]:
        """Every complete run (optionally of one kind), sorted by kind, name and finish time.

        Files that do not open as complete runs (a foreign file, a leftover temporary) are
        not listed; temporaries start with a dot and are never globbed.
        """
        base = self.root / kind if kind else self.root
        if not base.is_dir():
            return []
        runs = []
        for path in sorted(base.rglob("[!.]*.h5")):
            try:
                with open_run(path) as run:
                    runs.append(run.info())
            except StoreError:
                continue
        return sorted(runs, key=lambda r: (r.kind, r.name, r.finished))


def write_arrays(group: h5py.Group, arrays: dict[str, Any]) -> None:
    """Write a flat dict of arrays/scalars as datasets (strings as attributes)."""
    for key, value in arrays.items():
        if isinstance(value, str):
            group.attrs[key] = value
        else:
            group.create_dataset(key, data=np.asarray(value))
