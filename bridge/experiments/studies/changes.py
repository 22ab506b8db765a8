"""What changed since the last catalogue: every test of a study's newest full-budget result beside
the same test in the study's previous full-budget result in the store (another declaration),
verdict old -> new, with the reasons read from the two results: more seeds, the selection split,
the training images, the grid (a new condition, arm or test), a dropped test. A study with no
earlier result in the store is set beside the first catalogue's record (``record``), whose
budgets the record does not hold: those rows name what it does show (seeds, test-set choice)."""

from __future__ import annotations

from bridge.experiments.studies.judging import PairedTest
from bridge.experiments.studies.record import RecordedTest
from bridge.experiments.studies.results import FULL, StudyResult

CHANGES_HEADERS = ["study", "claim (variant)", "condition", "test", "verdict before", "verdict now", "why it changed"]


def previous_results(stored: list[StudyResult], current: list[StudyResult]) -> dict[tuple[str, str], StudyResult]:
    """Per (study, device), the newest full-budget result of ``stored`` under another declaration,
    finished before the current one; those without one are left out."""
    previous: dict[tuple[str, str], StudyResult] = {}
    now = {(r.name, r.device): r for r in current if r.budget == FULL}
    for result in (r for r in stored if r.budget == FULL):
        key = (result.name, result.device)
        newer = now.get(key)
        if newer is None or result.study == newer.study or result.finished >= newer.finished:
            continue
        if key not in previous or result.finished > previous[key].finished:
            previous[key] = result
    return previous


def _key(test: PairedTest) -> tuple[str, str, str, str]:
    return test.variant, test.condition, test.treatment, test.baseline


def _budget(result: StudyResult) -> dict:
    return result.study["budgets"][FULL]


def _reasons(new: PairedTest, old: PairedTest | None, now: StudyResult, before: StudyResult) -> str:
    if old is None:
        conditions = {t.condition for t in before.tests}
        return "new condition" if new.condition not in conditions else "new arm or test"
    reasons = []
    if new.n != old.n:
        reasons.append(f"{old.n} -> {new.n} seeds")
    if new.selected_on != old.selected_on:
        reasons.append(f"learning rate chosen on {old.selected_on} -> {new.selected_on}")
    if _budget(now)["n_train"] != _budget(before)["n_train"]:
        reasons.append(f"{_budget(before)['n_train']} -> {_budget(now)['n_train']} training images")
    if _budget(now)["epochs"] != _budget(before)["epochs"]:
        reasons.append(f"{_budget(before)['epochs']} -> {_budget(now)['epochs']} epochs")
    return "; ".join(reasons) or "the same protocol (new runs)"


def change_rows(current: list[StudyResult], previous: dict[tuple[str, str], StudyResult]) -> list[list[str]]:
    """One row per test of the current results (and per test dropped since the previous ones)."""
    rows = []
    for now in (r for r in current if (r.name, r.device) in previous and r.budget == FULL):
        before = previous[(now.name, now.device)]
        old = {_key(t): t for t in before.tests}
        for test in now.tests:
            earlier = old.pop(_key(test), None)
            rows.append([now.name, test.variant, test.condition, f"{test.treatment} vs {test.baseline}",
                         earlier.verdict if earlier else "not tested", test.verdict,
                         _reasons(test, earlier, now, before)])
        rows += [[now.name, t.variant, t.condition, f"{t.treatment} vs {t.baseline}", t.verdict, "not tested",
                  "dropped from the declaration"] for t in old.values()]
    return rows


def record_rows(current: list[StudyResult], previous: dict[tuple[str, str], StudyResult],
                recorded: list[RecordedTest]) -> list[list[str]]:
    """One row per test of the current full-budget results that have no earlier result in the store
    but do in the first catalogue's record (its full-budget tests), verdict then -> now."""
    then = {(r.study, r.variant, r.condition, r.treatment, r.baseline): r for r in recorded if r.budget == FULL}
    rows = []
    for now in (r for r in current if r.budget == FULL and (r.name, r.device) not in previous):
        if not any(key[0] == now.name for key in then):
            continue
        for test in now.tests:
            earlier = then.get((now.name, *_key(test)))
            rows.append([now.name, test.variant, test.condition, f"{test.treatment} vs {test.baseline}",
                         earlier.verdict if earlier else "not tested", test.verdict, _record_reasons(test, earlier)])
    return rows


def _record_reasons(test: PairedTest, earlier: RecordedTest | None) -> str:
    if earlier is None:
        return "new condition, arm or test (first catalogue: docs/studies-v1.md)"
    reasons = [f"{earlier.n} -> {test.n} seeds"] if test.n != earlier.n else []
    if test.selected_on == "validation":
        reasons.append("learning rate chosen on test -> validation")
    return "; ".join(reasons + ["the v1 engine's tests and budget (docs/studies-v1.md)"])
