"""A torch step generated from a Brian2 model's own equations (issue 26).

Brian2 turns a model's differential equations into update statements for the declared method
(its state updater: ``euler``, ``exact`` for linear equations, ...); the threshold is a
condition and the reset a list of statements. :func:`generate_step` asks Brian2 for that
abstract code (a one-neuron ``NeuronGroup``, numpy target, nothing run) and compiles it once
into Python evaluated on torch tensors, so the torch step runs the discretisation Brian2 runs,
by construction:

    update     the state updater's statements, e.g. ``_v = dt*(I - v + v_rest)/tau + v; v = _v``
    threshold  ``a > b`` (or ``a >= b``, ``a < b``, ``a <= b``) as spike_fn(a - b) (``>=``: the next
               float up, so that equality fires as in Brian2): 1 above, the
               surrogate's gradient in training (snntorch's); Brian2's order: update, threshold, reset
    reset      each ``x = e`` as x <- where(spiked, e, x), ``x += e`` as x <- where(spiked, x + e, x)
               (``-=``, ``*=`` alike), the spikes detached as snntorch detaches its reset
    output     a rate neuron's output subexpression (no threshold) as Brian2's expression of it with its
               subexpressions substituted, e.g. ``tanh(a*s + b)``, evaluated on the state before the
               update (where Brian2's monitors read it, at the start of a step)
    refractory Brian2's own statement ``not_refractory = timestep(t - lastspike, dt) >= timestep(T, dt)``
               with timestep(t - lastspike, dt) kept per neuron as the hidden state ``_since`` (whole
               steps since the last spike: 1 after a spike, one more each step after), the equations flagged
               ``(unless refractory)`` held by Brian2's ``int(not_refractory)`` factor, and a spike
               only where ``not_refractory`` (Brian2's ``(cond) and not_refractory``)

Values are SI floats (a parameter of 10*ms is 0.01; ``dt`` in seconds), as Brian2's generated
numpy code computes them; a unit named in the code (``1*mV``) is its SI value. Functions the
code may call map to torch's (:data:`FUNCTIONS`); any other is refused when the step is
generated.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import CodeType

import torch

from bridge.core.errors import UserError

FUNCTIONS: dict[str, Callable] = {
    "exp": torch.exp, "log": torch.log, "log10": torch.log10, "sqrt": torch.sqrt, "abs": torch.abs,
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "tanh": torch.tanh, "sinh": torch.sinh,
    "cosh": torch.cosh, "arctan": torch.atan, "clip": torch.clamp, "floor": torch.floor, "ceil": torch.ceil,
    "sign": torch.sign, "where": torch.where,
    "_inclusive": lambda d: torch.nextafter(d, torch.full_like(d, math.inf)),  # d >= 0 exactly where this is > 0
    "exprel": lambda x: torch.where(x == 0, torch.ones_like(x), torch.expm1(x) / x),
    "int": lambda x: torch.trunc(torch.as_tensor(x).to(torch.get_default_dtype())),  # Brian2's int(): truncates
    "timestep": lambda x, dt: torch.floor(torch.as_tensor((x + 1e-3 * dt) / dt)),  # Brian2's timestep()
}
SINCE = "_since"  # time steps since the last spike, a refractory model's hidden state (whole numbers)
NEVER_SPIKED = 1e8  # steps: Brian2's lastspike starts 1e4 s back
REFRACTORY_LINE = "not_refractory = timestep(t - lastspike, dt)"
AUGMENTED = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}
COMPARISONS = {ast.Gt: 1, ast.GtE: 1, ast.Lt: -1, ast.LtE: -1}


@dataclass(frozen=True)
class GeneratedStep:
    """The compiled statements of one model (module docstring); ``state`` the variables it
    integrates (the differential equations' left-hand sides) and sets in its reset."""

    update_code: str
    threshold_code: str | None
    reset_code: str | None
    state: tuple[str, ...]
    constants: Mapping[str, float]  # units named in the code, as SI floats
    refractory: bool = False  # the state holds _since; spikes need not_refractory
    output_code: str | None = None  # a rate neuron's output expression

    def output(self, values: dict[str, torch.Tensor | float]) -> torch.Tensor:
        """A rate neuron's output at ``values`` (state, parameters and inputs by name)."""
        scope = {**self.constants, **FUNCTIONS, **values}
        return eval(_compiled(self.output_code, "eval"), {"__builtins__": {}}, scope)  # noqa: S307

    def hidden(self) -> dict[str, float]:
        """The initial values of the state the step adds to the model's own (``_since``)."""
        return {SINCE: NEVER_SPIKED} if self.refractory else {}

    def __call__(self, values: dict[str, torch.Tensor | float], dt: float,
                 spike_fn: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor | None, dict]:
        """One step of ``dt`` seconds on ``values`` (state, parameters and inputs by name):
        (spikes or None, the new state variables); nothing is changed in place."""
        scope = {**self.constants, **FUNCTIONS, **values, "dt": dt}
        exec(_compiled(self.update_code), {"__builtins__": {}}, scope)  # noqa: S102 - Brian2's own statements
        spikes = None
        if self.threshold_code is not None:
            spikes = spike_fn(eval(_compiled(self.threshold_code, "eval"), {"__builtins__": {}}, scope))  # noqa: S307
            if self.refractory:
                spikes = spikes * FUNCTIONS["int"](scope["not_refractory"]).to(spikes.dtype)
                scope[SINCE] = torch.where(spikes.detach() > 0, 0.0, scope[SINCE]) + 1
            if self.reset_code is not None:
                scope["_spiked"] = spikes.detach()
                exec(_compiled(self.reset_code), {"__builtins__": {}}, scope)  # noqa: S102
        return spikes, {name: scope[name] for name in self.state}

    def distance(self, values: dict[str, torch.Tensor | float]) -> torch.Tensor:
        """The threshold's distance (positive where it spikes) at ``values``, nothing stepped."""
        scope = {**self.constants, **FUNCTIONS, **values}
        return eval(_compiled(self.threshold_code, "eval"), {"__builtins__": {}}, scope)  # noqa: S307


_CACHE: dict[tuple[str, str], CodeType] = {}


def _compiled(source: str, mode: str = "exec") -> CodeType:
    key = (source, mode)
    if key not in _CACHE:
        _CACHE[key] = compile(source, "<brian2 model>", mode)
    return _CACHE[key]


def _distance(condition: str) -> str:
    """``a > b`` as ``(a) - (b)`` (``a < b`` as ``(b) - (a)``): positive where Brian2 spikes."""
    tree = ast.parse(condition, mode="eval").body
    if not (isinstance(tree, ast.Compare) and len(tree.ops) == 1 and type(tree.ops[0]) in COMPARISONS):
        raise UserError(f"threshold {condition!r}: give one comparison, a > b (or >=, <, <=)")
    left, right = ast.unparse(tree.left), ast.unparse(tree.comparators[0])
    distance = f"({left}) - ({right})" if COMPARISONS[type(tree.ops[0])] > 0 else f"({right}) - ({left})"
    return f"_inclusive({distance})" if isinstance(tree.ops[0], ast.GtE | ast.LtE) else distance


def statements(code: str) -> str:
    """Brian2's statements, one per line (``;`` separates them too), unindented."""
    return "\n".join(part.strip() for line in code.splitlines() for part in line.split(";") if part.strip())


def assigned_name(statement: ast.stmt) -> str | None:
    """The variable a one-target assignment (``x = e``, ``x += e``, ...) sets, else None."""
    plain = isinstance(statement, ast.Assign) and len(statement.targets) == 1
    target = statement.targets[0] if plain else getattr(statement, "target", None)
    return target.id if isinstance(target, ast.Name) else None


def _reset_statements(reset: str) -> tuple[str, tuple[str, ...]]:
    """The reset as statements applied where ``_spiked`` (module docstring), and the variables it sets."""
    lines, targets = [], []
    for statement in ast.parse(statements(reset)).body:
        plain = isinstance(statement, ast.Assign)
        if assigned_name(statement) is None or not (plain or type(getattr(statement, "op", None)) in AUGMENTED):
            raise UserError(f"reset {reset!r}: only x = ..., x += ..., x -= ... and x *= ... statements")
        name, value = assigned_name(statement), ast.unparse(statement.value)
        if not plain:
            value = f"{name} {AUGMENTED[type(statement.op)]} ({value})"
        lines.append(f"{name} = where(_spiked > 0, {value}, {name})")
        targets.append(name)
    return "\n".join(lines), tuple(targets)


def _constants(codes: list[str], known: set[str]) -> dict[str, float]:
    """The units the code names (``mV``, ``ms``, ...) and Brian2's constants (``pi``, ``e``) as SI floats."""
    import brian2  # heavy: only when a step is generated

    nodes = [node for code in codes for node in ast.walk(ast.parse(statements(code))) if isinstance(node, ast.Name)]
    names = {node.id for node in nodes} - {node.id for node in nodes if isinstance(node.ctx, ast.Store)}
    constants = {}
    for name in sorted(names - known - set(FUNCTIONS) - {"dt", "_spiked"}):
        unit = getattr(brian2, name, None)
        if not isinstance(unit, brian2.Quantity | float):  # a unit, or pi, e, inf
            raise UserError(f"the model's code names {name!r}: not a variable, parameter, unit, constant or "
                            "known function")
        constants[name] = float(unit)
    return constants


def generate_step(equations: str, threshold: str | None, reset: str | None, method: str,
                  namespace: Mapping[str, object], refractory: str | None = None,
                  output: str | None = None) -> GeneratedStep:
    """The torch step of a Brian2 model: its equations (Brian2 syntax, with units), threshold
    condition, reset statements, integration method, refractory period (a Brian2 expression
    such as ``2*ms``) and a rate neuron's ``output`` variable; ``namespace`` its parameters
    (Brian2 quantities), checked by Brian2 with the equations' units. A Brian2 error (a unit
    that does not match, an unknown name, a method that does not apply) is a UserError naming it."""
    from brian2 import NeuronGroup, prefs

    prefs.codegen.target = "numpy"
    group = None
    try:
        group = NeuronGroup(1, equations, threshold=threshold, reset=reset, method=method,
                            refractory=refractory or False, namespace=dict(namespace), name="generated_step_model")
        _code_only(group)
        group.equations.check_units(group, run_namespace={})
        updater = group.state_updater
        updater.update_abstract_code(run_namespace={})
        if threshold:
            group.thresholder["spike"].update_abstract_code(run_namespace={})
        if reset:
            group.resetter["spike"].update_abstract_code(run_namespace={})
    except Exception as error:  # Brian2 raises several types: each is the user's model's mistake
        raise UserError(f"Brian2 refuses the model: {str(error).splitlines()[0]}") from None
    reset_code, reset_targets = _reset_statements(reset) if reset else (None, ())
    unknown = [name for name in reset_targets if name not in group.variables]
    if unknown:
        raise UserError(f"reset {reset!r} sets {', '.join(unknown)}: not a variable of the model")
    integrated = tuple(group.equations.diff_eq_names)
    known = set(group.variables) | set(namespace) | ({SINCE} if refractory else set())
    threshold_code = _distance(threshold) if threshold else None
    update_code = _refractory_clock(updater.abstract_code) if refractory else updater.abstract_code
    output_code = _output_expression(group, output) if output else None
    codes = [update_code, *(c for c in (threshold_code, reset_code, output_code) if c)]
    constants = _constants(codes, known)
    state = tuple(dict.fromkeys(integrated + reset_targets + ((SINCE,) if refractory else ())))
    return GeneratedStep(statements(update_code), threshold_code, reset_code, state, constants, bool(refractory),
                         output_code)


def _output_expression(group, output: str) -> str:
    """The output variable as Brian2's expression of the state, its subexpressions substituted."""
    if output not in group.variables:
        raise UserError(f"output.variable: {output!r} is not a variable of the equations")
    if output not in group.equations.subexpr_names:
        raise UserError(f"output.variable: {output!r} is not a subexpression; a rate neuron's output is "
                        f"instantaneous in its input, {output} = f(...) : 1")
    substituted = dict(group.equations.get_substituted_expressions(group.variables, include_subexpressions=True))
    return substituted[output].code


def _refractory_clock(code: str) -> str:
    """Brian2's refractoriness statement reading ``_since`` for t - lastspike (module docstring)."""
    if REFRACTORY_LINE not in code:
        raise UserError("Brian2's refractoriness statement is not the one the generator knows; "
                        "declare the model without refractory")
    return code.replace(REFRACTORY_LINE, f"not_refractory = {SINCE}")


def _code_only(group) -> None:
    """Mark a group asked for its code, never run, so that Brian2 does not warn it went unused."""
    for obj in (group, *group.contained_objects):
        obj._network = "code only"


def si_values(namespace: Mapping[str, object]) -> dict[str, float]:
    """Brian2 quantities (and plain numbers) as the SI floats the generated step computes with."""
    return {name: float(value) for name, value in namespace.items()}
