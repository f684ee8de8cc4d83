"""Map editions: which administrative map a period runs on (config/map_editions.yaml).

A period uses the edition in force on its commune deadline: the three-level map for periods due before
1 July 2025, the two-level map after. A unit is named by edition + code: the same code can be two
different units in two editions.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

from tonghop.calendar import Period
from tonghop.hierarchy import Hierarchy, HierarchyError, load_hierarchy
from tonghop.yamlfile import read_yaml


class EditionError(ValueError):
    pass


@dataclass(frozen=True)
class MapEdition:
    id: str
    name: str  # Vietnamese, shown to officials
    in_force_from: dt.date | None
    in_force_until: dt.date | None
    source: str

    def in_force_on(self, day: dt.date) -> bool:
        if self.in_force_from and day < self.in_force_from:
            return False
        return not (self.in_force_until and day > self.in_force_until)


@dataclass(frozen=True)
class CorrespondenceSpec:
    old: str  # edition ids
    new: str
    source: str


@dataclass(frozen=True)
class Editions:
    editions: tuple[MapEdition, ...]
    correspondence: CorrespondenceSpec | None = None

    def get(self, edition_id: str) -> MapEdition:
        for e in self.editions:
            if e.id == edition_id:
                return e
        raise EditionError(f"unknown map edition {edition_id!r}; known: {[e.id for e in self.editions]}")

    def on(self, day: dt.date) -> MapEdition:
        found = [e for e in self.editions if e.in_force_on(day)]
        if len(found) != 1:
            raise EditionError(f"{len(found)} map editions are in force on {day}; the editions file must "
                               f"give exactly one for every day")
        return found[0]

    def for_period(self, period: Period) -> MapEdition:
        return self.on(period.deadline_date)

    def with_sources(self, overrides: str | None) -> Editions:
        """TONGHOP_HIERARCHY: a CSV path for every edition, or `edition=path;edition=path`."""
        overrides = (overrides or "").strip()
        if not overrides:
            return self
        if "=" not in overrides:
            pairs = {e.id: overrides for e in self.editions}
        else:
            pairs = {}
            for part in filter(None, (p.strip() for p in overrides.split(";"))):
                key, _, path = part.partition("=")
                self.get(key.strip())
                pairs[key.strip()] = path.strip()
        return Editions(tuple(_replace_source(e, pairs.get(e.id)) for e in self.editions), self.correspondence)

    def hierarchy(self, edition_id: str) -> Hierarchy:
        edition = self.get(edition_id)
        return load_hierarchy(edition.source, edition.id)


def _replace_source(edition: MapEdition, source: str | None) -> MapEdition:
    if not source:
        return edition
    return MapEdition(edition.id, edition.name, edition.in_force_from, edition.in_force_until, source)


def _date(value: object) -> dt.date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _relative(base: Path, source: str) -> str:
    """A CSV source relative to the editions file; packaged source names stay as they are."""
    if source.endswith(".csv") and not Path(source).is_absolute():
        return str(base / source)
    return source


@functools.cache
def load_editions(path: Path | str, overrides: str | None = None) -> Editions:
    path = Path(path)
    raw = read_yaml(path) or {}
    editions = []
    for spec in raw.get("editions") or []:
        try:
            editions.append(MapEdition(
                id=str(spec["id"]), name=str(spec["name"]),
                in_force_from=_date(spec.get("in_force_from")), in_force_until=_date(spec.get("in_force_until")),
                source=_relative(path.parent, str(spec["source"]))))
        except KeyError as exc:
            raise EditionError(f"{path}: an edition lacks {exc}") from None
    if not editions:
        raise EditionError(f"{path}: no map editions")
    ids = [e.id for e in editions]
    if len(set(ids)) != len(ids):
        raise EditionError(f"{path}: edition ids must be unique, got {ids}")
    corr = raw.get("correspondence")
    correspondence = None
    if corr:
        correspondence = CorrespondenceSpec(str(corr["from"]), str(corr["to"]),
                                            _relative(path.parent, str(corr["source"])))
    result = Editions(tuple(editions), correspondence).with_sources(overrides)
    if correspondence:
        result.get(correspondence.old), result.get(correspondence.new)
    return result


def hierarchy_for(editions: Editions, period: Period) -> Hierarchy:
    edition = editions.for_period(period)
    try:
        return editions.hierarchy(edition.id)
    except HierarchyError as exc:
        raise EditionError(f"map edition {edition.id} of period {period.id}: {exc}") from exc
