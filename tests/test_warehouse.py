"""The warehouse on SQLite and PostgreSQL: migrations, versioned atomic publication, BI views and role."""

from __future__ import annotations

import dataclasses
import os
import threading
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests import expected as exp
from tests.conftest import DISTRICT, PERIOD, PG_URL, PROVINCE, ROOT
from tonghop.pipeline import run_period
from tonghop.schema import VIEWS, build_metadata
from tonghop.synth import SampleOptions, generate_sample, manifest_path
from tonghop.warehouse import Warehouse


def test_migrations_build_exactly_the_schema(warehouse_url):
    warehouse = Warehouse(warehouse_url)
    warehouse.migrate()
    with warehouse.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "version_table": "tonghop_alembic_version"})
        assert compare_metadata(context, build_metadata()) == []
        inspector = sa.inspect(conn)
        assert set(VIEWS) <= set(inspector.get_view_names())
        for view in VIEWS:
            conn.execute(sa.text(f"SELECT * FROM {view}")).fetchall()
    warehouse.migrate()  # idempotent
    warehouse.dispose()


def test_data_dictionary_is_current_and_complete():
    from tonghop.dictionary import data_dictionary

    text = data_dictionary()
    assert (ROOT / "docs" / "data-dictionary.md").read_text(encoding="utf-8") == text, \
        "run: .venv/bin/tonghop warehouse dictionary > docs/data-dictionary.md"
    for name, table in build_metadata().tables.items():
        if not name.endswith("_history"):
            assert f"### `{name}`" in text
            for column in table.columns:
                assert column.comment, f"{name}.{column.name} has no meaning"
    for view in VIEWS:
        assert f"### `{view}`" in text
    assert "| `poverty_rank` | Rank" in text and "| `poor_rate` | Tỷ lệ hộ nghèo" in text


def _publish(settings, url, hierarchy, period):
    settings = dataclasses.replace(settings, warehouse_url=url)
    generate_sample(hierarchy.reporting_units(PROVINCE), period, hierarchy, settings.inbox_dir,
                    SampleOptions(seed=12, error_rate=0.1, missing_rate=0.1))
    run_period(settings, PERIOD)
    return settings, exp.load(manifest_path(settings.inbox_dir, PERIOD))


@pytest.fixture
def published(settings, warehouse_url, hierarchy, period):
    return _publish(settings, warehouse_url, hierarchy, period)


@pytest.fixture
def published_pg(settings, postgres_url, hierarchy, period):
    return _publish(settings, postgres_url, hierarchy, period)


def test_views_give_the_published_figures(published):
    settings, manifest = published
    warehouse = Warehouse(settings.warehouse)
    with warehouse.engine.connect() as conn:
        province = conn.execute(sa.text("SELECT * FROM v_province_summary WHERE period_id = :p AND area = 'total' "
                                        "AND unit_code = :u"), {"p": PERIOD, "u": PROVINCE}).mappings().one()
        ranking = conn.execute(sa.text("SELECT * FROM v_district_ranking WHERE period_id = :p "
                                       "ORDER BY poverty_rank"), {"p": PERIOD}).mappings().all()
        funding = conn.execute(sa.text("SELECT * FROM v_funding_disbursement WHERE period_id = :p AND unit_code = :u "
                                       "AND area = 'total' AND component = 'p2'"),
                               {"p": PERIOD, "u": PROVINCE}).mappings().one()
        findings = conn.execute(sa.text("SELECT count(*) FROM v_findings WHERE period_id = :p"),
                                {"p": PERIOD}).scalar()
    want = exp.expected_sums(manifest, PROVINCE, "province")
    assert province["unit_name"] == "Tỉnh Bến Tre" and province["poor_end"] == want["poor_end"]
    assert province["expected"] == 148 and province["is_partial"]
    # SQLite hands REAL to raw SQL; PostgreSQL NUMERIC: both are the exact 3-decimal amount.
    assert funding["component_label"].startswith("Dự án 2")
    assert Decimal(str(funding["alloc_central"])) == want["p2_alloc_central"]
    rates = [r["poor_rate"] for r in ranking]
    assert len(ranking) == 9 and rates == sorted(rates, reverse=True)
    assert next(r["poverty_rank"] for r in ranking) == 1 and ranking[0]["district_name"].startswith(("Huyện", "Thành"))
    assert findings == sum(len(r["mistakes"]) for r in manifest["reports"]) > 0


def test_publication_versions_keep_history(published, hierarchy, period):
    settings, manifest = published
    warehouse = Warehouse(settings.warehouse)
    assert [p["version"] for p in warehouse.read_table("publication", period_id=PERIOD)] == [1]
    run_period(settings, PERIOD, reprocess=True)  # same files, same figures: nothing new
    assert [p["version"] for p in warehouse.read_table("publication", period_id=PERIOD)] == [1]
    before = next(r for r in warehouse.read_table("fact_households", unit_code=DISTRICT, area="total"))

    sent = {r["commune_code"] for r in manifest["reports"]}  # the sample leaves some communes missing
    commune = next(u for u in hierarchy.reporting_units(DISTRICT) if u.code in sent)
    resend = settings.home / "resend"
    generate_sample([commune], period, hierarchy, resend, SampleOptions(seed=99, late_rate=0))
    (source,) = list(resend.rglob("*.xlsx"))
    folder = settings.inbox_dir / PERIOD / PROVINCE / commune.code
    later = max(f.stat().st_mtime for f in folder.iterdir()) + 3600  # received after the first, in the window
    target = folder / "sua-lai.xlsx"
    target.write_bytes(source.read_bytes())
    os.utime(target, (later, later))
    run_period(settings, PERIOD)
    assert [p["version"] for p in warehouse.read_table("publication", period_id=PERIOD)] == [1, 2]
    after = next(r for r in warehouse.read_table("fact_households", unit_code=DISTRICT, area="total"))
    history = [r for r in warehouse.read_table("fact_households_history", unit_code=DISTRICT, area="total")]
    assert after["version"] == 2 and after["total_households"] != before["total_households"]
    assert [(h["version"], h["total_households"]) for h in history] == [(1, before["total_households"])]


