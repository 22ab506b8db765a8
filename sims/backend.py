"""Brian2 code-generation backends, each process with its own cache / build directory.

``numpy`` and ``cython`` are runtime targets; ``cpp_standalone`` builds a C++ program (one
build per network structure; re-run it with ``device.run(run_args=...)``, see
``bench/bench_standalone.py``). Directories live under ``$HOMEOBRIDGE_BRIAN_DIR`` (default: the
system temp dir) in ``<target>-<pid>``, so parallel processes never share a cache or build;
each is removed when its process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from bridge.core.errors import UserError

BACKENDS = ("numpy", "cython", "cpp_standalone")


def process_dir(target: str) -> Path:
    """This process's own directory for ``target``'s cache or build, removed when it exits."""
    base = Path(os.environ.get("HOMEOBRIDGE_BRIAN_DIR", tempfile.gettempdir())) / "homeobridge-brian"
    path = base / f"{target}-{os.getpid()}"
    if not path.exists():
        path.mkdir(parents=True)
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def check(backend: str) -> str:
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    return backend


@contextlib.contextmanager
def brian_backend(backend: str) -> Iterator[Callable[[], None]]:
    """Select ``backend`` for the networks built inside the block; restore the runtime after.

    Yields ``finish``: call it after the last ``run`` (cpp_standalone compiles and runs the
    program there, with ``build_on_run=False`` so that a network may run in several phases;
    a no-op for the runtime targets). The standalone device is reinitialised on exit.
    """
    import brian2  # brian2 is heavy: imported only to build or run a network

    check(backend)
    brian2.start_scope()
    if backend != "cpp_standalone":
        brian2.prefs.codegen.target = backend
        if backend == "cython":
            brian2.prefs.codegen.runtime.cython.cache_dir = str(process_dir("cython"))
        yield lambda: None
        return
    directory = str(process_dir("cpp_standalone"))
    brian2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    try:
        yield lambda: brian2.device.build(directory=directory, run=True)
    finally:
        brian2.device.reinit()
        brian2.set_device("runtime")
