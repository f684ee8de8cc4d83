"""The warehouse schema, one place: tables, columns with their meaning, and the BI views.

Columns named after template fields come from the template spec (their comment is the Vietnamese label).
Every column carries a comment: `tonghop dictionary` turns them into docs/data-dictionary.md. The schema
is created and migrated by Alembic (include/tonghop/migrations); a test proves the migrations produce
exactly this metadata.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from tonghop.spec import TemplateSpec, load_spec

AMOUNT = sa.Numeric(18, 3)  # million VND, exact to 1,000 đồng
RATE = sa.Float()  # recomputed ratios in percent, full precision
_FIELD_TYPES = {"count": sa.BigInteger(), "amount": AMOUNT, "rate": sa.Numeric(9, 4), "yesno": sa.Boolean(),
                "date": sa.Date()}

COUNT_LIMIT = 10**15  # whole numbers stay exact as doubles (< 2**53) in the validation frames


@functools.cache
def storable_limit(field_type: str) -> int:
    """Magnitude a parsed number of this field type must stay below to fit its warehouse column."""
    column = _FIELD_TYPES.get(field_type)
    if isinstance(column, sa.Numeric) and not isinstance(column, sa.Float):
        return 10 ** (column.precision - column.scale)
    return COUNT_LIMIT


# Operational logs grow with every run by design; everything else is the period's data.
LOG_TABLES = ("email_log", "run_log")
FACT_TABLES = ("fact_households", "fact_deprivations", "fact_funding", "fact_outputs", "fact_completeness")

TABLE_DOCS = {
    "dim_unit": "Administrative units of every map edition used: provinces, districts (three-level map), "
                "communes, with urban/rural area and validity dates. A unit is map_edition + code.",
    "map_correspondence": "The 2025 reform's old → new correspondence: which old provinces and communes make up "
                          "each new one, with the share of the old unit that went to it.",
    "dim_period": "Reporting periods from the calendar with their windows and deadlines (local times stored in UTC).",
    "dim_component": "Programme components (projects and sub-projects) of the funding sheet.",
    "dim_indicator": "Indicators of the deprivation and output sheets.",
    "submission": "The ledger: one row per received file and what became of it.",
    "report": "The values read from each received file, one column per template field (named by field key).",
    "finding": "What is wrong with a received file: one row per finding of a check.",
    "publication": "Each published version of a period's consolidated figures (a new version only when they change).",
    "fact_households": "Poor and near-poor households per period × unit × area, summed over accepted reports.",
    "fact_deprivations": "Households lacking each basic-social-service indicator per period × unit × area.",
    "fact_funding": "Programme funding per period × unit × area × component (million VND).",
    "fact_outputs": "Output indicators (plan, achieved, cumulative) per period × unit × area.",
    "fact_completeness": "Reporting completeness and timeliness per period × unit × area.",
    "sign_off_event": "The sign-off audit trail, append-only: every send-back, explanation, approval, acceptance, "
                      "return and withdrawal, with who, when and why.",
    "unit_approval": "Current sign-off state of each consolidating unit and period (draft, approved, accepted), "
                     "kept with the audit trail in one transaction.",
    "review_finding": "Statistical outliers found at consolidation: accepted reports far from their peers "
                      "(modified z-score), for the officer's review. Recomputed by each consolidation.",
    "counted_report": "The report each commune's published figures come from, as of the latest consolidation: "
                      "what an approval locks (a later file of a locked commune is held).",
    "email_log": "E-mails sent (one row per message and recipient): makes sending idempotent.",
    "run_log": "Finished consolidation runs per period (used by the deadline alert).",
}


EDITION_COMMENT = "Map edition of the unit codes (dim_unit.map_edition): pre2025 (three levels) or 2025 (two levels)"


def _edition_column(comment: str = EDITION_COMMENT, **kwargs: Any) -> sa.Column:
    return sa.Column("map_edition", sa.String(16), nullable=False, comment=comment, **kwargs)


def _fact_keys() -> list[sa.Column]:
    return [
        sa.Column("period_id", sa.String(32), primary_key=True, comment="Reporting period id, e.g. 2026-FY"),
        sa.Column("unit_code", sa.String(16), primary_key=True, comment="GSO code of the unit (dim_unit.code)"),
        sa.Column("area", sa.String(8), primary_key=True,
                  comment="total, urban (Khu vực thành thị) or rural (Khu vực nông thôn); communes: total"),
        sa.Column("unit_level", sa.String(16), nullable=False, comment="province, district or commune"),
        sa.Column("version", sa.Integer, nullable=False, comment="Publication version this row belongs to"),
        _edition_column(),
    ]


REPORTS = "Number of accepted reports (communes) behind the figure"


def _fact_tables(md: sa.MetaData, spec: TemplateSpec) -> None:
    households = [f for f in spec.fields_of("households") if f.type == "count"]
    dep, funding, outputs = spec.section("deprivations"), spec.section("funding"), spec.section("outputs")
    money_labels = {f.grid_column: f.label.split(" — ")[1] for f in funding.fields if f.grid_row == "p1"}
    column_label = {c: next(f.label.split(" — ")[1] for f in s.fields if f.grid_column == c)
                    for s in (dep, outputs) for c in s.grid_columns}
    specs = {
        "fact_households": [
            sa.Column("reports", sa.Integer, nullable=False, comment=REPORTS),
            sa.Column("reports_with_warnings", sa.Integer, nullable=False,
                      comment="Accepted reports behind the figure that carry warnings (flagged, not excluded)"),
            *[sa.Column(f.key, sa.BigInteger, comment=f"Sum of: {f.label}") for f in households],
            sa.Column("poor_rate", RATE, comment="Tỷ lệ hộ nghèo: poor_end / total_households × 100"),
            sa.Column("near_poor_rate", RATE, comment="Tỷ lệ hộ cận nghèo: near_poor_end / total_households × 100"),
        ],
        "fact_deprivations": [
            sa.Column("indicator", sa.String(32), primary_key=True, comment="Indicator key (dim_indicator)"),
            sa.Column("reports", sa.Integer, nullable=False, comment=REPORTS),
            *[sa.Column(c, sa.BigInteger, comment=column_label[c]) for c in dep.grid_columns],
            *[sa.Column(f"{c}_share", RATE, comment=f"{c} / {c}_end of fact_households × 100")
              for c in dep.grid_columns],
        ],
        "fact_funding": [
            sa.Column("component", sa.String(16), primary_key=True,
                      comment="Component key p1 … p7_2 (dim_component), or total"),
            sa.Column("reports", sa.Integer, nullable=False, comment=REPORTS),
            sa.Column("eligible_units", sa.Integer, nullable=False,
                      comment="Communes eligible for the component (Thuộc đối tượng = Có)"),
            *[sa.Column(c, AMOUNT, comment=f"{money_labels[c]} (triệu đồng)")
              for c in funding.grid_columns if c != "applicable"],
            sa.Column("disbursement_rate", RATE,
                      comment="Tỷ lệ giải ngân: disbursed / (carried over + allocated + mobilised) × 100"),
        ],
        "fact_outputs": [
            sa.Column("indicator", sa.String(32), primary_key=True, comment="Indicator key (dim_indicator)"),
            sa.Column("reports", sa.Integer, nullable=False, comment=REPORTS),
            *[sa.Column(c, sa.BigInteger, comment=column_label[c]) for c in outputs.grid_columns],
            sa.Column("achievement_rate", RATE, comment="Lũy kế so với kế hoạch: cumulative / plan × 100"),
        ],
        "fact_completeness": [
            sa.Column("expected", sa.Integer, nullable=False,
                      comment="Communes that must report (existing on the deadline day)"),
            sa.Column("received", sa.Integer, nullable=False, comment="Communes that sent at least one file"),
            sa.Column("accepted", sa.Integer, nullable=False, comment="Communes with an accepted report"),
            sa.Column("accepted_with_warnings", sa.Integer, nullable=False,
                      comment="Communes whose accepted report carries warnings"),
            sa.Column("rejected", sa.Integer, nullable=False,
                      comment="Communes that sent files but have no accepted report"),
            sa.Column("missing", sa.Integer, nullable=False, comment="Communes that sent nothing"),
            sa.Column("on_time", sa.Integer, nullable=False,
                      comment="Communes with a file received by the end of the deadline day"),
            sa.Column("imported", sa.Integer, nullable=False, server_default="0",
                      comment="Communes whose file that counts (the accepted one, else all they sent) "
                              "was imported from history"),
            sa.Column("reporting_rate", RATE, comment="Tỷ lệ báo cáo: received / expected × 100"),
            sa.Column("on_time_rate", RATE, comment="Tỷ lệ báo cáo đúng hạn: on_time / expected × 100"),
            sa.Column("acceptance_rate", RATE, comment="accepted / expected × 100"),
            sa.Column("is_partial", sa.Boolean, nullable=False,
                      comment="True when accepted < expected: the unit's figures are partial"),
        ],
    }
    for name, columns in specs.items():
        sa.Table(name, md, *_fact_keys(), *columns, comment=TABLE_DOCS[name])
        # Earlier versions of a period, moved here when a new version is published.
        history_columns = [c.copy() for c in md.tables[name].columns]
        for c in history_columns:
            if c.name == "version":
                c.primary_key = True
        sa.Table(f"{name}_history", md, *history_columns,
                 comment=f"Earlier publication versions of {name} (same columns).")


@functools.cache
def build_metadata(spec: TemplateSpec | None = None) -> sa.MetaData:
    spec = spec or load_spec()
    md = sa.MetaData()
    sa.Table(
        "dim_unit", md,
        _edition_column("Map edition the unit belongs to (config/map_editions.yaml)", primary_key=True),
        sa.Column("code", sa.String(16), primary_key=True, comment="GSO code (mã đơn vị hành chính) in that edition"),
        sa.Column("name", sa.Text, nullable=False, comment="Tên đơn vị, e.g. Xã An Hiệp"),
        sa.Column("level", sa.String(16), nullable=False, comment="province, district or commune"),
        sa.Column("parent_code", sa.String(16), comment="Code of the unit one level up"),
        sa.Column("province_code", sa.String(16), comment="Code of the province the unit is in"),
        sa.Column("district_code", sa.String(16), comment="Code of the district the unit is in (three-level maps)"),
        sa.Column("area", sa.String(8), comment="urban (phường, thị trấn) or rural (xã), for communes"),
        sa.Column("valid_from", sa.Date, comment="First day the unit exists (empty: always)"),
        sa.Column("valid_to", sa.Date, comment="Last day the unit exists (empty: still exists)"),
        comment=TABLE_DOCS["dim_unit"],
    )
    sa.Table(
        "dim_period", md,
        sa.Column("period_id", sa.String(32), primary_key=True, comment="Period id: YYYY-H1, YYYY-FY or ad-hoc"),
        sa.Column("name", sa.Text, nullable=False, comment="Tên kỳ báo cáo, e.g. Báo cáo năm 2026"),
        sa.Column("kind", sa.String(16), nullable=False, comment="H1, FY or ADHOC"),
        sa.Column("year", sa.Integer, nullable=False, comment="Year of the period"),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False, comment="First moment files are accepted"),
        sa.Column("commune_deadline", sa.DateTime(timezone=True), nullable=False,
                  comment="Hạn xã nộp: end of the deadline day, local time"),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False,
                  comment="Last moment files are accepted (deadline + grace)"),
        sa.Column("district_deadline", sa.DateTime(timezone=True), comment="Hạn huyện báo cáo tỉnh"),
        sa.Column("province_deadline", sa.DateTime(timezone=True), comment="Hạn tỉnh báo cáo bộ"),
        sa.Column("map_edition", sa.String(16), comment="Map edition in force on the commune deadline"),
        comment=TABLE_DOCS["dim_period"],
    )
    sa.Table(
        "map_correspondence", md,
        sa.Column("old_edition", sa.String(16), primary_key=True, comment="Map edition before the reform"),
        sa.Column("new_edition", sa.String(16), primary_key=True, comment="Map edition after the reform"),
        sa.Column("level", sa.String(16), primary_key=True, comment="province or commune"),
        sa.Column("old_code", sa.String(16), primary_key=True, comment="Code of the old unit (old edition)"),
        sa.Column("new_code", sa.String(16), primary_key=True, comment="Code of the new unit (new edition)"),
        sa.Column("share", RATE, nullable=False,
                  comment="Part of the old unit that went to the new one: 1 when whole; for a split old commune "
                          "an estimate from the new communes' areas"),
        sa.Column("is_whole", sa.Boolean, nullable=False, comment="The old unit went entirely into the new one"),
        comment=TABLE_DOCS["map_correspondence"],
    )
    sa.Table(
        "dim_component", md,
        sa.Column("component", sa.String(16), primary_key=True, comment="Component key p1 … p7_2"),
        sa.Column("number", sa.String(8), nullable=False, comment="STT in the funding sheet, e.g. 3.1"),
        sa.Column("label", sa.Text, nullable=False, comment="Tên dự án, tiểu dự án"),
        comment=TABLE_DOCS["dim_component"],
    )
    sa.Table(
        "dim_indicator", md,
        sa.Column("section", sa.String(16), primary_key=True, comment="deprivations or outputs"),
        sa.Column("indicator", sa.String(32), primary_key=True, comment="Indicator key"),
        sa.Column("number", sa.String(8), nullable=False, comment="STT in the sheet"),
        sa.Column("label", sa.Text, nullable=False, comment="Tên chỉ số / chỉ tiêu"),
        sa.Column("dimension", sa.Text, comment="Chiều thiếu hụt (deprivations)"),
        sa.Column("unit", sa.Text, comment="Đơn vị tính (outputs)"),
        comment=TABLE_DOCS["dim_indicator"],
    )
    sa.Table(
        "submission", md,
        sa.Column("submission_id", sa.String(40), primary_key=True, comment="Stable id of the file at its place"),
        sa.Column("period_id", sa.String(32), nullable=False, index=True, comment="Period the file was sent for"),
        sa.Column("submitted_for", sa.String(16), index=True,
                  comment="Commune whose folder the file arrived in (empty: outside any commune folder)"),
        sa.Column("province_code", sa.String(16), comment="Province folder of the file"),
        sa.Column("source_key", sa.Text, nullable=False, comment="Path of the file in the inbox"),
        sa.Column("file_name", sa.Text, nullable=False, comment="Original file name"),
        sa.Column("sha256", sa.String(64), nullable=False, comment="Content hash"),
        sa.Column("size_bytes", sa.BigInteger, nullable=False, comment="File size"),
        sa.Column("source_version", sa.String(64), nullable=False, comment="File mtime or object ETag when recorded"),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, comment="When the file arrived (UTC)"),
        sa.Column("on_time", sa.Boolean, nullable=False, comment="Received by the end of the deadline day"),
        _edition_column("Map edition of submitted_for and province_code (the period's edition)"),
        sa.Column("origin", sa.String(16), nullable=False, server_default="live",
                  comment="live (arrived in the inbox) or imported (history loaded with its real received time)"),
        sa.Column("imported_by", sa.Text, comment="Who imported the file (imported files)"),
        sa.Column("import_reason", sa.Text, comment="Why it was imported (imported files)"),
        sa.Column("status", sa.String(16), nullable=False,
                  comment="received (not processed yet), accepted, rejected, superseded, duplicate, returned "
                          "(sent back by an officer) or held (valid, kept out while its unit is approved)"),
        sa.Column("duplicate_of", sa.String(40), comment="For a byte-identical re-send: the original submission"),
        sa.Column("error_count", sa.Integer, nullable=False, comment="Findings of severity error"),
        sa.Column("warning_count", sa.Integer, nullable=False, comment="Findings of severity warning"),
        sa.Column("annotated_path", sa.Text, comment="Annotated workbook, relative to the outputs location"),
        comment=TABLE_DOCS["submission"],
    )
    report_columns = [sa.Column("submission_id", sa.String(40), primary_key=True, comment="submission.submission_id")]
    for f in spec.fields:
        unit = f" ({f.unit})" if f.unit else ""
        report_columns.append(sa.Column(f.key, _FIELD_TYPES.get(f.type, sa.Text()),
                                        comment=f"{f.label}{unit} — sheet «{f.sheet}», cell {f.cell}"))
    sa.Table("report", md, *report_columns, comment=TABLE_DOCS["report"])
    sa.Table(
        "finding", md,
        sa.Column("submission_id", sa.String(40), primary_key=True, comment="submission.submission_id"),
        sa.Column("seq", sa.Integer, primary_key=True, comment="Order of the finding within the file"),
        sa.Column("check_id", sa.String(16), nullable=False, index=True, comment="Check id, e.g. TH-B-002"),
        sa.Column("severity", sa.String(8), nullable=False, comment="error (rejects the report) or warning"),
        sa.Column("sheet", sa.Text, comment="Sheet of the cell(s)"),
        sa.Column("cell", sa.Text, comment="Every cell involved, comma-separated"),
        sa.Column("field_key", sa.String(64), comment="Template field the finding is about"),
        sa.Column("label", sa.Text, comment="Vietnamese label of that field"),
        sa.Column("value", sa.Text, comment="Value found"),
        sa.Column("expected", sa.Text, comment="What was expected"),
        sa.Column("message", sa.Text, nullable=False, comment="The message shown to the commune (Vietnamese)"),
        sa.Column("commune_code", sa.String(16), comment="Commune the file was sent for"),
        sa.Column("file_name", sa.Text, comment="File name"),
        comment=TABLE_DOCS["finding"],
    )
    sa.Table(
        "publication", md,
        sa.Column("period_id", sa.String(32), primary_key=True, comment="Period"),
        sa.Column("version", sa.Integer, primary_key=True, comment="1, 2, …: the facts tables hold the latest"),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False, comment="When it was published"),
        sa.Column("run_id", sa.String(64), nullable=False, comment="Run that published it"),
        sa.Column("content_sha256", sa.String(64), nullable=False, comment="Hash of the published figures"),
        sa.Column("accepted_reports", sa.Integer, nullable=False, comment="Accepted commune reports it contains"),
        _edition_column("Map edition the figures were consolidated on"),
        comment=TABLE_DOCS["publication"],
    )
    _fact_tables(md, spec)
    sa.Table(
        "sign_off_event", md,
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True, comment="Order of the event"),
        sa.Column("period_id", sa.String(32), nullable=False, index=True, comment="Period"),
        _edition_column(),
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
    sa.Table(
        "unit_approval", md,
        sa.Column("period_id", sa.String(32), primary_key=True, comment="Period"),
        _edition_column(primary_key=True),
        sa.Column("unit_code", sa.String(16), primary_key=True, comment="Consolidating unit (district or province)"),
        sa.Column("state", sa.String(16), nullable=False, comment="draft, approved or accepted"),
        sa.Column("event_id", sa.Integer, nullable=False, comment="sign_off_event that set the state"),
        sa.Column("changed_by", sa.Text, nullable=False, comment="Login that set the state"),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False, comment="When the state was set"),
        comment=TABLE_DOCS["unit_approval"],
    )
    sa.Table(
        "review_finding", md,
        sa.Column("period_id", sa.String(32), nullable=False, index=True, comment="Period"),
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
    sa.Table(
        "counted_report", md,
        sa.Column("period_id", sa.String(32), primary_key=True, comment="Period"),
        sa.Column("commune_code", sa.String(16), primary_key=True, comment="Commune"),
        _edition_column(),
        sa.Column("submission_id", sa.String(40), nullable=False, comment="The accepted report that counts"),
        comment=TABLE_DOCS["counted_report"],
    )
    sa.Table(
        "email_log", md,
        sa.Column("kind", sa.String(32), primary_key=True,
                  comment="result, reminder_<n>d, district_summary, consolidation_alert, task_failure"),
        sa.Column("period_id", sa.String(32), primary_key=True, comment="Period (or run id for task failures)"),
        sa.Column("ref", sa.String(64), primary_key=True, comment="Submission id, commune or district code"),
        sa.Column("recipient", sa.String(254), primary_key=True, comment="Address it was sent to"),
        sa.Column("subject", sa.Text, nullable=False, comment="Subject line"),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False, comment="When the SMTP server accepted it"),
        comment=TABLE_DOCS["email_log"],
    )
    sa.Table(
        "run_log", md,
        sa.Column("run_id", sa.String(64), primary_key=True, comment="Airflow run id, or cli-… for tonghop run"),
        sa.Column("stage", sa.String(16), primary_key=True, comment="consolidate"),
        sa.Column("period_id", sa.String(32), nullable=False, index=True, comment="Period"),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False, comment="The run's (logical) time"),
        sa.Column("files", sa.Integer, nullable=False, comment="Files in the ledger"),
        sa.Column("detail", sa.Text, comment="Ledger counts (JSON)"),
        comment=TABLE_DOCS["run_log"],
    )
    return md


HOUSEHOLD_SERIES_SUMS = ("total_households", "poor_start", "poor_end", "near_poor_start", "near_poor_end",
                         "poor_ethnic_minority", "near_poor_ethnic_minority", "recently_exited")


def _series_sql() -> str:
    """v_households_series: every period's households on the post-reform units. Pre-reform figures go through
    map_correspondence: exact sums for provinces and for communes made of whole old communes; a split old
    commune's figures are apportioned by its share and the row is flagged is_estimated."""
    native = ", ".join(f"h.{c}" for c in HOUSEHOLD_SERIES_SUMS)
    mapped = ", ".join(f"CAST(ROUND(SUM(h.{c} * m.share)) AS BIGINT) AS {c}" for c in HOUSEHOLD_SERIES_SUMS)
    return f"""
SELECT h.period_id, p.name AS period_name, h.map_edition AS source_edition, u.map_edition, h.unit_code,
       u.name AS unit_name, h.unit_level, h.area, h.reports, {native}, h.poor_rate, h.near_poor_rate,
       0 AS is_estimated
FROM fact_households h
JOIN dim_unit u ON u.map_edition = h.map_edition AND u.code = h.unit_code
JOIN dim_period p ON p.period_id = h.period_id
WHERE h.unit_level IN ('province', 'commune')
  AND h.map_edition IN (SELECT DISTINCT new_edition FROM map_correspondence)
UNION ALL
SELECT h.period_id, p.name AS period_name, h.map_edition AS source_edition, u.map_edition, m.new_code AS unit_code,
       u.name AS unit_name, h.unit_level, h.area, SUM(h.reports) AS reports, {mapped},
       100.0 * SUM(h.poor_end * m.share) / NULLIF(SUM(h.total_households * m.share), 0) AS poor_rate,
       100.0 * SUM(h.near_poor_end * m.share) / NULLIF(SUM(h.total_households * m.share), 0) AS near_poor_rate,
       MAX(CASE WHEN m.is_whole THEN 0 ELSE 1 END) AS is_estimated
FROM fact_households h
JOIN map_correspondence m ON m.old_edition = h.map_edition AND m.old_code = h.unit_code AND m.level = h.unit_level
JOIN dim_unit u ON u.map_edition = m.new_edition AND u.code = m.new_code
JOIN dim_period p ON p.period_id = h.period_id
WHERE h.unit_level IN ('province', 'commune')
GROUP BY h.period_id, p.name, h.map_edition, u.map_edition, m.new_code, u.name, h.unit_level, h.area
"""


