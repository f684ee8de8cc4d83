"""The unit summary: a unit's published figures, completeness, sub-units and rejected files as one
document — the JSON of `tonghop report` and of `<period>/reports/<unit>.json` — and as a Vietnamese text
table. Rendered from the read model (tonghop.published)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tonghop.hierarchy import Hierarchy
from tonghop.numbers import fmt
from tonghop.published import Consolidated, NotPublished, UnitFigures, load
from tonghop.spec import TemplateSpec
from tonghop.vocabulary import AREA_LABELS, COMMUNE_AREAS, TOTAL
from tonghop.warehouse import Warehouse

COMPLETENESS_KEYS = ("expected", "received", "accepted", "accepted_with_warnings", "rejected", "missing",
                     "on_time", "reporting_rate", "on_time_rate", "acceptance_rate", "is_partial")
CHILD_MEASURES = ("total_households", "poor_end", "poor_rate", "near_poor_end", "near_poor_rate")
_KEYS = {"period_id", "unit_code", "area", "unit_level", "version", "map_edition"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # ≤ 15 significant digits: the shortest float repr is the exact decimal
    return value


def _measures(data: Consolidated, spec: TemplateSpec, area: str) -> dict[str, Any]:
    households = data.unit.households.get(area)
    if not households:
        return {}
    measures = {k: v for k, v in households.items() if k not in _KEYS}
    for row in data.facts["fact_deprivations"].get(area, []):
        for column in spec.section("deprivations").grid_columns:
            measures[f"dep_{row['indicator']}_{column}"] = row[column]
            measures[f"dep_{row['indicator']}_{column}_share"] = row[f"{column}_share"]
    for row in data.facts["fact_funding"].get(area, []):
        for column in spec.section("funding").grid_columns:
            if column in row:
                measures[f"{row['component']}_{column}"] = row[column]
        measures[f"{row['component']}_disbursement_rate"] = row["disbursement_rate"]
        measures[f"{row['component']}_eligible_units"] = row["eligible_units"]
    for row in data.facts["fact_outputs"].get(area, []):
        for column in spec.section("outputs").grid_columns:
            measures[f"out_{row['indicator']}_{column}"] = row[column]
        measures[f"out_{row['indicator']}_achievement_rate"] = row["achievement_rate"]
    return {k: _jsonable(v) for k, v in measures.items()}


def _completeness(unit: UnitFigures, area: str) -> dict[str, Any]:
    data = unit.completeness.get(area)
    if data is None:
        return {}
    return {k: (bool(data[k]) if k == "is_partial" else data[k]) for k in COMPLETENESS_KEYS}


def unit_summary(data: Consolidated, spec: TemplateSpec, leaf_level: str) -> dict[str, Any]:
    """The summary document of the unit `data` was loaded for."""
    unit = data.unit
    doc: dict[str, Any] = {
        "period": data.period["period_id"],
        "unit": {"code": unit.code, "name": unit.name, "level": unit.level},
        "measures": _measures(data, spec, TOTAL),
        "completeness": _completeness(unit, TOTAL),
        "areas": {},
        "children": [],
        "rejected": [],
    }
    if unit.level != leaf_level:
        for area in COMMUNE_AREAS:
            doc["areas"][area] = {"measures": _measures(data, spec, area), "completeness": _completeness(unit, area)}
        for child in data.children:
            households = child.households.get(TOTAL, {})
            doc["children"].append({
                "code": child.code, "name": child.name, "level": child.level,
                "completeness": _completeness(child, TOTAL),
                "measures": {k: _jsonable(households.get(k)) for k in CHILD_MEASURES},
            })
    doc["rejected"] = [{"commune_code": r.commune_code, "commune_name": r.commune_name, "file_name": r.file_name,
                        "received_at": r.received_at.isoformat(), "errors": r.errors} for r in data.rejected_files]
    return doc


def read_summary(warehouse: Warehouse, spec: TemplateSpec, hierarchy: Hierarchy, period_id: str,
                 unit_code: str) -> dict[str, Any]:
    """The summary of a unit of the map, read from the warehouse (NotPublished: nothing to show)."""
    if unit_code not in hierarchy:
        raise NotPublished(f"đơn vị {unit_code} không có trong danh mục")
    return unit_summary(load(warehouse, period_id, unit_code), spec, hierarchy.leaf_level)


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
    labels = {area: f"  {AREA_LABELS[area]}" for area in COMMUNE_AREAS}
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
