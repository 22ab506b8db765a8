"""Scalar metrics of one training run's history (``docs/train-schema.md``), shared by the
comparisons, the studies and their plots."""

from __future__ import annotations

import numpy as np

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


def arm_values(histories: dict, arm: str, value: float, lr: float, seeds, metric) -> np.ndarray:
    """``metric`` of one arm's runs at (axis value, lr), one per seed, from histories keyed
    (arm, value, lr, seed)."""
    return np.array([metric(histories[(arm, value, lr, seed)]) for seed in seeds])
