"""The plots homeobridge shows (matplotlib, Agg): each returned as PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter  # noqa: E402


def png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _series(summary: dict, key: str):
    """(label, runs) per (neuron, norm, batch) group at its best learning rate."""
    for row in (r for r in summary["rows"] if "run_ids" in r):
        runs = [r for r in summary["runs"] if r["run_id"] in row["run_ids"]]
        label = f"{row['norm']} (b={row['batch_size']}, lr={row['best_lr']:g})"
        yield row["neuron"], label, np.array([np.asarray(r[key], dtype=float) for r in runs])


def _per_neuron_axes(neurons: list[str], ylabel: str):
    fig, axes = plt.subplots(1, len(neurons), figsize=(5.5 * len(neurons), 4), squeeze=False)
    axes = dict(zip(neurons, axes[0]))
    for neuron, ax in axes.items():
        ax.set_title(f"{neuron} networks")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    return fig, axes


def accuracy_curves(summary: dict, neurons: list[str]) -> bytes:
    """Test accuracy per epoch, mean over seeds (band: +/- sd), best learning rate of each group."""
    fig, axes = _per_neuron_axes(neurons, "test accuracy")
    for neuron, label, curves in _series(summary, "test_accuracy"):
        epochs = np.arange(1, curves.shape[1] + 1)
        mean, sd = curves.mean(0), curves.std(0)
        line, = axes[neuron].plot(epochs, mean, marker="o", label=label)
        axes[neuron].fill_between(epochs, mean - sd, mean + sd, color=line.get_color(), alpha=0.15)
    for ax in axes.values():
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    return png(fig)


def accuracy_vs_lr(summary: dict, neurons: list[str]) -> bytes:
    """Final test accuracy against learning rate (log axis), mean over seeds, per group."""
    fig, axes = _per_neuron_axes(neurons, "final test accuracy")
    groups: dict[tuple, dict[float, list[float]]] = {}
    for r in summary["runs"]:
        key = (r["neuron"], r["norm"], r["batch_size"])
        acc = float(r["test_accuracy"][-1]) if len(r["test_accuracy"]) else 0.0
        groups.setdefault(key, {}).setdefault(r["lr"], []).append(np.nan_to_num(acc))
    for (neuron, norm, batch), by_lr in groups.items():
        lrs = sorted(by_lr)
        axes[neuron].plot(lrs, [np.mean(by_lr[lr]) for lr in lrs], marker="o", label=f"{norm} (b={batch})")
    all_lrs = sorted({r["lr"] for r in summary["runs"]})
    for ax in axes.values():
        ax.set_xscale("log")
        ax.set_xticks(all_lrs, [f"{lr:g}" for lr in all_lrs])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("learning rate")
        ax.axhline(summary["train_threshold"], color="grey", ls=":", lw=1)
        ax.legend(fontsize=7)
    return png(fig)


def gradient_norms(summary: dict, neurons: list[str]) -> bytes:
    """Per-layer gradient norm (mean over epochs and seeds), best learning rate of each group."""
    fig, axes = _per_neuron_axes(neurons, "gradient norm")
    for neuron, label, grads in _series(summary, "grad_norm"):
        per_layer = np.nanmean(grads, axis=(0, 1))
        axes[neuron].plot(np.arange(1, per_layer.size + 1), per_layer, marker="o", label=label)
    for ax in axes.values():
        ax.set_yscale("log")
        ax.set_xlabel("layer (1 = input side)")
        ax.legend(fontsize=7)
    return png(fig)


def compare_plots(summary: dict, config) -> dict[str, bytes]:
    """The three comparison plots by file stem."""
    neurons = list(config.neurons)
    return {
        "accuracy_curves": accuracy_curves(summary, neurons),
        "accuracy_vs_lr": accuracy_vs_lr(summary, neurons),
        "gradient_norms": gradient_norms(summary, neurons),
    }


def sweep_plot(run) -> bytes:
    """A homeostasis sweep: final gain x sigma against sigma, and bias + gain x mu against mu.

    Both flat lines mean the mechanism normalises like BatchNorm (gain = c/sigma, bias = d - gain*mu).
    """
    mu, sigma = run.array("conditions/mu"), run.array("conditions/sigma")
    gain, bias = run.array("final/gain"), run.array("final/bias")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for value in np.unique(mu):
        chosen = mu == value
        left.scatter(sigma[chosen], gain[chosen] * sigma[chosen], s=10, label=f"mu={value:g}")
    for value in np.unique(sigma):
        chosen = sigma == value
        right.scatter(mu[chosen], bias[chosen] + gain[chosen] * mu[chosen], s=10, label=f"sigma={value:g}")
    left.set(xlabel="input sigma", ylabel="gain x sigma", xscale="log")
    right.set(xlabel="input mu", ylabel="bias + gain x mu")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(f"{run.config.get('model', run.name)} sweep {run.run_id}")
    return png(fig)
