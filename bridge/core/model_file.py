"""A homeostatic neuron brought as a file (issue 26): Brian2 equations, parameters with units,
the input it receives and which of its variables are its homeostasis, validated before any
simulation, with the torch step generated from the same equations (``generated_step``).

A model file is TOML (schema: :class:`ModelFile`; an example: ``docs/adex-threshold.toml``)::

    name = "adex-threshold"
    source = "Brette & Gerstner (2005) ..."
    method = "euler"
    equations = '''dv/dt = ... : volt ...'''
    threshold = "v > 0*mV"
    reset = "v = V_r; w += b; theta += d_theta"
    refractory = "2*ms"   # optional

    [parameters]
    C = { value = 281, unit = "pF", source = "Brette & Gerstner 2005" }

    [input]
    kind = "current"      # current | rate | poisson
    variable = "I"        # the equations' variable it sets
    unit = "nA"
    low = 0.0
    high = 2.0

    [homeostasis]
    state = ["theta"]     # the variables that adapt
    reads = "threshold"   # gain | bias | threshold of y = f(gain x + bias)
    variable = "theta"
    sensors = ["r"]       # optional: per-sample variables the homeostasis reads (a rate trace)

A rate neuron has no threshold (nor reset, nor refractoriness) but an ``[output]``: the
variable it emits, instantaneous in its input (e.g. ``y = tanh(a*s + b) : 1``), and the transfer
f the bridge reads it by (``models file rate-ip-infomax`` writes one)::

    [output]
    variable = "y"
    transfer = "tanh"     # sigmoid | tanh | softplus | rectifier

A mistake is one :class:`~bridge.core.errors.UserError` line naming the field: an unknown unit,
a unit the equations do not accept (Brian2's own check), an unknown variable, no homeostatic
variable, one that never changes, a name the bridge reserves (``RESERVED``), a threshold that
never fires on the declared input range (a short run of the generated step at the range's top),
a rate output that is the same at both ends of the range, a model with both a threshold and an
output or neither.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bridge.core.config import validation_message
from bridge.core.errors import UserError
from bridge.core.generated_step import GeneratedStep, generate_step, si_values

NAME_PATTERN = r"[a-z0-9][a-z0-9-]*"  # a model's name: lower case, digits and dashes
# names the bridge gives its own meaning: the sweep's input process and range, the step's own
RESERVED = ("x", "mu", "sigma", "tau_in", "input_offset", "input_scale", "dt", "t", "_since", "_spiked")
FIRING_CHECK_SECONDS = 1.0  # simulated at the top of the input range: the threshold must be crossed
RATE_TRANSFERS = ("sigmoid", "tanh", "softplus", "rectifier")  # a rate output's f (bridge.fitting.transfer's)


class Parameter(BaseModel):
    """A parameter: its value in ``unit`` (Brian2's unit names: "mV", "nS", "ms", "1"), and where it is from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float
    unit: str = "1"
    source: str = ""


class InputSpec(BaseModel):
    """What drives the neuron: a ``current`` (the variable set to a value in ``unit``), a
    ``rate`` (Hz) or ``poisson`` spikes at a rate; ``low`` .. ``high`` the range it is driven over."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["current", "rate", "poisson"]
    variable: str
    unit: str
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> InputSpec:
        if not self.low < self.high:
            raise ValueError(f"input: low ({self.low}) must be below high ({self.high})")
        return self


class Homeostasis(BaseModel):
    """Which variables adapt (``state``) and how the bridge reads the neuron as y = f(gain x + bias):
    ``variable`` taken as its gain, bias or threshold (``reads``). ``sensors``: the per-sample
    variables the homeostasis reads (a rate trace), which a network layer starts each sample from
    their running mean instead of from rest, as the neuron's own life would (``GeneratedLeaky``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: Annotated[tuple[str, ...], Field(min_length=1)]
    reads: Literal["gain", "bias", "threshold"]
    variable: str
    sensors: tuple[str, ...] = ()  # per-sample variables a network layer carries over between samples


class Output(BaseModel):
    """A rate neuron's output: the ``variable`` it emits and the transfer f of y = f(gain x + bias)
    the bridge reads it by."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variable: str
    transfer: Literal[RATE_TRANSFERS]


class ModelFile(BaseModel):
    """A model file's content (module docstring): a spiking neuron (``threshold``) or a rate one
    (``output``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=f"^{NAME_PATTERN}$")]
    source: str
    method: str = "euler"
    equations: str
    threshold: str = ""
    reset: str = ""
    refractory: str = ""  # a Brian2 period, e.g. "2*ms"; equations flagged (unless refractory) hold during it
    output: Output | None = None  # a rate neuron's, instead of a threshold
    parameters: dict[str, Parameter]
    initial: dict[str, Parameter] = {}  # state variables' values at rest (others start at 0)
    input: InputSpec
    homeostasis: Homeostasis

    @model_validator(mode="after")
    def _spiking_or_rate(self) -> ModelFile:
        if bool(self.threshold) == (self.output is not None):
            raise ValueError("threshold / output: a spiking neuron declares a threshold, a rate neuron an "
                             "[output]; give one of the two")
        if self.output is not None and (self.reset or self.refractory):
            raise ValueError("reset / refractory: a rate neuron (an [output], no threshold) has neither")
        return self

    @property
    def spiking(self) -> bool:
        return bool(self.threshold)

    @property
    def transfer(self) -> str:
        """The f of y = f(gain x + bias) the bridge reads the neuron by: ``lif`` for a spiking one."""
        return self.output.transfer if self.output is not None else "lif"

    def namespace(self) -> dict:
        """The parameters as Brian2 quantities."""
        return {name: p.value * _unit(p.unit, f"parameters.{name}.unit") for name, p in self.parameters.items()}

    def rest(self) -> dict[str, float]:
        """The declared initial values (SI floats)."""
        return {name: float(value) for name, value in self.initial_values().items()}

    def initial_values(self) -> dict:
        """The declared initial values as Brian2 quantities."""
        return {name: p.value * _unit(p.unit, f"initial.{name}.unit") for name, p in self.initial.items()}

    def input_range(self) -> tuple:
        """(offset, scale) of the normalised input x, as Brian2 quantities: the input variable is
        offset + scale * x, so x = -1 .. 1 spans the declared low .. high."""
        unit = _unit(self.input.unit, "input.unit")
        return (self.input.low + self.input.high) / 2 * unit, (self.input.high - self.input.low) / 2 * unit

    def with_values(self, overrides: dict[str, float]) -> ModelFile:
        """This model with some parameters' values replaced (in their declared units); UserError
        naming an unknown one."""
        unknown = sorted(set(overrides) - set(self.parameters))
        if unknown:
            raise UserError(f"model {self.name}: unknown parameter(s) {', '.join(unknown)}; "
                            f"valid: {', '.join(sorted(self.parameters))}")
        for name, value in overrides.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise UserError(f"model {self.name}: parameter {name} must be a number, got {value!r}")
        parameters = {name: p.model_copy(update={"value": float(overrides[name])}) if name in overrides else p
                      for name, p in self.parameters.items()}
        return self.model_copy(update={"parameters": parameters})

    def content_hash(self) -> str:
        """The first 16 hex digits of the sha256 of the content without its defaults (a field added
        with a default later leaves the hashes of files without it as they were)."""
        return hashlib.sha256(self.model_dump_json(exclude_defaults=True).encode()).hexdigest()[:16]


