"""What officers see: the consolidated workbooks, the charts and the reporting-status page, from a published
period (fixture officer_sample), compared with expectations computed from the generator's manifest."""

from __future__ import annotations

import datetime as dt
import io
import struct

import pytest
from openpyxl import load_workbook
from PIL import Image

from tests import expected as exp
from tests.conftest import OFFICER_DISTRICTS, OFFICER_TARGETS, PERIOD, PROVINCE

HOUSEHOLD_SHEET, COMPLETENESS_SHEET = "Hộ nghèo, cận nghèo", "Tình hình báo cáo"
FIRST_ROW = 11  # letterhead and title (1-6), headers (8-9), column numbers (10)
# Households sheet: column → what it holds (C..S), per the official form's order.
COLUMNS = {
    "C": "total_households", "D": "poor_start", "E": "poor_exited", "F": "poor_returned", "G": "poor_new",
    "H": "poor_end", "I": "poor_rate", "J": "poor_ethnic_minority", "K": "near_poor_start", "L": "near_poor_exited",
    "M": "near_poor_returned", "N": "near_poor_new", "O": "near_poor_end", "P": "near_poor_rate",
    "Q": "near_poor_ethnic_minority", "R": "accepted", "S": "expected",
}
COUNTS = [c for c, key in COLUMNS.items() if not key.endswith("_rate")]


def _workbook(settings, unit: str):
    path = settings.output_dir / PERIOD / "reports" / f"{unit}.xlsx"
    assert path.exists(), path
    return load_workbook(path)


def _household_rows(ws) -> tuple[dict[str, dict], dict[str, list[dict]], dict]:
    """Section rows (I, II), their sub-unit rows and the Tổng cộng row, as {column letter: value, "name": …}."""
    sections: dict[str, dict] = {}
    members: dict[str, list[dict]] = {}
    current = None
    for r in range(FIRST_ROW, ws.max_row + 1):
        number, name = ws[f"A{r}"].value, ws[f"B{r}"].value
        row = {"name": name, **{c: ws[f"{c}{r}"].value for c in COLUMNS}}
        if number in ("I", "II"):
            current = number
            sections[number], members[number] = row, []
        elif name and str(name).startswith("Tổng cộng"):
            return sections, members, row
        elif number:
            members[current].append(row)
    raise AssertionError("no Tổng cộng row")


def _value(v):
    return 0 if v is None else v


@pytest.mark.parametrize("unit,level", [(PROVINCE, "province"), ("836", "district"), ("829", "district")])
def test_workbook_totals_sections_and_figures(officer_sample, unit, level):
    settings, manifest = officer_sample
    ws = _workbook(settings, unit)[HOUSEHOLD_SHEET]
    sections, members, total = _household_rows(ws)
    assert list(sections) == ["I", "II"]
    assert sections["I"]["name"] == "Khu vực thành thị" and sections["II"]["name"] == "Khu vực nông thôn"
    for column in COUNTS:
        for roman in ("I", "II"):  # each section's heading row is the sum of its rows
            assert _value(sections[roman][column]) == sum(_value(m[column]) for m in members[roman]), (roman, column)
        # the urban and rural sections sum to the total, and the total is the sum of every row
        assert _value(total[column]) == _value(sections["I"][column]) + _value(sections["II"][column]), column
        assert _value(total[column]) == sum(_value(m[column]) for rows in members.values() for m in rows), column
    # the figures are the manifest's sums (independent of the roll-up), rates recomputed from them
    for area, row in (("total", total), ("urban", sections["I"]), ("rural", sections["II"])):
        want = exp.expected_sums(manifest, unit, level, area)
        for column, key in COLUMNS.items():
            if key in exp.HOUSEHOLD_COUNTS:
                assert _value(row[column]) == want.get(key, 0), (area, key)
        if want["reports"]:
            assert row["I"] == pytest.approx(want["poor_end"] * 100 / want["total_households"], abs=1e-9)
            assert row["P"] == pytest.approx(want["near_poor_end"] * 100 / want["total_households"], abs=1e-9)
        assert row["R"] == want["reports"]
    statuses = exp.expected_statuses(manifest, unit, level)
    assert total["S"] == len(statuses)
    assert ws[f"C{FIRST_ROW}"].number_format == "#,##0" and isinstance(total["C"], int)
    setup = ws.page_setup
    assert (setup.orientation, int(setup.paperSize), ws.print_title_rows) == ("landscape", 9, "$8:$10")  # 9 = A4


