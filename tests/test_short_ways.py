"""The read path's short ways (tonghop.safety's sheet scan, tonghop.parse's plain numbers, the warehouse's bulk
insert) give exactly what the long ways give: each is compared with the long way on the same input."""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import zipfile
from decimal import Decimal

import numpy as np
import pytest
import sqlalchemy as sa

from tests.conftest import DISTRICT
from tonghop import parse, safety
from tonghop.spec import load_spec
from tonghop.template import prefill_values, write_workbook

CELLS = (b'<c r="A1" t="inlineStr"><is><t>T&#234;n</t></is></c><c r="B1"><v>12</v></c>'
         b'<c r="C1" s="3"><f>SUM(A1:B1)</f><v></v></c><c r="D1"><f>B1*2</f><v>24</v></c>')
SHEETS = {
    "plain": CELLS,
    "error type": CELLS + b'<c r="E1" t="e"><v>#N/A</v></c>',
    "error type, single quotes and spaces": CELLS + b"<c r=\"E1\" t = 'e'><v>#DIV/0!</v></c>",
    "error type without a value": CELLS + b'<c r="E2" t="e"/>',
    "formula without a value tag": CELLS + b'<c r="F1"><f t="shared" si="0">A1</f></c>',
    "formula tag with attributes, cached value": CELLS + b'<c r="F2"><f ca="1">NOW()</f><v>45000</v></c>',
    "prefixed cells": b'<x:c r="A1" t="e"><x:v>#SPILL!</x:v></x:c><x:c r="B2"><x:f>1+1</x:f></x:c>',
    "prefixed formula in a plain cell": CELLS + b'<c r="G1"><x:f>1+1</x:f></c>',
    "reference after other attributes": CELLS + b'<c s="1" r="H1" t="e"><v>#REF!</v></c>',
    "cell without a reference": CELLS + b"<c><v>1</v></c>",
    "far filled cell": CELLS + b'<c r="XFD1048576"><v>1</v></c>',
    "far empty cell": CELLS + b'<c r="XFD1048576" s="1"/>',
    "unclosed cell": CELLS + b'<c r="I1"><f>A1</f><v>',
    "formula text outside any cell": b"<sheetPr><f>x</f></sheetPr>" + CELLS,
    "two cells at one reference": CELLS + b'<c r="C1" t="e"><v>#VALUE!</v></c>',
    "no cells": b"<sheetData/>",
}


@pytest.mark.parametrize("xml", SHEETS.values(), ids=SHEETS.keys())
def test_the_short_sheet_scan_answers_as_the_full_scan_or_not_at_all(xml):
    full = safety._scan_every_cell(xml)
    short = safety._scan_noteworthy(xml)
    if short is not None:
        assert (short.notes, short.far) == (full.notes, full.far)
    assert (safety.scan_sheet(xml).notes, safety.scan_sheet(xml).far) == (full.notes, full.far)


def test_the_short_sheet_scan_answers_for_our_own_workbook(tmp_path, hierarchy, period):
    """The template's sheets (formulas without cached values included) take the short way, with the full scan's
    answer: the short way is the one every honest report takes."""
    spec = load_spec()
    unit = hierarchy.reporting_units(DISTRICT)[0]
    path = write_workbook(tmp_path / "t.xlsx", prefill_values(spec, hierarchy, period, unit.code), period)
    with zipfile.ZipFile(path) as archive:
        sheets = [archive.read(n) for n in archive.namelist() if n.startswith("xl/worksheets/")]
    assert sheets
    formulas = 0
    for xml in sheets:
        short, full = safety._scan_noteworthy(xml), safety._scan_every_cell(xml)
        assert short is not None and (short.notes, short.far) == (full.notes, full.far)
        formulas += len(full.notes)
    assert formulas > 0  # the template has totals and rates as formulas: the short way looked at them


def _long_way(spec, sheets, notes):
    """What the field loop gives for a sheet when every cell takes the long way (convert and fits)."""
    original = parse._Slot
    slots = parse._slots(spec)
    long_slots = tuple(original(**{**s.__dict__, "plain_below": 0.0}) for s in slots)
    parse._SLOTS[id(spec)] = (spec, long_slots)
    try:
        return parse._typed_cells(spec, sheets, notes)
    finally:
        parse._SLOTS[id(spec)] = (spec, slots)


@pytest.mark.parametrize("number", [0.0, -0.0, 1e-05, 0.0001, 0.123456, 1.5e-7, 1.0, 7.0, 466.25, 0.1 + 0.2,
                                    2.0000000000000004, 1234567.125, -3.0, 12.5, 99999999999.999, 4.9999999999999e14,
                                    5e14, 9.99999999999999e14, 1e15,
                                    1e300, math.inf, -math.inf, math.nan])
def test_plain_numbers_take_the_short_way_with_the_long_ways_outcome(number):
    spec = load_spec()
    numeric = [f for f in spec.fields if f.is_numeric]
    sheets: dict[str, list[list]] = {name: [[None] * 40 for _ in range(80)] for name in spec.sheet_names}
    for f in numeric:
        row, column = f.position
        sheets[f.sheet][row][column] = number
    short = parse._typed_cells(spec, sheets, {})
    long = _long_way(spec, sheets, {})
    assert short["values"] == long["values"]
    assert [type(v) for v in short["values"].values()] == [type(v) for v in long["values"].values()]
    assert short["raw"] == long["raw"] and short["unreadable"] == long["unreadable"]
    for name in ("blank", "readable", "legacy", "oversized"):
        assert np.array_equal(short[name], long[name]), name
    for name in ("numbers", "decimals"):
        assert np.array_equal(short[name], long[name], equal_nan=True), name


