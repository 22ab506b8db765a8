"""Studies: a seed paper's claim tested under a declared protocol, with paired statistics.

A :class:`Study` is a declaration, fixed before any run: the claim in words and its source; the
arms (normalisations, or any training fields per arm: ``arm_fields``) and the swept axis (a
training field such as depth, learning rate or init scale, or named ``settings`` such as data
set x architecture); the metric and the analysis that turns the cells' histories into per-seed
paired differences: Shaw's four analyses, or declared :class:`Comparison` families
(superiority or non-inferiority, against an arm or the best of several); the baseline; the
criterion (claimed sign and negligible band or margin; ``bridge.experiments.statistics``); and
per budget the data size, epochs, width and seeds. Running it trains every cell through the shared
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
import math
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

import sims
from bridge.core.config import Config
from bridge.core.errors import UserError
from bridge.core.store import Stopwatch, Store, open_run, package_versions, short_commit
from bridge.core.tables import markdown_table
from bridge.experiments.executor import EXECUTORS, run_grid
from bridge.experiments.metrics import CHANCE, METRICS, arm_values, final_accuracy
from bridge.experiments.plots import condition_label, study_plots
from bridge.experiments.statistics import (
    PairedEffect,
    claim_verdict,
    holm,
    non_inferiority_p,
    non_inferiority_verdict,
    paired_effect,
    verdict,
)
from bridge.learning.train import TrainConfig, load_history, load_train_rule, resolve_device, run_inputs

STUDY_KIND = "studies"
BUDGETS = ("smoke", "quick", "full")
FITTED_ARM = "fitted+affine"  # resolved to fitted:<rule>+affine with the rule given to `study run`
FITTED_NORMS = {FITTED_ARM: "fitted:{rule}+affine", "fitted": "fitted:{rule}",
                "fitted-online": "fitted-online:{rule}"}
OWN_FIELDS = ("norm", "lr", "width_scale")  # arm_fields keys that are not TrainConfig fields as such
RULE_MODELS = ("rate-ip", "lif-ip", "synaptic-scaling")  # the models whose fitted rules fitted arms run


class Budget(Config):
    """What one budget trains: data size, epochs, width, seeds (and the Brian2 run's length)."""

    n_train: PositiveInt
    n_test: PositiveInt
    epochs: PositiveInt
    width: PositiveInt
    seeds: Annotated[tuple[NonNegativeInt, ...], Field(min_length=2)]
    sim_duration: PositiveFloat = 60.0
    values: tuple[float | str, ...] | None = None  # a smaller grid of the study's axis at this budget
    lrs: tuple[PositiveFloat, ...] | None = None  # a smaller learning-rate grid at this budget


class Comparison(BaseModel):
    """A declared family of paired tests: every treatment against the baseline (each arm of
    ``baselines``, or the arm of ``best_of`` with the best seed-mean ``metric`` at that value)
    at every tested value, each arm at its own learning rate (its declared one; with an lr grid
    its best of the grid by seed-mean accuracy at that value). ``negligible``: the negligible
    band of a superiority test, the margin of a non-inferiority test (in the metric's units)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant: str
    metric: Literal[tuple(METRICS)]
    treatments: tuple[str, ...]
    baselines: tuple[str, ...] = ()
    best_of: tuple[str, ...] = ()
    kind: Literal["superiority", "non-inferiority"] = "superiority"
    sign: Literal[1, -1] = 1
    negligible: float
    any_treatment: bool = False  # the claim holds at a value if any treatment (e.g. any declared rate) shows it

    @model_validator(mode="after")
    def _one_baseline_rule(self) -> Comparison:
        if bool(self.baselines) == bool(self.best_of):
            raise ValueError(f"comparison {self.variant!r}: give baselines or best_of, not both or neither")
        if self.kind == "non-inferiority" and self.sign != 1:
            raise ValueError(f"comparison {self.variant!r}: non-inferiority is for metrics where higher is better")
        return self


class Study(BaseModel):
    """One declared protocol (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    claim: str
    source: str
    metric: str
    criterion: str
    analysis: Literal["accuracy", "lr_range", "gradients", "information"] | None = None
    comparisons: tuple[Comparison, ...] = ()
    arms: tuple[str, ...]
    arm_fields: dict[str, dict[str, Any]] = {}
    baseline: str = ""
    treatments: tuple[str, ...] = ()
    axis: str
    values: tuple[float | str, ...]
    tested: tuple[float | str, ...]
    settings: dict[str, dict[str, Any]] = {}
    lrs: tuple[float, ...] = ()
    shared_lr: float | None = None
    sign: Literal[1, -1] = 1
    negligible: float = 0.0
    rule_model: Literal[RULE_MODELS] = "rate-ip"
    fixed: dict[str, Any]
    budgets: dict[str, Budget]

    @property
    def uses_rule(self) -> bool:
        """Whether an arm runs a fitted rule (fitted to a ``rule_model`` run, given to ``study run --rule``)."""
        return any(self.arm_fields.get(arm, {}).get("norm", arm) in FITTED_NORMS for arm in self.arms)


def _budgets(full_width: int = 256, full_epochs: int = 10, full_train: int = 60000,
             small_values: tuple | None = None, small_lrs: tuple | None = None,
             full_values: tuple | None = None, full_lrs: tuple | None = None) -> dict[str, Budget]:
    """smoke: seconds (CI); quick: minutes (the demo); full: all of Fashion-MNIST, 10 epochs, 5 seeds.

    ``small_values`` / ``small_lrs`` cut a costly grid (spiking nets) at the smoke and quick budgets;
    ``full_values`` / ``full_lrs`` / ``full_train`` at the full budget, declared in the study's
    criterion with the measured cost that forced them.

    ``full_width`` is cut from 256 to 128 where a study's grid would not fit in 60 minutes on the
    2-core machine (measured: a 10-layer tanh MLP of width 256 takes 9-11 s per epoch on one core,
    of width 128 4.5 s; IP layers add 30-90%).
    """
    return {
        "smoke": Budget(n_train=256, n_test=256, epochs=1, width=16, seeds=(0, 1), sim_duration=4.0,
                        values=small_values, lrs=small_lrs),
        "quick": Budget(n_train=2000, n_test=1000, epochs=2, width=64, seeds=(0, 1, 2), sim_duration=20.0,
                        values=small_values, lrs=small_lrs),
        "full": Budget(n_train=full_train, n_test=10000, epochs=full_epochs, width=full_width, seeds=(0, 1, 2, 3, 4),
                       sim_duration=60.0, values=full_values, lrs=full_lrs),
    }


SHAW = ("Shaw, Jackson & Orchard (2020), PLoS ONE, 'Biological batch normalisation: how intrinsic "
        "plasticity improves learning in deep neural networks'")
DEEP_TANH = {"kind": "mlp", "neuron": "rate", "activation": "tanh", "optimizer": "sgd", "batch_size": 64,
             "dataset": "fashion-mnist", "device": "cpu", "probe_size": 256, "grad_samples": 20, "ip_eta": 0.01}

SHEN = ("Shen, Wang & Navlakha (2021), Neural Computation 33(12), 'A correspondence between normalization "
        "strategies in artificial and biological neural networks'")
SHERVANI = ("Shervani-Tabar, Mirhoseini & Rosenbaum (2024), 'Oja's plasticity rule overcomes several challenges "
            "of training neural networks under biological constraints'")
CORNFORD = ("Cornford, Kalajdzievski, Leite, Lamarquette, Kullmann & Richards (2021), ICLR, 'Learning to live "
            "with Dale's principle: ANNs with separate excitatory and inhibitory units'")
RELU_SGD = {"kind": "mlp", "neuron": "rate", "activation": "relu", "optimizer": "sgd", "dataset": "fashion-mnist",
            "device": "cpu", "probe_size": 256, "grad_samples": 20}
SHEN_SETTINGS = ("fashion-mnist mlp", "digits mlp", "digits cnn")
DIGITS = {"n_train": 1347, "n_test": 450}  # all of sklearn's digits (75/25 split) at every budget
OJA_ETAS = (1e-4, 1e-3, 1e-2)
SPIKING_SOURCE = ("homeobridge's question (Brian2 lif-ip rule fitted and transplanted); BNTT: Kim & Panda (2021), "
                  "'Revisiting batch normalization for training low-latency deep spiking neural networks from scratch'")
# the homeostatic LIF at 0.2 spikes per step with its input gain held: snn-vs-rate's variant, confirmed elsewhere
HOMEOSTATIC_THRESHOLD = "homeostatic 0.2 threshold"
THRESHOLD_ONLY = {"norm": "homeostatic", "spike_target": 0.2, "spike_gain_adapt": False}
SPIKING_MLP = {"kind": "mlp", "neuron": "spiking", "optimizer": "sgd", "batch_size": 64, "time_steps": 10,
               "dataset": "fashion-mnist", "device": "cpu", "probe_size": 256, "grad_samples": 20}


def _oja_study(name: str, claim: str, protocol: str, axis: str, values: tuple, fixed: dict,
               budgets: dict, tested: tuple | None = None) -> Study:
    """A Shervani-Tabar et al. claim: plain SGD against SGD + Oja at three declared Oja rates."""
    oja_arms = {f"oja {eta:g}": {"norm": "oja", "oja_eta": eta} for eta in OJA_ETAS}
    return Study(
        name=name, claim=claim, source=SHERVANI,
        metric="test accuracy after the last epoch (diverged runs count as chance); the activity drift "
               "|log10(activity scale of the last hidden layer / the first's)| (vanishing or exploding signal)",
        criterion=f"{protocol}; SGD + Oja (Oja's subspace rule dW = eta (y^T x - y^T y W) / B after each SGD step, "
                  f"eta in {', '.join(f'{e:g}' for e in OJA_ETAS)}, declared before running, each reported) minus "
                  "plain SGD > 0 in accuracy, Holm-adjusted p < 0.05 over every eta and condition; refuted if "
                  "reversed or the 95% CI lies within +/-0.005. The claim is reproduced under a condition if any "
                  "eta reproduces it there (the verdict row per eta shows which). Activity drift of SGD + Oja "
                  "minus SGD < 0 tested alike (negligible +/-0.05). No normalisation layers, no Adam, lr 0.05",
        comparisons=(
            Comparison(variant="Oja improves accuracy", metric="accuracy", treatments=tuple(oja_arms),
                       baselines=("sgd",), negligible=0.005, any_treatment=True),
            Comparison(variant="Oja keeps the activity scale", metric="activity_drift",
                       treatments=tuple(oja_arms), baselines=("sgd",), sign=-1, negligible=0.05,
                       any_treatment=True),
        ),
        arms=("sgd", *oja_arms), arm_fields={"sgd": {"norm": "none"}, **oja_arms},
        axis=axis, values=values, tested=values if tested is None else tested, shared_lr=0.05,
        fixed=fixed, budgets=budgets,
    )


STUDIES: dict[str, Study] = {study.name: study for study in [
    Study(
        name="shaw-depth",
        claim="(a) intrinsic plasticity improves learning in deep networks: an IP MLP beats the same "
              "MLP without normalisation at depth >= 10",
        source=f"{SHAW}, claim (a)",
        metric="test accuracy after the last epoch (diverged runs count as chance)",
        criterion="each IP arm (ip-infomax, ip-infomax+affine, fitted+affine) minus none > 0 at depth "
                  "10, Holm-adjusted p < 0.05; refuted if reversed or the 95% CI lies within +/-0.005; "
                  "reported at the shared learning rate and at each arm's own best rate of the grid. Depth 20 "
                  "was declared too and cut while the full budget ran, before any IP or BN cell of it: "
                  "measured there, a 10-epoch run of none takes 80 s at depth 10 and 160 s at depth 20 "
                  "(two workers), the IP arms about twice that, so depths (2, 10, 20) x 6 arms x 2 rates x "
                  "5 seeds are about 200 min; depths (2, 10) about 75",
        analysis="accuracy",
        arms=("none", "bn", "bn-noaffine", "ip-infomax", "ip-infomax+affine", FITTED_ARM),
        baseline="none", treatments=("ip-infomax", "ip-infomax+affine", FITTED_ARM),
        axis="depth", values=(2, 10), tested=(10,), lrs=(0.01, 0.05), shared_lr=0.05,
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
    Study(
        name="shen-scaling",
        claim="synaptic-scaling normalisation 'performs competitively against existing normalization "
              "methods on several data sets', and normalisation pushes units toward a homeostatic state "
              "'where all neurons are equally used'",
        source=f"{SHEN}; scaling rule of van Rossum, Bi & Turrigiano (2000)",
        metric="test accuracy after the last epoch (each arm at its best learning rate of the grid); unit "
               "usage: the coefficient of variation over units of each unit's mean |activation| on a probe "
               "of test images, mean over hidden layers (dead units recorded beside it)",
        criterion="competitive: scaling and fitted (the fitted Brian2 scaling rule) each not worse than the "
                  "best of bn/ln/wn (chosen per setting by mean accuracy) by more than 1 point: one-sided "
                  "non-inferiority test (the lower half of TOST) at margin 0.01, Holm-adjusted p < 0.05; "
                  "refuted if the 95% CI lies below -0.01. Equal use: unit CV of each normalisation minus "
                  "none < 0, Holm-adjusted p < 0.05; refuted if reversed or the CI lies within +/-0.02. "
                  "Fashion-MNIST runs an MLP; digits an MLP and a CNN (a Fashion-MNIST CNN at 10 epochs x 5 "
                  "seeds x 6 arms x 2 learning rates is about 4 h on this CPU: cut)",
        comparisons=(
            Comparison(variant="competitive (non-inferior by 1 point)", metric="accuracy",
                       treatments=("scaling", "fitted"), best_of=("bn", "ln", "wn"), kind="non-inferiority",
                       negligible=0.01),
            Comparison(variant="units equally used (unit CV lower than none)", metric="unit_cv",
                       treatments=("bn", "ln", "wn", "scaling", "fitted"), baselines=("none",), sign=-1,
                       negligible=0.02),
        ),
        arms=("none", "bn", "ln", "wn", "scaling", "fitted"),
        axis="setting", values=SHEN_SETTINGS, tested=SHEN_SETTINGS,
        settings={"fashion-mnist mlp": {"dataset": "fashion-mnist", "kind": "mlp", "depth": 4},
                  "digits mlp": {"dataset": "digits", "kind": "mlp", "depth": 4, **DIGITS},
                  "digits cnn": {"dataset": "digits", "kind": "cnn", "depth": 4, "width": 16, **DIGITS}},
        lrs=(0.01, 0.1), rule_model="synaptic-scaling",
        fixed={**RELU_SGD, "batch_size": 64},
        budgets=_budgets(full_width=128, small_lrs=(0.1,)),
    ),
    _oja_study(
        name="oja-online",
        claim="under online learning (batch size 1) Oja's rule alongside backprop substantially improves plain "
              "backpropagation, without batching, normalisation or adaptive optimisers",
        protocol="a 4-layer tanh MLP trained one example at a time (batch 1) over the training set; full budget "
                 "cut before running to 10,000 training images (measured here on one core: 1.1 ms per image for "
                 "SGD, 2.6 ms with Oja, so all 60k images for 10 epochs would be ~3.7 h for the 20 runs)",
        axis="batch_size", values=(1,), fixed={**DEEP_TANH, "depth": 4, "batch_size": 1},
        budgets=_budgets(full_width=128, full_epochs=10, full_train=10000),
    ),
    _oja_study(
        name="oja-depth",
        claim="in deep architectures Oja's rule alongside backprop substantially improves plain backpropagation",
        protocol="tanh MLPs of depth 10 and 20, batch 64",
        axis="depth", values=(10, 20), fixed=DEEP_TANH, budgets=_budgets(full_width=128),
    ),
    _oja_study(
        name="oja-bad-init",
        claim="under sub-optimal weight initialisation Oja's rule alongside backprop substantially improves "
              "plain backpropagation",
        protocol="a 5-layer tanh MLP, batch 64, every weight multiplied by 0.1 or 3 after PyTorch's default "
                 "initialisation (1: the reference, not tested)",
        axis="init_scale", values=(0.1, 1.0, 3.0), tested=(0.1, 3.0), fixed={**DEEP_TANH, "depth": 5},
        budgets=_budgets(full_width=128),
    ),
    Study(
        name="snn-depth",
        claim="homeostasis trains deep spiking nets that do not train without normalisation, as BNTT does",
        source=SPIKING_SOURCE,
        metric="test accuracy after the last epoch (each arm at its best learning rate of the grid); health: the "
               "fraction of silent hidden units (no spike on any probe image), mean over hidden layers",
        criterion="homeostasis (homeostatic: lif-ip compressed to the net's steps; fitted: the fitted lif-ip rule's "
                  "equilibrium current normaliser; fitted+affine: the same followed by a learned per-unit gamma, beta, "
                  "shared over the time steps as the normaliser is (BNTT's are per step); "
                  "fitted-online: the fitted rule run online, one step = 10 ms) "
                  "minus none > 0 at depths 6 and 8, Holm-adjusted p < 0.05, each declared arm its own test; "
                  "refuted if reversed or the 95% CI lies within +/-0.005. BNTT minus none tested alike as the "
                  "reference effect; silent fraction of each normalisation minus none < 0 (negligible +/-0.02). "
                  "Spiking MLP of width 256 (full), 10 time steps, rate-coded input, batch 64, SGD. Full budget cut "
                  "before running (measured here on one core: a depth-8 net takes 1.9 s per 1000 images per epoch, "
                  "so one run on all 60k images for 10 epochs is ~20 min and the declared grid ~60 h): 10,000 "
                  "training images (all 10,000 test images), depths 2 and 8 (the test at depth 8), one learning "
                  "rate 0.1, 6 arms x 5 seeds. Seventh arm, declared before any of its runs here, after snn-vs-rate "
                  "found it (so a confirmatory test): homeostatic 0.2 threshold (the homeostatic LIF at 0.2 spikes "
                  "per step, input gain held), tested alike against none",
        comparisons=(
            Comparison(variant="homeostasis beats none in deep SNNs", metric="accuracy",
                       treatments=("homeostatic", "fitted", "fitted+affine", "fitted-online"), baselines=("none",),
                       negligible=0.005),
            Comparison(variant="BNTT beats none in deep SNNs (reference)", metric="accuracy", treatments=("bntt",),
                       baselines=("none",), negligible=0.005),
            Comparison(variant="the homeostatic LIF at 0.2, threshold only, beats none (confirmatory)",
                       metric="accuracy", treatments=(HOMEOSTATIC_THRESHOLD,), baselines=("none",), negligible=0.005),
            Comparison(variant="fewer silent units than none", metric="silent_fraction",
                       treatments=("bntt", "homeostatic", "fitted", "fitted+affine", "fitted-online",
                                   HOMEOSTATIC_THRESHOLD),
                       baselines=("none",), sign=-1, negligible=0.02),
        ),
        arms=("none", "bntt", "homeostatic", "fitted", "fitted+affine", "fitted-online", HOMEOSTATIC_THRESHOLD),
        arm_fields={"bntt": {"norm": "bn"}, "fitted-online": {"spike_dt": 0.01},
                    HOMEOSTATIC_THRESHOLD: THRESHOLD_ONLY},
        axis="depth", values=(2, 4, 6, 8), tested=(6, 8), lrs=(0.02, 0.1), rule_model="lif-ip",
        fixed=SPIKING_MLP, budgets=_budgets(full_width=256, small_values=(2, 6), small_lrs=(0.1,), full_train=10000,
                                            full_values=(2, 8), full_lrs=(0.1,)),
    ),
    Study(
        name="snn-online",
        claim="the fitted spiking homeostasis rule beats no normalisation where batch statistics do not exist "
              "(batch size 1)",
        source=SPIKING_SOURCE,
        metric="test accuracy after the last epoch, each arm at its best learning rate of the grid",
        criterion="batch 1 (no BNTT possible); the fitted lif-ip rule as equilibrium current normaliser (fitted), "
                  "run online with one step = 1 ms (fitted-online 1ms: the Brian2 step, a 10 Hz target is 0.01 "
                  "spikes per step) and = 10 ms (fitted-online 10ms: 0.1 spikes per step) minus none > 0, "
                  "Holm-adjusted p < 0.05; the claim holds if any of the three forms shows it; refuted if "
                  "reversed or the 95% CI lies within +/-0.005. homeostatic (lif-ip compressed) and "
                  "adaptive-threshold (Diehl & Cook 2015, one step = 1 ms) are further declared arms, tested alike. "
                  "Full budget cut before running (measured here on one core: 20-28 ms per image at batch 1, so one "
                  "run on all 60k images for 10 epochs is ~4 h): 1,000 training images (all 10,000 test images), "
                  "10 epochs, one learning rate 0.01, 6 arms x 5 seeds. Seventh arm, declared before any of its "
                  "runs here, after snn-vs-rate found it (so a confirmatory test): homeostatic 0.2 threshold (the "
                  "homeostatic LIF at 0.2 spikes per step, input gain held), tested alike against none",
        comparisons=(
            Comparison(variant="the fitted rule beats none at batch 1", metric="accuracy",
                       treatments=("fitted", "fitted-online 1ms", "fitted-online 10ms"), baselines=("none",),
                       negligible=0.005, any_treatment=True),
            Comparison(variant="other homeostasis vs none at batch 1", metric="accuracy",
                       treatments=("homeostatic", "adaptive-threshold"), baselines=("none",), negligible=0.005),
            Comparison(variant="the homeostatic LIF at 0.2, threshold only, beats none at batch 1 (confirmatory)",
                       metric="accuracy", treatments=(HOMEOSTATIC_THRESHOLD,), baselines=("none",), negligible=0.005),
        ),
        arms=("none", "homeostatic", "fitted", "fitted-online 1ms", "fitted-online 10ms", "adaptive-threshold",
              HOMEOSTATIC_THRESHOLD),
        arm_fields={"fitted-online 1ms": {"norm": "fitted-online", "spike_dt": 0.001},
                    "fitted-online 10ms": {"norm": "fitted-online", "spike_dt": 0.01},
                    HOMEOSTATIC_THRESHOLD: THRESHOLD_ONLY},
        axis="batch_size", values=(1,), tested=(1,), lrs=(0.002, 0.01), rule_model="lif-ip",
        fixed={**SPIKING_MLP, "depth": 3}, budgets=_budgets(full_width=128, small_lrs=(0.01,), full_train=1000,
                                                             full_lrs=(0.01,)),
    ),
    Study(
        name="snn-vs-rate",
        claim="the homeostatic gain carries over from rate to spiking networks: the same architecture, data and "
              "budget, rate IP vs spiking IP and BN vs BNTT",
        source=f"{SHAW}; {SPIKING_SOURCE}",
        metric="test accuracy after the last epoch, each arm at its best learning rate of the grid",
        criterion="4-layer MLP of width 128, tanh (rate) or LIF with 10 time steps (spiking), batch 64, SGD, the "
                  "same initial weights and data order per seed in every arm. Per neuron kind, IP (rate: "
                  "ip-infomax; spiking: homeostatic) minus none > 0 and BN (rate: bn; spiking: BNTT) minus none "
                  "> 0, Holm-adjusted p < 0.05; refuted if reversed or the 95% CI lies within +/-0.005. The gain "
                  "carries over if the spiking test agrees with the rate one. Full budget cut before running "
                  "(measured here on one core: the spiking net takes 0.7-0.9 s per 1000 images per epoch, ~8 min a "
                  "run on all 60k images, ~2 h for the spiking arms): 10,000 training images for every arm, rate "
                  "and spiking alike (all 10,000 test images). Variant arm added after the first full run (whose "
                  "diagnostics showed the homeostatic layers held at about 0.13 spikes per step, against 0.11-0.27 "
                  "without normalisation and 0.18-0.24 with BNTT): spiking homeostatic with a target of 0.2 "
                  "spikes per step instead of 0.1 (spiking homeostatic 0.2), testing whether the target of one "
                  "spike per ten-step window is too low for a rate code; tested alike against spiking none, "
                  "reported whether or not it helps. Second variant arm, added after that one's run (whose "
                  "diagnostics showed the homeostatic input gains growing without bound, layer means up to "
                  "1e4-1e12, and thresholds drifting negative): the same at 0.2 with the input gain held "
                  "(threshold adaptation only: spiking homeostatic 0.2 threshold), tested against spiking none "
                  "and against spiking homeostatic 0.2 (the gain controller's own cost: > 0, Holm p < 0.05)",
        comparisons=(
            Comparison(variant="IP gain in rate nets", metric="accuracy", treatments=("rate ip",),
                       baselines=("rate none",), negligible=0.005),
            Comparison(variant="IP gain in spiking nets", metric="accuracy", treatments=("spiking homeostatic",),
                       baselines=("spiking none",), negligible=0.005),
            Comparison(variant="IP gain in spiking nets, target 0.2 spikes per step (added variant)",
                       metric="accuracy", treatments=("spiking homeostatic 0.2",), baselines=("spiking none",),
                       negligible=0.005),
            Comparison(variant="IP gain in spiking nets, target 0.2, threshold only (added variant)",
                       metric="accuracy", treatments=("spiking homeostatic 0.2 threshold",),
                       baselines=("spiking none",), negligible=0.005),
            Comparison(variant="holding the input gain helps the homeostatic LIF (added variant)",
                       metric="accuracy", treatments=("spiking homeostatic 0.2 threshold",),
                       baselines=("spiking homeostatic 0.2",), negligible=0.005),
            Comparison(variant="BN gain in rate nets", metric="accuracy", treatments=("rate bn",),
                       baselines=("rate none",), negligible=0.005),
            Comparison(variant="BNTT gain in spiking nets", metric="accuracy", treatments=("spiking bntt",),
                       baselines=("spiking none",), negligible=0.005),
        ),
        arms=("rate none", "rate ip", "rate bn", "spiking none", "spiking homeostatic", "spiking bntt",
              "spiking homeostatic 0.2", "spiking homeostatic 0.2 threshold"),
        arm_fields={"rate none": {"neuron": "rate", "norm": "none"},
                    "rate ip": {"neuron": "rate", "norm": "ip-infomax"},
                    "rate bn": {"neuron": "rate", "norm": "bn"}, "spiking none": {"neuron": "spiking", "norm": "none"},
                    "spiking homeostatic": {"neuron": "spiking", "norm": "homeostatic"},
                    "spiking bntt": {"neuron": "spiking", "norm": "bn"},
                    "spiking homeostatic 0.2": {"neuron": "spiking", "norm": "homeostatic", "spike_target": 0.2},
                    "spiking homeostatic 0.2 threshold": {"neuron": "spiking", **THRESHOLD_ONLY}},
        axis="depth", values=(4,), tested=(4,), lrs=(0.02, 0.1),
        fixed={**SPIKING_MLP, "activation": "tanh"}, budgets=_budgets(full_width=128, full_train=10000),
    ),
    Study(
        name="dale-ann",
        claim="DANNs (Dale's-principle nets with subtractive and divisive inhibition) 'learn just as well as "
              "standard ANNs', and the corrected updates of the inhibitory parameters are what make them learn "
              "well (uncorrected DANNs and sign-constrained ColumnEI nets learn worse)",
        source=f"{CORNFORD}; reference code linclab/ltlwdp",
        metric="test accuracy after the last epoch, each arm at the reference's tuned learning rate",
        criterion="as well: DANN (corrected SGD) minus the MLP not below -1 point: one-sided non-inferiority "
                  "test at margin 0.01, Holm-adjusted p < 0.05; refuted if the 95% CI lies below -0.01. "
                  "Correction matters: DANN minus DANN-without-correction > 0 and DANN minus ColumnEI > 0, "
                  "Holm-adjusted p < 0.05; refuted if reversed or the CI lies within +/-0.005. Protocol of the "
                  "reference configs: 3 hidden layers of 500 (DANN: 500 E + 50 I; ColumnEI: 550 units, E:I "
                  "10:1), ReLU, plain SGD, batch 32, learning rates tuned there on MNIST (0.2976, 0.1107, "
                  "0.003981, 0.05273): kept, not re-tuned; 10 epochs instead of the reference's 50 (cut to fit)",
        comparisons=(
            Comparison(variant="DANN learns as well as the MLP (non-inferior by 1 point)", metric="accuracy",
                       treatments=("dann",), baselines=("mlp",), kind="non-inferiority", negligible=0.01),
            Comparison(variant="corrected DANN beats uncorrected DANN and ColumnEI", metric="accuracy",
                       treatments=("dann",), baselines=("dann-uncorrected", "column-ei"), negligible=0.005),
        ),
        arms=("mlp", "dann", "dann-uncorrected", "column-ei"),
        arm_fields={"mlp": {"norm": "none", "init": "cornford", "lr": 0.2976},
                    "dann": {"norm": "dale", "lr": 0.1107},
                    "dann-uncorrected": {"norm": "dale-uncorrected", "lr": 0.003981},
                    "column-ei": {"norm": "column-ei", "lr": 0.05273, "width_scale": 1.1}},
        axis="depth", values=(4,), tested=(4,),
        fixed={**RELU_SGD, "batch_size": 32},
        budgets=_budgets(full_width=500),
    ),
]}


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise UserError(f"unknown study {name!r}; studies: {', '.join(STUDIES)}")
    return STUDIES[name]


def at_budget(study: Study, budget: str) -> Study:
    """The study as run at ``budget``: its axis values and learning-rate grid cut where the budget
    says so (a smoke run that tests the machinery, not the claim), tested values kept in the grid."""
    cut = study.budgets[budget]
    values = cut.values or study.values
    return study.model_copy(update={"values": values, "tested": tuple(v for v in study.tested if v in values),
                                    "lrs": cut.lrs or study.lrs})


def describe(study: Study) -> dict:
    """The declaration as shown by ``study show`` (JSON-ready)."""
    return study.model_dump(mode="json")


# ---- cells -----------------------------------------------------------------------------------

def arm_norm(study: Study, arm: str, rule: str) -> str | None:
    """The network norm of an arm; None for a fitted arm without a rule."""
    norm = study.arm_fields.get(arm, {}).get("norm", arm)
    if norm in FITTED_NORMS:
        return FITTED_NORMS[norm].format(rule=rule) if rule else None
    return norm


def arm_lr(study: Study, arm: str) -> float | None:
    """The learning rate of an arm's cells where the study has no lr grid: its own, else the shared one."""
    return study.arm_fields.get(arm, {}).get("lr", study.shared_lr)


def _cell_lrs(study: Study, arm: str, value) -> tuple:
    if study.axis == "lr":
        return (value,)
    return study.lrs or (arm_lr(study, arm),)


def cell_keys(study: Study, budget: Budget, rule: str) -> list[tuple[str, Any, float, int]]:
    """(arm, axis value, lr, seed) of every cell, the fitted arms only with a rule."""
    arms = [arm for arm in study.arms if arm_norm(study, arm, rule) is not None]
    return [(arm, value, lr, seed) for arm, value in itertools.product(arms, study.values)
            for lr in _cell_lrs(study, arm, value) for seed in budget.seeds]


def cell_config(study: Study, budget: Budget, rule: str, key: tuple) -> TrainConfig:
    """The training run of one cell: fixed fields, the budget, the setting, the arm's own fields."""
    arm, value, lr, seed = key
    own = study.arm_fields.get(arm, {})
    fields = {**study.fixed, "n_train": budget.n_train, "n_test": budget.n_test, "epochs": budget.epochs,
              "width": round(budget.width * own.get("width_scale", 1.0)),
              **(study.settings[value] if study.axis == "setting" else {}),
              **{k: v for k, v in own.items() if k not in OWN_FIELDS},
              "seed": seed, "lr": lr, "norm": arm_norm(study, arm, rule)}
    if study.axis not in ("lr", "setting"):
        fields[study.axis] = value
    return TrainConfig(**fields)


class StudyRun(Config):
    """What ``study run`` runs: the study, its budget and the fitted rule of the fitted arm; where
    (workers, executor, and ``device``: a study on ``cuda`` trains cells of its own, stored apart
    from the CPU ones, and its result is labelled with the device)."""

    study: str
    budget: Literal[BUDGETS] = "smoke"
    rule: str = ""
    workers: PositiveInt = 2
    executor: Literal[EXECUTORS] = "local"
    ray_address: str = ""
    device: Literal["cpu", "cuda"] = "cpu"


# ---- analyses: per-seed values of each arm under each condition -------------------------------

def _best_lr(histories: dict, study: Study, arm: str, value: float, seeds) -> float:
    """The arm's own best learning rate of the grid at this condition: best seed-mean accuracy."""
    return max(study.lrs, key=lambda lr: arm_values(histories, arm, value, lr, seeds, final_accuracy).mean())


def _tests(study: Study, histories: dict, seeds, rule: str) -> list[dict]:
    """The paired comparisons of the study: treatment vs baseline per condition and variant."""
    tests = [test for comparison in study.comparisons
             for test in _comparison_tests(study, comparison, histories, seeds, rule)]
    treatments = [t for t in study.treatments if arm_norm(study, t, rule) is not None]
    if study.analysis is None:
        return tests
    if study.analysis == "lr_range":
        for variant, floor in LR_RANGE_THRESHOLDS.items():
            counts = _lr_counts(study, histories, seeds, rule, floor)
            tests += [_pair(variant, "", t, study.baseline, counts[t], counts[study.baseline]) for t in treatments]
        return tests
    metric = METRICS[study.analysis]
    variants = [(f"shared lr {study.shared_lr:g}", lambda arm, value: study.shared_lr)]
    if study.analysis == "accuracy" and len(study.lrs) > 1:
        variants.append(("own best lr", lambda arm, value: _best_lr(histories, study, arm, value, seeds)))
    for (variant, lr_of), value, treatment in itertools.product(variants, study.tested, treatments):
        lr_t, lr_b = lr_of(treatment, value), lr_of(study.baseline, value)
        tests.append(_pair(variant, condition_label(study, value), treatment, study.baseline,
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
    arms = [arm for arm in study.arms if arm_norm(study, arm, rule) is not None]
    acc = {arm: np.array([[final_accuracy(histories[(arm, lr, lr, s)]) for s in seeds] for lr in study.values])
           for arm in arms}
    best = np.max([a.max(axis=0) for a in acc.values()], axis=0)  # per seed
    return {arm: (a >= floor(best)).sum(axis=0).astype(float) for arm, a in acc.items()}


def _comparison_tests(study: Study, comparison: Comparison, histories: dict, seeds, rule: str) -> list[dict]:
    """The paired tests of one declared comparison (each arm at its own learning rate)."""
    metric = METRICS[comparison.metric]
    present = [arm for arm in study.arms if arm_norm(study, arm, rule) is not None]

    def lr(arm: str, value) -> float:
        return _best_lr(histories, study, arm, value, seeds) if study.lrs else arm_lr(study, arm)

    def values(arm: str, value) -> np.ndarray:
        return arm_values(histories, arm, value, lr(arm, value), seeds, metric)

    tests = []
    for value, treatment in itertools.product(study.tested, [t for t in comparison.treatments if t in present]):
        if comparison.best_of:
            best = max(comparison.best_of, key=lambda arm: comparison.sign * values(arm, value).mean())
            baselines = [(best, f"{best} (best of {', '.join(comparison.best_of)})")]
        else:
            baselines = [(b, b) for b in comparison.baselines if b in present]
        for baseline, label in baselines:
            tests.append(_pair(comparison.variant, condition_label(study, value), treatment, label,
                               values(treatment, value), values(baseline, value),
                               lrs=(lr(treatment, value), lr(baseline, value)), kind=comparison.kind,
                               sign=comparison.sign, negligible=comparison.negligible, metric=comparison.metric,
                               any_treatment=comparison.any_treatment))
    return tests


def _pair(variant: str, condition: str, treatment: str, baseline: str, t_values, b_values, lrs=None,
          kind: str = "superiority", sign: int | None = None, negligible: float | None = None,
          metric: str = "", any_treatment: bool = False) -> dict:
    """One test's record; ``kind``, ``sign``, ``negligible`` default to the study's (judge)."""
    t_values, b_values = np.asarray(t_values, dtype=float), np.asarray(b_values, dtype=float)
    paired = np.isfinite(t_values) & np.isfinite(b_values)  # a metric a diverged run lacks drops its seed
    differences = t_values[paired] - b_values[paired]
    effect = paired_effect(differences)
    p = effect.p if kind == "superiority" else non_inferiority_p(differences, negligible)
    return {"variant": variant, "condition": condition, "treatment": treatment, "baseline": baseline,
            "treatment_values": t_values.tolist(), "baseline_values": b_values.tolist(),
            "lrs": [float(lr) for lr in lrs] if lrs else [], "effect": effect.effect, "low": effect.low,
            "high": effect.high, "n": effect.n, "p": p, "kind": kind, "sign": sign, "negligible": negligible,
            "metric": metric, "any_treatment": any_treatment}


def judge(tests: list[dict], sign: int, negligible: float) -> dict[str, str]:
    """Holm over all the study's tests, each test's verdict, and the claim's verdict per variant.

    ``sign`` and ``negligible`` are the study's, for the tests that do not carry their own."""
    adjusted = holm([t["p"] for t in tests])
    for test, p in zip(tests, adjusted):
        test["p_holm"] = p
        test["sign"] = sign if test.get("sign") is None else test["sign"]
        test["negligible"] = negligible if test.get("negligible") is None else test["negligible"]
        effect = PairedEffect(test["effect"], test["low"], test["high"], test["n"], test["p"])
        if test.get("kind") == "non-inferiority":
            test["verdict"] = non_inferiority_verdict(effect, p, test["negligible"])
        else:
            test["verdict"] = verdict(effect, p, test["sign"], test["negligible"])
    return {variant: _variant_verdict([t for t in tests if t["variant"] == variant])
            for variant in dict.fromkeys(t["variant"] for t in tests)}


def _variant_verdict(tests: list[dict]) -> str:
    """The claim's verdict from one variant's tests: per condition every test must agree, or with
    ``any_treatment`` one reproducing treatment suffices (refuted only if all refute); then every
    condition must agree."""
    per_condition = []
    for condition in dict.fromkeys(t["condition"] for t in tests):
        verdicts = [t["verdict"] for t in tests if t["condition"] == condition]
        if tests[0].get("any_treatment") and "reproduced" in verdicts:
            verdicts = ["reproduced"]
        per_condition.append(claim_verdict(verdicts))
    return claim_verdict(per_condition)


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
    study = at_budget(get_study(request.study), request.budget)
    if request.rule and not study.uses_rule:
        raise UserError(f"--rule {request.rule}: study {study.name} has no fitted arm; run it without --rule")
    resolve_device(request.device)  # --set device=cuda without a CUDA device fails here, before any work
    budget = study.budgets[request.budget]
    keys = cell_keys(study, budget, request.rule)
    configs = [cell_config(study, budget, request.rule, key).model_copy(update={"device": request.device})
               for key in keys]
    for config in {c.norm: c for c in configs}.values():
        rule = load_train_rule(config, store)
        if rule is not None and not rule.model.startswith(study.rule_model):
            raise UserError(f"--rule {rule.name}: study {study.name} needs a rule fitted to a {study.rule_model} "
                            f"model, not to {rule.model}")
    return study, budget, keys, configs


def plotted_lr(study: Study, histories: dict, seeds):
    """The learning rate shown for (arm, value): the value on an lr axis, the best of an lr grid,
    else the arm's own."""
    def lr_of(arm: str, value) -> float:
        if study.axis == "lr":
            return value
        if study.lrs:
            return study.shared_lr if study.analysis else _best_lr(histories, study, arm, value, seeds)
        return arm_lr(study, arm)
    return lr_of


def run_study(request: StudyRun, store: Store, progress: bool = True) -> Path:
    """Train (or reuse) every cell, analyse, and write the ``studies`` run; returns its path."""
    study, budget, keys, configs = plan(request, store)
    clock = Stopwatch()
    paths = run_grid(configs, request.workers, store, progress, label=f"study {study.name}",
                     executor=request.executor, ray_address=request.ray_address)
    histories = {key: load_history(path) for key, path in zip(keys, paths)}
    tests = _tests(study, histories, budget.seeds, request.rule)
    if study.analysis == "information":
        tests.insert(0, _information_sim(budget, store))
    verdicts = judge(tests, study.sign, study.negligible)
    identity = {"study": describe(study), "budget": request.budget, "rule": request.rule,
                **({"device": request.device} if request.device != "cpu" else {})}
    inputs = {"rules": {}, "data": run_inputs(configs[0], None)["data"]}
    for config in configs:
        inputs["rules"].update(run_inputs(config, load_train_rule(config, store))["rules"])
    cells = [{"arm": k[0], "value": k[1], "lr": k[2], "seed": k[3], "run_id": histories[k]["run_id"],
              "status": histories[k]["status"], "accuracy": final_accuracy(histories[k]),
              "started": histories[k]["run_started"], "seconds": histories[k]["run_seconds"]} for k in keys]
    plots = study_plots(study, histories, keys, budget.seeds, tests, plotted_lr(study, histories, budget.seeds))
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
                      "device": run.config.get("device", "cpu"),
                      "tests": json.loads(run.h5.attrs["tests"]), "verdicts": json.loads(run.h5.attrs["verdicts"]),
                      "cells": json.loads(run.h5.attrs["cells"]), "plots": sorted(run.h5.get("plots", {}))}
        key = (result["name"], result["budget"], result["device"])
        if key not in newest or result["finished"] >= newest[key]["finished"]:
            newest[key] = result
    order = list(STUDIES)
    return sorted(newest.values(), key=lambda r: (order.index(r["name"]) if r["name"] in order else 99,
                                                  r["budget"], r["device"]))


def budget_label(result: dict) -> str:
    """The budget of a stored study result, with its device where that is not the CPU ("full cuda")."""
    return result["budget"] if result["device"] == "cpu" else f"{result['budget']} {result['device']}"


NO_PAIRS = "n/a: no seed with a value in both arms (a run that diverged has none)"


def _effect(test: dict) -> str:
    return f"{_mean(test)} {_interval(test)}" if test["n"] else NO_PAIRS


def _mean(test: dict) -> str:
    return f"{test['effect']:+.4g}" if test["n"] else NO_PAIRS


def _interval(test: dict) -> str:
    return f"[{test['low']:+.4g}, {test['high']:+.4g}]" if test["n"] else "-"


def claims_rows(results: list[dict]) -> list[list[Any]]:
    """One row per study and variant: claim, source, budget, verdict, the tests' effects."""
    rows = []
    for result in results:
        for variant, claim_verdict_ in result["verdicts"].items():
            tests = [t for t in result["tests"] if t["variant"] == variant]
            effects = "; ".join(f"{t['treatment']} vs {t['baseline']}"
                                f"{' @ ' + t['condition'] if t['condition'] else ''}: {_effect(t)}" for t in tests)
            rows.append([result["name"], result["study"]["claim"], result["study"]["source"], budget_label(result),
                         variant, f"**{claim_verdict_}**", effects])
    return rows


def tests_rows(results: list[dict]) -> list[list[Any]]:
    """One row per test: effect, 95% CI, n, p, Holm p and verdict."""
    return [[r["name"], budget_label(r), t["variant"], t["condition"] or "-", f"{t['treatment']} - {t['baseline']}",
             _mean(t), _interval(t), t["n"], f"{t['p']:.3g}",
             f"{t['p_holm']:.3g}", t["verdict"]] for r in results for t in r["tests"]]


CLAIMS_HEADERS = ["study", "claim", "source", "budget", "variant", "verdict", "effect [95% CI] per test"]
TESTS_HEADERS = ["study", "budget", "variant", "condition", "difference", "effect", "95% CI", "n", "p",
                 "p (Holm)", "verdict"]


def study_table(results: list[dict], plots_dir: Path | None = None) -> str:
    """The markdown of ``study table``: the claims, every test, and (with ``plots_dir``) the plots."""
    versions = package_versions()
    parts = [f"Generated by `homeobridge study table` (homeobridge {versions['homeobridge']}, git "
             f"{short_commit(versions['git'])}) from the newest stored result of each study; every number "
             "below is read from a `studies` run of the store, whose training runs are listed there.",
             "## Claims", markdown_table(CLAIMS_HEADERS, claims_rows(results)),
             "## Tests (effect = mean paired difference over seeds; Holm within each study)",
             markdown_table(TESTS_HEADERS, tests_rows(results))]
    for result in results:
        cells = result["cells"]
        diverged = sum(c["status"] != "ok" for c in cells)
        rule = f" --rule {result['rule']}" if result["rule"] else ""
        device = f" --set device={result['device']}" if result["device"] != "cpu" else ""
        parts.append(f"### {result['name']} ({budget_label(result)})\n\nCriterion: {result['study']['criterion']}. "
                     f"Metric: {result['study']['metric']}. {len(cells)} training runs ({diverged} diverged), "
                     f"{cells_time(cells)}, this study run "
                     f"{result['wall_seconds'] / 60:.1f} min (cells already in the store are reused), "
                     f"study run `{result['run_id']}`, "
                     f"command `homeobridge study run {result['name']} --budget {result['budget']}{rule}{device}`.")
        if plots_dir is not None:
            parts += [f"![{name}]({plots_dir.name}/{plot_file(result, name)})"
                      for name in result["plots"]]
    return "\n\n".join(parts) + "\n"


def cells_time(cells: list[dict]) -> str:
    """How long a study's cells trained: summed, and as wall time where the cells record their start."""
    wall = cells_wall_minutes(cells)
    return (f"{sum(c.get('seconds', 0.0) for c in cells) / 60:.0f} min of training summed over them"
            + (f", {wall:.0f} min of wall time with one or more of them training" if wall is not None else ""))


def cells_wall_minutes(cells: list[dict]) -> float | None:
    """The minutes during which one or more of a study's cells was training: the length of the
    union of their [started, started + seconds] intervals, so the study's wall time over every
    session that trained it, without the gaps between sessions. None for a result stored before
    cells recorded their start."""
    if not cells or any("started" not in cell for cell in cells):
        return None
    spans = sorted((datetime.fromisoformat(cell["started"]).timestamp(), cell["seconds"]) for cell in cells)
    covered, reached = 0.0, -math.inf
    for start, seconds in spans:
        covered += max(0.0, start + seconds - max(start, reached))
        reached = max(reached, start + seconds)
    return covered / 60


def plot_file(result: dict, plot: str) -> str:
    """The file name of one of a result's plots: ``<study>-<budget>[-<device>]-<plot>.png``."""
    return f"{result['name']}-{budget_label(result).replace(' ', '-')}-{plot}.png"


def export_study_plots(store: Store, results: list[dict], folder: Path) -> list[Path]:
    """Write each result's PNG plots to ``folder`` as ``<study>-<budget>-<plot>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for result in results:
        with open_run(result["path"], STUDY_KIND) as run:
            for name in result["plots"]:
                path = folder / plot_file(result, name)
                path.write_bytes(run.array(f"plots/{name}").tobytes())
                written.append(path)
    return written
