"""Fault injection against the real servers the suite already uses: each disturbed run must end with the
warehouse, the ledger and the outbox identical to an undisturbed run of the same files."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import DISTRICT, PERIOD, PG_URL
from tests.test_storage import BUCKET, _objects, s3  # noqa: F401 - the moto server fixture
from tonghop.consolidate import consolidate
from tonghop.ingest import start_ingest
from tonghop.notify import notify
from tonghop.period import PeriodContext
from tonghop.pipeline import run_period
from tonghop.schema import LOG_TABLES, build_metadata
from tonghop.synth import SampleOptions, generate_sample

VOLATILE = {"publication": {"published_at", "run_id"}}  # when and by which run: differs by design


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every data table (logs aside), rows sorted, minus the columns that record when a run happened."""
    engine = sa.create_engine(url)
    out = {}
    with engine.connect() as conn:
        for name, table in build_metadata().tables.items():
            if name in LOG_TABLES:
                continue
            columns = [c for c in table.columns if c.name not in VOLATILE.get(name, set())]
            out[name] = sorted(tuple(str(v) for v in row) for row in conn.execute(sa.select(*columns)))
    engine.dispose()
    return out


def _admin(*statements: str) -> None:
    admin = sa.create_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    admin.dispose()


@pytest.fixture
def sample(settings, hierarchy, period):
    generate_sample(hierarchy.reporting_units(DISTRICT), period, hierarchy, settings.inbox_dir,
                    SampleOptions(seed=17, error_rate=0.3, warning_rate=0.1))
    return settings


