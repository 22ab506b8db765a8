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
    """A study metric: how to read it from a converged run, which direction is better, and the
    value a diverged run takes: the declared policy for every metric is the metric's worst value
    (for the direction that is better), so a run that failed counts against its arm."""

    read: Callable[[dict], float]
    better: Literal[1, -1]
    worst: Callable[[dict], float]
    worst_text: str


GRADIENT_FLOOR = -12.0  # log10 of a gradient norm below any a float32 net records: vanished
DRIFT_CEILING = float(np.log10(1e6))  # the divergence criterion's scale change (EXPLODED)

METRICS: dict[str, Metric] = {
    "accuracy": Metric(final_accuracy, 1, lambda h: CHANCE, "chance (0.1): the run did not learn"),
    "val_accuracy": Metric(validation_accuracy, 1, lambda h: CHANCE, "chance (0.1)"),
    "gradients": Metric(early_gradient, 1, lambda h: GRADIENT_FLOOR, f"log10 norm {GRADIENT_FLOOR:g} (vanished)"),
    "gradients_last": Metric(early_gradient_last, 1, lambda h: GRADIENT_FLOOR,
                             f"log10 norm {GRADIENT_FLOOR:g} (vanished)"),
    "information": Metric(hidden_entropy, 1, lambda h: 0.5 * math.log(4 * math.pi * h["kernel_sigma"] ** 2),
                          "H2 of a constant output, log(sqrt(4 pi) kernel_sigma): -1.04 at sigma 0.1"),
    "unit_cv": Metric(hidden_unit_cv, -1, lambda h: math.sqrt(h["width"] - 1),
                      "sqrt(width - 1): one unit carries all activity"),
    "dead_fraction": Metric(hidden_dead_fraction, -1, lambda h: 1.0, "1: every unit dead"),
    "activity_drift": Metric(activity_drift, -1, lambda h: DRIFT_CEILING,
                             f"{DRIFT_CEILING:g}: a scale change of 10^6, the divergence criterion"),
    "silent_fraction": Metric(silent_fraction, -1, lambda h: 1.0, "1: every unit silent"),
}


def metric_value(history: dict, name: str) -> float:
    """``name`` of one run under the diverged-run policy (:class:`Metric`): a diverged run takes
    the metric's worst value; a converged run without it (stored before it was recorded) NaN."""
    metric = METRICS[name]
    return metric.worst(history) if history["status"] != "ok" else metric.read(history)


def arm_values(histories: dict, arm: str, value: float, lr: float, seeds, metric) -> np.ndarray:
    """``metric`` of one arm's runs at (axis value, lr), one per seed, from histories keyed
    (arm, value, lr, seed)."""
    return np.array([metric(histories[(arm, value, lr, seed)]) for seed in seeds])
