"""Shervani-Tabar, Mirhoseini & Rosenbaum (2024): Oja's rule alongside backprop."""

from __future__ import annotations

from bridge.experiments.studies.catalogue.common import DECLARED, DEEP_TANH, NARROW, budgets
from bridge.experiments.studies.declaration import Budget, Comparison, Cut, Study

SHERVANI = ("Shervani-Tabar, Mirhoseini & Rosenbaum (2024), 'Oja's plasticity rule overcomes several challenges "
            "of training neural networks under biological constraints'")
OJA_ETAS = (1e-4, 1e-3, 1e-2)
OJA_ARMS = {f"oja {eta:g}": {"norm": "oja", "oja_eta": eta} for eta in OJA_ETAS}
OJA_PROTOCOL = (f"SGD + Oja (Oja's subspace rule dW = eta (y^T x - y^T y W) / B after each SGD step, eta in "
                f"{', '.join(f'{e:g}' for e in OJA_ETAS)}, each reported) against plain SGD at lr 0.05; no "
                "normalisation layers, no Adam; activity drift: |log10(activity scale of the last hidden layer / "
                "the first's)|")


def _oja_study(name: str, claim: str, setting: str, axis: str, values: tuple, fixed: dict,
               budgets: dict[str, Budget], tested: tuple | None = None, cuts: tuple[Cut, ...] = (NARROW,)) -> Study:
    """A Shervani-Tabar et al. claim: plain SGD against SGD + Oja at three declared Oja rates."""
    return Study(
        name=name, claim=claim, source=SHERVANI, declared=DECLARED, protocol=f"{setting}; {OJA_PROTOCOL}",
        comparisons=(
            Comparison(variant="Oja improves accuracy", metric="accuracy", treatments=tuple(OJA_ARMS),
                       baselines=("sgd",), negligible=0.005, any_treatment=True, lr_policy="shared"),
            Comparison(variant="Oja keeps the activity scale", metric="activity_drift", treatments=tuple(OJA_ARMS),
                       baselines=("sgd",), sign=-1, negligible=0.05, any_treatment=True, lr_policy="shared"),
        ),
        arms=("sgd", *OJA_ARMS), arm_fields={"sgd": {"norm": "none"}, **OJA_ARMS},
        axis=axis, values=values, tested=values if tested is None else tested, shared_lr=0.05,
        fixed=fixed, budgets=budgets, cuts=cuts,
    )


ONLINE = _oja_study(
    name="oja-online",
    claim="under online learning (batch size 1) Oja's rule alongside backprop substantially improves plain "
          "backpropagation, without batching, normalisation or adaptive optimisers",
    setting="a 4-layer tanh MLP trained one example at a time (batch 1)",
    axis="batch_size", values=(1,), fixed={**DEEP_TANH, "depth": 4, "batch_size": 1},
    budgets=budgets(full_width=128, full_epochs=10, full_train=10000),
    cuts=(NARROW, Cut(on=DECLARED, what="10,000 of the 60,000 training images", before_runs=True,
                      reason="measured on one core: 1.1 ms per image for SGD, 2.6 ms with Oja, so all 60k images "
                             "for 10 epochs would be ~3.7 h for the 20 runs")),
)
DEPTH = _oja_study(
    name="oja-depth", claim="in deep architectures Oja's rule alongside backprop substantially improves plain "
                            "backpropagation",
    setting="tanh MLPs of depth 10 and 20, batch 64", axis="depth", values=(10, 20), fixed=DEEP_TANH,
    budgets=budgets(full_width=128),
)
BAD_INIT = _oja_study(
    name="oja-bad-init", claim="under sub-optimal weight initialisation Oja's rule alongside backprop substantially "
                               "improves plain backpropagation",
    setting="a 5-layer tanh MLP, batch 64, every weight multiplied by 0.1 or 3 after PyTorch's default "
            "initialisation (1: the reference, not tested)",
    axis="init_scale", values=(0.1, 1.0, 3.0), tested=(0.1, 3.0), fixed={**DEEP_TANH, "depth": 5},
    budgets=budgets(full_width=128),
)

STUDIES = (ONLINE, DEPTH, BAD_INIT)