def test_the_bulk_insert_stores_what_sqlalchemy_stores():
    """Rows through `_insert` (the driver's executemany, each value through its column's bind processor) read back
    exactly as the same rows inserted through SQLAlchemy's own executemany."""
    from tonghop.warehouse import _insert

    metadata = sa.MetaData()
    table = sa.Table("t", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(20)),
                     sa.Column("amount", sa.Numeric(18, 3)), sa.Column("rate", sa.Numeric(9, 4)),
                     sa.Column("flag", sa.Boolean), sa.Column("day", sa.Date), sa.Column("at", sa.DateTime(True)),
                     sa.Column("big", sa.BigInteger), sa.Column("ratio", sa.Float))
    rows = [{"id": i, "name": f"Xã {i}", "amount": Decimal("466.25") * i, "rate": Decimal("1.2345"), "flag": i % 2 == 0,
             "day": dt.date(2024, 11, 10), "at": dt.datetime(2024, 11, 10, 16, 59, 59, 5, tzinfo=dt.UTC),
             "big": 10 ** 14 + i, "ratio": 0.1 * i} for i in range(1, 6)]
    rows.append(dict.fromkeys(rows[0], None) | {"id": 99})
    read = []
    for insert in (_insert, lambda conn, t, r: conn.execute(t.insert(), r)):
        engine = sa.create_engine("sqlite://")
        metadata.create_all(engine)
        with engine.begin() as conn:
            insert(conn, table, rows)
            read.append([tuple(r) for r in conn.execute(sa.select(table).order_by(table.c.id))])
        engine.dispose()
    assert read[0] == read[1] and len(read[0]) == len(rows)
    assert read[0][0][2] == Decimal("466.250") and read[0][-1][1:] == (None,) * 8


def test_a_workbook_reads_the_same_through_the_bounded_reader(tmp_path, hierarchy, period):
    """The short ways sit on calamine's path; openpyxl's bounded reader takes the long ways: same values."""
    from tests.conftest import ROOT
    from tonghop.findings import load_catalogue
    from tonghop.synth import commune_values

    spec = load_spec()
    unit = hierarchy.reporting_units(DISTRICT)[3]
    values = commune_values(2, unit, period, spec)
    path = write_workbook(tmp_path / "f.xlsx", prefill_values(spec, hierarchy, period, unit.code), period, values)
    content = path.read_bytes()
    catalogue = load_catalogue(ROOT / "expectations")
    fast = parse.read_report(content, "s", "f.xlsx", spec, catalogue)
    inspection = safety.inspect(content, spec.sheet_names)
    sheets, _ = parse._read_bounded(io.BytesIO(content).getvalue(), spec, None)
    slow = _long_way(spec, sheets, inspection.cell_notes)
    assert fast.values == slow["values"] and fast.raw == slow["raw"]
    assert np.array_equal(fast.numbers, slow["numbers"], equal_nan=True)


def _with_sheet_xml(content: bytes, sheet: str, edit) -> bytes:
    package = {}
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        package = {info.filename: archive.read(info) for info in archive.infolist()}
    part = next(path for path, name in safety.sheet_parts(package).items() if name == sheet)
    package[part] = edit(package[part])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in package.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_our_formulas_read_off_the_xml_are_those_openpyxl_reads(tmp_path, hierarchy, period):
    """The marked copy keeps our template's formulas where the sender's cells still hold them: read off the XML
    (the short way) they are what openpyxl's reader finds; a sheet with a formula in another form (shared, a
    prefixed tag) sends the whole workbook the long way."""
    from tonghop import annotate

    spec = load_spec()
    unit = hierarchy.reporting_units(DISTRICT)[1]
    content = write_workbook(tmp_path / "f.xlsx", prefill_values(spec, hierarchy, period, unit.code),
                             period).read_bytes()
    sheet = "B. Hộ nghèo"
    package = annotate._unpacked(content)
    part = next(path for path, name in safety.sheet_parts(package).items() if name == sheet)
    (first, first_text), (second, _) = re.findall(rb'<c r="([A-Z]+[0-9]+)"[^>]*><f>([^<]*)</f>', package[part])[:2]
    # A sender retyped one total with other spacing and case (still ours) and replaced another with their own.
    edited = _with_sheet_xml(content, sheet, lambda x: re.sub(
        rb'(<c r="' + second + rb'"[^>]*><f>)[^<]*', rb"\g<1>1+1", x.replace(
            b"<f>" + first_text + b"</f>", b"<f> " + first_text.lower() + b" </f>", 1), count=1))
    assert edited != content
    for workbook in (content, edited):
        short = annotate._own_formulas_in(annotate._unpacked(workbook), spec)
        long = annotate._own_formulas_kept(workbook, spec)
        assert short is not None and short == long and len(long) > 100
    assert (sheet, first.decode()) in long and (sheet, second.decode()) not in long
    shared = _with_sheet_xml(content, sheet, lambda x: x.replace(b"<f>", b'<f t="shared" ref="Z1" si="0">', 1))
    prefixed = _with_sheet_xml(content, sheet, lambda x: x.replace(b"<f>", b"<x:f>", 1).replace(b"</f>", b"</x:f>", 1))
    for workbook in (shared, prefixed):
        assert annotate._own_formulas_in(annotate._unpacked(workbook), spec) is None
