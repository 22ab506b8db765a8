"""The plots homeobridge shows (matplotlib, Agg): each returned as PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter  # noqa: E402

from bridge.experiments.metrics import (  # noqa: E402
    arm_values,
    early_layers,
    final_accuracy,
    layer_entropies,
    metric_value,
)
from bridge.experiments.statistics import paired_effect  # noqa: E402
from bridge.fitting.runs import model_info, sweep_final  # noqa: E402
from bridge.learning.train import HEALTH_STATS  # noqa: E402


def png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def stack_padded(histories: list) -> np.ndarray:
    """Per-epoch arrays of several runs stacked as (runs, epochs, ...), a run that stopped early
    (diverged) padded with NaN after its last epoch."""
    arrays = [np.asarray(h, dtype=float) for h in histories]
    epochs = max(a.shape[0] for a in arrays)
    return np.stack([np.concatenate([a, np.full((epochs - a.shape[0], *a.shape[1:]), np.nan)]) for a in arrays])


def _series(summary: dict, key: str):
    """(label, runs) per (neuron, norm, batch) group at its best learning rate."""
    for row in (r for r in summary["rows"] if "run_ids" in r):
        runs = [r for r in summary["runs"] if r["run_id"] in row["run_ids"]]
        label = f"{row['norm']} (b={row['batch_size']}, lr={row['best_lr']:g})"
        yield row["neuron"], label, stack_padded([r[key] for r in runs])


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


def health_plot(groups: dict[str, list[np.ndarray]], title: str) -> bytes:
    """Firing-rate health per hidden layer at the last epoch: each group's (label: per-seed
    ``spike_health`` arrays) mean rate with its 10-90th percentile band, silent fraction, and the
    neurons' thresholds and input gains (mean over units, band: +/- their sd over units; gains
    on a log scale, where the layer has one)."""
    fig, axes = plt.subplots(1, 4, figsize=(20, 4))
    rates, silent, thresholds, gains = axes
    column = {name: i for i, name in enumerate(HEALTH_STATS)}
    for label, healths in groups.items():
        last = np.array([np.asarray(h, dtype=float)[-1] for h in healths])  # seeds x layers x stats
        layers = np.arange(1, last.shape[1] + 1)
        line, = rates.plot(layers, last[..., column["rate_mean"]].mean(0), marker="o", label=label)
        rates.fill_between(layers, last[..., column["rate_p10"]].mean(0), last[..., column["rate_p90"]].mean(0),
                           color=line.get_color(), alpha=0.12)
        silent.plot(layers, last[..., column["silent_fraction"]].mean(0), marker="o", label=label)
        for ax, stat in ((thresholds, "threshold"), (gains, "gain")):
            mean, sd = last[..., column[f"{stat}_mean"]].mean(0), last[..., column[f"{stat}_sd"]].mean(0)
            if np.isfinite(mean).any():
                ax.plot(layers, mean, marker="o", label=label, color=line.get_color())
                ax.fill_between(layers, mean - sd, mean + sd, color=line.get_color(), alpha=0.12)
    rates.set(xlabel="hidden layer", ylabel="spikes per step (mean; band: 10-90th pct of units)")
    silent.set(xlabel="hidden layer", ylabel="silent units (fraction)", ylim=(-0.02, 1.02))
    thresholds.set(xlabel="hidden layer", ylabel="threshold (mean; band: +/- sd over units)")
    gains.set(xlabel="hidden layer", ylabel="input gain (mean; band: +/- sd over units)", yscale="log")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    return png(fig)


def compare_plots(summary: dict, config) -> dict[str, bytes]:
    """The comparison plots by file stem (spiking health where the grid has spiking runs)."""
    neurons = list(config.neurons)
    plots = {
        "accuracy_curves": accuracy_curves(summary, neurons),
        "accuracy_vs_lr": accuracy_vs_lr(summary, neurons),
        "gradient_norms": gradient_norms(summary, neurons),
    }
    groups: dict[str, list[np.ndarray]] = {}
    for r in summary["runs"]:
        if r.get("spike_health") is not None and len(r["spike_health"]):
            groups.setdefault(f"{r['norm']} (b={r['batch_size']}, lr={r['lr']:g})", []).append(r["spike_health"])
    if groups:
        plots["spiking_health"] = health_plot(groups, "spiking nets: firing-rate health, last epoch, mean over seeds")
    return plots


def sweep_plot(run) -> bytes:
    """A homeostasis sweep: final gain x sigma against sigma, and bias + gain x mu against mu, with
    gain and bias as the fit reads them (``fitting.runs.sweep_final``: a LIF's bias is -theta, a
    model file's are measured from its f-I curves).

    Both flat lines mean the mechanism normalises like BatchNorm (gain = c/sigma, bias = d - gain*mu).
    """
    mu, sigma = run.array("conditions/mu"), run.array("conditions/sigma")
    gain, bias, _, _ = sweep_final(run, model_info(run).transfer)
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


def _mean_ci(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 (seeds) and its 95% CI, the studies' one method (the inverted exact
    sign-flip test, ``statistics.paired_effect``): NaN where it is unbounded (below 6 seeds) or a
    seed has no value."""
    flat = values.reshape(values.shape[0], -1)
    effects = [paired_effect(column) if np.isfinite(column).all() else None for column in flat.T]
    low = np.array([e.low if e and np.isfinite(e.low) else np.nan for e in effects]).reshape(values.shape[1:])
    high = np.array([e.high if e and np.isfinite(e.high) else np.nan for e in effects]).reshape(values.shape[1:])
    return values.mean(axis=0), low, high


def _band(ax, x, values: np.ndarray, label: str) -> None:
    mean, low, high = _mean_ci(values)
    line, = ax.plot(x, mean, marker="o", label=label)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.15)


