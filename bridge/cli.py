"""The ``homeobridge`` command line (typer).

Every user mistake (a bad name, a bad ``--set``, an unreadable file) is a
:class:`bridge.errors.UserError` (``StoreError`` is one): :func:`main` prints it as one line
on stderr and exits 2, never with a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from typer.exceptions import Abort, Exit, TyperException

from bridge.errors import UserError
from bridge.store import ENV_RESULTS, Store

app = typer.Typer(
    help="homeobridge: biological homeostasis (Brian2) fitted to gain/bias rules, "
    "exported as torch/snntorch layers, compared with BatchNorm.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


@app.callback()
def _global(
    results: Path | None = typer.Option(
        None, "--results", help=f"results directory (default ${ENV_RESULTS} or ./results)"
    ),
) -> None:
    if results is not None:
        os.environ[ENV_RESULTS] = str(results)


def store() -> Store:
    """The results store chosen by ``--results`` / ``$HOMEOBRIDGE_RESULTS``."""
    return Store()


def print_json(obj: object) -> None:
    """Machine-readable output for ``--json``: one JSON document on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _cell(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    """A markdown table (the format of every table homeobridge prints or writes)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


@app.command()
def info(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Package versions, data sets found, CUDA, and the Brian2 code-generation targets that work here."""
    from bridge.environment import environment_report

    report = environment_report()
    if as_json:
        print_json(report)
        return
    table = Table(title="homeobridge info", show_header=False)
    for key, value in report["versions"].items():
        table.add_row(key, value or "-")
    table.add_row("fashion-mnist", report["fashion_mnist"] or "not found (apt-get install dataset-fashion-mnist)")
    table.add_row("cuda", report["cuda"] or "no")
    for target, ok in report["brian2_targets"].items():
        table.add_row(f"brian2 {target}", "works" if ok else "unavailable")
    table.add_row("results", report["results"])
    console.print(table)


@app.command()
def runs(
    kind: str | None = typer.Argument(None, help="only runs of this kind (sims, rules, train, compare)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """A table of the complete runs in the results store."""
    listed = store().list_runs(kind)
    if as_json:
        print_json([run.to_dict() for run in listed])
        return
    if not listed:
        console.print(f"no runs in {store().root}" + (f" of kind {kind!r}" if kind else ""))
        return
    rows = [[r.kind, r.name, r.run_id, r.seed, r.finished, f"{r.wall_seconds:.1f}"] for r in listed]
    print(markdown_table(["kind", "name", "run", "seed", "finished", "wall s"], rows))


@app.command()
def models(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """The Brian2 models: equations (with units), parameters and their sources."""
    from models import listing

    described = listing()
    if as_json:
        print_json(described)
        return
    for model in described:
        console.rule(f"{model['name']} ({model['transfer']})")
        console.print(f"{model['summary']}\nsource: {model['source']}", markup=False)
        console.print(model["equations"], markup=False, highlight=False)
        rows = [[k, v["value"], v["unit"], v["doc"]] for k, v in model["params"].items()]
        print(markdown_table(["param", "default", "unit", "meaning"], rows))


@app.command()
def sim(
    name: str = typer.Argument(..., help="experiment: fi-curve, homeostasis-sweep, scaling, information"),
    sets: list[str] | None = typer.Option(None, "--set", help="override a config field, key=value (repeatable)"),
    backend: str = typer.Option("numpy", "--backend", help="Brian2 target: numpy, cython, cpp_standalone"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Run a Brian2 experiment and write it to the results store (skipped when already complete)."""
    import sims

    sims.configure(name, sets, backend)  # a bad name, --set or backend fails before Brian2 loads
    path = sims.run_with_progress(name, sets, backend, store(), enabled=not as_json)
    if as_json:
        print_json({"name": name, "path": str(path)})
    else:
        console.print(f"{name}: {path}", markup=False)


SET_HELP = "override a configuration field, key=value (repeatable; lists comma-separated)"


@app.command()
def compare(
    overrides: list[str] | None = typer.Option(None, "--set", help=SET_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Train the grid neuron x norm x learning rate x seed x batch size; skip runs already complete."""
    from bridge.compare import CompareConfig, export_plots
    from bridge.compare import compare as run_compare
    from bridge.config import apply_overrides
    from bridge.store import open_run

    config = apply_overrides(CompareConfig(), overrides)
    path = run_compare(config, store(), progress=not (quiet or as_json))
    with open_run(path, "compare") as run:
        if as_json:
            print_json({"run": str(path), "rows": json.loads(run.h5.attrs["summary"])})
            return
        print(run.h5.attrs["table"])
        plots = export_plots(run)
    console.print(f"compare run: {path}")
    console.print(f"plots: {', '.join(str(p) for p in plots)}")


@app.command()
def demo(
    overrides: list[str] | None = typer.Option(None, "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the tables and report path as JSON"),
) -> None:
    """The whole pipeline on defaults: sweeps, fits, export, compare on Fashion-MNIST, report."""
    from bridge.config import apply_overrides
    from bridge.demo import DemoConfig
    from bridge.demo import demo as run_demo

    config = apply_overrides(DemoConfig(), overrides)
    result = run_demo(config, store(), Console(stderr=True) if as_json else console)
    if as_json:
        print_json(result)


@app.command()
def report(
    results: Path | None = typer.Argument(None, help="results directory (default: the store)"),
    output: Path | None = typer.Option(None, "-o", "--output", help="HTML file (default RESULTS/report.html)"),
) -> None:
    """Write one self-contained HTML page: comparisons, fitted rules, simulations, provenance."""
    from bridge.report import write_report

    chosen = Store(results) if results is not None else store()
    if not chosen.root.is_dir():
        raise UserError(f"{chosen.root}: no such results directory")
    console.print(f"report: {write_report(chosen, output)}")


@app.command()
def fit(
    run: str = typer.Argument(..., help="a sims run: file path or run id"),
    name: str | None = typer.Option(None, "--name", help="rule name (default: the run's model)"),
    as_json: bool = typer.Option(False, "--json", help="print the rule as JSON"),
) -> None:
    """Fit a homeostasis-sweep or scaling run to the gain/bias form and write the rule (docs/fitting.md)."""
    from bridge.fit import fit_run
    from bridge.rules import rule_report, save_rule

    rule = fit_run(run, store(), name)
    path = save_rule(rule, store())
    if as_json:
        print_json({**rule.to_dict(), "path": str(path)})
        return
    print(rule_report(rule))
    print(f"rule {rule.name!r} ({rule.kind}, model {rule.model}): {path}")


@app.command()
def rules(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """A table of the fitted rules in the store."""
    from bridge.rules import list_rules, rule_summary, rule_table

    listed = list_rules(store())
    if as_json:
        print_json([rule_summary(rule) for rule in listed])
    elif listed:
        print(rule_table(listed))
    else:
        console.print(f"no rules in {store().root / 'rules'}: run `homeobridge fit RUN`")


@app.command()
def export(
    rule: str = typer.Argument(..., help="rule name in the store, or a rule file"),
    to: str = typer.Option("torch", "--to", help="target framework (torch)"),
    output: Path = typer.Option(..., "-o", "--output", help="file to write the layer to"),
    units: int = typer.Option(128, "--units", help="number of units (width) of the layer"),
    mode: str = typer.Option("equilibrium", "--mode", help="equilibrium | online"),
) -> None:
    """Write a fitted rule as a ready layer; prints the two lines that load it."""
    from bridge.rules import export_torch, load_rule

    if to != "torch":
        raise UserError(f"--to {to!r}: only 'torch' is supported")
    print("\n".join(export_torch(load_rule(rule, store()), output, units, mode)))



@app.command()
def train(
    overrides: list[str] | None = typer.Option(
        None, "--set", help="key=value on TrainConfig (dataset, norm, depth, lr, batch_size, ...)"
    ),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present) | cpu | cuda"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Train one network (rate or spiking, any norm) and store its per-epoch history."""
    from bridge.config import apply_overrides
    from bridge.train import TrainConfig, summarise
    from bridge.train import train as run_train

    config = apply_overrides(TrainConfig(), [f"device={device}", *(overrides or [])])
    summary = summarise(run_train(config, store(), progress=not as_json))
    if as_json:
        print_json(summary)
        return
    print(markdown_table(list(summary), [list(summary.values())]))
    if summary["status"] != "ok":
        console.print(f"[red]{summary['message']}[/red]")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: run the app, turning user mistakes into one line and exit 2."""
    try:
        app(args=argv, standalone_mode=False)
    except UserError as err:
        print(f"homeobridge: error: {err}", file=sys.stderr)
        return 2
    except Exit as done:
        return done.exit_code
    except (Abort, KeyboardInterrupt):
        print("homeobridge: aborted", file=sys.stderr)
        return 130
    except TyperException as err:
        print(f"homeobridge: error: {err.format_message()}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
