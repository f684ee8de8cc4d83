"""What a district or province officer sees of a published period, read back from the warehouse.

One loader for the consolidated workbook, the charts and the reporting-status page: the unit, its sub-units
with their figures per area, the unit's deprivations, funding and outputs, and every expected commune
under it with its reporting status and the file that counts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from tonghop.report import NotPublished
from tonghop.rollup import TOTAL
from tonghop.warehouse import ensure_schema

AREAS = ("urban", "rural")
AREA_LABELS = {"urban": "Khu vực thành thị", "rural": "Khu vực nông thôn", TOTAL: "Tổng cộng"}

NOT_RECEIVED, REJECTED, WITH_WARNINGS, ACCEPTED = "not_received", "rejected", "accepted_with_warnings", "accepted"
STATUS_LABELS = {
    NOT_RECEIVED: "Chưa nhận",
    REJECTED: "Bị từ chối",
    WITH_WARNINGS: "Hợp lệ, có cảnh báo",
    ACCEPTED: "Hợp lệ",
}


@dataclasses.dataclass
class CommuneRow:
    code: str
    name: str
    district_code: str | None
    district_name: str | None
    area: str | None
    status: str
    on_time: bool
    received_at: dt.datetime | None = None  # the file that counts: the accepted one, else the latest
    submission_id: str | None = None
    file_name: str | None = None
    errors: int = 0
    warnings: int = 0
    annotated_path: str | None = None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclasses.dataclass
class UnitFigures:
    """A published unit: its facts per area (area → column → value) and its completeness per area."""
    code: str
    name: str
    level: str
    households: dict[str, dict[str, Any]]
    completeness: dict[str, dict[str, Any]]
    area: str | None = None  # communes: urban or rural

    def has_area(self, area: str) -> bool:
        return bool(self.completeness.get(area, {}).get("expected"))


@dataclasses.dataclass
class Consolidated:
    period: dict[str, Any]
    unit: UnitFigures
    children: list[UnitFigures]
    deprivations: list[dict[str, Any]]  # the unit's total, one row per indicator with its labels
    funding: list[dict[str, Any]]  # one row per component, then the total row
    outputs: list[dict[str, Any]]
    communes: list[CommuneRow]

    @property
    def missing(self) -> list[CommuneRow]:
        return [c for c in self.communes if c.status == NOT_RECEIVED]

    @property
    def rejected(self) -> list[CommuneRow]:
        return [c for c in self.communes if c.status == REJECTED]

    def communes_by_child(self) -> dict[str, list[CommuneRow]]:
        """Each sub-unit's communes (a commune sub-unit: itself)."""
        out: dict[str, list[CommuneRow]] = {c.code: [] for c in self.children}
        for commune in self.communes:
            owner = commune.code if commune.code in out else commune.district_code
            out.setdefault(owner or "", []).append(commune)
        return out


def _by_unit_area(conn: sa.Connection, table: sa.Table, period_id: str, codes: list[str]) -> dict:
    out: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in conn.execute(sa.select(table).where(table.c.period_id == period_id, table.c.unit_code.in_(codes))):
        data = dict(row._mapping)
        out[data["unit_code"]][data["area"]] = data
    return out


def _commune_rows(conn: sa.Connection, md: sa.MetaData, period_id: str, units: dict[str, dict],
                  communes: list[str]) -> list[CommuneRow]:
    completeness, submission = md.tables["fact_completeness"], md.tables["submission"]
    flags = {r.unit_code: r for r in conn.execute(
        sa.select(completeness).where(completeness.c.period_id == period_id, completeness.c.unit_code.in_(communes),
                                      completeness.c.area == TOTAL))}
    files: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in conn.execute(
            sa.select(submission).where(submission.c.period_id == period_id,
                                        submission.c.submitted_for.in_(communes),
                                        submission.c.status.in_(("accepted", "rejected")))
            .order_by(submission.c.received_at)):
        files[row.submitted_for].append(dict(row._mapping))
    rows = []
    for code in communes:
        flag = flags.get(code)
        if flag is None:  # not expected in this period (outside the scope, or did not exist yet)
            continue
        if not flag.received:
            status = NOT_RECEIVED
        elif not flag.accepted:
            status = REJECTED
        else:
            status = WITH_WARNINGS if flag.accepted_with_warnings else ACCEPTED
        own = files.get(code, [])
        counted = next((f for f in own if f["status"] == "accepted"), own[-1] if own else None)
        unit = units[code]
        district = units.get(unit["district_code"] or unit["parent_code"] or "")
        row = CommuneRow(code=code, name=unit["name"], district_code=district["code"] if district else None,
                         district_name=district["name"] if district else None, area=unit["area"], status=status,
                         on_time=bool(flag.on_time))
        if counted:
            row.received_at, row.submission_id = counted["received_at"], counted["submission_id"]
            row.file_name, row.errors = counted["file_name"], counted["error_count"]
            row.warnings, row.annotated_path = counted["warning_count"], counted["annotated_path"]
        rows.append(row)
    return rows


