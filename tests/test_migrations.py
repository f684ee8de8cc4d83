"""The warehouse written by the release before map editions (tests/data, revision 0001) migrates to the
current schema with every published figure, ledger row and finding unchanged, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tonghop.schema import FACT_TABLES
from tonghop.warehouse import Warehouse

DATA = Path(__file__).parent / "data" / "warehouse-release-0001.sqlite.gz"
KEPT = [*FACT_TABLES, *(f"{t}_history" for t in FACT_TABLES), "publication", "submission", "report", "finding",
        "dim_unit", "dim_period", "dim_component", "dim_indicator", "email_log", "run_log"]
NEW_COLUMNS = {"map_edition", "imported", "origin", "imported_by", "import_reason",  # 0002
               *(f"explanation_{i}_{part}" for i in (1, 2, 3) for part in ("check", "text"))}  # 0003
VIEW_KEYS = {"v_households": ("period_id", "unit_code", "area"),
             "v_reporting_completeness": ("period_id", "unit_code", "area"),
             "v_funding_disbursement": ("period_id", "unit_code", "area", "component")}


def _release_sqlite(tmp_path: Path) -> str:
    path = tmp_path / "release.sqlite"
    with gzip.open(DATA) as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return f"sqlite:///{path}"


def _snapshot(engine: sa.Engine, names: list[str]) -> dict[str, list[tuple]]:
    """Every row of every table (or view), as sorted tuples of (column, value) pairs."""
    out = {}
    with engine.connect() as conn:
        for name in names:
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            rows = [tuple(sorted(dict(r._mapping).items())) for r in conn.execute(sa.select(table))]
            out[name] = sorted(rows, key=repr)
    return out


def _without_new_columns(snapshot: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    return {name: sorted((tuple(kv for kv in row if kv[0] not in NEW_COLUMNS) for row in rows), key=repr)
            for name, rows in snapshot.items()}


def _copy_release_into(url: str, release_url: str) -> None:
    """The release's rows, loaded into a database migrated to revision 0001 (as that release left it)."""
    Warehouse(url).migrate("0001")
    source, target = sa.create_engine(release_url), sa.create_engine(url)
    with target.connect() as conn:
        md = sa.MetaData()
        md.reflect(conn, only=[*KEPT])
    with source.connect() as src, target.begin() as dst:
        for name in KEPT:
            table = md.tables[name]
            rows = [dict(r._mapping) for r in src.execute(sa.select(table))]
            if rows:
                dst.execute(table.insert(), rows)
    source.dispose()
    target.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_release_warehouse_migrates_with_every_figure_unchanged(backend, tmp_path, request):
    release = _release_sqlite(tmp_path)
    if backend == "sqlite":
        url = release
    else:
        url = request.getfixturevalue("postgres_url")
        _copy_release_into(url, release)
    engine = sa.create_engine(url)
    before = _snapshot(engine, KEPT)
    views_before = _snapshot(engine, list(VIEW_KEYS))
    assert sum(len(rows) for rows in before.values()) > 10_000  # the release's data is really there
    assert {dict(r)["period_id"] for r in before["publication"]} == {"2024-FY", "2025-H1", "2026-FY"}

    warehouse = Warehouse(url)
    warehouse.migrate()
    after = _snapshot(warehouse.engine, KEPT)
    assert _without_new_columns(after) == before
    for name in (*FACT_TABLES, "publication", "submission", "dim_unit"):
        assert {dict(r)["map_edition"] for r in after[name]} <= {"pre2025"}, name
    assert {dict(r)["origin"] for r in after["submission"]} == {"live"}
    assert {dict(r)["imported"] for r in after["fact_completeness"]} == {0}
    # The BI views give the same figures, now with the map edition beside them.
    views_after = _snapshot(warehouse.engine, list(VIEW_KEYS))
    assert _without_new_columns(views_after) == views_before
    with warehouse.engine.connect() as conn:
        editions = dict(conn.execute(sa.text("SELECT period_id, map_edition FROM dim_period "
                                             "WHERE period_id IN ('2025-H1', '2026-FY')")).all())
    assert editions == {"2025-H1": "pre2025", "2026-FY": "2025"}
    warehouse.migrate()  # idempotent
    warehouse.dispose()
    engine.dispose()


def test_republishing_a_migrated_period_keeps_its_figures(tmp_path, monkeypatch):
    """After the upgrade, consolidating a pre-reform period again (its files are gone: a clean reconsolidation
    from the warehouse's own ledger) republishes exactly the figures the release published."""
    from tonghop.config import Settings
    from tonghop.consolidate import consolidate
    from tonghop.period import PeriodContext

    url = _release_sqlite(tmp_path)
    before = _snapshot(sa.create_engine(url), ["fact_households", "fact_completeness"])
    monkeypatch.setenv("TONGHOP_SCOPE", "836")
    settings = Settings.from_env(home=tmp_path / "home", warehouse_url=url)
    ctx = PeriodContext.open(settings, "2025-H1")
    consolidate(ctx, inbox_keys=[r["source_key"] for r in ctx.warehouse.read_period_submissions("2025-H1")])
    ctx.close()
    after = _snapshot(sa.create_engine(url), ["fact_households", "fact_completeness"])

    def period_rows(snapshot: dict[str, list[tuple]], name: str) -> list[dict[str, Any]]:
        return sorted(({k: v for k, v in r if k not in NEW_COLUMNS | {"version"}} for r in snapshot[name]
                       if dict(r)["period_id"] == "2025-H1"), key=repr)

    for name in ("fact_households", "fact_completeness"):
        assert period_rows(after, name) == period_rows(before, name)
