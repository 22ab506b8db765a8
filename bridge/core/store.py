"""The results store: one HDF5 file per run, written atomically, validated on open.

Layout::

    <root>/<kind>/<name>/<run-id>.h5

``root`` is given by the caller (only the CLI resolves ``--results`` / ``HOMEOBRIDGE_RESULTS``).
The run id is the first 16 hex digits of the SHA-256 of the canonical JSON of ``{"kind",
"name", "config"}`` and, when the run has any, its ``inputs``: the content hashes of the rule
files it used and the identity of its data set. The same configuration on the same inputs
always maps to the same file (resume); a changed configuration, a refitted rule or other data
never do (docs/store-schema.md).

Every file is written under a temporary name in the same directory and ``os.replace``d
into place only after it was closed complete, so a killed writer never leaves a file that
opens as a run. Root attributes (NIR-style: ``type`` per group, a ``metadata`` group):

    type             "homeobridge.run"
    schema_version   int, ``SCHEMA_VERSION``
    kind, name, run_id
    config           JSON text of the configuration
    inputs           JSON text: {"rules": {name: sha256}, "data": {...}} (may be {})
    seed             int
    versions         JSON text: python, brian2, torch, snntorch, numpy, h5py, homeobridge, git
    started, finished ISO-8601 UTC; wall_seconds float: the work's own time (a :class:`Stopwatch`
                     started before it), not the write's
    complete         True, written last

Everything that is not plain provenance lives in groups and datasets below the root; a
reader asks for them with :meth:`Run.require`, which raises :class:`StoreError` naming the
file and the missing path.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
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

from bridge.core.errors import UserError

RUN_TYPE = "homeobridge.run"
SCHEMA_VERSION = 2  # 2: ``inputs`` (rule hashes, data identity) in the run id and the file
_REQUIRED_ATTRS = (
    "type", "schema_version", "kind", "name", "run_id", "config", "seed",
    "versions", "started", "finished", "wall_seconds", "complete",
)


class StoreError(UserError):
    """Any problem reading or writing a run: the message names the file and the problem."""


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


def content_hash(obj: Any) -> str:
    """sha256 (hex) of the canonical JSON of ``obj``: the identity of a rule's content."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def run_id(kind: str, name: str, config: dict, inputs: dict | None = None) -> str:
    """Deterministic id of a run: sha256 of its kind, name, configuration and inputs (16 hex digits)."""
    identity = {"kind": kind, "name": name, "config": config, **({"inputs": inputs} if inputs else {})}
    return content_hash(identity)[:16]


DIRTY = "+dirty"  # suffix of a recorded commit whose checkout had uncommitted changes to tracked files


@functools.lru_cache(maxsize=4)
def git_commit(folder: Path = Path(__file__).resolve().parent) -> str:
    """HEAD of the checkout ``folder`` is in, with :data:`DIRTY` when tracked files differ from it;
    "" outside a checkout. Read once per process: the code a process runs is the code it imported."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=5)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return ""
        dirty = git("diff", "--quiet", "HEAD", "--").returncode == 1
    except (OSError, subprocess.SubprocessError):
        return ""
    return head.stdout.strip() + (DIRTY if dirty else "")


def short_commit(commit: str) -> str:
    """A recorded commit for a table or report: its first 10 hex digits (+dirty kept), or "n/a"."""
    return commit[:10] + (DIRTY if commit.endswith(DIRTY) else "") if commit else "n/a"


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
    versions["git"] = git_commit()
    return versions


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


class Stopwatch:
    """Started when created: the start time and the seconds of the work a run records."""

    def __init__(self) -> None:
        self.started = _now()
        self._t0 = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self._t0

    @classmethod
    def elsewhere(cls, started: str, seconds: float) -> Stopwatch:
        """The clock of work timed in another process or on another machine (start, seconds)."""
        clock = cls()
        clock.started = started
        clock._t0 = time.perf_counter() - seconds
        return clock


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
    inputs: dict

    def to_dict(self) -> dict:
        return {
            "kind": self.kind, "name": self.name, "run_id": self.run_id,
            "path": str(self.path), "seed": self.seed, "finished": self.finished,
            "wall_seconds": self.wall_seconds, "config": self.config, "inputs": self.inputs,
        }


class Run:
    """A complete run opened read-only; use as a context manager.

    ``run.h5`` is the open ``h5py.File``; ``run.config``, ``run.seed``, ``run.kind``,
    ``run.name``, ``run.run_id``, ``run.inputs``, ``run.versions`` are its provenance.
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
            self.inputs = json.loads(attrs.get("inputs", "{}"))
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
            self.finished, self.wall_seconds, self.config, self.inputs,
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


