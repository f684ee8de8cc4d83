"""Published figures of a unit, read back from the warehouse, as JSON or a Vietnamese text table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from tonghop.hierarchy import Hierarchy
from tonghop.numbers import fmt
from tonghop.rollup import TOTAL
from tonghop.spec import TemplateSpec
from tonghop.targets import Targets
from tonghop.warehouse import ensure_schema

COMPLETENESS_KEYS = ("expected", "received", "accepted", "accepted_with_warnings", "rejected", "missing",
                     "on_time", "reporting_rate", "on_time_rate", "acceptance_rate", "is_partial")


class NotPublished(LookupError):
    pass


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # ≤ 15 significant digits: the shortest float repr is the exact decimal
    return value


def _measures(conn: sa.Connection, md: sa.MetaData, spec: TemplateSpec, period_id: str, code: str,
              area: str) -> dict[str, Any] | None:
    def rows(name: str) -> list[dict[str, Any]]:
        t = md.tables[name]
        query = sa.select(t).where(t.c.period_id == period_id, t.c.unit_code == code, t.c.area == area)
        return [dict(r._mapping) for r in conn.execute(query)]

    households = rows("fact_households")
    if not households:
        return None
    skip = {"period_id", "unit_code", "area", "unit_level", "version"}
    measures = {k: v for k, v in households[0].items() if k not in skip}
    for row in rows("fact_deprivations"):
        for column in spec.section("deprivations").grid_columns:
            measures[f"dep_{row['indicator']}_{column}"] = row[column]
            measures[f"dep_{row['indicator']}_{column}_share"] = row[f"{column}_share"]
    for row in rows("fact_funding"):
        for column in spec.section("funding").grid_columns:
            if column in row:
                measures[f"{row['component']}_{column}"] = row[column]
        measures[f"{row['component']}_disbursement_rate"] = row["disbursement_rate"]
        measures[f"{row['component']}_eligible_units"] = row["eligible_units"]
    for row in rows("fact_outputs"):
        for column in spec.section("outputs").grid_columns:
            measures[f"out_{row['indicator']}_{column}"] = row[column]
        measures[f"out_{row['indicator']}_achievement_rate"] = row["achievement_rate"]
    return {k: _jsonable(v) for k, v in measures.items()}


def _completeness(conn: sa.Connection, md: sa.MetaData, period_id: str, code: str, area: str) -> dict[str, Any]:
    t = md.tables["fact_completeness"]
    row = conn.execute(sa.select(t).where(t.c.period_id == period_id, t.c.unit_code == code,
                                          t.c.area == area)).first()
    if row is None:
        return {}
    data = dict(row._mapping)
    return {k: (bool(data[k]) if k == "is_partial" else data[k]) for k in COMPLETENESS_KEYS}


def unit_report(engine: sa.Engine, spec: TemplateSpec, hierarchy: Hierarchy, period_id: str,
                unit_code: str) -> dict[str, Any]:
    if unit_code not in hierarchy:
        raise NotPublished(f"đơn vị {unit_code} không có trong danh mục")
    unit = hierarchy[unit_code]
    md = ensure_schema(engine)
    with engine.connect() as conn:
        completeness = _completeness(conn, md, period_id, unit_code, TOTAL)
        if not completeness:
            raise NotPublished(f"kỳ {period_id} chưa được tổng hợp cho đơn vị {unit_code}")
        doc: dict[str, Any] = {
            "period": period_id,
            "unit": {"code": unit.code, "name": unit.name, "level": unit.level},
            "measures": _measures(conn, md, spec, period_id, unit_code, TOTAL) or {},
            "completeness": completeness,
            "areas": {},
            "children": [],
            "rejected": [],
        }
        if unit.level != hierarchy.leaf_level:
            for area in ("urban", "rural"):
                doc["areas"][area] = {
                    "measures": _measures(conn, md, spec, period_id, unit_code, area) or {},
                    "completeness": _completeness(conn, md, period_id, unit_code, area),
                }
            for child_code in hierarchy.children.get(unit_code, []):
                child = hierarchy[child_code]
                child_completeness = _completeness(conn, md, period_id, child_code, TOTAL)
                if not child_completeness:
                    continue  # outside the consolidation's scope
                measures = _measures(conn, md, spec, period_id, child_code, TOTAL) or {}
                doc["children"].append({
                    "code": child.code, "name": child.name, "level": child.level,
                    "completeness": child_completeness,
                    "measures": {k: measures.get(k) for k in ("total_households", "poor_end", "poor_rate",
                                                              "near_poor_end", "near_poor_rate")},
                })
        doc["rejected"] = _rejected(conn, md, hierarchy, period_id, unit)
    return doc


def _rejected(conn: sa.Connection, md: sa.MetaData, hierarchy: Hierarchy, period_id: str, unit: Any) -> list[dict]:
    submission, finding = md.tables["submission"], md.tables["finding"]
    rows = conn.execute(sa.select(submission).where(submission.c.period_id == period_id,
                                                    submission.c.status == "rejected")
                        .order_by(submission.c.submitted_for, submission.c.received_at))
    out = []
    for r in rows:
        s = dict(r._mapping)
        commune = s["submitted_for"]
        if commune not in hierarchy or hierarchy.ancestor(commune, unit.level) != unit.code:
            continue
        errors = conn.execute(sa.select(finding.c.check_id, finding.c.cell, finding.c.message)
                              .where(finding.c.submission_id == s["submission_id"], finding.c.severity == "error")
                              .order_by(finding.c.seq))
        out.append({
            "commune_code": commune, "commune_name": hierarchy[commune].name, "file_name": s["file_name"],
            "received_at": s["received_at"].isoformat(), "errors": [dict(e._mapping) for e in errors],
        })
    return out


def _pct(value: Any) -> str:
    return "" if value is None else fmt(value, 2) + "%"


def format_table(doc: dict[str, Any]) -> str:
    """The unit and its sub-units: completeness and household figures, in Vietnamese."""
    headers = ["Đơn vị", "Phải BC", "Đã nhận", "Hợp lệ", "Bị từ chối", "Đúng hạn", "Tỷ lệ BC", "Tổng số hộ",
               "Hộ nghèo", "Tỷ lệ nghèo", "Hộ cận nghèo", "Tỷ lệ cận nghèo"]

    def line(name: str, completeness: dict[str, Any], measures: dict[str, Any]) -> list[str]:
        partial = " (chưa đủ)" if completeness.get("is_partial") else ""
        return [name + partial, fmt(completeness.get("expected")), fmt(completeness.get("received")),
                fmt(completeness.get("accepted")), fmt(completeness.get("rejected")),
                fmt(completeness.get("on_time")), _pct(completeness.get("reporting_rate")),
                fmt(measures.get("total_households")), fmt(measures.get("poor_end")),
                _pct(measures.get("poor_rate")), fmt(measures.get("near_poor_end")),
                _pct(measures.get("near_poor_rate"))]

    unit = doc["unit"]
    body = [line(c["name"], c["completeness"], c["measures"]) for c in doc["children"]]
    labels = {"urban": "  Khu vực thành thị", "rural": "  Khu vực nông thôn"}
    body += [line(labels[a], v["completeness"], v["measures"]) for a, v in doc["areas"].items()
             if v["completeness"]]
    total = line(f"TỔNG CỘNG {unit['name']}", doc["completeness"], doc["measures"])
    table = [headers, *body, total]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]

    def render(row: list[str]) -> str:
        return "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))

    rule = "-" * len(render(headers))
    out = [f"{unit['name']} ({unit['code']}) — kỳ báo cáo {doc['period']}", rule, render(headers), rule,
           *(render(r) for r in body), rule, render(total), rule]
    money = doc["measures"].get("total_disbursement_rate")
    if money is not None:
        out.append(f"Tỷ lệ giải ngân kinh phí: {_pct(money)}")
    if doc["rejected"]:
        out.append("")
        out.append(f"Báo cáo bị từ chối ({len(doc['rejected'])}):")
        for r in doc["rejected"]:
            first = r["errors"][0]["message"] if r["errors"] else ""
            more = f" (và {len(r['errors']) - 1} lỗi khác)" if len(r["errors"]) > 1 else ""
            out.append(f"- {r['commune_name']} ({r['commune_code']}), tệp {r['file_name']}: {first}{more}")
    return "\n".join(out)


def write_unit_reports(engine: sa.Engine, spec: TemplateSpec, hierarchy: Hierarchy, period_id: str,
                       units: list[str], outputs: Any, targets: Targets, tz: ZoneInfo) -> list[str]:
    """The consolidated report of each province into the outputs: `<period>/reports/<unit>.json` and `.txt`,
    the consolidated workbook of the province and of each of its districts (`<period>/reports/<unit>.xlsx`)
    and the province's charts (`<period>/charts/<unit>/<kind>.png`). Returns the locations written."""
    import json

    written = []
    for code in units:
        try:
            doc = unit_report(engine, spec, hierarchy, period_id, code)
        except NotPublished:
            continue
        base = f"{period_id}/reports/{code}"
        written.append(outputs.write(f"{base}.json", json.dumps(doc, ensure_ascii=False, indent=1,
                                                                 default=str).encode()))
        written.append(outputs.write(f"{base}.txt", (format_table(doc) + "\n").encode()))
        # A province from which nothing arrived gets no workbook of blanks (its completeness is on the page).
        if doc["completeness"]["received"]:
            written += write_officer_files(engine, period_id, code, outputs, targets, tz)
    return written


def write_officer_files(engine: sa.Engine, period_id: str, province: str, outputs: Any, targets: Targets,
                        tz: ZoneInfo) -> list[str]:
    """Consolidated workbooks of a province and its districts, and the province's charts."""
    from tonghop.charts import render_all
    from tonghop.consolidated import load, read_units
    from tonghop.workbook import workbook_bytes

    units = read_units(engine)
    data = load(engine, period_id, province, units)
    written = [outputs.write(f"{period_id}/charts/{province}/{kind}.png", png)
               for kind, png in render_all(data, targets).items()]
    written.append(outputs.write(f"{period_id}/reports/{province}.xlsx", workbook_bytes(data, targets, tz)))
    for child in data.children:
        if child.level != "commune":
            written.append(outputs.write(f"{period_id}/reports/{child.code}.xlsx",
                                         workbook_bytes(load(engine, period_id, child.code, units), targets, tz)))
    return written
