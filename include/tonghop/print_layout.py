"""What makes our workbooks print as official forms, in Excel and in LibreOffice alike: row heights that fit
wrapped text (neither program grows the rows of a file written by a program, so long labels printed over the
next line), the national heading at the top of a sheet's first page, and the signature block.

Text widths are estimated, not measured: Vietnamese in Times New Roman averages about one character per unit of
Excel column width at 12 points, less in bold. The estimate leans wide (a row a little taller than needed
prints; a row too short prints text over its neighbour), and the print test (tests/test_paper.py) checks the
result on LibreOffice's own rendering.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Sequence

from openpyxl.cell.cell import MergedCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils.cell import get_column_letter, range_boundaries
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

NATIONAL_HEADING = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")
DEFAULT_WIDTH = 8.43  # Excel's column width when none is set
CHARACTERS_PER_WIDTH = 0.95  # at 12 points; bold takes ~10 % more room
LINE_SPACING = 1.3  # a line's height as a multiple of the font size, in points
PADDING = 3.0  # points above and below the text in a cell


def column_width(ws: Worksheet, column: int) -> float:
    dimension = ws.column_dimensions.get(get_column_letter(column))
    return dimension.width if dimension is not None and dimension.width else DEFAULT_WIDTH


def wrapped_lines(text: str, width: float, points: float = 12, bold: bool = False) -> int:
    """Lines `text` takes in a cell `width` wide (word wrap, explicit line breaks kept)."""
    per_line = max(1, math.floor(width * CHARACTERS_PER_WIDTH * 12 / points / (1.1 if bold else 1.0)))
    lines = 0
    for paragraph in str(text).split("\n"):
        used, count = 0, 1
        for word in paragraph.split():
            if used and used + 1 + len(word) > per_line:
                count, used = count + 1, 0
            while len(word) > per_line:  # a word longer than the cell breaks anywhere
                count, word = count + 1, word[per_line:]
            used += (1 if used else 0) + len(word)
        lines += count
    return lines


def fit_row_heights(ws: Worksheet, first_row: int = 1, last_row: int | None = None) -> None:
    """Rows high enough for every wrapped text in them (a merged cell spreads over its rows and columns)."""
    spans = {}
    for merged in ws.merged_cells.ranges:
        min_col, min_row, max_col, max_row = range_boundaries(merged.coord)
        spans[(min_row, min_col)] = (max_row, max_col)
    needed: dict[int, float] = {}
    last_row = last_row or ws.max_row
    for cell in list(ws._cells.values()):  # the cells that exist (iter_rows would create every empty one)
        if not first_row <= cell.row <= last_row:
            continue
        if isinstance(cell, MergedCell) or not isinstance(cell.value, str) or cell.value.startswith("="):
            continue
        wraps = bool(cell.alignment and cell.alignment.wrap_text) or "\n" in cell.value
        if not wraps:
            continue
        last_row_of, last_col = spans.get((cell.row, cell.column), (cell.row, cell.column))
        width = sum(column_width(ws, c) for c in range(cell.column, last_col + 1))
        font = cell.font or Font()
        points = float(font.sz or 11)
        height = wrapped_lines(cell.value, width, points, bool(font.b)) * points * LINE_SPACING + PADDING
        have = sum(_height(ws, r) for r in range(cell.row, last_row_of))  # rows above the last one
        needed[last_row_of] = max(needed.get(last_row_of, 0.0), height - have)
    for row, height in needed.items():
        if height > _height(ws, row):
            ws.row_dimensions[row].height = math.ceil(height)


def _height(ws: Worksheet, row: int) -> float:
    height = ws.row_dimensions[row].height if row in ws.row_dimensions else None
    return float(height) if height else 15.0


def page_heading(ws: Worksheet, issuer: Sequence[str], points: int = 11) -> None:
    """The national heading at the top of the sheet's printed pages: the issuing unit on the left, the national
    motto on the right (in the page header, so no cell of the form moves). Every page, not only the first:
    LibreOffice gives a "different first page" header to the first page of the whole workbook only, and a form
    sheet is one page (a long one repeats its title rows too)."""
    left, right = ws.oddHeader.left, ws.oddHeader.right
    left.text, right.text = "\n".join(issuer), "\n".join(NATIONAL_HEADING)
    left.font = right.font = "Times New Roman,Bold"
    left.size = right.size = points
    lines = max(len(issuer), len(NATIONAL_HEADING))
    ws.page_margins.header = 0.3
    # The body starts below the heading: its lines, at ~1.3 × their size in points, from the header's top.
    ws.page_margins.top = max(ws.page_margins.top or 0.75, 0.3 + lines * points * LINE_SPACING / 72 + 0.25)


# openpyxl writes a line break in a header as OOXML's escape _x000a_, which LibreOffice prints as such; Excel
# itself writes the character. Header and footer elements get it back as a character reference.
_HEADER_FOOTER = re.compile(rb"<((?:odd|even|first)(?:Header|Footer))>(.*?)</\1>", re.DOTALL)


def workbook_bytes(wb: Workbook) -> bytes:
    """The workbook as an .xlsx, with its headers' line breaks as Excel writes them."""
    buffer = io.BytesIO()
    if wb.read_only or wb.write_only:
        wb.save(buffer)
    else:  # as Workbook.save, but the parts stored: they are compressed once, below (an annotated copy: 4 ms less)
        wb.properties.modified = dt.datetime.now(tz=dt.UTC).replace(tzinfo=None)
        ExcelWriter(wb, zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True)).save()
    with zipfile.ZipFile(buffer) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    fixed = {name: _HEADER_FOOTER.sub(lambda m: m.group(0).replace(b"_x000a_", b"&#10;"), data)
             for name, data in parts.items() if name.startswith("xl/worksheets/") and b"_x000a_" in data}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, fixed.get(name, data))
    return out.getvalue()


def signature_block(ws: Worksheet, row: int, left: tuple[int, int], right: tuple[int, int], place_date: str,
                    signers: Sequence[tuple[str, str]], points: int = 12) -> int:
    """From `row` down: the place and date over the right column, then each signer's title and the note
    under it (e.g. "(Ký, ghi rõ họ tên)"), the first signer on the left, the second on the right, and room
    to sign. `left` and `right` are (first, last) column numbers. Returns the last row used."""
    def put(r: int, span: tuple[int, int], text: str, font: Font) -> None:
        cell = ws.cell(r, span[0], text)
        cell.font, cell.alignment = font, Alignment(horizontal="center", vertical="top", wrap_text=True)
        if span[1] > span[0]:
            ws.merge_cells(start_row=r, start_column=span[0], end_row=r, end_column=span[1])

    put(row, right, place_date, Font(name="Times New Roman", size=points, italic=True))
    for span, (title, note) in zip((left, right), signers, strict=False):
        put(row + 1, span, title, Font(name="Times New Roman", size=points, bold=True))
        put(row + 2, span, note, Font(name="Times New Roman", size=points, italic=True))
    for r in (row, row + 1, row + 2):
        ws.row_dimensions[r].height = None
    fit_row_heights(ws, row, row + 2)
    ws.row_dimensions[row + 3].height = 48  # room for the signature and the stamp
    return row + 3
