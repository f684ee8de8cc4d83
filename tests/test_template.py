"""The template spec and the workbook generated from it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from openpyxl import load_workbook

from tests.conftest import DISTRICT
from tonghop.spec import load_spec
from tonghop.template import FILL_INPUT, FILL_PREFILLED, prefill_values, write_workbook

# Field keys named in domain.md §2.
DOMAIN_KEYS = {
    "total_households", "recently_exited",
    *(f"{kind}_{stage}" for kind in ("poor", "near_poor") for stage in ("start", "exited", "returned", "new", "end")),
    *(f"{component}_alloc_central" for component in
      ("p1", "p2", "p3_1", "p3_2", "p4_1", "p4_2", "p4_3", "p5", "p6_1", "p6_2", "p7_1", "p7_2")),
}


def test_spec_covers_the_domain_and_is_consistent():
    spec = load_spec()
    assert DOMAIN_KEYS <= set(spec.by_key)
    assert len(spec.by_key) == len(spec.fields)
    assert {f.type for f in spec.fields} <= {"count", "amount", "rate", "yesno", "code", "text", "email", "phone",
                                             "date", "period"}
    # 12 deprivation indicators for poor and near-poor, 12 funding components x 8 columns, 10 outputs x 3.
    assert len(spec.fields_of("deprivations")) == 24
    assert len([f for f in spec.fields_of("funding") if f.grid_row != "total"]) == 96
    assert len(spec.fields_of("outputs")) == 30
    for f in spec.fields:
        assert f.label and f.label[0].isupper(), f.key
        if f.type in ("count", "amount", "rate"):
            assert f.min == 0 and f.max > 0, f.key


@pytest.fixture
def blank_workbook(tmp_path, hierarchy, period):
    commune = hierarchy.reporting_units(DISTRICT)[0].code
    prefilled = prefill_values(load_spec(), hierarchy, period, commune)
    path = write_workbook(tmp_path / "blank.xlsx", prefilled, period)
    return load_workbook(path), prefilled


def test_generated_workbook_is_prefilled_locked_and_marked(blank_workbook, period):
    wb, prefilled = blank_workbook
    spec = load_spec()
    assert wb.sheetnames == [spec.instructions_sheet, *spec.sheet_names, spec.self_check["sheet"]]
    instructions = "\n".join(str(c.value) for c in wb[spec.instructions_sheet]["A"] if c.value)
    assert "10/11/2024" in instructions and "Huyện Ba Tri" in instructions
    for f in spec.fields:
        cell = wb[f.sheet][f.cell]
        if f.prefilled:
            assert cell.value == prefilled.get(f.prefilled), f.key
            assert cell.protection.locked and cell.fill.fgColor.rgb.endswith(FILL_PREFILLED.fgColor.rgb[-6:])
        elif f.formula:
            assert str(cell.value).startswith("=SUM("), f.key
        else:
            assert cell.value is None, f.key
            assert not cell.protection.locked, f.key
            assert cell.fill.fgColor.rgb.endswith(FILL_INPUT.fgColor.rgb[-6:]), f.key
    for name in spec.sheet_names:
        ws = wb[name]
        assert ws.protection.sheet, name
        assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4 and ws.print_title_rows, name
    assert wb["B. Hộ nghèo"]["B5"].value == "Tổng số hộ dân cư trên địa bàn"
    assert wb["B. Hộ nghèo"]["C5"].value == "hộ"


def test_inputs_carry_excel_data_validation(blank_workbook):
    wb, _ = blank_workbook
    spec = load_spec()
    for f in spec.input_fields():
        if f.type not in ("count", "amount", "rate", "yesno"):
            continue
        rules = [dv for dv in wb[f.sheet].data_validations.dataValidation if f.cell in dv.sqref]
        assert len(rules) == 1, f.key
        rule = rules[0]
        expected = {"count": "whole", "amount": "decimal", "rate": "decimal", "yesno": "list"}[f.type]
        assert rule.type == expected, f.key
        if f.type == "yesno":
            assert rule.formula1 == '"Có,Không"'
        else:
            assert rule.formula1 == "0" and rule.error, f.key


def test_filled_workbook_round_trips_through_the_parser(tmp_path, hierarchy, period):

    from tests.conftest import ROOT
    from tonghop.findings import load_catalogue
    from tonghop.parse import read_report
    from tonghop.synth import commune_values

    spec = load_spec()
    unit = hierarchy.reporting_units(DISTRICT)[5]
    values = commune_values(1, unit, period, spec)
    values["p2_alloc_central"] = Decimal("466.25")
    path = write_workbook(tmp_path / "filled.xlsx", prefill_values(spec, hierarchy, period, unit.code), period, values)
    report = read_report(path.read_bytes(), "s", path.name, spec, load_catalogue(ROOT / "expectations"))
    for key, value in values.items():
        assert report.values[key] == value, key
    assert report.values["commune_code"] == unit.code and report.values["period_id"] == period.id
    assert report.values["p2_alloc_central"] == Decimal("466.25")