def test_connection_dropped_during_publish(sample, postgres_url):
    """The PostgreSQL backend is killed just before the publication commits: nothing of the new version is
    visible, the previous one stays whole, and the retry publishes exactly what an undisturbed run does."""
    name = f"{sa.make_url(postgres_url).database}_ref"
    reference = f"{PG_URL}/{name}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        run_period(dataclasses.replace(sample, warehouse_url=reference), PERIOD)

        settings = dataclasses.replace(sample, warehouse_url=postgres_url)
        ctx = PeriodContext.open(settings, PERIOD)
        _, annotations = start_ingest(ctx, ctx.inbox.list(PERIOD))
        annotations.finish()
        engine = ctx.warehouse.engine  # the run's own: the stages share the context's warehouse
        killed = []

        def kill_backend(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("INSERT INTO PUBLICATION") and not killed:
                pid = conn.connection.driver_connection.info.backend_pid
                admin = sa.create_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT")
                with admin.connect() as other:
                    other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                admin.dispose()
                killed.append(pid)

        sa.event.listen(engine, "before_cursor_execute", kill_backend)
        try:
            with pytest.raises(sa.exc.OperationalError):
                consolidate(ctx)
        finally:
            sa.event.remove(engine, "before_cursor_execute", kill_backend)
        assert killed
        half = snapshot(postgres_url)
        assert half["publication"] == [] and half["fact_households"] == [] and half["fact_completeness"] == []
        ctx.close()
        retry = PeriodContext.open(settings, PERIOD)  # the retry, as Airflow's next try opens it
        consolidate(retry)
        retry.close()
        assert snapshot(postgres_url) == snapshot(reference)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_s3_errors_are_retried_and_nothing_is_lost_or_doubled(s3, settings, hierarchy, period, tmp_path,  # noqa: F811
                                                               monkeypatch):
    """One S3 call in three answers 500: boto3 retries; the result equals an undisturbed run's."""
    from botocore.awsrequest import AWSResponse

    from tonghop import storage

    inbox, outputs = f"s3://{BUCKET}/inbox", f"s3://{BUCKET}/out"
    local = tmp_path / "sample"
    generate_sample(hierarchy.reporting_units(DISTRICT), period, hierarchy, local,
                    SampleOptions(seed=19, error_rate=0.3))
    box = storage.S3Inbox(inbox)
    for path in sorted((local / PERIOD).rglob("*.xlsx")):
        box.put(path.relative_to(local).as_posix(), path.read_bytes(), period.commune_deadline.replace(day=1))
    received = _objects(s3, "inbox/")

    reference = dataclasses.replace(settings, inbox=inbox, output=f"s3://{BUCKET}/ref", trust_received_at=True,
                                    warehouse_url=f"sqlite:///{tmp_path / 'ref.sqlite'}")
    run_period(reference, PERIOD)

    class Raw:
        def stream(self):
            yield b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"

    calls, failed = [0], [0]

    def flaky(request, **kwargs):
        calls[0] += 1
        if calls[0] % 3 == 0:
            failed[0] += 1
            return AWSResponse(request.url, 500, {}, Raw())
        return None

    # Every client the run opens (inbox, outputs, each worker's own) answers 500 to one call in three; the
    # counts are this process's, the workers' faults come on top.
    real_client = storage.s3_client

    def flaky_client(*args, **kwargs):
        client = real_client(*args, **kwargs)
        client.meta.events.register("before-send.s3", flaky)
        return client

    monkeypatch.setattr(storage, "s3_client", flaky_client)
    disturbed = dataclasses.replace(reference, output=outputs, warehouse_url=f"sqlite:///{tmp_path / 'd.sqlite'}")
    run_period(disturbed, PERIOD)
    assert failed[0] > 5
    assert snapshot(disturbed.warehouse) == snapshot(reference.warehouse)
    assert _objects(s3, "inbox/") == received  # nothing deleted or rewritten
    ref_out = {k.split("/", 1)[1] for k in _objects(s3, "ref/") if "/runs/" not in k}
    new_out = {k.split("/", 1)[1] for k in _objects(s3, "out/") if "/runs/" not in k}
    assert new_out == ref_out and any("/annotated/" in k for k in new_out)


def test_smtp_outage_leaves_the_same_outbox(settings, hierarchy, period, tmp_path, monkeypatch):
    from tests.test_lifecycle import Mailbox, commune_address
    from tonghop.contacts import Contact, write_directory

    units = hierarchy.reporting_units(DISTRICT)
    contacts = tmp_path / "contacts.csv"
    write_directory(contacts, [Contact(u.code, "commune", u.name, commune_address(u.code)) for u in units])
    generate_sample(units, period, hierarchy, settings.inbox_dir, SampleOptions(seed=23, error_rate=0.3))
    settings = dataclasses.replace(settings, contacts_path=contacts, scope=DISTRICT)
    box = Mailbox()
    box.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": box.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "t@example.gov.vn", "retry_limit": 0}}))
    try:
        now = period.commune_deadline
        reference = dataclasses.replace(settings, warehouse_url=f"sqlite:///{tmp_path / 'ref.sqlite'}",
                                        output=str(tmp_path / "ref-out"))
        run_period(reference, PERIOD, now=now)
        expected = sorted((tuple(r), m["Subject"]) for r, m in box.take())
        disturbed = dataclasses.replace(settings, warehouse_url=f"sqlite:///{tmp_path / 'd.sqlite'}",
                                        output=str(tmp_path / "d-out"))
        box.stop()
        assert "error" in run_period(disturbed, PERIOD, now=now)["email"]
        box.start()
        notify(PeriodContext.open(disturbed, PERIOD), now)
        notify(PeriodContext.open(disturbed, PERIOD), now)
        assert sorted((tuple(r), m["Subject"]) for r, m in box.take()) == expected
    finally:
        box.stop()

    def outbox(url: str) -> list[tuple]:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT kind, period_id, ref, recipient, subject FROM email_log"))
            return sorted(tuple(r) for r in rows)

    assert outbox(disturbed.warehouse) == outbox(reference.warehouse) != []
    assert snapshot(disturbed.warehouse) == snapshot(reference.warehouse)


def _killed_and_rerun_equals_undisturbed(env: dict[str, str], tmp_path: Path) -> None:
    """`tonghop run` is killed (SIGKILL) after it recorded the files and before their results: the next run
    finishes them and reaches exactly the state of an uninterrupted run."""
    tonghop = str(Path(sys.executable).with_name("tonghop"))
    reference = f"sqlite:///{tmp_path / 'ref.sqlite'}"
    subprocess.run([tonghop, "run", "--period", PERIOD, "--warehouse", reference, "--output", str(tmp_path / "r")],
                   env=env, check=True, capture_output=True)

    url = f"sqlite:///{tmp_path / 'killed.sqlite'}"
    victim = subprocess.Popen([tonghop, "run", "--period", PERIOD, "--warehouse", url, "--output",
                               str(tmp_path / "k")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine = sa.create_engine(url, connect_args={"timeout": 30})
    caught = False
    deadline = time.monotonic() + 120
    while victim.poll() is None and time.monotonic() < deadline:
        try:
            with engine.connect() as conn:
                pending = conn.execute(sa.text("SELECT count(*) FROM submission WHERE status = 'received'")).scalar()
        except sa.exc.OperationalError:
            pending = 0  # the schema is not there yet
        if pending:
            victim.send_signal(signal.SIGKILL)
            caught = True
            break
        time.sleep(0.02)
    victim.wait(30)
    engine.dispose()
    assert caught, "the run finished before it could be interrupted"
    with sa.create_engine(url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM submission WHERE status = 'received'")).scalar() > 0

    subprocess.run([tonghop, "run", "--period", PERIOD, "--warehouse", url, "--output", str(tmp_path / "k")],
                   env=env, check=True, capture_output=True)
    assert snapshot(url) == snapshot(reference)


def test_run_killed_in_the_middle_of_a_batch(sample, tmp_path):
    _killed_and_rerun_equals_undisturbed({**os.environ, "TONGHOP_HOME": str(sample.home),
                                          "TONGHOP_INBOX": sample.inbox}, tmp_path)


def test_run_killed_in_the_middle_of_a_batch_with_received_times_from_the_upload_channel(s3, tmp_path):  # noqa: F811
    """The same on S3 with trusted `received-at` metadata: the rerun validates the files the killed run recorded
    with the times their upload channel wrote, not the store's (seen under Celery: a retried batch rejected
    every file as received after the period closed)."""
    env = {**os.environ, "TONGHOP_HOME": str(tmp_path / "home"), "TONGHOP_INBOX": f"s3://{BUCKET}/inbox",
           "TONGHOP_TRUST_RECEIVED_AT": "true"}
    subprocess.run([str(Path(sys.executable).with_name("tonghop")), "sample", "--period", PERIOD, "--unit",
                    DISTRICT, "--out", f"s3://{BUCKET}/inbox", "--error-rate", "0.3", "--seed", "17"],
                   env=env, check=True, capture_output=True)
    _killed_and_rerun_equals_undisturbed(env, tmp_path)
    with sa.create_engine(f"sqlite:///{tmp_path / 'killed.sqlite'}").connect() as conn:
        statuses = dict(conn.execute(sa.text("SELECT status, count(*) FROM submission GROUP BY status")).all())
    assert statuses.get("accepted", 0) > 0, statuses  # the received times were inside the period's window
