"""The ``homeobridge`` command line (typer): the top layer, imported by nothing.

It parses, resolves the results store (``--results``, else ``$HOMEOBRIDGE_RESULTS``, else
``./results``: the only place that reads them) and passes it down explicitly, and prints.
Every user mistake (a bad name, a bad ``--set``, an unreadable file, an unwritable output) is
a :class:`bridge.core.errors.UserError` (``StoreError`` is one): :func:`main` prints it as one
line on stderr and exits 2, never with a traceback, and before any work starts.
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

from bridge.core.config import apply_overrides, validate
from bridge.core.errors import UserError
from bridge.core.store import Stopwatch, Store, atomic_output, check_writable, open_run
from bridge.core.tables import markdown_table
from bridge.core.workers import start_worker_server

# Each command imports the layers it needs when it runs (torch, scipy, matplotlib and Brian2 take
# seconds to import): `--help` and the light commands start at once, and a command that trains
# in workers starts their fork server first, so that it imports the training code while this
# process imports the rest.
WORKER_MODULES = ("bridge.cli", "bridge.experiments.executor", "torch._dynamo")  # executor.WORKER_PRELOAD's

ENV_RESULTS = "HOMEOBRIDGE_RESULTS"
# The kinds of run the store holds (sims.KIND, rules.RULES_KIND, train.TRAIN_KIND, compare.COMPARE_KIND,
# studies.STUDY_KIND; tests/test_user_errors.py checks they agree): named here so that `runs`
# checks its argument without importing Brian2 or torch.
RUN_KINDS = ("sims", "rules", "train", "compare", "studies")

app = typer.Typer(
    help="homeobridge: biological homeostasis (Brian2) fitted to gain/bias rules, "
    "exported as torch/snntorch layers, compared with BatchNorm.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
warn = Console(stderr=True)


def results_root(given: Path | None) -> Path:
    """``--results``, else ``$HOMEOBRIDGE_RESULTS``, else ``./results``."""
    return given if given is not None else Path(os.environ.get(ENV_RESULTS) or "results")


@app.callback()
def _global(
    ctx: typer.Context,
    results: Path | None = typer.Option(
        None, "--results", help=f"results directory (default ${ENV_RESULTS} or ./results)"
    ),
) -> None:
    ctx.obj = results_root(results)


def store(ctx: typer.Context) -> Store:
    """The results store chosen by ``--results`` / ``$HOMEOBRIDGE_RESULTS`` (StoreError if it is a file)."""
    return Store(ctx.obj)


def print_json(obj: object) -> None:
    """Machine-readable output for ``--json``: one JSON document on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


