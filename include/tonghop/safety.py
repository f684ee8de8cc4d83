"""What a received file really is, checked before any spreadsheet reader opens it.

Every file is untrusted. Before calamine sees it we know its container (xlsx/xlsm zip, legacy OLE .xls,
OpenDocument .ods, an encrypted OLE package, or something else), and a zip is decompressed once, in
bounded chunks, refusing it as soon as it inflates past a size or ratio cap (zip bombs) or carries a DTD
(XML entity bombs: no XML reader in the pipeline needs one). The same pass notes the worksheet cells that
hold an error value (#N/A, …) or a formula without a computed value, which readers would show as blank.
"""

from __future__ import annotations

import functools
import io
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Collection
from dataclasses import dataclass, field
from posixpath import basename

from defusedxml import ElementTree

MAX_COMPRESSED = 20 * 1024 * 1024  # bytes of a received file
MAX_INFLATED = 50 * 1024 * 1024  # bytes once every zip entry is inflated
MAX_RATIO = 200  # inflated / compressed, over the whole file
INFLATES_TOO_MUCH = f"giải nén vượt quá {MAX_INFLATED // (1024 * 1024)} MB"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
# Linear by construction: possessive quantifiers never backtrack, and a cell body stops at the next `<c`
# (an unclosed `<c>` costs the distance to the next cell, not the rest of the sheet).
_CELL = re.compile(rb'<(?:\w+:)?c\b(?: r="([A-Z]{1,3})([0-9]{1,7})")?((?:[^<>/]++|/(?!>))*+)'
                   rb'(?:/>|>((?:[^<]++|<(?!/(?:\w+:)?c>|(?:\w+:)?c\b))*+)</(?:\w+:)?c>)')
_REF = re.compile(rb"""\br\s*=\s*["']([A-Z]{1,3})([0-9]{1,7})["']""")
_FORMULA = re.compile(rb"<(?:\w+:)?f\b[^<>]*+>([^<]*+)</(?:\w+:)?f>|<(?:\w+:)?f\b[^<>]*+/>")
_VALUE = re.compile(rb"<(?:\w+:)?v\b[^<>]*+>([^<]*+)</(?:\w+:)?v>")
_FILLED = re.compile(rb"<(?:\w+:)?(?:v|is)\b")
FORMULA_TAG = re.compile(rb"<(?:\w+:)?f\b")
_ERROR_TYPE = re.compile(rb"""\bt\s*=\s*["']e["']""")
_SST_COUNTS = re.compile(rb"""\b(?:count|uniqueCount)\s*=\s*["']([0-9]+)["']""")
MAX_SHEET_CELLS = 200_000  # rows × columns up to the farthest filled cell of a template sheet, read in full


class UnsafeFile(ValueError):
    """The file is refused before it is opened: `reason` is a check id's detail, in Vietnamese."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind  # "encrypted" or "unsafe"
        self.detail = detail


@dataclass
class Inspection:
    container: str  # xlsx, xls, ods, other
    macros: bool = False
    # (sheet name, cell) → what the cell holds instead of a value: "#N/A", "=SUM(D5:D9)" …
    cell_notes: dict[tuple[str, str], str] = field(default_factory=dict)
    # Template sheets that must not be read in full: a filled cell far outside the template (a full-sheet
    # reader would allocate rows × columns cells: 17 billion for XFD1048576) or cells without a reference.
    oversized: dict[str, str] = field(default_factory=dict)  # sheet → where, for the message
    # Declared sizes no honest file has (a shared-strings count far beyond what its part can hold makes
    # calamine reserve that many entries up front): read with the bounded reader instead.
    declared: str | None = None


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """An entry's bytes, reading at most `budget` of them (never trusting the declared sizes)."""
    with archive.open(info) as stream:
        data = stream.read(budget + 1)  # inflated a chunk at a time, never past budget + 1 bytes
    if len(data) > budget:
        raise UnsafeFile("unsafe", INFLATES_TOO_MUCH)
    return data


