"""Writes the commune report workbook from the template spec: blank (pre-filled identification) or filled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from copy import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.packaging.custom import StringProperty
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils.cell import column_index_from_string, coordinate_from_string, get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from tonghop.calendar import Period
from tonghop.config import Settings
from tonghop.hierarchy import Hierarchy
from tonghop.offices import Offices, load_offices
from tonghop.print_layout import fit_row_heights, page_heading, signature_block, workbook_bytes
from tonghop.self_check import add_self_check
from tonghop.spec import Field, Section, TemplateSpec, load_spec
from tonghop.vocabulary import local_date

YES, NO = "Có", "Không"

_thin = Side(style="thin", color="808080")
BORDER = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)
FILL_INPUT = PatternFill("solid", fgColor="FFF2CC")  # light yellow: type here
FILL_PREFILLED = PatternFill("solid", fgColor="E7E6E6")  # grey: filled by the system, locked
FILL_FORMULA = PatternFill("solid", fgColor="DDEBF7")  # blue: computed
FILL_HEADER = PatternFill("solid", fgColor="BDD7EE")
FONT_TITLE = Font(name="Times New Roman", size=13, bold=True)
FONT_BODY = Font(name="Times New Roman", size=12)
FONT_BOLD = Font(name="Times New Roman", size=12, bold=True)
FONT_HINT = Font(name="Times New Roman", size=11, italic=True, color="595959")
WRAP = Alignment(wrap_text=True, vertical="center")
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
UNLOCKED = Protection(locked=False)

COLUMN_WIDTHS = {"A": 7, "B": 58, "C": 16}
INSTRUCTIONS_WIDTH = 70  # one A4 portrait page wide unscaled (LibreOffice does not scale this sheet down)
PAGE_NUMBERS = "Trang &P / &N"
VALUE_WIDTH = 17


def prefill_values(spec: TemplateSpec, hierarchy: Hierarchy, period: Period, commune_code: str,
                   offices: Offices | None = None) -> dict[str, str]:
    """Values of the locked identification cells for one commune and period, and `send_to`: the office
    the commune sends its report to, named in the instructions (from `offices`, else TONGHOP_OFFICES)."""
    unit = hierarchy[commune_code]
    values = {
        "template_version": spec.version_for(hierarchy.levels).version,
        "period_id": period.id,
        "period_name": period.name,
    }
    for level, code in hierarchy.ancestors(unit.code).items():
        values[f"{level}_code"] = code
        values[f"{level}_name"] = hierarchy[code].name
    values["send_to"] = send_to(hierarchy, period, commune_code, offices)
    return values


def send_to(hierarchy: Hierarchy, period: Period, commune_code: str, offices: Offices | None = None) -> str:
    """The name of the office the commune's report goes to on the period's map."""
    settings = Settings.from_env() if offices is None or not hierarchy.edition else None
    if offices is None:
        offices = load_offices(settings.offices_path)
    # A map loaded on its own (a CSV, a test) knows no edition: the period's deadline says which applies.
    edition = hierarchy.edition or settings.edition_for(period).id
    return offices.receiving_office(hierarchy, commune_code, edition).name


def _excel_value(f: Field, value: Any) -> Any:
    if value is None:
        return None
    if f.type == "yesno" and isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, Decimal | int | float | str | dt.date):
        return value
    raise TypeError(f"field {f.key}: cannot write {type(value).__name__}")


def _validation(f: Field) -> DataValidation | None:
    title = "Giá trị không hợp lệ"
    if f.type == "count":
        dv = DataValidation(type="whole", operator="between", formula1=str(int(f.min or 0)),
                            formula2=str(int(f.max)), allow_blank=True)
        dv.error = f"Nhập số nguyên từ {int(f.min or 0)} trở lên (ví dụ 0, 12, 1250)."
    elif f.type in ("amount", "rate"):
        dv = DataValidation(type="decimal", operator="between", formula1=str(f.min or 0),
                            formula2=str(f.max), allow_blank=True)
        dv.error = ("Nhập số không âm, đơn vị triệu đồng (ví dụ 466,25)." if f.type == "amount"
                    else "Nhập tỷ lệ phần trăm từ 0 đến 100 (ví dụ 3,25).")
    elif f.type == "yesno":
        dv = DataValidation(type="list", formula1=f'"{YES},{NO}"', allow_blank=True)
        dv.error = f"Chọn «{YES}» hoặc «{NO}»."
    elif f.type == "date":
        dv = DataValidation(type="date", operator="greaterThan", formula1="36526", allow_blank=True)
        dv.error = "Nhập ngày theo dạng ngày/tháng/năm."
    else:
        return None
    dv.errorTitle = title
    dv.showErrorMessage = True
    dv.promptTitle = f.label[:32]
    dv.prompt = (f.unit and f"Đơn vị: {f.unit}") or None
    dv.showInputMessage = bool(dv.prompt)
    return dv


def _style_key(cell: Any) -> tuple[int, ...]:
    """A cell's style as the indices it is made of (openpyxl leaves a cell nobody styled without one)."""
    return tuple(cell._style) if cell._style is not None else ()