@app.command()
def info(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Package versions, data sets found, CUDA, and the Brian2 code-generation targets that work here."""
    from bridge.experiments.environment import environment_report

    report = environment_report(store(ctx).root)
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
    ctx: typer.Context,
    kind: str | None = typer.Argument(None, help=f"only runs of this kind ({', '.join(RUN_KINDS)})"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """A table of the complete runs in the results store; each unreadable file is named on stderr."""
    if kind is not None and kind not in RUN_KINDS:
        raise UserError(f"unknown run kind {kind!r}; choose one of {', '.join(RUN_KINDS)}")
    chosen = store(ctx)
    listed, problems = chosen.scan(kind)
    for problem in problems:
        print(f"homeobridge: warning: {problem}", file=sys.stderr)
    if as_json:
        print_json([run.to_dict() for run in listed])
        return
    if not listed:
        console.print(f"no runs in {chosen.root}" + (f" of kind {kind!r}" if kind else ""))
        return
    rows = [[r.kind, r.name, r.run_id, r.seed, r.finished, f"{r.wall_seconds:.1f}"] for r in listed]
    print(markdown_table(["kind", "name", "run", "seed", "finished", "wall s"], rows))


models_app = typer.Typer(help="The Brian2 models: the built-in ones, and model files (issue 26).",
                          invoke_without_command=True)
app.add_typer(models_app, name="models")


@models_app.callback()
def models(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """The Brian2 models: equations (with units), parameters and their sources."""
    if ctx.invoked_subcommand is not None:
        return
    from models import listing as model_listing

    described = model_listing()
    if as_json:
        print_json(described)
        return
    for model in described:
        console.rule(f"{model['name']} ({model['transfer']})")
        console.print(f"{model['summary']}\nsource: {model['source']}", markup=False)
        console.print(model["equations"], markup=False, highlight=False)
        rows = [[k, v["value"], v["unit"], v["doc"]] for k, v in model["params"].items()]
        print(markdown_table(["param", "default", "unit", "meaning"], rows))


@models_app.command("check")
def models_check(file: Path = typer.Argument(..., help="a model file (TOML: docs/adex-threshold.toml)")) -> None:
    """Check a model file (Brian2's equation and unit checks, the file's own) and show the torch
    step generated from its equations; nothing is written."""
    from bridge.core.model_file import load_model

    checked = load_model(file)
    _show_model(checked)


@models_app.command("file")
def models_file(name: str = typer.Argument(..., help="a built-in model (homeobridge models)"),
                output: Path | None = typer.Option(None, "-o", "--output", help="TOML file (default: print)")) -> None:
    """A built-in model as a model file (TOML) to read, edit and bring back with ``models add``."""
    import tomli_w

    from bridge.core.model_file import ModelFile
    from models import as_model_file

    text = tomli_w.dumps(ModelFile(**as_model_file(name)).model_dump(mode="json", exclude_none=True),
                         multiline_strings=True)
    if output is None:
        print(text, end="")
        return
    check_writable(output)
    with atomic_output(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    console.print(f"models file: {output}", markup=False)


@models_app.command("add")
def models_add(ctx: typer.Context,
               file: Path = typer.Argument(..., help="a model file (TOML: docs/adex-threshold.toml)")) -> None:
    """Check a model file and copy it into the store, named by its content hash."""
    from bridge.core.model_file import load_model
    from models import MODELS

    checked = load_model(file)
    if checked.model.name in MODELS:
        raise UserError(f"name: {checked.model.name!r} is a built-in model's name; give the file its own")
    target = store(ctx).root / "models" / f"{checked.model.name}-{checked.model.content_hash()}.toml"
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(target) as tmp:
        tmp.write_text(file.read_text(encoding="utf-8"), encoding="utf-8")
    _show_model(checked)
    console.print(f"models add: {target}")


def _show_model(checked) -> None:
    model, step = checked.model, checked.step
    console.rule(f"{model.name} ({model.content_hash()})")
    homeostasis = model.homeostasis
    console.print(f"source: {model.source}\nstate: {', '.join(step.state)}; "
                  f"homeostasis: {', '.join(homeostasis.state)} "
                  f"({homeostasis.variable} read as the {homeostasis.reads})", markup=False)
    emits = (f"spike where {step.threshold_code} > 0" if model.spiking
             else f"output {model.output.variable} = {step.output_code} (read as {model.transfer})")
    console.print(f"generated step ({model.method}):\n{step.update_code}\n{emits}"
                  + (f"\nreset:\n{step.reset_code}" if step.reset_code else ""), markup=False, highlight=False)


@app.command()
def sim(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="experiment: fi-curve, homeostasis-sweep, scaling, information"),
    sets: list[str] | None = typer.Option(None, "--set", help="override a config field, key=value (repeatable)"),
    backend: str = typer.Option("numpy", "--backend", help="Brian2 target: numpy, cython, cpp_standalone"),
    rerun: bool = typer.Option(False, "--rerun", help="simulate again even when the run is complete"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Run a Brian2 experiment and write it to the results store (skipped when already complete)."""
    import sims

    sets = _stored_models(ctx, sets)
    sims.configure(name, sets, backend)  # a bad name, --set or backend fails before Brian2 loads
    path = sims.run_with_progress(name, sets, backend, store(ctx), enabled=not as_json, rerun=rerun)
    if as_json:
        print_json({"name": name, "path": str(path)})
    else:
        console.print(f"{name}: {path}", markup=False)


def _stored_models(ctx: typer.Context, sets: list[str] | None) -> list[str] | None:
    """``model=NAME`` of a model added to the store (``models add``) as ``model=<its file>``."""
    from bridge.core.model_file import stored_model

    resolved = []
    for item in sets or []:
        key, _, value = item.partition("=")
        path = stored_model(store(ctx).root / "models", value.strip()) if key.strip() == "model" else None
        resolved.append(f"model={path}" if path is not None else item)
    return resolved if sets is not None else None


SET_HELP = "override a configuration field, key=value (repeatable; lists comma-separated)"


@app.command()
def compare(
    ctx: typer.Context,
    overrides: list[str] | None = typer.Option(None, "--set", help=SET_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    rerun: bool = typer.Option(False, "--rerun", help="train every cell again, even when complete"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Train the grid neuron x norm x learning rate x seed x batch size; skip runs already complete."""
    start_worker_server(WORKER_MODULES)
    from bridge.experiments.compare import CompareConfig, export_plots
    from bridge.experiments.compare import compare as run_compare

    config = apply_overrides(CompareConfig(), overrides)
    path = run_compare(config, store(ctx), progress=not (quiet or as_json), rerun=rerun)
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
    ctx: typer.Context,
    overrides: list[str] | None = typer.Option(None, "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the tables and report path as JSON"),
) -> None:
    """The whole pipeline on defaults: sweeps, fits, export, compare on Fashion-MNIST, report."""
    start_worker_server(WORKER_MODULES)
    from bridge.experiments.demo import DemoConfig
    from bridge.experiments.demo import demo as run_demo

    config = apply_overrides(DemoConfig(), overrides)
    result = run_demo(config, store(ctx), warn if as_json else console, committed_catalogue())
    if as_json:
        print_json(result)


@app.command()
def report(
    ctx: typer.Context,
    results: Path | None = typer.Argument(None, help="results directory (default: the store)"),
    output: Path | None = typer.Option(None, "-o", "--output", help="HTML file (default RESULTS/report.html)"),
) -> None:
    """Write one self-contained HTML page: comparisons, fitted rules, simulations, provenance."""
    from bridge.experiments.report import write_report

    chosen = Store(results) if results is not None else store(ctx)
    if not chosen.root.is_dir():
        raise UserError(f"{chosen.root}: no such results directory")
    console.print(f"report: {write_report(chosen, output, committed_catalogue())}")


CATALOGUE = Path(__file__).resolve().parents[1] / "docs" / "studies.json"  # the committed full-budget results
FIRST_CATALOGUE = CATALOGUE.with_name("studies-v1.md")  # the v1 catalogue's record (its store is elsewhere)


def committed_catalogue() -> list:
    """The committed study results (``docs/studies.json`` of this checkout; none in an installed copy)."""
    from bridge.experiments.studies import read_snapshot

    return read_snapshot(CATALOGUE)


@app.command()
def fit(
    ctx: typer.Context,
    run: str = typer.Argument(..., help="a sims run: file path or run id"),
    name: str | None = typer.Option(None, "--name", help="rule name (default: the run's model)"),
    as_json: bool = typer.Option(False, "--json", help="print the rule as JSON"),
) -> None:
    """Fit a homeostasis-sweep or scaling run to the gain/bias form and write the rule (docs/fitting.md)."""
    from bridge.fitting.rules import rule_report, save_rule
    from bridge.fitting.runs import fit_run

    clock = Stopwatch()
    rule = fit_run(run, store(ctx), name)
    path = save_rule(rule, store(ctx), clock)
    if as_json:
        print_json({**rule.to_dict(), "path": str(path)})
        return
    print(rule_report(rule))
    print(f"rule {rule.name!r} ({rule.kind}, model {rule.model}): {path}")


@app.command()
def rules(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """A table of the fitted rules in the store."""
    from bridge.fitting.rules import list_rules, rule_summary, rule_table

    listed = list_rules(store(ctx))
    if as_json:
        print_json([rule_summary(rule) for rule in listed])
    elif listed:
        print(rule_table(listed))
    else:
        console.print(f"no rules in {store(ctx).root / 'rules'}: run `homeobridge fit RUN`")


@app.command()
def export(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="--to torch: a rule name in the store or a rule file; "
                                           "--to nir: a trained spiking run (file path, run id or "
                                           "unique prefix of one)"),
    to: str = typer.Option("torch", "--to", help="torch (a fitted rule as a layer) | nir (a trained spiking net)"),
    output: Path = typer.Option(..., "-o", "--output", help="file to write"),
    units: int = typer.Option(128, "--units", help="number of units (width) of the layer, >= 1"),
    mode: str = typer.Option("equilibrium", "--mode", help="equilibrium | online (intrinsic rules)"),
    inputs: int = typer.Option(784, "--inputs", help="input width of a scaling rule's Linear layer, >= 1"),
) -> None:
    """Write a fitted rule as a ready torch layer (prints the two lines that load it), or a
    trained spiking net as a NIR graph (prints its nodes)."""
    from bridge.experiments.interchange import export_run, node_lines
    from bridge.fitting.rules import load_rule
    from bridge.fitting.runs import resolve_run
    from bridge.learning.export import ExportConfig, export_torch

    config = validate(ExportConfig, {"to": to, "units": units, "mode": mode, "inputs": inputs}, prefix="--")
    check_writable(output)
    if config.to == "nir":
        run = resolve_run(source, store(ctx))  # a path, a run id or its unique prefix, as `fit` takes
        print("\n".join(node_lines(export_run(run, output, store(ctx)))))
        return
    print("\n".join(export_torch(load_rule(source, store(ctx)), output, config)))


@app.command("import")
def import_nir(
    path: Path = typer.Argument(..., help="a NIR file (e.g. from `export RUN --to nir`)"),
    images: int = typer.Option(500, "--images", help="test images to classify, >= 1"),
    seed: int = typer.Option(0, "--seed", help="seed of the input's rate code"),
) -> None:
    """Rebuild an snntorch network from a NIR file (snntorch's importer) and classify the first
    test images of its data set, rate-coded as in training; prints its nodes and accuracy."""
    from bridge.experiments.interchange import evaluate_nir, node_lines, read_nir

    if images < 1:
        raise UserError(f"--images must be >= 1, got {images}")
    net, graph = read_nir(path)
    accuracy, rates = evaluate_nir(net, graph, images, seed)
    print("\n".join(node_lines(graph)))
    print(f"test accuracy on {images} images: {accuracy:.4f}; spikes per step per neuron, by LIF layer: "
          + ", ".join(f"{rate:.4f}" for rate in rates))


@app.command()
def train(
    ctx: typer.Context,
    overrides: list[str] | None = typer.Option(
        None, "--set", help="key=value on TrainConfig (dataset, norm, depth, lr, batch_size, ...)"
    ),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present) | cpu | cuda"),
    rerun: bool = typer.Option(False, "--rerun", help="train again even when the run is complete"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Train one network (rate or spiking, any norm) and store its per-epoch history."""
    from bridge.learning.engine import train as run_train
    from bridge.learning.train import TrainConfig, summarise

    config = apply_overrides(TrainConfig(), [f"device={device}", *(overrides or [])])
    summary = summarise(run_train(config, store(ctx), progress=not as_json, rerun=rerun))
    if as_json:
        print_json(summary)
        return
    print(markdown_table(list(summary), [list(summary.values())]))
    if summary["status"] != "ok":
        console.print(f"[red]{summary['message']}[/red]")


study_app = typer.Typer(help="The seed papers' claims as declared studies: paired statistics and verdicts.",
                        no_args_is_help=True)
app.add_typer(study_app, name="study")


@study_app.command("list")
def study_list(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """The studies: name, claim and source."""
    from bridge.experiments.studies import STUDIES, describe

    if as_json:
        print_json([describe(study) for study in STUDIES.values()])
        return
    print(markdown_table(["study", "claim", "source"], [[s.name, s.claim, s.source] for s in STUDIES.values()]))


@study_app.command("show")
def study_show(name: str = typer.Argument(..., help="a study of `study list`")) -> None:
    """A study's declaration: claim, source, protocol, metric, criterion, budgets."""
    from bridge.experiments.studies import describe, get_study

    print_json(describe(get_study(name)))


STUDY_SET_HELP = "executor=local|ray, ray_address=HOST:PORT, device=cpu|cuda, engine=auto|single"


@study_app.command("run")
def study_run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="a study of `study list`"),
    budget: str = typer.Option("smoke", "--budget", help="smoke | quick | full"),
    workers: int = typer.Option(2, "--workers", help="parallel training processes, >= 1"),
    rule: str = typer.Option("", "--rule", help="fitted rule of the fitted arms (skipped without)"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    overrides: list[str] = typer.Option(None, "--set", help=STUDY_SET_HELP),
) -> None:
    """Train (or reuse) every cell of a study, test its claim, store the verdict; prints its tables."""
    start_worker_server(WORKER_MODULES)
    from bridge.experiments.studies import StudyRun, get_study, latest_results, run_study, study_table

    get_study(name)
    for item in overrides or []:
        if item.partition("=")[0].strip() not in ("executor", "ray_address", "device", "engine"):
            raise UserError(f"--set {item!r}: study run takes {STUDY_SET_HELP}")
    fields = {"study": name, "budget": budget, "workers": workers, "rule": rule}
    request = apply_overrides(validate(StudyRun, fields, prefix="--"), overrides)
    path = run_study(request, store(ctx), progress=not quiet)
    results = [r for r in latest_results(store(ctx), request.budget) if r.path == str(path)]
    print(study_table(results))
    console.print(f"study run: {path}")


@study_app.command("table")
def study_table_command(
    ctx: typer.Context,
    budget: str | None = typer.Option(None, "--budget", help="only results of this budget"),
    markdown: bool = typer.Option(True, "--markdown", help="markdown, the default format (or --json)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of markdown"),
    output: Path | None = typer.Option(None, "-o", "--output", help="write the markdown to this file"),
    plots: Path | None = typer.Option(None, "--plots", help="write the plots here and link them"),
    summary: Path | None = typer.Option(None, "--summary", help="regenerate the findings section of this README "
                                                                "(between its markers) from the full-budget results"),
) -> None:
    """The claims and tests of the newest stored result of every study (generated, never typed).
    With -o, a JSON snapshot of the results is written beside the markdown (``<stem>.json``)."""
    from bridge.experiments.studies import (
        BUDGETS,
        all_results,
        change_rows,
        export_study_plots,
        latest_results,
        previous_results,
        read_record,
        record_rows,
        study_table,
        with_findings,
        write_snapshot,
    )

    if budget is not None and budget not in BUDGETS:
        raise UserError(f"--budget {budget!r}: choose one of {', '.join(BUDGETS)}")
    for path in (output, summary):
        if path is not None:
            check_writable(path)
    if summary is not None and not summary.is_file():
        raise UserError(f"--summary {summary}: no such file")
    results = latest_results(store(ctx), budget)
    if as_json or not markdown:
        print_json([r.model_dump(exclude={"path"}) for r in results])
        return
    if summary is not None:
        try:
            readme = with_findings(summary.read_text(encoding="utf-8"), results)
        except ValueError as error:
            raise UserError(f"--summary {summary}: {error}") from None
    if plots is not None:
        export_study_plots(results, plots)
    previous = previous_results(all_results(store(ctx), "full"), results)
    changes = change_rows(results, previous) + record_rows(results, previous, read_record(FIRST_CATALOGUE))
    text = study_table(results, plots, changes)
    if summary is not None:
        with atomic_output(summary) as tmp:
            tmp.write_text(readme, encoding="utf-8")
        console.print(f"findings: {summary}")
    if output is None:
        print(text)
        return
    with atomic_output(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    with atomic_output(output.with_suffix(".json")) as tmp:
        write_snapshot(results, tmp)
    console.print(f"studies table: {output}")


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
