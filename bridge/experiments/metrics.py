"""Scalar metrics of one training run's history (``docs/train-schema.md``), shared by the
comparisons, the studies and their plots."""

from __future__ import annotations

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
    """log10 of the early layers' gradient norm in the last epoch."""
    return float(np.log10(early_layers(history["grad_norm"])[-1]))


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


METRICS = {"accuracy": final_accuracy, "gradients": early_gradient, "information": hidden_entropy,
           "unit_cv": hidden_unit_cv, "dead_fraction": hidden_dead_fraction, "activity_drift": activity_drift,
           "silent_fraction": silent_fraction}


def arm_values(histories: dict, arm: str, value: float, lr: float, seeds, metric) -> np.ndarray:
    """``metric`` of one arm's runs at (axis value, lr), one per seed, from histories keyed
    (arm, value, lr, seed)."""
    return np.array([metric(histories[(arm, value, lr, seed)]) for seed in seeds])