def _style_field(cell: Any, f: Field, styled: dict[tuple, Any]) -> None:
    """A field's cell: yellow and unlocked to type in, grey when pre-filled, blue and bold when computed. Fields of
    one kind share one style, worked out once (see _style_table)."""
    kind = "prefilled" if f.prefilled else "formula" if f.formula else "input"
    recipe = (_style_key(cell), kind, f.number_format, f.type, f.is_numeric)
    if recipe in styled:
        cell._style = copy(styled[recipe])
        return
    cell.font = FONT_BOLD if kind == "formula" else FONT_BODY
    if f.number_format:
        cell.number_format = f.number_format
    if f.type in ("code", "period", "phone"):
        cell.number_format = "@"
    elif f.type == "date":
        cell.number_format = "dd/mm/yyyy"
    cell.alignment = Alignment(horizontal="left" if not f.is_numeric else "right", vertical="center")
    cell.fill = {"prefilled": FILL_PREFILLED, "formula": FILL_FORMULA, "input": FILL_INPUT}[kind]
    if kind == "input":
        cell.protection = UNLOCKED
    styled[recipe] = copy(cell._style)


def _style_table(ws: Worksheet, section: Section, last_row: int, last_col: int) -> None:
    # A cell's style is a row of indices into the workbook's fonts, borders, ...: the table's cells start from a
    # handful of them, so each is worked out once and copied (openpyxl hashes every style object it is given).
    styled: dict[tuple[int, ...], Any] = {}
    for row in ws.iter_rows(min_row=section.header_row, max_row=last_row, min_col=1, max_col=last_col):
        for cell in row:
            before = _style_key(cell)
            if before in styled:
                cell._style = copy(styled[before])
                continue
            cell.border = BORDER
            if cell.font == Font():
                cell.font = FONT_BODY
            styled[before] = copy(cell._style)


def _write_section(ws: Worksheet, spec: TemplateSpec, section: Section, prefilled: Mapping[str, Any],
                   values: Mapping[str, Any], period: Period) -> None:
    ws.sheet_view.showGridLines = False
    fields = section.fields
    last_col = max(column_index_from_string(coordinate_from_string(c)[0])
                   for c in [f.cell for f in fields] + list(section.headers) + [c for c, _, _ in
                                                                                section.formula_cells()])
    last_row = max([f.row for f in fields] + [coordinate_from_string(c)[1] for c, _, _ in
                                               section.formula_cells()])
    ws["A1"] = spec.title
    ws["A1"].font = FONT_TITLE
    ws["A2"] = f"{section.title} — {period.name}"
    ws["A2"].font = FONT_BOLD
    if section.unit_note:
        ws.cell(row=2, column=last_col, value=section.unit_note).font = FONT_HINT
    for cell, text in section.headers.items():
        ws[cell] = text
        ws[cell].font = FONT_BOLD
        ws[cell].alignment = CENTER
        ws[cell].fill = FILL_HEADER
    for rng in section.merges:
        ws.merge_cells(rng)
        for row in ws[rng]:
            for c in row:
                c.fill = FILL_HEADER
    layout = section.layout
    for item in section.row_texts:
        r = item["row"]
        for key, col in (("number", "number_column"), ("label", "label_column"), ("unit", "unit_column"),
                         ("group", "group_column")):
            if item.get(key) and layout.get(col):
                cell = ws[f"{layout[col]}{r}"]
                cell.value = item[key]
                cell.font = FONT_BOLD if item.get("bold") else FONT_BODY
                cell.alignment = CENTER if key in ("number", "unit") else WRAP
    for note in section.notes:
        cell = ws[note["cell"]]
        cell.value = note["text"]
        cell.font = {"subheader": FONT_BOLD, "hint": FONT_HINT}.get(note.get("style"), FONT_BOLD)
        cell.alignment = WRAP
    for cell_ref, formula, number_format in section.formula_cells():
        cell = ws[cell_ref]
        cell.value = formula
        cell.fill = FILL_FORMULA
        cell.number_format = number_format or "General"
    validations: dict[str, DataValidation] = {}
    styled: dict[tuple, Any] = {}
    omitted = spec.omitted(str(prefilled.get("template_version", spec.version)))
    for f in fields:
        if f.key in omitted:  # e.g. the district rows, on the two-level map: the row is emptied and hidden
            for c in ws[f.row]:
                c.value = None
            ws.row_dimensions[f.row].hidden = True
            continue
        cell = ws[f.cell]
        _style_field(cell, f, styled)
        if f.prefilled:
            cell.value = prefilled.get(f.prefilled)
        elif f.formula:
            cell.value = values.get(f.key, f.formula)
        else:
            cell.value = _excel_value(f, values.get(f.key))
            dv_key = f"{f.type}:{f.min}:{f.max}"
            if dv_key not in validations:
                dv = _validation(f)
                if dv is None:
                    continue
                validations[dv_key] = dv
                ws.add_data_validation(dv)
            validations[dv_key].add(f.cell)
    _style_table(ws, section, last_row, last_col)
    for col, width in COLUMN_WIDTHS.items():
        ws.column_dimensions[col].width = width
    if layout.get("group_column") == "B":
        ws.column_dimensions["B"].width = 22
        ws.column_dimensions["C"].width = 44
    for idx in range(4, last_col + 1):
        ws.column_dimensions[get_column_letter(idx)].width = VALUE_WIDTH
    if section.key == "identification":
        ws.column_dimensions["C"].width = 40
    ws.freeze_panes = ws.cell(row=section.header_row + 1, column=1)
    fit_row_heights(ws)
    if section.key == spec.printing.get("signed_section"):
        place = spec.printing["place_date"].format(**_names(prefilled))
        signers = [tuple(pair) for pair in spec.printing["signers"]]
        last_row = signature_block(ws, last_row + 2, (1, 2), (min(3, last_col), last_col), place, signers)
    ws.print_title_rows = f"1:{section.header_row}"
    ws.print_area = f"A1:{get_column_letter(last_col)}{last_row}"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if last_col > 5 else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.oddFooter.center.text = PAGE_NUMBERS
    if spec.printing:
        page_heading(ws, _issuer(spec, prefilled))
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False


