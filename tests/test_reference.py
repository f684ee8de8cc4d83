"""Reference data: the administrative hierarchy (levels as data) and the reporting calendar."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tests import expected as exp
from tests.conftest import DISTRICT
from tonghop.calendar import CalendarError, load_calendar
from tonghop.hierarchy import HierarchyError, load_hierarchy
from tonghop.pipeline import run_period
from tonghop.synth import SampleOptions, generate_sample, manifest_path
from tonghop.warehouse import Warehouse

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def test_default_hierarchy_is_the_pre_2025_gso_map(hierarchy):
    assert hierarchy.levels == ("province", "district", "commune")
    assert len(hierarchy.at_level("province")) == 63
    assert len(hierarchy.at_level("district")) == 696
    assert len(hierarchy.at_level("commune")) == 10051
    assert hierarchy["83"].name == "Tỉnh Bến Tre" and hierarchy["836"].parent_code == "83"
    ba_tri = {u.name: u for u in hierarchy.reporting_units(DISTRICT)}
    assert ba_tri["Thị trấn Ba Tri"].area == "urban" and ba_tri["Xã An Hiệp"].area == "rural"
    assert hierarchy.ancestor(ba_tri["Xã An Hiệp"].code, "province") == "83"
    assert hierarchy.canonical_code(1.0, "province") == "01"  # a code Excel turned into a number


TWO_LEVEL = """code,name,level,parent_code,area,valid_from,valid_to
91,Tỉnh Thử Nghiệm,province,,,,
91001,Phường Một,commune,91,urban,,
91002,Xã Hai,commune,91,rural,,
91003,Xã Ba,commune,91,rural,,
91004,Xã Bốn (đã sáp nhập),commune,91,rural,,2026-06-30
91005,Xã Năm (thành lập mới),commune,91,rural,2026-07-01,
"""
TWO_LEVEL_PERIOD = "2026-FY"  # a period after the July 2025 reform, when the map has two levels


def test_csv_hierarchy_with_two_levels_runs_the_whole_period(tmp_path, settings, calendar):
    """Since July 2025 there are two levels: the same pipeline consolidates province ← commune."""
    csv_path = tmp_path / "units.csv"
    csv_path.write_text(TWO_LEVEL, encoding="utf-8")
    hierarchy = load_hierarchy(str(csv_path))
    assert hierarchy.levels == ("province", "commune")
    period = calendar.get(TWO_LEVEL_PERIOD)
    active = hierarchy.reporting_units("91", active_on=period.deadline_date)
    assert [u.code for u in active] == ["91001", "91002", "91003", "91005"]  # units merged away don't count

    settings = dataclasses.replace(settings, hierarchy_source=str(csv_path))
    generate_sample(active[:3], period, hierarchy, settings.inbox_dir, SampleOptions(seed=5, late_rate=0))
    manifest = exp.load(manifest_path(settings.inbox_dir, TWO_LEVEL_PERIOD))
    run_period(settings, TWO_LEVEL_PERIOD)
    warehouse = Warehouse(settings.warehouse)
    province = next(r for r in warehouse.read_table("fact_households", unit_code="91", area="total"))
    assert province["unit_level"] == "province"
    assert province["poor_end"] == sum(r["values"]["poor_end"] for r in manifest["reports"])
    urban = next(r for r in warehouse.read_table("fact_households", unit_code="91", area="urban"))
    assert urban["total_households"] == manifest["reports"][0]["values"]["total_households"]
    completeness = next(r for r in warehouse.read_table("fact_completeness", unit_code="91", area="total"))
    assert (completeness["expected"], completeness["received"], completeness["accepted"]) == (4, 3, 3)
    assert completeness["reporting_rate"] == 75.0
    assert not warehouse.read_table("finding")


@pytest.mark.parametrize("csv_text, message", [
    ("code,name,level,parent_code\n1,A,province,\n2,B,commune,9\n", "unknown parent"),
    ("code,name,level,parent_code,area\n1,A,province,\n2,B,commune,1,suburb\n", "urban"),
    ("code,name,level,parent_code\n1,A,province,\n1,B,commune,1\n", "duplicate"),
    ("code,name,level,parent_code\n1,A,region,\n", "unknown level"),
])
def test_bad_hierarchy_csv_is_refused_clearly(tmp_path, csv_text, message):
    path = tmp_path / "bad.csv"
    path.write_text(csv_text, encoding="utf-8")
    with pytest.raises(HierarchyError, match=message):
        load_hierarchy(str(path))


def test_calendar_deadlines_are_local_end_of_day(calendar):
    h1, fy = calendar.get("2026-H1"), calendar.get("2026-FY")
    assert h1.name == "Báo cáo 6 tháng đầu năm 2026" and fy.name == "Báo cáo năm 2026"
    assert h1.commune_deadline.astimezone(HANOI).replace(microsecond=0) == dt.datetime(2026, 5, 10, 23, 59, 59,
                                                                                      tzinfo=HANOI)
    assert fy.on_time(dt.datetime(2026, 11, 10, 23, 59, tzinfo=HANOI))
    assert not fy.on_time(dt.datetime(2026, 11, 10, 17, 1, tzinfo=dt.UTC))  # 00:01 on 11/11 in Hà Nội
    assert fy.accepts_at(dt.datetime(2026, 11, 20, tzinfo=HANOI))
    assert not fy.accepts_at(dt.datetime(2026, 12, 11, 1, tzinfo=HANOI))  # 30 days of grace are over
    assert calendar.latest_due_before(dt.datetime(2026, 11, 11, 0, tzinfo=dt.UTC)).id == "2026-FY"
    assert calendar.latest_due_before(dt.datetime(2027, 3, 1, tzinfo=dt.UTC)).id == "2026-FY"
    with pytest.raises(CalendarError):
        calendar.get("2026-Q3")


def test_calendar_holds_ad_hoc_periods(tmp_path):
    text = (tmp_path / "base.yaml")
    from tests.conftest import ROOT

    base = (ROOT / "config" / "calendar.yaml").read_text(encoding="utf-8").replace("adhoc: []", """adhoc:
  - id: 2026-DX1
    name: "Báo cáo đột xuất về nhà ở, tháng 8 năm 2026"
    opens: 2026-08-01
    commune_deadline: 2026-08-20
    closes: 2026-09-05""")
    text.write_text(base, encoding="utf-8")
    calendar = load_calendar(text)
    adhoc = calendar.get("2026-DX1")
    assert adhoc.kind == "ADHOC" and adhoc.deadline_date == dt.date(2026, 8, 20)
    assert adhoc.accepts_at(dt.datetime(2026, 9, 5, 12, tzinfo=HANOI))
    assert calendar.latest_due_before(dt.datetime(2026, 8, 25, tzinfo=HANOI)).id == "2026-DX1"
