"""initial schema and BI views

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 11:16:36.929021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# The BI views as this revision made them (a revision is a snapshot: later revisions change them, and
# migrating a new database passes through this one first).
VIEWS_0001: dict[str, tuple[str, str]] = {
    "v_households": (
        ("Households and poverty rates of every unit (province, district, commune) and area, with names and the "
        "unit's reporting completeness."),
        """
SELECT c.period_id, p.name AS period_name, c.unit_code, u.name AS unit_name, c.unit_level, u.province_code,
       u.district_code, c.area, h.reports, h.reports_with_warnings, h.total_households,
       h.poor_start, h.poor_exited, h.poor_returned, h.poor_new, h.poor_end, h.poor_rate,
       h.near_poor_start, h.near_poor_exited, h.near_poor_returned, h.near_poor_new, h.near_poor_end,
       h.near_poor_rate, h.poor_ethnic_minority, h.near_poor_ethnic_minority, h.recently_exited,
       c.expected, c.received, c.accepted, c.on_time, c.reporting_rate, c.on_time_rate, c.is_partial,
       c.version
FROM fact_completeness c
JOIN dim_unit u ON u.code = c.unit_code
JOIN dim_period p ON p.period_id = c.period_id
LEFT JOIN fact_households h ON h.period_id = c.period_id AND h.unit_code = c.unit_code AND h.area = c.area
"""),
    "v_province_summary": (
        "One row per period × province × area: households, rates and completeness.",
        "SELECT * FROM v_households WHERE unit_level = 'province'"),
    "v_district_ranking": (
        "Districts ranked within their province by poverty rate (1 = highest), with completeness.",
        """
SELECT period_id, period_name, province_code, unit_code AS district_code, unit_name AS district_name,
       total_households, poor_end, poor_rate, near_poor_end, near_poor_rate, reporting_rate, on_time_rate,
       is_partial,
       RANK() OVER (PARTITION BY period_id, province_code ORDER BY poor_rate DESC) AS poverty_rank
FROM v_households
WHERE unit_level = 'district' AND area = 'total' AND poor_rate IS NOT NULL
"""),
    "v_reporting_completeness": (
        "Reporting completeness and timeliness of every unit and area.",
        """
SELECT c.period_id, p.name AS period_name, p.commune_deadline, c.unit_code, u.name AS unit_name, c.unit_level,
       u.province_code, u.district_code, c.area, c.expected, c.received, c.accepted, c.accepted_with_warnings,
       c.rejected, c.missing, c.on_time, c.reporting_rate, c.on_time_rate, c.acceptance_rate, c.is_partial,
       c.version
FROM fact_completeness c
JOIN dim_unit u ON u.code = c.unit_code
JOIN dim_period p ON p.period_id = c.period_id
"""),
    "v_funding_disbursement": (
        "Funding by programme component (million VND) and disbursement rate, for every unit and area.",
        """
SELECT f.period_id, p.name AS period_name, f.unit_code, u.name AS unit_name, f.unit_level, u.province_code,
       u.district_code, f.area, f.component, COALESCE(d.label, 'Tổng cộng') AS component_label,
       f.eligible_units, f.carried_over, f.alloc_central, f.alloc_local, f.mobilised,
       f.disb_central, f.disb_local, f.disb_mobilised, f.disbursement_rate, f.version
FROM fact_funding f
JOIN dim_unit u ON u.code = f.unit_code
JOIN dim_period p ON p.period_id = f.period_id
LEFT JOIN dim_component d ON d.component = f.component
"""),
    "v_findings": (
        "Every finding with its file, commune and period: what the communes got wrong, over time.",
        """
SELECT s.period_id, s.submitted_for AS commune_code, u.name AS commune_name, u.district_code, u.province_code,
       s.file_name, s.received_at, s.status, f.check_id, f.severity, f.sheet, f.cell, f.label, f.value,
       f.expected, f.message
