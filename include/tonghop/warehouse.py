"""The warehouse, through SQLAlchemy Core: any SQLAlchemy URL (SQLite file by default, PostgreSQL in
production). The schema is tonghop.schema, created and migrated with Alembic (include/tonghop/migrations).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import exc as sa_exc

from tonghop.rollup import records
from tonghop.schema import FACT_TABLES, LOG_TABLES, VIEWS, build_metadata

__all__ = ["FACT_TABLES", "LOG_TABLES", "VIEWS", "build_metadata"]
MIGRATIONS = Path(__file__).with_name("migrations")

# SQLite stores NUMERIC as REAL; amounts have at most 3 decimals and stay far below 15 significant
# digits, and SQLAlchemy rounds them back to the column's scale, so the round trip is exact.
warnings.filterwarnings("ignore", message=r"Dialect sqlite\+pysqlite does \*not\* support Decimal",
                        category=sa_exc.SAWarning)


@functools.cache
def engine_for(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        # Mapped tasks write concurrently: wait for the lock instead of failing; WAL lets readers (BI,
        # the report command) read the last published version while a period is being published.
        engine = sa.create_engine(url, connect_args={"timeout": 120})

        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_connection, _record) -> None:
            if url not in ("sqlite://", "sqlite:///:memory:"):
                dbapi_connection.execute("PRAGMA journal_mode=WAL")
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    return engine


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the warehouse schema to `revision` with the project's Alembic migrations."""
    if engine.dialect.name == "sqlite" and engine.url.database:
        Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # parallel tasks may start on a fresh warehouse together
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7361626)"))
        command.upgrade(alembic_config(conn), revision)


