"""Every check of the catalogue: a workbook that fails it (reported on exactly the expected cells, with the
expected severity, and nothing else) and a workbook that passes it (usually the boundary value).

The examples are validated together, each under its own submission id, as the pipeline validates a batch:
one Great Expectations run for all of them, and one per previous period the cross-period checks compare with."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.conftest import DISTRICT, PERIOD, ROOT
from tonghop.findings import load_catalogue
from tonghop.inbox import InboxFile
from tonghop.parse import StructureError, read_report
from tonghop.spec import load_spec
from tonghop.synth import commune_values
from tonghop.template import prefill_values, write_workbook
from tonghop.validate import BatchValidator, History

EXPECTATIONS = ROOT / "expectations"
FUNDING = "D. Kinh phí"


@dataclasses.dataclass
class Case:
    """A clean report of one commune, then `edit` applied to its cells / delivery."""

    values: dict[str, Any]
    prefilled: dict[str, Any]
    submitted_for: str
    received_at: dt.datetime
    history: History = dataclasses.field(default_factory=History)
    drop_sheet: str | None = None


Edit = Callable[[Case], None]


def _rates(c: Case) -> None:
    for prefix in ("poor", "near_poor"):
        c.values[f"{prefix}_rate"] = (Decimal(c.values[f"{prefix}_end"] * 100) / c.values["total_households"]
                                      ).quantize(Decimal("0.0001"))


def _eligible_p2(c: Case) -> None:
    c.values.update(p2_applicable=True, p2_carried_over=Decimal("120.5"), p2_alloc_central=Decimal(300),
                    p2_alloc_local=Decimal("40.25"), p2_mobilised=Decimal(10), p2_disb_central=Decimal(100),
                    p2_disb_local=Decimal(40), p2_disb_mobilised=Decimal(0))


def _funding_sum(c: Case, column: str) -> Decimal:
    rows = [r.key for r in load_spec().section("funding").grid_rows]
    return sum((c.values[f"{r}_{column}"] for r in rows), Decimal(0))


def _previous(c: Case, **changes: Any) -> None:
    """The commune's accepted first-half report of the same year, as the warehouse would give it."""
    previous = {k: c.values[k] for k in ("total_households", "poor_end", "poor_start", "near_poor_start")}
    previous.update(changes)
    c.history = History(period_id="2024-H1", reports={c.submitted_for: previous}, is_first_half_of_same_year=True)


def _set_total(c: Case, total: int) -> None:
    c.values["total_households"] = total
    _rates(c)


