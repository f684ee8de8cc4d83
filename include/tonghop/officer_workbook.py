"""The consolidated workbook of a district or province for a period, in the layout of the official summary
forms: one row per sub-unit in the sections I. Khu vực thành thị and II. Khu vực nông thôn, each headed by
its subtotal, then Tổng cộng; sheets for deprivations, funding, outputs and reporting completeness.

Figures are the published ones (the warehouse); cells hold numbers, so officers can re-sum and forward them.
Printable: A4 landscape, fitted to the page width, header rows repeated on every page.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from tonghop.annotate import safe_text
from tonghop.numbers import fmt
from tonghop.offices import Office, Offices
from tonghop.print_layout import fit_row_heights, signature_block
from tonghop.published import Consolidated, UnitFigures
from tonghop.targets import Targets
from tonghop.vocabulary import APPROVAL_LABELS, AREA_LABELS, COMMUNE_AREAS, NOT_RECEIVED, TOTAL, local_time

COUNT, RATE, MONEY = "#,##0", "0.00", "#,##0.000"
SHEETS = ("Hộ nghèo, cận nghèo", "Thiếu hụt DVXH", "Kinh phí", "Chỉ tiêu", "Tình hình báo cáo")
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
THIN = Side(style="thin", color="808080")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
BOLD = Font(bold=True)
ROMAN = ("I", "II")


@dataclasses.dataclass(frozen=True)
class Column:
    group: str  # upper header ("" when the column has a single header)
    header: str
    value: Callable[[dict[str, Any]], Any]
    number_format: str | None = None
    width: float = 11


def _get(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row.get(key)


HOUSEHOLD_COLUMNS = [
    Column("", "Tổng số hộ dân cư", _get("total_households"), COUNT, 12),
    *[Column("Hộ nghèo", header, _get(f"poor_{key}"), COUNT) for key, header in (
        ("start", "Đầu năm"), ("exited", "Thoát nghèo"), ("returned", "Tái nghèo"), ("new", "Phát sinh mới"),
        ("end", "Cuối kỳ"))],
    Column("Hộ nghèo", "Tỷ lệ (%)", _get("poor_rate"), RATE, 8),
    Column("Hộ nghèo", "Trong đó DTTS", _get("poor_ethnic_minority"), COUNT),
    *[Column("Hộ cận nghèo", header, _get(f"near_poor_{key}"), COUNT) for key, header in (
        ("start", "Đầu năm"), ("exited", "Thoát cận nghèo"), ("returned", "Tái cận nghèo"),
        ("new", "Phát sinh mới"), ("end", "Cuối kỳ"))],
    Column("Hộ cận nghèo", "Tỷ lệ (%)", _get("near_poor_rate"), RATE, 8),
    Column("Hộ cận nghèo", "Trong đó DTTS", _get("near_poor_ethnic_minority"), COUNT),
    Column("Số xã", "Báo cáo hợp lệ", _get("accepted"), COUNT, 9),
    Column("Số xã", "Phải báo cáo", _get("expected"), COUNT, 9),
]

COMPLETENESS_COLUMNS = [
    Column("", "Phải báo cáo", _get("expected"), COUNT, 9),
    Column("", "Đã nhận", _get("received"), COUNT, 9),
    Column("", "Hợp lệ", _get("accepted"), COUNT, 9),
    Column("", "Trong đó có cảnh báo", _get("accepted_with_warnings"), COUNT, 10),
    Column("", "Bị từ chối", _get("rejected"), COUNT, 9),
    Column("", "Chưa gửi", _get("missing"), COUNT, 9),
    Column("", "Đúng hạn", _get("on_time"), COUNT, 9),
    Column("", "Tỷ lệ báo cáo (%)", _get("reporting_rate"), RATE, 10),
    Column("", "Tỷ lệ đúng hạn (%)", _get("on_time_rate"), RATE, 10),
    Column("", "Xã chưa gửi báo cáo", _get("missing_names"), None, 45),
]


class _Sheet:
    """Writes one table sheet: letterhead, title, two header rows, the column numbers, then rows."""

    def __init__(self, ws: Worksheet, data: Consolidated, title: str, unit_note: str, columns: Sequence[Column],
                 first_header: str = "Đơn vị") -> None:
        self.ws, self.columns = ws, columns
        last = get_column_letter(len(columns) + 2)
        unit = data.unit
        half = get_column_letter(max(3, (len(columns) + 2) // 2 + 1))
        ws[f"{half}1"] = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
        ws[f"{half}2"] = "Độc lập - Tự do - Hạnh phúc"
        ws[f"{half}1"].font = ws[f"{half}2"].font = BOLD
        ws["A4"] = title
        ws["A4"].font = Font(bold=True, size=13)
        state = data.approval_state  # which figures these are: not yet signed, approved, accepted above
        ws["A5"] = f"{data.period['name']} — {unit.name}" + (
            f" — Trạng thái số liệu: {APPROVAL_LABELS[state]}" if state else "")
        ws["A5"].font = Font(italic=True)
        ws["A6"] = unit_note
        for ref in ("A4", "A5", "A6"):
            ws.merge_cells(f"{ref}:{last}{ref[1:]}")
            ws[ref].alignment = Alignment(horizontal="center")
        self.row = 8
        headers = [("", "STT"), ("", first_header)] + [(c.group, c.header) for c in columns]
        for i, (group, header) in enumerate(headers, start=1):
            top, bottom = ws.cell(self.row, i), ws.cell(self.row + 1, i)
            if group:
                top.value, bottom.value = group, header
            else:
                top.value = header
                ws.merge_cells(start_row=self.row, start_column=i, end_row=self.row + 1, end_column=i)
            ws.cell(self.row + 2, i, f"({i})" if i > 2 else ("A" if i == 1 else "B"))
        start = None
        for i, (group, _) in enumerate(headers + [("", "")], start=1):  # merge each group over its columns
            if start and (not group or group != headers[start - 1][0]):
                if i - 1 > start:
                    ws.merge_cells(start_row=self.row, start_column=start, end_row=self.row, end_column=i - 1)
                start = None
            if group and start is None:
                start = i
        for r in range(self.row, self.row + 3):
            for i in range(1, len(headers) + 1):
                cell = ws.cell(r, i)
                cell.font, cell.fill, cell.border = BOLD, HEADER_FILL, BOX
                cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.row_dimensions[self.row + 1].height = 45
        ws.column_dimensions["A"].width = 6
        ws.column_dimensions["B"].width = 30
        for i, column in enumerate(columns, start=3):
            ws.column_dimensions[get_column_letter(i)].width = column.width
        ws.print_title_rows = f"{self.row}:{self.row + 2}"
        ws.freeze_panes = ws.cell(self.row + 3, 3)
        self.row += 3
        setup = ws.page_setup
        setup.orientation, setup.paperSize = "landscape", ws.PAPERSIZE_A4
        setup.fitToWidth, setup.fitToHeight = 1, 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.print_options.horizontalCentered = True
        ws.page_margins.left = ws.page_margins.right = 0.4
        ws.oddFooter.center.text = "Trang &P/&N"
        ws.oddFooter.right.text = "tonghop"

    def line(self, number: str, label: str, values: dict[str, Any], bold: bool = False, indent: int = 0) -> int:
        ws, r = self.ws, self.row
        ws.cell(r, 1, number).alignment = Alignment(horizontal="center")
        ws.cell(r, 2, safe_text(label)).alignment = Alignment(indent=indent, wrap_text=True)
        for i, column in enumerate(self.columns, start=3):
            value = column.value(values)
            cell = ws.cell(r, i, safe_text(value) if isinstance(value, str) else value)
            if column.number_format:
                cell.number_format = column.number_format
            if column.number_format is None:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        for i in range(1, len(self.columns) + 3):
            cell = ws.cell(r, i)
            cell.border = BOX
            if bold:
                cell.font, cell.fill = BOLD, TOTAL_FILL
        self.row += 1
        return r

    def note(self, text: str, bold: bool = False) -> None:
        self.row += 1 if self.ws.cell(self.row - 1, 1).value is not None else 0
        self.ws.cell(self.row, 1, safe_text(text)).font = Font(bold=bold, italic=not bold)
        self.row += 1


def _area_values(unit: UnitFigures, area: str) -> dict[str, Any]:
    return {**unit.completeness.get(area, {}), **unit.households.get(area, {})}


def _section_rows(data: Consolidated, area: str) -> list[tuple[UnitFigures, dict[str, Any]]]:
    """The sub-units' figures for one area: a commune's own figures in the section of its area, a district's
    figures for its part of that area."""
    rows = []
    for child in data.children:
        if any(a in child.completeness for a in COMMUNE_AREAS):  # a unit split by area: its part of this area
            if child.has_area(area):
                rows.append((child, _area_values(child, area)))
        elif child.area == area:  # a commune: wholly urban or rural
            rows.append((child, _area_values(child, TOTAL)))
    return rows


def _households(ws: Worksheet, data: Consolidated, targets: Targets) -> None:
    accepted, expected = data.unit.completeness[TOTAL]["accepted"], data.unit.completeness[TOTAL]["expected"]
    partial = "" if accepted == expected else " — CHƯA ĐỦ: số liệu chỉ gồm các xã có báo cáo hợp lệ"
    sheet = _Sheet(ws, data, "BIỂU TỔNG HỢP HỘ NGHÈO, HỘ CẬN NGHÈO",
                   f"Tổng hợp từ {fmt(accepted)}/{fmt(expected)} xã có báo cáo hợp lệ{partial}. Đơn vị tính: hộ",
                   HOUSEHOLD_COLUMNS)
    for roman, area in zip(ROMAN, COMMUNE_AREAS, strict=True):
        sheet.line(roman, AREA_LABELS[area], _area_values(data.unit, area), bold=True)
        for i, (child, values) in enumerate(_section_rows(data, area), start=1):
            sheet.line(str(i), child.name, values, indent=1)
    sheet.line("", f"Tổng cộng {data.unit.name}", _area_values(data.unit, TOTAL), bold=True)
    full_year = data.period["kind"] == "FY"
    year = data.period["year"]
    judged = [(u, targets.assess(u.code, year, full_year, u.households.get(TOTAL, {})))
              for u in [data.unit, *data.children]]
    judged = [(u, a) for u, a in judged if a is not None]
    if judged:
        sheet.note("Đánh giá so với chỉ tiêu kế hoạch:", bold=True)
        for unit, assessment in judged:
            verdict = assessment.verdict or "Chưa đủ số liệu để đánh giá"
            detail = f" ({'; '.join(assessment.reasons)})" if assessment.reasons else ""
            sheet.note(f"• {unit.name}: chỉ tiêu {assessment.target.describe()} — {verdict}{detail}")


def _available(row: dict[str, Any]) -> Any:
    return sum(row[k] for k in ("carried_over", "alloc_central", "alloc_local", "mobilised"))


def _disbursed(row: dict[str, Any]) -> Any:
    return sum(row[k] for k in ("disb_central", "disb_local", "disb_mobilised"))


DEPRIVATION_COLUMNS = [
    Column("", "Chiều thiếu hụt", _get("dimension"), None, 18),
    Column("Hộ nghèo", "Số hộ thiếu hụt", _get("poor"), COUNT, 12),
    Column("Hộ nghèo", "Tỷ lệ so với hộ nghèo (%)", _get("poor_share"), RATE, 12),
    Column("Hộ cận nghèo", "Số hộ thiếu hụt", _get("near_poor"), COUNT, 12),
    Column("Hộ cận nghèo", "Tỷ lệ so với hộ cận nghèo (%)", _get("near_poor_share"), RATE, 12),
]
FUNDING_COLUMNS = [
    Column("", "Số xã thuộc đối tượng", _get("eligible_units"), COUNT, 9),
    Column("Kinh phí được giao", "Năm trước chuyển sang", _get("carried_over"), MONEY, 13),
    Column("Kinh phí được giao", "NSTW", _get("alloc_central"), MONEY, 13),
    Column("Kinh phí được giao", "NSĐP", _get("alloc_local"), MONEY, 13),
    Column("Kinh phí được giao", "Lồng ghép, huy động", _get("mobilised"), MONEY, 13),
    Column("Kinh phí được giao", "Tổng", _available, MONEY, 14),
    Column("Giải ngân", "NSTW", _get("disb_central"), MONEY, 13),
    Column("Giải ngân", "NSĐP", _get("disb_local"), MONEY, 13),
    Column("Giải ngân", "Lồng ghép, huy động", _get("disb_mobilised"), MONEY, 13),
    Column("Giải ngân", "Tổng", _disbursed, MONEY, 14),
    Column("", "Tỷ lệ giải ngân (%)", _get("disbursement_rate"), RATE, 10),
]
OUTPUT_COLUMNS = [
    Column("", "Đơn vị tính", _get("unit"), None, 9),
    Column("", "Kế hoạch năm", _get("plan"), COUNT, 12),
    Column("", "Thực hiện trong kỳ", _get("achieved"), COUNT, 12),
    Column("", "Lũy kế từ đầu năm", _get("cumulative"), COUNT, 12),
    Column("", "Lũy kế so với kế hoạch (%)", _get("achievement_rate"), RATE, 12),
]


def _rows_sheet(ws: Worksheet, data: Consolidated, title: str, note: str, columns: Sequence[Column],
                first_header: str, rows: list[dict[str, Any]], key: str, label_width: float) -> None:
    """A sheet of the unit's own figures, one row per indicator or component (and its total row, if any)."""
    sheet = _Sheet(ws, data, title, note, columns, first_header=first_header)
    ws.column_dimensions["B"].width = label_width
    for row in rows:
        if row[key] == "total":
            sheet.line("", "Tổng cộng", row, bold=True)
        else:
            sheet.line(row.get("number", ""), row.get("label", row[key]), row)


