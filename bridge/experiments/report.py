"""``homeobridge report``: one self-contained HTML page of a results store.

Every number on the page is read from a run file of the store (nothing is recomputed), and
every section names the runs it came from; a closing provenance table lists each run with its
seed, versions, finish time and wall seconds. Plots are embedded as base64 PNG, so the page can
be mailed on its own. The page also carries the numbers it shows as JSON
(``<script type="application/json" id="homeobridge-data">``) for scripts.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from pathlib import Path

from bridge.core.store import Run, Store, atomic_output, check_writable, open_run, package_versions, short_commit
from bridge.core.tables import markdown_table, markdown_to_html
from bridge.experiments.plots import sweep_plot
from bridge.experiments.studies import (
    TESTS_HEADERS,
    StudyResult,
    budget_text,
    cells_time,
    claims_rows,
    latest_results,
    tests_rows,
)
from bridge.fitting.rules import list_rules, rule_table

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3} img{max-width:100%} code{background:#f6f6f6;padding:1px 4px}
.muted{color:#777;font-size:0.85em}
"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _runs(store: Store, kind: str) -> list[Run]:
    return [open_run(info.path) for info in store.list_runs(kind)]


def headline(rows: list[dict]) -> str:
    """One line per (neuron, batch): each norm's mean final accuracy, best first, BN named out."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["neuron"], row["batch_size"]), []).append(row)
    items = []
    for (neuron, batch), group in groups.items():
        trained = sorted((r for r in group if "acc_mean" in r), key=lambda r: -r["acc_mean"])
        ranking = ", ".join(f"{r['norm']} {r['acc_mean']:.3f}" for r in trained)
        missing = "; ".join(f"{r['norm']}: not trainable" for r in group if "acc_mean" not in r)
        items.append(f"<li><b>{neuron}, batch {batch}</b>: {ranking}{'; ' + missing if missing else ''}</li>")
    return f"<ul>{''.join(items)}</ul>"


def compare_section(run: Run) -> tuple[str, dict]:
    """A comparison's table, plots and provenance; the numbers it shows."""
    rows = json.loads(run.h5.attrs["summary"])
    parts = [
        f"<h3>Comparison <code>{run.run_id}</code> on {html.escape(run.config['dataset'])}</h3>",
        f"<p class=muted>{len(json.loads(run.h5.attrs['train_runs']))} training runs; "
        f"config <code>{html.escape(json.dumps(run.config))}</code></p>",
        headline(rows),
        markdown_to_html(str(run.h5.attrs["table"])),
    ]
    for name in sorted(run.h5.get("plots", {})):
        parts.append(f"<h4>{name.replace('_', ' ')}</h4>" + _img(run.array(f"plots/{name}").tobytes(), name))
    rows_html = "".join(
        f"<tr><td>{html.escape(r['neuron'])}</td><td>{html.escape(r['norm'])}</td>"
        f"<td>{r['batch_size']}</td><td>{', '.join(r.get('run_ids', [])) or r.get('infeasible')}</td></tr>"
        for r in rows
    )
    parts.append(
        "<details><summary>training runs behind each row</summary><table><tr><th>neuron</th>"
        f"<th>norm</th><th>batch</th><th>run ids (best lr, all seeds)</th></tr>{rows_html}</table></details>"
    )
    return "\n".join(parts), {"run_id": run.run_id, "rows": rows}


def rules_section(store: Store) -> tuple[str, list[dict]]:
    """The fitted rules with their equilibrium map and BatchNorm correspondence."""
    rules = list_rules(store)
    if not rules:
        return "<p>No fitted rules in this store.</p>", []
    return markdown_to_html(rule_table(rules)), [rule.to_dict() for rule in rules]


def sims_section(store: Store) -> tuple[str, list[dict]]:
    """The simulations behind the rules: one line each, and the sweep plots."""
    parts, numbers = [], []
    for run in _runs(store, "sims"):
        with run:
            parts.append(
                f"<h4>{html.escape(run.name)} <code>{run.run_id}</code></h4>"
                f"<p class=muted>config <code>{html.escape(json.dumps(run.config))}</code></p>"
            )
            if run.name == "homeostasis-sweep":
                parts.append(_img(sweep_plot(run), f"sweep {run.run_id}"))
            numbers.append({"run_id": run.run_id, "name": run.name, "config": run.config})
    return "\n".join(parts) or "<p>No simulations in this store.</p>", numbers


def _value(value) -> str:
    """An axis value as shown: a number compactly, a setting by its name."""
    return value if isinstance(value, str) else f"{value:g}"


def _claims_rows(results: list[StudyResult], source: str) -> list[str]:
    rows = []
    for result in results:
        anchor = f"study-{result.name}-{result.label.replace(' ', '-')}"
        link = f'<a href="#{anchor}">{html.escape(result.name)}</a>' if source == "this store" else html.escape(
            result.name)
        for row in claims_rows([result]):
            cells = (row[1], row[2], row[3], row[4], row[5].strip("*"), row[6])
            rows.append("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in cells)
                        + f"<td>{html.escape(source)}</td><td>{link}</td></tr>")
    return rows


