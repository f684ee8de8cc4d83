"""What a received file really is, checked before any spreadsheet reader opens it.

Every file is untrusted. Before calamine sees it we know its container (xlsx/xlsm zip, legacy OLE .xls,
OpenDocument .ods, an encrypted OLE package, or something else), and a zip is decompressed once, in
bounded chunks, refusing it as soon as it inflates past a size or ratio cap (zip bombs) or carries a DTD
(XML entity bombs: no XML reader in the pipeline needs one). The same pass notes the worksheet cells that
hold an error value (#N/A, …) or a formula without a computed value, which readers would show as blank.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from posixpath import basename

from defusedxml import ElementTree

MAX_COMPRESSED = 20 * 1024 * 1024  # bytes of a received file
MAX_INFLATED = 50 * 1024 * 1024  # bytes once every zip entry is inflated
MAX_RATIO = 200  # inflated / compressed, over the whole file
INFLATES_TOO_MUCH = f"giải nén vượt quá {MAX_INFLATED // (1024 * 1024)} MB"
CHUNK = 1024 * 1024
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_CELL = re.compile(rb'<c r="([A-Z]{1,3}[0-9]+)"([^>]*?)(?:/>|>(.*?)</c>)', re.DOTALL)
_FORMULA = re.compile(rb"<f[^>]*>(.*?)</f>|<f[^>]*/>", re.DOTALL)
_VALUE = re.compile(rb"<v>(.*?)</v>", re.DOTALL)


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


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """An entry's bytes, reading at most `budget` of them (never trusting the declared sizes)."""
    out = bytearray()
    with archive.open(info) as stream:
        while chunk := stream.read(CHUNK):
            out += chunk
            if len(out) > budget:
                raise UnsafeFile("unsafe", INFLATES_TOO_MUCH)
    return bytes(out)


def _sheet_parts(archive: zipfile.ZipFile, parts: dict[str, bytes]) -> dict[str, str]:
    """worksheet part path → sheet name, from workbook.xml and its relationships."""
    try:
        workbook = ElementTree.fromstring(parts["xl/workbook.xml"])
        rels = ElementTree.fromstring(parts["xl/_rels/workbook.xml.rels"])
    except (KeyError, ElementTree.ParseError):
        return {}
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    out = {}
    for sheet in workbook.iter(f"{NS_MAIN}sheet"):
        target = targets.get(sheet.get(f"{NS_REL}id"), "")
        path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        out[path] = sheet.get("name", "")
    return out


def _cell_notes(xml: bytes) -> dict[str, str]:
    notes = {}
    for match in _CELL.finditer(xml):
        ref, attributes, body = match.group(1).decode(), match.group(2), match.group(3) or b""
        value = _VALUE.search(body)
        computed = bool(value and value.group(1).strip())
        if b't="e"' in attributes:
            notes[ref] = value.group(1).decode("utf-8", "replace") if computed else "#ERROR"
        elif b"<f" in body and not computed:  # a formula Excel never computed (e.g. written by a script)
            formula = _FORMULA.search(body)
            text = formula.group(1).decode("utf-8", "replace") if formula and formula.group(1) else ""
            notes[ref] = f"={text}" if text else "=(công thức)"
    return notes


def inspect(content: bytes) -> Inspection:
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
    for path, sheet in _sheet_parts(archive, parts).items():
        for ref, note in _cell_notes(parts.get(path, b"")).items():
            inspection.cell_notes[(sheet, ref)] = note
    return inspection


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, fallback: str = "tep", limit: int = 80) -> str:
    """A user-supplied name made safe for a path component: ASCII letters, digits, '.', '_' and '-' only;
    no leading dot, no '..', no separators or control characters ('Báo cáo/../x' → 'Bao-cao-x')."""
    ascii_text = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    ascii_text = ascii_text.encode("ascii", "ignore").decode()
    cleaned = _SAFE.sub("-", ascii_text).strip(".-_")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)[:limit].strip(".-_")
    return cleaned or fallback
