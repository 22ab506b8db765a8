"""Running a study: plan its cells (before any work), train them or find them in the store,
judge them, and store a ``studies`` run (the declaration, every cell's run id, the tests, the
verdicts, the plots)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import sims
from bridge.core.errors import UserError
from bridge.core.store import Stopwatch, Store, open_run
from bridge.experiments.executor import run_grid
from bridge.experiments.metrics import final_accuracy
from bridge.experiments.plots import study_plots
from bridge.experiments.studies.catalogue import get_study
from bridge.experiments.studies.cells import CellKey, StudyRun, cell_config, cell_keys, uses_rule
from bridge.experiments.studies.declaration import Budget, Comparison, Study, at_budget, describe
from bridge.experiments.studies.judging import Histories, Labels, PairedTest, comparison_tests, judge, lr_of, pair
from bridge.learning.train import TrainConfig, load_history, load_train_rule, resolve_device, run_inputs

STUDY_KIND = "studies"
BRIAN2_INFORMATION = Comparison(variant="Brian2 neuron", metric="information", treatments=("ip (infomax rule)",),
                                baselines=("no ip",), negligible=0.02, lr_policy="declared")


def plan(request: StudyRun, store: Store) -> tuple[Study, Budget, list[CellKey], list[TrainConfig]]:
    """The study's cells as TrainConfigs; the fitted arm's rule must load (before any work)."""
    study = at_budget(get_study(request.study), request.budget)
    if request.rule and not uses_rule(study):
        raise UserError(f"--rule {request.rule}: study {study.name} has no fitted arm; run it without --rule")
    resolve_device(request.device)  # --set device=cuda without a CUDA device fails here, before any work
    budget = study.budgets[request.budget]
    keys = cell_keys(study, budget, request.rule)
    where = {"device": request.device, "engine": request.engine}
    configs = [cell_config(study, budget, request.rule, key).model_copy(update=where) for key in keys]
    for config in {c.norm: c for c in configs}.values():
        rule = load_train_rule(config, store)
        if rule is not None and not fits_study(rule, study):
            raise UserError(f"--rule {rule.name}: study {study.name} needs a rule fitted to a {study.rule_model} "
                            f"model{_file_kind(study)}, not to {rule.model}")
    return study, budget, keys, configs


FILE_KINDS = {"lif-ip": True, "rate-ip": False}  # the studies a model file's rule runs: spiking or not


def _file_kind(study: Study) -> str:
    """The clause naming the kind of model file whose rule can run the study (' or a rate model
    file'), or '' for a study no model file's rule runs."""
    if study.rule_model not in FILE_KINDS:
        return ""
    return f" or a {'spiking' if FILE_KINDS[study.rule_model] else 'rate'} model file"


def fits_study(rule, study: Study) -> bool:
    """Whether a fitted rule can run a study's fitted arms: fitted to its ``rule_model``, or to a
    model file of the same kind, a spiking neuron for a spiking study (lif-ip), a rate neuron
    for a rate one (``sims.model_neuron``)."""
    if rule.model_file is not None:
        spiking = bool(rule.model_file.get("threshold"))
        return FILE_KINDS.get(study.rule_model) == spiking
    return rule.model.startswith(study.rule_model)


def study_tests(study: Study, histories: Histories, seeds, rule: str) -> list[PairedTest]:
    """Every declared comparison's paired tests (before Holm)."""
    return [test for comparison in study.comparisons
            for test in comparison_tests(study, comparison, histories, seeds, rule)]


def information_sim(budget: Budget, store: Store) -> PairedTest:
    """The Brian2 part of claim (d): H2 of an infomax-IP neuron vs the same neuron without IP,
    on N(1, 4^2) input, one simulation per seed (paired by seed)."""
    ip, no_ip = [], []
    for seed in budget.seeds:
        path = sims.run("information", [f"duration={budget.sim_duration:g}",
                                        f"measure={budget.sim_duration / 4:g}", f"seed={seed}"], "numpy", store)
        with open_run(path, "sims") as run:
            ip.append(float(run.array("ip/renyi_entropy")))
            no_ip.append(float(run.array("no_ip/renyi_entropy")))
    return pair(BRIAN2_INFORMATION, Labels("Brian2 neuron", "N(1, 4^2) input", "ip (infomax rule)", "no ip"), ip, no_ip)


def plotted_lr(study: Study, histories: Histories, seeds):
    """The learning rate shown for (arm, value): the value on an lr axis, else the rate the first
    comparison judges the arm at."""
    def shown(arm: str, value) -> float:
        if study.axis == "lr":
            return value
        return lr_of(study, study.comparisons[0], histories, arm, value, seeds).lr
    return shown


def _cells(keys: list[CellKey], histories: Histories) -> list[dict]:
    return [{**key._asdict(), "run_id": histories[key]["run_id"], "status": histories[key]["status"],
             "accuracy": final_accuracy(histories[key]), "started": histories[key]["run_started"],
             "seconds": histories[key]["run_seconds"]} for key in keys]


def run_study(request: StudyRun, store: Store, progress: bool = True) -> Path:
    """Train (or reuse) every cell, judge, and write the ``studies`` run; returns its path."""
    study, budget, keys, configs = plan(request, store)
    clock = Stopwatch()
    paths = run_grid(configs, request.workers, store, progress, label=f"study {study.name}",
                     executor=request.executor, ray_address=request.ray_address)
    histories = {key: load_history(path) for key, path in zip(keys, paths)}
    tests = study_tests(study, histories, budget.seeds, request.rule)
    if study.sim_test == "information":
        tests.insert(0, information_sim(budget, store))
    tests = judge(tests)
    identity = {"study": describe(study), "budget": request.budget, "rule": request.rule,
                **({"device": request.device} if request.device != "cpu" else {}),
                **({"engine": request.engine} if request.engine != "auto" else {})}
    inputs = {"rules": {}, "data": run_inputs(configs[0], None)["data"]}
    for config in configs:
        inputs["rules"].update(run_inputs(config, load_train_rule(config, store))["rules"])
    plots = study_plots(study, histories, keys, budget.seeds, tests, plotted_lr(study, histories, budget.seeds))
    with store.write(STUDY_KIND, study.name, identity, budget.seeds[0], clock, inputs) as h5:
        h5.attrs.update(budget=request.budget, tests=json.dumps([t.model_dump() for t in tests]),
                        cells=json.dumps(_cells(keys, histories)))
        for name, png in plots.items():
            h5.create_dataset(f"plots/{name}", data=np.frombuffer(png, dtype=np.uint8))
    return store.path_for(STUDY_KIND, study.name, identity, inputs)
