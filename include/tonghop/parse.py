"""Workbook → typed values, through the template spec.

Blank and zero stay different (None vs 0). Numbers typed as text in Vietnamese style are read as
numbers; text that is not a number is kept as found and marked unreadable for validation to report.
Money is exact: Excel doubles become the decimal Excel displays, text becomes Decimal directly.
"""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import python_calamine as calamine
from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

from tonghop.findings import Check, Finding, make_finding
from tonghop.numbers import decimal_from_float, parse_number_text
from tonghop.spec import Field, TemplateSpec

YES_WORDS = {"có", "co", "c", "yes", "y", "x", "1"}
NO_WORDS = {"không", "khong", "k", "no", "n", "0"}


@dataclass
class ParsedReport:
    submission_id: str
    values: dict[str, Any]  # typed value per field key; None when blank or unreadable
    raw: dict[str, Any]  # what the cell held, None when blank
    unreadable: set[str] = field(default_factory=set)

    def is_blank(self, key: str) -> bool:
        return self.raw.get(key) is None


def _normalise_text(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


def convert(f: Field, raw: Any) -> tuple[Any, bool]:
    """(typed value, readable). A blank cell is (None, True)."""
    if raw is None:
        return None, True
    if f.is_numeric:
        if isinstance(raw, bool | dt.date | dt.time | dt.timedelta):
            return None, False
        if isinstance(raw, int):
            number = Decimal(raw)
        elif isinstance(raw, float):
            number = decimal_from_float(raw)
        else:
            number = parse_number_text(str(raw))
            if number is None:
                return None, False
        if f.type == "count" and number == number.to_integral_value():
            return int(number), True
        return number, True
    if f.type == "yesno":
        if isinstance(raw, bool):
            return raw, True
        word = _normalise_text(str(raw)).casefold()
        if word in YES_WORDS:
            return True, True
        if word in NO_WORDS:
            return False, True
        return None, False
    if f.type == "date":
        if isinstance(raw, dt.datetime):
            return raw.date(), True
        if isinstance(raw, dt.date):
            return raw, True
        text = _normalise_text(str(raw))
        for pattern in ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d"):
            try:
                return dt.datetime.strptime(text, pattern).date(), True
            except ValueError:
                continue
        return None, False
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    return _normalise_text(str(raw)), True


def _cell_value(rows: list[list[Any]], cell: str) -> Any:
    col_letter, row_number = coordinate_from_string(cell)
    r, c = row_number - 1, column_index_from_string(col_letter) - 1
    if r >= len(rows) or c >= len(rows[r]):
        return None
    value = rows[r][c]
    if isinstance(value, str) and not value.strip():
        return None
    return value


class StructureError(Exception):
    """The file cannot be read as a report of our template; carries the finding to record."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def read_report(content: bytes, submission_id: str, file_name: str, spec: TemplateSpec,
                catalogue: dict[str, Check]) -> ParsedReport:
    """Parse one workbook. Raises StructureError when it is not a readable report of our template."""
    try:
        workbook = calamine.CalamineWorkbook.from_filelike(io.BytesIO(content))
    except Exception as exc:  # calamine raises unrelated types for foreign files; all mean "unreadable"
        raise StructureError(make_finding(catalogue["TH-S-001"], submission_id, {
            "file_name": file_name, "detail": f"{type(exc).__name__}: {exc}"[:200]})) from exc
    with workbook:
        missing = [name for name in spec.sheet_names if name not in workbook.sheet_names]
        if missing:
            raise StructureError(make_finding(catalogue["TH-S-002"], submission_id, {
                "file_name": file_name, "detail": ", ".join(f"«{m}»" for m in missing)}))
        sheets = {name: workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
                  for name in spec.sheet_names}
    version_field = spec.by_key["template_version"]
    version = _cell_value(sheets[version_field.sheet], version_field.cell)
    version_text = convert(version_field, version)[0]
    if version_text not in spec.supported_versions:
        raise StructureError(make_finding(
            catalogue["TH-S-003"], submission_id,
            {"file_name": file_name, "cell": version_field.cell, "label": version_field.label,
             "value": version_text or "", "expected": ", ".join(spec.supported_versions)},
            sheet=version_field.sheet, cells=[version_field.cell], field_key=version_field.key,
            label=version_field.label))
    values: dict[str, Any] = {}
    raw_values: dict[str, Any] = {}
    unreadable: set[str] = set()
    for f in spec.fields:
        raw = _cell_value(sheets[f.sheet], f.cell)
        value, readable = convert(f, raw)
        raw_values[f.key] = raw
        values[f.key] = value
        if not readable:
            unreadable.add(f.key)
    return ParsedReport(submission_id=submission_id, values=values, raw=raw_values, unreadable=unreadable)
