"""The warehouse, through SQLAlchemy Core: any SQLAlchemy URL (SQLite file by default, PostgreSQL in
production). The schema is tonghop.schema, created and migrated with Alembic (include/tonghop/migrations).

A `Warehouse` owns its engine and the schema's tables and migrates once, the first time it is used; a
period run opens one (tonghop.period.PeriodContext) and every stage of the run shares it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pandas as pd
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import exc as sa_exc

from tonghop.schema import FACT_TABLES, VIEWS, build_metadata
from tonghop.vocabulary import ACCEPTED

MIGRATIONS = Path(__file__).with_name("migrations")
CHUNK = 500  # ids per IN (...) clause: far below every driver's parameter limit

# SQLite stores NUMERIC as REAL; amounts have at most 3 decimals and stay far below 15 significant
# digits, and SQLAlchemy rounds them back to the column's scale, so the round trip is exact.
warnings.filterwarnings("ignore", message=r"Dialect sqlite\+pysqlite does \*not\* support Decimal",
                        category=sa_exc.SAWarning)


def create_engine(url: str) -> sa.Engine:
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


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for the warehouse: NaN → None, numpy scalars → Python."""
    if frame.empty:
        return []
    clean = frame.astype(object)
    return clean.where(frame.notna(), None).to_dict("records")


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


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """`items` in slices of `size`, for IN (...) clauses."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _insert(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows that share their keys (a table's columns)."""
    if rows:
        columns = list(rows[0])
        _insert_tuples(conn, table, columns, [tuple(row[c] for c in columns) for row in rows])