# Stable views for BI tools (the BI role reads these and nothing else). Portable SQL: SQLite and PostgreSQL.
# A unit is map_edition + code: every join to dim_unit matches both.
VIEWS: dict[str, tuple[str, str]] = {
    "v_households": (
        ("Households and poverty rates of every unit (province, district, commune) and area, with names and the "
        "unit's reporting completeness."),
        """
SELECT c.period_id, p.name AS period_name, c.map_edition, c.unit_code, u.name AS unit_name, c.unit_level,
       u.province_code, u.district_code, c.area, h.reports, h.reports_with_warnings, h.total_households,
       h.poor_start, h.poor_exited, h.poor_returned, h.poor_new, h.poor_end, h.poor_rate,
       h.near_poor_start, h.near_poor_exited, h.near_poor_returned, h.near_poor_new, h.near_poor_end,
       h.near_poor_rate, h.poor_ethnic_minority, h.near_poor_ethnic_minority, h.recently_exited,
       c.expected, c.received, c.accepted, c.on_time, c.reporting_rate, c.on_time_rate, c.is_partial,
       c.version
FROM fact_completeness c
JOIN dim_unit u ON u.map_edition = c.map_edition AND u.code = c.unit_code
JOIN dim_period p ON p.period_id = c.period_id
LEFT JOIN fact_households h ON h.period_id = c.period_id AND h.unit_code = c.unit_code AND h.area = c.area
"""),
    "v_province_summary": (
        "One row per period × province × area: households, rates and completeness.",
        "SELECT * FROM v_households WHERE unit_level = 'province'"),
    "v_district_ranking": (
        ("Districts ranked within their province by poverty rate (1 = highest), with completeness "
         "(three-level map periods only: the 2025 map has no districts)."),
        """
SELECT period_id, period_name, map_edition, province_code, unit_code AS district_code,
       unit_name AS district_name, total_households, poor_end, poor_rate, near_poor_end, near_poor_rate,
       reporting_rate, on_time_rate, is_partial,
       RANK() OVER (PARTITION BY period_id, province_code ORDER BY poor_rate DESC) AS poverty_rank
FROM v_households
WHERE unit_level = 'district' AND area = 'total' AND poor_rate IS NOT NULL
"""),
    "v_reporting_completeness": (
        "Reporting completeness and timeliness of every unit and area.",
        """
SELECT c.period_id, p.name AS period_name, p.commune_deadline, c.map_edition, c.unit_code, u.name AS unit_name,
       c.unit_level, u.province_code, u.district_code, c.area, c.expected, c.received, c.accepted,
       c.accepted_with_warnings, c.rejected, c.missing, c.on_time, c.imported, c.reporting_rate, c.on_time_rate,
       c.acceptance_rate, c.is_partial, c.version
FROM fact_completeness c
JOIN dim_unit u ON u.map_edition = c.map_edition AND u.code = c.unit_code
JOIN dim_period p ON p.period_id = c.period_id
"""),
    "v_funding_disbursement": (
        "Funding by programme component (million VND) and disbursement rate, for every unit and area.",
        """
SELECT f.period_id, p.name AS period_name, f.map_edition, f.unit_code, u.name AS unit_name, f.unit_level,
       u.province_code, u.district_code, f.area, f.component, COALESCE(d.label, 'Tổng cộng') AS component_label,
       f.eligible_units, f.carried_over, f.alloc_central, f.alloc_local, f.mobilised,
       f.disb_central, f.disb_local, f.disb_mobilised, f.disbursement_rate, f.version
FROM fact_funding f
JOIN dim_unit u ON u.map_edition = f.map_edition AND u.code = f.unit_code
JOIN dim_period p ON p.period_id = f.period_id
LEFT JOIN dim_component d ON d.component = f.component
"""),
    "v_findings": (
        "Every finding with its file, commune and period: what the communes got wrong, over time.",
        """
SELECT s.period_id, s.map_edition, s.submitted_for AS commune_code, u.name AS commune_name, u.district_code,
       u.province_code, s.file_name, s.received_at, s.origin, s.status, f.check_id, f.severity, f.sheet, f.cell,
       f.label, f.value, f.expected, f.message
FROM finding f
JOIN submission s ON s.submission_id = f.submission_id
LEFT JOIN dim_unit u ON u.map_edition = s.map_edition AND u.code = s.submitted_for
"""),
    "v_households_series": (
        ("Households of every period on the post-reform units (provinces and communes of the 2025 map): "
         "pre-reform figures summed through map_correspondence, exact for provinces and merged communes, "
         "is_estimated = 1 where an old commune was split."),
        _series_sql()),
}


