"""What the catalogue's declarations share: budgets, sources, fixed training fields, and the
declaration dates of the catalogue (the git history of its declarations)."""

from __future__ import annotations

import datetime as dt

from bridge.experiments.studies.declaration import Budget, Cut

DECLARED = dt.date(2026, 11, 25)  # the studies of issues 10-12 (commits 5792e97, 30d235b)
REVIEWED = dt.date(2026, 12, 1)  # studies v2 (issue 23)
SMOKE_VAL, QUICK_VAL = 64, 500  # validation images held out at the smoke and quick budgets


def budgets(full_width: int = 256, full_epochs: int = 10, full_train: int = 60000,
            small_values: tuple | None = None, small_lrs: tuple | None = None,
            full_values: tuple | None = None, full_lrs: tuple | None = None) -> dict[str, Budget]:
    """smoke: seconds (CI); quick: minutes (the demo); full: all of Fashion-MNIST, 10 epochs, 5 seeds.

    smoke and quick hold out a validation split; the full budget of this catalogue holds none
    (its stored cells were trained before the split existed: selection there reads test
    accuracy and every table says so). ``small_*`` cut a costly grid at smoke and quick,
    ``full_*`` at full, each declared as a :class:`Cut` of its study.
    """
    return {
        "smoke": Budget(n_train=256, n_test=256, n_val=SMOKE_VAL, epochs=1, width=16, seeds=(0, 1), sim_duration=4.0,
                        values=small_values, lrs=small_lrs),
        "quick": Budget(n_train=2000, n_test=1000, n_val=QUICK_VAL, epochs=2, width=64, seeds=(0, 1, 2),
                        sim_duration=20.0, values=small_values, lrs=small_lrs),
        "full": Budget(n_train=full_train, n_test=10000, epochs=full_epochs, width=full_width, seeds=(0, 1, 2, 3, 4),
                       sim_duration=60.0, values=full_values, lrs=full_lrs),
    }


NARROW = Cut(on=DECLARED, what="full width 128 instead of 256", before_runs=True,
             reason="measured: a 10-layer tanh MLP of width 256 takes 9-11 s per epoch on one core, of width 128 "
                    "4.5 s; IP layers add 30-90%: the grid would not fit in 60 minutes on the 2-core machine")

NO_VALIDATION = Cut(
    on=REVIEWED, before_runs=False,
    what="no validation split at the full budget: its choices (best learning rate, best of) read test accuracy",
    reason="the full-budget cells were trained before the split existed (issue 23) and keep their run ids; the "
           "next catalogue holds 5,000 of the 60,000 training images out")

SHAW = ("Shaw, Jackson & Orchard (2020), PLoS ONE, 'Biological batch normalisation: how intrinsic "
        "plasticity improves learning in deep neural networks'")
SPIKING_SOURCE = ("homeobridge's question (Brian2 lif-ip rule fitted and transplanted); BNTT: Kim & Panda (2021), "
                  "'Revisiting batch normalization for training low-latency deep spiking neural networks from scratch'")
DEEP_TANH = {"kind": "mlp", "neuron": "rate", "activation": "tanh", "optimizer": "sgd", "batch_size": 64,
             "dataset": "fashion-mnist", "device": "cpu", "probe_size": 256, "grad_samples": 20, "ip_eta": 0.01}
RELU_SGD = {"kind": "mlp", "neuron": "rate", "activation": "relu", "optimizer": "sgd", "dataset": "fashion-mnist",
            "device": "cpu", "probe_size": 256, "grad_samples": 20}
SPIKING_MLP = {"kind": "mlp", "neuron": "spiking", "optimizer": "sgd", "batch_size": 64, "time_steps": 10,
               "dataset": "fashion-mnist", "device": "cpu", "probe_size": 256, "grad_samples": 20}