def _insert_tuples(conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """One executemany at the driver, each value through its column's bind processor as SQLAlchemy applies it.
    SQLAlchemy's own executemany builds and processes a parameter dict per row: with the 200 columns of a report,
    that was half the time of recording a national period."""
    dialect = conn.dialect
    compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
    processors = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    active = [(i, p) for i, p in enumerate(processors) if p is not None]
    processed = []
    for row in rows:
        if active:
            row = list(row)
            for i, process in active:
                row[i] = process(row[i])
        processed.append(row)
    if not processed:
        return
    if compiled.positional:
        index = {c: i for i, c in enumerate(columns)}
        order = [index[name] for name in compiled.positiontup]
        params: list[Any] = [tuple(row[i] for i in order) for row in processed]
    else:
        params = [dict(zip(columns, row, strict=True)) for row in processed]
    conn.exec_driver_sql(str(compiled), params)


def insert_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany elsewhere."""
    if frame.empty:
        return
    columns = [c.name for c in table.columns if c.name in frame.columns]
    clean = frame[columns].astype(object).where(frame[columns].notna(), None)
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f'COPY {table.name} ({", ".join(columns)}) FROM STDIN') as copy:
            for row in clean.itertuples(index=False, name=None):
                copy.write_row(row)
        return
    _insert_tuples(conn, table, columns, clean.itertuples(index=False, name=None))


@dataclass(frozen=True)
class Publication:
    period_id: str
    version: int
    changed: bool


def _dicts(result: sa.CursorResult) -> list[dict[str, Any]]:
    """A result's rows as dicts; for the national reads (10,000 rows of ~230 columns) without a mapping object per
    row, which cost as much as the values themselves."""
    names = list(result.keys())
    return [dict(zip(names, row, strict=True)) for row in result]


class Warehouse:
    """One warehouse: its engine, its tables, and what the stages write and read."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self._tables: Mapping[str, sa.Table] | None = None

    def __repr__(self) -> str:
        return f"Warehouse({self.engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def dispose(self) -> None:
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def tables(self) -> Mapping[str, sa.Table]:
        """The schema's tables, after bringing the warehouse to the latest revision (once)."""
        if self._tables is None:
            self.migrate()
        return self._tables

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision` with the project's Alembic migrations."""
        if self.dialect == "sqlite" and self.engine.url.database:
            Path(self.engine.url.database).parent.mkdir(parents=True, exist_ok=True)
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":  # parallel tasks may start on a fresh warehouse together
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7361626)"))
            command.upgrade(alembic_config(conn), revision)
        self._tables = build_metadata().tables if revision == "head" else None

    def grant_bi_role(self, role: str) -> None:
        """Let `role` (an existing PostgreSQL role) read the BI views and nothing else.

        Views run with their owner's rights, so the role needs no right on the tables behind them."""
        if not role.replace("_", "").isalnum():
            raise ValueError(f"role name {role!r}: letters, digits and _ only")
        with self.engine.begin() as conn:
            conn.execute(sa.text(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"'))
            conn.execute(sa.text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
            for view in VIEWS:
                conn.execute(sa.text(f'GRANT SELECT ON {view} TO "{role}"'))

    # --- the ledger and the processing of files (ingestion) ---

    def register_files(self, submissions: Sequence[Mapping[str, Any]]) -> None:
        """Record newly arrived files (status `received`, or `duplicate`) before anything else happens to them."""
        table = self.tables["submission"]
        ids = [s["submission_id"] for s in submissions]
        with self.engine.begin() as conn:
            known = set()
            for chunk in chunks(ids):
                known |= set(conn.execute(sa.select(table.c.submission_id)
                                          .where(table.c.submission_id.in_(chunk))).scalars())
            _insert(conn, table, [s for s in submissions if s["submission_id"] not in known])

    def record_results(self, outcomes: Sequence[Mapping[str, Any]], reports: Sequence[Mapping[str, Any]],
                       findings: Sequence[Mapping[str, Any]]) -> None:
        """Store the outcome of processing files: their status and counts, parsed values and findings
        (replacing any earlier processing of the same files), in one transaction."""
        tables = self.tables
        submission = tables["submission"]
        ids = [o["submission_id"] for o in outcomes]
        with self.engine.begin() as conn:
            for name in ("finding", "report"):
                table = tables[name]
                for chunk in chunks(ids):
                    conn.execute(table.delete().where(table.c.submission_id.in_(chunk)))
            if outcomes:
                columns = [c for c in outcomes[0] if c != "submission_id"]
                conn.execute(submission.update().where(submission.c.submission_id == sa.bindparam("_id"))
                             .values({c: sa.bindparam(c) for c in columns}),
                             [{**{c: o[c] for c in columns}, "_id": o["submission_id"]} for o in outcomes])
            _insert(conn, tables["report"], reports)
            _insert(conn, tables["finding"], findings)

    def record_annotations(self, paths: Mapping[str, str]) -> None:
        """Where each annotated workbook was written (relative to the outputs)."""
        if not paths:
            return
        table = self.tables["submission"]
        with self.engine.begin() as conn:
            conn.execute(table.update().where(table.c.submission_id == sa.bindparam("_id"))
                         .values(annotated_path=sa.bindparam("_path")),
                         [{"_id": sid, "_path": path} for sid, path in paths.items()])

    def log_run(self, run_id: str, stage: str, period_id: str, files: int, detail: str = "",
                at: dt.datetime | None = None) -> None:
        """Record a finished run stage (`at`: the run's logical time; now by default)."""
        table = self.tables["run_log"]
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(table.c.run_id == run_id, table.c.stage == stage))
            conn.execute(table.insert().values(run_id=run_id, stage=stage, period_id=period_id, files=files,
                                               detail=detail, finished_at=at or dt.datetime.now(dt.UTC)))

    def sent_emails(self, period_id: str) -> set[tuple[str, str, str]]:
        """(kind, ref, recipient) of every e-mail already sent for a period."""
        table = self.tables["email_log"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.kind, table.c.ref, table.c.recipient)
                                .where(table.c.period_id == period_id))
            return {tuple(r) for r in rows}

    def record_sent_email(self, kind: str, period_id: str, ref: str, subject: str,
                          recipients: Sequence[str]) -> None:
        table = self.tables["email_log"]
        with self.engine.begin() as conn:
            conn.execute(table.insert(), [
                {"kind": kind, "period_id": period_id, "ref": ref, "recipient": r, "subject": subject,
                 "sent_at": dt.datetime.now(dt.UTC)} for r in recipients])

    # --- publication (consolidation) ---

    def publish_period(self, period_id: str, facts: Mapping[str, pd.DataFrame], statuses: Mapping[str, str],
                       reference: Mapping[str, Sequence[Mapping[str, Any]]], run_id: str,
                       now: dt.datetime | None = None, map_edition: str = "",
                       counted: Mapping[str, str] | None = None) -> Publication:
        """Publish a period's figures in one transaction: readers see the old version or the new, never half.

        When the figures differ from the latest version, that version's rows move to the *_history tables and
        a new version is recorded in `publication`; identical figures publish nothing new. `reference`
        replaces the dimension tables (dim_unit of every map edition, dim_period, dim_component, dim_indicator,
        map_correspondence). `map_edition`: the map the figures were consolidated on. `counted`: commune → the
        submission its figures come from (table counted_report, what an approval locks)."""
        tables = self.tables
        submission, publication = tables["submission"], tables["publication"]
        digest = content_hash(facts)
        with self.engine.begin() as conn:
            for status in sorted(set(statuses.values())):
                ids = [sid for sid, st in statuses.items() if st == status]
                for chunk in chunks(ids):
                    conn.execute(submission.update().where(submission.c.submission_id.in_(chunk))
                                 .values(status=status))
            latest = conn.execute(sa.select(publication.c.version, publication.c.content_sha256)
                                  .where(publication.c.period_id == period_id)
                                  .order_by(publication.c.version.desc()).limit(1)).first()
            changed = latest is None or latest.content_sha256 != digest
            version = (latest.version if latest else 0) + (1 if changed else 0)
            if changed:
                for name in FACT_TABLES:
                    table, history = tables[name], tables[f"{name}_history"]
                    current = table.c.period_id == period_id
                    conn.execute(history.insert().from_select([c.name for c in table.columns],
                                                              sa.select(table).where(current)))
                    conn.execute(table.delete().where(current))
                    frame = facts.get(name, pd.DataFrame())
                    insert_frame(conn, table, frame.assign(version=version) if not frame.empty else frame)
                households = facts.get("fact_households", pd.DataFrame())
                accepted = int((households["unit_level"] == "commune").sum()) if not households.empty else 0
                conn.execute(publication.insert().values(period_id=period_id, version=version, run_id=run_id,
                                                         map_edition=map_edition,
                                                         content_sha256=digest, accepted_reports=accepted,
                                                         published_at=now or dt.datetime.now(dt.UTC)))
            for name, rows in reference.items():
                conn.execute(tables[name].delete())
                _insert(conn, tables[name], rows)
            if counted is not None:
                table = tables["counted_report"]
                conn.execute(table.delete().where(table.c.period_id == period_id))
                _insert(conn, table, [{"period_id": period_id, "commune_code": c, "map_edition": map_edition,
                                       "submission_id": sid} for c, sid in sorted(counted.items())])
        return Publication(period_id, version, changed)

    def read_counted(self, period_id: str) -> dict[str, str]:
        """commune → the submission its published figures come from (as of the latest consolidation)."""
        table = self.tables["counted_report"]
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(table.c.commune_code, table.c.submission_id)
                                     .where(table.c.period_id == period_id)).all())

    # --- sign-off (tonghop.sign_off) ---

    def read_sign_off(self, period_id: str, map_edition: str) -> tuple[dict[str, dict[str, Any]],
                                                                          list[dict[str, Any]]]:
        """A period's current unit states (unit → row) and its audit trail in order."""
        with self.engine.connect() as conn:
            return self._sign_off(conn, period_id, map_edition)

    def _sign_off(self, conn: sa.Connection, period_id: str, map_edition: str) -> tuple[dict, list]:
        approval, event = self.tables["unit_approval"], self.tables["sign_off_event"]
        states = {r.unit_code: dict(r._mapping) for r in conn.execute(
            sa.select(approval).where(approval.c.period_id == period_id, approval.c.map_edition == map_edition))}
        events = [dict(r._mapping) for r in conn.execute(
            sa.select(event).where(event.c.period_id == period_id, event.c.map_edition == map_edition)
            .order_by(event.c.event_id))]
        return states, events

    def record_sign_off(self, period_id: str, map_edition: str, submission_ids: Sequence[str], validate: Any,
                        new_state: Mapping[str, str]) -> list[dict[str, Any]]:
        """In one transaction, serialised per warehouse: read the state, let `validate(states, events,
        submissions)` turn the request into event rows (or raise), append them and update `unit_approval`."""
        event_table, approval, submission = (self.tables["sign_off_event"], self.tables["unit_approval"],
                                             self.tables["submission"])
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7361627)"))
            else:  # SQLite: take the write lock now, so two decisions never both read the old state
                conn.execute(sa.text("UPDATE unit_approval SET state = state WHERE 0"))
            states, events = self._sign_off(conn, period_id, map_edition)
            wanted = submission.c.submission_id.in_(list(submission_ids))
            subs = ({r.submission_id: dict(r._mapping) for r in conn.execute(sa.select(submission).where(wanted))}
                    if submission_ids else {})
            version = conn.execute(sa.select(sa.func.max(self.tables["publication"].c.version))
                                   .where(self.tables["publication"].c.period_id == period_id)).scalar()
            rows = [{**r, "version": version} for r in validate(states, events, subs)]
            recorded = []
            for row in rows:
                event_id = conn.execute(event_table.insert().values(**row)).inserted_primary_key[0]
                recorded.append({**row, "event_id": event_id})
                if row["action"] in new_state:
                    key = (approval.c.period_id == period_id, approval.c.map_edition == map_edition,
                           approval.c.unit_code == row["unit_code"])
                    conn.execute(approval.delete().where(*key))
                    conn.execute(approval.insert().values(
                        period_id=period_id, map_edition=map_edition, unit_code=row["unit_code"],
                        state=new_state[row["action"]], event_id=event_id, changed_by=row["actor"],
                        changed_at=row["at"]))
            return recorded

    def periods_decided_since_consolidation(self, ignored_actions: Sequence[str]) -> list[str]:
        event, runs = self.tables["sign_off_event"], self.tables["run_log"]
        last_run = (sa.select(runs.c.period_id, sa.func.max(runs.c.finished_at).label("at"))
                    .where(runs.c.stage == "consolidate").group_by(runs.c.period_id).subquery())
        last_event = (sa.select(event.c.period_id, sa.func.max(event.c.at).label("at"))
                      .where(event.c.action.not_in(list(ignored_actions))).group_by(event.c.period_id).subquery())
        query = (sa.select(last_event.c.period_id)
                 .join(last_run, last_run.c.period_id == last_event.c.period_id, isouter=True)
                 .where(sa.or_(last_run.c.at.is_(None), last_event.c.at > last_run.c.at)))
        with self.engine.connect() as conn:
            return sorted(conn.execute(query).scalars())

    def append_sign_off_events(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Events that change no unit's state (a commune's explanation)."""
        with self.engine.begin() as conn:
            _insert(conn, self.tables["sign_off_event"], rows)

    def replace_review_findings(self, period_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        table = self.tables["review_finding"]
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(table.c.period_id == period_id))
            _insert(conn, table, rows)

    def read_review_findings(self, period_id: str, communes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        table = self.tables["review_finding"]
        query = sa.select(table).where(table.c.period_id == period_id)
        with self.engine.connect() as conn:
            if communes is None:
                return [dict(r._mapping) for r in conn.execute(query.order_by(table.c.commune_code))]
            out = []
            for chunk in chunks(list(communes)):
                out += [dict(r._mapping) for r in conn.execute(query.where(table.c.commune_code.in_(chunk)))]
            return sorted(out, key=lambda r: (r["commune_code"], r["check_id"]))

    # --- reading back ---

    def read_period_submissions(self, period_id: str) -> list[dict[str, Any]]:
        t = self.tables["submission"]
        with self.engine.connect() as conn:
            return _dicts(conn.execute(sa.select(t).where(t.c.period_id == period_id).order_by(t.c.submission_id)))

    def read_reports(self, submission_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """submission id → the values of its commune report (table `report`)."""
        t = self.tables["report"]
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(submission_ids)):
                for row in _dicts(conn.execute(sa.select(t).where(t.c.submission_id.in_(chunk)))):
                    out[row.pop("submission_id")] = row
        return out

    def read_accepted_reports(self, period_id: str, communes: Sequence[str]) -> dict[str, dict[str, Any]]:
        """commune → values of its accepted report in a period (as published by that period's consolidation)."""
        submission, report = self.tables["submission"], self.tables["report"]
        out: dict[str, dict[str, Any]] = {}
        query = (sa.select(submission.c.submitted_for, report)
                 .join(report, report.c.submission_id == submission.c.submission_id)
                 .where(submission.c.period_id == period_id, submission.c.status == ACCEPTED))
        with self.engine.connect() as conn:
            for chunk in chunks(list(communes)):
                for row in _dicts(conn.execute(query.where(submission.c.submitted_for.in_(chunk)))):
                    out[row.pop("submitted_for")] = row
        return out

    def read_submission(self, submission_id: str) -> dict[str, Any] | None:
        t = self.tables["submission"]
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.submission_id == submission_id)).first()
        return dict(row._mapping) if row else None

    def read_findings(self, submission_id: str) -> list[dict[str, Any]]:
        t = self.tables["finding"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.submission_id == submission_id).order_by(t.c.seq))
            return [dict(r._mapping) for r in rows]

    def read_table(self, name: str, **where: Any) -> list[dict[str, Any]]:
        t = self.tables[name]
        query = sa.select(t)
        for column, value in where.items():
            query = query.where(t.c[column] == value)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query.order_by(*t.primary_key.columns))]
