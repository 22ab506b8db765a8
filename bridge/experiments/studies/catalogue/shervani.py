"""Shervani-Tabar, Mirhoseini & Rosenbaum (2024): Oja's rule alongside backprop."""

from __future__ import annotations

from bridge.experiments.studies.catalogue.common import DECLARED, DEEP_TANH, NARROW, budgets, cpu_budget, full_scale
from bridge.experiments.studies.declaration import Amendment, Budget, Comparison, Cut, Study

SHERVANI = ("Shervani-Tabar, Mirhoseini & Rosenbaum (2024), 'Oja's plasticity rule overcomes several challenges "
            "of training neural networks under biological constraints'")
OJA_ETAS = (1e-4, 1e-3, 1e-2)
# one example a step: eta |x|^2 is about 1.5 at eta 1e-2 on Fashion-MNIST (median |x|^2 149, up to 511)
ONLINE_OJA_ETAS = (1e-5, 1e-4, 1e-3)
ONLINE_LRS = (0.001, 0.003, 0.01, 0.03)  # SGD at batch 1, for every arm: each arm's best on validation
LRS = (0.01, 0.05)


def _oja_arms(etas: tuple[float, ...], norm: str = "oja") -> dict[str, dict]:
    return {f"{norm} {eta:g}": {"norm": norm, "oja_eta": eta} for eta in etas}


def _protocol(etas: tuple[float, ...], lrs: tuple[float, ...]) -> str:
    return (f"SGD + Oja (Oja's subspace rule dW = eta (y^T x - y^T y W) / B after each SGD step, eta in "
            f"{', '.join(f'{e:g}' for e in etas)}, each reported) against plain SGD, each arm at its best SGD rate of "
            f"{', '.join(f'{lr:g}' for lr in lrs)} on validation accuracy; no normalisation layers, no Adam; activity "
            "drift: |log10(activity scale of the last hidden layer / the first's)|")


def _comparisons(treatments: tuple[str, ...], what: str = "Oja") -> tuple[Comparison, ...]:
    return (
        Comparison(variant=f"{what} improves accuracy", metric="accuracy", treatments=treatments, baselines=("sgd",),
                   negligible=0.005, any_treatment=True),
        Comparison(variant=f"{what} keeps the activity scale", metric="activity_drift", treatments=treatments,
                   baselines=("sgd",), sign=-1, negligible=0.05, any_treatment=True),
    )


def _oja_study(name: str, claim: str, setting: str, axis: str, values: tuple, fixed: dict,
               budgets: dict[str, Budget], tested: tuple | None = None, cuts: tuple[Cut, ...] = (NARROW,),
               amendment: Amendment | None = None) -> Study:
    """A Shervani-Tabar et al. claim: plain SGD against SGD + Oja at three declared Oja rates."""
    arms = _oja_arms(OJA_ETAS)
    return Study(
        name=name, claim=claim, source=SHERVANI, declared=DECLARED, protocol=f"{setting}; {_protocol(OJA_ETAS, LRS)}",
        comparisons=_comparisons(tuple(arms)), arms=("sgd", *arms), arm_fields={"sgd": {"norm": "none"}, **arms},
        axis=axis, values=values, tested=values if tested is None else tested, lrs=LRS,
        fixed=fixed, budgets=budgets, cuts=cuts,
        amendments=(amendment or full_scale("each arm at its best SGD rate of 0.01 and 0.05 (was: all at 0.05)"),),
    )


_ONLINE_OJA, _ONLINE_POST = _oja_arms(ONLINE_OJA_ETAS), _oja_arms(ONLINE_OJA_ETAS, "oja-post")
ONLINE = Study(
    name="oja-online", source=SHERVANI, declared=DECLARED,
    claim="under online learning (batch size 1) Oja's rule alongside backprop substantially improves plain "
          "backpropagation, without batching, normalisation or adaptive optimisers",
    protocol=f"a 4-layer tanh MLP trained one example at a time (batch 1); {_protocol(ONLINE_OJA_ETAS, ONLINE_LRS)}; "
             "oja-post: the same rule on the activation's output tanh(x W^T + b) (a variant)",
    comparisons=(*_comparisons(tuple(_ONLINE_OJA)), *_comparisons(tuple(_ONLINE_POST), "Oja on the output (variant)")),
    arms=("sgd", *_ONLINE_OJA, *_ONLINE_POST), arm_fields={"sgd": {"norm": "none"}, **_ONLINE_OJA, **_ONLINE_POST},
    axis="batch_size", values=(1,), tested=(1,), lrs=ONLINE_LRS, fixed={**DEEP_TANH, "depth": 4, "batch_size": 1},
    budgets=budgets(full_width=128, small_lrs=(0.01,), full_train=20000),
    cuts=(NARROW, cpu_budget("20,000 of the 55,000 training images (batch 1, every arm, rate and seed kept)", 6.4,
                             2.3)),
    amendments=(full_scale(
        "SGD rates 0.001-0.03 for every arm (was: 0.05 for all), Oja rates 1e-5, 1e-4, 1e-3 (was: 1e-4-1e-2) and "
        "Oja on the activation's output as variant arms; 20,000 training images on the CPU (was: 10,000), all 55,000 "
        "in a GPU session (its budget declared then)",
        "at lr 0.05 per example and eta |x|^2 about 1.5 at eta 1e-2, every seed of the earlier run diverged whatever "
        "Oja's merit"),),
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