def test_a_reader_never_sees_half_a_publication(published):
    """While a new version is being written, a second connection sees the old version whole; then the new."""
    from tonghop.consolidate import consolidate
    from tonghop.period import PeriodContext

    settings, _ = published
    ctx = PeriodContext.open(settings, PERIOD)
    warehouse = ctx.warehouse  # the one the consolidation below writes through
    reader = sa.create_engine(settings.warehouse)
    query = sa.text("SELECT count(*) AS n, sum(CASE WHEN h.unit_level = 'commune' THEN 1 ELSE 0 END) AS communes, "
                    "sum(h.total_households) AS hh, min(h.version) AS lo, "
                    "max(h.version) AS hi, (SELECT count(*) FROM fact_completeness c WHERE c.period_id = :p) AS c "
                    "FROM fact_households h WHERE h.period_id = :p")

    def snapshot():
        with reader.connect() as conn:
            return dict(conn.execute(query, {"p": PERIOD}).mappings().one())

    old = snapshot()
    # Drop a commune's accepted report so the figures change, then publish while the reader looks.
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text("UPDATE submission SET error_count = 1 WHERE status = 'accepted' AND submission_id IN "
                             "(SELECT submission_id FROM submission WHERE status = 'accepted' "
                             "ORDER BY submission_id LIMIT 1)"))
    inside, resume, seen = threading.Event(), threading.Event(), {}

    def pause(conn, cursor, statement, parameters, context, executemany):
        # After every fact table was rewritten (the publication row comes last), before the commit.
        if statement.lstrip().upper().startswith("INSERT INTO PUBLICATION ") and not inside.is_set():
            inside.set()
            resume.wait(30)

    sa.event.listen(warehouse.engine, "after_cursor_execute", pause)
    worker = threading.Thread(target=lambda: seen.setdefault("summary", consolidate(ctx)))
    worker.start()
    try:
        assert inside.wait(60), "publication never reached the facts"
        during = snapshot()
    finally:
        resume.set()
        worker.join(300)
        sa.event.remove(warehouse.engine, "after_cursor_execute", pause)
    assert not worker.is_alive(), "the publication did not finish"
    new = snapshot()
    assert during == old
    # One commune row fewer; its district's and province's area rows may go too if it was the only one there.
    assert (new["lo"], new["hi"]) == (2, 2) and new["communes"] == old["communes"] - 1 and new["hh"] < old["hh"]
    assert seen["summary"]["version"] == 2
    reader.dispose()


def _role_engine(url: str, role: str) -> sa.Engine:
    return sa.create_engine(sa.make_url(url).set(username=role, password=None))


def test_bi_role_reads_views_and_nothing_else(published_pg, tonghop):
    settings, _ = published_pg
    role = f"tonghop_bi_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
    try:
        tonghop("warehouse", "grant-bi", "--role", role, "--warehouse", settings.warehouse)
        bi = _role_engine(settings.warehouse, role)
        with bi.connect() as conn:
            for view in VIEWS:
                conn.execute(sa.text(f"SELECT * FROM {view} LIMIT 1")).fetchall()
        for statement in ("SELECT * FROM report LIMIT 1", "SELECT * FROM submission LIMIT 1",
                          "SELECT * FROM fact_households LIMIT 1", "DELETE FROM fact_households",
                          "INSERT INTO dim_period (period_id) VALUES ('x')", "CREATE TABLE bi_scratch (x int)"):
            with bi.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                conn.execute(sa.text(statement))
        bi.dispose()
    finally:
        with Warehouse(settings.warehouse) as warehouse, warehouse.engine.begin() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP ROLE "{role}"'))
        admin.dispose()


def test_warehouse_through_an_airflow_connection(settings, postgres_url, monkeypatch):
    url = sa.make_url(postgres_url)
    monkeypatch.setenv("AIRFLOW_CONN_TONGHOP_WAREHOUSE", f"postgres://{url.username}@{url.host}:{url.port}/"
                                                         f"{url.database}")
    monkeypatch.setenv("TONGHOP_WAREHOUSE_CONN_ID", "tonghop_warehouse")
    from tonghop.config import Settings

    resolved = Settings.from_env().warehouse
    assert sa.make_url(resolved).drivername == "postgresql+psycopg"
    assert sa.make_url(resolved).database == url.database
    with Warehouse(resolved) as warehouse, warehouse.engine.connect() as conn:
        warehouse.migrate()
        assert conn.execute(sa.text("SELECT count(*) FROM v_households")).scalar() == 0
