"""Workbook → typed values, through the template spec.

Blank and zero stay different (None vs 0). Numbers typed as text in Vietnamese style are read as
numbers; text that is not a number is kept as found and marked unreadable for validation to report.
Money is exact: Excel doubles become the decimal Excel displays, text becomes Decimal directly.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import python_calamine as calamine

from tonghop.findings import Check, Finding, make_finding
from tonghop.numbers import decimal_from_float, decimal_places, parse_number_text
from tonghop.spec import Field, TemplateSpec

MONEY_SCALE = 1000  # amounts are compared in thousandths of a million VND (1,000 đồng)
YES_WORDS = {"có", "co", "c", "yes", "y", "x", "1"}
NO_WORDS = {"không", "khong", "k", "no", "n", "0"}


@dataclass
class ParsedReport:
    submission_id: str
    values: dict[str, Any]  # typed value per field key; None when blank or unreadable
    raw: dict[str, Any]  # what an unreadable cell held, as found (for messages)
    unreadable: set[str] = field(default_factory=set)
    # Per field of the spec, in spec order, for batch validation without a Python loop per cell:
    blank: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    readable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    numbers: np.ndarray = field(default_factory=lambda: np.zeros(0))  # NaN if not a number; money × 1000
    decimals: np.ndarray = field(default_factory=lambda: np.zeros(0))  # decimal places of amounts and rates


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


def _cell_value(rows: list[list[Any]], position: tuple[int, int]) -> Any:
    r, c = position
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
    version = _cell_value(sheets[version_field.sheet], version_field.position)
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
    blank, readable_cells, numbers, decimals = [], [], [], []
    for f in spec.fields:
        raw = _cell_value(sheets[f.sheet], f.position)
        value, readable = convert(f, raw)
        values[f.key] = value
        blank.append(raw is None)
        readable_cells.append(readable)
        if not readable:
            unreadable.add(f.key)
            raw_values[f.key] = raw
        if value is None or not f.is_numeric:
            numbers.append(math.nan)
            decimals.append(math.nan)
        elif isinstance(value, Decimal):
            # Money in thousandths of a million VND: a whole number when it has ≤ 3 decimals, so exact.
            numbers.append(float(value * MONEY_SCALE) if f.type == "amount" else float(value))
            decimals.append(float(decimal_places(value)))
        else:
            numbers.append(float(value * MONEY_SCALE) if f.type == "amount" else float(value))
            decimals.append(0.0)
    return ParsedReport(submission_id=submission_id, values=values, raw=raw_values, unreadable=unreadable,
                        blank=np.array(blank, dtype=bool), readable=np.array(readable_cells, dtype=bool),
                        numbers=np.array(numbers, dtype="float64"),
                        decimals=np.array(decimals, dtype="float64"))