def sheet_parts(parts: dict[str, bytes]) -> dict[str, str]:
    """worksheet part path → sheet name, from workbook.xml and its relationships (`parts`: the inflated package)."""
    workbook, rels = parts.get("xl/workbook.xml"), parts.get("xl/_rels/workbook.xml.rels")
    if workbook is None or rels is None:
        return {}
    if len(workbook) + len(rels) > 256 * 1024:  # not a template's: not worth keeping
        return dict(_read_sheet_parts(workbook, rels))
    return dict(_known_sheet_parts(workbook, rels))


def _read_sheet_parts(workbook_xml: bytes, rels_xml: bytes) -> tuple[tuple[str, str], ...]:
    try:
        workbook = ElementTree.fromstring(workbook_xml)
        rels = ElementTree.fromstring(rels_xml)
    except ElementTree.ParseError:
        return ()
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    out = {}
    for sheet in workbook.iter(f"{NS_MAIN}sheet"):
        target = targets.get(sheet.get(f"{NS_REL}id"), "")
        path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        out[path] = sheet.get("name", "")
    return tuple(out.items())


# The reports of one template carry the same workbook.xml (its defined names make it the costliest part to parse
# after the sheets): parsed once per distinct part in a reading process.
_known_sheet_parts = functools.lru_cache(maxsize=16)(_read_sheet_parts)


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + ch - 64
    return number


@dataclass
class SheetScan:
    notes: dict[str, str] = field(default_factory=dict)
    far: str | None = None  # a filled cell beyond MAX_SHEET_CELLS, or a cell without a reference


# Every cell start, with its reference when written first and plain (`<c r="A1"`, as Excel and openpyxl write it).
_CELL_START = re.compile(rb'<(?:\w+:)?c\b(?: r="([A-Z]{1,3})([0-9]{1,7})")?')
_PLAIN_FORMULA = re.compile(rb"<f\b")  # a literal start: searched at memchr speed, unlike FORMULA_TAG


def scan_sheet(xml: bytes) -> SheetScan:
    """Error values, formulas Excel never computed, and the extent of the filled cells — in one linear pass."""
    return _scan_noteworthy(xml) or _scan_every_cell(xml)


def _note(scan: SheetScan, letters: bytes, digits: bytes, attributes: bytes, body: bytes) -> None:
    """The note of one cell, if it holds an error value or a formula Excel never computed."""
    if b"e" in attributes and _ERROR_TYPE.search(attributes):
        value = _VALUE.search(body)
        scan.notes[(letters + digits).decode()] = (value.group(1).decode("utf-8", "replace")[:40]
                                                   if value and value.group(1).strip() else "#ERROR")
    elif b"f" in body and FORMULA_TAG.search(body):  # a formula Excel never computed (e.g. by a script)
        value = _VALUE.search(body)
        if value and value.group(1).strip():
            return
        formula = _FORMULA.search(body)
        text = formula.group(1).decode("utf-8", "replace")[:200] if formula and formula.group(1) else ""
        scan.notes[(letters + digits).decode()] = f"={text}" if text else "=(công thức)"


# Searched from their literal start (fast), unlike _CELL_START: every cell, and every cell that starts `<c r="A1"`.
_CELL_TAG = re.compile(rb"<c\b")
_PLAIN_CELL_START = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"')
# A whole formula cell as Excel and openpyxl write one: `<c r="D12" s="5"><f>SUM(D5:D11)</f><v>42</v></c>`.
PLAIN_FORMULA_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"(?:[^<>/]++|/(?!>))*+>'
                                 rb"<f>([^<]*+)</f>(?:<v>([^<]*+)</v>|<v/>)?</c>")


def _colon_before_c_or_f(xml: bytes) -> bool:
    """`b":c" in xml or b":f" in xml`, from the few colons of a sheet (searched at memchr speed): a fifth of the
    time of the two substring searches over a whole sheet."""
    at = xml.find(b":")
    while at >= 0:
        if xml[at + 1:at + 2] in (b"c", b"f"):
            return True
        at = xml.find(b":", at + 1)
    return False


