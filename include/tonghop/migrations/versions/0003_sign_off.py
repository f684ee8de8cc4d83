"""sign-off: the audit trail, each unit's approval state, the report each commune's figures come from, outlier
findings, explanations in the workbook

Nothing published changes. Existing periods start in state draft (no unit_approval row); existing reports have
no explanation (template versions 1.0 and 2.0 have none).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tonghop.schema import EDITION_COMMENT, RATE, TABLE_DOCS, VIEW_REVISIONS, create_views

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

EXPLANATIONS = {  # template 1.1 / 2.1, sheet «A. Thông tin chung»
    "explanation_1_check": ("Giải trình 1 — mã kiểm tra (ví dụ TH-X-001)", "C21"),
    "explanation_1_text": ("Giải trình 1 — nội dung", "C22"),
    "explanation_2_check": ("Giải trình 2 — mã kiểm tra", "C23"),
    "explanation_2_text": ("Giải trình 2 — nội dung", "C24"),
    "explanation_3_check": ("Giải trình 3 — mã kiểm tra", "C25"),
    "explanation_3_text": ("Giải trình 3 — nội dung", "C26"),
}


def _edition(**kwargs) -> sa.Column:
    return sa.Column("map_edition", sa.String(16), nullable=False, comment=EDITION_COMMENT, **kwargs)


def upgrade() -> None:
    for key, (label, cell) in EXPLANATIONS.items():
        op.add_column("report", sa.Column(key, sa.Text, comment=f"{label} — sheet «A. Thông tin chung», cell {cell}"))
    if op.get_bind().dialect.name == "postgresql":  # SQLite keeps no column comments
        op.alter_column("submission", "status", existing_type=sa.String(16), existing_nullable=False,
                        comment="received (not processed yet), accepted, rejected, superseded, duplicate, returned "
                                "(sent back by an officer) or held (valid, kept out while its unit is approved)")
    op.create_table(
        "sign_off_event",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True, comment="Order of the event"),
        sa.Column("period_id", sa.String(32), nullable=False, comment="Period"),
        _edition(),
        sa.Column("unit_code", sa.String(16), nullable=False,
                  comment="Unit acted on: the commune (send_back, explain) or the consolidating unit"),
        sa.Column("action", sa.String(16), nullable=False,
                  comment="send_back, explain, approve, accept, return or withdraw"),
        sa.Column("submission_id", sa.String(40), comment="The report sent back or explained"),
        sa.Column("actor", sa.Text, nullable=False, comment="Login of the officer (explain: the commune's preparer)"),
        sa.Column("actor_unit", sa.String(16), comment="The officer's unit (empty: national level)"),
        sa.Column("reason", sa.Text, comment="Why (required for send_back, return and withdraw) or the explanation"),
        sa.Column("version", sa.Integer, comment="Publication version the officer saw when deciding"),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, comment="When (UTC)"),
        comment=TABLE_DOCS["sign_off_event"],
    )
    op.create_index("ix_sign_off_event_period_id", "sign_off_event", ["period_id"])
    op.create_table(
        "unit_approval",
        sa.Column("period_id", sa.String(32), primary_key=True, comment="Period"),
        _edition(primary_key=True),
        sa.Column("unit_code", sa.String(16), primary_key=True, comment="Consolidating unit (district or province)"),
        sa.Column("state", sa.String(16), nullable=False, comment="draft, approved or accepted"),
        sa.Column("event_id", sa.Integer, nullable=False, comment="sign_off_event that set the state"),
        sa.Column("changed_by", sa.Text, nullable=False, comment="Login that set the state"),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False, comment="When the state was set"),
        comment=TABLE_DOCS["unit_approval"],
    )
    op.create_table(
        "review_finding",
        sa.Column("period_id", sa.String(32), nullable=False, comment="Period"),
        sa.Column("submission_id", sa.String(40), primary_key=True, comment="The accepted report"),
        sa.Column("check_id", sa.String(16), primary_key=True, comment="Check id, e.g. TH-O-001"),
        sa.Column("commune_code", sa.String(16), nullable=False, comment="Commune of the report"),
        sa.Column("peer_unit", sa.String(16), nullable=False, comment="Unit whose communes are the peers"),
        sa.Column("field_key", sa.String(64), comment="Figure compared"),
        sa.Column("label", sa.Text, comment="Vietnamese label of the figure"),
        sa.Column("value", sa.Text, comment="The commune's value"),
        sa.Column("expected", sa.Text, comment="The peers' median"),
        sa.Column("score", RATE, nullable=False, comment="Modified z-score (0.6745 × (value − median) / MAD)"),
        sa.Column("message", sa.Text, nullable=False, comment="The message shown to the officer (Vietnamese)"),
        comment=TABLE_DOCS["review_finding"],
    )
    op.create_index("ix_review_finding_period_id", "review_finding", ["period_id"])
    op.create_table(
        "counted_report",
        sa.Column("period_id", sa.String(32), primary_key=True, comment="Period"),
        sa.Column("commune_code", sa.String(16), primary_key=True, comment="Commune"),
        _edition(),
        sa.Column("submission_id", sa.String(40), nullable=False, comment="The accepted report that counts"),
        comment=TABLE_DOCS["counted_report"],
    )
    create_views(op.execute, only=revision)


def downgrade() -> None:
    for name in reversed([n for n, r in VIEW_REVISIONS.items() if r == revision]):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_table("counted_report")
    op.drop_table("review_finding")
    op.drop_table("unit_approval")
    op.drop_table("sign_off_event")
    with op.batch_alter_table("report") as batch:
        for key in EXPLANATIONS:
            batch.drop_column(key)
