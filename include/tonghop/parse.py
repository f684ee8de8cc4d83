"""Workbook → typed values, through the template spec.

Blank and zero stay different (None vs 0). Numbers typed as text in Vietnamese style are read as
numbers; text that is not a number is kept as found and marked unreadable for validation to report.
Money is exact: Excel doubles become the decimal Excel displays, text becomes Decimal directly.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import python_calamine as calamine
from openpyxl.utils.cell import column_index_from_string

from tonghop.findings import Check, Finding, make_finding
from tonghop.numbers import decimal_from_float, decimal_places, parse_number_text
from tonghop.safety import UnsafeFile, clean_text, inspect
from tonghop.schema import storable_limit
from tonghop.spec import Field, TemplateSpec, cell_position
from tonghop.vocabulary import MONEY_SCALE

YES_WORDS = {"có", "co", "c", "yes", "y", "x", "1"}
NO_WORDS = {"không", "khong", "k", "no", "n", "0"}
MAX_TEXT = 500  # characters kept of a text cell (names, phone, e-mail); longer text is cut, with a warning
MAX_RAW = 200  # characters of an unreadable cell quoted back in messages


@dataclass
class ParsedReport:
    submission_id: str
    values: dict[str, Any]  # typed value per field key; None when blank or unreadable
    raw: dict[str, Any]  # what an unreadable cell held, as found (for messages)
    unreadable: set[str] = field(default_factory=set)
    notes: list[Finding] = field(default_factory=list)  # findings about the file itself (e.g. macros ignored)
    legacy: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # text in TCVN3/VNI?
    # Per field of the spec, in spec order, for batch validation without a Python loop per cell:
    blank: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    readable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    numbers: np.ndarray = field(default_factory=lambda: np.zeros(0))  # NaN if not a number; money × 1000
    decimals: np.ndarray = field(default_factory=lambda: np.zeros(0))  # decimal places of amounts and rates
    # A number beyond what the warehouse column holds, or text longer than MAX_TEXT (kept cut):
    oversized: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def _normalise_text(value: str) -> str:
    return clean_text(unicodedata.normalize("NFC", value)).strip()


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
            number = parse_number_text(str(raw)[:MAX_TEXT])
            if number is None:
                return None, False
        if not number.is_finite():  # NaN, sNaN, Infinity: typed as text or stored as such in the XML
            return None, False
        if abs(number) >= storable_limit(f.type):
            return number, True  # read, but no column holds it: `fits` says so
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


def fits(f: Field, value: Any) -> bool:
    """Whether a converted value can be stored as it is (a warehouse column's range, MAX_TEXT)."""
    if isinstance(value, Decimal | int) and not isinstance(value, bool) and f.is_numeric:
        return abs(value) < storable_limit(f.type)
    if isinstance(value, str):
        return len(value) <= MAX_TEXT
    return True


def _cell_value(rows: list[list[Any]], position: tuple[int, int]) -> Any:
    r, c = position
    if r >= len(rows) or c >= len(rows[r]):
        return None
    value = rows[r][c]
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _normal(text: Any) -> str:
    return " ".join(unicodedata.normalize("NFC", str(text or "")).split()).casefold()


def _merged_inputs(spec: TemplateSpec, merges: dict[str, list]) -> list[str]:
    """Input cells inside a merged range (the template merges none): 'sheet!cell', in spec order."""
    hits = set()
    for sheet, fields in spec.inputs_by_sheet.items():
        ranges = np.array([(r0, c0, r1, c1) for (r0, c0), (r1, c1) in merges.get(sheet, ())
                           if (r0, c0) != (r1, c1)], dtype="int64").reshape(-1, 4)
        if not len(ranges):
            continue
        positions = np.array([f.position for f in fields])
        rows, columns = positions[:, :1], positions[:, 1:]
        inside = ((ranges[:, 0] <= rows) & (rows <= ranges[:, 2]) & (ranges[:, 1] <= columns)
                  & (columns <= ranges[:, 3])).any(axis=1)
        hits |= {f.key for f, hit in zip(fields, inside, strict=True) if hit}
    return [f"{f.sheet}!{f.cell}" for f in spec.input_fields() if f.key in hits]


def _layout_changes(spec: TemplateSpec, sheets: dict[str, list[list[Any]]]) -> list[str]:
    """Header and row labels that are not where the template put them (a column or row was inserted)."""
    changes = []
    for label in spec.label_cells:
        found = _cell_value(sheets[label.sheet], label.position)
        if found == label.text:  # as the template wrote it: nothing to normalise
            continue
        found_text = _normal(found)
        if not found_text and label.optional:
            continue
        if found_text != _normal(label.text):
            changes.append(f"trang «{label.sheet}» ô {label.ref} phải là «{label.text}» nhưng ghi «{found or ''}»")
    return changes


# Characters TCVN3 (ABC) uses for Vietnamese letters, which Unicode Vietnamese text never contains, and
# VNI's vowel + accent-letter pairs ('aù' for 'á', 'ñ' for 'đ').
_TCVN3 = frozenset("¸µ¶·¹¨©ª«¬®¾»¼½ÆÇ×Ø÷øþð¡¢£¤¥¦§")
_VNI = re.compile(r"[aeiouyâêôAEIOUYÂÊÔ][øûõïù]|ñ|Ñ")


def looks_legacy_encoded(text: str) -> bool:
    return not _TCVN3.isdisjoint(text) or bool(_VNI.search(text))


class StructureError(Exception):
    """The file cannot be read as a report of our template; carries the finding to record."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def _template_extent(spec: TemplateSpec) -> dict[str, tuple[int, int]]:
    """Per template sheet, (rows, columns) up to the farthest cell the template defines."""
    extent: dict[str, tuple[int, int]] = {}

    def reach(sheet: str, row: int, column: int) -> None:
        rows, columns = extent.get(sheet, (0, 0))
        extent[sheet] = (max(rows, row + 1), max(columns, column + 1))

    for f in spec.fields:
        reach(f.sheet, *f.position)
    for section in spec.sections:
        refs = list(section.headers)
        label_column = section.layout.get("label_column")
        if label_column:
            refs += [f"{label_column}{t['row']}" for t in section.row_texts]
        for ref in refs:
            reach(section.sheet, *cell_position(ref))
    return extent


_MERGE = re.compile(rb'<mergeCell\b[^<>]*?\bref="([A-Z]{1,3})([0-9]{1,7})(?::([A-Z]{1,3})([0-9]{1,7}))?"')


def _read_bounded(content: bytes, spec: TemplateSpec, refuse: Any) -> tuple[dict[str, list], dict[str, list]]:
    """The template's region of each template sheet, streamed with openpyxl (an .xlsx only): what it costs
    depends on the file's size, never on where its farthest cell is, and it reads any cell value calamine
    cannot decode (#SPILL!, #CALC! … of Excel 365 come back as their text)."""
    import zipfile

    from openpyxl import load_workbook

    extent = _template_extent(spec)
    wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    try:
        missing = [name for name in spec.sheet_names if name not in wb.sheetnames]
        if missing:
            raise refuse("TH-S-002", detail=", ".join(f"«{clean_text(m)}»" for m in missing))
        sheets = {}
        for name in spec.sheet_names:
            rows, columns = extent.get(name, (1, 1))
            sheets[name] = [list(row) for row in wb[name].iter_rows(min_row=1, max_row=rows, max_col=columns,
                                                                    values_only=True)]
        parts = {ws.title: ws._worksheet_path for ws in wb.worksheets if ws.title in spec.sheet_names}
    finally:
        wb.close()
    merges: dict[str, list] = {}
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name, path in parts.items():
            found = []
            for c0, r0, c1, r1 in _MERGE.findall(archive.read(path.lstrip("/"))):
                start = (int(r0) - 1, column_index_from_string(c0.decode()) - 1)
                end = (int(r1) - 1, column_index_from_string(c1.decode()) - 1) if c1 else start
                found.append((start, end))
            merges[name] = found
    return sheets, merges


def _read_sheets(content: bytes, inspection: Any, spec: TemplateSpec,
                 refuse: Any) -> tuple[dict[str, list], dict[str, list]]:
    """Cell values and merged ranges of the template sheets: calamine, unless a sheet must not be read in full
    (a filled cell far outside the template) or calamine cannot decode it; then the bounded reader."""
    if inspection.declared and inspection.container == "xlsx":  # calamine would act on it when opening
        try:
            return _read_bounded(content, spec, refuse)
        except StructureError:
            raise
        except Exception as exc:
            raise refuse("TH-S-001", detail=clean_text(f"{type(exc).__name__}: {exc}")[:200]) from exc
    try:
        workbook = calamine.CalamineWorkbook.from_filelike(io.BytesIO(content))
    except Exception as exc:  # calamine raises unrelated types for foreign files; all mean "unreadable"
        raise refuse("TH-S-001", detail=clean_text(f"{type(exc).__name__}: {exc}")[:200]) from exc
    with workbook:
        missing = [name for name in spec.sheet_names if name not in workbook.sheet_names]
        if missing:
            raise refuse("TH-S-002", detail=", ".join(f"«{clean_text(m)}»" for m in missing))
        reasons = [f"trang «{name}» có dữ liệu ở {where}, ngoài vùng của mẫu biểu"
                   for name, where in inspection.oversized.items()]
        problem = "; ".join(reasons + ([inspection.declared] if inspection.declared else []))
        if not problem:
            try:
                handles = {name: workbook.get_sheet_by_name(name) for name in spec.sheet_names}
                return ({name: sheet.to_python(skip_empty_area=False) for name, sheet in handles.items()},
                        {name: sheet.merged_cell_ranges or [] for name, sheet in handles.items()})
            except BaseException as exc:  # CalamineError, or a Rust panic (PanicException is a BaseException)
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                problem = clean_text(f"{type(exc).__name__}: {exc}")[:200]
    if inspection.container != "xlsx":
        raise refuse("TH-S-006" if inspection.oversized else "TH-S-001", detail=problem)
    try:
        return _read_bounded(content, spec, refuse)
    except StructureError:
        raise
    except Exception as exc:
        raise refuse("TH-S-001", detail=f"{problem}; {clean_text(f'{type(exc).__name__}: {exc}')[:200]}") from exc


@dataclass(frozen=True)
class _Slot:
    """What reading one field takes, worked out once per spec: a period reads ~200 fields of 10,000 workbooks."""

    field: Field
    sheet: str
    row: int
    column: int
    note_key: tuple[str, str]
    numeric: bool
    count: bool
    amount: bool
    # Plain finite numbers below this magnitude take the short way (`_typed_cells`); half the warehouse's limit,
    # so a double that rounds up to the limit as a 15-digit decimal takes the long way, through `fits`.
    plain_below: float


_SLOTS: dict[int, tuple[TemplateSpec, tuple[_Slot, ...]]] = {}  # id(spec) → (spec, slots); the spec kept alive


def _slots(spec: TemplateSpec) -> tuple[_Slot, ...]:
    if id(spec) not in _SLOTS:
        _SLOTS[id(spec)] = (spec, tuple(
            _Slot(f, f.sheet, *f.position, (f.sheet, f.cell), f.is_numeric, f.type == "count", f.type == "amount",
                  min(storable_limit(f.type) / 2, 1e15) if f.is_numeric else 0.0) for f in spec.fields))
    return _SLOTS[id(spec)][1]


def _typed_cells(spec: TemplateSpec, sheets: dict[str, list[list[Any]]],
                 cell_notes: dict[tuple[str, str], str]) -> dict[str, Any]:
    """Every field's typed value, and the per-field arrays of ParsedReport. Most cells of a report are plain
    numbers; they take a short way with the same outcome as `convert` and `fits` (no note, finite, well within
    the column's range)."""
    values: dict[str, Any] = {}
    raw_values: dict[str, Any] = {}
    unreadable: set[str] = set()
    blank, readable_cells, legacy, numbers, decimals, oversized = [], [], [], [], [], []
    for slot in _slots(spec):
        f = slot.field
        rows = sheets[slot.sheet]
        raw = rows[slot.row][slot.column] if slot.row < len(rows) and slot.column < len(rows[slot.row]) else None
        if isinstance(raw, str) and not raw.strip():
            raw = None
        note = cell_notes.get(slot.note_key)
        if slot.numeric and note is None and type(raw) is float and -slot.plain_below < raw < slot.plain_below:
            places = 0.0
            if slot.count and raw.is_integer():  # below 10^15 a whole double is the integer its 15 digits show
                value = int(raw)
            else:
                shown = format(raw, ".15g")  # as decimal_from_float; without trailing zeros, so normalised
                number = Decimal(shown)
                value = int(number) if slot.count and number == number.to_integral_value() else number
                if type(value) is not int:
                    places = float(len(shown) - shown.index(".") - 1 if "e" not in shown and "." in shown
                                   else decimal_places(value))
            values[f.key] = value
            blank.append(False)
            readable_cells.append(True)
            oversized.append(False)
            legacy.append(False)
            numbers.append(float(value * MONEY_SCALE) if slot.amount else float(value))
            decimals.append(places)
            continue
        # An error value (#N/A, #SPILL! … whatever a reader made of it) or a formula Excel never computed.
        if note is not None and (raw is None or note.startswith("#")):
            value, readable, raw = None, False, note
        else:
            value, readable = convert(f, raw)
        fit = fits(f, value)
        if not fit:
            if isinstance(value, str):
                value = value[:MAX_TEXT]
            else:
                value, raw = None, raw if isinstance(raw, str) else str(raw)
        oversized.append(not fit)
        legacy.append(f.type == "text" and f.is_input and isinstance(value, str) and looks_legacy_encoded(value))
        values[f.key] = value
        blank.append(raw is None)
        readable_cells.append(readable)
        if not readable or not fit:
            if not readable:
                unreadable.add(f.key)
            raw_values[f.key] = clean_text(str(raw))[:MAX_RAW] if isinstance(raw, str) else raw
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
    return {"values": values, "raw": raw_values, "unreadable": unreadable, "legacy": np.array(legacy, dtype=bool),
            "blank": np.array(blank, dtype=bool), "readable": np.array(readable_cells, dtype=bool),
            "numbers": np.array(numbers, dtype="float64"), "decimals": np.array(decimals, dtype="float64"),
            "oversized": np.array(oversized, dtype=bool)}


def read_report(content: bytes, submission_id: str, file_name: str, spec: TemplateSpec,
                catalogue: dict[str, Check]) -> ParsedReport:
    """Parse one workbook (.xlsx, .xlsm, legacy .xls or .ods with our template's content).
    Raises StructureError when it is not a readable, safe report of our template."""

    def refuse(check: str, **context: Any) -> StructureError:
        return StructureError(make_finding(catalogue[check], submission_id, {"file_name": file_name, **context}))

    try:
        inspection = inspect(content, spec.sheet_names)
    except UnsafeFile as exc:
        raise refuse("TH-S-005" if exc.kind == "encrypted" else "TH-S-006", detail=exc.detail) from None
    sheets, merges = _read_sheets(content, inspection, spec, refuse)
    moved = _layout_changes(spec, sheets)
    if moved:
        raise refuse("TH-S-007", detail="; ".join(moved[:3]))
    merged = _merged_inputs(spec, merges)
    if merged:
        raise refuse("TH-S-008", detail=", ".join(merged[:10]))
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
    columns = _typed_cells(spec, sheets, inspection.cell_notes)
    notes = [make_finding(catalogue["TH-S-009"], submission_id, {"file_name": file_name})] if inspection.macros else []
    return ParsedReport(submission_id=submission_id, notes=notes, **columns)