def _unit(text: str, field: str):
    import brian2  # heavy: only when a model file is checked

    try:
        unit = eval(text, {"__builtins__": {}}, vars(brian2.units))  # noqa: S307 - unit names only
    except Exception:
        raise UserError(f"{field}: {text!r} is not a unit (Brian2's names: mV, nS, ms, Hz, 1)") from None
    if not isinstance(unit, brian2.Quantity | float | int):
        raise UserError(f"{field}: {text!r} is not a unit (Brian2's names: mV, nS, ms, Hz, 1)")
    return unit


class CheckedModel(BaseModel):
    """A model file that passed every check, with its generated torch step."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    model: ModelFile
    step: GeneratedStep


def read_model_file(path: Path) -> ModelFile:
    """The file's content, validated field by field (a UserError naming the field)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise UserError(f"model file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"model file {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"model file {path}: not TOML ({error})") from None
    try:
        return ModelFile(**data)
    except ValidationError as error:
        raise UserError(f"model file {path}: {validation_message(error)}") from None


def check_model(model: ModelFile) -> CheckedModel:
    """Brian2's checks of the equations and units, the file's own (module docstring), and the
    generated step; before any simulation."""
    namespace = model.namespace()
    input_unit = _unit(model.input.unit, "input.unit")
    output = model.output.variable if model.output is not None else None
    step = generate_step(model.equations, model.threshold or None, model.reset or None, model.method, namespace,
                         model.refractory or None, output)
    from brian2 import Equations, get_dimensions

    equations = Equations(model.equations)
    names = set(equations.names)
    if model.input.variable not in names:
        raise UserError(f"input.variable: {model.input.variable!r} is not a variable of the equations")
    declared = {"input.unit": (model.input.variable, input_unit)}
    declared |= {f"initial.{name}.unit": (name, _unit(p.unit, f"initial.{name}.unit"))
                 for name, p in model.initial.items() if name in names}
    for field, (name, unit) in declared.items():
        if get_dimensions(unit) != equations.dimensions[name]:
            raise UserError(f"{field}: {name} is in {equations.dimensions[name] or 'no unit'}, not in "
                            f"{get_dimensions(unit) or 'no unit'}")
    for field, variables in (("homeostasis.state", model.homeostasis.state),
                             ("homeostasis.variable", (model.homeostasis.variable,)),
                             ("homeostasis.sensors", model.homeostasis.sensors),
                             ("initial", tuple(model.initial))):
        unknown = [v for v in variables if v not in names]
        if unknown:
            raise UserError(f"{field}: {', '.join(unknown)} not a variable of the equations")
    _check_roles(model, step, names)
    if not model.spiking:
        _check_rate_roles(model, step)
        _check_responds(step, model, float(input_unit))
    elif _spikes_at(step, model, model.input.high * float(input_unit)) == 0:
        raise UserError(f"threshold {model.threshold!r} never fires on the declared input range (none in "
                        f"{FIRING_CHECK_SECONDS:g} s at input.high = {model.input.high} {model.input.unit})")
    return CheckedModel(model=model, step=step)