# check id → (severity, sheet, cells, failing edit, passing edit)
CASES: dict[str, tuple[str, str | None, set[str], Edit, Edit]] = {
    "TH-A-001": ("error", "A. Thông tin chung", {"C12"},
                 lambda c: c.prefilled.update(commune_code="99999"),
                 lambda c: c.prefilled.update(commune_code=f" {c.submitted_for} ")),  # stray spaces: fine
    "TH-A-002": ("error", "A. Thông tin chung", {"C10"},
                 lambda c: c.prefilled.update(district_code="837"), lambda c: c.prefilled.update(district_code="836")),
    "TH-A-003": ("error", "A. Thông tin chung", {"C8"},
                 lambda c: c.prefilled.update(province_code="84"), lambda c: c.prefilled.update(province_code=" 83 ")),
    "TH-A-004": ("error", "A. Thông tin chung", {"C12"},
                 lambda c: setattr(c, "submitted_for", "29116"), lambda c: None),
    "TH-A-005": ("error", "A. Thông tin chung", {"C6"},
                 lambda c: c.prefilled.update(period_id="2024-H1"), lambda c: c.prefilled.update(period_id="2024-FY")),
    "TH-A-006": ("error", None, set(),
                 lambda c: setattr(c, "received_at", _period().closes_at + dt.timedelta(seconds=1)),
                 lambda c: setattr(c, "received_at", _period().closes_at)),
    # The two-level map's form sent for a pre-reform period (and back: tests/test_map_editions.py).
    "TH-A-008": ("error", "A. Thông tin chung", {"C5"},
                 lambda c: c.prefilled.update(template_version="2.0"),
                 lambda c: c.prefilled.update(template_version="1.0")),
    "TH-F-001": ("error", "B. Hộ nghèo", {"D17"},
                 lambda c: c.values.update(poor_merit=None), lambda c: c.values.update(poor_merit=0)),
    "TH-F-002": ("error", "B. Hộ nghèo", {"D5"},
                 lambda c: c.values.update(total_households="khoảng 2 nghìn"),
                 lambda c: c.values.update(total_households=f"{c.values['total_households']:,}".replace(",", "."))),
    "TH-F-003": ("error", "E. Chỉ tiêu", {"D10"},
                 lambda c: c.values.update(out_housing_plan=Decimal("78.5")),
                 lambda c: c.values.update(out_housing_plan=Decimal("78.0"))),
    "TH-F-004": ("error", "C. Thiếu hụt", {"D14"},
                 lambda c: c.values.update(dep_latrine_poor=-1), lambda c: c.values.update(dep_latrine_poor=0)),
    "TH-F-005": ("error", "E. Chỉ tiêu", {"D5"},
                 lambda c: c.values.update(out_jobs_plan=1_000_001),
                 lambda c: c.values.update(out_jobs_plan=1_000_000)),
    "TH-F-006": ("error", FUNDING, {"D7"},
                 lambda c: (_eligible_p2(c), c.values.update(p2_carried_over=Decimal("120.5001"))),
                 lambda c: (_eligible_p2(c), c.values.update(p2_carried_over=Decimal("120.501")))),
    "TH-F-007": ("error", FUNDING, {"C7"},
                 lambda c: (_eligible_p2(c), c.values.update(p2_applicable="Chưa rõ")),
                 lambda c: (_eligible_p2(c), c.values.update(p2_applicable="có"))),
    "TH-F-008": ("error", "A. Thông tin chung", {"C18"},
                 lambda c: c.values.update(date_prepared="30/02/2024"),
                 lambda c: c.values.update(date_prepared="28/02/2024")),
    "TH-F-009": ("warning", "A. Thông tin chung", {"C16"},
                 lambda c: c.values.update(preparer_phone="09x12"),
                 lambda c: c.values.update(preparer_phone="0912 345 678")),
    "TH-F-010": ("warning", "A. Thông tin chung", {"C17"},
                 lambda c: c.values.update(preparer_email="ldtbxh-at-batri"),
                 lambda c: c.values.update(preparer_email="ldtbxh@batri.bentre.gov.vn")),
    "TH-F-011": ("warning", "A. Thông tin chung", {"C15"},
                 lambda c: c.values.update(preparer_name="NguyÔn V¨n An"),  # TCVN3 bytes shown as Latin-1
                 lambda c: c.values.update(preparer_name="Nguyễn Văn An")),
    "TH-F-012": ("error", "B. Hộ nghèo", {"D17"},
                 lambda c: c.values.update(poor_merit="1E400"),  # read by Decimal, held by no column
                 lambda c: c.values.update(poor_merit=0)),
    "TH-F-013": ("warning", "A. Thông tin chung", {"C15"},
                 lambda c: c.values.update(preparer_name="Nguyễn Văn An " * 40),
                 lambda c: c.values.update(preparer_name="Nguyễn Văn An")),
    "TH-B-001": ("error", "B. Hộ nghèo", {"D5", "D11", "E11"},
                 lambda c: _set_total(c, c.values["poor_end"] + c.values["near_poor_end"] - 1),
                 lambda c: _set_total(c, c.values["poor_end"] + c.values["near_poor_end"])),
    "TH-B-002": ("error", "B. Hộ nghèo", {"D11", "D7", "D8", "D9", "D10"},
                 lambda c: c.values.update(poor_new=c.values["poor_new"] + 1), lambda c: None),
    "TH-B-003": ("error", "B. Hộ nghèo", {"E11", "E7", "E8", "E9", "E10"},
                 lambda c: c.values.update(near_poor_exited=c.values["near_poor_exited"] + 1), lambda c: None),
    "TH-B-004": ("error", "B. Hộ nghèo", {"D11", "D17"},
                 lambda c: c.values.update(poor_merit=c.values["poor_end"] + 1),
                 lambda c: c.values.update(poor_merit=c.values["poor_end"])),
    "TH-B-005": ("error", "B. Hộ nghèo", {"D21", "D22", "D23", "D11", "E11"},
                 lambda c: c.values.update(group_3=c.values["group_3"] + 1), lambda c: None),
    # Tolerance 0.05 points: the typed rate has 4 decimals here, so the gap is exactly what is added.
    "TH-B-006": ("warning", "B. Hộ nghèo", {"D12", "D11", "D5"},
                 lambda c: (_rates(c), c.values.update(poor_rate=c.values["poor_rate"] + Decimal("0.0501"))),
                 lambda c: (_rates(c), c.values.update(poor_rate=c.values["poor_rate"] + Decimal("0.0499")))),
    "TH-C-001": ("error", "C. Thiếu hụt", {"'B. Hộ nghèo'!D11", "D5"},
                 lambda c: c.values.update(dep_employment_poor=c.values["poor_end"] + 1),
                 lambda c: c.values.update(dep_employment_poor=c.values["poor_end"])),
    "TH-D-001": ("error", FUNDING, {"H7", "D7", "E7"},
                 lambda c: (_eligible_p2(c), c.values.update(p2_disb_central=Decimal("420.501"))),
                 lambda c: (_eligible_p2(c), c.values.update(p2_disb_central=Decimal("420.5")))),
    "TH-D-002": ("error", FUNDING, {"I7", "F7"},
                 lambda c: (_eligible_p2(c), c.values.update(p2_disb_local=Decimal("40.251"))),
                 lambda c: (_eligible_p2(c), c.values.update(p2_disb_local=Decimal("40.25")))),
    "TH-D-003": ("error", FUNDING, {"J7", "G7"},
                 lambda c: (_eligible_p2(c), c.values.update(p2_disb_mobilised=Decimal("10.01"))),
                 lambda c: (_eligible_p2(c), c.values.update(p2_disb_mobilised=Decimal(10)))),
    # Money is exact: one thousandth of a million VND (1,000 đồng) off the sum of 12 rows is caught.
    "TH-D-004": ("error", FUNDING, {"D18", *(f"D{r}" for r in range(6, 18))},
                 lambda c: c.values.update(total_carried_over=_funding_sum(c, "carried_over") + Decimal("0.001")),
                 lambda c: c.values.update(total_carried_over=_funding_sum(c, "carried_over"))),
    "TH-D-005": ("error", FUNDING, {"C7", *(f"{col}7" for col in "DEFGHIJ")},
                 lambda c: (_eligible_p2(c), c.values.update(p2_applicable=False)),
                 lambda c: (_eligible_p2(c), c.values.update({k: Decimal(0) for k in c.values
                                                             if k.startswith("p2_") and k != "p2_applicable"}),
                            c.values.update(p2_applicable="Không"))),
    "TH-E-001": ("error", "E. Chỉ tiêu", {"F5", "E5"},
                 lambda c: c.values.update(out_jobs_plan=50, out_jobs_achieved=30, out_jobs_cumulative=29),
                 lambda c: c.values.update(out_jobs_plan=50, out_jobs_achieved=30, out_jobs_cumulative=30)),
    "TH-E-002": ("warning", "E. Chỉ tiêu", {"E5", "D5"},
                 lambda c: c.values.update(out_jobs_plan=40, out_jobs_achieved=61, out_jobs_cumulative=61),
                 lambda c: c.values.update(out_jobs_plan=40, out_jobs_achieved=60, out_jobs_cumulative=60)),
    "TH-X-001": ("warning", "B. Hộ nghèo", {"D5"},
                 lambda c: (_previous(c, total_households=1000, poor_end=c.values["poor_end"]),
                            _set_total(c, 1101)),
                 lambda c: (_previous(c, total_households=1000, poor_end=c.values["poor_end"]),
                            _set_total(c, 1100))),
    "TH-X-002": ("warning", "B. Hộ nghèo", {"D11", "D5"},
                 lambda c: (_set_total(c, 2000), _previous(c, total_households=2000,
                                                           poor_end=c.values["poor_end"] + 101)),
                 lambda c: (_set_total(c, 2000), _previous(c, total_households=2000,
                                                           poor_end=c.values["poor_end"] + 99))),
    "TH-X-003": ("warning", "B. Hộ nghèo", {"D7"},
                 lambda c: _previous(c, poor_start=c.values["poor_start"] - 3), lambda c: _previous(c)),
}


