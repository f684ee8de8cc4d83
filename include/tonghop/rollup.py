"""Roll-up commune → every higher level of the hierarchy (domain.md §4), vectorised.

Counts and amounts add up — amounts exactly, summed as whole thousandths of a million VND (1,000 đồng) —
rates are recomputed from the summed counts, never averaged; nothing is imputed: a unit whose communes have
no accepted report gets completeness but no figures. Upper levels get a total and an urban/rural split;
communes get their own figures. Each fact table comes back as a DataFrame with the warehouse's columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from tonghop.calendar import Period
from tonghop.hierarchy import Hierarchy
from tonghop.spec import TemplateSpec
from tonghop.vocabulary import MONEY_SCALE, TOTAL

DISBURSED_PREFIX = "disb_"
KEYS = ["unit_code", "area", "unit_level"]


@dataclass(frozen=True)
class CommuneStatus:
    """What happened to one expected commune in the period."""

    code: str
    received: bool
    accepted: bool
    with_warnings: bool
    on_time: bool
    imported: bool = False  # every file it sent was imported from history (tonghop import), none live


def _rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator × 100 / denominator, None where the denominator is 0 or missing."""
    num = numerator.astype("float64")
    den = denominator.astype("float64")
    out = num * 100 / den.where(den > 0)
    return out.astype(object).where(out.notna(), None)


def _placed(hierarchy: Hierarchy, codes: list[str]) -> pd.DataFrame:
    """One row per commune: its ancestor at every level and its area."""
    frame = pd.DataFrame({lv: [hierarchy.ancestor(c, lv) for c in codes] for lv in hierarchy.levels})
    frame["area"] = [hierarchy[c].area for c in codes]
    return frame


