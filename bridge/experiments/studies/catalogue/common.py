"""What the catalogue's declarations share: budgets, sources, fixed training fields, and the
declaration dates of the catalogue (the git history of its declarations)."""

from __future__ import annotations

import datetime as dt

from bridge.experiments.studies.declaration import Amendment, Budget, Cut

DECLARED = dt.date(2026, 11, 25)  # the studies of issues 10-12 (commits 5792e97, 30d235b)
REVIEWED = dt.date(2026, 12, 1)  # studies v2 (issue 23)
FULL_SCALE = dt.date(2026, 12, 2)  # the catalogue at full scale (issue 25), committed before any of its runs
SMOKE_VAL, QUICK_VAL, FULL_VAL = 64, 500, 5000  # validation images held out at each budget
FULL_TRAIN = 60000 - FULL_VAL  # Fashion-MNIST's training images less the validation split
FULL_SEEDS = tuple(range(10))


def budgets(full_width: int = 256, full_epochs: int = 10, full_train: int = FULL_TRAIN,
            small_values: tuple | None = None, small_lrs: tuple | None = None,
            full_values: tuple | None = None, full_lrs: tuple | None = None,
            full_seeds: tuple[int, ...] = FULL_SEEDS) -> dict[str, Budget]:
    """smoke: seconds (CI); quick: minutes (the demo); full: Fashion-MNIST's 60,000 training
    images as 55,000 to train and 5,000 held out for validation (every choice of a learning rate
    or a best-of baseline reads them), 10 epochs, 10 seeds. ``small_*`` cut a costly grid at smoke
    and quick, ``full_*`` at full, each declared as a :class:`Cut` of its study.
    """
    return {
        "smoke": Budget(n_train=256, n_test=256, n_val=SMOKE_VAL, epochs=1, width=16, seeds=(0, 1), sim_duration=4.0,
                        values=small_values, lrs=small_lrs),
        "quick": Budget(n_train=2000, n_test=1000, n_val=QUICK_VAL, epochs=2, width=64, seeds=(0, 1, 2),
                        sim_duration=20.0, values=small_values, lrs=small_lrs),
        "full": Budget(n_train=full_train, n_test=10000, n_val=FULL_VAL, epochs=full_epochs, width=full_width,
                       seeds=full_seeds, sim_duration=60.0, values=full_values, lrs=full_lrs),
    }


def cpu_budget(what: str, uncut_hours: float, cut_hours: float, scaled_from: str = "the uncut projection") -> Cut:
    """A study's CPU budget at full scale, declared before its runs: what is cut (never the
    claim's condition, never a seed), from the uncut grid's projected time on this machine."""
    return Cut(on=FULL_SCALE, before_runs=True, what=f"CPU budget: {what}",
               reason=f"the uncut grid is projected at {uncut_hours:g} h on this 2-core machine (bench/study_times.py, "
                      f"{FULL_SCALE.isoformat()}), over the 3 h a study may take here; cut, about {cut_hours:g} h "
                      f"(scaled from {scaled_from}). The uncut grid waits for a session lent a GPU, as a "
                      "device budget declared before its runs")


def full_scale(what: str, reason: str = "") -> Amendment:
    """The catalogue's re-declaration at full scale (issue 25): after a look at the earlier
    catalogue's results, before any run of the new one."""
    return Amendment(
        on=FULL_SCALE, after_look=True, what=f"full budget re-declared: 55,000 training + 5,000 validation images, "
                                             f"10 seeds, choices on the validation split; {what}",
        reason="issue 25: the earlier full budgets ran 5 seeds, which cannot reach p < 0.05 after Holm, chose on "
               "the test set, and cut grids to fit the old engine" + (f"; {reason}" if reason else ""))


NARROW = Cut(on=DECLARED, what="full width 128 instead of 256", before_runs=True,
             reason="measured: a 10-layer tanh MLP of width 256 takes 9-11 s per epoch on one core, of width 128 "
                    "4.5 s; IP layers add 30-90%: the grid would not fit in 60 minutes on the 2-core machine")

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