def _check_roles(model: ModelFile, step: GeneratedStep, names: set[str]) -> None:
    """No name the bridge reserves; homeostatic variables and sensors that the step integrates or
    resets (so that they change), and no variable both."""
    clashes = sorted((names | set(model.parameters)) & set(RESERVED))
    if clashes:
        raise UserError(f"equations/parameters: {', '.join(clashes)} reserved by the bridge (the sweep's input "
                        f"and the step's own names: {', '.join(RESERVED)}); rename them")
    homeostasis = model.homeostasis
    if homeostasis.variable not in homeostasis.state:
        raise UserError(f"homeostasis.variable: {homeostasis.variable!r} is not in homeostasis.state: the bridge "
                        "reads one of the variables that adapt")
    for field, variables in (("homeostasis.state", homeostasis.state), ("homeostasis.sensors", homeostasis.sensors)):
        still = [v for v in variables if v not in step.state]
        if still:
            raise UserError(f"{field}: {', '.join(still)} neither integrated nor reset: it never changes")
    both = sorted(set(homeostasis.state) & set(homeostasis.sensors))
    if both:
        raise UserError(f"homeostasis.sensors: {', '.join(both)} also in homeostasis.state: a variable is one or "
                        "the other")


def _spikes_at(step: GeneratedStep, model: ModelFile, drive: float, dt: float = 1e-4) -> int:
    """Spikes of one neuron held at ``drive`` (SI) for FIRING_CHECK_SECONDS from rest (``initial``)."""
    values = {k: torch.tensor(v, dtype=torch.float64) for k, v in si_values(model.namespace()).items()}
    rest = {**model.rest(), **step.hidden()}
    state = {name: torch.full((1,), rest.get(name, 0.0), dtype=torch.float64) for name in step.state}
    count = 0
    drive_tensor = torch.tensor([drive], dtype=torch.float64)
    try:
        for _ in range(int(FIRING_CHECK_SECONDS / dt)):
            spikes, state = step({**values, **state, model.input.variable: drive_tensor}, dt,
                                 lambda d: (d > 0).double())
            count += int(spikes.sum())
    except NameError as error:
        raise UserError(f"equations: the generated step needs {error.name!r}, which is neither a parameter, a "
                        "state variable nor the input") from None
    return count


