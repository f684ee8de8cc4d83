"""Office names and letterheads come from config/offices.yaml, per map edition and unit: the defaults of both
editions, a province's override, the commune workbook's "gửi …" line, the consolidated workbook's letterhead
and the office named in e-mails."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from openpyxl import Workbook, load_workbook

from tests.conftest import OFFICER_DISTRICTS, PERIOD, PROVINCE, ROOT
from tonghop.calendar import load_calendar
from tonghop.config import Settings
from tonghop.contacts import Contact, Directory
from tonghop.hierarchy import load_hierarchy
from tonghop.mailer import ATTACHMENT_DROPPED, Email, without_attachments
from tonghop.notify import Plan, district_summaries, reminder_emails
from tonghop.officer_workbook import unit_office, write_letterhead
from tonghop.offices import OfficesError, load_offices, split_unit_name
from tonghop.published import UnitFigures
from tonghop.spec import load_spec
from tonghop.template import prefill_values, write_workbook

OFFICES = ROOT / "config" / "offices.yaml"
OLD_LABOUR = "Lao động - Thương binh"  # the labour offices' name: never on the two-level map
BEN_TRE, BA_TRI, VINH_LONG = "83", "836", "86"
# Written by hand, as an official spells them.
SO_NNMT_VINH_LONG = "Sở Nông nghiệp và Môi trường Tỉnh Vĩnh Long"
SO_LDTBXH_BEN_TRE = "Sở Lao động - Thương binh và Xã hội Tỉnh Bến Tre"
PHONG_LDTBXH_BA_TRI = "Phòng Lao động - Thương binh và Xã hội Huyện Ba Tri"
OVERRIDE = "Sở Nông nghiệp và Môi trường tỉnh Vĩnh Long (Chi cục Phát triển nông thôn)"


@pytest.fixture(scope="module")
def world():
    """Settings with the project's configuration, its calendar, and the map of 2024-FY and of 2026-FY."""
    settings = Settings.from_env()
    calendar = load_calendar(settings.calendar_path)
    old, new = calendar.get("2024-FY"), calendar.get("2026-FY")
    return settings, calendar, (old, settings.hierarchy_for(old)), (new, settings.hierarchy_for(new))


@pytest.fixture
def overridden(tmp_path) -> Path:
    """The project's offices.yaml with Tỉnh Vĩnh Long's 2025 department named its own way."""
    raw = yaml.safe_load(OFFICES.read_text(encoding="utf-8"))
    raw["editions"]["2025"]["units"] = {VINH_LONG: {"name": OVERRIDE}}
    path = tmp_path / "offices.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_the_default_offices_of_both_editions(world):
    _, _, (_, old_map), (_, new_map) = world
    offices = load_offices(OFFICES)
    ba_tri = offices.office_of(old_map, BA_TRI)
    assert (ba_tri.name, ba_tri.heading, ba_tri.governing_body) == (
        PHONG_LDTBXH_BA_TRI, "PHÒNG LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI", "UBND HUYỆN BA TRI")
    ben_tre = offices.office_of(old_map, BEN_TRE)
    assert (ben_tre.name, ben_tre.heading, ben_tre.governing_body) == (
        SO_LDTBXH_BEN_TRE, "SỞ LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI", "UBND TỈNH BẾN TRE")
    vinh_long = offices.office_of(new_map, VINH_LONG)
    assert (vinh_long.name, vinh_long.heading, vinh_long.governing_body) == (
        SO_NNMT_VINH_LONG, "SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG", "UBND TỈNH VĨNH LONG")
    assert offices.office_of(new_map, "01").governing_body == "UBND THÀNH PHỐ HÀ NỘI"
    assert offices.office_of(old_map, "829").name == "Phòng Lao động - Thương binh và Xã hội Thành phố Bến Tre"


def test_communes_send_to_the_district_before_the_reform_and_to_the_province_after(world):
    _, _, (_, old_map), (_, new_map) = world
    offices = load_offices(OFFICES)
    assert offices.receiving_office(old_map, "29110").name == PHONG_LDTBXH_BA_TRI  # Thị trấn Ba Tri
    commune = new_map.reporting_units(VINH_LONG)[0].code
    assert offices.receiving_office(new_map, commune).name == SO_NNMT_VINH_LONG
    assert not offices.has_office("2025", "district") and offices.has_office("pre2025", "district")


def test_every_map_edition_has_offices(world):
    settings = world[0]
    offices = load_offices(settings.offices_path)
    for edition in settings.editions.editions:
        assert offices.of_edition(edition.id).communes_report_to, edition.id