def grant_bi_role(engine: sa.Engine, role: str) -> None:
    """Let `role` (an existing PostgreSQL role) read the BI views and nothing else.

    Views run with their owner's rights, so the role needs no right on the tables behind them."""
    if not role.replace("_", "").isalnum():
        raise ValueError(f"role name {role!r}: letters, digits and _ only")
    with engine.begin() as conn:
        conn.execute(sa.text(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"'))
        conn.execute(sa.text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        for view in VIEWS:
            conn.execute(sa.text(f'GRANT SELECT ON {view} TO "{role}"'))


_migrated: set[str] = set()


def ensure_schema(engine: sa.Engine) -> sa.MetaData:
    """The schema's metadata, after migrating the warehouse once per process."""
    key = engine.url.render_as_string(hide_password=False)
    if key not in _migrated:
        migrate(engine)
        _migrated.add(key)
    return build_metadata()


def _insert(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(table.insert(), list(rows))


def register_files(engine: sa.Engine, submissions: Sequence[Mapping[str, Any]]) -> None:
    """Record newly arrived files (status `received`, or `duplicate`) before anything else happens to them."""
    md = ensure_schema(engine)
    table = md.tables["submission"]
    ids = [s["submission_id"] for s in submissions]
    with engine.begin() as conn:
        known = set()
        for chunk in _chunks(ids, 500):
            known |= set(conn.execute(sa.select(table.c.submission_id)
                                      .where(table.c.submission_id.in_(chunk))).scalars())
        _insert(conn, table, [s for s in submissions if s["submission_id"] not in known])


def record_results(engine: sa.Engine, outcomes: Sequence[Mapping[str, Any]], reports: Sequence[Mapping[str, Any]],
                   findings: Sequence[Mapping[str, Any]]) -> None:
    """Store the outcome of processing files: their status and counts, parsed values and findings (replacing
    any earlier processing of the same files), in one transaction."""
    md = ensure_schema(engine)
    submission = md.tables["submission"]
    ids = [o["submission_id"] for o in outcomes]
    with engine.begin() as conn:
        for name in ("finding", "report"):
            table = md.tables[name]
            for chunk in _chunks(ids, 500):
                conn.execute(table.delete().where(table.c.submission_id.in_(chunk)))
        if outcomes:
            columns = [c for c in outcomes[0] if c != "submission_id"]
            conn.execute(submission.update().where(submission.c.submission_id == sa.bindparam("_id"))
                         .values({c: sa.bindparam(c) for c in columns}),
                         [{**{c: o[c] for c in columns}, "_id": o["submission_id"]} for o in outcomes])
        _insert(conn, md.tables["report"], reports)
        _insert(conn, md.tables["finding"], findings)


def record_annotations(engine: sa.Engine, paths: Mapping[str, str]) -> None:
    """Where each annotated workbook was written (relative to the outputs)."""
    if not paths:
        return
    table = ensure_schema(engine).tables["submission"]
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.submission_id == sa.bindparam("_id"))
                     .values(annotated_path=sa.bindparam("_path")),
                     [{"_id": sid, "_path": path} for sid, path in paths.items()])


def log_run(engine: sa.Engine, run_id: str, stage: str, period_id: str, files: int, detail: str = "",
            at: dt.datetime | None = None) -> None:
    """Record a finished run stage (`at`: the run's logical time; now by default)."""
    md = ensure_schema(engine)
    table = md.tables["run_log"]
    with engine.begin() as conn:
        conn.execute(table.delete().where(table.c.run_id == run_id, table.c.stage == stage))
        conn.execute(table.insert().values(run_id=run_id, stage=stage, period_id=period_id, files=files,
                                           detail=detail, finished_at=at or dt.datetime.now(dt.UTC)))


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def content_hash(facts: Mapping[str, pd.DataFrame]) -> str:
    """A fingerprint of a period's figures: equal figures, equal hash (whatever the row order)."""
    digest = hashlib.sha256()
    for name in sorted(facts):
        frame = facts[name]
        if frame.empty:
            continue
        keys = [c for c in ("unit_code", "area", "indicator", "component") if c in frame.columns]
        ordered = frame[sorted(frame.columns)].sort_values(keys).reset_index(drop=True)
        digest.update(name.encode())
        digest.update(ordered.to_csv(index=False).encode())
    return digest.hexdigest()


def insert_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany elsewhere."""
    if frame.empty:
        return
    columns = [c.name for c in table.columns if c.name in frame.columns]
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        clean = frame[columns].astype(object).where(frame[columns].notna(), None)
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f'COPY {table.name} ({", ".join(columns)}) FROM STDIN') as copy:
            for row in clean.itertuples(index=False, name=None):
                copy.write_row(row)
        return
    conn.execute(table.insert(), records(frame[columns]))


@dataclass(frozen=True)
class Publication:
    period_id: str
    version: int
    changed: bool


def publish_period(engine: sa.Engine, period_id: str, facts: Mapping[str, pd.DataFrame],
                   statuses: Mapping[str, str], reference: Mapping[str, Sequence[Mapping[str, Any]]],
                   run_id: str, now: dt.datetime | None = None) -> Publication:
    """Publish a period's figures in one transaction: readers see the old version or the new, never half.

    When the figures differ from the latest version, that version's rows move to the *_history tables and a
    new version is recorded in `publication`; identical figures publish nothing new. `reference` replaces the
    dimension tables (dim_unit, dim_period, dim_component, dim_indicator)."""
    md = ensure_schema(engine)
    submission, publication = md.tables["submission"], md.tables["publication"]
    digest = content_hash(facts)
    with engine.begin() as conn:
        for status in sorted(set(statuses.values())):
            ids = [sid for sid, st in statuses.items() if st == status]
            for chunk in _chunks(ids, 500):
                conn.execute(submission.update().where(submission.c.submission_id.in_(chunk))
                             .values(status=status))
        latest = conn.execute(sa.select(publication.c.version, publication.c.content_sha256)
                              .where(publication.c.period_id == period_id)
                              .order_by(publication.c.version.desc()).limit(1)).first()
        changed = latest is None or latest.content_sha256 != digest
        version = (latest.version if latest else 0) + (1 if changed else 0)
        if changed:
            for name in FACT_TABLES:
                table, history = md.tables[name], md.tables[f"{name}_history"]
                current = table.c.period_id == period_id
                conn.execute(history.insert().from_select([c.name for c in table.columns],
                                                          sa.select(table).where(current)))
                conn.execute(table.delete().where(current))
                frame = facts.get(name, pd.DataFrame())
                insert_frame(conn, table, frame.assign(version=version) if not frame.empty else frame)
            households = facts.get("fact_households", pd.DataFrame())
            accepted = int((households["unit_level"] == "commune").sum()) if not households.empty else 0
            conn.execute(publication.insert().values(period_id=period_id, version=version, run_id=run_id,
                                                     content_sha256=digest, accepted_reports=accepted,
                                                     published_at=now or dt.datetime.now(dt.UTC)))
        for name, rows in reference.items():
            conn.execute(md.tables[name].delete())
            _insert(conn, md.tables[name], rows)
    return Publication(period_id, version, changed)


def read_period_submissions(engine: sa.Engine, period_id: str) -> list[dict[str, Any]]:
    md = ensure_schema(engine)
    t = md.tables["submission"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(t.c.period_id == period_id).order_by(t.c.submission_id))
        return [dict(r._mapping) for r in rows]


def read_reports(engine: sa.Engine, submission_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    md = ensure_schema(engine)
    t = md.tables["report"]
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for chunk in _chunks(list(submission_ids), 500):
            for r in conn.execute(sa.select(t).where(t.c.submission_id.in_(chunk))):
                row = dict(r._mapping)
                out[row.pop("submission_id")] = row
    return out


def read_accepted_reports(engine: sa.Engine, period_id: str, communes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """commune → values of its accepted report in a period (as published by that period's consolidation)."""
    md = ensure_schema(engine)
    submission, report = md.tables["submission"], md.tables["report"]
    out: dict[str, dict[str, Any]] = {}
    query = (sa.select(submission.c.submitted_for, report)
             .join(report, report.c.submission_id == submission.c.submission_id)
             .where(submission.c.period_id == period_id, submission.c.status == "accepted"))
    with engine.connect() as conn:
        for chunk in _chunks(list(communes), 500):
            for r in conn.execute(query.where(submission.c.submitted_for.in_(chunk))):
                row = dict(r._mapping)
                out[row.pop("submitted_for")] = row
    return out


def read_findings(engine: sa.Engine, submission_id: str) -> list[dict[str, Any]]:
    md = ensure_schema(engine)
    t = md.tables["finding"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(t.c.submission_id == submission_id).order_by(t.c.seq))
        return [dict(r._mapping) for r in rows]


def read_table(engine: sa.Engine, name: str, **where: Any) -> list[dict[str, Any]]:
    md = ensure_schema(engine)
    t = md.tables[name]
    query = sa.select(t)
    for column, value in where.items():
        query = query.where(t.c[column] == value)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query.order_by(*t.primary_key.columns))]
