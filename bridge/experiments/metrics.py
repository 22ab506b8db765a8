"""Scalar metrics of one training run's history (``docs/train-schema.md``), shared by the
comparisons, the studies and their plots."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np

from bridge.learning.train import HEALTH_STATS

CHANCE = 0.1  # every data set of bridge.learning.data has 10 balanced classes


def final_accuracy(history: dict) -> float:
    """The last epoch's test accuracy; chance when the run diverged (did not train) or has none."""
    acc = history["test_accuracy"]
    if history["status"] != "ok" or not len(acc) or not np.isfinite(acc[-1]):
        return CHANCE
    return float(acc[-1])


def early_layers(grad_norm: np.ndarray) -> np.ndarray:
    """The first quarter of the layers (at least one) of a (epochs, layers) gradient-norm history,
    averaged per epoch: the layers whose gradients vanish first in a deep net."""
    grads = np.asarray(grad_norm, dtype=float)
    return grads[:, : max(1, grads.shape[1] // 4)].mean(axis=1)


def early_gradient(history: dict) -> float:
    """log10 of the early layers' weight-matrix gradient norm over the course of learning: the
    mean over every sampled step of every epoch (each epoch samples alike)."""
    return float(np.log10(early_layers(history["weight_grad_norm"]).mean()))


def early_gradient_last(history: dict) -> float:
    """log10 of the early layers' weight-matrix gradient norm in the last epoch."""
    return float(np.log10(early_layers(history["weight_grad_norm"])[-1]))


def validation_accuracy(history: dict) -> float:
    """The last epoch's accuracy on the validation split (NaN for a run without one); chance when
    the run diverged."""
    acc = history["val_accuracy"]
    if history["status"] != "ok":
        return CHANCE
    return float(acc[-1]) if len(acc) else float("nan")


def layer_entropies(history: dict) -> np.ndarray:
    """Renyi quadratic entropy H2 = -log V of each hidden layer (not the readout), last epoch."""
    return -np.log(np.asarray(history["info_potential"], dtype=float)[-1][:-1])


def hidden_entropy(history: dict) -> float:
    """H2 averaged over the hidden layers at the last epoch."""
    return float(np.mean(layer_entropies(history)))


def _hidden_last(history: dict, key: str) -> np.ndarray:
    """The last epoch's per-layer values of ``key`` for the hidden layers (not the readout)."""
    return np.asarray(history[key], dtype=float)[-1][:-1]


def hidden_unit_cv(history: dict) -> float:
    """Unit usage: the coefficient of variation over units of mean |activation|, averaged over
    the hidden layers at the last epoch (0: every unit used equally; Shen et al. 2021)."""
    return float(np.mean(_hidden_last(history, "unit_cv")))


def hidden_dead_fraction(history: dict) -> float:
    """The fraction of dead units (no variation over the probe), averaged over the hidden layers."""
    return float(np.mean(_hidden_last(history, "dead_fraction")))


def activity_drift(history: dict) -> float:
    """|log10| of the last hidden layer's activity scale (mean per-unit std over the probe) over
    the first's, at the last epoch: 0 when the signal keeps its scale with depth, large when it
    vanishes or explodes."""
    scale = _hidden_last(history, "act_std")
    return float(abs(np.log10(scale[-1] / scale[0])))


def silent_fraction(history: dict) -> float:
    """A spiking net's fraction of silent hidden units (no spike on any probe sample), averaged over
    its hidden layers at the last epoch (``spike_health``); NaN for a run without it."""
    health = history.get("spike_health")
    if health is None or not len(health):
        return float("nan")
    return float(np.mean(np.asarray(health, dtype=float)[-1][:, HEALTH_STATS.index("silent_fraction")]))


class Metric(NamedTuple):
    """A study metric: how to read it from a run, the history key it needs, which direction is
    better, and its worst value. The declared policy, for every metric: a diverged run takes the
    worst value, and a converged run's value is clipped at it (a non-finite read, e.g. log10 of a
    zero gradient, is the worst value too), so a run that failed counts against its arm and no
    converged run counts as worse than a failed one. A run that never recorded the key (stored
    before it existed) has no value: NaN."""

    read: Callable[[dict], float]
    key: str
    better: Literal[1, -1]
    worst: Callable[[dict], float]
    worst_text: str


GRADIENT_FLOOR = -12.0  # log10 of a gradient norm: vanished, as far as learning goes
DRIFT_CEILING = float(np.log10(1e6))  # the divergence criterion's scale change (EXPLODED)


def _constant(value: float) -> Callable[[dict], float]:
    return lambda history: value


METRICS: dict[str, Metric] = {
    "accuracy": Metric(final_accuracy, "test_accuracy", 1, _constant(CHANCE), "chance (0.1): the run did not learn"),
    "val_accuracy": Metric(validation_accuracy, "val_accuracy", 1, _constant(CHANCE), "chance (0.1)"),
    "gradients": Metric(early_gradient, "weight_grad_norm", 1, _constant(GRADIENT_FLOOR),
                        f"log10 norm {GRADIENT_FLOOR:g} (vanished; lower values clipped to it)"),
    "gradients_last": Metric(early_gradient_last, "weight_grad_norm", 1, _constant(GRADIENT_FLOOR),
                             f"log10 norm {GRADIENT_FLOOR:g} (vanished; lower values clipped to it)"),
    "information": Metric(hidden_entropy, "info_potential", 1,
                          lambda h: 0.5 * math.log(4 * math.pi * h["kernel_sigma"] ** 2),
                          "H2 of a constant output, log(sqrt(4 pi) kernel_sigma): -1.04 at sigma 0.1"),
    "unit_cv": Metric(hidden_unit_cv, "unit_cv", -1, lambda h: math.sqrt(h["width"]),
                      "sqrt(width): one unit carries all activity (the CV's largest value)"),
    "dead_fraction": Metric(hidden_dead_fraction, "dead_fraction", -1, _constant(1.0), "1: every unit dead"),
    "activity_drift": Metric(activity_drift, "act_std", -1, _constant(DRIFT_CEILING),
                             f"{DRIFT_CEILING:g}: a scale change of 10^6, the divergence criterion (larger "
                             "values clipped to it)"),
    "silent_fraction": Metric(silent_fraction, "spike_health", -1, _constant(1.0), "1: every unit silent"),
}


def _recorded(history: dict, key: str) -> bool:
    values = history.get(key)
    return values is not None and bool(np.isfinite(np.asarray(values, dtype=float)).any())


def metric_value(history: dict, name: str) -> float:
    """``name`` of one run under the diverged-run policy of :class:`Metric`."""
    metric = METRICS[name]
    worst = metric.worst(history)
    if history["status"] != "ok":
        return worst
    if not _recorded(history, metric.key):
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):  # log10(0), 0/0: the worst value below
        value = metric.read(history)
    if not math.isfinite(value):
        return worst
    return max(value, worst) if metric.better > 0 else min(value, worst)


def arm_values(histories: dict, arm: str, value: float, lr: float, seeds, metric) -> np.ndarray:
    """``metric`` of one arm's runs at (axis value, lr), one per seed, from histories keyed
    (arm, value, lr, seed)."""
    return np.array([metric(histories[(arm, value, lr, seed)]) for seed in seeds])
