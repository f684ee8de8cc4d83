"""Parsing and Great Expectations validation of batches of reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import DISTRICT, PERIOD, ROOT
from tonghop.findings import load_catalogue
from tonghop.inbox import InboxFile
from tonghop.numbers import decimal_from_float, parse_number_text
from tonghop.parse import StructureError, read_report
from tonghop.pipeline import run_period
from tonghop.spec import load_spec
from tonghop.synth import (
    ERROR_KINDS,
    HISTORY_KINDS,
    MISTAKES,
    WARNING_KINDS,
    SampleOptions,
    commune_values,
    generate_sample,
)
from tonghop.template import prefill_values, write_workbook
from tonghop.validate import BatchValidator
from tonghop.warehouse import Warehouse

EXPECTATIONS = ROOT / "expectations"


@pytest.mark.parametrize("text, number", [
    ("1.234", Decimal(1234)), ("15.555,25", Decimal("15555.25")), ("1,5", Decimal("1.5")),
    ("1 234", Decimal(1234)), ("0", Decimal(0)), ("1.234.567", Decimal(1234567)), ("1,234.5", Decimal("1234.5")),
    ("khoảng 200", None), ("12a", None), ("", None),
])
def test_vietnamese_number_text(text, number):
    assert parse_number_text(text) == number


def test_excel_doubles_become_the_decimals_excel_shows():
    assert decimal_from_float(466.25) == Decimal("466.25")
    assert decimal_from_float(0.1 + 0.2) == Decimal("0.3")


def _workbook(tmp_path: Path, hierarchy, period, edit) -> tuple[InboxFile, bytes, dict]:
    spec = load_spec()
    unit = hierarchy.reporting_units(DISTRICT)[2]
    values = commune_values(42, unit, period, spec)
    prefilled = prefill_values(spec, hierarchy, period, unit.code)
    edit(values, prefilled)
    path = write_workbook(tmp_path / f"{PERIOD}/83/{unit.code}/bc.xlsx", prefilled, period, values)
    item = InboxFile(key=f"{PERIOD}/83/{unit.code}/bc.xlsx", period_id=PERIOD, province_code="83",
                     submitted_for=unit.code, received_at=period.commune_deadline - dt.timedelta(days=2), size=0)
    return item, path.read_bytes(), values


def _validate(hierarchy, period, items):
    spec, catalogue = load_spec(), load_catalogue(EXPECTATIONS)
    parsed = [(item, read_report(content, item.key, item.file_name, spec, catalogue)) for item, content in items]
    return BatchValidator(spec, hierarchy, EXPECTATIONS).validate(period, parsed)


def test_blank_is_not_zero_and_text_numbers_are_read(tmp_path, hierarchy, period):
    def edit(values, _):
        values["poor_merit"] = 0
        values["poor_social_protection"] = None
        values["total_households"] = f"{values['total_households']:,}".replace(",", ".")  # "1.234"
        values["p2_alloc_central"] = "15.555,25"

    item, content, values = _workbook(tmp_path, hierarchy, period, edit)
    report = read_report(content, "s", "bc.xlsx", load_spec(), load_catalogue(EXPECTATIONS))
    assert report.values["poor_merit"] == 0 and report.values["poor_social_protection"] is None
    assert report.values["total_households"] == int(values["total_households"].replace(".", ""))
    assert report.values["p2_alloc_central"] == Decimal("15555.25")
    findings = _validate(hierarchy, period, [(item, content)]).findings
    assert [(f.check_id, f.cell) for f in findings if f.severity == "error"] == [("TH-F-001", "D18")]
    message = findings[0].message
    assert "B. Hộ nghèo" in message and "D18" in message and "bảo trợ xã hội" in message and "nhập 0" in message


def _findings_by_source(engine) -> tuple[dict[str, dict], dict[str, set[tuple[str, str, str]]]]:
    submissions = {s["source_key"]: s for s in engine.read_table("submission", period_id=PERIOD)}
    by_id: dict[str, set[tuple[str, str, str]]] = {s["submission_id"]: set() for s in submissions.values()}
    for f in engine.read_table("finding"):
        by_id[f["submission_id"]].add((f["check_id"], f["severity"], f["cell"] or ""))
    return submissions, {key: by_id[s["submission_id"]] for key, s in submissions.items()}


def test_injected_mistakes_of_every_kind_are_found_exactly(settings, hierarchy, period):
    """Each kind on its own commune among clean ones: findings = injected mistakes, no misses, no extras."""
    kinds = [*ERROR_KINDS, *WARNING_KINDS]
    units = hierarchy.reporting_units("83")[: len(kinds) + 20]
    reports = []
    for unit, kind in zip(units, kinds, strict=False):
        error = MISTAKES[kind][2] == "error"
        options = SampleOptions(seed=3, error_rate=1.0 if error else 0.0, warning_rate=0.0 if error else 1.0,
                                kinds=(kind,) if error else (), warning_kinds=() if error else (kind,))
        reports += generate_sample([unit], period, hierarchy, settings.inbox_dir, options)
    reports += generate_sample(units[len(kinds):], period, hierarchy, settings.inbox_dir, SampleOptions(seed=3))
    assert {m.kind for r in reports for m in r.mistakes} == set(kinds)

    run_period(settings, PERIOD)
    submissions, found = _findings_by_source(Warehouse(settings.warehouse))
    spec = load_spec()
    assert len(submissions) == len(reports)
    for report in reports:
        key = report.path.relative_to(settings.inbox_dir).as_posix()
        got = found[key]
        if not report.mistakes:
            assert got == set(), (report.commune_code, got)
            assert submissions[key]["status"] == "accepted"
            continue
        (mistake,) = report.mistakes
        assert {(c, s) for c, s, _ in got} == {(mistake.check_id, mistake.severity)}, (mistake.kind, got)
        if mistake.field in spec.by_key and not mistake.check_id.startswith("TH-S-"):
            (cells,) = [cell for _, _, cell in got]
            assert spec.by_key[mistake.field].cell in cells.split(", "), (mistake.kind, cells)
        assert submissions[key]["status"] == ("rejected" if mistake.severity == "error" else "accepted")
        assert submissions[key]["annotated_path"] or mistake.check_id in ("TH-S-001", "TH-S-002", "TH-S-003",
                                                                             "TH-S-004")


@pytest.fixture
def gx_runs(monkeypatch) -> list[str]:
    """The names of the GX validation runs made while the test runs, in order."""
    import great_expectations as gx

    runs: list[str] = []
    original = gx.ValidationDefinition.run

    def counting_run(self, *args, **kwargs):
        runs.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(gx.ValidationDefinition, "run", counting_run)
    return runs


def test_clean_province_one_gx_run_per_suite_with_data_docs(settings, hierarchy, period, gx_runs):
    runs = gx_runs
    generate_sample(hierarchy.reporting_units("83"), period, hierarchy, settings.inbox_dir, SampleOptions(seed=2))
    summary = run_period(settings, PERIOD)
    assert summary["ingest"]["files"] == 148
    assert (summary["ingest"]["errors"], summary["ingest"]["warnings"]) == (0, 0)
    suites = sorted(p.stem for p in EXPECTATIONS.glob("*.json"))
    review = sorted(p.stem for p in EXPECTATIONS.glob("review/*.json"))  # outliers: once, at consolidation
    # one run per suite for the batch, not per report
    assert sorted(name.split(":")[1] for name in runs) == sorted(suites + review)
    docs = Path(urlparse(summary["ingest"]["data_docs"]).path)
    assert docs.name == "index.html" and docs.is_file()
    assert "<html" in docs.read_text(encoding="utf-8").lower()
    pages = sorted(p.parent.parent.parent.name for p in (docs.parent / "validations").glob("*/*/*/*.html"))
    assert pages == suites


def test_history_checks_compare_with_the_previous_accepted_report(settings, hierarchy, period, calendar):
    """H1 then FY of a clean district: no warning. Then FY reports with jumps: exactly the jumps are flagged."""
    units = hierarchy.reporting_units(DISTRICT)
    h1 = calendar.get("2024-H1")
    generate_sample(units, h1, hierarchy, settings.inbox_dir, SampleOptions(seed=8, late_rate=0))
    run_period(settings, h1.id)
    generate_sample(units[3:], period, hierarchy, settings.inbox_dir, SampleOptions(seed=8, late_rate=0))
    jumps = []
    for unit, kind in zip(units[:3], HISTORY_KINDS, strict=True):
        jumps += generate_sample([unit], period, hierarchy, settings.inbox_dir, SampleOptions(
            seed=8, late_rate=0, warning_rate=1.0, warning_kinds=(kind,)))
    summary = run_period(settings, PERIOD)
    assert summary["files_accepted"] == len(units)
    _, found = _findings_by_source(Warehouse(settings.warehouse))
    flagged = {key: got for key, got in found.items() if got}
    expected = {r.path.relative_to(settings.inbox_dir).as_posix(): r.mistakes[0] for r in jumps}
    assert set(flagged) == set(expected)
    for key, mistake in expected.items():
        assert {c for c, _, _ in flagged[key]} == {mistake.check_id}, (mistake.kind, flagged[key])
    messages = [f["message"] for f in Warehouse(settings.warehouse).read_table("finding")]
    assert any("2024-H1" in m for m in messages)


@pytest.mark.parametrize("content, check", [
    (b"", "TH-S-001"),
    (b"\x89PNG\r\n not a workbook at all", "TH-S-001"),
    (b"commune_code,poor_end\n29110,12\n", "TH-S-001"),
])
def test_unreadable_files_get_a_structural_finding(content, check):
    with pytest.raises(StructureError) as caught:
        read_report(content, "s", "bc.xlsx", load_spec(), load_catalogue(EXPECTATIONS))
    assert caught.value.finding.check_id == check
    assert "bc.xlsx" in caught.value.finding.message


def test_foreign_workbook_and_old_template_version(tmp_path, hierarchy, period):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "Sheet1"
    wb.save(tmp_path / "other.xlsx")
    with pytest.raises(StructureError) as caught:
        read_report((tmp_path / "other.xlsx").read_bytes(), "s", "other.xlsx", load_spec(),
                    load_catalogue(EXPECTATIONS))
    assert caught.value.finding.check_id == "TH-S-002" and "B. Hộ nghèo" in caught.value.finding.message

    _, content, _ = _workbook(tmp_path, hierarchy, period, lambda v, p: p.update(template_version="0.9"))
    with pytest.raises(StructureError) as caught:
        read_report(content, "s", "bc.xlsx", load_spec(), load_catalogue(EXPECTATIONS))
    assert caught.value.finding.check_id == "TH-S-003" and caught.value.finding.value == "0.9"


def _batch_with_every_mistake(tmp_path, hierarchy, period) -> tuple[list[tuple[InboxFile, object]], list[str]]:
    """A batch with a mistake of every kind found by validation among clean reports: (parsed reports, the kinds)."""
    kinds = [k for k in (*ERROR_KINDS, *WARNING_KINDS) if not MISTAKES[k][1].startswith("TH-S-")]
    units = hierarchy.reporting_units("83")[: len(kinds) + 5]
    for unit, kind in zip(units, kinds, strict=False):
        error = MISTAKES[kind][2] == "error"
        options = SampleOptions(seed=5, error_rate=1.0 if error else 0.0, warning_rate=0.0 if error else 1.0,
                                kinds=(kind,) if error else (), warning_kinds=() if error else (kind,))
        generate_sample([unit], period, hierarchy, tmp_path / "inbox", options)
    reports = generate_sample(units[len(kinds):], period, hierarchy, tmp_path / "inbox", SampleOptions(seed=5))
    spec, catalogue = load_spec(), load_catalogue(EXPECTATIONS)
    paths = sorted((tmp_path / "inbox").rglob("*.xlsx"))
    assert len(paths) == len(units) and reports
    parsed = []
    for path in paths:
        key = path.relative_to(tmp_path / "inbox").as_posix()
        item = InboxFile(key=key, period_id=PERIOD, province_code="83", submitted_for=path.parent.name,
                         received_at=period.commune_deadline, size=0)
        parsed.append((item, read_report(path.read_bytes(), key, path.name, spec, catalogue)))
    return parsed, kinds


def test_verdicts_first_finds_what_one_complete_run_finds(tmp_path, hierarchy, period, gx_runs):
    """With `verdicts_first` (by default: a few reports without Data Docs) each suite runs first for its verdicts and
    again only for what failed; otherwise every expectation runs once, completely. Both find the same, for a batch
    with a mistake of every kind found by validation among clean reports."""
    parsed, kinds = _batch_with_every_mistake(tmp_path, hierarchy, period)
    validator, runs = BatchValidator(load_spec(), hierarchy, EXPECTATIONS), gx_runs
    verdicts_first = validator.validate(period, parsed, verdicts_first=True).findings
    assert any(name.endswith(":failing") for name in runs)  # the failing expectations ran again
    runs.clear()
    complete = validator.validate(period, parsed).findings
    assert not any(name.endswith(":failing") for name in runs)  # a batch of this size: one complete run
    assert verdicts_first == complete
    found = {f.check_id for f in complete}
    # every kind is found (received at the deadline here, so a file sent after the close is not)
    assert all(set(MISTAKES[k][1].split("|")) & found for k in kinds if k != "after_close")


def _validation_pages(docs_dir: Path) -> list[str]:
    return sorted(p.parent.parent.parent.name for p in (docs_dir / "validations").glob("*/*/*/*.html"))


def test_suites_over_two_processes_find_and_document_what_one_process_does(tmp_path, hierarchy, period):
    """A large batch spreads its suites over two processes (tonghop.validate.run_suites): the same findings, the same
    GX runs, and Data Docs with a page for every suite, the other process's included."""
    parsed, kinds = _batch_with_every_mistake(tmp_path, hierarchy, period)
    validator = BatchValidator(load_spec(), hierarchy, EXPECTATIONS)
    one = validator.validate(period, parsed, docs_dir=tmp_path / "one", parallel=False)
    two = validator.validate(period, parsed, docs_dir=tmp_path / "two", parallel=True)
    assert two.findings == one.findings and two.gx_runs == one.gx_runs
    found = {f.check_id for f in two.findings}
    assert all(set(MISTAKES[k][1].split("|")) & found for k in kinds if k != "after_close")
    suites = sorted(p.stem for p in EXPECTATIONS.glob("*.json"))
    assert _validation_pages(tmp_path / "one") == _validation_pages(tmp_path / "two") == suites
    expectation_pages = sorted(p.stem for p in (tmp_path / "two" / "expectations").glob("*.html"))
    assert expectation_pages == suites


def test_suites_of_a_failed_second_process_run_in_the_first(tmp_path, hierarchy, period, monkeypatch, caplog):
    """The second process does not answer in time (killed past its deadline, here 10 ms): its suites run in the first
    process after all, and nothing is missing."""
    from tonghop import validate
    from tonghop.isolation import Limits

    parsed, _ = _batch_with_every_mistake(tmp_path, hierarchy, period)
    validator = BatchValidator(load_spec(), hierarchy, EXPECTATIONS)
    one = validator.validate(period, parsed, docs_dir=tmp_path / "one", parallel=False)
    monkeypatch.setattr(validate, "SUITES_LIMITS", Limits(seconds=0.01))
    with caplog.at_level("WARNING", logger="tonghop.validate"):
        two = validator.validate(period, parsed, docs_dir=tmp_path / "two", parallel=True)
    assert "the second validation process failed" in caplog.text
    assert two.findings == one.findings and two.gx_runs == one.gx_runs
    assert _validation_pages(tmp_path / "two") == sorted(p.stem for p in EXPECTATIONS.glob("*.json"))
