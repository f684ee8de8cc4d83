"""The warehouse, through SQLAlchemy Core: any SQLAlchemy URL, a SQLite file by default.

Tables (all keyed by period where they hold period data):
- dim_unit, dim_period                      reference data as used by the last consolidation
- submission, report, finding               every received file, its parsed values, what is wrong with it
- fact_households, fact_deprivations, fact_funding, fact_outputs, fact_completeness
                                            consolidated figures per period x unit x area
Columns named after template fields come from the template spec, so the spec stays the one source.
"""

from __future__ import annotations

import datetime as dt
import functools
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from tonghop.spec import TemplateSpec, load_spec

AMOUNT = sa.Numeric(18, 3)
RATE = sa.Float()  # recomputed ratios, full precision
_FIELD_TYPES = {
    "count": sa.BigInteger(),
    "amount": AMOUNT,
    "rate": sa.Numeric(9, 4),
    "yesno": sa.Boolean(),
    "date": sa.Date(),
}

# SQLite stores NUMERIC as REAL; amounts have at most 3 decimals and stay far below 15 significant
# digits, and SQLAlchemy rounds them back to the column's scale, so the round trip is exact.
warnings.filterwarnings("ignore", message=r"Dialect sqlite\+pysqlite does \*not\* support Decimal",
                        category=sa_exc.SAWarning)


def _fact_keys() -> list[sa.Column]:
    return [
        sa.Column("period_id", sa.String(32), primary_key=True),
        sa.Column("unit_code", sa.String(16), primary_key=True),
        sa.Column("area", sa.String(8), primary_key=True),  # total / urban / rural
        sa.Column("unit_level", sa.String(16), nullable=False),
    ]


