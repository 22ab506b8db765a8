"""Shared by the benchmarks: interleaved timing (the best median of each candidate) and the
:class:`Ratio` rows every benchmark returns, each a measured ratio beside its target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.utils.benchmark as tb


def best_times(candidates: dict[str, Callable[[], object]], rounds: int = 7,
               min_run_time: float = 0.3) -> dict[str, float]:
    """Seconds per call of each candidate: the smallest of ``rounds`` interleaved medians.

    Interleaving and taking the best round keep a busy machine from favouring whichever
    candidate happened to run while it was quiet.
    """
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(rounds):
        for name, fn in candidates.items():
            timer = tb.Timer(stmt="fn()", globals={"fn": fn})
            best[name] = min(best[name], timer.blocked_autorange(min_run_time=min_run_time).median)
    return best


@dataclass(frozen=True)
class Ratio:
    """One row of ``make bench``: ``value`` against ``target`` (an upper bound unless
    ``at_least``), with what was measured against what. A row without a target is a reference
    (what the machine allows), printed beside the targets and not counted among them."""

    bench: str
    name: str
    value: float
    target: float | None
    at_least: bool = False
    detail: str = ""
    unit: str = "x"

    @property
    def passed(self) -> bool:
        if self.target is None:
            return True
        return self.value >= self.target if self.at_least else self.value <= self.target

    def cells(self) -> list[str]:
        value = f"{self.value:.3g}{self.unit}"
        if self.target is None:
            return [self.bench, self.name, value, "-", "reference", self.detail]
        bound = ">=" if self.at_least else "<="
        return [self.bench, self.name, value, f"{bound} {self.target:g}{self.unit}",
                "PASS" if self.passed else "MISS", self.detail]


HEADER = ["bench", "measure", "measured", "target", "", "detail"]


def print_rows(rows: list[Ratio]) -> None:
    """The rows as a plain-text table (a benchmark run on its own)."""
    for row in rows:
        print("  ".join(f"{cell:<12s}" if i < 5 else cell for i, cell in enumerate(row.cells())))