def _period():
    from tonghop.calendar import load_calendar

    return load_calendar(ROOT / "config" / "calendar.yaml").get(PERIOD)


def _base(hierarchy, period, sender: int = 4) -> Case:
    """The clean report; `sender` (a commune of the district, by position) delivers it with the same values."""
    spec = load_spec()
    unit = hierarchy.reporting_units(DISTRICT)[4]
    values = commune_values(42, unit, period, spec)
    values.update(total_households=2400, poor_start=150, poor_exited=30, poor_returned=2, poor_new=10,
                  poor_end=132, near_poor_start=160, near_poor_exited=20, near_poor_returned=1, near_poor_new=9,
                  near_poor_end=150, group_1=100, group_2=100, group_3=82)
    for key in ("poor_ethnic_minority", "poor_female_headed", "poor_merit", "poor_social_protection"):
        values[key] = min(values[key], 132)
    values["near_poor_ethnic_minority"] = min(values["near_poor_ethnic_minority"], 150)
    for f in spec.fields_of("deprivations"):
        values[f.key] = min(values[f.key], values[f"{f.grid_column}_end"])
    sender_code = hierarchy.reporting_units(DISTRICT)[sender].code
    case = Case(values, prefill_values(spec, hierarchy, period, sender_code), sender_code,
                period.commune_deadline - dt.timedelta(days=3))
    _rates(case)
    return case


