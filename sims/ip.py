"""The intrinsic-plasticity experiments: ``homeostasis-sweep`` and ``fi-curve``.

One engine (:func:`simulate_ip`) for every IP model (rate-ip-*, lif-ip): all conditions live
in ONE NeuronGroup, each neuron with its own ``(constant)`` input mean ``mu`` and standard
deviation ``sigma`` of an Ornstein-Uhlenbeck input::

    dx/dt = (mu - x) / tau_in + sigma * sqrt((2 - dt/tau_in) / tau_in) * xi

(the noise amplitude carries the forward-Euler correction, so the simulated input's
stationary standard deviation is exactly sigma). Phases, in one Network:

1. f-I before: a second group (one neuron per condition and test input, constant input)
   whose gain and bias are ``linked`` to the adapting group and never plastic, run alone;
2. adaptation for ``duration`` seconds, gain and bias sampled every ``record_dt``;
3. the last ``measure`` seconds of it: outputs recorded; ``final/*`` values are the means of
   the samples in this window (this averages out the rule's step-to-step jitter);
4. f-I after: plasticity frozen (learning rates set to 0), the f-I group run alone again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from bridge.core.config import Config
from bridge.core.errors import UserError
from bridge.core.model_file import CheckedModel, checked, read_model_file
from models import MODELS, ModelSpec, get, lif_ip, rate_ip
from models.params import describe
from sims.model_neuron import FileNeuron

RATE_IP_MODELS = ("rate-ip-triesch", "rate-ip-infomax", "rate-ip-gaussian")
IP_MODELS = (*RATE_IP_MODELS, "lif-ip")
RATE_BIN = 0.1  # seconds: spiking output variance is the variance of the rate in these bins


def ou_input(var: str) -> str:
    return (f"d{var}/dt = (mu - {var}) / tau_in + sigma * sqrt((2 - dt / tau_in) / tau_in) * xi : 1\n"
            "mu : 1 (constant)\nsigma : 1 (constant)\n")


def check_windows(cfg: Config, total: str, model: str) -> None:
    """``0 < measure <= cfg.<total>``, ``record_dt >= dt`` (seconds) and ``cfg.model_params`` valid
    for ``model``; ValueError naming the values (before any work)."""
    if cfg.measure > getattr(cfg, total):
        raise ValueError(f"need 0 < measure <= {total}, got measure={cfg.measure}, {total}={getattr(cfg, total)}")
    if cfg.record_dt < cfg.dt:
        raise ValueError(f"need record_dt >= dt, got record_dt={cfg.record_dt}, dt={cfg.dt}")
    if is_model_file(model):
        file_model(model, cfg.model_params)
    else:
        model_params(get(model), cfg.model_params)


class IPRunConfig(Config):
    """Settings shared by the IP experiments (times in seconds); validated when built."""

    model: str = "rate-ip-triesch"  # a built-in IP model or a model file (.toml, sims/model_neuron.py)
    duration: PositiveFloat = 150.0
    measure: PositiveFloat = 30.0
    dt: PositiveFloat = 0.001
    tau_in: PositiveFloat = 0.002
    record_dt: PositiveFloat = 0.1
    fi_min: float = -4.0
    fi_max: float = 4.0
    fi_points: Annotated[int, Field(ge=2)] = 17
    fi_duration: PositiveFloat = 2.0
    model_params: str = ""
    seed: NonNegativeInt = 0

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value in IP_MODELS or is_model_file(value):
            return value
        raise ValueError(f"{value!r} is neither an IP model ({', '.join(IP_MODELS)}) nor a model file (.toml)")

    @model_validator(mode="after")
    def _consistent(self) -> IPRunConfig:
        check_windows(self, "duration", self.model)
        if self.fi_max <= self.fi_min:
            raise ValueError(f"need fi_min < fi_max, got {self.fi_min}, {self.fi_max}")
        return self

    def to_dict(self) -> dict:
        """As stored: a model file by its name and the content hash of the model as simulated
        (``model_hash``, ``model_params`` applied), not its path, so that a changed file is a new
        run and a moved one is not."""
        stored = super().to_dict()
        if is_model_file(self.model):
            model = file_model(self.model, self.model_params)
            stored |= {"model": model.model.name, "model_hash": model.model.content_hash()}
        return stored


class HomeostasisSweepConfig(IPRunConfig):
    mu: Annotated[list[float], Field(min_length=1)] = [-1.0, -0.5, 0.0, 0.5, 1.0]
    sigma: Annotated[list[PositiveFloat], Field(min_length=1)] = [0.5, 0.75, 1.0, 1.5, 2.0]
    neurons_per_cell: PositiveInt = 4


class FiCurveConfig(IPRunConfig):
    mu: float = 0.0
    sigma: NonNegativeFloat = 1.0  # 0: a constant input
    neurons: PositiveInt = 1


class IPNeuron:
    """How the engine drives one built-in IP model: its variables, builders and how to freeze it
    (:class:`sims.model_neuron.FileNeuron` drives a model file's neuron the same way).

    ``traced``: the stored trace names (``traces/<name>``, ``final/<name>``) and the variables
    they record; ``linked``: the variables the f-I group links to the adapting group.
    """

    def __init__(self, spec: ModelSpec, params: Any, dt: float):
        self.spec, self.params, self.dt = spec, params, dt
        self.spiking = spec.transfer == "lif"
        self.input_var = "I" if self.spiking else "x"
        self.output_var = None if self.spiking else "y"  # a rate neuron's output
        gain_var, bias_var = ("gain", "theta") if self.spiking else ("a", "b")
        self.traced = {"gain": gain_var, "bias": bias_var}
        self.linked = (gain_var, bias_var)

    def build(self, n: int, name: str, input_equation: str):
        from brian2 import second  # brian2 is heavy: imported only to build or run a network

        if self.spiking:
            return lif_ip.build(n, self.params, input_equation, dt=self.dt * second, name=name)
        return rate_ip.build(self.spec.rule, n, self.params, input_equation, self.dt * second, name)

    def build_frozen(self, n: int, name: str):
        from brian2 import NeuronGroup, second  # brian2 is heavy: imported only to build or run a network

        if self.spiking:
            return lif_ip.build_frozen(n, self.params, dt=self.dt * second, name=name)
        return NeuronGroup(n, rate_ip.frozen_equations(self.spec.rule), dt=self.dt * second,
                           name=name)

    def freeze(self, group) -> None:
        for eta in ("eta_theta", "eta_gain") if self.spiking else ("eta",):
            setattr(group, eta, 0)

    def targets(self) -> dict[str, float]:
        keys = ("r_target", "var_target") if self.spiking else tuple(self.spec.rule.targets)
        return {key: getattr(self.params, key) for key in keys}

    def final_aliases(self) -> dict[str, str]:
        """Stored copies of final values: a LIF neuron's bias is its threshold."""
        return {"final/threshold": "final/bias"} if self.spiking else {}

    def attrs(self) -> dict[str, str]:
        """The ``model`` group's attributes (schema: docs/store-schema.md)."""
        return {
            "model": self.spec.name, "transfer": self.spec.transfer,
            "equations": self.spec.equations.strip(),
            "params": json.dumps({k: v["value"] for k, v in describe(self.params).items()}),
            "targets": json.dumps(self.targets()),
        }


def model_params(spec: ModelSpec, text: str) -> Any:
    """The model's parameters with the JSON object ``text`` (config ``model_params``) applied."""
    return spec.params_from(json_object(text, "model_params"))


def json_object(text: str, field: str) -> dict:
    """The JSON object ``text`` ({} when blank); UserError naming ``field`` otherwise."""
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise UserError(f"{field} must be a JSON object, got {text!r}")
    return value


def is_model_file(model: str) -> bool:
    """Whether a config's ``model`` names a model file (a path ending .toml), not a built-in."""
    return model.endswith(".toml")


def file_model(path: str, text: str) -> CheckedModel:
    """The model file at ``path``, checked, with the JSON object ``text`` of parameter values applied;
    a file that takes a built-in model's name is refused (its rule would take the built-in's)."""
    model = read_model_file(Path(path))
    if model.name in MODELS:
        raise UserError(f"model file {path}: name {model.name!r} is a built-in model's; give the file its own")
    return checked(model.with_values(json_object(text, "model_params")))


def make_neuron(cfg: IPRunConfig) -> IPNeuron | FileNeuron:
    if is_model_file(cfg.model):
        return FileNeuron(file_model(cfg.model, cfg.model_params), cfg.dt)
    spec = get(cfg.model)
    return IPNeuron(spec, model_params(spec, cfg.model_params), cfg.dt)


def simulate_ip(neuron: IPNeuron, mu: np.ndarray, sigma: np.ndarray, cfg: IPRunConfig,
                finish: Callable[[], None], report: Callable | None = None) -> dict[str, Any]:
    """Run the four phases for conditions ``(mu[i], sigma[i])``; returns the arrays to store.

    ``finish`` runs after the last ``run`` call (cpp_standalone builds there).
    """
    from brian2 import (  # brian2 is heavy: imported only to build or run a network
        Network,
        SpikeMonitor,
        StateMonitor,
        linked_var,
        second,
    )

    n = len(mu)
    fi_input = np.linspace(cfg.fi_min, cfg.fi_max, cfg.fi_points)
    m = len(fi_input)
    group = neuron.build(n, "adapt", ou_input(neuron.input_var))
    group.namespace["tau_in"] = cfg.tau_in * second
    group.mu, group.sigma = mu, sigma
    setattr(group, neuron.input_var, mu)
    fi = neuron.build_frozen(n * m, "fi")
    for var in neuron.linked:
        setattr(fi, var, linked_var(group, var, index=np.repeat(np.arange(n), m)))
    setattr(fi, neuron.input_var, np.tile(fi_input, n))
    traces = StateMonitor(group, list(neuron.traced.values()), record=True, dt=cfg.record_dt * second)
    if neuron.spiking:
        out_mon, fi_mon = SpikeMonitor(group), SpikeMonitor(fi)
    else:
        out_mon = StateMonitor(group, neuron.output_var, record=True)
        fi_mon = StateMonitor(fi, neuron.output_var, record=True, dt=max(cfg.dt, cfg.fi_duration / 10) * second)
    net = Network(group, fi, traces, out_mon, fi_mon)
    run = phase_runner(net, report, 2 * cfg.fi_duration + cfg.duration)

    run(cfg.fi_duration, active=(fi, fi_mon))
    run(cfg.duration - cfg.measure, active=(group, traces))
    run(cfg.measure, active=(group, traces, out_mon))
    neuron.freeze(group)
    run(cfg.fi_duration, active=(fi, fi_mon))
    finish()

    t = np.asarray(traces.t / second) - cfg.fi_duration  # time since adaptation began
    window = t >= cfg.duration - cfg.measure - 1e-9
    out_mean, out_var = _output_stats(neuron, out_mon, n, cfg)
    before, after = _fi_response(neuron, fi_mon, n, m, cfg)
    arrays = {"traces/t": t, "final/output_mean": out_mean, "final/output_var": out_var,
              "fi/input": fi_input, "fi/response": after, "fi/before": before}
    for stored, var in neuron.traced.items():
        trace = np.asarray(getattr(traces, var)).T  # SI values
        arrays |= {f"traces/{stored}": trace, f"final/{stored}": trace[window].mean(0)}
    return arrays | {alias: arrays[source] for alias, source in neuron.final_aliases().items()}


def phase_runner(net, report: Callable[[float], None] | None, total: float) -> Callable:
    """``run(seconds, active)``: run ``net`` with only the objects in ``active`` switched on.

    ``report(fraction)`` (optional) receives the fraction of ``total`` seconds simulated so far.
    """
    from brian2 import second  # brian2 is heavy: imported only to build or run a network

    done = [0.0]

    def run(seconds: float, active: tuple) -> None:
        for obj in net.objects:
            obj.active = obj in active
        start = done[0]

        def callback(elapsed, completed, t_start, duration):
            report((start + completed * float(duration / second)) / total)

        net.run(seconds * second, report=callback if report else None, report_period=1 * second)
        done[0] += seconds
    return run


def _output_stats(neuron: IPNeuron, mon, n: int, cfg: IPRunConfig) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each neuron's output in the measurement window.

    Rate models: of y sampled every dt. Spiking: mean rate (Hz) and the variance of the rate
    in ``RATE_BIN`` bins (Hz^2).
    """
    from brian2 import second  # brian2 is heavy: imported only to build or run a network

    if not neuron.spiking:
        y = np.asarray(getattr(mon, neuron.output_var))
        return y.mean(1), y.var(1)
    start = cfg.fi_duration + cfg.duration - cfg.measure
    bins = start + RATE_BIN * np.arange(round(cfg.measure / RATE_BIN) + 1)
    counts, _, _ = np.histogram2d(np.asarray(mon.i), np.asarray(mon.t / second),
                                  bins=[np.arange(n + 1), bins])
    rates = counts / RATE_BIN
    return rates.mean(1), rates.var(1)


def _fi_response(neuron: IPNeuron, mon, n: int, m: int, cfg: IPRunConfig) -> tuple[np.ndarray, np.ndarray]:
    """(before, after), each (n, m): rate in Hz (spiking) or mean y (rate), per phase."""
    from brian2 import second  # brian2 is heavy: imported only to build or run a network

    split = cfg.fi_duration + cfg.duration
    if neuron.spiking:
        i, t = np.asarray(mon.i), np.asarray(mon.t / second)
        counts = [np.bincount(i[sel], minlength=n * m) for sel in (t < split, t >= split)]
        return tuple(c.reshape(n, m) / cfg.fi_duration for c in counts)
    y, t = np.asarray(getattr(mon, neuron.output_var)), np.asarray(mon.t / second)
    return tuple(y[:, sel].mean(1).reshape(n, m) for sel in (t < split, t >= split))


def sweep_conditions(cfg: HomeostasisSweepConfig) -> dict[str, np.ndarray]:
    """conditions/mu, sigma, cell: the grid mu x sigma, ``neurons_per_cell`` neurons per cell."""
    mu, sigma = (grid.ravel() for grid in np.meshgrid(cfg.mu, cfg.sigma, indexing="ij"))
    k = cfg.neurons_per_cell
    return {"conditions/mu": np.repeat(mu, k), "conditions/sigma": np.repeat(sigma, k),
            "conditions/cell": np.repeat(np.arange(len(mu)), k)}


def homeostasis_sweep(cfg: HomeostasisSweepConfig, finish: Callable[[], None],
                      report: Callable | None = None) -> tuple[dict, dict]:
    """The mu x sigma grid of an IP model in one NeuronGroup; returns (arrays, model attrs)."""
    neuron = make_neuron(cfg)
    conditions = sweep_conditions(cfg)
    arrays = simulate_ip(neuron, conditions["conditions/mu"], conditions["conditions/sigma"],
                         cfg, finish, report)
    return {**conditions, **arrays}, {"model": neuron.attrs()}


def fi_curve(cfg: FiCurveConfig, finish: Callable[[], None],
             report: Callable | None = None) -> tuple[dict, dict]:
    """Steady-state response vs constant input before and after adapting to N(mu, sigma^2)."""
    neuron = make_neuron(cfg)
    mu, sigma = np.full(cfg.neurons, cfg.mu), np.full(cfg.neurons, cfg.sigma)
    arrays = simulate_ip(neuron, mu, sigma, cfg, finish, report)
    return {"conditions/mu": mu, "conditions/sigma": sigma, **arrays}, {"model": neuron.attrs()}
