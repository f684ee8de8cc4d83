"""Parsing and Great Expectations validation of batches of reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import DISTRICT, PERIOD, ROOT
from tonghop.findings import load_catalogue
from tonghop.inbox import InboxFile, LocalInbox
from tonghop.numbers import decimal_from_float, parse_number_text
from tonghop.parse import StructureError, read_report
from tonghop.spec import load_spec
from tonghop.synth import ERROR_KINDS, SampleOptions, commune_values, generate_sample
from tonghop.template import prefill_values, write_workbook
from tonghop.validate import BatchValidator

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
    findings = _validate(hierarchy, period, [(item, content)])
    assert [(f.check_id, f.cell) for f in findings if f.severity == "error"] == [("TH-F-001", "D18")]
    message = findings[0].message
    assert "B. Hộ nghèo" in message and "D18" in message and "bảo trợ xã hội" in message and "nhập 0" in message


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_each_injected_mistake_is_caught_at_its_cell(tmp_path, hierarchy, period, kind):
    options = SampleOptions(seed=9, error_rate=1.0, kinds=(kind,), late_rate=0.0, text_number_rate=0.0)
    units = hierarchy.reporting_units(DISTRICT)[:3]
    reports = generate_sample(units, period, hierarchy, tmp_path, options)
    inbox = LocalInbox(tmp_path)
    items = [(f, inbox.read(f)) for f in inbox.list(PERIOD)]
    findings = _validate(hierarchy, period, items)
    spec = load_spec()
    for report in reports:
        (mistake,) = report.mistakes
        own = [f for f in findings if f.submission_id.endswith(f"/{report.commune_code}/{report.path.name}")]
        assert any(f.severity == "error" for f in own), (kind, report.commune_code)
        hits = [f for f in own if f.check_id == mistake.check_id]
        assert hits, (kind, [f.check_id for f in own])
        field = spec.by_key[mistake.field]
        assert any(field.cell in (f.cell or "") for f in hits), (kind, field.cell, [f.cell for f in hits])
        for f in hits:
            assert f.message.startswith(f"Trang «{f.sheet}»"), f.message
            cells = [c.split("!")[-1] for c in f.cell.split(", ")]
            if len(cells) == 1:
                assert f.label in f.message, f.message
            assert all(c in f.message for c in cells), (f.cell, f.message)


def test_clean_batch_has_no_findings_and_one_gx_run_per_suite(tmp_path, hierarchy, period, monkeypatch):
    import great_expectations as gx

    runs = []
    original = gx.ValidationDefinition.run

    def counting_run(self, *args, **kwargs):
        runs.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(gx.ValidationDefinition, "run", counting_run)
    generate_sample(hierarchy.reporting_units(DISTRICT), period, hierarchy, tmp_path, SampleOptions(seed=2))
    inbox = LocalInbox(tmp_path)
    items = [(f, inbox.read(f)) for f in inbox.list(PERIOD)]
    assert len(items) == 22
    assert _validate(hierarchy, period, items) == []
    suites = sorted(p.stem for p in EXPECTATIONS.glob("*.json"))
    assert sorted(name.split(":")[1] for name in runs) == suites


def test_identification_and_window_checks(tmp_path, hierarchy, period, calendar):
    item, content, _ = _workbook(tmp_path, hierarchy, period, lambda v, p: p.update(district_code="837"))
    late = InboxFile(**{**item.__dict__, "received_at": period.closes_at + dt.timedelta(hours=1)})
    findings = _validate(hierarchy, period, [(late, content)])
    assert {f.check_id for f in findings} == {"TH-A-002", "TH-A-006"}
    district = next(f for f in findings if f.check_id == "TH-A-002")
    assert district.cell == "C10" and district.value == "837" and district.expected == "836"
    other = calendar.get("2026-H1")
    assert {f.check_id for f in _validate(hierarchy, other, [(item, content)])} >= {"TH-A-005", "TH-A-006"}


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