@pytest.mark.parametrize("unit,level", [(PROVINCE, "province"), ("836", "district"), ("831", "district")])
def test_completeness_sheet_names_exactly_the_missing_communes(officer_sample, unit, level):
    settings, manifest = officer_sample
    ws = _workbook(settings, unit)[COMPLETENESS_SHEET]
    statuses = exp.expected_statuses(manifest, unit, level)
    names = exp.gso_units()
    want_missing = sorted(names[c]["name"] for c, s in statuses.items() if s == "not_received")
    want_rejected = sorted(names[c]["name"] for c, s in statuses.items() if s == "rejected")
    listed: dict[str, list[str]] = {}
    current = None
    for r in range(1, ws.max_row + 1):
        a, b = ws[f"A{r}"].value, ws[f"B{r}"].value
        if isinstance(a, str) and a.startswith("DANH SÁCH"):
            current = a.split(" (")[0]
            listed[current] = []
        elif current and isinstance(a, int):
            listed[current].append(b)
    assert sorted(listed["DANH SÁCH XÃ CHƯA GỬI BÁO CÁO"]) == want_missing
    assert sorted(listed["DANH SÁCH XÃ CÓ BÁO CÁO BỊ TỪ CHỐI"]) == want_rejected
    # the total row: expected / received / accepted / missing of the unit
    total_row = next(r for r in range(FIRST_ROW, ws.max_row + 1) if str(ws[f"B{r}"].value).startswith("Tổng cộng"))
    got = [ws.cell(total_row, c).value for c in range(3, 11)]
    counts = [sum(1 for s in statuses.values() if s in kinds) for kinds in (
        set(exp.STATUSES), set(exp.STATUSES) - {"not_received"}, {"accepted", "accepted_with_warnings"},
        {"accepted_with_warnings"}, {"rejected"}, {"not_received"})]
    assert got[:6] == counts
    # each sub-unit's row names its own missing communes
    by_name = {ws[f"B{r}"].value: ws.cell(r, 12).value or "" for r in range(FIRST_ROW, total_row)}
    for name, missing in by_name.items():
        assert all(m in want_missing for m in filter(None, missing.split(", "))), name
    assert sum(len(list(filter(None, m.split(", ")))) for m in by_name.values()) == len(want_missing)


def test_workbook_judges_the_plan_target(officer_sample):
    settings, manifest = officer_sample
    ws = _workbook(settings, PROVINCE)[HOUSEHOLD_SHEET]
    notes = [c.value for c in ws["A"] if isinstance(c.value, str) and c.value.startswith("•")]
    for unit, level in ((PROVINCE, "province"), ("836", "district")):
        want = exp.expected_sums(manifest, unit, level)
        rate = want["poor_end"] * 100 / want["total_households"]
        verdict = "Đạt" if rate <= OFFICER_TARGETS[unit] else "Chưa đạt"
        name = "Tỉnh Bến Tre" if unit == PROVINCE else "Huyện Ba Tri"
        line = next(n for n in notes if n.startswith(f"• {name}:"))
        assert f"— {verdict} (" in line, line


def test_report_command_writes_the_workbook(officer_sample, tonghop, tmp_path):
    settings, manifest = officer_sample
    out = tmp_path / "ba-tri.xlsx"
    done = tonghop("report", "--period", PERIOD, "--unit", "836", "--format", "xlsx", "--out", str(out),
                   "--warehouse", settings.warehouse, home=settings.home)
    assert str(out) in done.stdout
    ws = load_workbook(out)[HOUSEHOLD_SHEET]
    assert ws["A5"].value == "Báo cáo năm 2024 — Huyện Ba Tri — Trạng thái số liệu: Chưa duyệt"
    *_, total = _household_rows(ws)
    assert total["C"] == exp.expected_sums(manifest, "836", "district")["total_households"]
    missing = tonghop("report", "--period", PERIOD, "--unit", "836", "--format", "xlsx", home=settings.home,
                      check=False)
    assert missing.returncode != 0 and "--out" in missing.stderr


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_charts_are_produced_one_per_kind(officer_sample):
    settings, _ = officer_sample
    folder = settings.output_dir / PERIOD / "charts" / PROVINCE
    files = sorted(p.name for p in folder.iterdir() if p.suffix == ".png")
    assert files == ["completeness.png", "disbursement.png", "poverty_rates.png"]
    for name in files:
        data = (folder / name).read_bytes()
        width, height = _png_size(data)
        assert 600 <= width <= 3000 and 300 <= height <= 2000, (name, width, height)
        Image.open(io.BytesIO(data)).verify()


