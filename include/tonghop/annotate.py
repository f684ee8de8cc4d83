"""The commune's own workbook, returned with its problems marked: offending cells coloured (red for
errors, yellow for warnings) with a comment in Vietnamese, and a first sheet listing every finding."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from tonghop.findings import ERROR, SEVERITY_LABELS, Finding
from tonghop.safety import safe_name

FINDINGS_SHEET = "Kết quả kiểm tra"
FILL_ERROR = PatternFill("solid", fgColor="FFC7CE")
FILL_WARNING = PatternFill("solid", fgColor="FFEB9C")
FORMULA_PREFIXES = ("=", "+", "-", "@")
_CELL = re.compile(r"^(?:'(?P<sheet>[^']+)'!)?(?P<cell>[A-Z]{1,3}[0-9]+)$")


def safe_text(value: object) -> object:
    """Text as a cell may hold it: control characters dropped (they are illegal in a worksheet), and text that
    Excel would run as a formula (=, +, -, @) prefixed with an apostrophe."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _cells(finding: Finding) -> list[tuple[str, str]]:
    """(sheet, cell) for every cell a finding names."""
    out = []
    for ref in (finding.cell or "").split(", "):
        match = _CELL.match(ref.strip())
        if match:
            out.append((match["sheet"] or finding.sheet or "", match["cell"]))
    return [(sheet, cell) for sheet, cell in out if sheet]


def _findings_sheet(ws: Worksheet, findings: Sequence[Finding], file_name: str) -> None:
    errors = sum(f.severity == ERROR for f in findings)
    verdict = ("BÁO CÁO BỊ TỪ CHỐI: cần sửa các lỗi dưới đây rồi gửi lại cả tệp." if errors
               else "Báo cáo được chấp nhận, có cảnh báo cần kiểm tra lại.")
    ws["A1"] = safe_text(f"KẾT QUẢ KIỂM TRA TỆP «{file_name}»")
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = f"{verdict} Có {errors} lỗi và {len(findings) - errors} cảnh báo."
    ws["A2"].font = Font(bold=True, color="C00000" if errors else "7F6000")
    ws["A3"] = "Các ô có lỗi được tô đỏ, ô có cảnh báo được tô vàng; di chuột vào ô để xem ghi chú."
    headers = ["STT", "Mức độ", "Mã kiểm tra", "Trang", "Ô", "Nội dung", "Giá trị đã nhập", "Yêu cầu", "Mô tả"]
    for col, text in enumerate(headers, start=1):
        cell = ws.cell(row=5, column=col, value=text)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="BDD7EE")
    for idx, f in enumerate(findings, start=1):
        row = 5 + idx
        values = [idx, SEVERITY_LABELS[f.severity], f.check_id, f.sheet, f.cell, f.label, f.value, f.expected,
                  f.message]
        for col, value in enumerate(values, start=1):
            cell = ws.cell(row=row, column=col, value=safe_text(value))
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.cell(row=row, column=2).fill = FILL_ERROR if f.severity == ERROR else FILL_WARNING
        targets = _cells(f)
        if targets:
            sheet, cell = targets[0]
            link = ws.cell(row=row, column=5)
            link.hyperlink = f"#'{sheet}'!{cell}"
            link.font = Font(color="0563C1", underline="single")
    for col, width in zip("ABCDEFGHI", (5, 10, 11, 20, 14, 40, 16, 16, 90), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A6"


def annotate_workbook(content: bytes, findings: Sequence[Finding], file_name: str) -> bytes:
    """The workbook with each offending cell coloured and commented, and a findings sheet in front."""
    wb = load_workbook(io.BytesIO(content))
    by_cell: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in findings:
        for target in _cells(f):
            if target[0] in wb.sheetnames:
                by_cell[target].append(f)
    for (sheet, ref), cell_findings in by_cell.items():
        cell = wb[sheet][ref]
        worst = ERROR if any(f.severity == ERROR for f in cell_findings) else "warning"
        cell.fill = FILL_ERROR if worst == ERROR else FILL_WARNING
        text = "\n\n".join(f"{SEVERITY_LABELS[f.severity]} {f.check_id}: {f.message}" for f in cell_findings)
        comment = Comment(safe_text(text), "tonghop")
        comment.width, comment.height = 420, min(60 + 60 * len(cell_findings), 400)
        cell.comment = comment
    ws = wb.create_sheet(FINDINGS_SHEET, 0)
    _findings_sheet(ws, findings, file_name)
    wb.active = 0
    for sheet in wb.worksheets:
        sheet.sheet_view.tabSelected = sheet is ws
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def annotated_name(file_name: str) -> str:
    """The annotated copy's file name: the original's, made safe for any file system and e-mail client."""
    return f"{safe_name(Path(file_name).stem, fallback='bao-cao')}.ket-qua-kiem-tra.xlsx"
