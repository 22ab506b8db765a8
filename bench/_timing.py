"""Timing helpers shared by the benchmarks: interleaved rounds, the best median of each."""

from __future__ import annotations

from collections.abc import Callable

import torch.utils.benchmark as tb


def best_times(candidates: dict[str, Callable[[], object]], rounds: int = 5,
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


def report(title: str, times: dict[str, float], baseline: str, target: float) -> None:
    """Print each candidate's time and its ratio to ``baseline`` (target given for reference)."""
    print(f"{title} (target <= {target:.2f}x {baseline})")
    for name, seconds in times.items():
        print(f"  {name:<40s} {seconds * 1e3:9.3f} ms   {seconds / times[baseline]:5.2f}x")
