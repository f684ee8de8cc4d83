"""The in-process pipeline (`tonghop run`) against SQLite and PostgreSQL warehouses."""

from __future__ import annotations

import dataclasses
import os
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests import expected as exp
from tests.conftest import DISTRICT, PERIOD, PROVINCE
from tonghop.pipeline import run_period
from tonghop.schema import LOG_TABLES, build_metadata
from tonghop.synth import SampleOptions, generate_sample, manifest_path
from tonghop.warehouse import Warehouse


@pytest.fixture
def district_sample(settings, hierarchy, period):
    options = SampleOptions(seed=7, error_rate=0.35, warning_rate=0.2, late_rate=0.25, missing_rate=0.1)
    reports = generate_sample(hierarchy.reporting_units(DISTRICT), period, hierarchy, settings.inbox_dir, options)
    manifest = exp.load(manifest_path(settings.inbox_dir, PERIOD))
    # The sample must exercise every outcome, or the assertions below would prove little.
    assert any(r.has_error for r in reports) and any(not r.has_error for r in reports)
    assert any(r.mistakes and not r.has_error for r in reports)  # accepted with warnings: flagged, summed
    assert len(reports) < len(hierarchy.reporting_units(DISTRICT))
    return manifest


def _fact(rows, **key):
    matches = [r for r in rows if all(r[k] == v for k, v in key.items())]
    assert len(matches) == 1, key
    return matches[0]


def test_published_figures_equal_independent_sums(settings, warehouse_url, district_sample, period):
    settings = dataclasses.replace(settings, warehouse_url=warehouse_url)
    run_period(settings, PERIOD)
    warehouse = Warehouse(warehouse_url)
    households = warehouse.read_table("fact_households", period_id=PERIOD)
    funding = warehouse.read_table("fact_funding", period_id=PERIOD)
    completeness = warehouse.read_table("fact_completeness", period_id=PERIOD)
    for level, code in (("district", DISTRICT), ("province", PROVINCE)):
        for area in ("total", "urban", "rural"):
            want = exp.expected_sums(district_sample, code, level, area)
            if want["reports"] == 0:
                assert not [r for r in households if r["unit_code"] == code and r["area"] == area]
                continue
            got = _fact(households, unit_code=code, area=area)
            assert got["reports"] == want["reports"]
            assert got["reports_with_warnings"] == want["reports_with_warnings"]
            for key in exp.HOUSEHOLD_COUNTS:
                assert got[key] == want[key], (code, area, key)
            assert got["poor_rate"] == pytest.approx(want["poor_end"] / want["total_households"] * 100, abs=1e-9)
            assert got["near_poor_rate"] == pytest.approx(
                want["near_poor_end"] / want["total_households"] * 100, abs=1e-9)
            for component in exp.COMPONENTS:
                row = _fact(funding, unit_code=code, area=area, component=component)
                for money in exp.MONEY:
                    assert row[money] == want[f"{component}_{money}"], (code, area, component, money)
                    assert isinstance(row[money], Decimal)
            total = _fact(funding, unit_code=code, area=area, component="total")
            available = sum(want[f"{c}_{m}"] for c in exp.COMPONENTS for m in exp.MONEY if not m.startswith("disb"))
            disbursed = sum(want[f"{c}_{m}"] for c in exp.COMPONENTS for m in exp.MONEY if m.startswith("disb"))
            assert total["disbursement_rate"] == pytest.approx(float(disbursed / available * 100), rel=1e-12)
        want_c = exp.expected_completeness(district_sample, code, level, period.commune_deadline)
        got_c = _fact(completeness, unit_code=code, area="total")
        for key, value in want_c.items():
            assert got_c[key] == value, (code, key)
        assert got_c["missing"] == want_c["expected"] - want_c["received"]
        assert got_c["reporting_rate"] == pytest.approx(want_c["received"] / want_c["expected"] * 100)
        assert got_c["on_time_rate"] == pytest.approx(want_c["on_time"] / want_c["expected"] * 100)
        assert got_c["is_partial"] is True
    # Province completeness counts every Bến Tre commune, district by district.
    assert _fact(completeness, unit_code=PROVINCE, area="total")["expected"] == sum(
        1 for info in exp.gso_units().values() if info["province"] == PROVINCE)


def test_rejected_reports_are_left_out_and_recorded(settings, district_sample):
    run_period(settings, PERIOD)
    warehouse = Warehouse(settings.warehouse)
    submissions = {s["submitted_for"]: s for s in warehouse.read_table("submission", period_id=PERIOD)}
    findings = warehouse.read_table("finding")
    for report in district_sample["reports"]:
        errors = [m for m in report["mistakes"] if m["severity"] == "error"]
        row = submissions[report["commune_code"]]
        assert row["status"] == ("rejected" if errors else "accepted"), report["commune_code"]
        own = {f["check_id"] for f in findings if f["submission_id"] == row["submission_id"]}
        for mistake in report["mistakes"]:
            assert mistake["check_id"] in own, (report["commune_code"], mistake)
    commune_facts = {r["unit_code"] for r in warehouse.read_table("fact_households", unit_level="commune")}
    assert commune_facts == set(exp.accepted_reports(district_sample))


