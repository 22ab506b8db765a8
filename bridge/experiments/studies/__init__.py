"""Studies: a seed paper's claim tested under a declared protocol, with paired statistics.

    declaration.py   Budget, Comparison, Cut, Amendment, Study (validated), the generated criterion
    catalogue/       the declared studies, one module per paper (shaw, shen, shervani, spiking, cornford)
    cells.py         the grid: CellKey, each cell's TrainConfig, the StudyRun request
    judging.py       per-seed values (diverged policy), selection on validation, PairedTest, Holm, verdicts
    engine.py        plan, train or reuse the cells, judge, store the ``studies`` run
    results.py       stored results (StudyResult) and their committed snapshot
    changes.py       what changed since the last catalogue: verdicts old -> new per test, and why
    tables.py        Claims and Tests tables, method, each study, the README's findings
"""

from bridge.experiments.studies.catalogue import STUDIES, get_study
from bridge.experiments.studies.cells import FITTED_NORMS, CellKey, StudyRun, cell_config, cell_keys
from bridge.experiments.studies.changes import change_rows, previous_results, record_rows
from bridge.experiments.studies.declaration import BUDGETS, Study, at_budget, criterion, describe
from bridge.experiments.studies.engine import STUDY_KIND, plan, run_study
from bridge.experiments.studies.record import read_record
from bridge.experiments.studies.results import (
    StudyResult,
    all_results,
    latest_results,
    read_snapshot,
    write_snapshot,
)
from bridge.experiments.studies.tables import (
    TESTS_HEADERS,
    budget_text,
    cells_time,
    claims_rows,
    export_study_plots,
    findings,
    plot_file,
    study_table,
    tests_rows,
    with_findings,
)

__all__ = ["BUDGETS", "FITTED_NORMS", "STUDIES", "STUDY_KIND", "TESTS_HEADERS", "CellKey", "Study", "StudyResult",
           "StudyRun", "all_results", "at_budget", "budget_text", "cell_config", "cell_keys", "cells_time",
           "change_rows", "claims_rows", "criterion", "describe", "export_study_plots", "findings", "get_study",
           "latest_results", "plan", "plot_file", "previous_results", "read_record", "read_snapshot", "record_rows",
           "run_study", "study_table", "tests_rows", "with_findings", "write_snapshot"]
