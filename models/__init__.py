"""Brian2 models with their homeostatic rules, and the registry behind ``homeobridge models``.

Each model module holds explicit, unit-checked Brian2 equations, a parameter dataclass whose
defaults come from its source paper, a builder, and the torch rendering of the same rule.
:func:`get` looks a model up by its registry name; :func:`listing` describes them all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from bridge.core.errors import UserError
from models import (
    adaptive_threshold,
    dale,
    ip_gaussian,
    ip_infomax,
    ip_triesch,
    lif_ip,
    oja,
    rate_ip,
    synaptic_scaling,
)
from models.params import describe
from models.rate_ip import RateIPRule, params_dataclass

INPUT_PLACEHOLDER = "x : 1  # input, defined by the experiment (OU process, TimedArray, constant)\n"


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: ``transfer`` is sigmoid / tanh / lif / linear; ``rule`` for rate IP models."""

    name: str
    summary: str
    transfer: str
    params: type
    equations: str
    source: str
    rule: RateIPRule | None = None
    model_file: Callable[[], dict] | None = None  # the model as a model file's content (bridge.core.model_file)

    def default_params(self) -> Any:
        return self.params()

    def params_from(self, overrides: dict[str, Any]) -> Any:
        """The default parameters with ``overrides`` applied; UserError on an unknown name."""
        names = {f.name for f in dataclasses.fields(self.params)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise UserError(f"model {self.name}: unknown parameter(s) {', '.join(unknown)}; "
                            f"valid: {', '.join(sorted(names))}")
        return dataclasses.replace(self.params(), **overrides)

    def describe(self) -> dict:
        return {"name": self.name, "summary": self.summary, "transfer": self.transfer,
                "source": self.source, "equations": self.equations.strip(),
                "params": describe(self.params())}


def _rate_ip(name: str, rule: RateIPRule, summary: str) -> ModelSpec:
    return ModelSpec(name, summary, rule.transfer, params_dataclass(rule),
                     rule.brian2_equations(INPUT_PLACEHOLDER), rule.source, rule,
                     model_file=partial(rate_ip.model_file, name, rule))


MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in [
    _rate_ip("rate-ip-triesch", ip_triesch.RULE,
             "sigmoid rate neuron, Triesch 2005 IP toward an exponential output (mean mu)"),
    _rate_ip("rate-ip-infomax", ip_infomax.RULE,
             "tanh rate neuron, infomax IP (Bell & Sejnowski 1995; Shaw et al. 2020)"),
    _rate_ip("rate-ip-gaussian", ip_gaussian.RULE,
             "tanh rate neuron, Schrauwen et al. 2008 IP toward a Gaussian output"),
    ModelSpec("lif-ip", "LIF whose threshold and input gain match the rate's mean and variance "
              "to targets", "lif", lif_ip.LifIPParams,
              lif_ip.equations("I : 1  # input\n") + f"threshold: {lif_ip.THRESHOLD}\n"
              f"reset: {lif_ip.RESET}", "Triesch 2005; Stemmler & Koch 1999 (see models/lif_ip.py)",
              model_file=lif_ip.model_file),
    ModelSpec("lif-adaptive-threshold", "LIF with Diehl & Cook's adaptive threshold theta", "lif",
              adaptive_threshold.AdaptiveThresholdParams,
              adaptive_threshold.equations("I : volt  # input\n")
              + f"threshold: {adaptive_threshold.THRESHOLD}\nreset: {adaptive_threshold.RESET}",
              "Diehl & Cook 2015, Front. Comput. Neurosci. 9:99", model_file=adaptive_threshold.model_file),
    ModelSpec("synaptic-scaling", "LIF neurons fed by Poisson inputs whose weights scale "
              "multiplicatively toward a goal rate", "lif", synaptic_scaling.SynapticScalingParams,
              synaptic_scaling.NEURON_EQUATIONS + f"threshold: {synaptic_scaling.THRESHOLD}\n"
              f"reset: {synaptic_scaling.RESET}\nsynapses:{synaptic_scaling.SYNAPSE_MODEL}"
              "on_pre: v_post += w",
              "van Rossum, Bi & Turrigiano 2000, J. Neurosci. 20:8812"),
    ModelSpec("oja", "linear rate neuron with Oja's rule on its input weights", "linear",
              oja.OjaParams, f"inputs: {oja.INPUT_EQUATIONS}\noutput: {oja.OUTPUT_EQUATIONS}\n"
              f"synapses:{oja.SYNAPSE_MODEL}", "Oja 1982, J. Math. Biol. 15:267"),
    ModelSpec("dale-ei", "E population under feedforward subtractive and divisive inhibition "
              "(Dale's ANN in rate form)", "linear", dale.DaleParams,
              "z_i = sum_k W_IX x_k (summed)\nz_e = sum_k W_EX x_k (summed)\n"
              "inhibition = sum_j W_EI z_i (summed)\nshunt = sum_j W_EI exp(alpha_j) z_i (summed)\n"
              f"I units:{dale.I_EQUATIONS}E units:{dale.E_EQUATIONS}",
              "Cornford et al. 2021, ICLR"),
]}


def get(name: str) -> ModelSpec:
    """The model called ``name``; UserError listing the valid names otherwise."""
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    return MODELS[name]


def as_model_file(name: str) -> dict:
    """Built-in model ``name`` as a model file's content (named ``<name>-file``); UserError for one a
    model file cannot express (synapses and populations of several groups have no place in it)."""
    spec = get(name)
    if spec.model_file is None:
        writable = ", ".join(n for n, s in MODELS.items() if s.model_file is not None)
        raise UserError(f"model {name!r} has no model-file form (a model file holds one neuron group, no "
                        f"synapses); these have: {writable}")
    return spec.model_file()


def listing() -> list[dict]:
    return [spec.describe() for spec in MODELS.values()]
