"""Plan targets of provinces and districts (config/targets.yaml) and whether a unit's figures meet them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from tonghop.editions import Editions
from tonghop.yamlfile import read_yaml

ON_TRACK, OFF_TRACK = "Đạt", "Chưa đạt"


@dataclasses.dataclass(frozen=True)
class Target:
    unit: str
    first_year: int
    last_year: int
    poor_rate_max: float | None = None
    near_poor_rate_max: float | None = None
    poor_rate_cut_min: float | None = None
    map_edition: str | None = None  # the map the unit code belongs to (tonghop.editions)

    def describe(self) -> str:
        """The target as an official reads it, e.g. '≤ 3,00%; giảm ≥ 0,50 điểm %/năm'."""
        from tonghop.numbers import fmt

        parts = []
        if self.poor_rate_max is not None:
            parts.append(f"hộ nghèo ≤ {fmt(self.poor_rate_max, 2)}%")
        if self.poor_rate_cut_min is not None:
            parts.append(f"giảm ≥ {fmt(self.poor_rate_cut_min, 2)} điểm %/năm")
        if self.near_poor_rate_max is not None:
            parts.append(f"hộ cận nghèo ≤ {fmt(self.near_poor_rate_max, 2)}%")
        return "; ".join(parts)


@dataclasses.dataclass(frozen=True)
class Assessment:
    target: Target
    verdict: str | None  # ON_TRACK, OFF_TRACK, or None when nothing could be judged
    reasons: tuple[str, ...]


class Targets:
    def __init__(self, targets: list[Target]) -> None:
        self._targets = targets

    def for_unit(self, unit_code: str, year: int) -> Target | None:
        return next((t for t in self._targets if t.unit == unit_code and t.first_year <= year <= t.last_year), None)

    def assess(self, unit_code: str, year: int, full_year: bool, measures: dict[str, Any]) -> Assessment | None:
        """Judge a unit's published household figures (fact_households columns) against its target."""
        target = self.for_unit(unit_code, year)
        if target is None:
            return None
        from tonghop.numbers import fmt

        checks: list[tuple[bool, str]] = []
        poor_rate, near_rate = measures.get("poor_rate"), measures.get("near_poor_rate")
        if target.poor_rate_max is not None and poor_rate is not None:
            checks.append((poor_rate <= target.poor_rate_max,
                           f"tỷ lệ hộ nghèo {fmt(poor_rate, 2)}% (chỉ tiêu ≤ {fmt(target.poor_rate_max, 2)}%)"))
        if target.near_poor_rate_max is not None and near_rate is not None:
            limit = fmt(target.near_poor_rate_max, 2)
            checks.append((near_rate <= target.near_poor_rate_max,
                           f"tỷ lệ hộ cận nghèo {fmt(near_rate, 2)}% (chỉ tiêu ≤ {limit}%)"))
        cut = poverty_rate_cut(measures)
        if target.poor_rate_cut_min is not None and full_year and cut is not None:
            checks.append((cut >= target.poor_rate_cut_min,
                           f"giảm {fmt(cut, 2)} điểm % (chỉ tiêu ≥ {fmt(target.poor_rate_cut_min, 2)})"))
        if not checks:
            return Assessment(target, None, ())
        verdict = ON_TRACK if all(ok for ok, _ in checks) else OFF_TRACK
        return Assessment(target, verdict, tuple(text for _, text in checks))


def poverty_rate_cut(measures: dict[str, Any]) -> float | None:
    """Points the poverty rate fell since the start of the year: poor_start and poor_end over the total."""
    total, start, rate = measures.get("total_households"), measures.get("poor_start"), measures.get("poor_rate")
    if not total or start is None or rate is None:
        return None
    return float(start) * 100 / float(total) - float(rate)


def _years(value: Any) -> tuple[int, int]:
    text = str(value).strip()
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def load_targets(path: Path | None, editions: Editions | None = None, edition: str | None = None) -> Targets:
    """The targets of the units of map edition `edition` (all targets when None); a missing file means no
    targets (nothing is judged). A unit code names a unit of one edition: an entry's `map_edition` says which,
    by default the edition in force on 1 January of its first year."""
    if path is None or not path.exists():
        return Targets([])
    data = read_yaml(path) or {}
    known = {f.name for f in dataclasses.fields(Target)} - {"unit", "first_year", "last_year", "map_edition"}
    targets = []
    for entry in data.get("targets") or []:
        unknown = set(entry) - known - {"unit", "years", "map_edition"}
        if unknown:
            raise ValueError(f"{path}: unknown target keys {sorted(unknown)} for unit {entry.get('unit')}")
        first, last = _years(entry["years"])
        on_map = entry.get("map_edition")
        if on_map is None and editions is not None:
            on_map = editions.on(dt.date(first, 1, 1)).id
        if edition is not None and on_map is not None and str(on_map) != edition:
            continue
        targets.append(Target(unit=str(entry["unit"]), first_year=first, last_year=last,
                              map_edition=None if on_map is None else str(on_map),
                              **{k: float(v) for k, v in entry.items() if k in known}))
    return Targets(targets)