# What each chart plots and how it reads: tests/test_charts.py.


# --- the reporting-status page, through the FastAPI app's test client -------------------------------------

def _commune_rows(html: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'data-commune="(\d+)" data-status="(\w+)"', html))


def test_status_page_shows_statuses_and_rates(status_client, period):
    client, token, manifest = status_client
    page = client.get("/", params={"period": PERIOD, "unit": PROVINCE}, cookies={"_token": token})
    assert page.status_code == 200
    html = page.text
    want = exp.expected_statuses(manifest, PROVINCE, "province")
    assert _commune_rows(html) == want
    assert "Chưa nhận" in html and "Bị từ chối" in html and "Hợp lệ, có cảnh báo" in html
    deadline = period.commune_deadline  # the end of 10/11 in Asia/Ho_Chi_Minh
    sent = exp.attributed(manifest)
    doc = client.get("/api/status", params={"period": PERIOD, "unit": PROVINCE},
                     headers={"Authorization": f"Bearer {token}"}).json()
    districts = {d["code"]: d for d in doc["children"]}
    for district in OFFICER_DISTRICTS + ("831",):
        mine = exp.expected_statuses(manifest, district, "district")
        on_time = sum(1 for c in mine if c in sent and dt.datetime.fromisoformat(sent[c]["received_at"]) <= deadline)
        received = sum(1 for s in mine.values() if s != "not_received")
        got = districts[district]
        assert (got["expected"], got["received"], got["on_time"]) == (len(mine), received, on_time)
        assert got["reporting_rate"] == pytest.approx(received * 100 / len(mine))
        assert got["on_time_rate"] == pytest.approx(on_time * 100 / len(mine))
        for row in got["communes"]:
            assert row["status"] == mine[row["code"]]
            if row["status"] != "not_received":
                assert row["on_time"] == (dt.datetime.fromisoformat(sent[row["code"]]["received_at"]) <= deadline)
        # the rates as the page prints them, in Vietnamese style
        rate = f"{received * 100 / len(mine):.1f}".replace(".", ",") + "%"
        assert f'<tr data-unit="{district}">' in html and rate in html.split(f'data-unit="{district}"')[1][:900]
    for kind in ("poverty_rates", "completeness", "disbursement"):
        assert f"/charts/{kind}.png?period={PERIOD}" in html
        chart = client.get(f"/charts/{kind}.png", params={"period": PERIOD, "unit": PROVINCE},
                           cookies={"_token": token})
        assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
        _png_size(chart.content)


def test_status_page_links_to_findings_and_annotated_workbooks(status_client):
    client, token, manifest = status_client
    doc = client.get("/api/status", params={"period": PERIOD, "unit": "836"}, cookies={"_token": token}).json()
    rejected = [c for d in doc["children"] for c in d["communes"] if c["status"] == "rejected" and c["annotated"]]
    assert rejected
    commune = rejected[0]
    report = next(r for r in manifest["reports"] if r["commune_code"] == commune["code"])
    check_ids = {m["check_id"] for m in report["mistakes"] if m["severity"] == "error"}
    assert check_ids
    page = client.get(f"/findings/{commune['submission_id']}", cookies={"_token": token})
    assert page.status_code == 200 and "Lỗi" in page.text
    assert all(c in page.text for c in check_ids), check_ids
    workbook = client.get(f"/annotated/{commune['submission_id']}", cookies={"_token": token})
    assert workbook.status_code == 200
    assert "Kết quả kiểm tra" in load_workbook(io.BytesIO(workbook.content)).sheetnames  # the marked copy


def test_status_page_refuses_without_airflow_login(status_client):
    client, token, _ = status_client
    paths = ["/", f"/api/status?period={PERIOD}&unit={PROVINCE}", f"/charts/completeness.png?period={PERIOD}&unit=83",
             "/findings/x", "/annotated/x"]
    for path in paths:
        refused = client.get(path, follow_redirects=False)
        assert refused.status_code == 401, path
        assert "Tỉnh Bến Tre" not in refused.text
        forged = client.get(path, headers={"Authorization": "Bearer not-a-token"}, follow_redirects=False)
        assert forged.status_code in (401, 403), path
    browser = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert browser.status_code == 303
    assert browser.headers["location"].startswith("/api/v2/auth/login?next=")
    assert client.get("/", cookies={"_token": token}).status_code == 200