def _completeness(ws: Worksheet, data: Consolidated, tz: ZoneInfo) -> None:
    deadline = local_time(data.period["commune_deadline"], tz)
    sheet = _Sheet(ws, data, "TÌNH HÌNH BÁO CÁO CỦA CÁC XÃ",
                   f"Hạn xã gửi báo cáo: {deadline}. Đúng hạn = có tệp nhận được trước hạn.", COMPLETENESS_COLUMNS)
    by_child = data.communes_by_child()
    for i, child in enumerate(data.children, start=1):
        missing = [c.name for c in by_child[child.code] if c.status == NOT_RECEIVED]
        values = {**child.completeness[TOTAL], "missing_names": ", ".join(missing)}
        sheet.line(str(i), child.name, values)
    total = {**data.unit.completeness[TOTAL], "missing_names": ""}
    sheet.line("", f"Tổng cộng {data.unit.name}", total, bold=True)

    def listing(title: str, rows: list[tuple[str, ...]], headers: tuple[str, ...]) -> None:
        sheet.note(title, bold=True)
        for i, header in enumerate(("STT", *headers), start=1):
            cell = ws.cell(sheet.row, i, header)
            cell.font, cell.fill, cell.border = BOLD, HEADER_FILL, BOX
        sheet.row += 1
        for n, values in enumerate(rows, start=1):
            for i, value in enumerate((n, *values), start=1):
                ws.cell(sheet.row, i, safe_text(value)).border = BOX
            sheet.row += 1
        if not rows:
            ws.cell(sheet.row, 2, "Không có")
            sheet.row += 1

    listing(f"DANH SÁCH XÃ CHƯA GỬI BÁO CÁO ({len(data.missing)})",
            [(c.name, c.code, c.district_name or "") for c in data.missing], ("Tên xã", "Mã xã", "Thuộc"))
    listing(f"DANH SÁCH XÃ CÓ BÁO CÁO BỊ TỪ CHỐI ({len(data.rejected)})",
            [(c.name, c.code, c.district_name or "", c.file_name or "", local_time(c.received_at, tz),
              f"{c.errors} lỗi") for c in data.rejected],
            ("Tên xã", "Mã xã", "Thuộc", "Tệp", "Nhận lúc", "Số lỗi"))


