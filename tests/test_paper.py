"""On paper: a filled commune workbook and the province's and a district's consolidated workbooks, printed to PDF
by LibreOffice headless as offices print them, read back from the PDF's text positions: nothing outside the
page, no two lines of text over each other, the national heading and the signature block where the form needs
them. Every page is kept as a PNG in var/test-artifacts/paper/."""

from __future__ import annotations

import itertools
import re
import shutil

import pymupdf
import pytest
from openpyxl import load_workbook

from tests.conftest import DISTRICT, PERIOD, PROVINCE, ROOT
from tests.office import convert
from tonghop.calendar import load_calendar
from tonghop.config import Settings
from tonghop.spec import load_spec
from tonghop.synth import SampleOptions, generate_sample

ARTIFACTS = ROOT / "var" / "test-artifacts" / "paper"
MOTTO = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")
SIGNED = ("NGƯỜI LẬP BIỂU", "(Ký, ghi rõ họ tên)", "(Ký, ghi rõ họ tên, đóng dấu)")
CONSOLIDATED_SHEETS = 5


def _lines(page: pymupdf.Page) -> list[tuple[pymupdf.Rect, str]]:
    out = []
    for block in page.get_text("dict")["blocks"]:
        for line in block.get("lines", []):
            text = "".join(span["text"] for span in line["spans"]).strip()
            if text:
                out.append((pymupdf.Rect(line["bbox"]), text))
    return out


def _overlapping(lines: list[tuple[pymupdf.Rect, str]]) -> list[tuple[str, str]]:
    """Pairs of text lines printed over each other (sharing more than a third of the lower one's height)."""
    pairs = []
    for (a, text_a), (b, text_b) in itertools.combinations(lines, 2):
        both = a & b
        if not both.is_empty and both.width > 1 and both.height > 0.33 * min(a.height, b.height):
            pairs.append((text_a, text_b))
    return pairs


@pytest.fixture(scope="module")
def printed(officer_sample, hierarchy, period, tmp_path_factory):
    """name → the PDF LibreOffice printed: the filled workbook of a commune of Huyện Ba Tri, and the consolidated
    workbooks of Tỉnh Bến Tre and of Huyện Ba Tri that the reports step wrote."""
    settings, _ = officer_sample
    work = tmp_path_factory.mktemp("paper")
    inbox = work / "inbox"
    commune = hierarchy.reporting_units(DISTRICT)[5]
    generate_sample([commune], period, hierarchy, inbox, SampleOptions(seed=20, late_rate=0))
    books = work / "books"
    books.mkdir()
    shutil.copy(next(inbox.rglob("*.xlsx")), books / "commune.xlsx")
    # A commune of today's map: no district, the province's committee above it.
    today = Settings.from_env(home=work)
    period_2026 = load_calendar(today.calendar_path).get("2026-FY")
    map_2026 = today.hierarchy_for(period_2026)
    commune_2026 = map_2026.reporting_units("86")[7]
    generate_sample([commune_2026], period_2026, map_2026, work / "inbox-2026", SampleOptions(seed=21, late_rate=0))
    shutil.copy(next((work / "inbox-2026").rglob("*.xlsx")), books / "commune-2026.xlsx")
    reports = settings.output_dir / PERIOD / "reports"
    shutil.copy(reports / f"{PROVINCE}.xlsx", books / "province.xlsx")
    shutil.copy(reports / f"{DISTRICT}.xlsx", books / "district.xlsx")
    sources = sorted(books.glob("*.xlsx"))
    pdfs = convert(sources, "pdf", work / "pdf", work)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for pdf in pdfs:
        for number, page in enumerate(pymupdf.open(pdf), start=1):
            page.get_pixmap(dpi=60).save(ARTIFACTS / f"{pdf.stem}-{number:02d}.png")
    return {pdf.stem: pdf for pdf in pdfs} | {"names": {"commune": ("UBND HUYỆN BA TRI", commune.name),
                                                         "commune-2026": ("UBND TỈNH VĨNH LONG", commune_2026.name)},
                                               "sources": books}


