"""Administrative units as data: levels, parents, urban/rural, validity — one map edition at a time.

Two maps are packaged (tonghop.editions says which one a period uses): the three-level map (province →
district → commune) in force until 30 June 2025, from `vietnam-provinces==0.6.0`, and the two-level map
(province → commune) since 1 July 2025, from `vietnamadminunits==1.0.4`. A province can maintain its own
list as CSV, with any levels the template knows (`province`, `district`, `commune`).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import importlib.util
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tonghop.vocabulary import RURAL, URBAN

DEFAULT_SOURCE = "vietnam-provinces"
TWO_LEVEL_SOURCE = "vietnamadminunits-2025"
PACKAGED_SOURCES = (DEFAULT_SOURCE, TWO_LEVEL_SOURCE)
KNOWN_LEVELS = ("province", "district", "commune")


class HierarchyError(ValueError):
    pass


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    level: str
    parent_code: str | None
    area: str | None = None  # urban / rural, for reporting (leaf) units
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None  # last day the unit exists; None = still exists

    def active_on(self, day: dt.date) -> bool:
        if self.valid_from and day < self.valid_from:
            return False
        return not (self.valid_to and day > self.valid_to)


class Hierarchy:
    """An ordered tree of units. The deepest level holds the reporting units (communes)."""

    def __init__(self, units: Iterable[Unit], source: str = "", edition: str = "") -> None:
        self.source = source
        self.edition = edition  # the map edition (tonghop.editions) these units belong to
        self.units: dict[str, Unit] = {}
        for u in units:
            if u.code in self.units:
                raise HierarchyError(f"duplicate unit code {u.code!r}")
            self.units[u.code] = u
        self.children: dict[str | None, list[str]] = {}
        for u in self.units.values():
            if u.parent_code is not None and u.parent_code not in self.units:
                raise HierarchyError(f"unit {u.code} has unknown parent {u.parent_code!r}")
            self.children.setdefault(u.parent_code, []).append(u.code)
        self.levels = self._levels()
        self.leaf_level = self.levels[-1]
        for u in self.units.values():
            if u.level == self.leaf_level and u.area not in (URBAN, RURAL):
                raise HierarchyError(f"reporting unit {u.code} must be '{URBAN}' or '{RURAL}', got {u.area!r}")
        self._ancestors = {code: self._ancestor_chain(code) for code in self.units}
        self._widths: dict[str, int] = {}
        for u in self.units.values():
            self._widths[u.level] = max(self._widths.get(u.level, 0), len(u.code))

    def _levels(self) -> tuple[str, ...]:
        order: list[str] = []
        frontier = self.children.get(None, [])
        while frontier:
            level_names = {self.units[c].level for c in frontier}
            if len(level_names) != 1:
                raise HierarchyError(f"units at the same depth have different levels: {sorted(level_names)}")
            order.append(level_names.pop())
            frontier = [k for c in frontier for k in self.children.get(c, [])]
        if not order:
            raise HierarchyError("the hierarchy is empty")
        unknown = [lv for lv in order if lv not in KNOWN_LEVELS]
        if unknown:
            raise HierarchyError(f"unknown level names {unknown}; use {KNOWN_LEVELS}")
        return tuple(order)

    def _ancestor_chain(self, code: str) -> dict[str, str]:
        chain: dict[str, str] = {}
        current: str | None = code
        while current is not None:
            unit = self.units[current]
            chain[unit.level] = unit.code
            current = unit.parent_code
        return chain

    def __contains__(self, code: object) -> bool:
        return code in self.units

    def __getitem__(self, code: str) -> Unit:
        return self.units[code]

    def get(self, code: str | None) -> Unit | None:
        return self.units.get(code) if code is not None else None

    def ancestor(self, code: str, level: str) -> str | None:
        """The code of `code`'s unit at `level` (itself when it is at that level)."""
        return self._ancestors[code].get(level)

    def within(self, code: str, unit: str) -> bool:
        """Whether `code` is `unit` or a unit below it (both of this map)."""
        if code not in self.units or unit not in self.units:
            return False
        return code == unit or self.ancestor(code, self.units[unit].level) == unit

    def ancestors(self, code: str) -> dict[str, str]:
        return dict(self._ancestors[code])

    def code_width(self, level: str) -> int:
        return self._widths.get(level, 0)

    def canonical_code(self, value: object, level: str) -> str | None:
        """A code as typed in a workbook (maybe a number that lost its leading zeros) → catalogue form."""
        if value is None:
            return None
        text = str(value).strip()
        if not text:
            return None
        if isinstance(value, float) and value.is_integer():
            text = str(int(value))
        if text.isdigit():
            text = text.zfill(self.code_width(level))
        return text

    @property
    def has_districts(self) -> bool:
        return "district" in self.levels

    def at_level(self, level: str) -> list[Unit]:
        return [u for u in self.units.values() if u.level == level]

    def descendants(self, code: str, level: str | None = None) -> Iterator[Unit]:
        stack = list(reversed(self.children.get(code, [])))
        while stack:
            c = stack.pop()
            unit = self.units[c]
            if level is None or unit.level == level:
                yield unit
            stack.extend(reversed(self.children.get(c, [])))

    def reporting_units(self, under: str | None = None, active_on: dt.date | None = None) -> list[Unit]:
        """The communes (leaf units) under `under` (or all), optionally only those existing on a day."""
        if under is None:
            units = self.at_level(self.leaf_level)
        elif self.units[under].level == self.leaf_level:
            units = [self.units[under]]
        else:
            units = list(self.descendants(under, self.leaf_level))
        if active_on is not None:
            units = [u for u in units if u.active_on(active_on)]
        return units

    def path_names(self, code: str) -> str:
        """'Xã An Hiệp, Huyện Ba Tri, Tỉnh Bến Tre' — for messages."""
        chain = self._ancestors[code]
        return ", ".join(self.units[chain[lv]].name for lv in reversed(self.levels) if lv in chain)


