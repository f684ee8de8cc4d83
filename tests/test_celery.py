"""The compose stack's CeleryExecutor deployment run on this machine (tonghop.celery_deployment): PostgreSQL for
Airflow's metadata, the Celery results and the warehouse, Redis as the broker, moto's S3 server for the inbox,
outputs and task logs, a loopback SMTP server, two Celery workers for the heavy queue and one for the default
queue, sharing no disk. One heavy worker is killed (SIGKILL) in the middle of the province's ingestion batch and
the scheduler is killed and started again while the batch has to be retried: the task is retried on the other
heavy worker, and the ledger, published figures and e-mails end as an undisturbed in-process run of the same inbox
leaves them."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from tests import expected as exp
from tests.conftest import PERIOD, PROVINCE
from tests.test_lifecycle import Mailbox, commune_address
from tests.test_scheduler import _calendar_up_to, _wait
from tonghop.celery_deployment import CeleryDeployment
from tonghop.contacts import Contact, write_directory
from tonghop.ledger import check_invariant
from tonghop.vocabulary import RECEIVED
from tonghop.warehouse import FACT_TABLES, Warehouse

PROVINCE_OFFICER = "sldtbxh.bentre@example.gov.vn"
LEDGER_COLUMNS = ("submission_id", "source_key", "sha256", "submitted_for", "received_at", "on_time", "status",
                  "duplicate_of", "error_count", "warning_count")


def _require_services() -> None:
    """PostgreSQL and Redis answer; in CI their absence fails the test instead of skipping it."""
    import redis
    import sqlalchemy as sa

    try:
        engine = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=5).ping()
    except (sa.exc.OperationalError, redis.exceptions.ConnectionError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL and Redis are required in CI: {exc}")
        pytest.skip(f"PostgreSQL or Redis unreachable: {exc}")


def _utc(value):
    """SQLite gives back naive UTC datetimes, PostgreSQL aware ones: the same instant compares equal here."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return value


def _ledger(url: str) -> dict[str, dict]:
    return {r["submission_id"]: {c: _utc(r[c]) for c in LEDGER_COLUMNS}
            for r in Warehouse(url).read_period_submissions(PERIOD)}


def _published(url: str) -> dict[str, list[dict]]:
    warehouse = Warehouse(url)
    return {t: [{k: v for k, v in r.items() if k != "version"} for r in warehouse.read_table(t, period_id=PERIOD)]
            for t in FACT_TABLES}


def _mail(messages: list) -> Counter:
    """(recipients, subject, attachment names) of each message, counted: the same e-mails, each as often."""
    return Counter((tuple(sorted(to)), m["Subject"],
                    tuple(sorted(a.get_filename() or "" for a in m.iter_attachments()))) for to, m in messages)


def _task_instances(deployment: CeleryDeployment, run_id: str) -> list[dict]:
    return deployment.airflow.api("GET", f"/api/v2/dags/tonghop_period/dagRuns/{run_id}/taskInstances")[
        "task_instances"]


