"""Run a command and follow its whole process tree: wall time and peak resident memory (Linux /proc)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _tree(pid: int) -> list[int]:
    """``pid`` and every descendant (from /proc/<pid>/task/<tid>/children)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                queue += [int(child) for child in (task / "children").read_text().split()]
    return found


def run_measured(command: list[str], interval: float = 0.05) -> tuple[float, float]:
    """(wall seconds, peak summed RSS of the process tree in GiB) of ``command``; it must succeed."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while process.poll() is None:
        peak = max(peak, sum(_rss_bytes(pid) for pid in _tree(process.pid)))
        time.sleep(interval)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read()[-2000:]}")
    return wall, peak / 2**30