def _read(case: Case, folder: Path, submission_id: str, period) -> tuple[InboxFile, Any]:
    """The case's workbook as delivered to its commune's folder, parsed (raises StructureError like the
    pipeline's reader)."""
    spec = load_spec()
    path = write_workbook(folder / "bc.xlsx", case.prefilled, period, case.values)
    if case.drop_sheet:
        wb = load_workbook(path)
        wb.remove(wb[case.drop_sheet])
        wb.save(path)
    item = InboxFile(key=f"{PERIOD}/83/{case.submitted_for}/bc.xlsx", period_id=PERIOD, province_code="83",
                     submitted_for=case.submitted_for, received_at=case.received_at, size=0)
    return item, read_report(path.read_bytes(), submission_id, item.file_name, spec, load_catalogue(EXPECTATIONS))


BASE = "base"


def _example_ids() -> list[str]:
    return [BASE] + [f"{check_id}/{outcome}" for check_id in sorted(CASES) for outcome in ("fails", "passes")]


CROSS_PERIOD = [e for e in _example_ids() if e.startswith("TH-X-")]


def _example(example_id: str, hierarchy, period) -> Case:
    """Each cross-period example is sent by a commune of its own (the base's values, another sender), so that
    their previous reports can be given in one history; the others come from the base's commune."""
    sender = 5 + CROSS_PERIOD.index(example_id) if example_id in CROSS_PERIOD else 4
    case = _base(hierarchy, period, sender)
    if example_id != BASE:
        check_id, outcome = example_id.split("/")
        _, _, _, fail, succeed = CASES[check_id]
        (fail if outcome == "fails" else succeed)(case)
    return case


@dataclasses.dataclass
class Batch:
    history: History
    items: list = dataclasses.field(default_factory=list)

    def takes(self, history: History) -> bool:
        """A report joins the batch when its history agrees with the batch's on every commune both know."""
        return ((self.history.period_id, self.history.is_first_half_of_same_year)
                == (history.period_id, history.is_first_half_of_same_year)
                and all(self.history.reports.get(c, v) == v for c, v in history.reports.items()))

    def add(self, history: History, item: tuple) -> None:
        self.history = dataclasses.replace(self.history, reports={**self.history.reports, **history.reports})
        self.items.append(item)


@dataclasses.dataclass
class Validated:
    """Every example validated in batches, as the pipeline does: the findings of each, by submission id."""

    findings: dict[str, list]
    errors: dict[str, BaseException]  # examples that could not be built or read
    batches: list[list[str]]  # the submission ids of each Great Expectations validation

    def of(self, example_id: str) -> list:
        if example_id in self.errors:
            raise self.errors[example_id]
        return self.findings[example_id]


@pytest.fixture(scope="module")
def validated(tmp_path_factory, hierarchy, period) -> Validated:
    """Every example with its own submission id, in as few batches as their histories allow: the
    previous-period checks need one (each commune with its previous report), the other examples none."""
    folder = tmp_path_factory.mktemp("checks")
    batches: list[Batch] = []
    errors: dict[str, BaseException] = {}
    for n, example_id in enumerate(_example_ids()):
        try:
            case = _example(example_id, hierarchy, period)
            item = _read(case, folder / str(n), example_id, period)
        except Exception as exc:  # noqa: BLE001 - raised by the example's own test, not by every test here
            errors[example_id] = exc
            continue
        batch = next((b for b in batches if b.takes(case.history)), None)
        if batch is None:
            batch = Batch(History(case.history.period_id, {}, case.history.is_first_half_of_same_year))
            batches.append(batch)
        batch.add(case.history, item)
    validator = BatchValidator(load_spec(), hierarchy, EXPECTATIONS)
    findings: dict[str, list] = {}
    for batch in batches:
        findings.update({report.submission_id: [] for _, report in batch.items})
        for finding in validator.validate(period, batch.items, batch.history).findings:
            findings[finding.submission_id].append(finding)
    return Validated(findings, errors, [[r.submission_id for _, r in b.items] for b in batches])