def _scan_noteworthy(xml: bytes) -> SheetScan | None:
    """`_scan_every_cell`'s answer, found by looking only at the cells that hold a formula or an error type — when
    every cell starts `<c r="A1"` and all cells, filled or not, fit MAX_SHEET_CELLS (then the filled ones do).
    None when in any doubt: a cell without a plain reference, a sheet that large, a formula or error type that
    is not inside a well-formed cell. (The cell regex never matches across another cell's start, so a cell matched
    from its own start is the one the scan of every cell finds there.)"""
    if _colon_before_c_or_f(xml):  # perhaps a prefixed cell or formula tag (<x:c>, <x:f>)
        return None
    refs = _PLAIN_CELL_START.findall(xml)
    if len(refs) != len(_CELL_TAG.findall(xml)):  # a cell whose reference is not its first attribute, or none
        return None
    if refs:
        letters, digits = zip(*refs, strict=True)
        if max(map(int, digits)) * max(map(_column_number, set(letters))) > MAX_SHEET_CELLS:
            return None
    hits = [m.start() for m in _PLAIN_FORMULA.finditer(xml)]
    # An error type is `t="e"`, its quotes either kind (Excel writes double quotes: single ones are rare).
    errors = b'"e"' in xml or (b"'" in xml and any(quoted in xml for quoted in (b"'e'", b"\"e'", b"'e\"")))
    if hits and not errors:
        # The usual sheet: each formula tag is the body of a plain formula cell (these hold one each and never
        # overlap), so the cells matched whole in one pass are those the search from each tag finds, and their
        # notes are `_note`'s: the formula's text where no value was cached.
        cells = PLAIN_FORMULA_CELL.findall(xml)
        if len(cells) == len(hits):
            scan = SheetScan()
            for letters, digits, formula, value in cells:
                if not value.strip():
                    text = formula.decode("utf-8", "replace")[:200]
                    scan.notes[(letters + digits).decode()] = f"={text}" if text else "=(công thức)"
            return scan
    if errors:
        hits = sorted(hits + [m.start() for m in _ERROR_TYPE.finditer(xml)])
    scan, seen = SheetScan(), set()
    for position in hits:
        start = xml.rfind(b"<", 0, position + 1)
        for _ in range(4):  # the cell's own start is at most a few tags back (<c …><f>, <c …><is><t>…)
            if start < 0 or _CELL_START.match(xml, start):
                break
            start = xml.rfind(b"<", 0, start)
        cell = _CELL.match(xml, start) if start >= 0 else None
        if cell is None or cell.end() <= position or not cell.group(1):
            return None
        if start not in seen:
            seen.add(start)
            _note(scan, *cell.groups(b""))
    return scan


def _scan_every_cell(xml: bytes) -> SheetScan:
    scan = SheetScan()
    rows = columns = 0
    column_numbers: dict[bytes, int] = {}
    for letters, digits, attributes, body in _CELL.findall(xml):
        # The cheap byte tests first: most cells are `<v>…</v>` with no error type and no formula.
        filled = body.startswith(b"<v>") or _FILLED.search(body) is not None
        if not letters:  # `r` is optional and may come after other attributes
            ref = _REF.search(attributes)
            if ref is None:
                if filled:
                    scan.far = scan.far or "ô không ghi địa chỉ"
                continue
            letters, digits = ref.groups()
        if filled:
            column = column_numbers.get(letters) or column_numbers.setdefault(letters, _column_number(letters))
            row = int(digits)
            if row > rows or column > columns:
                rows, columns = max(rows, row), max(columns, column)
                if rows * columns > MAX_SHEET_CELLS and scan.far is None:
                    scan.far = f"ô {letters.decode()}{digits.decode()}"
        _note(scan, letters, digits, attributes, body)
    return scan


