"""Studies: a seed paper's claim tested under a declared protocol, with paired statistics.

A :class:`Study` is a declaration, fixed before any run: the claim in words and its source; the
arms (normalisations) and the swept axis (depth or learning rate); the metric and the
analysis that turns the cells' histories into per-seed paired differences; the baseline; the
criterion (claimed sign and negligible band; ``bridge.experiments.statistics``); and per budget
the data size, epochs, width and seeds. Running it trains every cell through the shared
executor (cells already in the store are reused), then computes each test's effect, 95% CI,
Holm-adjusted p and verdict, and stores a ``studies`` run: the declaration, the budget, every
cell's run id, the tests, the verdicts and the plots.

Arms are paired by seed: the same seed gives the same initial weights of every Linear layer
(``TrainConfig.seed`` seeds torch before the net is built; normalisation layers draw no random
numbers) and the same order of training examples (one generator per run, seeded alike). A run
that diverged (non-finite loss, exploded gain or bias) did not train: its accuracy counts as
chance (``bridge.experiments.metrics``).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt

import sims
from bridge.core.config import Config
from bridge.core.errors import UserError
from bridge.core.store import Stopwatch, Store, open_run, package_versions
from bridge.core.tables import markdown_table
from bridge.experiments.executor import run_grid
from bridge.experiments.metrics import CHANCE, arm_values, early_gradient, final_accuracy, hidden_entropy
from bridge.experiments.plots import study_plots
from bridge.experiments.statistics import PairedEffect, claim_verdict, holm, paired_effect, verdict
from bridge.learning.train import TrainConfig, load_history, load_train_rule, run_inputs

STUDY_KIND = "studies"
BUDGETS = ("smoke", "quick", "full")
FITTED_ARM = "fitted+affine"  # resolved to fitted:<rule>+affine with the rule given to `study run`


class Budget(Config):
    """What one budget trains: data size, epochs, width, seeds (and the Brian2 run's length)."""

    n_train: PositiveInt
    n_test: PositiveInt
    epochs: PositiveInt
    width: PositiveInt
    seeds: Annotated[tuple[NonNegativeInt, ...], Field(min_length=2)]
    sim_duration: PositiveFloat = 60.0


class Study(BaseModel):
    """One declared protocol (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    claim: str
    source: str
    metric: str
    criterion: str
    analysis: Literal["accuracy", "lr_range", "gradients", "information"]
    arms: tuple[str, ...]
    baseline: str
    treatments: tuple[str, ...]
    axis: Literal["depth", "lr"]
    values: tuple[float, ...]
    tested: tuple[float, ...]
    lrs: tuple[float, ...] = ()
    shared_lr: float | None = None
    sign: Literal[1, -1] = 1
    negligible: float
    fixed: dict[str, Any]
    budgets: dict[str, Budget]


def _budgets(full_width: int = 256) -> dict[str, Budget]:
    """smoke: seconds (CI); quick: minutes (the demo); full: all of Fashion-MNIST, 10 epochs, 5 seeds.

    ``full_width`` is cut from 256 to 128 where a study's grid would not fit in 60 minutes on the
    2-core machine (measured: a 10-layer tanh MLP of width 256 takes 9-11 s per epoch on one core,
    of width 128 4.5 s; IP layers add 30-90%).
    """
    return {
        "smoke": Budget(n_train=256, n_test=256, epochs=1, width=16, seeds=(0, 1), sim_duration=4.0),
        "quick": Budget(n_train=2000, n_test=1000, epochs=2, width=64, seeds=(0, 1, 2), sim_duration=20.0),
        "full": Budget(n_train=60000, n_test=10000, epochs=10, width=full_width, seeds=(0, 1, 2, 3, 4),
                       sim_duration=60.0),
    }


SHAW = ("Shaw, Jackson & Orchard (2020), PLoS ONE, 'Biological batch normalisation: how intrinsic "
        "plasticity improves learning in deep neural networks'")
DEEP_TANH = {"kind": "mlp", "neuron": "rate", "activation": "tanh", "optimizer": "sgd", "batch_size": 64,
             "dataset": "fashion-mnist", "device": "cpu", "probe_size": 256, "grad_samples": 20, "ip_eta": 0.01}

STUDIES: dict[str, Study] = {study.name: study for study in [
    Study(
        name="shaw-depth",
        claim="(a) intrinsic plasticity improves learning in deep networks: an IP MLP beats the same "
              "MLP without normalisation at depth >= 10",
        source=f"{SHAW}, claim (a)",
        metric="test accuracy after the last epoch (diverged runs count as chance)",
        criterion="each IP arm (ip-infomax, ip-infomax+affine, fitted+affine) minus none > 0 at depths "
                  "10 and 20, Holm-adjusted p < 0.05; refuted if reversed or the 95% CI lies within "
                  "+/-0.005; reported at the shared learning rate and at each arm's own best rate of the grid",
        analysis="accuracy",
        arms=("none", "bn", "bn-noaffine", "ip-infomax", "ip-infomax+affine", FITTED_ARM),
        baseline="none", treatments=("ip-infomax", "ip-infomax+affine", FITTED_ARM),
        axis="depth", values=(2, 10, 20), tested=(10, 20), lrs=(0.01, 0.05), shared_lr=0.05,
        negligible=0.005, fixed=DEEP_TANH,
        budgets=_budgets(full_width=128),
    ),
    Study(
        name="shaw-lr-robustness",
        claim="(b) intrinsic plasticity gives considerable robustness to increases in synaptic "
              "learning rates: IP trains over a wider range of SGD learning rates than no normalisation",
        source=f"{SHAW}, claim (b)",
        metric="per seed, how many of the 7 learning rates train, two declared thresholds: (1) 'within 90% "
               "of best': accuracy >= 0.9 x that seed's best accuracy in the study (any arm, any rate); "
               "(2) 'halfway from chance': accuracy >= chance + 0.5 x (that best - chance), the rule of "
               "`compare`. (2) was added after the quick budget showed that with BN setting the best, "
               "(1) counts no rate of IP or none; both are reported",
        criterion="count(IP) - count(none) > 0, Holm-adjusted p < 0.05 (Holm over both thresholds); "
                  "refuted if reversed or the 95% CI lies within +/-0.5 learning rates",
        analysis="lr_range",
        arms=("none", "bn", "ip-infomax", "ip-infomax+affine"),
        baseline="none", treatments=("ip-infomax", "ip-infomax+affine"),
        axis="lr", values=(0.001, 0.00316, 0.01, 0.0316, 0.1, 0.316, 1.0), tested=(),
        negligible=0.5, fixed={**DEEP_TANH, "depth": 6},
        budgets=_budgets(full_width=128),
    ),
    Study(
        name="shaw-gradients",
        claim="(c) intrinsic plasticity substantially increases the size of the error gradients over "
              "the course of learning (early layers of a deep net)",
        source=f"{SHAW}, claim (c)",
        metric="log10 of the early layers' gradient norm (first quarter of the layers, mean of the "
               "sampled steps of the last epoch) over the same for none: log10 ratio",
        criterion="log10(ratio) > 0 (ratio IP/none > 1), Holm-adjusted p < 0.05; refuted if reversed "
                  "or the 95% CI lies within +/-0.02 (a ratio within 5%)",
        analysis="gradients",
        arms=("none", "bn", "ip-infomax", "ip-infomax+affine"),
        baseline="none", treatments=("ip-infomax", "ip-infomax+affine"),
        axis="depth", values=(12,), tested=(12,), lrs=(0.05,), shared_lr=0.05,
        negligible=0.02, fixed=DEEP_TANH,
        budgets=_budgets(),
    ),
    Study(
        name="shaw-information",
        claim="(d) intrinsic plasticity raises the information of a neuron's output on a fixed input "
              "distribution (as infomax does), and BN also raises the information of trained layers",
        source=f"{SHAW}, claim (d)",
        metric="Renyi quadratic entropy H2 = -log V (V: information potential, Gaussian kernel "
               "sigma 0.1); Brian2 neuron: IP vs the same neuron without IP on N(1, 4^2) input; "
               "trained nets: mean over hidden layers at the last epoch",
        criterion="H2(treatment) - H2(baseline) > 0, Holm-adjusted p < 0.05; refuted if reversed or "
                  "the 95% CI lies within +/-0.02 nats",
        analysis="information",
        arms=("none", "bn", "ip-infomax"),
        baseline="none", treatments=("ip-infomax", "bn"),
        axis="depth", values=(6,), tested=(6,), lrs=(0.05,), shared_lr=0.05,
        negligible=0.02, fixed=DEEP_TANH,
        budgets=_budgets(),
    ),
]}


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise UserError(f"unknown study {name!r}; studies: {', '.join(STUDIES)}")
    return STUDIES[name]


def describe(study: Study) -> dict:
    """The declaration as shown by ``study show`` (JSON-ready)."""
    return study.model_dump(mode="json")


# ---- cells -----------------------------------------------------------------------------------

def arm_norm(arm: str, rule: str) -> str | None:
    """The network norm of an arm; None for the fitted arm without a rule."""
    if arm == FITTED_ARM:
        return f"fitted:{rule}+affine" if rule else None
    return arm


def cell_keys(study: Study, budget: Budget, rule: str) -> list[tuple[str, float, float, int]]:
    """(arm, axis value, lr, seed) of every cell, the fitted arm only with a rule."""
    arms = [arm for arm in study.arms if arm_norm(arm, rule) is not None]
    lrs = (None,) if study.axis == "lr" else study.lrs
    return [(arm, value, value if lr is None else lr, seed)
            for arm, value, lr, seed in itertools.product(arms, study.values, lrs, budget.seeds)]


def cell_config(study: Study, budget: Budget, rule: str, key: tuple) -> TrainConfig:
    arm, value, lr, seed = key
    fields = {**study.fixed, "n_train": budget.n_train, "n_test": budget.n_test, "epochs": budget.epochs,
              "width": budget.width, "seed": seed, "lr": lr, "norm": arm_norm(arm, rule)}
    if study.axis == "depth":
        fields["depth"] = int(value)
    return TrainConfig(**fields)


class StudyRun(Config):
    """What ``study run`` runs: the study, its budget and the fitted rule of the fitted arm."""

    study: str
    budget: Literal[BUDGETS] = "smoke"
    rule: str = ""
    workers: PositiveInt = 2


# ---- analyses: per-seed values of each arm under each condition -------------------------------

def _best_lr(histories: dict, study: Study, arm: str, value: float, seeds) -> float:
    """The arm's own best learning rate of the grid at this condition: best seed-mean accuracy."""
    return max(study.lrs, key=lambda lr: arm_values(histories, arm, value, lr, seeds, final_accuracy).mean())


def _tests(study: Study, histories: dict, seeds, rule: str) -> list[dict]:
    """The paired comparisons of the study: treatment vs baseline per condition and variant."""
    treatments = [t for t in study.treatments if arm_norm(t, rule) is not None]
    if study.analysis == "lr_range":
        tests = []
        for variant, floor in LR_RANGE_THRESHOLDS.items():
            counts = _lr_counts(study, histories, seeds, rule, floor)
            tests += [_pair(variant, "", t, study.baseline, counts[t], counts[study.baseline]) for t in treatments]
        return tests
    metric = {"accuracy": final_accuracy, "gradients": early_gradient, "information": hidden_entropy}[study.analysis]
    tests = []
    variants = [(f"shared lr {study.shared_lr:g}", lambda arm, value: study.shared_lr)]
    if study.analysis == "accuracy" and len(study.lrs) > 1:
        variants.append(("own best lr", lambda arm, value: _best_lr(histories, study, arm, value, seeds)))
    for (variant, lr_of), value, treatment in itertools.product(variants, study.tested, treatments):
        lr_t, lr_b = lr_of(treatment, value), lr_of(study.baseline, value)
        tests.append(_pair(variant, f"{study.axis} {value:g}", treatment, study.baseline,
                           arm_values(histories, treatment, value, lr_t, seeds, metric),
                           arm_values(histories, study.baseline, value, lr_b, seeds, metric),
                           lrs=(lr_t, lr_b)))
    return tests


LR_RANGE_THRESHOLDS = {  # variant: the accuracy a learning rate must reach, from the seed's best
    "within 90% of best": lambda best: 0.9 * best,
    "halfway from chance": lambda best: CHANCE + 0.5 * (best - CHANCE),
}


def _lr_counts(study: Study, histories: dict, seeds, rule: str, floor) -> dict[str, np.ndarray]:
    """Per arm and seed: how many learning rates reach ``floor(best)``, best = that seed's best
    accuracy in the study (any arm, any rate)."""
    arms = [arm for arm in study.arms if arm_norm(arm, rule) is not None]
    acc = {arm: np.array([[final_accuracy(histories[(arm, lr, lr, s)]) for s in seeds] for lr in study.values])
           for arm in arms}
    best = np.max([a.max(axis=0) for a in acc.values()], axis=0)  # per seed
    return {arm: (a >= floor(best)).sum(axis=0).astype(float) for arm, a in acc.items()}


def _pair(variant: str, condition: str, treatment: str, baseline: str, t_values, b_values, lrs=None) -> dict:
    t_values, b_values = np.asarray(t_values, dtype=float), np.asarray(b_values, dtype=float)
    effect = paired_effect(t_values - b_values)
    return {"variant": variant, "condition": condition, "treatment": treatment, "baseline": baseline,
            "treatment_values": t_values.tolist(), "baseline_values": b_values.tolist(),
            "lrs": list(lrs) if lrs else [], "effect": effect.effect, "low": effect.low, "high": effect.high,
            "n": effect.n, "p": effect.p}


def judge(tests: list[dict], sign: int, negligible: float) -> dict[str, str]:
    """Holm over all the study's tests, each test's verdict, and the claim's verdict per variant."""
    adjusted = holm([t["p"] for t in tests])
    for test, p in zip(tests, adjusted):
        test["p_holm"] = p
        effect = PairedEffect(test["effect"], test["low"], test["high"], test["n"], test["p"])
        test["verdict"] = verdict(effect, p, sign, negligible)
    variants = dict.fromkeys(t["variant"] for t in tests)
    return {v: claim_verdict([t["verdict"] for t in tests if t["variant"] == v]) for v in variants}


def _information_sim(budget: Budget, store: Store) -> dict:
    """The Brian2 part of claim (d): H2 of an infomax-IP neuron vs the same neuron without IP,
    on N(1, 4^2) input, one simulation per seed (paired by seed)."""
    ip, no_ip = [], []
    for seed in budget.seeds:
        path = sims.run("information", [f"duration={budget.sim_duration:g}",
                                        f"measure={budget.sim_duration / 4:g}", f"seed={seed}"],
                        "numpy", store)
        with open_run(path, "sims") as run:
            ip.append(float(run.array("ip/renyi_entropy")))
            no_ip.append(float(run.array("no_ip/renyi_entropy")))
    return _pair("Brian2 neuron", "N(1, 4^2) input", "ip (infomax rule)", "no ip", ip, no_ip)


# ---- running and storing ------------------------------------------------------------------

def plan(request: StudyRun, store: Store) -> tuple[Study, Budget, list[tuple], list[TrainConfig]]:
    """The study's cells as TrainConfigs; the fitted arm's rule must load (before any work)."""
    study = get_study(request.study)
    budget = study.budgets[request.budget]
    keys = cell_keys(study, budget, request.rule)
    configs = [cell_config(study, budget, request.rule, key) for key in keys]
    for config in {c.norm: c for c in configs}.values():
        load_train_rule(config, store)
    return study, budget, keys, configs


def run_study(request: StudyRun, store: Store, progress: bool = True) -> Path:
    """Train (or reuse) every cell, analyse, and write the ``studies`` run; returns its path."""
    study, budget, keys, configs = plan(request, store)
    clock = Stopwatch()
    paths = run_grid(configs, request.workers, store, progress, label=f"study {study.name}")
    histories = {key: load_history(path) for key, path in zip(keys, paths)}
    tests = _tests(study, histories, budget.seeds, request.rule)
    if study.analysis == "information":
        tests.insert(0, _information_sim(budget, store))
    verdicts = judge(tests, study.sign, study.negligible)
    identity = {"study": describe(study), "budget": request.budget, "rule": request.rule}
    inputs = {"rules": {}, "data": run_inputs(configs[0], None)["data"]}
    for config in configs:
        inputs["rules"].update(run_inputs(config, load_train_rule(config, store))["rules"])
    cells = [{"arm": k[0], "value": k[1], "lr": k[2], "seed": k[3], "run_id": histories[k]["run_id"],
              "status": histories[k]["status"], "accuracy": final_accuracy(histories[k]),
              "seconds": histories[k]["run_seconds"]} for k in keys]
    plots = study_plots(study, histories, keys, budget.seeds, tests)
    with store.write(STUDY_KIND, study.name, identity, budget.seeds[0], clock, inputs) as h5:
        h5.attrs.update(budget=request.budget, tests=json.dumps(tests), verdicts=json.dumps(verdicts),
                        cells=json.dumps(cells))
        for name, png in plots.items():
            h5.create_dataset(f"plots/{name}", data=np.frombuffer(png, dtype=np.uint8))
    return store.path_for(STUDY_KIND, study.name, identity, inputs)


# ---- reading results ------------------------------------------------------------------------

def latest_results(store: Store, budget: str | None = None) -> list[dict]:
    """The newest stored result of each study (and budget), in the order of :data:`STUDIES`."""
    newest: dict[tuple[str, str], dict] = {}
    for info in store.list_runs(STUDY_KIND):
        if budget and info.config.get("budget") != budget:
            continue
        with open_run(info.path, STUDY_KIND) as run:
            result = {"name": run.name, "budget": str(run.h5.attrs["budget"]), "run_id": run.run_id,
                      "path": str(run.path), "finished": run.finished, "wall_seconds": run.wall_seconds,
                      "study": run.config["study"], "rule": run.config.get("rule", ""),
                      "tests": json.loads(run.h5.attrs["tests"]), "verdicts": json.loads(run.h5.attrs["verdicts"]),
                      "cells": json.loads(run.h5.attrs["cells"]), "plots": sorted(run.h5.get("plots", {}))}
        key = (result["name"], result["budget"])
        if key not in newest or result["finished"] >= newest[key]["finished"]:
            newest[key] = result
    order = list(STUDIES)
    return sorted(newest.values(), key=lambda r: (order.index(r["name"]) if r["name"] in order else 99, r["budget"]))


def _effect(test: dict) -> str:
    return f"{test['effect']:+.4g} [{test['low']:+.4g}, {test['high']:+.4g}]"


def claims_rows(results: list[dict]) -> list[list[Any]]:
    """One row per study and variant: claim, source, budget, verdict, the tests' effects."""
    rows = []
    for result in results:
        for variant, claim_verdict_ in result["verdicts"].items():
            tests = [t for t in result["tests"] if t["variant"] == variant]
            effects = "; ".join(f"{t['treatment']} vs {t['baseline']}"
                                f"{' @ ' + t['condition'] if t['condition'] else ''}: {_effect(t)}" for t in tests)
            rows.append([result["name"], result["study"]["claim"], result["study"]["source"], result["budget"],
                         variant, f"**{claim_verdict_}**", effects])
    return rows


def tests_rows(results: list[dict]) -> list[list[Any]]:
    """One row per test: effect, 95% CI, n, p, Holm p and verdict."""
    return [[r["name"], r["budget"], t["variant"], t["condition"] or "-", f"{t['treatment']} - {t['baseline']}",
             f"{t['effect']:+.4g}", f"[{t['low']:+.4g}, {t['high']:+.4g}]", t["n"], f"{t['p']:.3g}",
             f"{t['p_holm']:.3g}", t["verdict"]] for r in results for t in r["tests"]]


CLAIMS_HEADERS = ["study", "claim", "source", "budget", "variant", "verdict", "effect [95% CI] per test"]
TESTS_HEADERS = ["study", "budget", "variant", "condition", "difference", "effect", "95% CI", "n", "p",
                 "p (Holm)", "verdict"]


def study_table(results: list[dict], plots_dir: Path | None = None) -> str:
    """The markdown of ``study table``: the claims, every test, and (with ``plots_dir``) the plots."""
    versions = package_versions()
    parts = [f"Generated by `homeobridge study table` (homeobridge {versions['homeobridge']}, git "
             f"{versions['git'][:10] or 'n/a'}) from the newest stored result of each study; every number "
             "below is read from a `studies` run of the store, whose training runs are listed there.",
             "## Claims", markdown_table(CLAIMS_HEADERS, claims_rows(results)),
             "## Tests (effect = mean paired difference over seeds; Holm within each study)",
             markdown_table(TESTS_HEADERS, tests_rows(results))]
    for result in results:
        cells = result["cells"]
        diverged = sum(c["status"] != "ok" for c in cells)
        rule = f" --rule {result['rule']}" if result["rule"] else ""
        training = sum(c.get("seconds", 0.0) for c in cells) / 60
        parts.append(f"### {result['name']} ({result['budget']})\n\nCriterion: {result['study']['criterion']}. "
                     f"Metric: {result['study']['metric']}. {len(cells)} training runs ({diverged} diverged), "
                     f"{training:.0f} min of training summed over them, this study run "
                     f"{result['wall_seconds'] / 60:.1f} min (cells already in the store are reused), "
                     f"study run `{result['run_id']}`, "
                     f"command `homeobridge study run {result['name']} --budget {result['budget']}{rule}`.")
        if plots_dir is not None:
            parts += [f"![{name}]({plots_dir.name}/{result['name']}-{result['budget']}-{name}.png)"
                      for name in result["plots"]]
    return "\n\n".join(parts) + "\n"


def export_study_plots(store: Store, results: list[dict], folder: Path) -> list[Path]:
    """Write each result's PNG plots to ``folder`` as ``<study>-<budget>-<plot>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for result in results:
        with open_run(result["path"], STUDY_KIND) as run:
            for name in result["plots"]:
                path = folder / f"{result['name']}-{result['budget']}-{name}.png"
                path.write_bytes(run.array(f"plots/{name}").tobytes())
                written.append(path)
    return written