def _aggregate(hierarchy: Hierarchy, frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Sums of `columns` for every unit of every level and area (communes: their own row, area total)."""
    parts = []
    for level in hierarchy.levels:
        if level == hierarchy.leaf_level:
            part = frame[[level, *columns]].rename(columns={level: "unit_code"})
            parts.append(part.assign(area=TOTAL, unit_level=level))
            continue
        part = frame.groupby(level, sort=True)[columns].sum().reset_index().rename(columns={level: "unit_code"})
        parts.append(part.assign(area=TOTAL, unit_level=level))
        split = frame.groupby([level, "area"], sort=True)[columns].sum().reset_index()
        parts.append(split.rename(columns={level: "unit_code"}).assign(unit_level=level))
    return pd.concat(parts, ignore_index=True)


def completeness(hierarchy: Hierarchy, period: Period, statuses: Iterable[CommuneStatus]) -> pd.DataFrame:
    status_list = list(statuses)
    frame = _placed(hierarchy, [s.code for s in status_list])
    flags = ["expected", "received", "accepted", "accepted_with_warnings", "on_time", "imported"]
    frame["expected"] = 1
    frame["received"] = [int(s.received) for s in status_list]
    frame["accepted"] = [int(s.accepted) for s in status_list]
    frame["accepted_with_warnings"] = [int(s.with_warnings) for s in status_list]
    frame["on_time"] = [int(s.on_time) for s in status_list]
    frame["imported"] = [int(s.imported) for s in status_list]
    agg = _aggregate(hierarchy, frame, flags)
    agg["rejected"] = agg["received"] - agg["accepted"]
    agg["missing"] = agg["expected"] - agg["received"]
    agg["reporting_rate"] = _rate(agg["received"], agg["expected"])
    agg["on_time_rate"] = _rate(agg["on_time"], agg["expected"])
    agg["acceptance_rate"] = _rate(agg["accepted"], agg["expected"])
    agg["is_partial"] = agg["accepted"] < agg["expected"]
    return agg.assign(period_id=period.id)


def _thousandths(values: Iterable[Any]) -> list[int]:
    return [0 if v is None else int((v if type(v) is Decimal else Decimal(v)) * MONEY_SCALE) for v in values]


def _amounts(series: pd.Series) -> list[Decimal]:
    return [Decimal(int(v)) / MONEY_SCALE for v in series]


def rollup(spec: TemplateSpec, hierarchy: Hierarchy, period: Period, accepted: Mapping[str, Mapping[str, Any]],
           statuses: Iterable[CommuneStatus]) -> dict[str, pd.DataFrame]:
    """Facts for every unit and area. `accepted` maps a commune code to its accepted report's values."""
    status_list = list(statuses)
    facts = {"fact_completeness": completeness(hierarchy, period, status_list)}
    empty = {name: pd.DataFrame() for name in ("fact_households", "fact_deprivations", "fact_funding",
                                               "fact_outputs")}
    if not accepted:
        return {**empty, **facts}
    codes = sorted(accepted)
    frame = _placed(hierarchy, codes)
    warned = {s.code for s in status_list if s.with_warnings}
    frame["reports"] = 1
    frame["reports_with_warnings"] = [int(c in warned) for c in codes]
    household_keys = [f.key for f in spec.fields_of("households") if f.type == "count"]
    dep, funding, outputs = spec.section("deprivations"), spec.section("funding"), spec.section("outputs")
    count_keys = household_keys + [f.key for f in dep.fields] + [f.key for f in outputs.fields]
    money = [c for c in funding.grid_columns if c != "applicable"]
    money_keys = [f"{r.key}_{c}" for r in funding.grid_rows for c in money]
    eligible_keys = [f"{r.key}_applicable" for r in funding.grid_rows]
    keys = [*count_keys, *money_keys, *eligible_keys]
    # Taken report by report, then turned into columns: a national period is 10,000 reports of ~230 values, and
    # reading one key across all of them first walked memory at random (twice as long).
    table = [[r.get(k) for k in keys] for r in (accepted[c] for c in codes)]
    by_key = dict(zip(keys, zip(*table, strict=True), strict=True))
    columns: dict[str, Any] = {k: [v or 0 for v in by_key[k]] for k in count_keys}
    columns.update({k: _thousandths(by_key[k]) for k in money_keys})
    columns.update({k: [int(bool(v)) for v in by_key[k]] for k in eligible_keys})
    frame = pd.concat([frame, pd.DataFrame(columns, dtype="int64")], axis=1)
    frame["any_eligible"] = (frame[eligible_keys].sum(axis=1) > 0).astype("int64")
    agg = _aggregate(hierarchy, frame, ["reports", "reports_with_warnings", *count_keys, *money_keys,
                                        *eligible_keys, "any_eligible"])
    keys = agg[KEYS].assign(period_id=period.id)
    # Communes' own deprivations, funding and outputs are their report's values (table `report`): the
    # long fact tables start at the first level above them.
    upper = agg["unit_level"] != hierarchy.leaf_level
    agg_up, keys_up = agg[upper].reset_index(drop=True), keys[upper].reset_index(drop=True)

    households = pd.concat([keys, agg[["reports", "reports_with_warnings", *household_keys]]], axis=1)
    households["poor_rate"] = _rate(agg["poor_end"], agg["total_households"])
    households["near_poor_rate"] = _rate(agg["near_poor_end"], agg["total_households"])

    dep_parts = []
    for row in dep.grid_rows:
        part = keys_up.assign(indicator=row.key, reports=agg_up["reports"])
        for c in dep.grid_columns:
            part[c] = agg_up[f"dep_{row.key}_{c}"]
            part[f"{c}_share"] = _rate(agg_up[f"dep_{row.key}_{c}"], agg_up[f"{c}_end"])
        dep_parts.append(part)

    fund_parts = []
    totals = {c: sum(agg_up[f"{r.key}_{c}"] for r in funding.grid_rows) for c in money}
    components = [(r.key, {c: agg_up[f"{r.key}_{c}"] for c in money}, agg_up[f"{r.key}_applicable"])
                  for r in funding.grid_rows] + [("total", totals, agg_up["any_eligible"])]
    for key, amounts, eligible in components:
        part = keys_up.assign(component=key, reports=agg_up["reports"], eligible_units=eligible)
        for c in money:
            part[c] = _amounts(amounts[c])
        disbursed = sum(amounts[c] for c in money if c.startswith(DISBURSED_PREFIX))
        available = sum(amounts[c] for c in money if not c.startswith(DISBURSED_PREFIX))
        part["disbursement_rate"] = _rate(disbursed, available)
        fund_parts.append(part)

    out_parts = []
    for row in outputs.grid_rows:
        part = keys_up.assign(indicator=row.key, reports=agg_up["reports"])
        for c in outputs.grid_columns:
            part[c] = agg_up[f"out_{row.key}_{c}"]
        part["achievement_rate"] = _rate(agg_up[f"out_{row.key}_cumulative"], agg_up[f"out_{row.key}_plan"])
        out_parts.append(part)

    facts.update(fact_households=households, fact_deprivations=pd.concat(dep_parts, ignore_index=True),
                 fact_funding=pd.concat(fund_parts, ignore_index=True),
                 fact_outputs=pd.concat(out_parts, ignore_index=True))
    return facts
