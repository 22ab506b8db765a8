"""Stored study results: read from the store, or from a committed snapshot (JSON) of them."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bridge.core.store import Store, open_run
from bridge.experiments.studies.catalogue import STUDIES
from bridge.experiments.studies.engine import STUDY_KIND
from bridge.experiments.studies.judging import PairedTest, VariantVerdict, variant_verdicts

FULL = "full"


class StudyResult(BaseModel):
    """One stored ``studies`` run: its declaration (as run), budget, tests and cells."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    budget: str
    device: str = "cpu"
    run_id: str
    finished: str
    wall_seconds: float
    study: dict
    rule: str = ""
    tests: tuple[PairedTest, ...]
    cells: tuple[dict, ...]
    plots: tuple[str, ...] = ()
    path: str = ""  # where it is in this machine's store ('' in a snapshot)

    @property
    def verdicts(self) -> dict[str, VariantVerdict]:
        return variant_verdicts(self.tests)

    @property
    def label(self) -> str:
        """The budget, with its device where that is not the CPU ("full cuda")."""
        return self.budget if self.device == "cpu" else f"{self.budget} {self.device}"

    @property
    def declared_after_runs(self) -> list[str]:
        """What of the declaration postdates a run of it: the declaration itself, or a cut said
        to precede the runs, dated after the first cell started (none for a sound result)."""
        started = min((str(cell["started"])[:10] for cell in self.cells), default=None)
        if started is None:
            return []
        dated = [("the declaration", self.study["declared"])]
        dated += [(f"cut {cut['what']!r}", cut["on"]) for cut in self.study.get("cuts", ()) if cut["before_runs"]]
        return [f"{what} ({on}) postdates the first run ({started})" for what, on in dated if on > started]

    @property
    def is_finding(self) -> bool:
        """Only a full budget answers the claim; a smaller one checks the protocol."""
        return self.budget == FULL


def _read(path: Path) -> StudyResult | None:
    """The result stored at ``path``; None for one of the v1 engine (its ``verdicts`` attribute
    and other test fields: see docs/store-schema.md)."""
    with open_run(path, STUDY_KIND) as run:
        if "verdicts" in run.h5.attrs:
            return None
        return StudyResult(
            name=run.name, budget=str(run.h5.attrs["budget"]), run_id=run.run_id, path=str(run.path),
            finished=run.finished, wall_seconds=run.wall_seconds, study=run.config["study"],
            rule=run.config.get("rule", ""), device=run.config.get("device", "cpu"),
            tests=tuple(PairedTest(**t) for t in json.loads(run.h5.attrs["tests"])),
            cells=tuple(json.loads(run.h5.attrs["cells"])), plots=tuple(sorted(run.h5.get("plots", {}))))


def all_results(store: Store, budget: str | None = None) -> list[StudyResult]:
    """Every stored result (of ``budget``) this engine can read: results stored by an older engine,
    whose tests it cannot read, are left out."""
    found = (_read(info.path) for info in store.list_runs(STUDY_KIND)
             if not budget or info.config.get("budget") == budget)
    return [result for result in found if result is not None]


def latest_results(store: Store, budget: str | None = None) -> list[StudyResult]:
    """The newest stored result of each study (and budget, device), in the order of the catalogue."""
    newest: dict[tuple[str, str, str], StudyResult] = {}
    for result in all_results(store, budget):
        key = (result.name, result.budget, result.device)
        if key not in newest or result.finished >= newest[key].finished:
            newest[key] = result
    order = list(STUDIES)
    return sorted(newest.values(), key=lambda r: (order.index(r.name) if r.name in order else 99, r.budget, r.device))


def write_snapshot(results: list[StudyResult], path: Path) -> None:
    """The results as committed JSON (no local paths): what the README's findings are generated from."""
    data = [r.model_dump(exclude={"path"}) for r in results]
    path.write_text(json.dumps(data, indent=1, allow_nan=True) + "\n", encoding="utf-8")


def read_snapshot(path: Path) -> list[StudyResult]:
    """A snapshot of :func:`write_snapshot`; no results where there is no file."""
    if not path.exists():
        return []
    return [StudyResult(**r) for r in json.loads(path.read_text(encoding="utf-8"))]
