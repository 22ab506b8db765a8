"""Shen, Wang & Navlakha (2021): synaptic-scaling normalisation, competitive and equalising."""

from __future__ import annotations

from bridge.experiments.studies.catalogue.common import DECLARED, NARROW, RELU_SGD, budgets, full_scale
from bridge.experiments.studies.declaration import Comparison, Cut, Study

SHEN = ("Shen, Wang & Navlakha (2021), Neural Computation 33(12), 'A correspondence between normalization "
        "strategies in artificial and biological neural networks'")
SETTINGS = ("fashion-mnist mlp", "digits mlp", "digits cnn")
# all of sklearn's digits (75/25 split) at every budget: 1,147 to train, 200 held out for validation
DIGITS = {"n_train": 1147, "n_test": 450, "n_val": 200}

SCALING = Study(
    name="shen-scaling", declared=DECLARED, source=f"{SHEN}; scaling rule of van Rossum, Bi & Turrigiano (2000)",
    claim="synaptic-scaling normalisation 'performs competitively against existing normalization methods on several "
          "data sets', and normalisation pushes units toward a homeostatic state 'where all neurons are equally used'",
    protocol="ReLU nets, batch 64, plain SGD; Fashion-MNIST runs a 4-layer MLP, digits a 4-layer MLP and a CNN; "
             "fitted: the fitted Brian2 scaling rule; unit usage: the coefficient of variation over units of each "
             "unit's mean |activation| on a probe of test images, mean over hidden layers",
    comparisons=(
        Comparison(variant="competitive (non-inferior by 1 point)", metric="accuracy", treatments=("scaling", "fitted"),
                   best_of=("bn", "ln", "wn"), kind="non-inferiority", negligible=0.01),
        Comparison(variant="units equally used (unit CV lower than none)", metric="unit_cv",
                   treatments=("bn", "ln", "wn", "scaling", "fitted"), baselines=("none",), sign=-1, negligible=0.02),
    ),
    arms=("none", "bn", "ln", "wn", "scaling", "fitted"),
    axis="setting", values=SETTINGS, tested=SETTINGS,
    settings={"fashion-mnist mlp": {"dataset": "fashion-mnist", "kind": "mlp", "depth": 4},
              "digits mlp": {"dataset": "digits", "kind": "mlp", "depth": 4, **DIGITS},
              "digits cnn": {"dataset": "digits", "kind": "cnn", "depth": 4, "width": 16, **DIGITS}},
    lrs=(0.01, 0.1), rule_model="synaptic-scaling", fixed={**RELU_SGD, "batch_size": 64},
    budgets=budgets(full_width=128, small_lrs=(0.1,)),
    cuts=(NARROW, Cut(on=DECLARED, what="a Fashion-MNIST CNN setting", before_runs=True,
                      reason="10 epochs x 5 seeds x 6 arms x 2 learning rates is about 4 h on this CPU")),
    amendments=(full_scale("digits hold out 200 of their 1,347 training images for validation"),),
)

STUDIES = (SCALING,)
