"""Mutations of valid workbooks at the XML and zip level, and the Hypothesis strategies that draw them.

A mutated file starts as a clean workbook of its commune (tests.hostile.Factory) and goes through a few
edits of its raw zip parts — a cell's type, value, style or reference; the sheet's <dimension>; its rows,
columns and merges; the shared strings; a whole part — then, maybe, one edit of the zip itself (truncated,
bytes flipped, entries dropped or doubled …). Every edit has a short repr, so a failing example reads as a
list of what was done to which file.

Some edits change nothing a reader should see (strings moved to sharedStrings.xml as Excel writes them,
entries stored uncompressed or reordered, valid row spans): a file with only such edits must be accepted
with the figures of its clean original. Any other edit may end either way, but must end recorded.
"""

from __future__ import annotations

import io
import random
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from tonghop.spec import load_spec

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SST_PART = "xl/sharedStrings.xml"
SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
MAX_ROW, MAX_COLUMN = 1048576, "XFD"

Parts = dict[str, bytes]  # zip entry name → bytes, in the archive's order


# ---------------------------------------------------------------------------------------------- zip parts

def unzip(content: bytes) -> Parts:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rezip(parts: Parts | list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    items = parts.items() if isinstance(parts, dict) else parts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": wanted, by DuplicateEntry
        with zipfile.ZipFile(out, "w", compression) as archive:
            for name, data in items:
                archive.writestr(name, data)
    return out.getvalue()


_SHEET_PARTS: dict[str, str] = {}


def sheet_parts(parts: Parts) -> dict[str, str]:
    """sheet name → worksheet part, from workbook.xml and its relationships: read from the first (clean)
    workbook seen, since all bases share them and later calls may see a workbook without them."""
    if not _SHEET_PARTS:
        rels = dict(re.findall(rb'Target="/?(?:xl/)?([^"]+)" Id="([^"]+)"', parts["xl/_rels/workbook.xml.rels"]))
        targets = {rid.decode(): f"xl/{target.decode()}" for target, rid in rels.items()}
        for name, rid in re.findall(rb'<sheet [^>]*?name="([^"]*)"[^>]*?r:id="([^"]+)"', parts["xl/workbook.xml"]):
            _SHEET_PARTS[_unescape(name.decode())] = targets[rid.decode()]
    return _SHEET_PARTS


def _sheet(parts: Parts, sheet: str) -> str | None:
    """The part of a sheet, if the workbook (maybe already edited) still has it."""
    part = sheet_parts(parts).get(sheet)
    return part if part in parts else None


def _unescape(text: str) -> str:
    text = re.sub(r"&#(\d+);", lambda m: chr(int(m.group(1))), text)
    text = re.sub(r"&#x([0-9a-fA-F]+);", lambda m: chr(int(m.group(1), 16)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")


# ------------------------------------------------------------------------------------------------- values

@dataclass(frozen=True)
class LongText:
    """A long string of Vietnamese-looking text (random, so it does not compress like a bomb)."""

    length: int
    seed: int = 0

    def __str__(self) -> str:
        rng = random.Random(self.seed)
        alphabet = "aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạ0123456789 "
        return "".join(rng.choices(alphabet, k=self.length))

    def __repr__(self) -> str:
        return f"LongText({self.length})"


NUMBER_TEXT = [
    "1E400", "-1E400", "1e308", "1.7976931348623157E+308", "4.9E-324", "1E-400", "Infinity", "-Infinity",
    "inf", "-inf", "INF", "NaN", "nan", "-NaN", "sNaN", "0", "-0", "-1", "-5", "-0.0", "0.5", "1.5", "12",
    "12.0", "1e3", "99999999999999999999", "9" * 40, "1" * 400, "-9223372036854775809", "18446744073709551616",
    "0x1F", "1_000", "12,5", "1.234.567", "1 234", "1\u00a0234", "\uff11\uff12", "\u0661\u0662", "12abc", "+12",
    "--1", ".5", "5.", "1e", "e5", "", " ", "TRUE", "true", "2", "-", "không có", "N/A", "45000", "2958466",
    "2026-05-01T00:00:00", "9999-12-31", "0000-00-00",
]
ERROR_VALUES = [
    "#N/A", "#SPILL!", "#CALC!", "#BLOCKED!", "#FIELD!", "#BUSY!", "#CONNECT!", "#UNKNOWN!", "#NULL!",
    "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#GETTING_DATA", "#EXTERNAL!", "#PYTHON!", "#ERROR", "#",
]
CONTROL_TEXT = [
    "\x00", "1\x002", "\x01\x02\x03", "\x1b[31m12", "\x7f", "\x85", "\u2028", "\u202e21", "\ufeff12", "\ud800",
    "\uffff", "\ufffe", "12\r\n", "\x0b", "\x00" * 64,
]
LONG_TEXT = [LongText(501), LongText(32_768), LongText(1_000_000), LongText(4_000_000)]

values = st.one_of(
    st.sampled_from(NUMBER_TEXT),
    st.sampled_from(ERROR_VALUES),
    st.sampled_from(CONTROL_TEXT),
    st.sampled_from(LONG_TEXT),
    st.integers(min_value=-(2 ** 80), max_value=2 ** 80).map(str),
    st.floats().map(repr),
    st.text(max_size=24),
)


def xml_text(value: Any, encoding: str) -> bytes:
    """The value as XML character data. `escape`: control characters as character references (still not
    XML 1.0); `raw`: as the bytes themselves (lone surrogates become invalid UTF-8)."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    if encoding == "escape":
        text = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]", lambda m: f"&#{ord(m.group())};", text)
    return text.encode("utf-8", "surrogatepass")


# -------------------------------------------------------------------------------------------------- edits

Cells = frozenset[tuple[str, str]]
ANYTHING = None  # an edit after which any cell may read differently


class Edit:
    """An edit of a workbook's zip parts. `preserving`: a reader must see the same workbook. `touches`: the
    (sheet, cell)s whose value a reader may now see differently (ANYTHING: no promise); every other cell
    must read as before."""

    preserving = False

    @property
    def touches(self) -> Cells | None:
        return ANYTHING

    def apply(self, parts: Parts) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def _cell_pattern(ref: str) -> re.Pattern[bytes]:
    return re.compile(rb'<c r="' + ref.encode() + rb'"(?=[\s/>])[^>]*?(?:/>|>.*?</c>)', re.DOTALL)


def _row_pattern(row: int) -> re.Pattern[bytes]:
    return re.compile(rb'<row r="' + str(row).encode() + rb'"(?=[\s/>])[^>]*?(?:/>|>.*?</row>)', re.DOTALL)


def _sub_once(pattern: re.Pattern[bytes], replace: Any, data: bytes) -> bytes:
    return pattern.sub(replace, data, count=1)


def _column_letters(number: int) -> bytes:
    letters = b""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = bytes([65 + rest]) + letters
    return letters


def _row_of(ref: str) -> int:
    return int(re.sub(r"[A-Z]+", "", ref))


def _insert_cell(xml: bytes, ref: str, cell: bytes) -> bytes:
    """Replace the cell `ref`, or add it at the end of its row, or add its row at the end of sheetData."""
    pattern = _cell_pattern(ref)
    if pattern.search(xml):
        return _sub_once(pattern, lambda m: cell, xml)
    row = _row_pattern(_row_of(ref))
    found = row.search(xml)
    if found:
        body = found.group()
        if body.endswith(b"/>"):
            new = body[:-2] + b">" + cell + b"</row>"
        else:
            new = body[: -len(b"</row>")] + cell + b"</row>"
        return xml[: found.start()] + new + xml[found.end():]
    return xml.replace(b"</sheetData>", b'<row r="' + str(_row_of(ref)).encode() + b'">' + cell + b"</row></sheetData>",
                       1)


def attributes(pairs: list[tuple[str, str]], quoting: str = "dq") -> bytes:
    """XML attributes, written as parsers must accept them: double or single quotes, spaces around '=',
    newlines between attributes, or with r= last."""
    if quoting == "r_last":
        pairs = [p for p in pairs if p[0] != "r"] + [p for p in pairs if p[0] == "r"]
    quote = "'" if quoting == "sq" else '"'
    equals = " = " if quoting == "spaced" else "="
    gap = "\n\t" if quoting == "newline" else " "
    return "".join(f"{gap}{name}{equals}{quote}{value}{quote}" for name, value in pairs).encode()


@dataclass(frozen=True)
class CellEdit(Edit):
    """One cell rewritten: its type, value (in <v>, <is>, both, CDATA …), style, reference and how its
    attributes are written."""

    sheet: str
    ref: str
    t: str | None  # the t= attribute (None: none, i.e. a number)
    value: Any
    shape: str = "v"  # see BODIES
    style: str | None = None  # None: keep the original s=, "-": no s=, else this s=
    new_ref: str | None = None  # None: keep r=, "-": drop it, else this r=
    encoding: str = "escape"
    quoting: str = "dq"

    @property
    def touches(self) -> Cells | None:
        if self.new_ref is None:
            return frozenset({(self.sheet, self.ref)})
        if re.fullmatch(r"[A-Z]{1,3}[1-9][0-9]*", self.new_ref):
            return frozenset({(self.sheet, self.ref), (self.sheet, self.new_ref)})
        return ANYTHING  # no or a broken reference: readers place it where they will

    def __repr__(self) -> str:
        extra = "".join(f" {k}={v!r}" for k, v in (("shape", self.shape), ("s", self.style), ("r", self.new_ref),
                                                   ("enc", self.encoding), ("q", self.quoting))
                        if v not in (None, "v", "escape", "dq"))
        return f"cell({self.sheet}!{self.ref} t={self.t} {self.value!r}{extra})"

    def apply(self, parts: Parts) -> None:
        part = _sheet(parts, self.sheet)
        if part is None:
            return
        xml = parts[part]
        old = _cell_pattern(self.ref).search(xml)
        style = self.style
        if style is None and old:
            kept = re.search(rb'\ss="([^"]*)"', old.group()[: old.group().find(b">")])
            style = kept.group(1).decode() if kept else "-"
        ref = self.ref if self.new_ref is None else self.new_ref
        pairs = [("r", ref)] if ref != "-" else []
        if style not in (None, "-"):
            pairs.append(("s", style))
        if self.t is not None:
            pairs.append(("t", self.t))
        text = xml_text(self.value, self.encoding)
        body = BODIES[self.shape](text)
        cell = b"<c" + attributes(pairs, self.quoting) + (b"/>" if body is None else b">" + body + b"</c>")
        parts[part] = _insert_cell(xml, self.ref, cell)


def _half(text: bytes) -> int:
    """Where to cut XML text in two runs: near the middle, not inside a character or a reference."""
    i = len(text) // 2
    while i > 0 and (0x80 <= text[i - 1] or 0x80 <= text[i] < 0xC0 or text.rfind(b"&", 0, i) > text.rfind(b";", 0, i)):
        i -= 1
    return i


BODIES = {
    "v": lambda text: b"<v>" + text + b"</v>",
    "is": lambda text: b"<is><t>" + text + b"</t></is>",
    "both": lambda text: b"<v>" + text + b"</v><is><t>" + text + b"</t></is>",
    "empty": lambda text: b"",
    "selfclosing": lambda text: None,
    "formula": lambda text: b"<f>SUM(A1:A2)</f><v>" + text + b"</v>",
    "formula_novalue": lambda text: b"<f>" + text + b"</f>",
    "is_rich": lambda text: b"<is><r><t>" + text[: _half(text)] + b"</t></r><r><t>" + text[_half(text):]
                            + b"</t></r></is>",
    "cdata": lambda text: b"<v><![CDATA[" + text.replace(b"]]>", b"") + b"]]></v>",
    "v_spaced": lambda text: b'<v xml:space="preserve">  ' + text + b"\n</v>",
    "comment": lambda text: b"<!-- <v>0</v> --><v>" + text + b"</v>",
    "v_twice": lambda text: b"<v>1</v><v>" + text + b"</v>",
}


@dataclass(frozen=True)
class DimensionEdit(Edit):
    sheet: str
    ref: str | None  # None: remove the element; "dup": a second one, far

    touches = frozenset()  # a reader may trust it for its buffers, never for which cells exist

    def __repr__(self) -> str:
        return f"dimension({self.sheet} {self.ref!r})"

    def apply(self, parts: Parts) -> None:
        part = _sheet(parts, self.sheet)
        if part is None:
            return
        xml = parts[part]
        pattern = re.compile(rb"<dimension\b[^>]*/>")
        if self.ref is None:
            new = b""
        elif self.ref == "dup":
            new = b'<dimension ref="A1:XFD1048576"/><dimension ref="A1"/>'
        else:
            new = b'<dimension ref="' + xml_text(self.ref, "escape") + b'"/>'
        parts[part] = pattern.sub(lambda m: new, xml, count=1) if pattern.search(xml) else xml.replace(
            b"<sheetViews>", new + b"<sheetViews>", 1)


@dataclass(frozen=True)
class RowEdit(Edit):
    """Rows: far cells, many rows, spans, r= of rows, row attributes, columns, merges."""

    sheet: str
    kind: str
    param: Any = None

    @property
    def preserving(self) -> bool:  # type: ignore[override]
        return self.kind == "spans" and self.param == "valid"

    @property
    def touches(self) -> Cells | None:
        # Spans, row heights, columns and rows after the template's keep its cells; far cells are far.
        return frozenset() if self.kind in ("spans", "row_attrs", "cols", "far_cell", "many_rows") else ANYTHING

    def __repr__(self) -> str:
        return f"rows({self.sheet} {self.kind} {self.param!r})"

    def apply(self, parts: Parts) -> None:
        part = _sheet(parts, self.sheet)
        if part is not None:
            parts[part] = getattr(self, f"_{self.kind}")(parts[part])

    def _far_cell(self, xml: bytes) -> bytes:  # param: (ref, with a value, quoting)
        ref, filled, quoting = self.param
        row = re.sub(r"[A-Z]+", "", ref) or "1"
        cell = (b"<c" + attributes([("r", ref), *([("t", "n")] if filled else [("s", "1")])], quoting)
                + (b"><v>1</v></c>" if filled else b"/>"))
        return xml.replace(b"</sheetData>", b"<row" + attributes([("r", row)], quoting) + b">" + cell
                           + b"</row></sheetData>", 1)

    def _many_rows(self, xml: bytes) -> bytes:  # param: (count, what each row holds)
        count, content = self.param
        last = max((int(r) for r in re.findall(rb'<row r="(\d+)"', xml)), default=0)
        rows = []
        for k in range(last + 1, last + 1 + count):
            body = {"none": b"", "styled": b'<c r="A%d" s="1"/>' % k, "value": b'<c r="A%d"><v>0</v></c>' % k,
                    "no_ref": b"<c><v>0</v></c>"}[content]
            rows.append(b'<row r="%d" spans="1:16384">' % k + body + b"</row>")
        return xml.replace(b"</sheetData>", b"".join(rows) + b"</sheetData>", 1)

    def _dense(self, xml: bytes) -> bytes:  # param: (rows, columns): a block of numbers from row 1, column F on
        rows, columns = self.param
        rng = random.Random(rows * 100_003 + columns)
        letters = [_column_letters(6 + k) for k in range(columns)]
        block = b"".join(
            b'<row r="%d">' % r
            + b"".join(b'<c r="%s%d"><v>%d</v></c>' % (c, r, rng.randrange(10 ** 6)) for c in letters) + b"</row>"
            for r in range(1, rows + 1))
        start, end = xml.find(b"<sheetData>"), xml.find(b"</sheetData>")
        if start < 0 or end < 0:
            return xml
        # The template's own rows stay (after the block's: a reader sees rows out of order and repeated).
        return xml[: start + len(b"<sheetData>")] + block + xml[start + len(b"<sheetData>"):]

    def _spans(self, xml: bytes) -> bytes:  # param: "valid" or a garbage value
        spans = b"1:16384" if self.param == "valid" else xml_text(self.param, "escape")
        return re.sub(rb"<row r=\"(\d+)\"", lambda m: m.group() + b' spans="' + spans + b'"', xml)

    def _row_ref(self, xml: bytes) -> bytes:  # param: (template row, new r or "-" to drop)
        row, new = self.param
        replace = b"<row" if new == "-" else b'<row r="' + xml_text(new, "escape") + b'"'
        return re.sub(rb'<row r="' + str(row).encode() + rb'"(?=[\s>/])', lambda m: replace, xml, count=1)

    def _drop_refs(self, xml: bytes) -> bytes:  # param: "rows", "cells" or "all"
        if self.param in ("rows", "all"):
            xml = re.sub(rb'(<row) r="\d+"', rb"\1", xml)
        if self.param in ("cells", "all"):
            xml = re.sub(rb'(<c) r="[A-Z]+\d+"', rb"\1", xml)
        return xml

    def _reverse_rows(self, xml: bytes) -> bytes:
        start, end = xml.find(b"<sheetData>"), xml.find(b"</sheetData>")
        if start < 0 or end < 0:
            return xml
        rows = re.findall(rb"<row\b.*?</row>|<row\b[^>]*/>", xml[start + len(b"<sheetData>"):end], re.DOTALL)
        return xml[: start + len(b"<sheetData>")] + b"".join(reversed(rows)) + xml[end:]

    def _row_attrs(self, xml: bytes) -> bytes:  # param: attribute text added to every row
        extra = b" " + self.param.encode()
        return re.sub(rb"<row r=\"\d+\"", lambda m: m.group() + extra, xml)

    def _cols(self, xml: bytes) -> bytes:  # param: attribute text of one <col> replacing the columns
        cols = b"<cols><col " + self.param.encode() + b"/></cols>"
        if re.search(rb"<cols>.*?</cols>", xml, re.DOTALL):
            return re.sub(rb"<cols>.*?</cols>", lambda m: cols, xml, count=1, flags=re.DOTALL)
        return xml.replace(b"<sheetData", cols + b"<sheetData", 1)

    def _merge(self, xml: bytes) -> bytes:  # param: a range
        merge = b'<mergeCell ref="' + xml_text(self.param, "escape") + b'"/>'
        if b"</mergeCells>" in xml:
            return xml.replace(b"</mergeCells>", merge + b"</mergeCells>", 1)
        after = re.search(rb"<sheetProtection\b[^>]*/>|</sheetData>", xml)
        where = after.end() if after else len(xml)
        return xml[:where] + b'<mergeCells count="1">' + merge + b"</mergeCells>" + xml[where:]


# Shared strings: Excel keeps a workbook's text in xl/sharedStrings.xml (cells t="s" hold indexes), openpyxl
# writes inline strings. `to_shared_strings` rewrites a workbook the way Excel stores it.

_INLINE = re.compile(rb'<c ([^>]*?)t="inlineStr"([^>]*)><is><t(?: [^>]*)?>(.*?)</t></is></c>', re.DOTALL)


def to_shared_strings(parts: Parts) -> None:
    if SST_PART in parts:
        return
    strings: dict[bytes, int] = {}
    count = 0
    for part in sheet_parts(parts).values():
        if part not in parts:
            continue

        def swap(m: re.Match[bytes]) -> bytes:
            nonlocal count
            count += 1
            index = strings.setdefault(m.group(3), len(strings))
            return b"<c " + m.group(1) + b't="s"' + m.group(2) + b"><v>%d</v></c>" % index
        parts[part] = _INLINE.sub(swap, parts[part])
    items = b"".join(b'<si><t xml:space="preserve">' + text + b"</t></si>" for text in strings)
    parts[SST_PART] = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="' + MAIN_NS.encode()
                       + b'" count="%d" uniqueCount="%d">' % (count, len(strings)) + items + b"</sst>")
    if "[Content_Types].xml" in parts:
        parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
            b"</Types>",
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="' + SST_TYPE.encode() + b'"/></Types>')
    if "xl/_rels/workbook.xml.rels" in parts:
        parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
            b"</Relationships>",
            b'<Relationship Type="' + SST_REL.encode() + b'" Target="sharedStrings.xml" Id="rIdSst"/></Relationships>')


_SI = re.compile(rb"<si>.*?</si>", re.DOTALL)


@dataclass(frozen=True)
class SharedStringsEdit(Edit):
    """The workbook with shared strings (as Excel saves it), then maybe one thing wrong with them."""

    kind: str  # convert, bad_index, point, entry, counts, many, rich, drop_part
    sheet: str = ""
    ref: str = ""
    param: Any = None
    encoding: str = "escape"

    @property
    def preserving(self) -> bool:  # type: ignore[override]
        return self.kind == "convert"

    @property
    def touches(self) -> Cells | None:
        if self.kind in ("bad_index", "point", "rich"):
            return frozenset({(self.sheet, self.ref)})
        return frozenset() if self.kind in ("convert", "counts", "many") else ANYTHING

    def __repr__(self) -> str:
        where = f" {self.sheet}!{self.ref}" if self.ref else ""
        return f"sst({self.kind}{where} {self.param!r})" if self.param is not None else f"sst({self.kind}{where})"

    def apply(self, parts: Parts) -> None:
        to_shared_strings(parts)
        getattr(self, f"_{self.kind}", lambda p: None)(parts)

    def _add_string(self, parts: Parts, text: bytes) -> int:
        sst = parts.get(SST_PART, b"")
        index = len(_SI.findall(sst))
        parts[SST_PART] = sst.replace(b"</sst>", b'<si><t xml:space="preserve">' + text + b"</t></si></sst>", 1)
        return index

    def _set_cell(self, parts: Parts, body: bytes) -> None:
        part = _sheet(parts, self.sheet)
        if part is None:
            return
        xml = parts[part]
        old = _cell_pattern(self.ref).search(xml)
        style = re.search(rb'\ss="([^"]*)"', old.group()[: old.group().find(b">")]) if old else None
        cell = (b'<c r="' + self.ref.encode() + b'"' + (b' s="' + style.group(1) + b'"' if style else b"")
                + b' t="s">' + body + b"</c>")
        parts[part] = _insert_cell(xml, self.ref, cell)

    def _bad_index(self, parts: Parts) -> None:  # param: the index text
        self._set_cell(parts, b"<v>" + xml_text(self.param, "escape") + b"</v>")

    def _point(self, parts: Parts) -> None:  # param: a new string the cell now refers to
        index = self._add_string(parts, xml_text(self.param, self.encoding))
        self._set_cell(parts, b"<v>%d</v>" % index)

    def _entry(self, parts: Parts) -> None:  # param: (entry number, new text): every cell using it changes
        number, text = self.param
        entries = _SI.findall(parts[SST_PART])
        if not entries:
            return
        target = entries[number % len(entries)]
        new = b'<si><t xml:space="preserve">' + xml_text(text, self.encoding) + b"</t></si>"
        parts[SST_PART] = parts[SST_PART].replace(target, new, 1)

    def _counts(self, parts: Parts) -> None:  # param: (count, uniqueCount) attribute texts
        count, unique = self.param
        parts[SST_PART] = re.sub(rb'count="\d+" uniqueCount="\d+"',
                                 b'count="' + count.encode() + b'" uniqueCount="' + unique.encode() + b'"',
                                 parts[SST_PART], count=1)

    def _many(self, parts: Parts) -> None:  # param: how many empty entries are added
        parts[SST_PART] = parts[SST_PART].replace(b"</sst>", b"<si><t/></si>" * self.param + b"</sst>", 1)

    def _rich(self, parts: Parts) -> None:  # param: the runs' texts; the cell refers to the rich string
        runs = b"".join(b"<r><rPr><b/></rPr><t>" + xml_text(t, "escape") + b"</t></r>" for t in self.param)
        sst = parts[SST_PART]
        index = len(_SI.findall(sst))
        parts[SST_PART] = sst.replace(b"</sst>", b"<si>" + runs + b"</si></sst>", 1)
        self._set_cell(parts, b"<v>%d</v>" % index)

    def _drop_part(self, parts: Parts) -> None:
        del parts[SST_PART]


@dataclass(frozen=True)
class PartEdit(Edit):
    """A whole part: truncated, emptied, dropped, replaced by garbage, re-encoded, given a DTD or a BOM."""

    part: str  # an entry name, or "sheet:<name>"
    kind: str  # truncate, empty, drop, garbage, invalid_utf8, utf16, bom, doctype, prefix
    fraction: float = 0.5
    seed: int = 0

    @property
    def touches(self) -> Cells | None:
        return frozenset() if self.kind in ("bom", "utf16", "prefix") else ANYTHING  # the same XML, encoded anew

    @property
    def late(self) -> bool:
        """Applied after the file's other edits (it rewrites every element name they may look for)."""
        return self.kind == "prefix"

    def __repr__(self) -> str:
        extra = f" {self.fraction:.2f}" if self.kind in ("truncate", "invalid_utf8") else ""
        return f"part({self.part} {self.kind}{extra})"

    def apply(self, parts: Parts) -> None:
        name = _sheet(parts, self.part[6:]) if self.part.startswith("sheet:") else self.part
        if name is None or name not in parts:
            return
        data = parts[name]
        cut = int(len(data) * self.fraction)
        if self.kind == "drop":
            del parts[name]
            return
        parts[name] = {
            "truncate": lambda: data[:cut],
            "empty": lambda: b"",
            "garbage": lambda: random.Random(self.seed).randbytes(max(16, len(data) // 4)),
            "invalid_utf8": lambda: data[:cut] + b"\xff\xfe\xc0\x80" + data[cut:],
            "utf16": lambda: ('<?xml version="1.0" encoding="UTF-16"?>' + re.sub(
                rb"^<\?xml[^>]*\?>", b"", data).decode("utf-8", "replace")).encode("utf-16"),
            "bom": lambda: b"\xef\xbb\xbf" + data,
            "doctype": lambda: b'<!DOCTYPE x [<!ENTITY a "b">]>' + re.sub(rb"^<\?xml[^>]*\?>", b"", data),
            "prefix": lambda: _prefixed(data),
        }[self.kind]()


def _prefixed(xml: bytes) -> bytes:
    """The same XML with its elements in a prefixed namespace (<x:c r="A1">), as some libraries write it."""
    default = re.search(rb'xmlns="([^"]+)"', xml)
    if default is None:
        return xml
    xml = re.sub(rb"<(/?)([A-Za-z][\w.-]*)(?=[\s/>])", rb"<\1x:\2", xml)
    return re.sub(rb'xmlns="([^"]+)"', lambda m: m.group() + b' xmlns:x="' + m.group(1) + b'"', xml, count=1)


@dataclass(frozen=True)
class WorkbookEdit(Edit):
    """The workbook part: which sheets there are, their names, states and the parts they point to."""

    kind: str  # swap_targets, same_target, hidden, very_hidden, duplicate_name, missing_rid, dangling, names
    sheet: str = "B. Hộ nghèo"
    other: str = "C. Thiếu hụt"

    @property
    def touches(self) -> Cells | None:
        return frozenset() if self.kind in ("hidden", "very_hidden", "names") else ANYTHING

    def __repr__(self) -> str:
        return f"workbook({self.kind} {self.sheet}" + (f", {self.other})" if self.kind in (
            "swap_targets", "same_target", "duplicate_name") else ")")

    def apply(self, parts: Parts) -> None:
        if "xl/workbook.xml" not in parts or "xl/_rels/workbook.xml.rels" not in parts:
            return
        book, rels = parts["xl/workbook.xml"], parts["xl/_rels/workbook.xml.rels"]
        ids = dict(re.findall(rb'<sheet [^>]*?name="([^"]*)"[^>]*?r:id="([^"]+)"', book))
        first, second = ids.get(self.sheet.encode()), ids.get(self.other.encode())
        targets = {rid: t for t, rid in re.findall(rb'Target="([^"]+)" Id="([^"]+)"', rels)}

        def retarget(new: dict[bytes, bytes]) -> bytes:
            return re.sub(rb'Target="([^"]+)" Id="([^"]+)"',
                          lambda m: b'Target="' + new.get(m.group(2), m.group(1)) + b'" Id="' + m.group(2) + b'"', rels)

        if first not in targets or second not in targets:  # the sheet is gone (an earlier edit)
            return
        if self.kind == "swap_targets":
            rels = retarget({first: targets[second], second: targets[first]})
        elif self.kind == "same_target":
            rels = retarget({second: targets[first]})
        elif self.kind in ("hidden", "very_hidden"):
            state = b"hidden" if self.kind == "hidden" else b"veryHidden"
            book = re.sub(rb'(<sheet [^>]*?)state="visible"([^>]*?r:id="' + re.escape(first) + b'")',
                          rb'\1state="' + state + rb'"\2', book)
        elif self.kind == "duplicate_name":
            name_of = {rid: name for name, rid in ids.items()}
            book = book.replace(b'name="' + name_of[second] + b'"', b'name="' + name_of[first] + b'"', 1)
        elif self.kind == "missing_rid":
            book = book.replace(b'r:id="' + first + b'"', b"", 1)
        elif self.kind == "dangling":  # the sheet's part is named but absent
            rels = retarget({first: b"/xl/worksheets/nowhere.xml"})
        elif self.kind == "names":
            book = re.sub(rb"<definedNames>.*?</definedNames>",
                          b'<definedNames><definedName name="_xlnm.Print_Area" localSheetId="999">'
                          b"'X'!$A$1:$XFD$1048576</definedName><definedName name=\"\"></definedName></definedNames>",
                          book, flags=re.DOTALL)
        parts["xl/workbook.xml"], parts["xl/_rels/workbook.xml.rels"] = book, rels


@dataclass(frozen=True)
class StyleEdit(Edit):
    """A cell given a style of its own: a date format on a count, a number format nobody knows, a
    format code of a few kilobytes, a style pointing at fonts and fills that do not exist."""

    sheet: str
    ref: str
    kind: str  # date, time, text, unknown_id, long_code, garbage_code, dangling

    @property
    def touches(self) -> Cells | None:
        return frozenset({(self.sheet, self.ref)})

    def __repr__(self) -> str:
        return f"style({self.sheet}!{self.ref} {self.kind})"

    def apply(self, parts: Parts) -> None:
        part = _sheet(parts, self.sheet)
        styles = parts.get("xl/styles.xml")
        if part is None or styles is None or b"</cellXfs>" not in styles:
            return
        count = len(re.findall(rb"<xf\b", styles.split(b"<cellXfs", 1)[1].split(b"</cellXfs>", 1)[0]))
        number_format, code = {
            "date": (14, None), "time": (21, None), "text": (49, None), "unknown_id": (9999, None),
            "long_code": (200, "#,##0" + ";" * 3 + '"' + "x" * 4000 + '"'), "garbage_code": (201, '[$-F800]""\\[[['),
            "dangling": (0, None),
        }[self.kind]
        if code is not None:
            entry = b'<numFmt numFmtId="%d" formatCode="' % number_format + xml_text(code, "escape") + b'"/>'
            styles = (styles.replace(b"</numFmts>", entry + b"</numFmts>", 1) if b"</numFmts>" in styles
                      else styles.replace(b"<fonts", b'<numFmts count="1">' + entry + b"</numFmts><fonts", 1))
        extra = b' fontId="999" fillId="999" borderId="999" xfId="999"' if self.kind == "dangling" else b""
        xf = b'<xf numFmtId="%d" applyNumberFormat="1"' % number_format + extra + b"/>"
        styles = styles.replace(b"</cellXfs>", xf + b"</cellXfs>", 1)
        parts["xl/styles.xml"] = styles
        xml = parts[part]
        found = _cell_pattern(self.ref).search(xml)
        if found is None:
            return
        cell = found.group()
        head = cell[: cell.find(b">")]
        if re.search(rb'\ss="', head):
            new_head = re.sub(rb'\ss="[^"]*"', b' s="%d"' % count, head)
        else:
            new_head = head.replace(b'r="' + self.ref.encode() + b'"', b'r="' + self.ref.encode() + b'" s="%d"' % count)
        parts[part] = xml[: found.start()] + new_head + cell[len(head):] + xml[found.end():]


@dataclass(frozen=True)
class ZipEdit:
    """The zip itself, after the XML edits."""

    kind: str  # truncate, flip, prepend, append, duplicate, rename, drop, stored, reorder, empty_zip, lie_size
    fraction: float = 0.5
    seed: int = 0
    entry: str = "xl/workbook.xml"

    @property
    def preserving(self) -> bool:
        return self.kind in ("stored", "reorder")

    @property
    def touches(self) -> Cells | None:
        return frozenset() if self.kind in ("stored", "reorder", "prepend", "append") else ANYTHING

    def __repr__(self) -> str:
        extra = {"truncate": f" {self.fraction:.2f}", "flip": f" {1 + int(self.fraction * 20)} byte(s)",
                 "duplicate": f" {self.entry}", "rename": f" {self.entry}", "drop": f" {self.entry}",
                 "lie_size": f" {self.entry}"}.get(self.kind, "")
        return f"zip({self.kind}{extra})"

    def apply(self, content: bytes) -> bytes:
        rng = random.Random(self.seed)
        if self.kind == "truncate":
            return content[: int(len(content) * self.fraction)]
        if self.kind == "flip":
            data = bytearray(content)
            for _ in range(1 + int(self.fraction * 20)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            return bytes(data)
        if self.kind == "prepend":
            return rng.randbytes(1 + int(self.fraction * 4096)) + content
        if self.kind == "append":
            return content + rng.randbytes(1 + int(self.fraction * 4096))
        if self.kind == "empty_zip":
            return rezip([])
        parts = unzip(content)
        entry = self.entry if self.entry in parts else next(iter(parts))
        if self.kind == "duplicate":
            return rezip([*parts.items(), (entry, b"<garbage/>")])
        if self.kind == "rename":
            return rezip([(entry.upper() if n == entry else n, d) for n, d in parts.items()])
        if self.kind == "drop":
            return rezip([(n, d) for n, d in parts.items() if n != entry])
        if self.kind == "stored":
            return rezip(parts, zipfile.ZIP_STORED)
        if self.kind == "reorder":
            return rezip(list(reversed(parts.items())))
        if self.kind == "lie_size":  # the central directory declares another uncompressed size for the entry
            data = bytearray(rezip(parts))
            name = entry.encode()
            at = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
            if at >= 0:
                size = 0xFFFFFFF0 if self.fraction >= 0.5 else 1
                data[at + 24:at + 28] = size.to_bytes(4, "little")
            return bytes(data)
        raise ValueError(self.kind)


# -------------------------------------------------------------------------------------------- strategies

_spec = load_spec()
SHEETS = list(_spec.sheet_names)
# Cells the edits aim at: the template's fields (inputs first: shrinking goes towards the first) and a few
# label cells whose text the layout check reads.
FIELD_CELLS = ([(f.sheet, f.cell) for f in _spec.fields if f.is_input and f.is_numeric]
               + [(f.sheet, f.cell) for f in _spec.fields if not (f.is_input and f.is_numeric)])
LABEL_CELLS = [("B. Hộ nghèo", "B5"), ("B. Hộ nghèo", "D4"), ("A. Thông tin chung", "B5"), ("D. Kinh phí", "A1")]
TEMPLATE_ROWS = sorted({(f.sheet, f.row) for f in _spec.fields})

targets = st.one_of(st.sampled_from(FIELD_CELLS), st.sampled_from(LABEL_CELLS))
cell_types = st.sampled_from([None, "n", "s", "e", "str", "inlineStr", "b", "d", "", "zz"])
shapes = st.sampled_from(list(BODIES))
styles = st.one_of(st.none(), st.sampled_from(["999999", "-1", "abc", "", "1E400", "4294967296", "-"]))
FAR_REFS = ["XFD1048576", "A1048576", "XFD1", "A0", "", "AAAA1", "A99999999", "1A", "d17", "XFE1", "-"]
refs = st.one_of(st.none(), st.sampled_from(FAR_REFS))
encodings = st.sampled_from(["escape", "raw"])
quotings = st.sampled_from(["dq", "sq", "spaced", "newline", "r_last"])


@st.composite
def cell_edits(draw: st.DrawFn) -> CellEdit:
    sheet, ref = draw(targets)
    return CellEdit(sheet, ref, draw(cell_types), draw(values), draw(shapes), draw(styles), draw(refs),
                    draw(encodings), draw(quotings))


DIMENSIONS = ["A1:XFD1048576", "A1", "", "ZZZ", "A1:A1048576", "XFD1:XFD1048576", "A1048576:XFD1048576",
              "B2:A1", "A1:XFE1048577", "A0:A0", "A1:C18 D1:E5"]
dimension_edits = st.builds(DimensionEdit, st.sampled_from(SHEETS),
                            st.one_of(st.sampled_from(DIMENSIONS), st.none(), st.just("dup")))

row_edits = st.one_of(
    st.builds(RowEdit, st.sampled_from(SHEETS), st.just("far_cell"),
              st.tuples(st.sampled_from(["XFD1048576", "A1048576", "XFD1", "ZZ9999"]), st.booleans(), quotings)),
    st.builds(RowEdit, st.sampled_from(SHEETS), st.just("many_rows"),
              st.tuples(st.sampled_from([1000, 20_000, 200_000]),
                        st.sampled_from(["none", "styled", "value", "no_ref"]))),
    st.builds(RowEdit, st.sampled_from(SHEETS), st.just("dense"),
              st.sampled_from([(1, 16379), (30, 16379), (120, 1000)])),
    st.builds(RowEdit, st.sampled_from(SHEETS), st.just("spans"),
              st.sampled_from(["valid", "0:0", "5:1", "abc", "1:99999999", "", "1:16384 1:2", "-1:-1"])),
    st.sampled_from(TEMPLATE_ROWS).flatmap(lambda sr: st.builds(
        RowEdit, st.just(sr[0]), st.just("row_ref"),
        st.tuples(st.just(sr[1]), st.sampled_from(["-", "0", "-1", "1048577", "1E400", "abc", "", "1", "5"])))),
    st.builds(RowEdit, st.sampled_from(SHEETS), st.just("drop_refs"), st.sampled_from(["rows", "cells", "all"])),
    st.builds(RowEdit, st.sampled_from(SHEETS), st.just("reverse_rows")),
    st.builds(RowEdit, st.sampled_from(SHEETS), st.just("row_attrs"),
              st.sampled_from(['ht="1E400" customHeight="1"', 'hidden="1"', 's="99999" customFormat="1"',
                               'outlineLevel="99"', 'ht="NaN" customHeight="1"', 'x14ac:dyDescent="0.25"'])),
    st.builds(RowEdit, st.sampled_from(SHEETS), st.just("cols"),
              st.sampled_from(['min="1" max="16384" width="9"', 'min="1" max="16384" width="NaN" style="99999"',
                               'min="0" max="-1" width="1E400"', 'min="5" max="1"', 'min="16385" max="99999"'])),
    st.builds(RowEdit, st.sampled_from(SHEETS), st.just("merge"),
              st.sampled_from(["A1:XFD1048576", "D5:D5", "D7:E7", "Z1:A1", "garbage", "A1:A1048576", ""])),
)

sst_edits = st.one_of(
    st.builds(SharedStringsEdit, st.just("convert")),
    st.tuples(st.sampled_from(FIELD_CELLS), st.sampled_from(
        ["-1", "999999", "1E400", "abc", "", "1.5", "18446744073709551616", "0", "NaN"])).map(
        lambda t: SharedStringsEdit("bad_index", t[0][0], t[0][1], t[1])),
    st.tuples(st.sampled_from(FIELD_CELLS), values, encodings).map(
        lambda t: SharedStringsEdit("point", t[0][0], t[0][1], t[1], t[2])),
    st.tuples(st.integers(0, 400), values, encodings).map(
        lambda t: SharedStringsEdit("entry", param=(t[0], t[1]), encoding=t[2])),
    st.sampled_from([("4294967295", "4294967295"), ("0", "0"), ("1", "99999999999"), ("-1", "-1")]).map(
        lambda c: SharedStringsEdit("counts", param=c)),
    st.sampled_from([1000, 100_000, 1_000_000]).map(lambda n: SharedStringsEdit("many", param=n)),
    st.tuples(st.sampled_from(FIELD_CELLS), st.sampled_from([("1", "2"), ("1", "E400"), ("Na", "N"), ("", "")])).map(
        lambda t: SharedStringsEdit("rich", t[0][0], t[0][1], t[1])),
    st.just(SharedStringsEdit("drop_part")),
)

PART_NAMES = ["xl/workbook.xml", "xl/styles.xml", "[Content_Types].xml", "xl/_rels/workbook.xml.rels", "_rels/.rels",
              "docProps/core.xml", "docProps/custom.xml", SST_PART, *[f"sheet:{s}" for s in SHEETS]]
part_edits = st.builds(PartEdit, st.sampled_from(PART_NAMES),
                       st.sampled_from(["truncate", "empty", "drop", "garbage", "invalid_utf8", "utf16", "bom",
                                        "doctype", "prefix"]),
                       st.floats(0.0, 1.0), st.integers(0, 2 ** 16))

workbook_edits = st.builds(WorkbookEdit, st.sampled_from(["swap_targets", "same_target", "hidden", "very_hidden",
                                                         "duplicate_name", "missing_rid", "dangling", "names"]),
                           st.sampled_from(SHEETS), st.sampled_from(SHEETS))
style_edits = st.tuples(
    st.sampled_from(FIELD_CELLS),
    st.sampled_from(["date", "time", "text", "unknown_id", "long_code", "garbage_code", "dangling"])).map(
    lambda t: StyleEdit(t[0][0], t[0][1], t[1]))

xml_edits = st.one_of(cell_edits(), cell_edits(), dimension_edits, row_edits, sst_edits, part_edits, workbook_edits,
                      style_edits)
zip_edits = st.builds(ZipEdit, st.sampled_from(["truncate", "flip", "prepend", "append", "duplicate", "rename",
                                                "drop", "stored", "reorder", "empty_zip", "lie_size"]),
                      st.floats(0.0, 1.0), st.integers(0, 2 ** 16),
                      st.sampled_from(["xl/workbook.xml", "[Content_Types].xml", "xl/styles.xml",
                                       "xl/worksheets/sheet3.xml", "xl/_rels/workbook.xml.rels"]))


@dataclass(frozen=True)
class Built:
    content: bytes
    preserving: bool  # every edit that changed something keeps the workbook: it must be accepted as it was
    touched: Cells | None  # cells that may read differently (None: any); an accepted file's others must not


@dataclass(frozen=True)
class MutatedFile:
    edits: tuple[Edit, ...]
    zip_edit: ZipEdit | None
    resent_copy: bool = False  # a byte-identical copy arrives later: it must end `duplicate`
    corrected: bool = False  # a clean file of the commune arrives later: it must win

    def __repr__(self) -> str:
        text = " + ".join(map(repr, [*self.edits, *([self.zip_edit] if self.zip_edit else [])])) or "nothing"
        return text + (" [resent copy]" if self.resent_copy else "") + (" [corrected later]" if self.corrected else "")

    def build(self, base: bytes) -> Built:
        parts = unzip(base)
        preserving, touched = True, set()
        for edit in sorted(self.edits, key=lambda e: getattr(e, "late", False)):
            before = dict(parts)
            edit.apply(parts)
            if parts == before:
                continue
            preserving = preserving and edit.preserving
            touched = None if touched is None or edit.touches is None else touched | edit.touches
        content = rezip(parts)
        if self.zip_edit is not None:
            after = self.zip_edit.apply(content)
            if after != content:
                preserving = preserving and self.zip_edit.preserving
                touched = None if touched is None or self.zip_edit.touches is None else touched | self.zip_edit.touches
            content = after
        return Built(content, preserving, None if touched is None else frozenset(touched))


mutated_files = st.builds(
    MutatedFile,
    st.lists(xml_edits, min_size=0, max_size=3).map(tuple),
    st.one_of(st.none(), st.none(), zip_edits),
    st.booleans(),
    st.booleans(),
).filter(lambda m: m.edits or m.zip_edit)


@dataclass(frozen=True)
class Batch:
    """One run's inbox: clean files and mutated files, each in its own commune folder of the district."""

    communes: tuple[int, ...]  # indexes into the district's communes: the clean ones first
    clean: int
    mutated: tuple[MutatedFile, ...] = field(default=())

    def __repr__(self) -> str:
        files = "".join(f"\n  commune #{i}: {m!r}" for i, m in zip(self.communes[self.clean:], self.mutated,
                                                                     strict=True))
        return f"Batch(clean communes #{', #'.join(map(str, self.communes[: self.clean]))};{files})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how Hypothesis prints a falsifying example
        printer.text(repr(self))


@st.composite
def batches(draw: st.DrawFn, communes: int, clean: int = 2, max_mutated: int = 4) -> Batch:
    mutated = tuple(draw(st.lists(mutated_files, min_size=2, max_size=max_mutated)))
    order = draw(st.permutations(range(communes)))
    return Batch(tuple(order[: clean + len(mutated)]), clean, mutated)
