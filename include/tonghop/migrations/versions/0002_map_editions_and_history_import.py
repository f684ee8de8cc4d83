"""map editions (a unit is map_edition + code), the 2025 correspondence, history import provenance

Every row written before this revision was consolidated on the three-level map shipped then
(vietnam-provinces 0.6.0): it gets map_edition 'pre2025', whatever its period. No published figure changes.
The column defaults only backfill those rows; the pipeline always writes the edition.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 14:40:00
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from tonghop.schema import FACT_TABLES, TABLE_DOCS, create_views, drop_views

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

PRE_REFORM = "pre2025"
DIM_UNIT_COLUMNS = ("code", "name", "level", "parent_code", "province_code", "district_code", "area",
                    "valid_from", "valid_to")


def _edition_column(comment: str) -> sa.Column:
    return sa.Column("map_edition", sa.String(16), nullable=False, server_default=PRE_REFORM, comment=comment)


def _dim_unit(with_edition: bool) -> list[sa.Column]:
    edition = [sa.Column("map_edition", sa.String(16), primary_key=True,
                         comment="Map edition the unit belongs to (config/map_editions.yaml)")] if with_edition else []
    return [*edition,
            sa.Column("code", sa.String(16), primary_key=True,
                      comment="GSO code (mã đơn vị hành chính) in that edition" if with_edition
                      else "GSO code (mã đơn vị hành chính)"),
            sa.Column("name", sa.Text, nullable=False, comment="Tên đơn vị, e.g. Xã An Hiệp"),
            sa.Column("level", sa.String(16), nullable=False, comment="province, district or commune"),
            sa.Column("parent_code", sa.String(16), comment="Code of the unit one level up"),
            sa.Column("province_code", sa.String(16), comment="Code of the province the unit is in"),
            sa.Column("district_code", sa.String(16),
                      comment="Code of the district the unit is in (three-level maps)"),
            sa.Column("area", sa.String(8), comment="urban (phường, thị trấn) or rural (xã), for communes"),
            sa.Column("valid_from", sa.Date, comment="First day the unit exists (empty: always)"),
            sa.Column("valid_to", sa.Date, comment="Last day the unit exists (empty: still exists)")]


def _rebuild_dim_unit(with_edition: bool, comment: str) -> None:
    """dim_unit's key changes: copy its rows, recreate it, put them back (it is reference data: small)."""
    conn = op.get_bind()
    old = sa.Table("dim_unit", sa.MetaData(), autoload_with=conn)
    rows = [dict(r._mapping) for r in conn.execute(sa.select(old))]
    if not with_edition:
        rows = [r for r in rows if r.get("map_edition") == PRE_REFORM]
    op.drop_table("dim_unit")
    table = op.create_table("dim_unit", *_dim_unit(with_edition), comment=comment)
    keep = (("map_edition",) if with_edition else ()) + DIM_UNIT_COLUMNS
    op.bulk_insert(table, [{k: (r.get(k, PRE_REFORM) if k == "map_edition" else r.get(k)) for k in keep}
                           for r in rows])


def _period_editions() -> None:
    """dim_period.map_edition from the editions file, as the pipeline fills it."""
    from tonghop.config import Settings

    editions = Settings.from_env().editions
    conn = op.get_bind()
    periods = sa.table("dim_period", sa.column("period_id"), sa.column("commune_deadline"), sa.column("map_edition"))
    for period_id, deadline in conn.execute(sa.select(periods.c.period_id, periods.c.commune_deadline)).all():
        if isinstance(deadline, str):
            deadline = dt.datetime.fromisoformat(deadline)
        if deadline.tzinfo is None:
            deadline = deadline.replace(tzinfo=dt.UTC)
        local_day = deadline.astimezone(dt.timezone(dt.timedelta(hours=7))).date()
        conn.execute(periods.update().where(periods.c.period_id == period_id)
                     .values(map_edition=editions.on(local_day).id))


def _drop_views_0001() -> None:
    for name in ("v_findings", "v_funding_disbursement", "v_reporting_completeness", "v_district_ranking",
                 "v_province_summary", "v_households"):
        op.execute(f"DROP VIEW IF EXISTS {name}")


def upgrade() -> None:
    _drop_views_0001()
    _rebuild_dim_unit(True, TABLE_DOCS["dim_unit"])
    op.add_column("dim_period", sa.Column("map_edition", sa.String(16),
                                          comment="Map edition in force on the commune deadline"))
    _period_editions()
    op.create_table(
        "map_correspondence",
        sa.Column("old_edition", sa.String(16), primary_key=True, comment="Map edition before the reform"),
        sa.Column("new_edition", sa.String(16), primary_key=True, comment="Map edition after the reform"),
        sa.Column("level", sa.String(16), primary_key=True, comment="province or commune"),
        sa.Column("old_code", sa.String(16), primary_key=True, comment="Code of the old unit (old edition)"),
        sa.Column("new_code", sa.String(16), primary_key=True, comment="Code of the new unit (new edition)"),
        sa.Column("share", sa.Float, nullable=False,
                  comment="Part of the old unit that went to the new one: 1 when whole; for a split old commune "
                          "an estimate from the new communes' areas"),
        sa.Column("is_whole", sa.Boolean, nullable=False, comment="The old unit went entirely into the new one"),
        comment=TABLE_DOCS["map_correspondence"],
    )
    edition = ("Map edition of the unit codes (dim_unit.map_edition): pre2025 (three levels) or 2025 (two levels)")
    for name in FACT_TABLES:
        for table in (name, f"{name}_history"):
            op.add_column(table, _edition_column(edition))
    for table in ("fact_completeness", "fact_completeness_history"):
        op.add_column(table, sa.Column(
            "imported", sa.Integer, nullable=False, server_default="0",
            comment="Communes whose file that counts (the accepted one, else all they sent) "
            "was imported from history"))
    op.add_column("submission", _edition_column("Map edition of submitted_for and province_code (the period's edition)"))
    op.add_column("submission", sa.Column(
        "origin", sa.String(16), nullable=False, server_default="live",
        comment="live (arrived in the inbox) or imported (history loaded with its real received time)"))
    op.add_column("submission", sa.Column("imported_by", sa.Text, comment="Who imported the file (imported files)"))
    op.add_column("submission", sa.Column("import_reason", sa.Text, comment="Why it was imported (imported files)"))
    op.add_column("publication", _edition_column("Map edition the figures were consolidated on"))
    create_views(op.execute, upto=revision)


def downgrade() -> None:
    drop_views(op.execute)
    with op.batch_alter_table("publication") as batch:
        batch.drop_column("map_edition")
    with op.batch_alter_table("submission") as batch:
        for column in ("import_reason", "imported_by", "origin", "map_edition"):
            batch.drop_column(column)
    for name in FACT_TABLES:
        for table in (name, f"{name}_history"):
            with op.batch_alter_table(table) as batch:
                batch.drop_column("map_edition")
                if name == "fact_completeness":
                    batch.drop_column("imported")
    op.drop_table("map_correspondence")
    with op.batch_alter_table("dim_period") as batch:
        batch.drop_column("map_edition")
    _rebuild_dim_unit(False, "Administrative units (the hierarchy used by the last consolidation): provinces, "
                             "districts, communes, with urban/rural area and validity dates.")
    # The views of revision 0001 are not kept apart from the current ones: downgrading leaves none.
