"""The read side: a published period as seen from one unit, read back from the warehouse.

The only reader of published figures. `load` gives the unit, its sub-units with their figures per area,
the unit's facts per area (households, deprivations, funding, outputs), every expected commune under it with
its reporting status and the file that counts, and the rejected files with their errors. The unit summary
(tonghop.summary), the officers' consolidated workbook, the charts and the reporting-status page all
render from it; nothing here writes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from tonghop.findings import ERROR
from tonghop.vocabulary import (
    ACCEPTED,
    ACCEPTED_WITH_WARNINGS,
    AREA_LABELS,
    COMMUNE_AREAS,
    DRAFT,
    HELD,
    NOT_RECEIVED,
    REJECTED,
    REPORTING_STATUS_LABELS,
    RETURNED,
    TOTAL,
    utc,
)
from tonghop.warehouse import Warehouse, chunks

SECTION_FACTS = ("fact_deprivations", "fact_funding", "fact_outputs")  # one row per indicator or component


class NotPublished(LookupError):
    """Nothing published for this period and unit (the message is Vietnamese: officials read it)."""


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
        return REPORTING_STATUS_LABELS[self.status]


@dataclasses.dataclass
class RejectedFile:
    """A file of a commune under the unit whose final state is rejected, with its errors in sheet order."""
    commune_code: str
    commune_name: str
    file_name: str
    received_at: dt.datetime
    errors: list[dict[str, Any]]  # check_id, cell, message


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
    facts: dict[str, dict[str, list[dict[str, Any]]]]  # the unit's SECTION_FACTS rows: table → area → rows
    rejected_files: list[RejectedFile]
    approval: dict[str, Any] | None = None  # the unit's sign-off (unit_approval row); None: draft, or a commune

    @property
    def approval_state(self) -> str | None:
        """draft / approved / accepted for a consolidating unit (tonghop.sign_off), None for a commune."""
        if self.unit.level == "commune":
            return None
        return self.approval["state"] if self.approval else DRAFT

    @property
    def missing(self) -> list[CommuneRow]:
        return [c for c in self.communes if c.status == NOT_RECEIVED]

    @property
    def rejected(self) -> list[CommuneRow]:
        return [c for c in self.communes if c.status == REJECTED]

    @property
    def by_area(self) -> bool:
        """A province of the two-level map: its sub-units are its 100-odd communes, shown by urban/rural area."""
        return (self.unit.level == "province" and bool(self.children)
                and all(c.level == "commune" for c in self.children))

    def groups(self) -> list[tuple[UnitFigures, list[CommuneRow]]]:
        """What officers see the unit by, with the communes of each: its districts (a province of the
        three-level map), its communes (a district), or its urban and rural areas (see `by_area`)."""
        if not self.by_area:
            by_child = self.communes_by_child()
            return [(c, by_child.get(c.code, [])) for c in self.children]
        return [(UnitFigures(area, AREA_LABELS[area], "area", {TOTAL: self.unit.households.get(area, {})},
                             {TOTAL: self.unit.completeness[area]}), [c for c in self.communes if c.area == area])
                for area in COMMUNE_AREAS if self.unit.has_area(area)]

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


def _commune_rows(conn: sa.Connection, tables: Mapping[str, sa.Table], period_id: str, units: dict[str, dict],
                  communes: list[str]) -> list[CommuneRow]:
    completeness, submission = tables["fact_completeness"], tables["submission"]
    flags = {r.unit_code: r for r in conn.execute(
        sa.select(completeness).where(completeness.c.period_id == period_id, completeness.c.unit_code.in_(communes),
                                      completeness.c.area == TOTAL))}
    files: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in conn.execute(
            sa.select(submission).where(submission.c.period_id == period_id,
                                        submission.c.submitted_for.in_(communes),
                                        submission.c.status.in_((ACCEPTED, REJECTED, RETURNED, HELD)))
            .order_by(submission.c.received_at)):
        files[row.submitted_for].append(dict(row._mapping))
    rows = []
    for code in communes:
        flag = flags.get(code)
        if flag is None:  # not expected in this period (outside the scope, or did not exist yet)
            continue
        own = files.get(code, [])
        if not flag.received:
            status = NOT_RECEIVED
        elif not flag.accepted:  # its last file was rejected, sent back, or came after the unit was approved
            status = own[-1]["status"] if own and own[-1]["status"] in (RETURNED, HELD) else REJECTED
        else:
            status = ACCEPTED_WITH_WARNINGS if flag.accepted_with_warnings else ACCEPTED
        counted = next((f for f in own if f["status"] == ACCEPTED), own[-1] if own else None)
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


def _rejected_files(conn: sa.Connection, tables: Mapping[str, sa.Table], period_id: str,
                    units: dict[str, dict], communes: list[str]) -> list[RejectedFile]:
    submission, finding = tables["submission"], tables["finding"]
    files = [dict(r._mapping) for r in conn.execute(
        sa.select(submission).where(submission.c.period_id == period_id, submission.c.status == REJECTED,
                                    submission.c.submitted_for.in_(communes))
        .order_by(submission.c.submitted_for, submission.c.received_at))]
    errors: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ids in chunks([f["submission_id"] for f in files]):
        for r in conn.execute(sa.select(finding.c.submission_id, finding.c.check_id, finding.c.cell, finding.c.message)
                              .where(finding.c.submission_id.in_(ids), finding.c.severity == ERROR)
                              .order_by(finding.c.submission_id, finding.c.seq)):
            errors[r.submission_id].append({"check_id": r.check_id, "cell": r.cell, "message": r.message})
    return [RejectedFile(f["submitted_for"], units[f["submitted_for"]]["name"], f["file_name"], f["received_at"],
                         errors[f["submission_id"]]) for f in files]


def read_units(warehouse: Warehouse, map_edition: str) -> dict[str, dict[str, Any]]:
    """dim_unit of one map edition by code (pass it to `load` when loading many units of one period)."""
    dim_unit = warehouse.tables["dim_unit"]
    with warehouse.engine.connect() as conn:
        return {r.code: dict(r._mapping)
                for r in conn.execute(sa.select(dim_unit).where(dim_unit.c.map_edition == map_edition))}


def period_edition(warehouse: Warehouse, period_id: str) -> str | None:
    """The map edition a period's published figures are on (a period published before map editions keeps the
    pre-reform map until it is consolidated again, whatever its deadline), else the calendar's."""
    facts, dim_period = warehouse.tables["fact_completeness"], warehouse.tables["dim_period"]
    with warehouse.engine.connect() as conn:
        published = conn.execute(sa.select(facts.c.map_edition).where(facts.c.period_id == period_id).limit(1)
                                 ).scalar()
        return published or conn.execute(sa.select(dim_period.c.map_edition)
                                         .where(dim_period.c.period_id == period_id)).scalar()