def _check_rate_roles(model: ModelFile, step: GeneratedStep) -> None:
    """A rate neuron's only state is its homeostasis: its output is instantaneous, so it has no
    per-sample variable to carry (``GeneratedRate`` holds the homeostatic variables alone)."""
    if model.homeostasis.sensors:
        raise UserError("homeostasis.sensors: a rate neuron has none (its output is instantaneous); "
                        "make the sensed quantity part of the homeostatic state")
    other = [name for name in step.state if name not in model.homeostasis.state]
    if other:
        raise UserError(f"homeostasis.state: {', '.join(other)} integrated but not homeostatic; a rate "
                        "neuron's only state is its homeostasis (declare them in homeostasis.state)")


def _check_responds(step: GeneratedStep, model: ModelFile, unit: float) -> None:
    """A rate output that differs between the ends of the input range, at rest; its output and one
    step evaluated in the scope a network layer gives them (parameters, ``initial`` values, the
    homeostatic state and the input: ``GeneratedRate``)."""
    values = {name: torch.tensor(value, dtype=torch.float64) for name, value in
              {**dict.fromkeys(step.state, 0.0), **si_values(model.namespace()), **model.rest()}.items()}
    values[model.input.variable] = torch.tensor([model.input.low, model.input.high], dtype=torch.float64) * unit
    try:
        low, high = torch.as_tensor(step.output(values)).expand(2)
        step(values, 1e-3, spike_fn=None)
    except NameError as error:
        raise UserError(f"equations: the output or its update needs {error.name!r}, which is neither a parameter, "
                        "an initial value, a homeostatic variable nor the input") from None
    if not low != high:
        raise UserError(f"output: {model.output.variable} is {float(low):g} at both input.low and input.high: "
                        "it does not respond on the declared input range")


def load_model(path: Path) -> CheckedModel:
    """Read and check a model file (one UserError line for any mistake, before any simulation)."""
    return check_model(read_model_file(path))


_CHECKED: dict[str, CheckedModel] = {}


def checked(model: ModelFile) -> CheckedModel:
    """:func:`check_model`, once per content (a config naming a model file is validated often)."""
    key = model.content_hash()
    if key not in _CHECKED:
        _CHECKED[key] = check_model(model)
    return _CHECKED[key]


def stored_model(models_dir: Path, name: str) -> Path | None:
    """The model file added to the store as ``name`` (``<name>-<hash>.toml``, or that whole
    stem); None when there is none (or ``name`` is not a model's name but, e.g., a path); UserError
    when ``name`` matches several versions."""
    if not re.fullmatch(NAME_PATTERN, name):
        return None
    exact = models_dir / f"{name}.toml"
    if exact.is_file():
        return exact
    versions = sorted(models_dir.glob(f"{name}-" + "[0-9a-f]" * 16 + ".toml"))
    if len(versions) > 1:
        raise UserError(f"model {name!r}: {len(versions)} versions in {models_dir} "
                        f"({', '.join(v.stem for v in versions)}); name one")
    return versions[0] if versions else None
