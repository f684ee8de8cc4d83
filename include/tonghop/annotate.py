"""The commune's own workbook, returned with its problems marked: offending cells coloured (red for
errors, yellow for warnings) with a comment in Vietnamese, and a first sheet listing every finding.

The copy goes back to people who will open it in Excel, so it carries the sender's values and nothing of
theirs that Excel would act on: formulas become their cached values (a DDE `=cmd|…`, `=WEBSERVICE(…)` or
`=HYPERLINK(…)` runs on opening, or on a click), hyperlinks, links to other workbooks, defined names that
are formulas or point elsewhere, conditional formats, charts, images, pivot tables and tables go. The
only formulas left are our template's own, where the sender's cell still holds exactly that formula: they
keep totals live while the commune corrects the copy, and their text is ours, from the template spec."""

from __future__ import annotations

import functools
import html
import io
import re
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, MergedCell
from openpyxl.comments import Comment
from openpyxl.formatting.formatting import ConditionalFormattingList
from openpyxl.formula.tokenizer import Token, Tokenizer, TokenizerError
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.properties import CalcProperties
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.worksheet import Worksheet

from tonghop.config import Settings
from tonghop.findings import ERROR, SEVERITY_LABELS, Finding
from tonghop.print_layout import workbook_bytes
from tonghop.safety import FORMULA_TAG, PLAIN_FORMULA_CELL, safe_name, sheet_parts
from tonghop.self_check import self_check_formulas
from tonghop.spec import TemplateSpec, load_spec

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
            # A location inside this workbook, not a relationship to a target (which Excel may open).
            link.hyperlink = Hyperlink(ref=link.coordinate, location="'{}'!{}".format(sheet.replace("'", "''"), cell))
            link.font = Font(color="0563C1", underline="single")
    for col, width in zip("ABCDEFGHI", (5, 10, 11, 20, 14, 40, 16, 16, 90), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A6"


_LITERALS = {Token.NUMBER, Token.TEXT, Token.LOGICAL}


def _is_inert(expression: object) -> bool:
    """Whether a name's or a data validation's expression is only a literal or a reference into this
    workbook: no function call, no other workbook (`[1]…`), no DDE (`app|topic`)."""
    text = "" if expression is None else str(expression).strip().removeprefix("=")
    if not text:
        return True
    if "[" in text or "|" in text:
        return False
    try:
        tokens = Tokenizer("=" + text).items
    except TokenizerError:
        return False
    if len(tokens) == 2 and tokens[0].type == Token.OP_PRE and tokens[0].value in "+-":
        tokens = tokens[1:]  # a negative bound
    return len(tokens) == 1 and tokens[0].type == Token.OPERAND and (
        tokens[0].subtype in _LITERALS or tokens[0].subtype == Token.RANGE)


def _drop_active_names(names: dict[str, DefinedName]) -> None:
    for key in [k for k, name in names.items()
                if name.function or name.vbProcedure or name.xlm or not _is_inert(name.value)]:
        del names[key]


def _normalised(formula: str) -> str:
    return "".join(formula.split()).upper().removeprefix("=")


def _template_formulas(spec: TemplateSpec) -> dict[str, dict[str, str]]:
    """sheet → cell → formula, for every cell our template computes."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for section in spec.sections:
        for cell, formula, _ in section.formula_cells():
            out[section.sheet][cell] = formula
        for f in section.fields:
            if f.formula:
                out[section.sheet][f.cell] = f.formula
    if spec.self_check:  # the self-check sheet stays live: the commune corrects the marked copy and sends it again
        out[spec.self_check["sheet"]].update(self_check_formulas(spec, Settings.from_env().expectations_dir))
    return out


def _own_formulas_kept(content: bytes, spec: TemplateSpec) -> dict[tuple[str, str], str]:
    """(sheet, cell) → our formula, where the sender's workbook still holds exactly our template's formula
    (Excel may have changed its spacing or case)."""
    wanted = _template_formulas(spec)
    kept: dict[tuple[str, str], str] = {}
    wb = load_workbook(io.BytesIO(content), read_only=True)
    try:
        for sheet, cells in wanted.items():
            if sheet not in wb.sheetnames:
                continue
            bounds = [CellRange(ref) for ref in cells]
            rows = wb[sheet].iter_rows(min_row=1, max_row=max(b.max_row for b in bounds),
                                       max_col=max(b.max_col for b in bounds))
            for row in rows:
                for cell in row:
                    ours = cells.get(getattr(cell, "coordinate", ""))
                    if ours and isinstance(cell.value, str) and _normalised(cell.value) == _normalised(ours):
                        kept[(sheet, cell.coordinate)] = ours
    finally:
        wb.close()
    return kept


def _make_inert(wb, own_formulas: dict[tuple[str, str], str]) -> None:
    """Strip what Excel would act on from a workbook loaded with `data_only=True, keep_links=False` (so cells
    already hold the cached values, and links to other workbooks are gone)."""
    _drop_active_names(wb.defined_names)
    for chartsheet in list(wb.chartsheets):  # a chart's series are formulas, possibly into other workbooks
        wb.remove(chartsheet)
    # Excel recomputes our restored formulas on opening; whatever calculation mode the sender saved.
    wb.calculation = CalcProperties(fullCalcOnLoad=True)
    for ws in wb.worksheets:
        for cell in ws._cells.values():  # the cells that exist: a far-away cell must not make millions more
            if isinstance(cell, MergedCell):
                continue
            cell.hyperlink = None
            if cell.data_type == "f":  # only a hyperlink bound to an empty cell can make one here
                cell.value = None
        ws._hyperlinks = []
        _drop_active_names(ws.defined_names)  # print areas and titles are attributes of the sheet: they stay
        # A rule's formula is evaluated as the sheet is drawn, and a sender's rule could hide our colours.
        ws.conditional_formatting = ConditionalFormattingList()
        ws.data_validations.dataValidation = [dv for dv in ws.data_validations.dataValidation
                                              if _is_inert(dv.formula1) and _is_inert(dv.formula2)]
        ws._charts, ws._images, ws._pivots = [], [], []
        ws.tables.clear()  # calculated columns and totals are formulas; query tables fetch data
        ws.legacy_drawing = None
    for (sheet, ref), formula in own_formulas.items():
        cell = wb[sheet][ref]
        if not isinstance(cell, MergedCell):
            cell.value = formula


_CONDITIONAL_FORMATS = re.compile(rb"<conditionalFormatting\b(?:[^<]++|<(?!/conditionalFormatting>))*+"
                                  rb"</conditionalFormatting>")


def _unpacked(content: bytes) -> dict[str, bytes] | None:
    """Every part of an .xlsx package, inflated (the file passed the reader's inspection: its size is bounded);
    None when it is not one."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, OSError, ValueError):
        return None  # an .xls, or a zip zipfile cannot take apart: openpyxl's own load decides, and says why


def _own_formulas_in(package: dict[str, bytes], spec: TemplateSpec) -> dict[tuple[str, str], str] | None:
    """`_own_formulas_kept` read off the sheets' XML; None when a sheet of ours holds a formula in another form
    (shared, array, a prefixed tag): then only openpyxl's reader says what each cell holds."""
    wanted = _template_formulas(spec)
    kept: dict[tuple[str, str], str] = {}
    for path, sheet in sheet_parts(package).items():
        cells = wanted.get(sheet)
        if not cells:
            continue
        xml = package.get(path, b"")
        # When every formula tag of the sheet is in a plain formula cell (as Excel and openpyxl write them), the
        # formulas read off the XML are those openpyxl's reader gives.
        found = PLAIN_FORMULA_CELL.findall(xml)
        if len(found) != len(FORMULA_TAG.findall(xml)):
            return None
        for letters, digits, text, _ in found:
            ref = (letters + digits).decode()
            ours = cells.get(ref)
            if ours and _normalised_xml_text(text) == _normalised(ours):
                kept[(sheet, ref)] = ours
    return kept


@functools.lru_cache(maxsize=4096)
def _normalised_xml_text(text: bytes) -> str:
    """`_normalised` of a formula as the sheet's XML writes it; cached: every copy of a batch carries the same
    formulas (the self-check sheet alone has hundreds, most with escaped quotes)."""
    return _normalised(html.unescape(text.decode("utf-8", "replace")))


def _without_conditional_formats(package: dict[str, bytes]) -> bytes:
    """The package again, its worksheets without conditional formats: the copy drops them anyway, and parsing
    them was a third of openpyxl's load of a report (the self-check sheet colours each of its rules)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, data in package.items():
            if name.startswith("xl/worksheets/") and b"<conditionalFormatting" in data:
                data = _CONDITIONAL_FORMATS.sub(b"", data)
            archive.writestr(name, data)
    return out.getvalue()


def inert_copy(content: bytes, spec: TemplateSpec | None = None):
    """The sender's workbook as an openpyxl Workbook with their values and none of their formulas, links,
    names or other active content (see the module's description)."""
    spec = spec or load_spec()
    package = _unpacked(content)
    own = _own_formulas_in(package, spec) if package is not None else None
    if own is None:
        own = _own_formulas_kept(content, spec)
    source = _without_conditional_formats(package) if package is not None else content
    wb = load_workbook(io.BytesIO(source), data_only=True, keep_links=False)
    _make_inert(wb, own)
    return wb


def annotate_workbook(content: bytes, findings: Sequence[Finding], file_name: str) -> bytes:
    """The workbook with each offending cell coloured and commented, and a findings sheet in front; inert
    (see the module's description)."""
    wb = inert_copy(content)
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
    return workbook_bytes(wb)


def annotated_name(file_name: str) -> str:
    """The annotated copy's file name: the original's, made safe for any file system and e-mail client."""
    return f"{safe_name(Path(file_name).stem, fallback='bao-cao')}.ket-qua-kiem-tra.xlsx"