FROM finding f
JOIN submission s ON s.submission_id = f.submission_id
LEFT JOIN dim_unit u ON u.code = s.submitted_for
"""),
}


def create_views(execute) -> None:
    for name, (_, sql) in VIEWS_0001.items():
        execute(f"CREATE VIEW {name} AS {sql.strip()}")


def drop_views(execute) -> None:
    for name in reversed(list(VIEWS_0001)):
        execute(f"DROP VIEW IF EXISTS {name}")


def upgrade() -> None:
    op.create_table('dim_component',
    sa.Column('component', sa.String(length=16), nullable=False, comment='Component key p1 … p7_2'),
    sa.Column('number', sa.String(length=8), nullable=False, comment='STT in the funding sheet, e.g. 3.1'),
    sa.Column('label', sa.Text(), nullable=False, comment='Tên dự án, tiểu dự án'),
    sa.PrimaryKeyConstraint('component'),
    comment='Programme components (projects and sub-projects) of the funding sheet.'
    )
    op.create_table('dim_indicator',
    sa.Column('section', sa.String(length=16), nullable=False, comment='deprivations or outputs'),
    sa.Column('indicator', sa.String(length=32), nullable=False, comment='Indicator key'),
    sa.Column('number', sa.String(length=8), nullable=False, comment='STT in the sheet'),
    sa.Column('label', sa.Text(), nullable=False, comment='Tên chỉ số / chỉ tiêu'),
    sa.Column('dimension', sa.Text(), nullable=True, comment='Chiều thiếu hụt (deprivations)'),
    sa.Column('unit', sa.Text(), nullable=True, comment='Đơn vị tính (outputs)'),
    sa.PrimaryKeyConstraint('section', 'indicator'),
    comment='Indicators of the deprivation and output sheets.'
    )
    op.create_table('dim_period',
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Period id: YYYY-H1, YYYY-FY or ad-hoc'),
    sa.Column('name', sa.Text(), nullable=False, comment='Tên kỳ báo cáo, e.g. Báo cáo năm 2026'),
    sa.Column('kind', sa.String(length=16), nullable=False, comment='H1, FY or ADHOC'),
    sa.Column('year', sa.Integer(), nullable=False, comment='Year of the period'),
    sa.Column('opens_at', sa.DateTime(timezone=True), nullable=False, comment='First moment files are accepted'),
    sa.Column('commune_deadline', sa.DateTime(timezone=True), nullable=False, comment='Hạn xã nộp: end of the deadline day, local time'),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False, comment='Last moment files are accepted (deadline + grace)'),
    sa.Column('district_deadline', sa.DateTime(timezone=True), nullable=True, comment='Hạn huyện báo cáo tỉnh'),
    sa.Column('province_deadline', sa.DateTime(timezone=True), nullable=True, comment='Hạn tỉnh báo cáo bộ'),
    sa.PrimaryKeyConstraint('period_id'),
    comment='Reporting periods from the calendar with their windows and deadlines (local times stored in UTC).'
    )
    op.create_table('dim_unit',
    sa.Column('code', sa.String(length=16), nullable=False, comment='GSO code (mã đơn vị hành chính)'),
    sa.Column('name', sa.Text(), nullable=False, comment='Tên đơn vị, e.g. Xã An Hiệp'),
    sa.Column('level', sa.String(length=16), nullable=False, comment='province, district or commune'),
    sa.Column('parent_code', sa.String(length=16), nullable=True, comment='Code of the unit one level up'),
    sa.Column('province_code', sa.String(length=16), nullable=True, comment='Code of the province the unit is in'),
    sa.Column('district_code', sa.String(length=16), nullable=True, comment='Code of the district the unit is in (three-level maps)'),
    sa.Column('area', sa.String(length=8), nullable=True, comment='urban (phường, thị trấn) or rural (xã), for communes'),
    sa.Column('valid_from', sa.Date(), nullable=True, comment='First day the unit exists (empty: always)'),
    sa.Column('valid_to', sa.Date(), nullable=True, comment='Last day the unit exists (empty: still exists)'),
    sa.PrimaryKeyConstraint('code'),
    comment='Administrative units (the hierarchy used by the last consolidation): provinces, districts, communes, with urban/rural area and validity dates.'
    )
    op.create_table('email_log',
    sa.Column('kind', sa.String(length=32), nullable=False, comment='result, reminder_<n>d, district_summary, consolidation_alert, task_failure'),
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Period (or run id for task failures)'),
    sa.Column('ref', sa.String(length=64), nullable=False, comment='Submission id, commune or district code'),
    sa.Column('recipient', sa.String(length=254), nullable=False, comment='Address it was sent to'),
    sa.Column('subject', sa.Text(), nullable=False, comment='Subject line'),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False, comment='When the SMTP server accepted it'),
    sa.PrimaryKeyConstraint('kind', 'period_id', 'ref', 'recipient'),
    comment='E-mails sent (one row per message and recipient): makes sending idempotent.'
    )
    op.create_table('fact_completeness',
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Reporting period id, e.g. 2026-FY'),
    sa.Column('unit_code', sa.String(length=16), nullable=False, comment='GSO code of the unit (dim_unit.code)'),
    sa.Column('area', sa.String(length=8), nullable=False, comment='total, urban (Khu vực thành thị) or rural (Khu vực nông thôn); communes: total'),
    sa.Column('unit_level', sa.String(length=16), nullable=False, comment='province, district or commune'),
    sa.Column('version', sa.Integer(), nullable=False, comment='Publication version this row belongs to'),
    sa.Column('expected', sa.Integer(), nullable=False, comment='Communes that must report (existing on the deadline day)'),
    sa.Column('received', sa.Integer(), nullable=False, comment='Communes that sent at least one file'),
    sa.Column('accepted', sa.Integer(), nullable=False, comment='Communes with an accepted report'),
    sa.Column('accepted_with_warnings', sa.Integer(), nullable=False, comment='Communes whose accepted report carries warnings'),
    sa.Column('rejected', sa.Integer(), nullable=False, comment='Communes that sent files but have no accepted report'),
    sa.Column('missing', sa.Integer(), nullable=False, comment='Communes that sent nothing'),
    sa.Column('on_time', sa.Integer(), nullable=False, comment='Communes with a file received by the end of the deadline day'),
    sa.Column('reporting_rate', sa.Float(), nullable=True, comment='Tỷ lệ báo cáo: received / expected × 100'),
    sa.Column('on_time_rate', sa.Float(), nullable=True, comment='Tỷ lệ báo cáo đúng hạn: on_time / expected × 100'),
    sa.Column('acceptance_rate', sa.Float(), nullable=True, comment='accepted / expected × 100'),
    sa.Column('is_partial', sa.Boolean(), nullable=False, comment="True when accepted < expected: the unit's figures are partial"),
    sa.PrimaryKeyConstraint('period_id', 'unit_code', 'area'),
    comment='Reporting completeness and timeliness per period × unit × area.'
    )
    op.create_table('fact_completeness_history',
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Reporting period id, e.g. 2026-FY'),
    sa.Column('unit_code', sa.String(length=16), nullable=False, comment='GSO code of the unit (dim_unit.code)'),
    sa.Column('area', sa.String(length=8), nullable=False, comment='total, urban (Khu vực thành thị) or rural (Khu vực nông thôn); communes: total'),
    sa.Column('unit_level', sa.String(length=16), nullable=False, comment='province, district or commune'),
    sa.Column('version', sa.Integer(), nullable=False, comment='Publication version this row belongs to'),
    sa.Column('expected', sa.Integer(), nullable=False, comment='Communes that must report (existing on the deadline day)'),
    sa.Column('received', sa.Integer(), nullable=False, comment='Communes that sent at least one file'),
    sa.Column('accepted', sa.Integer(), nullable=False, comment='Communes with an accepted report'),
    sa.Column('accepted_with_warnings', sa.Integer(), nullable=False, comment='Communes whose accepted report carries warnings'),
    sa.Column('rejected', sa.Integer(), nullable=False, comment='Communes that sent files but have no accepted report'),
    sa.Column('missing', sa.Integer(), nullable=False, comment='Communes that sent nothing'),
    sa.Column('on_time', sa.Integer(), nullable=False, comment='Communes with a file received by the end of the deadline day'),
    sa.Column('reporting_rate', sa.Float(), nullable=True, comment='Tỷ lệ báo cáo: received / expected × 100'),
    sa.Column('on_time_rate', sa.Float(), nullable=True, comment='Tỷ lệ báo cáo đúng hạn: on_time / expected × 100'),
    sa.Column('acceptance_rate', sa.Float(), nullable=True, comment='accepted / expected × 100'),
    sa.Column('is_partial', sa.Boolean(), nullable=False, comment="True when accepted < expected: the unit's figures are partial"),
    sa.PrimaryKeyConstraint('period_id', 'unit_code', 'area', 'version'),
    comment='Earlier publication versions of fact_completeness (same columns).'
    )
    op.create_table('fact_deprivations',
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Reporting period id, e.g. 2026-FY'),
    sa.Column('unit_code', sa.String(length=16), nullable=False, comment='GSO code of the unit (dim_unit.code)'),
    sa.Column('area', sa.String(length=8), nullable=False, comment='total, urban (Khu vực thành thị) or rural (Khu vực nông thôn); communes: total'),
    sa.Column('unit_level', sa.String(length=16), nullable=False, comment='province, district or commune'),
    sa.Column('version', sa.Integer(), nullable=False, comment='Publication version this row belongs to'),
    sa.Column('indicator', sa.String(length=32), nullable=False, comment='Indicator key (dim_indicator)'),
    sa.Column('reports', sa.Integer(), nullable=False, comment='Number of accepted reports (communes) behind the figure'),
    sa.Column('poor', sa.BigInteger(), nullable=True, comment='Số hộ nghèo thiếu hụt'),
    sa.Column('near_poor', sa.BigInteger(), nullable=True, comment='Số hộ cận nghèo thiếu hụt'),
    sa.Column('poor_share', sa.Float(), nullable=True, comment='poor / poor_end of fact_households × 100'),
    sa.Column('near_poor_share', sa.Float(), nullable=True, comment='near_poor / near_poor_end of fact_households × 100'),
    sa.PrimaryKeyConstraint('period_id', 'unit_code', 'area', 'indicator'),
    comment='Households lacking each basic-social-service indicator per period × unit × area.'
    )
    op.create_table('fact_deprivations_history',
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Reporting period id, e.g. 2026-FY'),
    sa.Column('unit_code', sa.String(length=16), nullable=False, comment='GSO code of the unit (dim_unit.code)'),
    sa.Column('area', sa.String(length=8), nullable=False, comment='total, urban (Khu vực thành thị) or rural (Khu vực nông thôn); communes: total'),
    sa.Column('unit_level', sa.String(length=16), nullable=False, comment='province, district or commune'),
    sa.Column('version', sa.Integer(), nullable=False, comment='Publication version this row belongs to'),
    sa.Column('indicator', sa.String(length=32), nullable=False, comment='Indicator key (dim_indicator)'),
    sa.Column('reports', sa.Integer(), nullable=False, comment='Number of accepted reports (communes) behind the figure'),
    sa.Column('poor', sa.BigInteger(), nullable=True, comment='Số hộ nghèo thiếu hụt'),
    sa.Column('near_poor', sa.BigInteger(), nullable=True, comment='Số hộ cận nghèo thiếu hụt'),
    sa.Column('poor_share', sa.Float(), nullable=True, comment='poor / poor_end of fact_households × 100'),
    sa.Column('near_poor_share', sa.Float(), nullable=True, comment='near_poor / near_poor_end of fact_households × 100'),
    sa.PrimaryKeyConstraint('period_id', 'unit_code', 'area', 'version', 'indicator'),
    comment='Earlier publication versions of fact_deprivations (same columns).'
    )
    op.create_table('fact_funding',
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Reporting period id, e.g. 2026-FY'),
    sa.Column('unit_code', sa.String(length=16), nullable=False, comment='GSO code of the unit (dim_unit.code)'),
    sa.Column('area', sa.String(length=8), nullable=False, comment='total, urban (Khu vực thành thị) or rural (Khu vực nông thôn); communes: total'),
    sa.Column('unit_level', sa.String(length=16), nullable=False, comment='province, district or commune'),
    sa.Column('version', sa.Integer(), nullable=False, comment='Publication version this row belongs to'),
    sa.Column('component', sa.String(length=16), nullable=False, comment='Component key p1 … p7_2 (dim_component), or total'),
    sa.Column('reports', sa.Integer(), nullable=False, comment='Number of accepted reports (communes) behind the figure'),
    sa.Column('eligible_units', sa.Integer(), nullable=False, comment='Communes eligible for the component (Thuộc đối tượng = Có)'),
    sa.Column('carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng)'),
    sa.Column('alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Được giao từ ngân sách trung ương (triệu đồng)'),
    sa.Column('alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Được giao từ ngân sách địa phương (triệu đồng)'),
    sa.Column('mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Vốn lồng ghép, huy động (triệu đồng)'),
    sa.Column('disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Giải ngân ngân sách trung ương (triệu đồng)'),
    sa.Column('disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Giải ngân ngân sách địa phương (triệu đồng)'),
    sa.Column('disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Giải ngân vốn lồng ghép, huy động (triệu đồng)'),
    sa.Column('disbursement_rate', sa.Float(), nullable=True, comment='Tỷ lệ giải ngân: disbursed / (carried over + allocated + mobilised) × 100'),
    sa.PrimaryKeyConstraint('period_id', 'unit_code', 'area', 'component'),
    comment='Programme funding per period × unit × area × component (million VND).'
    )
    op.create_table('fact_funding_history',
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Reporting period id, e.g. 2026-FY'),
    sa.Column('unit_code', sa.String(length=16), nullable=False, comment='GSO code of the unit (dim_unit.code)'),
    sa.Column('area', sa.String(length=8), nullable=False, comment='total, urban (Khu vực thành thị) or rural (Khu vực nông thôn); communes: total'),
    sa.Column('unit_level', sa.String(length=16), nullable=False, comment='province, district or commune'),
    sa.Column('version', sa.Integer(), nullable=False, comment='Publication version this row belongs to'),
    sa.Column('component', sa.String(length=16), nullable=False, comment='Component key p1 … p7_2 (dim_component), or total'),
    sa.Column('reports', sa.Integer(), nullable=False, comment='Number of accepted reports (communes) behind the figure'),
    sa.Column('eligible_units', sa.Integer(), nullable=False, comment='Communes eligible for the component (Thuộc đối tượng = Có)'),
    sa.Column('carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng)'),
    sa.Column('alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Được giao từ ngân sách trung ương (triệu đồng)'),
    sa.Column('alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Được giao từ ngân sách địa phương (triệu đồng)'),
    sa.Column('mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Vốn lồng ghép, huy động (triệu đồng)'),
    sa.Column('disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Giải ngân ngân sách trung ương (triệu đồng)'),
    sa.Column('disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Giải ngân ngân sách địa phương (triệu đồng)'),
    sa.Column('disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Giải ngân vốn lồng ghép, huy động (triệu đồng)'),
    sa.Column('disbursement_rate', sa.Float(), nullable=True, comment='Tỷ lệ giải ngân: disbursed / (carried over + allocated + mobilised) × 100'),
    sa.PrimaryKeyConstraint('period_id', 'unit_code', 'area', 'version', 'component'),
    comment='Earlier publication versions of fact_funding (same columns).'
    )
    op.create_table('fact_households',
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Reporting period id, e.g. 2026-FY'),
    sa.Column('unit_code', sa.String(length=16), nullable=False, comment='GSO code of the unit (dim_unit.code)'),
    sa.Column('area', sa.String(length=8), nullable=False, comment='total, urban (Khu vực thành thị) or rural (Khu vực nông thôn); communes: total'),
    sa.Column('unit_level', sa.String(length=16), nullable=False, comment='province, district or commune'),
    sa.Column('version', sa.Integer(), nullable=False, comment='Publication version this row belongs to'),
    sa.Column('reports', sa.Integer(), nullable=False, comment='Number of accepted reports (communes) behind the figure'),
    sa.Column('reports_with_warnings', sa.Integer(), nullable=False, comment='Accepted reports behind the figure that carry warnings (flagged, not excluded)'),
    sa.Column('total_households', sa.BigInteger(), nullable=True, comment='Sum of: Tổng số hộ dân cư'),
    sa.Column('poor_ethnic_minority', sa.BigInteger(), nullable=True, comment='Sum of: Hộ nghèo là hộ dân tộc thiểu số'),
    sa.Column('near_poor_ethnic_minority', sa.BigInteger(), nullable=True, comment='Sum of: Hộ cận nghèo là hộ dân tộc thiểu số'),
    sa.Column('poor_female_headed', sa.BigInteger(), nullable=True, comment='Sum of: Hộ nghèo có chủ hộ là nữ'),
    sa.Column('poor_merit', sa.BigInteger(), nullable=True, comment='Sum of: Hộ nghèo có thành viên là người có công với cách mạng'),
    sa.Column('poor_social_protection', sa.BigInteger(), nullable=True, comment='Sum of: Hộ nghèo có thành viên hưởng chính sách bảo trợ xã hội'),
    sa.Column('recently_exited', sa.BigInteger(), nullable=True, comment='Sum of: Hộ mới thoát nghèo trong 36 tháng'),
    sa.Column('group_1', sa.BigInteger(), nullable=True, comment='Sum of: Nhóm 1: có đất, có lao động'),
    sa.Column('group_2', sa.BigInteger(), nullable=True, comment='Sum of: Nhóm 2: có lao động, không có đất'),
    sa.Column('group_3', sa.BigInteger(), nullable=True, comment='Sum of: Nhóm 3: không có khả năng lao động, thuộc diện bảo trợ xã hội'),
    sa.Column('poor_start', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ đầu năm (theo kết quả rà soát được phê duyệt) — Hộ nghèo'),
    sa.Column('near_poor_start', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ đầu năm (theo kết quả rà soát được phê duyệt) — Hộ cận nghèo'),
    sa.Column('poor_exited', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ thoát trong kỳ — Hộ nghèo'),
    sa.Column('near_poor_exited', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ thoát trong kỳ — Hộ cận nghèo'),
    sa.Column('poor_returned', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ tái nghèo / tái cận nghèo — Hộ nghèo'),
    sa.Column('near_poor_returned', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ tái nghèo / tái cận nghèo — Hộ cận nghèo'),
    sa.Column('poor_new', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ phát sinh mới — Hộ nghèo'),
    sa.Column('near_poor_new', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ phát sinh mới — Hộ cận nghèo'),
    sa.Column('poor_end', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ cuối kỳ — Hộ nghèo'),
    sa.Column('near_poor_end', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ cuối kỳ — Hộ cận nghèo'),
    sa.Column('poor_rate', sa.Float(), nullable=True, comment='Tỷ lệ hộ nghèo: poor_end / total_households × 100'),
    sa.Column('near_poor_rate', sa.Float(), nullable=True, comment='Tỷ lệ hộ cận nghèo: near_poor_end / total_households × 100'),
    sa.PrimaryKeyConstraint('period_id', 'unit_code', 'area'),
    comment='Poor and near-poor households per period × unit × area, summed over accepted reports.'
    )
    op.create_table('fact_households_history',
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Reporting period id, e.g. 2026-FY'),
    sa.Column('unit_code', sa.String(length=16), nullable=False, comment='GSO code of the unit (dim_unit.code)'),
    sa.Column('area', sa.String(length=8), nullable=False, comment='total, urban (Khu vực thành thị) or rural (Khu vực nông thôn); communes: total'),
    sa.Column('unit_level', sa.String(length=16), nullable=False, comment='province, district or commune'),
    sa.Column('version', sa.Integer(), nullable=False, comment='Publication version this row belongs to'),
    sa.Column('reports', sa.Integer(), nullable=False, comment='Number of accepted reports (communes) behind the figure'),
    sa.Column('reports_with_warnings', sa.Integer(), nullable=False, comment='Accepted reports behind the figure that carry warnings (flagged, not excluded)'),
    sa.Column('total_households', sa.BigInteger(), nullable=True, comment='Sum of: Tổng số hộ dân cư'),
    sa.Column('poor_ethnic_minority', sa.BigInteger(), nullable=True, comment='Sum of: Hộ nghèo là hộ dân tộc thiểu số'),
    sa.Column('near_poor_ethnic_minority', sa.BigInteger(), nullable=True, comment='Sum of: Hộ cận nghèo là hộ dân tộc thiểu số'),
    sa.Column('poor_female_headed', sa.BigInteger(), nullable=True, comment='Sum of: Hộ nghèo có chủ hộ là nữ'),
    sa.Column('poor_merit', sa.BigInteger(), nullable=True, comment='Sum of: Hộ nghèo có thành viên là người có công với cách mạng'),
    sa.Column('poor_social_protection', sa.BigInteger(), nullable=True, comment='Sum of: Hộ nghèo có thành viên hưởng chính sách bảo trợ xã hội'),
    sa.Column('recently_exited', sa.BigInteger(), nullable=True, comment='Sum of: Hộ mới thoát nghèo trong 36 tháng'),
    sa.Column('group_1', sa.BigInteger(), nullable=True, comment='Sum of: Nhóm 1: có đất, có lao động'),
    sa.Column('group_2', sa.BigInteger(), nullable=True, comment='Sum of: Nhóm 2: có lao động, không có đất'),
    sa.Column('group_3', sa.BigInteger(), nullable=True, comment='Sum of: Nhóm 3: không có khả năng lao động, thuộc diện bảo trợ xã hội'),
    sa.Column('poor_start', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ đầu năm (theo kết quả rà soát được phê duyệt) — Hộ nghèo'),
    sa.Column('near_poor_start', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ đầu năm (theo kết quả rà soát được phê duyệt) — Hộ cận nghèo'),
    sa.Column('poor_exited', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ thoát trong kỳ — Hộ nghèo'),
    sa.Column('near_poor_exited', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ thoát trong kỳ — Hộ cận nghèo'),
    sa.Column('poor_returned', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ tái nghèo / tái cận nghèo — Hộ nghèo'),
    sa.Column('near_poor_returned', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ tái nghèo / tái cận nghèo — Hộ cận nghèo'),
    sa.Column('poor_new', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ phát sinh mới — Hộ nghèo'),
    sa.Column('near_poor_new', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ phát sinh mới — Hộ cận nghèo'),
    sa.Column('poor_end', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ cuối kỳ — Hộ nghèo'),
    sa.Column('near_poor_end', sa.BigInteger(), nullable=True, comment='Sum of: Số hộ cuối kỳ — Hộ cận nghèo'),
    sa.Column('poor_rate', sa.Float(), nullable=True, comment='Tỷ lệ hộ nghèo: poor_end / total_households × 100'),
    sa.Column('near_poor_rate', sa.Float(), nullable=True, comment='Tỷ lệ hộ cận nghèo: near_poor_end / total_households × 100'),
    sa.PrimaryKeyConstraint('period_id', 'unit_code', 'area', 'version'),
    comment='Earlier publication versions of fact_households (same columns).'
    )
    op.create_table('fact_outputs',
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Reporting period id, e.g. 2026-FY'),
    sa.Column('unit_code', sa.String(length=16), nullable=False, comment='GSO code of the unit (dim_unit.code)'),
    sa.Column('area', sa.String(length=8), nullable=False, comment='total, urban (Khu vực thành thị) or rural (Khu vực nông thôn); communes: total'),
    sa.Column('unit_level', sa.String(length=16), nullable=False, comment='province, district or commune'),
    sa.Column('version', sa.Integer(), nullable=False, comment='Publication version this row belongs to'),
    sa.Column('indicator', sa.String(length=32), nullable=False, comment='Indicator key (dim_indicator)'),
    sa.Column('reports', sa.Integer(), nullable=False, comment='Number of accepted reports (communes) behind the figure'),
    sa.Column('plan', sa.BigInteger(), nullable=True, comment='Kế hoạch năm'),
    sa.Column('achieved', sa.BigInteger(), nullable=True, comment='Thực hiện trong kỳ'),
    sa.Column('cumulative', sa.BigInteger(), nullable=True, comment='Lũy kế từ đầu năm'),
    sa.Column('achievement_rate', sa.Float(), nullable=True, comment='Lũy kế so với kế hoạch: cumulative / plan × 100'),
    sa.PrimaryKeyConstraint('period_id', 'unit_code', 'area', 'indicator'),
    comment='Output indicators (plan, achieved, cumulative) per period × unit × area.'
    )
    op.create_table('fact_outputs_history',
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Reporting period id, e.g. 2026-FY'),
    sa.Column('unit_code', sa.String(length=16), nullable=False, comment='GSO code of the unit (dim_unit.code)'),
    sa.Column('area', sa.String(length=8), nullable=False, comment='total, urban (Khu vực thành thị) or rural (Khu vực nông thôn); communes: total'),
    sa.Column('unit_level', sa.String(length=16), nullable=False, comment='province, district or commune'),
    sa.Column('version', sa.Integer(), nullable=False, comment='Publication version this row belongs to'),
    sa.Column('indicator', sa.String(length=32), nullable=False, comment='Indicator key (dim_indicator)'),
    sa.Column('reports', sa.Integer(), nullable=False, comment='Number of accepted reports (communes) behind the figure'),
    sa.Column('plan', sa.BigInteger(), nullable=True, comment='Kế hoạch năm'),
    sa.Column('achieved', sa.BigInteger(), nullable=True, comment='Thực hiện trong kỳ'),
    sa.Column('cumulative', sa.BigInteger(), nullable=True, comment='Lũy kế từ đầu năm'),
    sa.Column('achievement_rate', sa.Float(), nullable=True, comment='Lũy kế so với kế hoạch: cumulative / plan × 100'),
    sa.PrimaryKeyConstraint('period_id', 'unit_code', 'area', 'version', 'indicator'),
    comment='Earlier publication versions of fact_outputs (same columns).'
    )
    op.create_table('finding',
    sa.Column('submission_id', sa.String(length=40), nullable=False, comment='submission.submission_id'),
    sa.Column('seq', sa.Integer(), nullable=False, comment='Order of the finding within the file'),
    sa.Column('check_id', sa.String(length=16), nullable=False, comment='Check id, e.g. TH-B-002'),
    sa.Column('severity', sa.String(length=8), nullable=False, comment='error (rejects the report) or warning'),
    sa.Column('sheet', sa.Text(), nullable=True, comment='Sheet of the cell(s)'),
    sa.Column('cell', sa.Text(), nullable=True, comment='Every cell involved, comma-separated'),
    sa.Column('field_key', sa.String(length=64), nullable=True, comment='Template field the finding is about'),
    sa.Column('label', sa.Text(), nullable=True, comment='Vietnamese label of that field'),
    sa.Column('value', sa.Text(), nullable=True, comment='Value found'),
    sa.Column('expected', sa.Text(), nullable=True, comment='What was expected'),
    sa.Column('message', sa.Text(), nullable=False, comment='The message shown to the commune (Vietnamese)'),
    sa.Column('commune_code', sa.String(length=16), nullable=True, comment='Commune the file was sent for'),
    sa.Column('file_name', sa.Text(), nullable=True, comment='File name'),
    sa.PrimaryKeyConstraint('submission_id', 'seq'),
    comment='What is wrong with a received file: one row per finding of a check.'
    )
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_check_id'), ['check_id'], unique=False)

    op.create_table('publication',
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Period'),
    sa.Column('version', sa.Integer(), nullable=False, comment='1, 2, …: the facts tables hold the latest'),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False, comment='When it was published'),
    sa.Column('run_id', sa.String(length=64), nullable=False, comment='Run that published it'),
    sa.Column('content_sha256', sa.String(length=64), nullable=False, comment='Hash of the published figures'),
    sa.Column('accepted_reports', sa.Integer(), nullable=False, comment='Accepted commune reports it contains'),
    sa.PrimaryKeyConstraint('period_id', 'version'),
    comment="Each published version of a period's consolidated figures (a new version only when they change)."
    )
    op.create_table('report',
    sa.Column('submission_id', sa.String(length=40), nullable=False, comment='submission.submission_id'),
    sa.Column('template_version', sa.Text(), nullable=True, comment='Phiên bản mẫu biểu — sheet «A. Thông tin chung», cell C5'),
    sa.Column('period_id', sa.Text(), nullable=True, comment='Mã kỳ báo cáo — sheet «A. Thông tin chung», cell C6'),
    sa.Column('period_name', sa.Text(), nullable=True, comment='Kỳ báo cáo — sheet «A. Thông tin chung», cell C7'),
    sa.Column('province_code', sa.Text(), nullable=True, comment='Mã tỉnh/thành phố — sheet «A. Thông tin chung», cell C8'),
    sa.Column('province_name', sa.Text(), nullable=True, comment='Tên tỉnh/thành phố — sheet «A. Thông tin chung», cell C9'),
    sa.Column('district_code', sa.Text(), nullable=True, comment='Mã huyện/thị xã/thành phố — sheet «A. Thông tin chung», cell C10'),
    sa.Column('district_name', sa.Text(), nullable=True, comment='Tên huyện/thị xã/thành phố — sheet «A. Thông tin chung», cell C11'),
    sa.Column('commune_code', sa.Text(), nullable=True, comment='Mã xã/phường/thị trấn — sheet «A. Thông tin chung», cell C12'),
    sa.Column('commune_name', sa.Text(), nullable=True, comment='Tên xã/phường/thị trấn — sheet «A. Thông tin chung», cell C13'),
    sa.Column('preparer_name', sa.Text(), nullable=True, comment='Họ và tên người lập biểu — sheet «A. Thông tin chung», cell C15'),
    sa.Column('preparer_phone', sa.Text(), nullable=True, comment='Số điện thoại người lập biểu — sheet «A. Thông tin chung», cell C16'),
    sa.Column('preparer_email', sa.Text(), nullable=True, comment='Thư điện tử người lập biểu — sheet «A. Thông tin chung», cell C17'),
    sa.Column('date_prepared', sa.Date(), nullable=True, comment='Ngày lập biểu — sheet «A. Thông tin chung», cell C18'),
    sa.Column('total_households', sa.BigInteger(), nullable=True, comment='Tổng số hộ dân cư (hộ) — sheet «B. Hộ nghèo», cell D5'),
    sa.Column('poor_ethnic_minority', sa.BigInteger(), nullable=True, comment='Hộ nghèo là hộ dân tộc thiểu số (hộ) — sheet «B. Hộ nghèo», cell D15'),
    sa.Column('near_poor_ethnic_minority', sa.BigInteger(), nullable=True, comment='Hộ cận nghèo là hộ dân tộc thiểu số (hộ) — sheet «B. Hộ nghèo», cell E15'),
    sa.Column('poor_female_headed', sa.BigInteger(), nullable=True, comment='Hộ nghèo có chủ hộ là nữ (hộ) — sheet «B. Hộ nghèo», cell D16'),
    sa.Column('poor_merit', sa.BigInteger(), nullable=True, comment='Hộ nghèo có thành viên là người có công với cách mạng (hộ) — sheet «B. Hộ nghèo», cell D17'),
    sa.Column('poor_social_protection', sa.BigInteger(), nullable=True, comment='Hộ nghèo có thành viên hưởng chính sách bảo trợ xã hội (hộ) — sheet «B. Hộ nghèo», cell D18'),
    sa.Column('recently_exited', sa.BigInteger(), nullable=True, comment='Hộ mới thoát nghèo trong 36 tháng (hộ) — sheet «B. Hộ nghèo», cell D19'),
    sa.Column('group_1', sa.BigInteger(), nullable=True, comment='Nhóm 1: có đất, có lao động (hộ) — sheet «B. Hộ nghèo», cell D21'),
    sa.Column('group_2', sa.BigInteger(), nullable=True, comment='Nhóm 2: có lao động, không có đất (hộ) — sheet «B. Hộ nghèo», cell D22'),
    sa.Column('group_3', sa.BigInteger(), nullable=True, comment='Nhóm 3: không có khả năng lao động, thuộc diện bảo trợ xã hội (hộ) — sheet «B. Hộ nghèo», cell D23'),
    sa.Column('poor_start', sa.BigInteger(), nullable=True, comment='Số hộ đầu năm (theo kết quả rà soát được phê duyệt) — Hộ nghèo (hộ) — sheet «B. Hộ nghèo», cell D7'),
    sa.Column('near_poor_start', sa.BigInteger(), nullable=True, comment='Số hộ đầu năm (theo kết quả rà soát được phê duyệt) — Hộ cận nghèo (hộ) — sheet «B. Hộ nghèo», cell E7'),
    sa.Column('poor_exited', sa.BigInteger(), nullable=True, comment='Số hộ thoát trong kỳ — Hộ nghèo (hộ) — sheet «B. Hộ nghèo», cell D8'),
    sa.Column('near_poor_exited', sa.BigInteger(), nullable=True, comment='Số hộ thoát trong kỳ — Hộ cận nghèo (hộ) — sheet «B. Hộ nghèo», cell E8'),
    sa.Column('poor_returned', sa.BigInteger(), nullable=True, comment='Số hộ tái nghèo / tái cận nghèo — Hộ nghèo (hộ) — sheet «B. Hộ nghèo», cell D9'),
    sa.Column('near_poor_returned', sa.BigInteger(), nullable=True, comment='Số hộ tái nghèo / tái cận nghèo — Hộ cận nghèo (hộ) — sheet «B. Hộ nghèo», cell E9'),
    sa.Column('poor_new', sa.BigInteger(), nullable=True, comment='Số hộ phát sinh mới — Hộ nghèo (hộ) — sheet «B. Hộ nghèo», cell D10'),
    sa.Column('near_poor_new', sa.BigInteger(), nullable=True, comment='Số hộ phát sinh mới — Hộ cận nghèo (hộ) — sheet «B. Hộ nghèo», cell E10'),
    sa.Column('poor_end', sa.BigInteger(), nullable=True, comment='Số hộ cuối kỳ — Hộ nghèo (hộ) — sheet «B. Hộ nghèo», cell D11'),
    sa.Column('near_poor_end', sa.BigInteger(), nullable=True, comment='Số hộ cuối kỳ — Hộ cận nghèo (hộ) — sheet «B. Hộ nghèo», cell E11'),
    sa.Column('poor_rate', sa.Numeric(precision=9, scale=4), nullable=True, comment='Tỷ lệ cuối kỳ (đơn vị tự tính) — Hộ nghèo (%) — sheet «B. Hộ nghèo», cell D12'),
    sa.Column('near_poor_rate', sa.Numeric(precision=9, scale=4), nullable=True, comment='Tỷ lệ cuối kỳ (đơn vị tự tính) — Hộ cận nghèo (%) — sheet «B. Hộ nghèo», cell E12'),
    sa.Column('dep_employment_poor', sa.BigInteger(), nullable=True, comment='Việc làm — Số hộ nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell D5'),
    sa.Column('dep_employment_near_poor', sa.BigInteger(), nullable=True, comment='Việc làm — Số hộ cận nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell E5'),
    sa.Column('dep_dependants_poor', sa.BigInteger(), nullable=True, comment='Người phụ thuộc trong hộ gia đình — Số hộ nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell D6'),
    sa.Column('dep_dependants_near_poor', sa.BigInteger(), nullable=True, comment='Người phụ thuộc trong hộ gia đình — Số hộ cận nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell E6'),
    sa.Column('dep_nutrition_poor', sa.BigInteger(), nullable=True, comment='Dinh dưỡng — Số hộ nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell D7'),
    sa.Column('dep_nutrition_near_poor', sa.BigInteger(), nullable=True, comment='Dinh dưỡng — Số hộ cận nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell E7'),
    sa.Column('dep_health_insurance_poor', sa.BigInteger(), nullable=True, comment='Bảo hiểm y tế — Số hộ nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell D8'),
    sa.Column('dep_health_insurance_near_poor', sa.BigInteger(), nullable=True, comment='Bảo hiểm y tế — Số hộ cận nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell E8'),
    sa.Column('dep_adult_education_poor', sa.BigInteger(), nullable=True, comment='Trình độ giáo dục của người lớn — Số hộ nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell D9'),
    sa.Column('dep_adult_education_near_poor', sa.BigInteger(), nullable=True, comment='Trình độ giáo dục của người lớn — Số hộ cận nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell E9'),
    sa.Column('dep_school_attendance_poor', sa.BigInteger(), nullable=True, comment='Tình trạng đi học của trẻ em — Số hộ nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell D10'),
    sa.Column('dep_school_attendance_near_poor', sa.BigInteger(), nullable=True, comment='Tình trạng đi học của trẻ em — Số hộ cận nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell E10'),
    sa.Column('dep_housing_quality_poor', sa.BigInteger(), nullable=True, comment='Chất lượng nhà ở — Số hộ nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell D11'),
    sa.Column('dep_housing_quality_near_poor', sa.BigInteger(), nullable=True, comment='Chất lượng nhà ở — Số hộ cận nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell E11'),
    sa.Column('dep_housing_area_poor', sa.BigInteger(), nullable=True, comment='Diện tích nhà ở bình quân đầu người — Số hộ nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell D12'),
    sa.Column('dep_housing_area_near_poor', sa.BigInteger(), nullable=True, comment='Diện tích nhà ở bình quân đầu người — Số hộ cận nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell E12'),
    sa.Column('dep_drinking_water_poor', sa.BigInteger(), nullable=True, comment='Nguồn nước sinh hoạt — Số hộ nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell D13'),
    sa.Column('dep_drinking_water_near_poor', sa.BigInteger(), nullable=True, comment='Nguồn nước sinh hoạt — Số hộ cận nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell E13'),
    sa.Column('dep_latrine_poor', sa.BigInteger(), nullable=True, comment='Nhà tiêu hợp vệ sinh — Số hộ nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell D14'),
    sa.Column('dep_latrine_near_poor', sa.BigInteger(), nullable=True, comment='Nhà tiêu hợp vệ sinh — Số hộ cận nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell E14'),
    sa.Column('dep_telecom_poor', sa.BigInteger(), nullable=True, comment='Sử dụng dịch vụ viễn thông — Số hộ nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell D15'),
    sa.Column('dep_telecom_near_poor', sa.BigInteger(), nullable=True, comment='Sử dụng dịch vụ viễn thông — Số hộ cận nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell E15'),
    sa.Column('dep_information_access_poor', sa.BigInteger(), nullable=True, comment='Phương tiện phục vụ tiếp cận thông tin — Số hộ nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell D16'),
    sa.Column('dep_information_access_near_poor', sa.BigInteger(), nullable=True, comment='Phương tiện phục vụ tiếp cận thông tin — Số hộ cận nghèo thiếu hụt (hộ) — sheet «C. Thiếu hụt», cell E16'),
    sa.Column('p1_applicable', sa.Boolean(), nullable=True, comment='Dự án 1: Hỗ trợ đầu tư phát triển hạ tầng kinh tế - xã hội các huyện nghèo, các xã đặc biệt khó khăn vùng bãi ngang, ven biển và hải đảo — Thuộc đối tượng (Có/Không) — sheet «D. Kinh phí», cell C6'),
    sa.Column('p1_carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 1: Hỗ trợ đầu tư phát triển hạ tầng kinh tế - xã hội các huyện nghèo, các xã đặc biệt khó khăn vùng bãi ngang, ven biển và hải đảo — Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng) — sheet «D. Kinh phí», cell D6'),
    sa.Column('p1_alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 1: Hỗ trợ đầu tư phát triển hạ tầng kinh tế - xã hội các huyện nghèo, các xã đặc biệt khó khăn vùng bãi ngang, ven biển và hải đảo — Được giao từ ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell E6'),
    sa.Column('p1_alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 1: Hỗ trợ đầu tư phát triển hạ tầng kinh tế - xã hội các huyện nghèo, các xã đặc biệt khó khăn vùng bãi ngang, ven biển và hải đảo — Được giao từ ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell F6'),
    sa.Column('p1_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 1: Hỗ trợ đầu tư phát triển hạ tầng kinh tế - xã hội các huyện nghèo, các xã đặc biệt khó khăn vùng bãi ngang, ven biển và hải đảo — Vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell G6'),
    sa.Column('p1_disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 1: Hỗ trợ đầu tư phát triển hạ tầng kinh tế - xã hội các huyện nghèo, các xã đặc biệt khó khăn vùng bãi ngang, ven biển và hải đảo — Giải ngân ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell H6'),
    sa.Column('p1_disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 1: Hỗ trợ đầu tư phát triển hạ tầng kinh tế - xã hội các huyện nghèo, các xã đặc biệt khó khăn vùng bãi ngang, ven biển và hải đảo — Giải ngân ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell I6'),
    sa.Column('p1_disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 1: Hỗ trợ đầu tư phát triển hạ tầng kinh tế - xã hội các huyện nghèo, các xã đặc biệt khó khăn vùng bãi ngang, ven biển và hải đảo — Giải ngân vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell J6'),
    sa.Column('p2_applicable', sa.Boolean(), nullable=True, comment='Dự án 2: Đa dạng hóa sinh kế, phát triển mô hình giảm nghèo — Thuộc đối tượng (Có/Không) — sheet «D. Kinh phí», cell C7'),
    sa.Column('p2_carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 2: Đa dạng hóa sinh kế, phát triển mô hình giảm nghèo — Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng) — sheet «D. Kinh phí», cell D7'),
    sa.Column('p2_alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 2: Đa dạng hóa sinh kế, phát triển mô hình giảm nghèo — Được giao từ ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell E7'),
    sa.Column('p2_alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 2: Đa dạng hóa sinh kế, phát triển mô hình giảm nghèo — Được giao từ ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell F7'),
    sa.Column('p2_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 2: Đa dạng hóa sinh kế, phát triển mô hình giảm nghèo — Vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell G7'),
    sa.Column('p2_disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 2: Đa dạng hóa sinh kế, phát triển mô hình giảm nghèo — Giải ngân ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell H7'),
    sa.Column('p2_disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 2: Đa dạng hóa sinh kế, phát triển mô hình giảm nghèo — Giải ngân ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell I7'),
    sa.Column('p2_disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 2: Đa dạng hóa sinh kế, phát triển mô hình giảm nghèo — Giải ngân vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell J7'),
    sa.Column('p3_1_applicable', sa.Boolean(), nullable=True, comment='Dự án 3, Tiểu dự án 1: Hỗ trợ phát triển sản xuất trong lĩnh vực nông nghiệp — Thuộc đối tượng (Có/Không) — sheet «D. Kinh phí», cell C8'),
    sa.Column('p3_1_carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 1: Hỗ trợ phát triển sản xuất trong lĩnh vực nông nghiệp — Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng) — sheet «D. Kinh phí», cell D8'),
    sa.Column('p3_1_alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 1: Hỗ trợ phát triển sản xuất trong lĩnh vực nông nghiệp — Được giao từ ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell E8'),
    sa.Column('p3_1_alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 1: Hỗ trợ phát triển sản xuất trong lĩnh vực nông nghiệp — Được giao từ ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell F8'),
    sa.Column('p3_1_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 1: Hỗ trợ phát triển sản xuất trong lĩnh vực nông nghiệp — Vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell G8'),
    sa.Column('p3_1_disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 1: Hỗ trợ phát triển sản xuất trong lĩnh vực nông nghiệp — Giải ngân ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell H8'),
    sa.Column('p3_1_disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 1: Hỗ trợ phát triển sản xuất trong lĩnh vực nông nghiệp — Giải ngân ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell I8'),
    sa.Column('p3_1_disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 1: Hỗ trợ phát triển sản xuất trong lĩnh vực nông nghiệp — Giải ngân vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell J8'),
    sa.Column('p3_2_applicable', sa.Boolean(), nullable=True, comment='Dự án 3, Tiểu dự án 2: Cải thiện dinh dưỡng — Thuộc đối tượng (Có/Không) — sheet «D. Kinh phí», cell C9'),
    sa.Column('p3_2_carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 2: Cải thiện dinh dưỡng — Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng) — sheet «D. Kinh phí», cell D9'),
    sa.Column('p3_2_alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 2: Cải thiện dinh dưỡng — Được giao từ ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell E9'),
    sa.Column('p3_2_alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 2: Cải thiện dinh dưỡng — Được giao từ ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell F9'),
    sa.Column('p3_2_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 2: Cải thiện dinh dưỡng — Vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell G9'),
    sa.Column('p3_2_disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 2: Cải thiện dinh dưỡng — Giải ngân ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell H9'),
    sa.Column('p3_2_disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 2: Cải thiện dinh dưỡng — Giải ngân ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell I9'),
    sa.Column('p3_2_disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 3, Tiểu dự án 2: Cải thiện dinh dưỡng — Giải ngân vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell J9'),
    sa.Column('p4_1_applicable', sa.Boolean(), nullable=True, comment='Dự án 4, Tiểu dự án 1: Phát triển giáo dục nghề nghiệp vùng nghèo, vùng khó khăn — Thuộc đối tượng (Có/Không) — sheet «D. Kinh phí», cell C10'),
    sa.Column('p4_1_carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 1: Phát triển giáo dục nghề nghiệp vùng nghèo, vùng khó khăn — Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng) — sheet «D. Kinh phí», cell D10'),
    sa.Column('p4_1_alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 1: Phát triển giáo dục nghề nghiệp vùng nghèo, vùng khó khăn — Được giao từ ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell E10'),
    sa.Column('p4_1_alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 1: Phát triển giáo dục nghề nghiệp vùng nghèo, vùng khó khăn — Được giao từ ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell F10'),
    sa.Column('p4_1_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 1: Phát triển giáo dục nghề nghiệp vùng nghèo, vùng khó khăn — Vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell G10'),
    sa.Column('p4_1_disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 1: Phát triển giáo dục nghề nghiệp vùng nghèo, vùng khó khăn — Giải ngân ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell H10'),
    sa.Column('p4_1_disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 1: Phát triển giáo dục nghề nghiệp vùng nghèo, vùng khó khăn — Giải ngân ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell I10'),
    sa.Column('p4_1_disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 1: Phát triển giáo dục nghề nghiệp vùng nghèo, vùng khó khăn — Giải ngân vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell J10'),
    sa.Column('p4_2_applicable', sa.Boolean(), nullable=True, comment='Dự án 4, Tiểu dự án 2: Hỗ trợ người lao động đi làm việc ở nước ngoài theo hợp đồng — Thuộc đối tượng (Có/Không) — sheet «D. Kinh phí», cell C11'),
    sa.Column('p4_2_carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 2: Hỗ trợ người lao động đi làm việc ở nước ngoài theo hợp đồng — Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng) — sheet «D. Kinh phí», cell D11'),
    sa.Column('p4_2_alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 2: Hỗ trợ người lao động đi làm việc ở nước ngoài theo hợp đồng — Được giao từ ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell E11'),
    sa.Column('p4_2_alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 2: Hỗ trợ người lao động đi làm việc ở nước ngoài theo hợp đồng — Được giao từ ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell F11'),
    sa.Column('p4_2_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 2: Hỗ trợ người lao động đi làm việc ở nước ngoài theo hợp đồng — Vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell G11'),
    sa.Column('p4_2_disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 2: Hỗ trợ người lao động đi làm việc ở nước ngoài theo hợp đồng — Giải ngân ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell H11'),
    sa.Column('p4_2_disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 2: Hỗ trợ người lao động đi làm việc ở nước ngoài theo hợp đồng — Giải ngân ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell I11'),
    sa.Column('p4_2_disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 2: Hỗ trợ người lao động đi làm việc ở nước ngoài theo hợp đồng — Giải ngân vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell J11'),
    sa.Column('p4_3_applicable', sa.Boolean(), nullable=True, comment='Dự án 4, Tiểu dự án 3: Hỗ trợ việc làm bền vững — Thuộc đối tượng (Có/Không) — sheet «D. Kinh phí», cell C12'),
    sa.Column('p4_3_carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 3: Hỗ trợ việc làm bền vững — Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng) — sheet «D. Kinh phí», cell D12'),
    sa.Column('p4_3_alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 3: Hỗ trợ việc làm bền vững — Được giao từ ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell E12'),
    sa.Column('p4_3_alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 3: Hỗ trợ việc làm bền vững — Được giao từ ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell F12'),
    sa.Column('p4_3_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 3: Hỗ trợ việc làm bền vững — Vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell G12'),
    sa.Column('p4_3_disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 3: Hỗ trợ việc làm bền vững — Giải ngân ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell H12'),
    sa.Column('p4_3_disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 3: Hỗ trợ việc làm bền vững — Giải ngân ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell I12'),
    sa.Column('p4_3_disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 4, Tiểu dự án 3: Hỗ trợ việc làm bền vững — Giải ngân vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell J12'),
    sa.Column('p5_applicable', sa.Boolean(), nullable=True, comment='Dự án 5: Hỗ trợ nhà ở cho hộ nghèo, hộ cận nghèo trên địa bàn các huyện nghèo — Thuộc đối tượng (Có/Không) — sheet «D. Kinh phí», cell C13'),
    sa.Column('p5_carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 5: Hỗ trợ nhà ở cho hộ nghèo, hộ cận nghèo trên địa bàn các huyện nghèo — Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng) — sheet «D. Kinh phí», cell D13'),
    sa.Column('p5_alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 5: Hỗ trợ nhà ở cho hộ nghèo, hộ cận nghèo trên địa bàn các huyện nghèo — Được giao từ ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell E13'),
    sa.Column('p5_alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 5: Hỗ trợ nhà ở cho hộ nghèo, hộ cận nghèo trên địa bàn các huyện nghèo — Được giao từ ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell F13'),
    sa.Column('p5_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 5: Hỗ trợ nhà ở cho hộ nghèo, hộ cận nghèo trên địa bàn các huyện nghèo — Vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell G13'),
    sa.Column('p5_disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 5: Hỗ trợ nhà ở cho hộ nghèo, hộ cận nghèo trên địa bàn các huyện nghèo — Giải ngân ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell H13'),
    sa.Column('p5_disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 5: Hỗ trợ nhà ở cho hộ nghèo, hộ cận nghèo trên địa bàn các huyện nghèo — Giải ngân ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell I13'),
    sa.Column('p5_disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 5: Hỗ trợ nhà ở cho hộ nghèo, hộ cận nghèo trên địa bàn các huyện nghèo — Giải ngân vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell J13'),
    sa.Column('p6_1_applicable', sa.Boolean(), nullable=True, comment='Dự án 6, Tiểu dự án 1: Giảm nghèo về thông tin — Thuộc đối tượng (Có/Không) — sheet «D. Kinh phí», cell C14'),
    sa.Column('p6_1_carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 1: Giảm nghèo về thông tin — Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng) — sheet «D. Kinh phí», cell D14'),
    sa.Column('p6_1_alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 1: Giảm nghèo về thông tin — Được giao từ ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell E14'),
    sa.Column('p6_1_alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 1: Giảm nghèo về thông tin — Được giao từ ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell F14'),
    sa.Column('p6_1_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 1: Giảm nghèo về thông tin — Vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell G14'),
    sa.Column('p6_1_disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 1: Giảm nghèo về thông tin — Giải ngân ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell H14'),
    sa.Column('p6_1_disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 1: Giảm nghèo về thông tin — Giải ngân ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell I14'),
    sa.Column('p6_1_disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 1: Giảm nghèo về thông tin — Giải ngân vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell J14'),
    sa.Column('p6_2_applicable', sa.Boolean(), nullable=True, comment='Dự án 6, Tiểu dự án 2: Truyền thông về giảm nghèo đa chiều — Thuộc đối tượng (Có/Không) — sheet «D. Kinh phí», cell C15'),
    sa.Column('p6_2_carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 2: Truyền thông về giảm nghèo đa chiều — Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng) — sheet «D. Kinh phí», cell D15'),
    sa.Column('p6_2_alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 2: Truyền thông về giảm nghèo đa chiều — Được giao từ ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell E15'),
    sa.Column('p6_2_alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 2: Truyền thông về giảm nghèo đa chiều — Được giao từ ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell F15'),
    sa.Column('p6_2_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 2: Truyền thông về giảm nghèo đa chiều — Vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell G15'),
    sa.Column('p6_2_disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 2: Truyền thông về giảm nghèo đa chiều — Giải ngân ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell H15'),
    sa.Column('p6_2_disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 2: Truyền thông về giảm nghèo đa chiều — Giải ngân ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell I15'),
    sa.Column('p6_2_disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 6, Tiểu dự án 2: Truyền thông về giảm nghèo đa chiều — Giải ngân vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell J15'),
    sa.Column('p7_1_applicable', sa.Boolean(), nullable=True, comment='Dự án 7, Tiểu dự án 1: Nâng cao năng lực thực hiện Chương trình — Thuộc đối tượng (Có/Không) — sheet «D. Kinh phí», cell C16'),
    sa.Column('p7_1_carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 1: Nâng cao năng lực thực hiện Chương trình — Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng) — sheet «D. Kinh phí», cell D16'),
    sa.Column('p7_1_alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 1: Nâng cao năng lực thực hiện Chương trình — Được giao từ ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell E16'),
    sa.Column('p7_1_alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 1: Nâng cao năng lực thực hiện Chương trình — Được giao từ ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell F16'),
    sa.Column('p7_1_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 1: Nâng cao năng lực thực hiện Chương trình — Vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell G16'),
    sa.Column('p7_1_disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 1: Nâng cao năng lực thực hiện Chương trình — Giải ngân ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell H16'),
    sa.Column('p7_1_disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 1: Nâng cao năng lực thực hiện Chương trình — Giải ngân ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell I16'),
    sa.Column('p7_1_disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 1: Nâng cao năng lực thực hiện Chương trình — Giải ngân vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell J16'),
    sa.Column('p7_2_applicable', sa.Boolean(), nullable=True, comment='Dự án 7, Tiểu dự án 2: Giám sát, đánh giá — Thuộc đối tượng (Có/Không) — sheet «D. Kinh phí», cell C17'),
    sa.Column('p7_2_carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 2: Giám sát, đánh giá — Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng) — sheet «D. Kinh phí», cell D17'),
    sa.Column('p7_2_alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 2: Giám sát, đánh giá — Được giao từ ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell E17'),
    sa.Column('p7_2_alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 2: Giám sát, đánh giá — Được giao từ ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell F17'),
    sa.Column('p7_2_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 2: Giám sát, đánh giá — Vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell G17'),
    sa.Column('p7_2_disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 2: Giám sát, đánh giá — Giải ngân ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell H17'),
    sa.Column('p7_2_disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 2: Giám sát, đánh giá — Giải ngân ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell I17'),
    sa.Column('p7_2_disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Dự án 7, Tiểu dự án 2: Giám sát, đánh giá — Giải ngân vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell J17'),
    sa.Column('total_carried_over', sa.Numeric(precision=18, scale=3), nullable=True, comment='Tổng cộng — Kinh phí ngân sách trung ương năm trước chuyển sang (triệu đồng) — sheet «D. Kinh phí», cell D18'),
    sa.Column('total_alloc_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Tổng cộng — Được giao từ ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell E18'),
    sa.Column('total_alloc_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Tổng cộng — Được giao từ ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell F18'),
    sa.Column('total_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Tổng cộng — Vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell G18'),
    sa.Column('total_disb_central', sa.Numeric(precision=18, scale=3), nullable=True, comment='Tổng cộng — Giải ngân ngân sách trung ương (triệu đồng) — sheet «D. Kinh phí», cell H18'),
    sa.Column('total_disb_local', sa.Numeric(precision=18, scale=3), nullable=True, comment='Tổng cộng — Giải ngân ngân sách địa phương (triệu đồng) — sheet «D. Kinh phí», cell I18'),
    sa.Column('total_disb_mobilised', sa.Numeric(precision=18, scale=3), nullable=True, comment='Tổng cộng — Giải ngân vốn lồng ghép, huy động (triệu đồng) — sheet «D. Kinh phí», cell J18'),
    sa.Column('out_jobs_plan', sa.BigInteger(), nullable=True, comment='Số lao động được hỗ trợ tạo việc làm — Kế hoạch năm (người) — sheet «E. Chỉ tiêu», cell D5'),
    sa.Column('out_jobs_achieved', sa.BigInteger(), nullable=True, comment='Số lao động được hỗ trợ tạo việc làm — Thực hiện trong kỳ (người) — sheet «E. Chỉ tiêu», cell E5'),
    sa.Column('out_jobs_cumulative', sa.BigInteger(), nullable=True, comment='Số lao động được hỗ trợ tạo việc làm — Lũy kế từ đầu năm (người) — sheet «E. Chỉ tiêu», cell F5'),
    sa.Column('out_vocational_training_plan', sa.BigInteger(), nullable=True, comment='Số lao động được đào tạo nghề — Kế hoạch năm (người) — sheet «E. Chỉ tiêu», cell D6'),
    sa.Column('out_vocational_training_achieved', sa.BigInteger(), nullable=True, comment='Số lao động được đào tạo nghề — Thực hiện trong kỳ (người) — sheet «E. Chỉ tiêu», cell E6'),
    sa.Column('out_vocational_training_cumulative', sa.BigInteger(), nullable=True, comment='Số lao động được đào tạo nghề — Lũy kế từ đầu năm (người) — sheet «E. Chỉ tiêu», cell F6'),
    sa.Column('out_labour_export_plan', sa.BigInteger(), nullable=True, comment='Số lao động đi làm việc ở nước ngoài theo hợp đồng — Kế hoạch năm (người) — sheet «E. Chỉ tiêu», cell D7'),
    sa.Column('out_labour_export_achieved', sa.BigInteger(), nullable=True, comment='Số lao động đi làm việc ở nước ngoài theo hợp đồng — Thực hiện trong kỳ (người) — sheet «E. Chỉ tiêu», cell E7'),
    sa.Column('out_labour_export_cumulative', sa.BigInteger(), nullable=True, comment='Số lao động đi làm việc ở nước ngoài theo hợp đồng — Lũy kế từ đầu năm (người) — sheet «E. Chỉ tiêu», cell F7'),
    sa.Column('out_models_plan', sa.BigInteger(), nullable=True, comment='Số mô hình, dự án giảm nghèo được hỗ trợ — Kế hoạch năm (mô hình) — sheet «E. Chỉ tiêu», cell D8'),
    sa.Column('out_models_achieved', sa.BigInteger(), nullable=True, comment='Số mô hình, dự án giảm nghèo được hỗ trợ — Thực hiện trong kỳ (mô hình) — sheet «E. Chỉ tiêu», cell E8'),
    sa.Column('out_models_cumulative', sa.BigInteger(), nullable=True, comment='Số mô hình, dự án giảm nghèo được hỗ trợ — Lũy kế từ đầu năm (mô hình) — sheet «E. Chỉ tiêu», cell F8'),
    sa.Column('out_livelihood_plan', sa.BigInteger(), nullable=True, comment='Số hộ được hỗ trợ sinh kế — Kế hoạch năm (hộ) — sheet «E. Chỉ tiêu», cell D9'),
    sa.Column('out_livelihood_achieved', sa.BigInteger(), nullable=True, comment='Số hộ được hỗ trợ sinh kế — Thực hiện trong kỳ (hộ) — sheet «E. Chỉ tiêu», cell E9'),
    sa.Column('out_livelihood_cumulative', sa.BigInteger(), nullable=True, comment='Số hộ được hỗ trợ sinh kế — Lũy kế từ đầu năm (hộ) — sheet «E. Chỉ tiêu», cell F9'),
    sa.Column('out_housing_plan', sa.BigInteger(), nullable=True, comment='Số hộ được hỗ trợ nhà ở — Kế hoạch năm (hộ) — sheet «E. Chỉ tiêu», cell D10'),
    sa.Column('out_housing_achieved', sa.BigInteger(), nullable=True, comment='Số hộ được hỗ trợ nhà ở — Thực hiện trong kỳ (hộ) — sheet «E. Chỉ tiêu», cell E10'),
    sa.Column('out_housing_cumulative', sa.BigInteger(), nullable=True, comment='Số hộ được hỗ trợ nhà ở — Lũy kế từ đầu năm (hộ) — sheet «E. Chỉ tiêu», cell F10'),
    sa.Column('out_officials_trained_plan', sa.BigInteger(), nullable=True, comment='Số lượt cán bộ được tập huấn, bồi dưỡng — Kế hoạch năm (lượt người) — sheet «E. Chỉ tiêu», cell D11'),
    sa.Column('out_officials_trained_achieved', sa.BigInteger(), nullable=True, comment='Số lượt cán bộ được tập huấn, bồi dưỡng — Thực hiện trong kỳ (lượt người) — sheet «E. Chỉ tiêu», cell E11'),
    sa.Column('out_officials_trained_cumulative', sa.BigInteger(), nullable=True, comment='Số lượt cán bộ được tập huấn, bồi dưỡng — Lũy kế từ đầu năm (lượt người) — sheet «E. Chỉ tiêu», cell F11'),
    sa.Column('out_health_insurance_cards_plan', sa.BigInteger(), nullable=True, comment='Số người nghèo, cận nghèo được cấp thẻ bảo hiểm y tế — Kế hoạch năm (người) — sheet «E. Chỉ tiêu», cell D12'),
    sa.Column('out_health_insurance_cards_achieved', sa.BigInteger(), nullable=True, comment='Số người nghèo, cận nghèo được cấp thẻ bảo hiểm y tế — Thực hiện trong kỳ (người) — sheet «E. Chỉ tiêu», cell E12'),
    sa.Column('out_health_insurance_cards_cumulative', sa.BigInteger(), nullable=True, comment='Số người nghèo, cận nghèo được cấp thẻ bảo hiểm y tế — Lũy kế từ đầu năm (người) — sheet «E. Chỉ tiêu», cell F12'),
    sa.Column('out_child_nutrition_plan', sa.BigInteger(), nullable=True, comment='Số trẻ em được hỗ trợ dinh dưỡng — Kế hoạch năm (trẻ em) — sheet «E. Chỉ tiêu», cell D13'),
    sa.Column('out_child_nutrition_achieved', sa.BigInteger(), nullable=True, comment='Số trẻ em được hỗ trợ dinh dưỡng — Thực hiện trong kỳ (trẻ em) — sheet «E. Chỉ tiêu», cell E13'),
    sa.Column('out_child_nutrition_cumulative', sa.BigInteger(), nullable=True, comment='Số trẻ em được hỗ trợ dinh dưỡng — Lũy kế từ đầu năm (trẻ em) — sheet «E. Chỉ tiêu», cell F13'),
    sa.Column('out_preferential_loans_plan', sa.BigInteger(), nullable=True, comment='Số hộ nghèo được vay vốn tín dụng ưu đãi — Kế hoạch năm (hộ) — sheet «E. Chỉ tiêu», cell D14'),
    sa.Column('out_preferential_loans_achieved', sa.BigInteger(), nullable=True, comment='Số hộ nghèo được vay vốn tín dụng ưu đãi — Thực hiện trong kỳ (hộ) — sheet «E. Chỉ tiêu», cell E14'),
    sa.Column('out_preferential_loans_cumulative', sa.BigInteger(), nullable=True, comment='Số hộ nghèo được vay vốn tín dụng ưu đãi — Lũy kế từ đầu năm (hộ) — sheet «E. Chỉ tiêu», cell F14'),
    sa.PrimaryKeyConstraint('submission_id'),
    comment='The values read from each received file, one column per template field (named by field key).'
    )
    op.create_table('run_log',
    sa.Column('run_id', sa.String(length=64), nullable=False, comment='Airflow run id, or cli-… for tonghop run'),
    sa.Column('stage', sa.String(length=16), nullable=False, comment='consolidate'),
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Period'),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False, comment="The run's (logical) time"),
    sa.Column('files', sa.Integer(), nullable=False, comment='Files in the ledger'),
    sa.Column('detail', sa.Text(), nullable=True, comment='Ledger counts (JSON)'),
    sa.PrimaryKeyConstraint('run_id', 'stage'),
    comment='Finished consolidation runs per period (used by the deadline alert).'
    )
    with op.batch_alter_table('run_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_log_period_id'), ['period_id'], unique=False)

    op.create_table('submission',
    sa.Column('submission_id', sa.String(length=40), nullable=False, comment='Stable id of the file at its place'),
    sa.Column('period_id', sa.String(length=32), nullable=False, comment='Period the file was sent for'),
    sa.Column('submitted_for', sa.String(length=16), nullable=True, comment='Commune whose folder the file arrived in (empty: outside any commune folder)'),
    sa.Column('province_code', sa.String(length=16), nullable=True, comment='Province folder of the file'),
    sa.Column('source_key', sa.Text(), nullable=False, comment='Path of the file in the inbox'),
    sa.Column('file_name', sa.Text(), nullable=False, comment='Original file name'),
    sa.Column('sha256', sa.String(length=64), nullable=False, comment='Content hash'),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False, comment='File size'),
    sa.Column('source_version', sa.String(length=64), nullable=False, comment='File mtime or object ETag when recorded'),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False, comment='When the file arrived (UTC)'),
    sa.Column('on_time', sa.Boolean(), nullable=False, comment='Received by the end of the deadline day'),
    sa.Column('status', sa.String(length=16), nullable=False, comment='received (not processed yet), accepted, rejected, superseded or duplicate'),
    sa.Column('duplicate_of', sa.String(length=40), nullable=True, comment='For a byte-identical re-send: the original submission'),
    sa.Column('error_count', sa.Integer(), nullable=False, comment='Findings of severity error'),
    sa.Column('warning_count', sa.Integer(), nullable=False, comment='Findings of severity warning'),
    sa.Column('annotated_path', sa.Text(), nullable=True, comment='Annotated workbook, relative to the outputs location'),
    sa.PrimaryKeyConstraint('submission_id'),
    comment='The ledger: one row per received file and what became of it.'
    )
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_period_id'), ['period_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_submission_submitted_for'), ['submitted_for'], unique=False)
    create_views(op.execute)


def downgrade() -> None:
    drop_views(op.execute)
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_submitted_for'))
        batch_op.drop_index(batch_op.f('ix_submission_period_id'))

    op.drop_table('submission')
    with op.batch_alter_table('run_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_log_period_id'))

    op.drop_table('run_log')
    op.drop_table('report')
    op.drop_table('publication')
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finding_check_id'))

    op.drop_table('finding')
    op.drop_table('fact_outputs_history')
    op.drop_table('fact_outputs')
    op.drop_table('fact_households_history')
    op.drop_table('fact_households')
    op.drop_table('fact_funding_history')
    op.drop_table('fact_funding')
    op.drop_table('fact_deprivations_history')
    op.drop_table('fact_deprivations')
    op.drop_table('fact_completeness_history')
    op.drop_table('fact_completeness')
    op.drop_table('email_log')
    op.drop_table('dim_unit')
    op.drop_table('dim_period')
    op.drop_table('dim_indicator')
    op.drop_table('dim_component')