def test_a_province_period_on_celery_workers_survives_a_killed_worker_and_scheduler(tmp_path, hierarchy, period):
    _require_services()
    communes = hierarchy.reporting_units(PROVINCE)
    contacts = tmp_path / "contacts.csv"
    write_directory(contacts, [Contact(u.code, "commune", u.name, commune_address(u.code)) for u in communes]
                    + [Contact(PROVINCE, "province", "Sở LĐTBXH Bến Tre", PROVINCE_OFFICER)])
    mailbox = Mailbox()
    mailbox.start()
    deployment = CeleryDeployment(root=tmp_path / "celery", smtp=("127.0.0.1", mailbox.port), extra_env={
        "TONGHOP_SCOPE": PROVINCE, "TONGHOP_CONTACTS": str(contacts),
        "TONGHOP_CALENDAR": str(_calendar_up_to(tmp_path / "calendar.yaml", period)),
        # `tonghop sample` stands for the upload channel, which writes each file's `received-at` itself.
        "TONGHOP_TRUST_RECEIVED_AT": "true",
        # Found dead within half a minute instead of five (the compose default). A restarted scheduler looks only
        # at the tasks it adopted from the one before, which it does every orphaned_tasks_check_interval (300 s).
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "30",
    })
    tonghop = str(Path(sys.executable).with_name("tonghop"))
    try:
        deployment.start()
        worker_env = deployment.processes["worker-1"].env
        inbox = f"s3://{deployment.bucket}/inbox"
        subprocess.run([tonghop, "sample", "--period", PERIOD, "--unit", PROVINCE, "--out", inbox, "--seed", "23",
                        "--error-rate", "0.15", "--warning-rate", "0.1", "--missing-rate", "0.05",
                        "--late-rate", "0.1"], env={**worker_env, "TONGHOP_HOME": str(tmp_path / "sample")},
                       check=True, capture_output=True)
        manifest = json.loads(deployment.s3_client().get_object(
            Bucket=deployment.bucket, Key=f"inbox/manifest-{PERIOD}.json")["Body"].read(), parse_float=Decimal)

        health = deployment.wait_healthy(300)
        assert {k: v["status"] for k, v in health.items()} == {
            "metadatabase": "healthy", "scheduler": "healthy", "triggerer": "healthy", "dag_processor": "healthy"}
        airflow = deployment.airflow
        _wait(lambda: {"tonghop_period", "tonghop_reports"} <= {
            d["dag_id"] for d in airflow.api("GET", "/api/v2/dags")["dags"]}, 240, "DAGs parsed")
        # Unpaused, the scheduler runs the latest tick of this calendar, which ends with the period's year: the
        # consolidation of PERIOD, as on the day after its deadline.
        for dag_id in ("tonghop_reports", "tonghop_period"):
            airflow.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run_id = _wait(lambda: next((r["dag_run_id"] for r in airflow.api(
            "GET", "/api/v2/dags/tonghop_period/dagRuns")["dag_runs"]), None), 180, "the scheduled run")

        def ingesting() -> dict | None:
            for ti in _task_instances(deployment, run_id):
                if ti["task_id"] == "ingest_batch" and ti["state"] == "running" and ti.get("hostname"):
                    return ti
            return None

        ti = _wait(ingesting, 300, "the ingestion batch running on a worker")
        victim = ti["hostname"]
        assert victim in {"worker-1", "worker-2"}, ti
        # Killed in the middle of the batch: its files are in the ledger as received, not processed yet.
        ledger = Warehouse(deployment.warehouse_url)
        deadline = time.monotonic() + 120
        while not any(r["status"] == RECEIVED for r in ledger.read_period_submissions(PERIOD)):
            assert time.monotonic() < deadline, "the batch never recorded its arrivals"
            time.sleep(0.2)
        deployment.processes[victim].kill()  # the worker and all it runs, as when its container dies
        ledger.dispose()
        survivor = ({"worker-1", "worker-2"} - {victim}).pop()
        # The scheduler dies too before it has noticed (a host restart, a redeploy) and comes back.
        time.sleep(5)
        deployment.processes["scheduler"].kill()
        deployment.processes["scheduler"].start()

        def finished() -> dict | None:
            run = airflow.api("GET", f"/api/v2/dags/tonghop_period/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        run = _wait(finished, 900, "tonghop_period finished after the worker was killed")
        assert run["state"] == "success", run
        tis = {(t["task_id"], t["map_index"]): t for t in _task_instances(deployment, run_id)}
        batch = next(t for (task, _), t in tis.items() if task == "ingest_batch")
        assert batch["try_number"] >= 2 and batch["hostname"] == survivor, batch
        # Reading and rolling up ran on the heavy queue's workers, everything else on the light one.
        heavy = {"ingest_batch", "consolidate"}
        assert {(t["task_id"] in heavy, t["queue"], t["hostname"] in {"worker-1", "worker-2"})
                for t in tis.values()} == {(True, "heavy", True), (False, "default", False)}, tis
        assert {t["hostname"] for t in tis.values() if t["task_id"] not in heavy} == {"light-1"}

        # Every task's log is read from S3 through the REST API once no worker that wrote one is left: the heavy
        # worker that ran the retried batch and the consolidation dies as the first one did (SIGKILL, everything it
        # runs with it; the killed attempt itself never finished, so it left no log to read), the light one stops.
        # A task's log is uploaded after its state is reported, and the local copy deleted then: the worker dies
        # once its uploads are done (killed in between, the last task's log would be lost with it).
        _wait(lambda: not any((deployment.processes[survivor].home / "logs").rglob("*.log")), 120,
              "the heavy worker's log uploads")
        deployment.processes[survivor].kill()
        deployment.processes["light-1"].signal(signal.SIGTERM)
        deployment.processes["light-1"].popen.wait(60)
        for t in tis.values():
            if t["state"] != "success":
                continue
            log = airflow.api("GET", f"/api/v2/dags/tonghop_period/dagRuns/{run_id}/taskInstances/"
                                     f"{t['task_id']}/logs/{t['try_number']}?map_index={t['map_index']}")
            events = [str(line.get("event", "")) for line in log["content"]]
            assert any(e.startswith(f"s3://{deployment.bucket}/logs/") for e in events), (t["task_id"], events)
            assert "::group::Pre Execute" in events and "::group::Post Execute" in events, (t["task_id"], events)

        # The e-mails of the run, once no more arrive for 15 s.
        seen = {"count": -1, "since": time.monotonic()}

        def settled() -> bool:
            if len(mailbox.messages) != seen["count"]:
                seen.update(count=len(mailbox.messages), since=time.monotonic())
            return seen["count"] > 0 and time.monotonic() - seen["since"] >= 15

        _wait(settled, 300, "the e-mails of the run")
        run_mail = _mail(mailbox.take())

        # The undisturbed run: in process, on the same S3 inbox, its own warehouse and outputs, standing for the
        # same moment as the DAG run (its logical date), so the same e-mails are due.
        reference_url = f"sqlite:///{tmp_path / 'reference.sqlite'}"
        done = subprocess.run(
            [tonghop, "run", "--period", PERIOD, "--no-reports", "--warehouse", reference_url, "--inbox", inbox,
             "--at", run["logical_date"]],
            env={**worker_env, "TONGHOP_HOME": str(tmp_path / "reference"), "TONGHOP_WAREHOUSE_CONN_ID": "",
                 "TONGHOP_OUTPUT": f"s3://{deployment.bucket}/reference"},
            capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        reference_mail = _mail(mailbox.take())

        # Nothing lost, nothing twice: the same ledger, figures and e-mails as the undisturbed run.
        warehouse_url = deployment.warehouse_url
        ledger_rows, reference_rows = _ledger(warehouse_url), _ledger(reference_url)
        assert ledger_rows.keys() == reference_rows.keys()
        differences = {sid: {c: (row[c], reference_rows[sid][c]) for c in row if row[c] != reference_rows[sid][c]}
                       for sid, row in ledger_rows.items() if row != reference_rows[sid]}
        assert differences == {}
        statuses = Counter(r["status"] for r in ledger_rows.values())
        assert statuses["accepted"] > 0 and statuses["rejected"] > 0 and set(statuses) <= {"accepted", "rejected"}
        assert len(ledger_rows) == len(manifest["reports"])
        inbox_keys = [o["Key"].removeprefix("inbox/") for o in deployment.s3_client().list_objects_v2(
            Bucket=deployment.bucket, Prefix=f"inbox/{PERIOD}/")["Contents"]]
        check_invariant(inbox_keys, Warehouse(warehouse_url).read_period_submissions(PERIOD))
        assert _published(warehouse_url) == _published(reference_url)
        households = {r["unit_code"]: r for r in Warehouse(warehouse_url).read_table(
            "fact_households", period_id=PERIOD, area="total", unit_level="province")}
        want = exp.expected_sums(manifest, PROVINCE, "province")  # the generator's values, accepted reports only
        for key in exp.HOUSEHOLD_COUNTS:
            assert households[PROVINCE][key] == want[key], key
        assert 0 < households[PROVINCE]["reports"] < len(communes)
        assert reference_mail, "the undisturbed run sent e-mails"
        only_run, only_reference = run_mail - reference_mail, reference_mail - run_mail
        (tmp_path / "mail-differences.json").write_text(json.dumps(
            {"only_run": [list(k) for k in only_run], "only_reference": [list(k) for k in only_reference]},
            ensure_ascii=False, indent=1), encoding="utf-8")
        assert run_mail == reference_mail, (len(only_run), len(only_reference))
    finally:
        deployment.stop()
        mailbox.stop()
    assert deployment.alive() == [], "every process the deployment started has ended"