def _cells(finding) -> set[str]:
    return set(finding.cell.split(", ")) if finding.cell else set()


def test_the_examples_are_validated_in_two_batches(validated):
    """Every example was built and read; the cross-period ones were validated together, the others too."""
    assert validated.errors == {}
    assert len(CROSS_PERIOD) == 2 * sum(c.startswith("TH-X-") for c in CASES) > 0
    assert sorted(map(sorted, validated.batches)) == sorted(
        [sorted(CROSS_PERIOD), sorted(set(_example_ids()) - set(CROSS_PERIOD))])


def test_the_base_report_is_clean(validated):
    assert validated.of(BASE) == []


@pytest.mark.parametrize("check_id", sorted(CASES))
def test_check_fails_on_exactly_its_cells_and_passes_at_the_boundary(check_id, validated, hierarchy, period):
    severity, sheet, cells, _, _ = CASES[check_id]
    failing = _example(f"{check_id}/fails", hierarchy, period)
    findings = validated.of(f"{check_id}/fails")
    assert [(f.check_id, f.severity, f.sheet, _cells(f)) for f in findings] == [(check_id, severity, sheet, cells)]
    finding = findings[0]
    assert finding.commune_code == failing.submitted_for and finding.file_name == "bc.xlsx"
    assert finding.message and (sheet is None or finding.message.startswith(f"Trang «{sheet}»"))
    # Short lists are named cell by cell; a whole column of rows is named as a range ("D6 đến D17").
    named = [c.split("!")[-1] for c in finding.cell.split(", ")] if finding.cell else []
    for cell in named if len(named) <= 5 else [named[0], named[1], named[-1]]:
        assert cell in finding.message, (cell, finding.message)

    assert validated.of(f"{check_id}/passes") == []


@pytest.mark.parametrize("check_id, edit", [
    ("TH-S-002", lambda c: setattr(c, "drop_sheet", "E. Chỉ tiêu")),
    ("TH-S-003", lambda c: c.prefilled.update(template_version="0.9")),
])
def test_structural_checks_stop_before_great_expectations(check_id, edit, tmp_path, hierarchy, period):
    case = _base(hierarchy, period)
    edit(case)
    with pytest.raises(StructureError) as caught:
        _read(case, tmp_path, f"{PERIOD}/83/{case.submitted_for}/bc.xlsx", period)
    assert caught.value.finding.check_id == check_id and caught.value.finding.severity == "error"
    assert "bc.xlsx" in caught.value.finding.message


def test_catalogue_and_suites_agree():
    """Every check has a case here or a structural test; every GX expectation names a catalogued check with
    the catalogue's severity."""
    import json

    catalogue = load_catalogue(EXPECTATIONS)
    # Structural checks: here below, in test_validation and in the hostile corpus (test_hostile.py).
    tested_elsewhere = {f"TH-S-{i:03}" for i in range(1, 13)}  # 010-012: tests/test_containment.py
    tested_elsewhere.add("TH-A-007")  # a code of the previous map: only after a reform (tests/test_map_editions.py)
    tested_elsewhere |= {"TH-O-001", "TH-O-002"}  # outliers among peers, at consolidation: tests/test_sign_off.py
    assert set(CASES) | tested_elsewhere == set(catalogue)
    gx_severity = {"critical": "error", "warning": "warning"}
    for path in [*EXPECTATIONS.glob("*.json"), *EXPECTATIONS.glob("review/*.json")]:
        for expectation in json.loads(path.read_text(encoding="utf-8"))["expectations"]:
            check = catalogue[expectation["meta"]["check_id"]]
            assert gx_severity[expectation["severity"]] == check.severity, (path.name, check.id)
    for check in catalogue.values():
        assert check.title and check.message, check.id
