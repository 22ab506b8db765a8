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
from typing import Optional

import typer
from typer.exceptions import Abort, Exit, TyperException
from rich.console import Console
from rich.table import Table

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
    results: Optional[Path] = typer.Option(
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


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    """A markdown table (the format of every table homeobridge prints or writes)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
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
    kind: Optional[str] = typer.Argument(None, help="only runs of this kind (sims, rules, train, compare)"),
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
