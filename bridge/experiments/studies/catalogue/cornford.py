"""Cornford et al. (2021): Dale's-principle ANNs (DANNs) learn as well as standard ANNs."""

from __future__ import annotations

from bridge.experiments.studies.catalogue.common import DECLARED, RELU_SGD, budgets, full_scale
from bridge.experiments.studies.declaration import Comparison, Cut, Study

CORNFORD = ("Cornford, Kalajdzievski, Leite, Lamarquette, Kullmann & Richards (2021), ICLR, 'Learning to live "
            "with Dale's principle: ANNs with separate excitatory and inhibitory units'")

DALE = Study(
    name="dale-ann", declared=DECLARED, source=f"{CORNFORD}; reference code linclab/ltlwdp",
    claim="DANNs (Dale's-principle nets with subtractive and divisive inhibition) 'learn just as well as standard "
          "ANNs', and the corrected updates of the inhibitory parameters are what make them learn well (uncorrected "
          "DANNs and sign-constrained ColumnEI nets learn worse)",
    protocol="the reference configs: 3 hidden layers of 500 (DANN: 500 E + 50 I; ColumnEI: 550 units, E:I 10:1), "
             "ReLU, plain SGD, batch 32, learning rates tuned there on MNIST (0.2976, 0.1107, 0.003981, 0.05273), "
             "kept, not re-tuned",
    comparisons=(
        Comparison(variant="DANN learns as well as the MLP (non-inferior by 1 point)", metric="accuracy",
                   treatments=("dann",), baselines=("mlp",), kind="non-inferiority", negligible=0.01,
                   lr_policy="declared"),
        Comparison(variant="corrected DANN beats uncorrected DANN and ColumnEI", metric="accuracy",
                   treatments=("dann",), baselines=("dann-uncorrected", "column-ei"), negligible=0.005,
                   lr_policy="declared"),
    ),
    arms=("mlp", "dann", "dann-uncorrected", "column-ei"),
    arm_fields={"mlp": {"norm": "none", "init": "cornford", "lr": 0.2976},
                "dann": {"norm": "dale", "lr": 0.1107},
                "dann-uncorrected": {"norm": "dale-uncorrected", "lr": 0.003981},
                "column-ei": {"norm": "column-ei", "lr": 0.05273, "width_scale": 1.1}},
    axis="depth", values=(4,), tested=(4,), fixed={**RELU_SGD, "batch_size": 32}, budgets=budgets(full_width=500),
    cuts=(Cut(on=DECLARED, what="10 epochs instead of the reference's 50", before_runs=True, reason="to fit"),),
    amendments=(full_scale("the learning rates kept as the reference tuned them (no selection)"),),
)

STUDIES = (DALE,)