def _names(prefilled: Mapping[str, Any]) -> dict[str, str]:
    """The unit names of the identification, as written and upper case (for letterheads)."""
    names = {k: str(v) for k, v in prefilled.items() if k.endswith("_name") and v}
    return {**names, **{f"{k}_upper": v.upper() for k, v in names.items()}}


def _issuer(spec: TemplateSpec, prefilled: Mapping[str, Any]) -> list[str]:
    names = _names(prefilled)
    lines = spec.printing["issuer" if "district_name" in names else "issuer_without_district"]
    return [line.format(**names) for line in lines]


def _write_instructions(ws: Worksheet, spec: TemplateSpec, prefilled: Mapping[str, Any], period: Period) -> None:
    if "send_to" not in prefilled:
        raise KeyError("the pre-filled values lack 'send_to' (the office the commune sends its report to); "
                       "build them with prefill_values")
    context = {
        "title": spec.title, "period_name": period.name, "template_id": spec.template_id,
        "version": prefilled.get("template_version", spec.version),
        "deadline": local_date(period.commune_deadline), "send_to": prefilled["send_to"],
        "place": ", ".join(str(prefilled[k]) for k in ("commune_name", "district_name", "province_name")
                           if prefilled.get(k)),
    }
    fonts = {"title": FONT_TITLE, "bold": FONT_BOLD, "hint": FONT_HINT}
    fills = {"input": FILL_INPUT, "prefilled": FILL_PREFILLED, "formula": FILL_FORMULA}
    ws.column_dimensions["A"].width = INSTRUCTIONS_WIDTH
    for idx, line in enumerate(spec.instructions, start=1):
        cell = ws.cell(row=idx, column=1, value=line["text"].format(**context))
        cell.font = fonts.get(line.get("style"), FONT_BODY)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if line.get("fill"):
            cell.fill = fills[line["fill"]]
    ws.sheet_view.showGridLines = False
    fit_row_heights(ws)
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "portrait"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.oddFooter.center.text = PAGE_NUMBERS
    ws.protection.sheet = True


def build_workbook(prefilled: Mapping[str, Any], period: Period, values: Mapping[str, Any] | None = None,
                   spec: TemplateSpec | None = None, expectations_dir: Path | None = None) -> Workbook:
    spec = spec or load_spec()
    wb = Workbook()
    wb.remove(wb.active)
    _write_instructions(wb.create_sheet(spec.instructions_sheet), spec, prefilled, period)
    for section in spec.sections:
        _write_section(wb.create_sheet(section.sheet), spec, section, prefilled, values or {}, period)
    if spec.self_check:
        add_self_check(wb, spec, expectations_dir or Settings.from_env().expectations_dir,
                       {"title": FONT_TITLE, "bold": FONT_BOLD, "body": FONT_BODY, "hint": FONT_HINT})
    wb.active = 1
    version = prefilled.get("template_version", spec.version)
    wb.custom_doc_props.append(StringProperty(name=spec.property_name, value=f"{spec.template_id}/{version}"))
    wb.properties.title = f"{spec.title} — {period.name}"
    wb.properties.creator = "tonghop"
    return wb


def write_workbook(path: Path, prefilled: Mapping[str, Any], period: Period,
                   values: Mapping[str, Any] | None = None, spec: TemplateSpec | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(workbook_bytes(build_workbook(prefilled, period, values, spec)))
    return path
