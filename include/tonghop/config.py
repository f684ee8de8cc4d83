"""Runtime settings, from environment variables with embedded defaults (local folders, SQLite).

| variable                | default                               |
|-------------------------|---------------------------------------|
| TONGHOP_HOME            | <project>/var                         |
| TONGHOP_INBOX           | $TONGHOP_HOME/inbox (or s3://bucket/prefix) |
| TONGHOP_WAREHOUSE_URL   | sqlite:///$TONGHOP_HOME/warehouse.sqlite (any SQLAlchemy URL) |
| TONGHOP_WAREHOUSE_CONN_ID | (none) — an Airflow connection (postgres) to use instead of a URL |
| TONGHOP_OUTPUT          | $TONGHOP_HOME/runs (or s3://bucket/prefix)  |
| TONGHOP_CALENDAR        | <project>/config/calendar.yaml        |
| TONGHOP_MAP_EDITIONS    | <project>/config/map_editions.yaml — which map each period runs on |
| TONGHOP_HIERARCHY       | (the editions' own sources) — a CSV path for every edition, or `2025=a.csv;pre2025=b.csv` |
| TONGHOP_OFFICES         | <project>/config/offices.yaml — office names and letterheads per edition and province |
| TONGHOP_EXPECTATIONS    | <project>/expectations                |
| TONGHOP_SCOPE           | (all) — a unit code: only its communes are expected; per map edition `2025=86;pre2025=83` |
| TONGHOP_CONTACTS        | <project>/config/contacts.csv — who receives e-mails |
| TONGHOP_OFFICERS        | <project>/config/officers.csv — which login sees and signs off which units |
| TONGHOP_TARGETS         | <project>/config/targets.yaml — plan targets of provinces and districts |
| TONGHOP_MAIL_FROM       | sender when the smtp_default connection names none |
| TONGHOP_BATCH_FILES     | 1500 — files per mapped ingestion task (whole provinces) |
| TONGHOP_TRUST_RECEIVED_AT | false — true only when the S3 upload channel sets `received-at` itself |
| TONGHOP_FILE_MEMORY_MB, TONGHOP_FILE_SECONDS | 1024, 60 — a reader's limits per file (tonghop.isolation) |
| TONGHOP_MAIL_MAX_BYTES  | 10000000 — largest e-mail sent (tonghop.mailer) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from tonghop.calendar import Period
from tonghop.editions import Editions, MapEdition, load_editions
from tonghop.hierarchy import Hierarchy

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    home: Path
    inbox: str  # a folder or s3://bucket/prefix
    warehouse_url: str | None  # explicit SQLAlchemy URL; see `warehouse`
    output: str  # a folder or s3://bucket/prefix
    calendar_path: Path
    hierarchy_source: str  # overrides of the editions' map sources (TONGHOP_HIERARCHY); empty: none
    expectations_dir: Path
    editions_path: Path = PROJECT_ROOT / "config" / "map_editions.yaml"
    offices_path: Path = PROJECT_ROOT / "config" / "offices.yaml"
    scope: str | None = None
    warehouse_conn_id: str | None = None
    contacts_path: Path | None = None
    officers_path: Path | None = None
    mail_from: str = "tonghop@localhost"
    batch_files: int = 1500
    targets_path: Path | None = None
    trust_received_at: bool = False  # an S3 object's `received-at` metadata is its received time

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        home = Path(env.get("TONGHOP_HOME", PROJECT_ROOT / "var"))
        settings = cls(
            home=home,
            inbox=str(env.get("TONGHOP_INBOX", home / "inbox")),
            warehouse_url=env.get("TONGHOP_WAREHOUSE_URL") or None,
            output=str(env.get("TONGHOP_OUTPUT", home / "runs")),
            calendar_path=Path(env.get("TONGHOP_CALENDAR", PROJECT_ROOT / "config" / "calendar.yaml")),
            hierarchy_source=env.get("TONGHOP_HIERARCHY", ""),
            editions_path=Path(env.get("TONGHOP_MAP_EDITIONS", PROJECT_ROOT / "config" / "map_editions.yaml")),
            offices_path=Path(env.get("TONGHOP_OFFICES", PROJECT_ROOT / "config" / "offices.yaml")),
            expectations_dir=Path(env.get("TONGHOP_EXPECTATIONS", PROJECT_ROOT / "expectations")),
            scope=env.get("TONGHOP_SCOPE") or None,
            warehouse_conn_id=env.get("TONGHOP_WAREHOUSE_CONN_ID") or None,
            contacts_path=Path(env.get("TONGHOP_CONTACTS", PROJECT_ROOT / "config" / "contacts.csv")),
            officers_path=Path(env.get("TONGHOP_OFFICERS", PROJECT_ROOT / "config" / "officers.csv")),
            mail_from=env.get("TONGHOP_MAIL_FROM", "tonghop@localhost"),
            batch_files=int(env.get("TONGHOP_BATCH_FILES", "1500")),
            targets_path=Path(env.get("TONGHOP_TARGETS", PROJECT_ROOT / "config" / "targets.yaml")),
            trust_received_at=env.get("TONGHOP_TRUST_RECEIVED_AT", "").lower() in ("1", "true", "yes"),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        for key in ("calendar_path", "expectations_dir", "home", "contacts_path", "targets_path", "editions_path",
                    "offices_path", "officers_path"):
            if key in given:
                given[key] = Path(given[key])
        for key in ("inbox", "output"):
            if key in given:
                given[key] = str(given[key])
        return replace(settings, **given)

    @property
    def editions(self) -> Editions:
        return load_editions(self.editions_path, self.hierarchy_source or None)

    def edition_for(self, period: Period) -> MapEdition:
        return self.editions.for_period(period)

    def scope_for(self, edition_id: str) -> str | None:
        """TONGHOP_SCOPE for a map edition: one unit code for every edition, or per edition `2025=86;pre2025=83`
        (a province keeps its history from before the reform under its old code)."""
        scope = (self.scope or "").strip()
        if "=" not in scope:
            return scope or None
        pairs = dict(part.strip().partition("=")[::2] for part in scope.split(";") if part.strip())
        return pairs.get(edition_id, "").strip() or None

    def hierarchy_for(self, period: Period) -> Hierarchy:
        """The map the period runs on: the edition in force on its commune deadline."""
        return self.editions.hierarchy(self.edition_for(period).id)

    @property
    def warehouse(self) -> str:
        """The warehouse's SQLAlchemy URL: the explicit URL, else the Airflow connection (looked up only now,
        never while a DAG file is parsed), else the embedded SQLite file."""
        if self.warehouse_url:
            return self.warehouse_url
        if self.warehouse_conn_id:
            return connection_url(self.warehouse_conn_id)
        return f"sqlite:///{self.home / 'warehouse.sqlite'}"

    @property
    def inbox_dir(self) -> Path:
        """The inbox as a local folder (for tools and tests that write into it)."""
        if self.inbox.startswith("s3://"):
            raise ValueError(f"the inbox is in object storage: {self.inbox}")
        return Path(self.inbox)

    @property
    def output_dir(self) -> Path:
        if self.output.startswith("s3://"):
            raise ValueError(f"the outputs are in object storage: {self.output}")
        return Path(self.output)


def connection_url(conn_id: str) -> str:
    """A SQLAlchemy URL (psycopg 3 driver) from an Airflow connection of type postgres."""
    import sqlalchemy as sa
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if conn.conn_type not in ("postgres", "postgresql"):
        raise ValueError(f"connection {conn_id!r} is {conn.conn_type!r}; the warehouse needs a postgres connection")
    return sa.URL.create("postgresql+psycopg", username=conn.login or None, password=conn.password or None,
                         host=conn.host or None, port=conn.port or None,
                         database=conn.schema or None).render_as_string(hide_password=False)