def _dump(url: str) -> dict[str, list[tuple]]:
    md = build_metadata()
    with Warehouse(url) as warehouse, warehouse.engine.connect() as conn:
        return {name: sorted(tuple(r) for r in conn.execute(sa.select(table)))
                for name, table in md.tables.items()}


def test_rerunning_a_period_leaves_the_same_warehouse(settings, warehouse_url, district_sample):
    """Incremental re-run and full reprocessing both leave the data identical; only the run log grows."""
    settings = dataclasses.replace(settings, warehouse_url=warehouse_url)
    run_period(settings, PERIOD)
    first = _dump(warehouse_url)
    assert run_period(settings, PERIOD)["ingest"]["new"] == 0
    second = _dump(warehouse_url)
    run_period(settings, PERIOD, reprocess=True)
    third = _dump(warehouse_url)
    data = [name for name in first if name not in LOG_TABLES]
    assert {n: first[n] for n in data} == {n: second[n] for n in data} == {n: third[n] for n in data}
    assert (len(first["run_log"]), len(second["run_log"]), len(third["run_log"])) == (1, 2, 3)
    assert len(first["submission"]) == len(district_sample["reports"])
    assert first["fact_households"], "nothing was published"


def test_newest_accepted_resubmission_replaces_the_older(settings, hierarchy, period):
    commune = hierarchy.reporting_units(DISTRICT)[3].code
    clean = SampleOptions(seed=3, late_rate=0.0)
    generate_sample([hierarchy[commune]], period, hierarchy, settings.inbox_dir, clean)
    first = exp.load(manifest_path(settings.inbox_dir, PERIOD))["reports"][0]
    # The commune sends a corrected file later: a different seed gives different, still consistent figures.
    resend = settings.home / "resend"
    generate_sample([hierarchy[commune]], period, hierarchy, resend, dataclasses.replace(clean, seed=4))
    second = exp.load(manifest_path(resend, PERIOD))["reports"][0]
    source = resend / second["path"]
    target = settings.inbox_dir / second["path"].replace(".xlsx", "-sua-lan-2.xlsx")
    target.write_bytes(source.read_bytes())
    later = os.stat(settings.inbox_dir / first["path"]).st_mtime + 3600
    os.utime(target, (later, later))
    assert second["values"]["total_households"] != first["values"]["total_households"]

    run_period(settings, PERIOD)
    warehouse = Warehouse(settings.warehouse)
    statuses = {s["source_key"]: s["status"] for s in warehouse.read_table("submission", period_id=PERIOD)}
    assert statuses == {first["path"]: "superseded", target.relative_to(settings.inbox_dir).as_posix(): "accepted"}
    district = _fact(warehouse.read_table("fact_households", period_id=PERIOD), unit_code=DISTRICT, area="total")
    assert district["total_households"] == second["values"]["total_households"]
    completeness = _fact(warehouse.read_table("fact_completeness", period_id=PERIOD), unit_code=commune, area="total")
    assert (completeness["received"], completeness["accepted"]) == (1, 1)


def test_money_stays_exact_over_thousands_of_rows(warehouse_url, hierarchy, period):
    """466.25 summed 4,000 times is 1,865,000.00 exactly, through the warehouse and back."""
    from tonghop.rollup import CommuneStatus, rollup
    from tonghop.spec import load_spec
    from tonghop.synth import commune_values

    spec = load_spec()
    communes = [u for u in hierarchy.reporting_units() if u.area == "rural"][:4000]
    accepted = {}
    for unit in communes:
        values = commune_values(1, unit, period, spec)
        values["p2_alloc_central"] = Decimal("466.25")
        values["p2_disb_local"] = Decimal("0.001")
        accepted[unit.code] = values
    facts = rollup(spec, hierarchy, period, accepted,
                   [CommuneStatus(u.code, True, True, False, True) for u in communes])
    from tonghop.warehouse import frame_records

    warehouse = Warehouse(warehouse_url)
    with warehouse.engine.begin() as conn:
        conn.execute(warehouse.tables["fact_funding"].insert(), frame_records(facts["fact_funding"].assign(version=1)))
    rows = [r for r in warehouse.read_table("fact_funding", period_id=PERIOD, component="p2", area="total")
            if r["unit_level"] == "province"]
    assert sum(r["alloc_central"] for r in rows) == Decimal("1865000.00")
    assert sum(r["disb_local"] for r in rows) == Decimal("4.000")
    assert all(isinstance(r["alloc_central"], Decimal) for r in rows)