# A consolidating unit's sign-off state; a commune's figures carry the state of the unit that consolidates them.
_SIGNED_SQL = """
SELECT v.*, COALESCE(a.state, 'draft') AS approval_state, a.changed_at AS approval_changed_at
FROM v_households v
LEFT JOIN unit_approval a ON a.period_id = v.period_id AND a.map_edition = v.map_edition
 AND a.unit_code = CASE WHEN v.unit_level = 'commune' THEN COALESCE(v.district_code, v.province_code)
                        ELSE v.unit_code END
"""

VIEWS.update({
    "v_households_signed": (
        ("v_households with the sign-off state of each row's unit (a commune: of the unit that consolidates it): "
         "draft, approved (by the unit's officer) or accepted (by the level above)."),
        _SIGNED_SQL),
    "v_households_approved": (
        "Only signed figures: the rows of v_households_signed whose state is approved or accepted.",
        "SELECT * FROM v_households_signed WHERE approval_state IN ('approved', 'accepted')"),
    "v_sign_off": (
        ("The sign-off audit trail with unit names: who sent back, explained, approved, accepted, returned or "
         "withdrew what, when and why."),
        """
SELECT e.event_id, e.period_id, e.map_edition, e.unit_code, u.name AS unit_name, u.level AS unit_level, e.action,
       e.submission_id, e.actor, e.actor_unit, e.reason, e.version, e.at
FROM sign_off_event e
LEFT JOIN dim_unit u ON u.map_edition = e.map_edition AND u.code = e.unit_code
"""),
})
# The revision that introduced a view (the others: 0001/0002): each migration creates the views it knows.
VIEW_REVISIONS = {"v_households_signed": "0003", "v_households_approved": "0003", "v_sign_off": "0003"}


def create_views(execute: Callable[[str], object], upto: str | None = None, only: str | None = None) -> None:
    """Create the BI views in dependency order: all, those introduced `upto` a revision, or `only` one revision's.
    A migration that changes a view drops and recreates them all."""
    for name, (_, sql) in VIEWS.items():
        since = VIEW_REVISIONS.get(name, "0002")
        if (upto and since > upto) or (only and since != only):
            continue
        execute(f"CREATE VIEW {name} AS {sql.strip()}")


def drop_views(execute: Callable[[str], object]) -> None:
    for name in reversed(list(VIEWS)):
        execute(f"DROP VIEW IF EXISTS {name}")