def _unit_total(conn: sa.Connection, md: sa.MetaData, table: str, period_id: str, code: str) -> list[dict]:
    t = md.tables[table]
    query = sa.select(t).where(t.c.period_id == period_id, t.c.unit_code == code, t.c.area == TOTAL)
    return [dict(r._mapping) for r in conn.execute(query)]


def read_units(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    """dim_unit by code (pass it to `load` when loading many units of one warehouse)."""
    dim_unit = ensure_schema(engine).tables["dim_unit"]
    with engine.connect() as conn:
        return {r.code: dict(r._mapping) for r in conn.execute(sa.select(dim_unit))}


def load(engine: sa.Engine, period_id: str, unit_code: str, units: dict[str, dict[str, Any]] | None = None
         ) -> Consolidated:
    """The published period as seen from a province or district (any non-commune unit)."""
    md = ensure_schema(engine)
    dim_period = md.tables["dim_period"]
    units = units if units is not None else read_units(engine)
    with engine.connect() as conn:
        period = conn.execute(sa.select(dim_period).where(dim_period.c.period_id == period_id)).first()
        if period is None or unit_code not in units:
            raise NotPublished(f"kỳ {period_id} chưa được tổng hợp cho đơn vị {unit_code}")
        children_of: dict[str, list[str]] = defaultdict(list)
        for unit in units.values():
            if unit["parent_code"]:
                children_of[unit["parent_code"]].append(unit["code"])
        child_codes = sorted(children_of.get(unit_code, []))
        households = _by_unit_area(conn, md.tables["fact_households"], period_id, [unit_code, *child_codes])
        completeness = _by_unit_area(conn, md.tables["fact_completeness"], period_id, [unit_code, *child_codes])
        if TOTAL not in completeness.get(unit_code, {}):
            raise NotPublished(f"kỳ {period_id} chưa được tổng hợp cho đơn vị {unit_code}")

        def figures(code: str) -> UnitFigures:
            u = units[code]
            return UnitFigures(code, u["name"], u["level"], households.get(code, {}), completeness.get(code, {}),
                               u["area"])

        communes, stack = [], [unit_code]
        while stack:
            code = stack.pop()
            below = children_of.get(code, [])
            if not below and code != unit_code:
                communes.append(code)
            stack.extend(below)
        if not children_of.get(unit_code):  # a commune itself
            communes = [unit_code]
        dims = {(r.section, r.indicator): dict(r._mapping) for r in conn.execute(sa.select(md.tables["dim_indicator"]))}
        components = {r.component: dict(r._mapping) for r in conn.execute(sa.select(md.tables["dim_component"]))}
        deprivations = _unit_total(conn, md, "fact_deprivations", period_id, unit_code)
        funding = _unit_total(conn, md, "fact_funding", period_id, unit_code)
        outputs = _unit_total(conn, md, "fact_outputs", period_id, unit_code)
        commune_rows = _commune_rows(conn, md, period_id, units, sorted(communes))

    def order(rows: list[dict], dim: dict, key: str) -> list[dict]:
        def number(row: dict) -> tuple:
            d = dim.get(row[key])
            return tuple(int(p) for p in d["number"].split(".")) if d else (10**6,)
        return [{**row, **{k: v for k, v in (dim.get(row[key]) or {}).items() if k in ("number", "label",
                                                                                        "dimension", "unit")}}
                for row in sorted(rows, key=number)]

    return Consolidated(
        period=dict(period._mapping),
        unit=figures(unit_code),
        children=[figures(c) for c in child_codes if TOTAL in completeness.get(c, {})],
        deprivations=order(deprivations, {k[1]: v for k, v in dims.items() if k[0] == "deprivations"}, "indicator"),
        funding=order(funding, components, "component"),
        outputs=order(outputs, {k[1]: v for k, v in dims.items() if k[0] == "outputs"}, "indicator"),
        communes=commune_rows,
    )