def known_period(warehouse: Warehouse, period_id: str) -> dict[str, Any] | None:
    """The period as the calendar defines it (period_id, name, commune_deadline), published or not."""
    period = warehouse.tables["dim_period"]
    with warehouse.engine.connect() as conn:
        row = conn.execute(sa.select(period.c.period_id, period.c.name, period.c.commune_deadline)
                           .where(period.c.period_id == period_id)).first()
    return dict(row._mapping) if row else None


def published_periods(warehouse: Warehouse) -> list[dict[str, Any]]:
    """The periods with a publication, latest deadline first: period_id, name, commune_deadline."""
    period, publication = warehouse.tables["dim_period"], warehouse.tables["publication"]
    query = (sa.select(period.c.period_id, period.c.name, period.c.commune_deadline)
             .where(period.c.period_id.in_(sa.select(publication.c.period_id)))
             .order_by(period.c.commune_deadline.desc()))
    with warehouse.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def freshness(warehouse: Warehouse, period_id: str) -> dict[str, Any]:
    """When the period's figures were last consolidated (the latest run, even one that found nothing new to
    publish) and published: consolidated_at, published_at, version (None where nothing is recorded)."""
    publication, run_log = warehouse.tables["publication"], warehouse.tables["run_log"]
    with warehouse.engine.connect() as conn:
        latest = conn.execute(sa.select(publication.c.version, publication.c.published_at)
                              .where(publication.c.period_id == period_id)
                              .order_by(publication.c.version.desc()).limit(1)).first()
        consolidated = conn.execute(sa.select(sa.func.max(run_log.c.finished_at))
                                    .where(run_log.c.period_id == period_id)).scalar()
    published_at = latest.published_at if latest else None
    return {"version": latest.version if latest else None, "published_at": published_at,
            "consolidated_at": max((utc(t) for t in (consolidated, published_at) if t), default=None)}