@functools.cache
def build_metadata(spec: TemplateSpec | None = None) -> sa.MetaData:
    spec = spec or load_spec()
    md = sa.MetaData()
    sa.Table(
        "dim_unit", md,
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("parent_code", sa.String(16)),
        sa.Column("province_code", sa.String(16)),
        sa.Column("district_code", sa.String(16)),
        sa.Column("area", sa.String(8)),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_to", sa.Date),
    )
    sa.Table(
        "dim_period", md,
        sa.Column("period_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("commune_deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("district_deadline", sa.DateTime(timezone=True)),
        sa.Column("province_deadline", sa.DateTime(timezone=True)),
    )
    sa.Table(
        "submission", md,
        sa.Column("submission_id", sa.String(40), primary_key=True),
        sa.Column("period_id", sa.String(32), nullable=False, index=True),
        sa.Column("submitted_for", sa.String(16), index=True),
        sa.Column("province_code", sa.String(16)),
        sa.Column("source_key", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("source_version", sa.String(64), nullable=False, comment="file mtime or object ETag when recorded"),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("on_time", sa.Boolean, nullable=False),
        # received (recorded, not yet processed) → accepted / rejected / superseded; duplicate for a
        # byte-identical re-send of a file the same commune already sent for the period.
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("duplicate_of", sa.String(40)),
        sa.Column("error_count", sa.Integer, nullable=False),
        sa.Column("warning_count", sa.Integer, nullable=False),
        sa.Column("annotated_path", sa.Text, comment="annotated workbook, relative to the output folder"),
    )
    report_columns = [sa.Column("submission_id", sa.String(40), primary_key=True)]
    for f in spec.fields:
        report_columns.append(sa.Column(f.key, _FIELD_TYPES.get(f.type, sa.Text()), comment=f.label))
    sa.Table("report", md, *report_columns)
    sa.Table(
        "finding", md,
        sa.Column("submission_id", sa.String(40), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("check_id", sa.String(16), nullable=False, index=True),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("sheet", sa.Text),
        sa.Column("cell", sa.Text),
        sa.Column("field_key", sa.String(64)),
        sa.Column("label", sa.Text),
        sa.Column("value", sa.Text),
        sa.Column("expected", sa.Text),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("commune_code", sa.String(16)),
        sa.Column("file_name", sa.Text),
    )
    sa.Table(
        "email_log", md,
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("period_id", sa.String(32), primary_key=True),
        sa.Column("ref", sa.String(64), primary_key=True, comment="submission id, commune or district code"),
        sa.Column("recipient", sa.String(254), primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Table(
        "run_log", md,
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("stage", sa.String(16), primary_key=True),  # ingest / consolidate
        sa.Column("period_id", sa.String(32), nullable=False, index=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("detail", sa.Text),
    )
    households = [f for f in spec.fields_of("households") if f.type == "count"]
    sa.Table(
        "fact_households", md, *_fact_keys(),
        sa.Column("reports", sa.Integer, nullable=False),
        sa.Column("reports_with_warnings", sa.Integer, nullable=False,
                  comment="accepted reports behind the figure that carry warnings (flagged, not excluded)"),
        *[sa.Column(f.key, sa.BigInteger, comment=f.label) for f in households],
        sa.Column("poor_rate", RATE, comment="poor_end / total_households × 100"),
        sa.Column("near_poor_rate", RATE, comment="near_poor_end / total_households × 100"),
    )
    dep = spec.section("deprivations")
    sa.Table(
        "fact_deprivations", md, *_fact_keys(),
        sa.Column("indicator", sa.String(32), primary_key=True),
        sa.Column("reports", sa.Integer, nullable=False),
        *[sa.Column(c, sa.BigInteger) for c in dep.grid_columns],
        *[sa.Column(f"{c}_share", RATE, comment=f"{c} / {c}_end × 100") for c in dep.grid_columns],
    )
    funding = spec.section("funding")
    sa.Table(
        "fact_funding", md, *_fact_keys(),
        sa.Column("component", sa.String(16), primary_key=True),
        sa.Column("reports", sa.Integer, nullable=False),
        sa.Column("eligible_units", sa.Integer, nullable=False),
        *[sa.Column(c, AMOUNT) for c in funding.grid_columns if c != "applicable"],
        sa.Column("disbursement_rate", RATE, comment="disbursed / (carried over + allocated + mobilised) × 100"),
    )
    outputs = spec.section("outputs")
    sa.Table(
        "fact_outputs", md, *_fact_keys(),
        sa.Column("indicator", sa.String(32), primary_key=True),
        sa.Column("reports", sa.Integer, nullable=False),
        *[sa.Column(c, sa.BigInteger) for c in outputs.grid_columns],
        sa.Column("achievement_rate", RATE, comment="cumulative / plan × 100"),
    )
    sa.Table(
        "fact_completeness", md, *_fact_keys(),
        sa.Column("expected", sa.Integer, nullable=False),
        sa.Column("received", sa.Integer, nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("accepted_with_warnings", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("missing", sa.Integer, nullable=False),
        sa.Column("on_time", sa.Integer, nullable=False),
        sa.Column("reporting_rate", RATE, comment="received / expected × 100"),
        sa.Column("on_time_rate", RATE, comment="on_time / expected × 100"),
        sa.Column("acceptance_rate", RATE, comment="accepted / expected × 100"),
        sa.Column("is_partial", sa.Boolean, nullable=False, comment="accepted < expected"),
    )
    return md


# Operational logs: they grow with every run by design; everything else is the period's data.
LOG_TABLES = ("email_log", "run_log")
FACT_TABLES = ("fact_households", "fact_deprivations", "fact_funding", "fact_outputs", "fact_completeness")


@functools.cache
def engine_for(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        # Mapped tasks of a DAG write concurrently: wait for the lock instead of failing.
        engine = sa.create_engine(url, connect_args={"timeout": 120})
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    return engine


def ensure_schema(engine: sa.Engine) -> sa.MetaData:
    md = build_metadata()
    if engine.dialect.name == "sqlite" and engine.url.database:
        from pathlib import Path

        Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    md.create_all(engine, checkfirst=True)
    return md


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


def publish_period(engine: sa.Engine, period_id: str, facts: Mapping[str, Sequence[Mapping[str, Any]]],
                   statuses: Mapping[str, str], units: Sequence[Mapping[str, Any]],
                   periods: Sequence[Mapping[str, Any]]) -> None:
    """Replace a period's consolidated figures atomically: readers see the old period or the new, never half."""
    md = ensure_schema(engine)
    submission = md.tables["submission"]
    with engine.begin() as conn:
        for status in sorted(set(statuses.values())):
            ids = [sid for sid, st in statuses.items() if st == status]
            for chunk in _chunks(ids, 500):
                conn.execute(submission.update().where(submission.c.submission_id.in_(chunk))
                             .values(status=status))
        for name in FACT_TABLES:
            table = md.tables[name]
            conn.execute(table.delete().where(table.c.period_id == period_id))
            _insert(conn, table, facts.get(name, []))
        conn.execute(md.tables["dim_unit"].delete())
        _insert(conn, md.tables["dim_unit"], units)
        dim_period = md.tables["dim_period"]
        conn.execute(dim_period.delete())
        _insert(conn, dim_period, periods)


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