def _arms(keys: list[tuple]) -> list[str]:
    return list(dict.fromkeys(k[0] for k in keys))


def effects_plot(tests: list, title: str) -> bytes:
    """Each test's effect with its 95% CI (an unbounded one dotted across the plot); the zero line
    and each test's declared negligible band (superiority) or margin (non-inferiority, a red tick
    at -margin). ``tests``: judged paired tests (``studies.judging.PairedTest``)."""
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(tests) + 1.4))
    labels = [f"{t.treatment} - {t.baseline} {t.condition} ({t.variant}): {t.verdict}" for t in tests]
    y = np.arange(len(tests))[::-1]
    effects = np.array([t.effect for t in tests])
    errors = np.array([[t.effect - t.low, t.high - t.effect] for t in tests]).T
    ax.errorbar(effects, y, xerr=np.where(np.isfinite(errors), errors, 0.0), fmt="o", capsize=3)
    ax.axvline(0, color="black", lw=1)
    unbounded = [row for row, t in zip(y, tests) if not (np.isfinite(t.low) and np.isfinite(t.high))]
    if unbounded:
        ax.hlines(unbounded, 0, 1, transform=ax.get_yaxis_transform(), colors="C0", linestyles="dotted",
                  label="95% CI unbounded (too few seeds)")
    for row, test in zip(y, tests):
        if test.kind == "non-inferiority":
            ax.plot([-test.negligible] * 2, [row - 0.3, row + 0.3], color="red", lw=2)
        else:
            ax.fill_between([-test.negligible, test.negligible], row - 0.3, row + 0.3, color="grey", alpha=0.2)
    ax.plot([], [], color="grey", alpha=0.4, lw=6, label="negligible band")
    if any(t.kind == "non-inferiority" for t in tests):
        ax.plot([], [], color="red", lw=2, label="non-inferiority margin")
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlabel("mean paired difference (95% CI)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return png(fig)


METRIC_LABELS = {"accuracy": "final test accuracy", "unit_cv": "unit usage CV (hidden layers)",
                 "dead_fraction": "dead units (fraction, hidden layers)",
                 "activity_drift": "|log10| activity scale, last / first hidden layer",
                 "gradients": "log10 early-layer weight gradient norm, whole course",
                 "gradients_last": "log10 early-layer weight gradient norm, last epoch",
                 "information": "Renyi H2 (nats)",
                 "silent_fraction": "silent units (fraction, hidden layers)"}


def comparison_plot(study, histories: dict, arms: list[str], seeds, metric: str, lr_of) -> bytes:
    """``metric`` per arm (mean, 95% CI over seeds) at every value of the study's axis, each arm
    at the learning rate ``lr_of(arm, value)``."""
    fig, ax = plt.subplots(figsize=(max(6.5, 1.2 * len(study.values) * len(arms) / 3), 4))
    x = np.arange(len(study.values))
    width = 0.8 / len(arms)
    for index, arm in enumerate(arms):
        values = np.array([arm_values(histories, arm, v, lr_of(arm, v), seeds, lambda h: metric_value(h, metric))
                           for v in study.values]).T
        mean, low, high = _mean_ci(values)
        spread = np.nan_to_num(np.stack([mean - low, high - mean]))
        ax.errorbar(x + (index - (len(arms) - 1) / 2) * width, mean, yerr=spread, fmt="o", capsize=3, label=arm)
    ax.set_xticks(x, [study.condition(v) for v in study.values], fontsize=8)
    ax.set(ylabel=METRIC_LABELS[metric],
           title=f"{study.name} (mean over {len(seeds)} seeds, exact 95% CI where bounded)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return png(fig)


def study_plots(study, histories: dict, keys: list[tuple], seeds, tests: list, lr_of) -> dict[str, bytes]:
    """The plots of one study result by file stem: its effects, one plot per metric of its
    comparisons, the accuracy curve over its axis, the gradient and information profiles where
    it tests them, spiking health (``lr_of(arm, value)``: the learning rate shown)."""
    title = f"{study.name}: effect per test, 95% CI; verdict after Holm"
    plots = {"effects": effects_plot(tests, title)}
    arms = _arms(keys)
    metrics = list(dict.fromkeys(c.metric for c in study.comparisons))
    for metric in metrics:
        plots[metric] = comparison_plot(study, histories, arms, seeds, metric, lr_of)
    value = study.values[-1]
    groups = {arm: [histories[(arm, value, lr_of(arm, value), s)]["spike_health"] for s in seeds]
              for arm in arms if histories[(arm, value, lr_of(arm, value), seeds[0])].get("spike_health") is not None}
    if groups:
        plots["spiking_health"] = health_plot(
            groups, f"{study.name}: firing-rate health at {study.condition(value)}, last epoch")
    if study.axis in ("lr", "depth") and "accuracy" in metrics:
        plots["accuracy"] = _accuracy_curve(study, histories, arms, seeds, lr_of)
    if {"gradients", "gradients_last"} & set(metrics):
        plots["gradients"] = _gradient_profile(study, histories, arms, seeds, lr_of)
    if "information" in metrics:
        value = study.values[0]
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for arm in arms:
            h2 = np.array([layer_entropies(histories[(arm, value, lr_of(arm, value), s)]) for s in seeds])
            _band(ax, np.arange(1, h2.shape[1] + 1), h2, arm)
        ax.set(xlabel="hidden layer", ylabel="Renyi H2 = -log V (nats)", title=f"{study.name}: last epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        plots["information"] = png(fig)
    return plots


def _accuracy_curve(study, histories: dict, arms: list[str], seeds, lr_of) -> bytes:
    """Final test accuracy over the study's axis (learning rate or depth), mean and 95% CI."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for arm in arms:
        values = np.array([arm_values(histories, arm, v, lr_of(arm, v), seeds, final_accuracy)
                           for v in study.values]).T
        _band(ax, list(study.values), values, arm)
    ax.set(xlabel=study.axis if study.axis == "depth" else "SGD learning rate", ylabel="final test accuracy",
           title=f"{study.name} (mean, 95% CI over {len(seeds)} seeds)")
    ax.set_xscale("log")
    ax.set_xticks(list(study.values), [f"{v:g}" for v in study.values])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return png(fig)


def _gradient_profile(study, histories: dict, arms: list[str], seeds, lr_of) -> bytes:
    """Weight-matrix gradient norm per layer (last epoch) and of the early layers per epoch."""
    value = study.values[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for arm in arms:
        runs = [histories[(arm, value, lr_of(arm, value), s)] for s in seeds]
        per_layer = np.array([np.asarray(h["weight_grad_norm"], float)[-1] for h in runs])
        _band(left, np.arange(1, per_layer.shape[1] + 1), per_layer, arm)
        early = stack_padded([early_layers(h["weight_grad_norm"]) for h in runs])
        _band(right, np.arange(1, early.shape[1] + 1), early, arm)
    left.set(yscale="log", xlabel="layer (1 = input side)", ylabel="weight gradient norm, last epoch")
    right.set(yscale="log", xlabel="epoch", ylabel="early layers' weight gradient norm")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{study.name}: {study.condition(value)}")
    return png(fig)