def top_units(warehouse: Warehouse, period_id: str) -> list[dict[str, Any]]:
    """The period's provinces (the top level of the published map) with their completeness and name."""
    c, u = warehouse.tables["fact_completeness"], warehouse.tables["dim_unit"]
    query = (sa.select(c, u.c.name).join(u, sa.and_(u.c.code == c.c.unit_code, u.c.map_edition == c.c.map_edition))
             .where(c.c.period_id == period_id, c.c.area == TOTAL, u.c.parent_code.is_(None))
             .order_by(c.c.unit_code))
    with warehouse.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def load(warehouse: Warehouse, period_id: str, unit_code: str, units: dict[str, dict[str, Any]] | None = None
         ) -> Consolidated:
    """The published period as seen from a unit (a province, a district, or a commune itself)."""
    tables = warehouse.tables
    if units is None:
        edition = period_edition(warehouse, period_id)
        units = read_units(warehouse, edition) if edition else {}
    not_published = NotPublished(f"kỳ {period_id} chưa được tổng hợp cho đơn vị {unit_code}")
    with warehouse.engine.connect() as conn:
        dim_period = tables["dim_period"]
        period = conn.execute(sa.select(dim_period).where(dim_period.c.period_id == period_id)).first()
        if period is None or unit_code not in units:
            raise not_published
        children_of: dict[str, list[str]] = defaultdict(list)
        for unit in units.values():
            if unit["parent_code"]:
                children_of[unit["parent_code"]].append(unit["code"])
        child_codes = sorted(children_of.get(unit_code, []))
        households = _by_unit_area(conn, tables["fact_households"], period_id, [unit_code, *child_codes])
        completeness = _by_unit_area(conn, tables["fact_completeness"], period_id, [unit_code, *child_codes])
        if TOTAL not in completeness.get(unit_code, {}):
            raise not_published

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
        communes.sort()
        dims = {(r.section, r.indicator): dict(r._mapping) for r in conn.execute(sa.select(tables["dim_indicator"]))}
        components = {r.component: dict(r._mapping) for r in conn.execute(sa.select(tables["dim_component"]))}
        facts: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for name in SECTION_FACTS:
            t = tables[name]
            facts[name] = defaultdict(list)
            for r in conn.execute(sa.select(t).where(t.c.period_id == period_id, t.c.unit_code == unit_code)):
                facts[name][r.area].append(dict(r._mapping))
        commune_rows = _commune_rows(conn, tables, period_id, units, communes)
        rejected = _rejected_files(conn, tables, period_id, units, communes)
        approval_table = tables["unit_approval"]
        approval = conn.execute(sa.select(approval_table).where(
            approval_table.c.period_id == period_id, approval_table.c.unit_code == unit_code,
            approval_table.c.map_edition == units[unit_code]["map_edition"])).first()

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
        deprivations=order(facts["fact_deprivations"].get(TOTAL, []),
                           {k[1]: v for k, v in dims.items() if k[0] == "deprivations"}, "indicator"),
        funding=order(facts["fact_funding"].get(TOTAL, []), components, "component"),
        outputs=order(facts["fact_outputs"].get(TOTAL, []),
                      {k[1]: v for k, v in dims.items() if k[0] == "outputs"}, "indicator"),
        communes=commune_rows,
        facts={name: dict(by_area) for name, by_area in facts.items()},
        rejected_files=rejected,
        approval=dict(approval._mapping) if approval else None,
    )