def _area_from_name(name: str) -> str:
    # In the GSO catalogue wards (phường) and townships (thị trấn) are urban, communes (xã) rural; the
    # special zones (đặc khu) of the 2025 map are island districts of communes: rural.
    return URBAN if name.startswith(("Phường", "Thị trấn")) else RURAL


def vietnamadminunits_data(name: str) -> Path:
    """A data file of the `vietnamadminunits` package, found without importing it (its import costs ~1 s)."""
    found = importlib.util.find_spec("vietnamadminunits")
    if found is None or not found.submodule_search_locations:
        raise HierarchyError("package vietnamadminunits is not installed (requirements.txt pins 1.0.4)")
    return Path(next(iter(found.submodule_search_locations))) / "data" / name


def packaged_database() -> sqlite3.Connection:
    path = vietnamadminunits_data("dataset.db")
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)


def _load_vietnamadminunits_2025() -> Iterator[Unit]:
    with contextlib.closing(packaged_database()) as db:
        rows = db.execute("SELECT provinceCode, province, wardCode, ward FROM admin_units "
                          "ORDER BY provinceCode, wardCode").fetchall()
    seen: set[str] = set()
    for pcode, pname, code, name in rows:
        if pcode not in seen:
            seen.add(pcode)
            yield Unit(pcode, pname, "province", None)
        yield Unit(code, name, "commune", pcode, _area_from_name(name))


def _load_vietnam_provinces() -> Iterator[Unit]:
    data_file = resources.files("vietnam_provinces") / "data" / "nested-divisions.json"
    provinces = json.loads(data_file.read_text(encoding="utf-8"))
    for p in provinces:
        pcode = f"{p['code']:02d}"
        yield Unit(pcode, p["name"], "province", None)
        for d in p["districts"]:
            dcode = f"{d['code']:03d}"
            yield Unit(dcode, d["name"], "district", pcode)
            for w in d["wards"]:
                yield Unit(f"{w['code']:05d}", w["name"], "commune", dcode, _area_from_name(w["name"]))


def _parse_date(text: str | None) -> dt.date | None:
    text = (text or "").strip()
    return dt.date.fromisoformat(text) if text else None


CSV_COLUMNS = ("code", "name", "level", "parent_code", "area", "valid_from", "valid_to")


def _load_csv(path: Path) -> Iterator[Unit]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"code", "name", "level", "parent_code"} - set(reader.fieldnames or [])
        if missing:
            raise HierarchyError(f"{path}: missing columns {sorted(missing)}; expected {CSV_COLUMNS}")
        for line, row in enumerate(reader, start=2):
            code = (row["code"] or "").strip()
            if not code:
                raise HierarchyError(f"{path}:{line}: empty code")
            area = (row.get("area") or "").strip() or None
            if area is None and row["level"].strip() == "commune":
                area = _area_from_name(row["name"].strip())
            yield Unit(
                code=code,
                name=row["name"].strip(),
                level=row["level"].strip(),
                parent_code=(row["parent_code"] or "").strip() or None,
                area=area,
                valid_from=_parse_date(row.get("valid_from")),
                valid_to=_parse_date(row.get("valid_to")),
            )


@functools.cache
def load_hierarchy(source: str = DEFAULT_SOURCE, edition: str = "") -> Hierarchy:
    """A packaged map (PACKAGED_SOURCES) or a path to a CSV with columns CSV_COLUMNS, as map edition `edition`."""
    if source == DEFAULT_SOURCE:
        return Hierarchy(_load_vietnam_provinces(), source=source, edition=edition)
    if source == TWO_LEVEL_SOURCE:
        return Hierarchy(_load_vietnamadminunits_2025(), source=source, edition=edition)
    path = Path(source)
    if not path.is_file():
        raise HierarchyError(f"hierarchy source {source!r} is neither one of {PACKAGED_SOURCES} nor a CSV file")
    return Hierarchy(_load_csv(path), source=str(path), edition=edition)


def write_csv(hierarchy: Hierarchy, path: Path, under: str | None = None) -> None:
    """Export (a subtree of) a hierarchy in the CSV form `load_hierarchy` reads."""
    units = list(hierarchy.units.values())
    if under is not None:
        keep = {under, *hierarchy.ancestors(under).values(), *(u.code for u in hierarchy.descendants(under))}
        units = [u for u in units if u.code in keep]
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for u in units:
            w.writerow([u.code, u.name, u.level, u.parent_code or "", u.area or "",
                        u.valid_from or "", u.valid_to or ""])