def test_an_override_wins_for_its_edition_only(world, overridden):
    _, _, (_, old_map), (_, new_map) = world
    offices = load_offices(overridden)
    vinh_long = offices.office_of(new_map, VINH_LONG)
    assert vinh_long.name == OVERRIDE
    assert (vinh_long.heading, vinh_long.governing_body) == ("SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG", "UBND TỈNH VĨNH LONG")
    # Code 86 was Tỉnh Vĩnh Long on the three-level map too: that is another unit, keeping its default.
    assert offices.office_of(old_map, VINH_LONG).name == "Sở Lao động - Thương binh và Xã hội Tỉnh Vĩnh Long"
    assert offices.office_of(new_map, "01").name == "Sở Nông nghiệp và Môi trường Thành phố Hà Nội"


def test_unit_names_split_into_type_and_name():
    assert split_unit_name("Tỉnh Vĩnh Long") == ("Tỉnh", "Vĩnh Long")
    assert split_unit_name("Thành Phố Bến Tre") == ("Thành phố", "Bến Tre")
    assert split_unit_name("Thị xã Vĩnh Châu") == ("Thị xã", "Vĩnh Châu")
    assert split_unit_name("Côn Đảo") == ("", "Côn Đảo")


@pytest.mark.parametrize(("change", "message"), [
    (lambda raw: raw["editions"]["2025"]["province"].update(name="Sở {ten_tinh}"),
     "editions.2025.province.name: unknown placeholders ['ten_tinh']"),
    (lambda raw: raw["editions"]["2025"]["province"].pop("heading"), "editions.2025.province: missing ['heading']"),
    (lambda raw: raw["editions"]["pre2025"].update(units={"83": {"ten": "x"}}),
     "editions.pre2025.units.83: unknown keys ['ten']"),
    (lambda raw: raw["editions"]["2025"].update(communes_report_to=["district"]), "editions.2025.communes_report_to"),
    (lambda raw: raw["editions"]["2025"]["province"].update(name="Sở {unit_name"), "editions.2025.province.name"),
])
def test_errors_name_the_file_and_the_key(tmp_path, change, message):
    raw = yaml.safe_load(OFFICES.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "offices.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(OfficesError) as caught:
        load_offices(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_a_missing_file_or_edition_is_named(tmp_path):
    with pytest.raises(OfficesError, match="no such offices file"):
        load_offices(tmp_path / "nowhere.yaml")
    with pytest.raises(OfficesError, match=r"no offices for map edition '2030' \(key editions.2030\)"):
        load_offices(OFFICES).office("2030", "province", "86", "Tỉnh Vĩnh Long")


def _all_text(path: Path) -> str:
    wb = load_workbook(path)
    return "\n".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value)


def _instructions(path: Path) -> str:
    ws = load_workbook(path)[load_spec().instructions_sheet]
    return "\n".join(str(c.value) for c in ws["A"] if c.value)


def test_a_2025_commune_workbook_sends_to_the_provincial_department(world, tmp_path):
    _, _, _, (period, new_map) = world
    commune = new_map.reporting_units(VINH_LONG)[0].code
    path = write_workbook(tmp_path / "mau.xlsx", prefill_values(load_spec(), new_map, period, commune), period)
    assert f"gửi {SO_NNMT_VINH_LONG}." in _instructions(path)
    assert OLD_LABOUR not in _all_text(path)


def test_a_pre2025_commune_workbook_sends_to_the_district_office(world, tmp_path):
    _, _, (period, old_map), _ = world
    commune = old_map.reporting_units(BA_TRI)[0].code
    path = write_workbook(tmp_path / "mau.xlsx", prefill_values(load_spec(), old_map, period, commune), period)
    assert f"gửi {PHONG_LDTBXH_BA_TRI}." in _instructions(path)
    assert "Sở Lao động" not in _all_text(path)


def test_the_commune_workbook_follows_TONGHOP_OFFICES(world, overridden, tmp_path, monkeypatch):
    _, _, _, (period, new_map) = world
    commune = new_map.reporting_units(VINH_LONG)[0].code
    monkeypatch.setenv("TONGHOP_OFFICES", str(overridden))
    path = write_workbook(tmp_path / "mau.xlsx", prefill_values(load_spec(), new_map, period, commune), period)
    assert f"gửi {OVERRIDE}." in _instructions(path)


def test_a_map_without_edition_takes_the_periods(world):
    """A map loaded on its own knows no edition: the period's deadline picks the offices."""
    _, _, (period, _), _ = world
    hierarchy = load_hierarchy()
    assert hierarchy.edition == ""
    values = prefill_values(load_spec(), hierarchy, period, "29110")
    assert values["send_to"] == PHONG_LDTBXH_BA_TRI


def _unit(code: str, name: str, level: str) -> UnitFigures:
    return UnitFigures(code, name, level, {}, {})


@pytest.mark.parametrize(("offices_file", "edition", "unit", "lines"), [
    (OFFICES, "2025", _unit(VINH_LONG, "Tỉnh Vĩnh Long", "province"),
     ("UBND TỈNH VĨNH LONG", "SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG")),
    (OFFICES, "pre2025", _unit(BA_TRI, "Huyện Ba Tri", "district"),
     ("UBND HUYỆN BA TRI", "PHÒNG LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI")),
    (None, "2025", _unit(VINH_LONG, "Tỉnh Vĩnh Long", "province"),
     ("UBND TỈNH VĨNH LONG", "SỞ NN&MT TỈNH VĨNH LONG")),  # the override's heading
    (OFFICES, "2025", _unit("28756", "Phường Phú Khương", "commune"), ("PHƯỜNG PHÚ KHƯƠNG", None)),
])
def test_the_letterhead_uses_the_configured_names(tmp_path, offices_file, edition, unit, lines):
    if offices_file is None:
        raw = yaml.safe_load(OFFICES.read_text(encoding="utf-8"))
        raw["editions"]["2025"]["units"] = {VINH_LONG: {"heading": "SỞ NN&MT TỈNH VĨNH LONG"}}
        offices_file = tmp_path / "offices.yaml"
        offices_file.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    ws = Workbook().active
    write_letterhead(ws, unit, unit_office(load_offices(offices_file), edition, unit))
    assert (ws["A1"].value, ws["A2"].value or None) == lines


def test_the_published_workbooks_carry_the_offices_letterheads(officer_sample):
    """The consolidated workbooks of the pre-reform test period, as written after the run."""
    settings, _ = officer_sample
    expected = {PROVINCE: ("UBND TỈNH BẾN TRE", "SỞ LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI"),
                "836": ("UBND HUYỆN BA TRI", "PHÒNG LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI"),
                "829": ("UBND THÀNH PHỐ BẾN TRE", "PHÒNG LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI")}
    assert set(expected) == {PROVINCE, *OFFICER_DISTRICTS}
    for code, lines in expected.items():
        wb = load_workbook(settings.output_dir / PERIOD / "reports" / f"{code}.xlsx")
        for ws in wb.worksheets:
            assert (ws["A1"].value, ws["A2"].value) == lines, (code, ws.title)


def _directory(*codes: str) -> Directory:
    return Directory([Contact(code, role, "Cán bộ", f"cb.{code}@example.gov.vn") for code, role in codes])


def test_e_mails_name_the_office_of_the_period(world):
    _, calendar, (old, old_map), (new, new_map) = world
    offices = load_offices(OFFICES)
    commune = new_map.reporting_units(VINH_LONG)[0].code
    plan = Plan(new, set(), offices, "2025")
    reminder_emails(plan, new_map, calendar, _directory((commune, "commune")), [],
                    new.commune_deadline - dt.timedelta(hours=6), VINH_LONG)
    (reminder,) = plan.emails
    assert f"gửi báo cáo cho {SO_NNMT_VINH_LONG} đúng hạn" in reminder.text
    assert f"liên hệ {SO_NNMT_VINH_LONG}." in reminder.html
    assert OLD_LABOUR not in reminder.text + reminder.html
    dropped = without_attachments(Email("result", new.id, "x", ["a@example.gov.vn"], "s", reminder.text,
                                        reminder.html, attachments=[("a.xlsx", b"x")], office=reminder.office))
    assert f"{ATTACHMENT_DROPPED} Vui lòng liên hệ {SO_NNMT_VINH_LONG} để nhận bản có đánh dấu." in dropped.text
    # Before the reform the district officers' summary points them to the province's department.
    plan = Plan(old, set(), offices, "pre2025")
    district_summaries(plan, old_map, calendar, _directory((BA_TRI, "district")), [],
                       old.consolidate_at + dt.timedelta(hours=1), BA_TRI)
    (summary,) = plan.emails
    assert f"liên hệ {SO_LDTBXH_BEN_TRE}." in summary.html
