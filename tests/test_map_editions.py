"""One territory across the July-2025 reform: 2025-H1 on the three-level map (old Bến Tre, Trà Vinh and Vĩnh
Long, with their districts), 2025-FY on the two-level map (the new Tỉnh Vĩnh Long, 86).

Expectations are computed here from the generator's manifest and the values this test writes, and the
predecessors come from the vietnamadminunits converter read directly (not through tonghop.correspondence).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests import expected as exp
from tonghop.editions import load_editions
from tonghop.hierarchy import vietnamadminunits_data
from tonghop.pipeline import run_period
from tonghop.spec import load_spec
from tonghop.synth import SampleOptions, commune_values, generate_sample, manifest_path
from tonghop.template import prefill_values, write_workbook
from tonghop.warehouse import Warehouse

OLD_PROVINCES = ("83", "84", "86")  # Bến Tre, Trà Vinh, Vĩnh Long before the reform
NEW_PROVINCE = "86"  # Tỉnh Vĩnh Long since 1 July 2025
RETIRED = "28757"  # Phường Phú Tân of Thành phố Bến Tre: gone from the 2025 map, part of Phường Phú Tân (28858)
SUMMED = [*exp.HOUSEHOLD_COUNTS]


def _converter_predecessors() -> tuple[dict[str, list[str]], dict[str, list[tuple[str, float]]]]:
    """new commune code → old commune codes merged whole into it; and new commune code → (split old commune,
    share by the new communes' areas) for the pieces of split old communes it took. Read straight from the
    package's files."""
    conv = json.loads(vietnamadminunits_data("converter_2025.json").read_text(encoding="utf-8"))
    db = sqlite3.connect(vietnamadminunits_data("dataset.db"))
    old = {f"{p}_{d}_{w}": c for c, p, d, w in db.execute(
        "SELECT wardCode, provinceKey, districtKey, wardKey FROM admin_units_legacy WHERE wardCode IS NOT NULL")}
    new = {(p, w): c for c, p, w in db.execute("SELECT wardCode, provinceKey, wardKey FROM admin_units")}
    whole: dict[str, list[str]] = defaultdict(list)
    for province, wards in conv["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for ward, olds in wards.items():
            whole[new[(province, ward)]].extend(old[o] for o in olds if o in old)
    split_into: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for province, olds in conv["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, pieces in olds.items():
            area = sum(p["newWardAreaKm2"] for p in pieces)
            for piece in pieces:
                split_into[new[(province, piece["newWardKey"])]].append((old[old_key], piece["newWardAreaKm2"] / area))
    return dict(whole), dict(split_into)


def _sum_reports(reports: list[dict[str, Any]], base: dict[str, Any]) -> dict[str, Any]:
    """A consistent report of the union of communes: counts and amounts add up, eligibility is any."""
    spec = load_spec()
    values = dict(base)
    for f in spec.input_fields():
        if f.type == "count":
            values[f.key] = sum(int(r[f.key]) for r in reports)
        elif f.type == "amount":
            values[f.key] = sum(Decimal(str(r[f.key])) for r in reports)
        elif f.type == "yesno":
            values[f.key] = any(r[f.key] for r in reports)
    for prefix in ("poor", "near_poor"):
        values[f"{prefix}_rate"] = (Decimal(values[f"{prefix}_end"] * 100) / values["total_households"]
                                    ).quantize(Decimal("0.01"))
    return values


def _write(settings, period, hierarchy, code: str, values: dict[str, Any], when: dt.datetime,
           prefill_code: str | None = None, **prefill_overrides: Any) -> Path:
    spec = load_spec()
    prefilled = {**prefill_values(spec, hierarchy, period, prefill_code or code), **prefill_overrides}
    path = settings.inbox_dir / period.id / NEW_PROVINCE / code / f"bao-cao-{period.id}-{code}.xlsx"
    write_workbook(path, prefilled, period, values)
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


@pytest.fixture(scope="module")
def across(tmp_path_factory) -> dict[str, Any]:
    from tonghop.config import Settings

    home = tmp_path_factory.mktemp("across")
    settings = Settings.from_env(home=home)
    editions = load_editions(settings.editions_path)
    from tonghop.calendar import load_calendar

    calendar = load_calendar(settings.calendar_path)
    h1, fy = calendar.get("2025-H1"), calendar.get("2025-FY")
    old, new = editions.hierarchy(editions.for_period(h1).id), editions.hierarchy(editions.for_period(fy).id)
    assert (old.levels, new.levels) == (("province", "district", "commune"), ("province", "commune"))

    units = [u for p in OLD_PROVINCES for u in old.reporting_units(p)]
    generate_sample(units, h1, old, settings.inbox_dir, SampleOptions(seed=25, late_rate=0.0, text_number_rate=0))
    run_period(settings, h1.id)
    h1_values = {c: v for c, v in exp.accepted_reports(exp.load(manifest_path(settings.inbox_dir, h1.id))).items()}
    assert len(h1_values) == len(units)

    whole, split_into = _converter_predecessors()
    spec = load_spec()
    fy_values: dict[str, dict[str, Any]] = {}
    communes = new.reporting_units(NEW_PROVINCE)
    merged_only = [u.code for u in communes if u.code in whole and u.code not in split_into
                   and all(o in h1_values for o in whole[u.code])]
    jumped = merged_only[0]
    estimated = next(u.code for u in communes if u.code in split_into and all(
        o in h1_values for o in [*whole.get(u.code, []), *(o for o, _ in split_into[u.code])]))
    estimate = (sum(h1_values[o]["total_households"] for o in whole.get(estimated, []))
                + sum(share * h1_values[o]["total_households"] for o, share in split_into[estimated]))
    when = fy.commune_deadline - dt.timedelta(days=3)
    for unit in communes:
        base = commune_values(26, unit, fy, spec)
        values = (_sum_reports([h1_values[o] for o in whole[unit.code]], base) if unit.code in merged_only
                  else base)
        if unit.code == jumped:  # 30 % more households than its predecessors had: a likely typing error
            values["total_households"] = round(values["total_households"] * 1.3)
            for prefix in ("poor", "near_poor"):
                values[f"{prefix}_rate"] = (Decimal(values[f"{prefix}_end"] * 100) / values["total_households"]
                                            ).quantize(Decimal("0.01"))
        if unit.code == estimated:  # half as many again as its predecessors' (apportioned) households
            values["total_households"] = round(estimate * 1.5)
            for prefix in ("poor", "near_poor"):
                values[f"{prefix}_rate"] = (Decimal(values[f"{prefix}_end"] * 100) / values["total_households"]
                                            ).quantize(Decimal("0.01"))
        fy_values[unit.code] = values
        _write(settings, fy, new, unit.code, values, when)
    # A commune that still uses its pre-reform code, on the new form, for the post-reform period.
    _write(settings, fy, new, RETIRED, fy_values["28858"], when, prefill_code="28858", commune_code=RETIRED,
           commune_name="Phường Phú Tân")
    summary = run_period(settings, fy.id)
    return {"settings": settings, "h1": h1_values, "fy": fy_values, "summary": summary, "whole": whole,
            "split_into": split_into, "merged_only": merged_only, "jumped": jumped, "old": old, "new": new,
            "estimated": estimated, "estimate": estimate}


def _rows(settings, sql: str, **params: Any) -> list[dict[str, Any]]:
    warehouse = Warehouse(settings.warehouse)
    with warehouse.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]
    warehouse.dispose()
    return rows


def test_pre_reform_period_rolls_up_through_districts_on_the_old_map(across):
    settings, h1 = across["settings"], across["h1"]
    units = exp.gso_units()
    for province in OLD_PROVINCES:
        row, = _rows(settings, "SELECT * FROM v_households WHERE period_id = '2025-H1' AND unit_code = :u "
                               "AND area = 'total' AND map_edition = 'pre2025'", u=province)
        mine = [c for c in h1 if units[c]["province"] == province]
        assert row["unit_level"] == "province" and row["reports"] == len(mine) == row["expected"]
        assert row["total_households"] == sum(h1[c]["total_households"] for c in mine)
        assert row["poor_end"] == sum(h1[c]["poor_end"] for c in mine)
    districts = _rows(settings, "SELECT unit_code, total_households FROM v_households WHERE period_id = '2025-H1' "
                                "AND unit_level = 'district' AND area = 'total' AND province_code = '84'")
    expected = defaultdict(int)
    for c in h1:
        if units[c]["province"] == "84":
            expected[units[c]["district"]] += h1[c]["total_households"]
    assert {r["unit_code"]: r["total_households"] for r in districts} == dict(expected)


def test_post_reform_period_rolls_up_communes_straight_into_the_new_province(across):
    settings, fy = across["settings"], across["fy"]
    row, = _rows(settings, "SELECT * FROM v_households WHERE period_id = '2025-FY' AND unit_code = '86' "
                           "AND area = 'total'")
    assert row["map_edition"] == "2025" and row["unit_name"] == "Tỉnh Vĩnh Long"
    assert row["expected"] == len(fy) == 124 and row["accepted"] == 124 and row["reporting_rate"] == 100
    for key in ("total_households", "poor_end", "near_poor_end", "poor_start", "recently_exited"):
        assert row[key] == sum(v[key] for v in fy.values()), key
    levels = _rows(settings, "SELECT DISTINCT unit_level FROM fact_households WHERE period_id = '2025-FY'")
    assert {r["unit_level"] for r in levels} == {"province", "commune"}
    over = _rows(settings, "SELECT * FROM fact_completeness WHERE reporting_rate > 100 OR on_time_rate > 100 "
                           "OR received > expected")
    assert over == []


def test_new_province_series_equals_the_three_old_provinces_exactly(across):
    settings, h1 = across["settings"], across["h1"]
    row, = _rows(settings, "SELECT * FROM v_households_series WHERE period_id = '2025-H1' AND unit_code = '86' "
                           "AND unit_level = 'province' AND area = 'total'")
    assert row["map_edition"] == "2025" and row["source_edition"] == "pre2025" and row["is_estimated"] == 0
    for key in ("total_households", "poor_end", "near_poor_end", "poor_start", "near_poor_start"):
        assert row[key] == sum(v[key] for v in h1.values()), key
    assert row["poor_rate"] == pytest.approx(sum(v["poor_end"] for v in h1.values()) * 100
                                             / sum(v["total_households"] for v in h1.values()))
    fy_row, = _rows(settings, "SELECT * FROM v_households_series WHERE period_id = '2025-FY' AND unit_code = '86' "
                              "AND unit_level = 'province' AND area = 'total'")
    assert fy_row["total_households"] == sum(v["total_households"] for v in across["fy"].values())
    # A commune made of whole old communes has an exact history; one that took part of a split one is flagged.
    merged = across["merged_only"][1]
    m, = _rows(settings, "SELECT * FROM v_households_series WHERE period_id = '2025-H1' AND unit_code = :u",
               u=merged)
    assert m["is_estimated"] == 0
    assert m["total_households"] == sum(h1[o]["total_households"] for o in across["whole"][merged])
    split = min(c for c in across["split_into"] if c in across["fy"])
    s, = _rows(settings, "SELECT * FROM v_households_series WHERE period_id = '2025-H1' AND unit_code = :u",
               u=split)
    assert s["is_estimated"] == 1


def test_a_code_of_both_editions_is_never_confused(across):
    settings, h1, fy = across["settings"], across["h1"], across["fy"]
    code = "29110"  # Thị trấn Ba Tri before the reform; Xã Ba Tri (a larger territory) since
    assert across["old"][code].name == "Thị trấn Ba Tri" and across["new"][code].name == "Xã Ba Tri"
    rows = _rows(settings, "SELECT period_id, map_edition, unit_name, total_households, district_code "
                           "FROM v_households WHERE unit_code = :c ORDER BY period_id", c=code)
    assert [(r["period_id"], r["map_edition"], r["unit_name"], r["total_households"], r["district_code"])
            for r in rows] == [("2025-FY", "2025", "Xã Ba Tri", fy[code]["total_households"], None),
                               ("2025-H1", "pre2025", "Thị trấn Ba Tri", h1[code]["total_households"], "836")]
    assert fy[code]["total_households"] != h1[code]["total_households"]
    units = _rows(settings, "SELECT map_edition, name FROM dim_unit WHERE code = :c ORDER BY map_edition", c=code)
    assert [(u["map_edition"], u["name"]) for u in units] == [("2025", "Xã Ba Tri"), ("pre2025", "Thị trấn Ba Tri")]


def test_history_check_compares_a_new_commune_with_its_predecessors(across):
    settings, jumped = across["settings"], across["jumped"]
    findings = _rows(settings, "SELECT f.check_id, f.severity, f.message, s.status FROM finding f JOIN submission s "
                               "ON s.submission_id = f.submission_id WHERE s.period_id = '2025-FY' "
                               "AND s.submitted_for = :c", c=jumped)
    assert [(f["check_id"], f["severity"], f["status"]) for f in findings] == [("TH-X-001", "warning", "accepted")]
    names = [across["old"][o].name for o in across["whole"][jumped]]
    assert "cộng các xã trước sắp xếp" in findings[0]["message"]
    assert all(name in findings[0]["message"] for name in names)
    before = sum(across["h1"][o]["total_households"] for o in across["whole"][jumped])
    assert f"{before:,}".replace(",", ".") in findings[0]["message"]
    # The other communes made of whole predecessors report the predecessors' sums: nothing to warn about.
    others = _rows(settings, "SELECT s.submitted_for FROM finding f JOIN submission s "
                             "ON s.submission_id = f.submission_id WHERE s.period_id = '2025-FY' "
                             "AND f.check_id LIKE 'TH-X-%'")
    assert {r["submitted_for"] for r in others} & set(across["merged_only"]) == {jumped}


def test_a_pre_reform_code_is_rejected_naming_the_commune_it_became_part_of(across):
    settings = across["settings"]
    findings = _rows(settings, "SELECT f.check_id, f.message, s.status, s.map_edition FROM finding f "
                               "JOIN submission s ON s.submission_id = f.submission_id "
                               "WHERE s.period_id = '2025-FY' AND s.submitted_for = :c", c=RETIRED)
    assert {f["status"] for f in findings} == {"rejected"} and {f["map_edition"] for f in findings} == {"2025"}
    retired = [f for f in findings if f["check_id"] == "TH-A-007"]
    assert len(retired) == 1
    message = retired[0]["message"]
    assert "Phường Phú Tân, Thành phố Bến Tre, Tỉnh Bến Tre" in message
    assert "Phường Phú Tân (mã 28858), Tỉnh Vĩnh Long" in message
    assert "TH-A-001" not in {f["check_id"] for f in findings}


def test_a_split_predecessor_makes_the_history_check_an_estimate(across):
    settings, code = across["settings"], across["estimated"]
    findings = _rows(settings, "SELECT f.check_id, f.message FROM finding f JOIN submission s "
                               "ON s.submission_id = f.submission_id WHERE s.period_id = '2025-FY' "
                               "AND s.submitted_for = :c AND f.check_id LIKE 'TH-X-%'", c=code)
    assert [f["check_id"] for f in findings if f["check_id"] in ("TH-X-001", "TH-X-003")] == ["TH-X-001"]
    message = findings[0]["message"]
    assert "ước tính" in message
    assert f"{round(across['estimate']):,}".replace(",", ".") in message


def test_officers_read_each_period_on_its_own_map(across):
    from zoneinfo import ZoneInfo

    from tonghop.charts import FIGURES
    from tonghop.published import load
    from tonghop.targets import Targets
    from tonghop_airflow.status_page import status_document

    settings, fy = across["settings"], across["fy"]
    warehouse = Warehouse(settings.warehouse)
    before = load(warehouse, "2025-H1", "86")  # the old Tỉnh Vĩnh Long, with its districts
    assert before.unit.name == "Tỉnh Vĩnh Long" and {c.level for c in before.children} == {"district"}
    assert {c.code for c in before.children} == {u.code for u in across["old"].at_level("district")
                                                  if u.parent_code == "86"}
    assert load(warehouse, "2025-H1", "83").unit.name == "Tỉnh Bến Tre"
    after = load(warehouse, "2025-FY", "86")
    assert after.by_area and len(after.communes) == len(fy)
    urban = [c for c in fy if across["new"][c].name.startswith("Phường")]
    rural = [c for c in fy if c not in urban]
    doc = status_document(after, ZoneInfo("Asia/Ho_Chi_Minh"))
    assert doc["grouping"] == "area"
    assert [(g["name"], g["expected"], sorted(x["code"] for x in g["communes"])) for g in doc["children"]] == [
        ("Khu vực thành thị", len(urban), sorted(urban)), ("Khu vực nông thôn", len(rural), sorted(rural))]
    ax = FIGURES["poverty_rates"](after, Targets([])).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Khu vực thành thị", "Khu vực nông thôn"]
    poor_bars = [bar.get_height() for bar in ax.containers[0]]
    assert poor_bars == pytest.approx([sum(fy[c]["poor_end"] for c in group) * 100
                                       / sum(fy[c]["total_households"] for c in group) for group in (urban, rural)])
    warehouse.dispose()


def test_a_province_map_overrides_one_edition_only(tmp_path):
    """TONGHOP_HIERARCHY='2025=<csv>' replaces the two-level map and leaves the three-level one alone."""
    from tonghop.calendar import load_calendar
    from tonghop.config import Settings

    csv_path = tmp_path / "vinh-long.csv"
    csv_path.write_text("code,name,level,parent_code,area\n86,Tỉnh Vĩnh Long,province,,\n"
                        "99001,Phường Thử,commune,86,\n99002,Xã Thử,commune,86,\n", encoding="utf-8")
    settings = Settings.from_env(home=tmp_path, hierarchy_source=f"2025={csv_path}")
    calendar = load_calendar(settings.calendar_path)
    after, before = settings.hierarchy_for(calendar.get("2026-FY")), settings.hierarchy_for(calendar.get("2024-FY"))
    assert [(u.code, u.area) for u in after.reporting_units("86")] == [("99001", "urban"), ("99002", "rural")]
    assert after.edition == "2025" and before.edition == "pre2025" and len(before.reporting_units()) == 10051
    assert settings.edition_for(calendar.get("2025-H1")).id == "pre2025"
    assert settings.edition_for(calendar.get("2025-FY")).id == "2025"


def test_a_pre_reform_scope_for_a_later_period_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    from tonghop.cli import main

    monkeypatch.setenv("TONGHOP_HOME", str(tmp_path))
    (tmp_path / "inbox").mkdir()  # an empty inbox: a missing one is an error of its own
    monkeypatch.setenv("TONGHOP_SCOPE", "83")  # Tỉnh Bến Tre: merged into Tỉnh Vĩnh Long (86) on 1 July 2025
    assert main(["run", "--period", "2026-FY", "--no-reports"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("tonghop: TONGHOP_SCOPE=83 is not a unit of map edition 2025, which period 2026-FY runs on; "
                   "its territory is now in 86 (Tỉnh Vĩnh Long)")
    monkeypatch.setenv("TONGHOP_SCOPE", "86")
    assert main(["run", "--period", "2026-FY", "--no-reports"]) == 0


def test_a_scope_per_map_edition_keeps_a_province_s_history_under_its_old_code(tmp_path):
    from tonghop.config import Settings
    from tonghop.period import PeriodContext

    settings = Settings.from_env(home=tmp_path, scope="2025=86;pre2025=83")
    before, after = PeriodContext.open(settings, "2024-FY"), PeriodContext.open(settings, "2026-FY")
    assert (before.scope, after.scope) == ("83", "86")
    assert before.hierarchy[before.scope].name == "Tỉnh Bến Tre"
    assert after.hierarchy[after.scope].name == "Tỉnh Vĩnh Long"
    assert Settings.from_env(home=tmp_path, scope="2025=86").scope_for("pre2025") is None  # the whole map
