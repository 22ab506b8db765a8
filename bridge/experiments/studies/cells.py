"""A study's cells: one training run per (arm, axis value, learning rate, seed), and the request
that runs them."""

from __future__ import annotations

import itertools
from typing import Any, Literal, NamedTuple

from pydantic import PositiveInt

from bridge.core.config import Config
from bridge.experiments.executor import EXECUTORS
from bridge.experiments.studies.declaration import BUDGETS, Budget, Study
from bridge.learning.train import ENGINE_CHOICES, TrainConfig

FITTED_NORMS = {"fitted+affine": "fitted:{rule}+affine", "fitted": "fitted:{rule}",
                "fitted-online": "fitted-online:{rule}"}  # arm norms resolved with the rule given to `study run`
OWN_FIELDS = ("norm", "lr", "width_scale")  # arm_fields keys that are not TrainConfig fields as such


class CellKey(NamedTuple):
    """One cell of a study's grid (on a learning-rate axis, ``value`` is the rate)."""

    arm: str
    value: float | str
    lr: float
    seed: int


def arm_norm(study: Study, arm: str, rule: str) -> str | None:
    """The network norm of an arm; None for a fitted arm without a rule."""
    norm = study.arm_fields.get(arm, {}).get("norm", arm)
    if norm in FITTED_NORMS:
        return FITTED_NORMS[norm].format(rule=rule) if rule else None
    return norm


def uses_rule(study: Study) -> bool:
    """Whether an arm runs a fitted rule (fitted to a ``rule_model`` run, given to ``study run --rule``)."""
    return any(study.arm_fields.get(arm, {}).get("norm", arm) in FITTED_NORMS for arm in study.arms)


def present_arms(study: Study, rule: str) -> list[str]:
    """The arms that run: every arm, the fitted ones only with a rule."""
    return [arm for arm in study.arms if arm_norm(study, arm, rule) is not None]


def declared_lr(study: Study, arm: str) -> float | None:
    """An arm's own declared learning rate, else the shared one."""
    return study.arm_fields.get(arm, {}).get("lr", study.shared_lr)


def _cell_lrs(study: Study, arm: str, value) -> tuple:
    if study.axis == "lr":
        return (value,)
    return study.lrs or (declared_lr(study, arm),)


def cell_keys(study: Study, budget: Budget, rule: str) -> list[CellKey]:
    """Every cell of the study at ``budget``, the fitted arms only with a rule."""
    return [CellKey(arm, value, lr, seed) for arm, value in itertools.product(present_arms(study, rule), study.values)
            for lr in _cell_lrs(study, arm, value) for seed in budget.seeds]


def cell_config(study: Study, budget: Budget, rule: str, key: CellKey) -> TrainConfig:
    """The training run of one cell: fixed fields, the budget, the setting, the arm's own fields."""
    own = study.arm_fields.get(key.arm, {})
    fields: dict[str, Any] = {
        **study.fixed, "n_train": budget.n_train, "n_test": budget.n_test, "n_val": budget.n_val,
        "epochs": budget.epochs, "width": round(budget.width * own.get("width_scale", 1.0)),
        **(study.settings[key.value] if study.axis == "setting" else {}),
        **{k: v for k, v in own.items() if k not in OWN_FIELDS},
        "seed": key.seed, "lr": key.lr, "norm": arm_norm(study, key.arm, rule)}
    if study.axis not in ("lr", "setting"):
        fields[study.axis] = key.value
    return TrainConfig(**fields)


class StudyRun(Config):
    """What ``study run`` runs: the study, its budget and the fitted rule of the fitted arm; where
    (workers, executor, and ``device``: a study on ``cuda`` trains cells of its own, stored apart
    from the CPU ones, and its result is labelled with the device; ``engine`` "single": every cell
    on the single engine, the reference path, stored apart from the ensemble engine's cells)."""

    study: str
    budget: Literal[BUDGETS] = "smoke"
    rule: str = ""
    workers: PositiveInt = 2
    executor: Literal[EXECUTORS] = "local"
    ray_address: str = ""
    device: Literal["cpu", "cuda"] = "cpu"
    engine: Literal[ENGINE_CHOICES] = "auto"
