"""Model files (issue 26): a homeostatic neuron, spiking or rate, as Brian2 equations in TOML,
checked before any simulation; every mistake is one line naming its field, exit 2, nothing written."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from bridge.cli import main
from bridge.core.model_file import ModelFile, load_model

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "adex-threshold.toml"


def test_the_example_model_file_checks_and_is_added_by_its_content_hash(tmp_path, capsys):
    checked = load_model(EXAMPLE)
    assert checked.model.homeostasis.reads == "threshold" and set(checked.step.state) == {"v", "w", "r", "theta"}
    assert main(["--results", str(tmp_path), "models", "add", str(EXAMPLE)]) == 0
    (stored,) = (tmp_path / "models").glob("*.toml")
    assert stored.name == f"adex-threshold-{checked.model.content_hash()}.toml"
    assert tomllib.loads(stored.read_text()) == tomllib.loads(EXAMPLE.read_text())
    assert "v = where(_spiked > 0, V_r, v)" in capsys.readouterr().out


def _edited(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


BROKEN = {
    "a unit the equations do not accept": (
        'a = { value = 4, unit = "nS"', 'a = { value = 4, unit = "mV"', "Brian2 refuses the model"),
    "an unknown unit": ('tau_w = { value = 144, unit = "ms"', 'tau_w = { value = 144, unit = "msec2"',
                        "parameters.tau_w.unit"),
    "an unknown variable in the reset": ("r += 1/tau_r", "phi += 1/tau_r", "not a variable of the model"),
    "no homeostatic variable": ('state = ["theta"]', "state = []", "homeostasis.state"),
    "a homeostatic variable the equations lack": ('state = ["theta"]', 'state = ["phi"]', "homeostasis.state"),
    "an input the equations lack": ('variable = "I"', 'variable = "J"', "input.variable"),
    "a threshold that never fires on the input range": ('high = 2.0', 'high = 0.1', "never fires"),
    "an unknown field": ('method = "euler"', 'method = "euler"\nmethods = "rk4"', "methods"),
    "a method Brian2 does not know": ('method = "euler"', 'method = "leapfrog"', "Brian2 refuses the model"),
    "not TOML": ("[input]", "[input", "not TOML"),
    "an input in the wrong unit": ('\nunit = "nA"', '\nunit = "mV"', "input.unit"),
    "a resting value in the wrong unit": ('v = { value = -70.6, unit = "mV" }', 'v = { value = -70.6, unit = "nA" }',
                                          "initial.v.unit"),
}


RATE_BROKEN = {  # edits of rate-ip-infomax's file (homeobridge models file rate-ip-infomax)
    "neither a threshold nor an output": ('[output]\nvariable = "y"\ntransfer = "tanh"\n', "", "give one of the two"),
    "a threshold and an output": ('threshold = ""', 'threshold = "y > 0.5"', "give one of the two"),
    "an output the equations lack": ('variable = "y"', 'variable = "z"', "output.variable"),
    "an unknown transfer": ('transfer = "tanh"', 'transfer = "lif"', "output.transfer"),
    "a rate neuron with a reset": ('reset = ""', 'reset = "b = 0"', "reset / refractory"),
    "an output that does not respond": ("y = tanh(u) : 1", "y = tanh(b) : 1", "does not respond"),
    "an output that is not a subexpression": ('variable = "y"', 'variable = "a"', "not a subexpression"),
    "a rate neuron with per-sample state": ("s : 1\n", "s : 1\ndr/dt = (y - r)/(10*ms) : 1\n",
                                            "integrated but not homeostatic"),
    "a rate neuron whose output needs an unset name": ("u = a * s + b : 1", "u = k * (a * s + b) : 1\nk : 1",
                                                       "needs 'k'"),
}


def _rate_file_text() -> str:
    from models import as_model_file

    model = ModelFile(**as_model_file("rate-ip-infomax"))
    return tomli_w.dumps(model.model_dump(mode="json", exclude_none=True), multiline_strings=True)


@pytest.mark.parametrize("mistake", [*BROKEN, *RATE_BROKEN])
def test_a_broken_model_file_is_one_line_naming_the_field_and_nothing_is_written(tmp_path, capsys, mistake):
    old, new, field = BROKEN.get(mistake) or RATE_BROKEN[mistake]
    base = EXAMPLE.read_text() if mistake in BROKEN else _rate_file_text()
    broken = tmp_path / "broken.toml"
    broken.write_text(_edited(base, old, new))
    results = tmp_path / "results"
    assert main(["--results", str(results), "models", "add", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("homeobridge: error:") and field in err, err
    assert not (results / "models").exists()


def test_a_file_that_is_not_utf8_is_one_line(tmp_path, capsys):
    broken = tmp_path / "latin1.toml"
    broken.write_bytes(EXAMPLE.read_text().replace("Brette", "Br\u00e9tte").encode("latin-1"))
    assert main(["models", "check", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not UTF-8 text" in err


FURTHER = {
    "a reserved name": ('g_L = { value = 30', 'sigma = { value = 1, unit = "1" }\ng_L = { value = 30', "reserved"),
    "a homeostatic variable that never changes": ('I : amp\n"""', 'I : amp\nphi : volt\n"""', "never changes"),
    "a sensor that is also homeostatic": ('sensors = ["r"]', 'sensors = ["theta"]', "one or the other"),
    "a read variable that does not adapt": ('variable = "theta"', 'variable = "w"', "not in homeostasis.state"),
    "a spiking neuron with a rate output too": ("[input]", '[output]\nvariable = "v"\ntransfer = "tanh"\n\n[input]',
                                                "give one of the two"),
}


@pytest.mark.parametrize("mistake", list(FURTHER))
def test_the_roles_of_a_files_variables_are_checked(tmp_path, capsys, mistake):
    old, new, field = FURTHER[mistake]
    text = _edited(EXAMPLE.read_text(), old, new)
    if mistake == "a homeostatic variable that never changes":
        text = _edited(text, 'state = ["theta"]', 'state = ["theta", "phi"]')
    broken = tmp_path / "broken.toml"
    broken.write_text(text)
    assert main(["models", "check", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and field in err, err
