"""A model file's neuron (issue 26) in the intrinsic-plasticity experiments (``sims.ip``).

The engine drives every neuron through a dimensionless Ornstein-Uhlenbeck input x of mean mu
and standard deviation sigma. A model file declares its own input variable and range
(``[input]``: e.g. ``I`` in nA from ``low`` to ``high``); here that variable becomes the
subexpression

    I = input_offset + input_scale * x,   input_offset = (low + high)/2, input_scale = (high - low)/2

so that x = -1 .. 1 spans the declared range and the sweep's (mu, sigma), the f-I inputs and the
fitted rule's y = f(gain x + bias) are all in the same normalised units.

The adapting group is the file's equations as they are (method, threshold, reset, parameters,
initial values). The f-I group holds the homeostatic variables (``homeostasis.state``) as
``linked`` to the adapting group, never integrated, and drops the reset statements that set
them, so an f-I curve is the neuron's response at its adapted homeostatic state; every other
variable (membrane, fast adaptation) runs as in the file. The variable the bridge reads
(``homeostasis.variable``) is recorded as ``traces/state``; what it does to the response is
measured from the f-I curves by the fit (``bridge.fitting.effective``).

A rate neuron (an ``[output]``, no threshold) is driven the same way; its output variable is
recorded as a built-in rate model's ``y`` is.

Refused here, each as one line: a model driven by Poisson spikes (``input.kind = "poisson"``).
"""

from __future__ import annotations

import ast
import json

from bridge.core.errors import UserError
from bridge.core.generated_step import assigned_name, statements
from bridge.core.model_file import CheckedModel

SUBEXPRESSION = "{variable} = input_offset + input_scale * x : {unit}\n"


def _unit_text(equations, name: str) -> str:
    """The unit of variable ``name`` as Brian2 equations spell it ("1" when dimensionless)."""
    from brian2 import get_unit

    dimensions = equations[name].dim
    return "1" if dimensions.is_dimensionless else repr(get_unit(dimensions))


class FileNeuron:
    """How the IP engine drives a model file's neuron (the interface of ``sims.ip.IPNeuron``): a
    spiking one (its spikes) or a rate one (its ``output`` variable)."""

    input_var = "x"

    def __init__(self, model: CheckedModel, dt: float):
        if model.model.input.kind == "poisson":
            raise UserError(f"model {model.model.name}: input.kind 'poisson' is not driven by the homeostasis "
                            "sweep yet; declare a current or rate input")
        self.model, self.dt = model.model, dt
        self.spiking = self.model.spiking
        self.output_var = None if self.spiking else self.model.output.variable
        self.traced = {"state": self.model.homeostasis.variable}
        self.linked = tuple(self.model.homeostasis.state)

    def _equations(self, drop: tuple[str, ...], extra: str):
        from brian2 import Equations

        declared = Equations(self.model.equations)
        variable = self.model.input.variable
        kept = Equations([eq for eq in declared.values() if eq.varname not in (variable, *drop)])
        return kept + Equations(extra + SUBEXPRESSION.format(variable=variable,
                                                             unit=_unit_text(declared, variable)))

    def _group(self, n: int, name: str, equations, reset: str, linked: tuple[str, ...] = ()):
        """The NeuronGroup, its variables at the declared initial values (but the ``linked``)."""
        from brian2 import NeuronGroup, second

        offset, scale = self.model.input_range()
        group = NeuronGroup(n, equations, threshold=self.model.threshold or None, reset=reset or None,
                            refractory=self.model.refractory or False, method=self.model.method,
                            dt=self.dt * second, name=name,
                            namespace={**self.model.namespace(), "input_offset": offset, "input_scale": scale})
        for variable, value in self.model.initial_values().items():
            if variable not in linked:
                setattr(group, variable, value)
        return group

    def build(self, n: int, name: str, input_equation: str):
        """``n`` neurons of the file driven by ``input_equation`` (the OU process of x)."""
        return self._group(n, name, self._equations((), input_equation), self.model.reset)

    def build_frozen(self, n: int, name: str):
        """``n`` neurons at a constant x with the homeostatic variables linked (module docstring)."""
        from brian2 import Equations

        declared = Equations(self.model.equations)
        linked = "".join(f"{v} : {_unit_text(declared, v)} (linked)\n" for v in self.linked)
        return self._group(n, name, self._equations(self.linked, linked + "x : 1 (constant)\n"),
                           reset_without(self.model.reset, self.linked), self.linked)

    def freeze(self, group) -> None:
        """Nothing to switch off: the adapting group is inactive in the last phase, and the f-I
        group's homeostatic variables are linked, never integrated."""

    def final_aliases(self) -> dict[str, str]:
        return {}

    def attrs(self) -> dict[str, str]:
        """The ``model`` group's attributes: the file itself and what the bridge reads."""
        model = self.model
        return {
            "model": model.name, "transfer": model.transfer, "equations": model.equations.strip(),
            "params": json.dumps({k: p.value for k, p in model.parameters.items()}), "targets": "{}",
            "model_file": model.model_dump_json(), "model_hash": model.content_hash(),
            "reads": model.homeostasis.reads, "variable": model.homeostasis.variable,
            "input": json.dumps(model.input.model_dump()),
        }


def reset_without(reset: str, names: tuple[str, ...]) -> str:
    """The reset statements that set none of ``names`` (``;`` or newline separated)."""
    return "\n".join(s for s in statements(reset).splitlines() if assigned_name(ast.parse(s).body[0]) not in names)
