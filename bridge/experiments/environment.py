"""What this machine offers: versions, data sets, CUDA, Brian2 code-generation targets."""

from __future__ import annotations

import shutil
from pathlib import Path

from bridge.core.store import package_versions
from bridge.learning.data import fashion_mnist_dir


def cuda_device() -> str:
    """The CUDA device's name, or '' when torch sees none."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""


def brian2_targets() -> dict[str, bool]:
    """Which Brian2 targets work here: numpy always; cython when it compiles; cpp_standalone with a C++ compiler."""
    from brian2.codegen.runtime.cython_rt import CythonCodeObject

    try:
        cython_ok = bool(CythonCodeObject.is_available())
    except Exception:  # Brian2 reports any compiler failure as an exception here
        cython_ok = False
    return {
        "numpy": True,
        "cython": cython_ok,
        "cpp_standalone": shutil.which("g++") is not None or shutil.which("c++") is not None,
    }


def environment_report(results: Path) -> dict:
    """What ``homeobridge info`` shows; ``results`` is the store the CLI resolved."""
    folder = fashion_mnist_dir()
    return {
        "versions": package_versions(),
        "fashion_mnist": str(folder) if folder else "",
        "cuda": cuda_device(),
        "brian2_targets": brian2_targets(),
        "results": str(results),
    }