@pytest.mark.parametrize("name", ["commune", "commune-2026", "province", "district"])
def test_every_page_fits_and_no_text_prints_over_other_text(printed, name):
    document = pymupdf.open(printed[name])
    assert document.page_count >= 5
    for number, page in enumerate(document, start=1):
        lines = _lines(page)
        assert lines, (name, number)
        outside = [text for rect, text in lines if not page.rect.contains(rect)]
        assert outside == [], (name, number, outside)
        assert _overlapping(lines) == [], (name, number)
        assert any(re.fullmatch(rf"Trang {number} ?/ ?{document.page_count}", text) for _, text in lines), (
            name, number, "page numbers")
        assert page.rect.width in (pytest.approx(595.3, abs=1), pytest.approx(841.9, abs=1))  # A4, either way


def _pages_with(document: pymupdf.Document, text: str) -> list[int]:
    return [i for i, page in enumerate(document) if text in page.get_text()]


@pytest.mark.parametrize("form", ["commune", "commune-2026"])
def test_the_commune_form_carries_the_heading_and_the_signature_block(printed, form):
    document, spec = pymupdf.open(printed[form]), load_spec()
    above, name = printed["names"][form]
    for section in spec.sections:
        first = _pages_with(document, section.title)[0]
        page = document[first]
        top = page.rect.height * 0.12
        found = {text: rect for rect, text in _lines(page)}
        for line in MOTTO:  # the national heading, top right
            assert found[line].y1 < top and found[line].x0 > page.rect.width / 2, (section.sheet, line)
        issuer = [text for text, rect in found.items() if text.startswith("UBND ") and rect.y1 < top]
        assert issuer == [above, f"UBND {name.upper()}"], section.sheet  # the issuing unit, top left
        assert all(found[text].x1 < page.rect.width / 2 for text in issuer)
    # Signed once, under the last form sheet's table: place and date, the preparer and the commune chairman.
    signed = _pages_with(document, "NGƯỜI LẬP BIỂU")
    last_form = _pages_with(document, spec.sections[-1].title)[-1]
    assert signed == [last_form]
    page = document[last_form]
    found = {text: rect for rect, text in _lines(page)}
    assert {*SIGNED, "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH", f"{name}, ngày ..... tháng ..... năm ........"} <= set(found)
    table_bottom = max(rect.y1 for rect, text in _lines(page) if text == spec.sections[-1].row_texts[-1]["label"])
    assert found["NGƯỜI LẬP BIỂU"].y0 > table_bottom and found["NGƯỜI LẬP BIỂU"].x1 < page.rect.width / 2
    assert found["CHỦ TỊCH"].x0 > page.rect.width / 2


@pytest.mark.parametrize(("name", "governing_body", "office"), [
    ("province", "UBND TỈNH BẾN TRE", "SỞ LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI"),
    ("district", "UBND HUYỆN BA TRI", "PHÒNG LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI"),
])
def test_each_consolidated_sheet_opens_with_the_letterhead_and_ends_with_the_signatures(printed, name,
                                                                                         governing_body, office):
    document = pymupdf.open(printed[name])
    headed, signed = _pages_with(document, MOTTO[0]), _pages_with(document, "THỦ TRƯỞNG ĐƠN VỊ")
    assert len(headed) == len(signed) == CONSOLIDATED_SHEETS
    for sheet, (first, last) in enumerate(zip(headed, signed, strict=True)):
        following = headed[sheet + 1] if sheet + 1 < len(headed) else document.page_count
        assert first <= last < following, (sheet, headed, signed)  # heading first, signatures at the sheet's end
        found = {text: rect for rect, text in _lines(document[first])}
        assert found[governing_body].y1 < found[MOTTO[1]].y1 + 20 and office in found
        signatures = {text for _, text in _lines(document[last])}
        assert set(SIGNED) <= signatures


def test_printed_forms_stay_protected_and_readable(printed, tonghop, tmp_path):
    sources = printed["sources"]
    wb = load_workbook(sources / "commune.xlsx")
    assert all(ws.protection.sheet for ws in wb.worksheets)
    done = tonghop("check", str(sources / "commune.xlsx"), home=tmp_path, check=False)
    assert done.returncode == 0 and "HỢP LỆ" in done.stdout, done.stdout  # the parser reads the form as before
