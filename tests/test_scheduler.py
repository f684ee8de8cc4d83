"""End to end under a real scheduler: `airflow standalone` on a temporary AIRFLOW_HOME, driven through the
REST API v2 like an operator would, with a loopback SMTP server; everything it starts is stopped."""

from __future__ import annotations

import json
import socket
import time

import pytest
import yaml

from tests import expected as exp
from tests.conftest import DISTRICT, PERIOD, PROVINCE, ROOT
from tests.test_lifecycle import DISTRICT_OFFICER, Mailbox, commune_address
from tonghop.contacts import Contact, write_directory
from tonghop.inbox import LocalInbox
from tonghop.ledger import check_invariant
from tonghop.local_airflow import LocalAirflow
from tonghop.synth import SampleOptions, generate_sample, manifest_path
from tonghop.warehouse import Warehouse


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _runs(airflow: LocalAirflow, dag_id: str) -> list[dict]:
    return airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(3)
    raise TimeoutError(what)


def _calendar_up_to(path, period):
    """The project's calendar without the years after `period`'s (and without ad-hoc periods). Unpausing
    tonghop_period makes the scheduler run its latest tick as well; since the DAG's start (1 January 2025) every
    tick but 2025-H1's is a period on the two-level map, where a deployment scoped to a district of the
    three-level map (TONGHOP_SCOPE) refuses to run. With this calendar the scheduler has no tick of its own."""
    raw = yaml.safe_load((ROOT / "config" / "calendar.yaml").read_text(encoding="utf-8"))
    raw["years"]["last"], raw["adhoc"] = period.year, []
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.airflow
def test_period_under_a_real_scheduler(tmp_path, hierarchy, period):
    home = tmp_path / "tonghop"
    inbox = home / "inbox"
    generate_sample(hierarchy.reporting_units(DISTRICT), period, hierarchy, inbox,
                    SampleOptions(seed=31, error_rate=0.3, missing_rate=0.1))
    manifest = exp.load(manifest_path(inbox, PERIOD))
    contacts = tmp_path / "contacts.csv"
    write_directory(contacts, [Contact(u.code, "commune", u.name, commune_address(u.code))
                               for u in hierarchy.reporting_units(DISTRICT)]
                    + [Contact(DISTRICT, "district", "Phòng LĐTBXH", DISTRICT_OFFICER)])
    mailbox = Mailbox()
    mailbox.start()
    airflow = LocalAirflow(home=tmp_path / "airflow", port=_free_port(), password="e2e-password", extra_env={
        "TONGHOP_HOME": str(home), "TONGHOP_SCOPE": DISTRICT, "TONGHOP_CONTACTS": str(contacts),
        "TONGHOP_CALENDAR": str(_calendar_up_to(tmp_path / "calendar.yaml", period)),
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": mailbox.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "tonghop@example.gov.vn"}}),
    })
    airflow.start()
    try:
        health = airflow.wait_healthy(240)
        assert {k: v["status"] for k, v in health.items()} == {
            "metadatabase": "healthy", "scheduler": "healthy", "triggerer": "healthy", "dag_processor": "healthy"}
        _wait(lambda: {"tonghop_period", "tonghop_reports"} <= {
            d["dag_id"] for d in airflow.api("GET", "/api/v2/dags")["dags"]}, 180, "DAGs parsed")
        assert airflow.api("GET", "/api/v2/importErrors")["total_entries"] == 0
        for dag_id in ("tonghop_reports", "tonghop_period"):
            airflow.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = airflow.api("POST", "/api/v2/dags/tonghop_period/dagRuns",
                          {"logical_date": None, "conf": {"period": PERIOD}})

        def finished() -> bool:
            runs = _runs(airflow, "tonghop_period")
            ours = next(r for r in runs if r["dag_run_id"] == run["dag_run_id"])
            return ours["state"] in ("success", "failed") and all(r["state"] not in ("queued", "running")
                                                                  for r in runs)

        _wait(finished, 600, "tonghop_period runs finished")
        states = {r["dag_run_id"]: r["state"] for r in _runs(airflow, "tonghop_period")}
        assert set(states.values()) == {"success"}, states
        # The consolidation emitted the asset; the reports DAG ran on it. Each period run emits an event and
        # the scheduler may create a second reports run a moment later: wait until the runs, all finished, have
        # not changed for 15 s.
        seen = {"runs": None, "since": time.monotonic()}

        def reports_settled() -> bool:
            runs = sorted((r["dag_run_id"], r["state"]) for r in _runs(airflow, "tonghop_reports"))
            if runs != seen["runs"]:
                seen.update(runs=runs, since=time.monotonic())
            finished = bool(runs) and all(state not in ("queued", "running") for _, state in runs)
            return finished and time.monotonic() - seen["since"] >= 15

        _wait(reports_settled, 300, "tonghop_reports ran after the consolidation")
        assert {r["state"] for r in _runs(airflow, "tonghop_reports")} == {"success"}
    finally:
        airflow.stop()
        mailbox.stop()
    assert airflow.process.poll() is not None

    warehouse = Warehouse(f"sqlite:///{home / 'warehouse.sqlite'}")
    households = {r["unit_code"]: r for r in warehouse.read_table("fact_households", period_id=PERIOD, area="total")}
    for level, code in (("district", DISTRICT), ("province", PROVINCE)):
        want = exp.expected_sums(manifest, code, level)
        for key in exp.HOUSEHOLD_COUNTS:
            assert households[code][key] == want[key], (code, key)
    submissions = warehouse.read_table("submission", period_id=PERIOD)
    ledger = check_invariant([i.key for i in LocalInbox(inbox).list(PERIOD)], submissions)
    assert ledger["received"] == len(manifest["reports"])
    assert ledger["rejected"] == len(manifest["reports"]) - len(exp.accepted_reports(manifest))
    results = [(rcpts, msg) for rcpts, msg in mailbox.take() if "tình hình nộp" not in msg["Subject"]]
    assert sorted(r for rcpts, _ in results for r in rcpts if r != DISTRICT_OFFICER) == sorted(
        commune_address(r["commune_code"]) for r in manifest["reports"])
    assert (home / "runs" / PERIOD / "reports" / f"{PROVINCE}.json").is_file()
    report = json.loads((home / "runs" / PERIOD / "reports" / f"{PROVINCE}.json").read_text(encoding="utf-8"))
    assert report["completeness"]["received"] == len(manifest["reports"])
    # the officers' files of the asset-triggered DAG: the province's and the district's workbooks, the charts
    for unit in (PROVINCE, DISTRICT):
        assert (home / "runs" / PERIOD / "reports" / f"{unit}.xlsx").stat().st_size > 5_000
    charts = home / "runs" / PERIOD / "charts" / PROVINCE
    assert sorted(p.name for p in charts.glob("*.png")) == ["completeness.png", "disbursement.png", "poverty_rates.png"]
