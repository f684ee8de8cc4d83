"""Roll-up commune → every higher level of the hierarchy (domain.md §4).

Counts and amounts add up (amounts exactly, as Decimal); rates are recomputed from the summed counts,
never averaged; nothing is imputed: a unit whose communes have no accepted report gets completeness
but no figures. Upper levels get a total and an urban/rural split; communes get their own figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from tonghop.calendar import Period
from tonghop.hierarchy import RURAL, URBAN, Hierarchy
from tonghop.spec import TemplateSpec

TOTAL = "total"
DISBURSED_PREFIX = "disb_"
WARNED = "__with_warnings"
AREAS = (TOTAL, URBAN, RURAL)


@dataclass(frozen=True)
class CommuneStatus:
    """What happened to one expected commune in the period."""

    code: str
    received: bool
    accepted: bool
    with_warnings: bool
    on_time: bool


def _ratio(numerator: Any, denominator: Any) -> float | None:
    if numerator is None or denominator is None or pd.isna(numerator) or pd.isna(denominator) or not denominator:
        return None
    return float(Decimal(numerator) / Decimal(denominator) * 100)


def _groupings(hierarchy: Hierarchy, communes: pd.DataFrame) -> Iterable[tuple[str, str, Any]]:
    """(level, area, groups of communes by unit) for every published level and area."""
    for level in hierarchy.levels:
        column = f"{level}__code"
        yield level, TOTAL, communes.groupby(column, sort=True)
        if level == hierarchy.leaf_level:
            continue
        for area in (URBAN, RURAL):
            yield level, area, communes[communes["area"] == area].groupby(column, sort=True)


def _with_ancestors(hierarchy: Hierarchy, codes: Iterable[str]) -> pd.DataFrame:
    rows = []
    for code in codes:
        row = {f"{level}__code": hierarchy.ancestor(code, level) for level in hierarchy.levels}
        row["area"] = hierarchy[code].area
        rows.append(row)
    return pd.DataFrame(rows, columns=[*(f"{lv}__code" for lv in hierarchy.levels), "area"])


def _sum(series: pd.Series) -> Any:
    values = [v for v in series if v is not None and not (isinstance(v, float) and pd.isna(v))]
    return sum(values, start=Decimal(0) if values and isinstance(values[0], Decimal) else 0)


def rollup(spec: TemplateSpec, hierarchy: Hierarchy, period: Period, accepted: Mapping[str, Mapping[str, Any]],
           statuses: Iterable[CommuneStatus]) -> dict[str, list[dict[str, Any]]]:
    """Facts for every unit and area. `accepted` maps a commune code to its accepted report's values."""
    facts: dict[str, list[dict[str, Any]]] = {name: [] for name in (
        "fact_households", "fact_deprivations", "fact_funding", "fact_outputs", "fact_completeness")}

    status_list = list(statuses)
    completeness = _with_ancestors(hierarchy, [s.code for s in status_list])
    for column in ("received", "accepted", "with_warnings", "on_time"):
        completeness[column] = [int(getattr(s, column)) for s in status_list]
    for level, area, groups in _groupings(hierarchy, completeness):
        for code, group in groups:
            expected = len(group)
            received, accepted_n = int(group["received"].sum()), int(group["accepted"].sum())
            on_time = int(group["on_time"].sum())
            facts["fact_completeness"].append({
                "period_id": period.id, "unit_code": code, "area": area, "unit_level": level,
                "expected": expected, "received": received, "accepted": accepted_n,
                "accepted_with_warnings": int(group["with_warnings"].sum()),
                "rejected": received - accepted_n, "missing": expected - received, "on_time": on_time,
                "reporting_rate": _ratio(received, expected), "on_time_rate": _ratio(on_time, expected),
                "acceptance_rate": _ratio(accepted_n, expected), "is_partial": accepted_n < expected,
            })

    if not accepted:
        return facts
    codes = sorted(accepted)
    frame = _with_ancestors(hierarchy, codes)
    values = pd.DataFrame([accepted[c] for c in codes])
    frame = pd.concat([frame, values.reset_index(drop=True)], axis=1)
    warned = {s.code for s in status_list if s.with_warnings}
    frame[WARNED] = [code in warned for code in codes]

    household_keys = [f.key for f in spec.fields_of("households") if f.type == "count"]
    dep = spec.section("deprivations")
    funding = spec.section("funding")
    money_columns = [c for c in funding.grid_columns if c != "applicable"]
    outputs = spec.section("outputs")

    for level, area, groups in _groupings(hierarchy, frame):
        for code, group in groups:
            key = {"period_id": period.id, "unit_code": code, "area": area, "unit_level": level}
            n = len(group)
            sums = {k: _sum(group[k]) for k in household_keys}
            facts["fact_households"].append({
                **key, "reports": n, "reports_with_warnings": int(group[WARNED].sum()), **sums,
                "poor_rate": _ratio(sums["poor_end"], sums["total_households"]),
                "near_poor_rate": _ratio(sums["near_poor_end"], sums["total_households"]),
            })
            for row in dep.grid_rows:
                counts = {c: _sum(group[f"dep_{row.key}_{c}"]) for c in dep.grid_columns}
                facts["fact_deprivations"].append({
                    **key, "indicator": row.key, "reports": n, **counts,
                    **{f"{c}_share": _ratio(counts[c], sums[f"{c}_end"]) for c in dep.grid_columns},
                })
            totals = dict.fromkeys(money_columns, Decimal(0))
            eligible_any = pd.Series(False, index=group.index)
            for row in funding.grid_rows:
                amounts = {c: _sum(group[f"{row.key}_{c}"]) for c in money_columns}
                for c in money_columns:
                    totals[c] += amounts[c]
                eligible = group[f"{row.key}_applicable"].fillna(False).astype(bool)
                eligible_any |= eligible
                facts["fact_funding"].append(_funding_row(key, row.key, n, int(eligible.sum()), amounts))
            facts["fact_funding"].append(_funding_row(key, "total", n, int(eligible_any.sum()), totals))
            for row in outputs.grid_rows:
                sums_out = {c: _sum(group[f"out_{row.key}_{c}"]) for c in outputs.grid_columns}
                facts["fact_outputs"].append({
                    **key, "indicator": row.key, "reports": n, **sums_out,
                    "achievement_rate": _ratio(sums_out["cumulative"], sums_out["plan"]),
                })
    return facts


def _funding_row(key: dict[str, Any], component: str, reports: int, eligible: int,
                 amounts: dict[str, Decimal]) -> dict[str, Any]:
    # Funding columns are either money available (carried over, allocated, mobilised) or disbursed.
    disbursed = sum((v for c, v in amounts.items() if c.startswith(DISBURSED_PREFIX)), Decimal(0))
    available = sum((v for c, v in amounts.items() if not c.startswith(DISBURSED_PREFIX)), Decimal(0))
    return {**key, "component": component, "reports": reports, "eligible_units": eligible,
            **amounts, "disbursement_rate": _ratio(disbursed, available)}