PLACE_AND_DATE = "{place}, ngày ..... tháng ..... năm ........"
SIGNERS = (("NGƯỜI LẬP BIỂU", "(Ký, ghi rõ họ tên)"), ("THỦ TRƯỞNG ĐƠN VỊ", "(Ký, ghi rõ họ tên, đóng dấu)"))


def unit_office(offices: Offices, edition: str, unit: UnitFigures) -> Office | None:
    """The office whose letterhead the unit's workbook carries (none for a commune: no office at that level)."""
    if not offices.has_office(edition, unit.level):
        return None
    return offices.office(edition, unit.level, unit.code, unit.name)


def write_letterhead(ws: Worksheet, unit: UnitFigures, office: Office | None) -> None:
    """The top left of the official forms: the governing body (UBND TỈNH …), then the office under it."""
    ws["A1"] = office.governing_body if office else unit.name.upper()
    ws["A2"] = office.heading if office else ""
    ws["A1"].font = ws["A2"].font = BOLD


def build_workbook(data: Consolidated, targets: Targets, tz: ZoneInfo, offices: Offices, edition: str) -> Workbook:
    """The consolidated workbook of `data`'s unit; `edition` is the period's map edition, which names its office
    (config/offices.yaml)."""
    wb = Workbook()
    wb.remove(wb.active)
    writers = (
        lambda ws: _households(ws, data, targets),
        lambda ws: _rows_sheet(ws, data, "MỨC ĐỘ THIẾU HỤT CÁC DỊCH VỤ XÃ HỘI CƠ BẢN",
                               "Số hộ nghèo, hộ cận nghèo thiếu hụt từng chỉ số (Nghị định 07/2021/NĐ-CP). "
                               "Đơn vị tính: hộ", DEPRIVATION_COLUMNS, "Chỉ số", data.deprivations, "indicator", 45),
        lambda ws: _rows_sheet(ws, data, "KINH PHÍ THỰC HIỆN CHƯƠNG TRÌNH THEO DỰ ÁN",
                               "Tỷ lệ giải ngân = giải ngân ÷ (năm trước chuyển sang + được giao + huy động). "
                               "Đơn vị tính: triệu đồng", FUNDING_COLUMNS, "Dự án, tiểu dự án", data.funding,
                               "component", 50),
        lambda ws: _rows_sheet(ws, data, "KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU", "Lũy kế từ đầu năm so với kế hoạch năm",
                               OUTPUT_COLUMNS, "Chỉ tiêu", data.outputs, "indicator", 50),
        lambda ws: _completeness(ws, data, tz),
    )
    office = unit_office(offices, edition, data.unit)
    place = PLACE_AND_DATE.format(place=data.unit.name)
    for name, write in zip(SHEETS, writers, strict=True):
        ws = wb.create_sheet(name)
        write(ws)
        write_letterhead(ws, data.unit, office)
        fit_row_heights(ws)
        last = ws.max_column
        signature_block(ws, ws.max_row + 2, (1, 2), (max(3, last - 3), last), place, SIGNERS)
    wb.properties.title = f"Tổng hợp {data.period['name']} — {data.unit.name}"
    wb.properties.creator = "tonghop"
    return wb


def workbook_bytes(data: Consolidated, targets: Targets, tz: ZoneInfo, offices: Offices, edition: str) -> bytes:
    buffer = io.BytesIO()
    build_workbook(data, targets, tz, offices, edition).save(buffer)
    return buffer.getvalue()
