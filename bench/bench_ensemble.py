"""The ensemble engine against the cells trained one by one (issue 24): cells per minute of an
ensemble over the same cells on the single engine, both on one CPU thread, in one run.

Rows: batch 1, a 4-layer width-128 tanh MLP (oja-online's shape), 30 members, for SGD and
SGD + Oja; batch 64, a 10-layer width-256 tanh MLP for none, bn and ip-infomax (the engine
leaves nets this wide to the single engine: these rows say why); and, as a reference row, the
4 x 128 MLP at batch 64 that the engine takes. The single engine's time per cell is measured on
a few of the cells (the same work as each of the others).
"""

from __future__ import annotations

import time

from _timing import Ratio, print_rows

from bridge.learning.ensemble_training import run_ensemble
from bridge.learning.train import TrainConfig, run_training

ONLINE = {"dataset": "fashion-mnist", "n_train": 1000, "n_test": 200, "epochs": 1, "depth": 4, "width": 128,
          "batch_size": 1, "device": "cpu", "probe_size": 64, "activation": "tanh"}
DEEP = {**ONLINE, "n_train": 6400, "depth": 10, "width": 256, "batch_size": 64}
SINGLE_SAMPLES = 3


def _seconds(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _ratio(name: str, fields: dict, norm: str, members: int, target: float | None) -> Ratio:
    configs = [TrainConfig(**fields, norm=norm, seed=seed, lr=0.01) for seed in range(members)]
    run_training(configs[0], progress=False)  # warm: data loaded, kernels ready
    single = sum(_seconds(lambda c=c: run_training(c, progress=False)) for c in configs[:SINGLE_SAMPLES])
    single /= SINGLE_SAMPLES
    together = _seconds(lambda: run_ensemble(configs, progress=False)) / members
    return Ratio("ensemble", name, single / together, target, at_least=True,
                 detail=f"{members} members: {together:.3f} s a member vs {single:.3f} s a single cell "
                        f"({fields['n_train']} images, batch {fields['batch_size']}, one epoch, one thread)")


def ratios() -> list[Ratio]:
    return [
        _ratio("batch 1, 4 x 128 tanh MLP, sgd: cells per minute", ONLINE, "none", 30, 6.0),
        _ratio("batch 1, 4 x 128 tanh MLP, sgd + oja: cells per minute", ONLINE, "oja", 30, 6.0),
        _ratio("batch 64, 10 x 256 tanh MLP, none", DEEP, "none", 8, 1.3),
        _ratio("batch 64, 10 x 256 tanh MLP, bn", DEEP, "bn", 8, 1.3),
        _ratio("batch 64, 10 x 256 tanh MLP, ip-infomax", DEEP, "ip-infomax", 8, 1.5),
        _ratio("batch 64, 4 x 128 tanh MLP, none (the engine's)", {**DEEP, "depth": 4, "width": 128}, "none", 30,
               None),
    ]


if __name__ == "__main__":
    print_rows(ratios())