def inspect(content: bytes, sheets: Collection[str] | None = None) -> Inspection:
    """What the file is; with `sheets`, only those worksheets are scanned for notes and extent."""
    if len(content) > MAX_COMPRESSED:
        raise UnsafeFile("unsafe", f"tệp lớn hơn {MAX_COMPRESSED // (1024 * 1024)} MB")
    if content.startswith(OLE_MAGIC):
        import olefile

        try:
            ole = olefile.OleFileIO(io.BytesIO(content))
            streams = {"/".join(s) for s in ole.listdir()}
        except OSError:
            return Inspection("other")
        if {"EncryptionInfo", "EncryptedPackage"} <= streams:
            raise UnsafeFile("encrypted", "tệp được đặt mật khẩu")
        return Inspection("xls", macros=any(s.startswith(("_VBA_PROJECT", "Macros")) for s in streams))
    if not content.startswith(b"PK"):
        return Inspection("other")
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return Inspection("other")
    budget = min(MAX_INFLATED, max(len(content), 1) * MAX_RATIO)
    # The declared sizes refuse an ordinary bomb without inflating anything; a header that lies is caught
    # by the budget while inflating (zipfile also stops at the declared size and then fails its CRC check).
    if sum(info.file_size for info in infos) > budget:
        raise UnsafeFile("unsafe", INFLATES_TOO_MUCH)
    parts: dict[str, bytes] = {}
    try:
        for info in infos:
            data = _inflate(archive, info, budget)
            budget -= len(data)
            if info.filename.endswith((".xml", ".rels")) and (b"<!DOCTYPE" in data or b"<!ENTITY" in data):
                raise UnsafeFile("unsafe", "tệp chứa khai báo XML không an toàn (DTD/ENTITY)")
            parts[info.filename] = data
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError):
        return Inspection("other")  # damaged: the reader will say it cannot open it
    if "mimetype" in parts and parts["mimetype"].startswith(b"application/vnd.oasis.opendocument"):
        return Inspection("ods")
    inspection = Inspection("xlsx", macros=any(basename(n).lower() == "vbaproject.bin" for n in parts))
    strings = next((data for name, data in parts.items() if basename(name).lower() == "sharedstrings.xml"), b"")
    head = strings[:4096]
    if any(int(n) > len(strings) // 4 + 1 for n in _SST_COUNTS.findall(head[:head.find(b">", head.find(b"sst")) + 1])):
        inspection.declared = "số chuỗi khai báo lớn hơn nội dung của tệp"
    for path, sheet in sheet_parts(parts).items():
        if sheets is not None and sheet not in sheets:
            continue
        scan = scan_sheet(parts.get(path, b""))
        for ref, note in scan.notes.items():
            inspection.cell_notes[(sheet, ref)] = note
        if scan.far:
            inspection.oversized[sheet] = scan.far
    return inspection


# C0 and C1 controls but tab and newline, line/paragraph separators, lone surrogates, non-characters, bidi
# overrides: nothing a value may carry into a database, a terminal, an e-mail header or a worksheet.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                      "\ud800-\udfff\ufffe\uffff]")


def clean_text(text: str, keep_newlines: bool = True) -> str:
    """Text with control characters removed (tab and, unless told, newline kept)."""
    cleaned = _CONTROL.sub("", text)
    return cleaned if keep_newlines else " ".join(cleaned.split())


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def without_diacritics(text: str) -> str:
    """Vietnamese without its marks ('Đông Hải' → 'Dong Hai'); other characters stay."""
    decomposed = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def safe_name(text: str, fallback: str = "tep", limit: int = 80) -> str:
    """A user-supplied name made safe for a path component: ASCII letters, digits, '.', '_' and '-' only;
    no leading dot, no '..', no separators or control characters ('Báo cáo/../x' → 'Bao-cao-x')."""
    ascii_text = without_diacritics(text).encode("ascii", "ignore").decode()
    cleaned = _SAFE.sub("-", ascii_text).strip(".-_")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)[:limit].strip(".-_")
    return cleaned or fallback