def _temporary_beside(final: Path) -> Path:
    """A new empty dot-file in ``final``'s folder (created if needed); StoreError if that cannot be."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    except OSError as err:
        raise StoreError(f"{final}: cannot write there ({err.strerror or _short(err)})") from None
    os.close(fd)
    return Path(name)


def check_writable(final: str | Path) -> Path:
    """``final`` when a file can be written there (checked by creating and removing a temporary
    beside it); StoreError naming the path otherwise. Call it before the work that fills it."""
    final = Path(final)
    if final.is_dir():
        raise StoreError(f"{final}: is a directory, expected a file path")
    _temporary_beside(final).unlink()
    return final


@contextlib.contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """A temporary path beside ``final`` that is renamed onto it when the block succeeds.

    On an exception (or a killed process) the temporary file is removed or left as a dot-file
    that nothing reads: ``final`` is never seen half-written. The file gets the usual
    ``0o666 & ~umask`` permissions, so other users and tools can read it.
    """
    tmp = _temporary_beside(Path(final))
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, Path(final))
    finally:
        tmp.unlink(missing_ok=True)


class Store:
    """A results directory given explicitly; StoreError when the path exists and is not a directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root}: is a file, not a results directory")

    def path_for(self, kind: str, name: str, config: dict, inputs: dict | None = None) -> Path:
        return self.root / kind / name / f"{run_id(kind, name, config, inputs)}.h5"

    def find_run(self, kind: str, name: str, config: dict, inputs: dict | None = None) -> Path | None:
        """The path of the complete run with this configuration and inputs, or None (resume check)."""
        path = self.path_for(kind, name, config, inputs)
        if not path.exists():
            return None
        try:
            with open_run(path, kind):
                return path
        except StoreError:
            return None

    @contextlib.contextmanager
    def write(
        self, kind: str, name: str, config: dict, seed: int, clock: Stopwatch,
        inputs: dict | None = None, path: Path | None = None,
    ) -> Iterator[h5py.File]:
        """Write one run atomically; yields the open ``h5py.File`` for the run's data.

        ``clock`` was started before the work, so ``wall_seconds`` is the work's time. The file
        appears at :meth:`path_for` (or at ``path``, for artefacts kept under a fixed name such as
        ``rules/<name>.h5``, replacing what is there) only when the ``with`` block finished
        without an exception; otherwise the temporary file is removed and nothing is left.
        """
        final = Path(path) if path is not None else self.path_for(kind, name, config, inputs)
        with atomic_output(final) as tmp, h5py.File(tmp, "w") as h5:
            h5.attrs.update({
                "type": RUN_TYPE, "schema_version": SCHEMA_VERSION, "kind": kind, "name": name,
                "run_id": run_id(kind, name, config, inputs), "config": canonical_json(config),
                "inputs": canonical_json(inputs or {}), "seed": int(seed),
                "versions": json.dumps(package_versions()), "started": clock.started,
                "wall_seconds": clock.seconds(), "complete": False,
            })
            yield h5
            h5.attrs["finished"] = _now()
            h5.attrs["complete"] = True

    def scan(self, kind: str | None = None) -> tuple[list[RunInfo], list[str]]:
        """Every complete run (optionally of one kind), sorted by kind, name and finish time, and
        one message per ``.h5`` file that does not open as a complete run (temporaries, which
        start with a dot, are never globbed)."""
        base = self.root / kind if kind else self.root
        if not base.is_dir():
            return [], []
        runs, problems = [], []
        for path in sorted(base.rglob("[!.]*.h5")):
            try:
                with open_run(path) as run:
                    runs.append(run.info())
            except StoreError as err:
                problems.append(str(err))
        return sorted(runs, key=lambda r: (r.kind, r.name, r.finished)), problems

    def list_runs(self, kind: str | None = None) -> list[RunInfo]:
        """The complete runs of :meth:`scan`, without its problems."""
        return self.scan(kind)[0]


def write_arrays(group: h5py.Group, arrays: dict[str, Any]) -> None:
    """Write a flat dict of arrays/scalars as datasets (strings as attributes)."""
    for key, value in arrays.items():
        if isinstance(value, str):
            group.attrs[key] = value
        else:
            group.create_dataset(key, data=np.asarray(value))