def _study_html(result: StudyResult) -> str:
    anchor = f"study-{result.name}-{result.label.replace(' ', '-')}"
    plots = "".join(f"<h4>{name}</h4>" + _img(_study_plot(result, name), name) for name in result.plots)
    cells = ", ".join(f"{c['arm']}/{_value(c['value'])}/{c['lr']:g}/s{c['seed']}: {c['run_id']}"
                      for c in result.cells)
    return (f'<h3 id="{anchor}">{html.escape(result.name)} ({html.escape(budget_text(result))})</h3>'
            f"<p>{html.escape(result.study['claim'])}</p><p class=muted>Criterion: "
            f"{html.escape(result.study['criterion'])}. Study run <code>{result.run_id}</code>, "
            f"{len(result.cells)} training runs, {cells_time(list(result.cells))}.</p>"
            + markdown_to_html(markdown_table(TESTS_HEADERS, tests_rows([result]))) + plots
            + f"<details><summary>training runs (arm/value/lr/seed: run id)</summary><p class=muted>"
              f"{html.escape(cells)}</p></details>")


def claims_section(store: Store, committed: list[StudyResult]) -> tuple[str, str, list[dict]]:
    """The Claims table that opens the report: this store's study results (a budget below full
    labelled "protocol check, not a finding") and beside them the committed full-budget results
    (``committed``, the catalogue's snapshot); one section per stored result with its tests and
    plots; the numbers they show."""
    results = latest_results(store)
    full = [r for r in committed if r.is_finding]
    if not results and not full:
        return ("<p>No studies in this store: run <code>homeobridge study run NAME</code>.</p>", "", [])
    rows = _claims_rows(results, "this store") + _claims_rows(full, "committed catalogue")
    head = "".join(f"<th>{h}</th>" for h in ("claim", "budget", "variant", "verdict per condition", "overall",
                                              "declared, cuts, amendments", "from", "details"))
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    numbers = [r.model_dump(exclude={"path"}) for r in results]
    return table, "\n".join(_study_html(r) for r in results), numbers


def _study_plot(result: StudyResult, name: str) -> bytes:
    with open_run(result.path, "studies") as run:
        return run.array(f"plots/{name}").tobytes()


def provenance_table(store: Store) -> str:
    """Every run of the store: kind, name, id, seed, finish time and the seconds of its work."""
    rows = [[
        r.kind, r.name, r.run_id, r.seed, r.finished, f"{r.wall_seconds:.1f}",
    ] for r in store.list_runs()]
    return markdown_to_html(markdown_table(["kind", "name", "run id", "seed", "finished", "wall s"], rows))


def build_report(store: Store, committed: list[StudyResult] = ()) -> str:
    """The whole HTML page for ``store``; ``committed``: the catalogue's committed study results."""
    compares, compare_numbers = [], []
    for run in _runs(store, "compare"):
        with run:
            section, numbers = compare_section(run)
        compares.append(section)
        compare_numbers.append(numbers)
    claims_html, studies_html, study_numbers = claims_section(store, list(committed))
    rules_html, rules_numbers = rules_section(store)
    sims_html, sims_numbers = sims_section(store)
    versions = package_versions()
    data = {"studies": study_numbers, "compare": compare_numbers, "rules": rules_numbers, "sims": sims_numbers}
    embedded = json.dumps(data, default=str).replace("</", "<\\/")
    generated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>homeobridge report</title><style>{STYLE}</style></head>
<body>
<h1>homeobridge report</h1>
<p class=muted>Generated {generated} from <code>{html.escape(str(store.root.resolve()))}</code>
by homeobridge {versions['homeobridge']} (git {short_commit(versions['git'])}), brian2 {versions['brian2']},
torch {versions['torch']}, snntorch {versions['snntorch']}.</p>
<h2>Claims</h2>
<p class=muted>Each claim of the seed papers tested under a declared, dated protocol (its cuts and
amendments dated and flagged where they came after a look): arms paired by seed, effect = mean
paired difference with its exact 95% CI, Holm within a study. A budget below full is a protocol
check, not a finding.</p>
{claims_html}
<h2>Studies</h2>
{studies_html}
<h2>Does biological homeostasis give BatchNorm's learning gains?</h2>
{''.join(compares) or '<p>No comparisons in this store: run <code>homeobridge compare</code>.</p>'}
<h2>Fitted rules and their BatchNorm correspondence</h2>
{rules_html}
<h2>Simulations</h2>
{sims_html}
<h2>Provenance: every run in the store</h2>
{provenance_table(store)}
<script type="application/json" id="homeobridge-data">{embedded}</script>
</body></html>
"""


def write_report(store: Store, output: Path | None = None, committed: list[StudyResult] = ()) -> Path:
    """Write the report atomically (default ``<results>/report.html``) and return its path."""
    output = check_writable(Path(output) if output else store.root / "report.html")
    page = build_report(store, committed)
    with atomic_output(output) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return output
