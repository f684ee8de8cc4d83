"""The commune workbook checks itself (tonghop.self_check): for every mistake kind whose check Excel can compute,
a workbook with that mistake is computed by LibreOffice headless, and the verdicts on its "Tự kiểm tra" sheet
must equal what `tonghop check` finds in the same file; the failing rule's cells turn red."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.conftest import DISTRICT, PERIOD
from tests.office import convert
from tonghop.config import Settings
from tonghop.self_check import FAILED, FIRST_ROW, INCOMPLETE, PASSED, workbook_rules
from tonghop.spec import load_spec
from tonghop.synth import MISTAKES, SampleOptions, generate_sample, manifest_path

SHEET = "Tự kiểm tra"
RULES = workbook_rules(load_spec(), Settings.from_env().expectations_dir)
SELF_CHECKS = {r.check_id for r in RULES}
# Every mistake the generator can inject whose check the workbook computes (balance: B-002 or B-003).
KINDS = sorted(kind for kind, (_, check_id, _) in MISTAKES.items() if set(check_id.split("|")) & SELF_CHECKS)


def test_the_rules_cover_what_communes_most_often_break():
    # stock and flow, three groups, subsets, poor + near-poor ≤ all, disbursed ≤ available, total = rows
    assert {"TH-B-001", "TH-B-002", "TH-B-003", "TH-B-004", "TH-B-005", "TH-C-001", "TH-D-001", "TH-D-002",
            "TH-D-003", "TH-D-004", "TH-E-001"} <= SELF_CHECKS
    assert {"balance_mismatch", "groups_mismatch", "subset_exceeds", "total_exceeded", "overdisbursed_central",
            "overdisbursed_local", "overdisbursed_mobilised", "total_row_mismatch"} <= set(KINDS)


@pytest.fixture(scope="module")
def computed(tmp_path_factory, hierarchy, period):
    """kind → (the generated workbook, the same computed by LibreOffice, the check id injected); "clean" too."""
    work = tmp_path_factory.mktemp("self-check")
    unit = hierarchy.reporting_units(DISTRICT)[3]
    flat, injected = work / "workbooks", {}
    flat.mkdir()
    for i, kind in enumerate(["clean", *KINDS]):
        severity = MISTAKES[kind][2] if kind != "clean" else None
        # Numbers typed as numbers: the template's data validation refuses text in a number cell in Excel.
        options = SampleOptions(seed=100 + i, error_rate=float(severity == "error"),
                                warning_rate=float(severity == "warning"), kinds=(kind,) if severity else (),
                                warning_kinds=(kind,) if severity else (), text_number_rate=0, late_rate=0)
        inbox = work / kind
        generate_sample([unit], period, hierarchy, inbox, options)
        (report,) = json.loads(manifest_path(inbox, PERIOD).read_text(encoding="utf-8"))["reports"]
        injected[kind] = report["mistakes"][0]["check_id"] if report["mistakes"] else None
        shutil.copy(next(inbox.rglob("*.xlsx")), flat / f"{kind}.xlsx")
    paths = sorted(flat.glob("*.xlsx"))
    out = convert(paths, "xlsx", work / "computed", work)
    return {p.stem: (p, o, injected[p.stem]) for p, o in zip(paths, out, strict=True)}


def _verdicts(path: Path) -> list[tuple[str, str, bool]]:
    """(check id, result, the named verdict) of each rule, as LibreOffice computed them."""
    ws = load_workbook(path, data_only=True)[SHEET]
    return [(ws[f"B{row}"].value, ws[f"D{row}"].value, ws[f"E{row}"].value)
            for row in range(FIRST_ROW, FIRST_ROW + len(RULES))]


def test_the_workbooks_verdicts_equal_tonghop_check_for_every_mistake_kind(computed, tonghop, tmp_path):
    originals = {kind: original for kind, (original, _, _) in computed.items()}
    done = tonghop("check", *map(str, originals.values()), "--format", "json", home=tmp_path, check=False)
    found = {Path(r["file"]).stem: {f["check_id"] for f in r["findings"]} for r in json.loads(done.stdout)}
    for kind, (_, calculated, check_id) in computed.items():
        verdicts = _verdicts(calculated)
        assert {result for _, result, _ in verdicts} <= {PASSED, FAILED}, (kind, "every input is a number")
        assert all((result == PASSED) == named for _, result, named in verdicts), kind
        failing = {check for check, result, _ in verdicts if result == FAILED}
        assert failing == found[kind] & SELF_CHECKS, (kind, failing, found[kind])
        if kind == "clean":
            assert not failing and not found[kind] & SELF_CHECKS
        else:
            assert check_id in failing, (kind, check_id, failing)  # the workbook saw the injected mistake


def test_a_failing_rule_turns_its_cells_red(computed):
    original, calculated, _ = computed["balance_mismatch"]
    wb = load_workbook(original)
    verdicts = _verdicts(calculated)
    failing = [i for i, (_, result, _) in enumerate(verdicts) if result == FAILED]
    assert failing and all(RULES[i].check_id in ("TH-B-002", "TH-B-003") for i in failing)
    for i in failing:
        name = f"TuKiemTra_{i + 1:03d}"
        # The name points at the verdict LibreOffice computed FALSE for this rule.
        assert wb.defined_names[name].attr_text == f"'{SHEET}'!$E${FIRST_ROW + i}"
        for sheet, cell in RULES[i].marked:
            formats = [rule for cf in wb[sheet].conditional_formatting if cell in cf.sqref for rule in cf.rules]
            assert any(rule.formula == [f"NOT({name})"] and rule.dxf.fill.fgColor.rgb.endswith("FFC7CE")
                       for rule in formats), (sheet, cell)
    # The commune's balance cells are among those marked: what the officer typed wrong is what turns red.
    marked = {c for i in failing for _, c in RULES[i].marked}
    assert {"D11"} & marked or {"E11"} & marked


def test_an_unfinished_workbook_is_not_judged_and_the_file_stays_protected(computed, tmp_path):
    original, _, _ = computed["clean"]
    wb = load_workbook(original)
    balance = next(r for r in RULES if r.check_id == "TH-B-002")
    sheet, cell = balance.inputs[-1].split("!")
    wb[sheet.strip("'")][cell.replace("$", "")] = None  # one input of the poor households' balance left blank
    blank = tmp_path / "blank.xlsx"
    wb.save(blank)
    (calculated,) = convert([blank], "xlsx", tmp_path / "computed", tmp_path)
    by_check = {}
    for check, result, named in _verdicts(calculated):
        by_check.setdefault(check, set()).add((result, named))
    assert (INCOMPLETE, True) in by_check["TH-B-002"]  # not judged, not red
    assert all(result != FAILED for results in by_check.values() for result, _ in results)
    wb = load_workbook(original)
    assert wb.sheetnames[-1] == SHEET and all(ws.protection.sheet for ws in wb.worksheets)
    sheet = wb[SHEET]
    assert int(sheet.page_setup.paperSize) == int(sheet.PAPERSIZE_A4) and sheet.sheet_properties.pageSetUpPr.fitToPage
