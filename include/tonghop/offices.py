"""The offices that run the programme, by map edition and unit (config/offices.yaml): their names, the two
letterhead lines, and the office a commune sends its report to.

The offices changed with the map (labour offices of districts and provinces until 30 June 2025, the
province's agriculture and environment department since), and a province may name its office its own way,
so names are patterns per edition and level with overrides per unit, never strings in code.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tonghop.hierarchy import Hierarchy
from tonghop.yamlfile import YamlFileError, read_yaml

FIELDS = ("name", "heading", "governing_body")
OFFICE_LEVELS = ("province", "district")
# Longest first, so "Thành phố" is not read as some shorter prefix; matched without regard to case because
# the packaged maps spell a few names "Thành Phố".
UNIT_TYPES = ("Thành phố", "Thị trấn", "Đặc khu", "Thị xã", "Phường", "Huyện", "Quận", "Tỉnh", "Xã")
PLACEHOLDERS = ("unit_name", "unit_type", "short_name", "unit_code",
                "unit_name_upper", "unit_type_upper", "short_name_upper")


class OfficesError(ValueError):
    pass


@dataclass(frozen=True)
class Office:
    edition: str
    level: str
    unit_code: str
    name: str  # "Sở Nông nghiệp và Môi trường Tỉnh Vĩnh Long": in sentences and e-mails
    heading: str  # "SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG": the office line of a letterhead
    governing_body: str  # "UBND TỈNH VĨNH LONG": the letterhead line above it


@dataclass(frozen=True)
class EditionOffices:
    edition: str
    communes_report_to: tuple[str, ...]
    levels: Mapping[str, Mapping[str, str]]  # level → field → pattern
    units: Mapping[str, Mapping[str, str]]  # unit code → the fields it overrides


def split_unit_name(name: str) -> tuple[str, str]:
    """'Tỉnh Vĩnh Long' → ('Tỉnh', 'Vĩnh Long'); a name without a known type prefix → ('', name)."""
    name = " ".join(name.split())
    for unit_type in UNIT_TYPES:
        head, rest = name[:len(unit_type)], name[len(unit_type):]
        if head.casefold() == unit_type.casefold() and rest.startswith(" "):
            return unit_type, rest.strip()
    return "", name


def _context(unit_code: str, unit_name: str) -> dict[str, str]:
    unit_type, short_name = split_unit_name(unit_name)
    values = {"unit_name": " ".join(unit_name.split()), "unit_type": unit_type, "short_name": short_name}
    return {"unit_code": unit_code, **values, **{f"{k}_upper": v.upper() for k, v in values.items()}}


def _fill(pattern: str, context: Mapping[str, str]) -> str:
    # Collapsing spaces lets one pattern serve a unit without a type prefix, or no unit at all.
    return " ".join(pattern.format_map(context).split())


@dataclass(frozen=True)
class Offices:
    path: Path
    editions: Mapping[str, EditionOffices]

    def of_edition(self, edition: str) -> EditionOffices:
        try:
            return self.editions[edition]
        except KeyError:
            raise OfficesError(f"{self.path}: no offices for map edition {edition!r} (key editions.{edition}); "
                               f"configured: {sorted(self.editions)}") from None

    def has_office(self, edition: str, level: str) -> bool:
        """Whether units at `level` have an office in the edition (communes have none; districts only before
        the 2025 reform)."""
        return level in self.of_edition(edition).levels

    def office(self, edition: str, level: str, unit_code: str = "", unit_name: str = "") -> Office:
        """The office of a unit at `level` ("province" or "district") on the edition's map. Without a unit,
        the office's name alone ("Sở Nông nghiệp và Môi trường"), for text about a unit the map lacks."""
        offices = self.of_edition(edition)
        if level not in offices.levels:
            raise OfficesError(f"{self.path}: map edition {edition!r} has no {level} offices "
                               f"(key editions.{edition}.{level})")
        patterns = {**offices.levels[level], **offices.units.get(unit_code, {})}
        context = _context(unit_code, unit_name)
        return Office(edition, level, unit_code, **{f: _fill(patterns[f], context) for f in FIELDS})

    def office_of(self, hierarchy: Hierarchy, unit_code: str, edition: str | None = None) -> Office:
        """The office of a province or district of the map (its edition unless `edition` says otherwise)."""
        unit = hierarchy[unit_code]
        return self.office(_edition(hierarchy, edition), unit.level, unit.code, unit.name)

    def receiving_office(self, hierarchy: Hierarchy, commune_code: str, edition: str | None = None) -> Office:
        """The office a commune sends its report to: that of its unit at the first of the edition's
        communes_report_to levels it has (the district's on the three-level map, the province's since)."""
        edition = _edition(hierarchy, edition)
        levels = self.of_edition(edition).communes_report_to
        for level in levels:
            code = hierarchy.ancestor(commune_code, level)
            if code is not None and code != commune_code:
                return self.office(edition, level, code, hierarchy[code].name)
        raise OfficesError(f"{self.path}: editions.{edition}.communes_report_to {list(levels)}: commune "
                           f"{commune_code} has no unit at any of these levels on map {hierarchy.source!r}")


def _edition(hierarchy: Hierarchy, edition: str | None) -> str:
    found = edition or hierarchy.edition
    if not found:
        raise OfficesError(f"the map {hierarchy.source!r} was loaded without a map edition: say which edition's "
                           f"offices to use")
    return found


def _patterns(path: Path, key: str, raw: Any, required: bool) -> dict[str, str]:
    """The fields of one office entry, each checked to format with the known placeholders."""
    if not isinstance(raw, Mapping):
        raise OfficesError(f"{path}: {key} must be a mapping of {', '.join(FIELDS)}")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise OfficesError(f"{path}: {key}: unknown keys {unknown}; known: {list(FIELDS)}")
    missing = [f for f in FIELDS if f not in raw] if required else []
    if missing:
        raise OfficesError(f"{path}: {key}: missing {missing}")
    out = {}
    for field, pattern in raw.items():
        if not isinstance(pattern, str) or not pattern.strip():
            raise OfficesError(f"{path}: {key}.{field} must be a non-empty text")
        try:
            names = {n for _, n, _, _ in string.Formatter().parse(pattern) if n is not None}
        except ValueError as exc:  # an unpaired brace
            raise OfficesError(f"{path}: {key}.{field}: {exc} in {pattern!r}") from None
        bad = sorted(names - set(PLACEHOLDERS))
        if bad:
            raise OfficesError(f"{path}: {key}.{field}: unknown placeholders {bad}; known: {list(PLACEHOLDERS)}")
        out[str(field)] = pattern
    return out


def _edition_offices(path: Path, edition: str, raw: Any) -> EditionOffices:
    key = f"editions.{edition}"
    if not isinstance(raw, Mapping):
        raise OfficesError(f"{path}: {key} must be a mapping")
    unknown = sorted(set(raw) - {"communes_report_to", "units", *OFFICE_LEVELS})
    if unknown:
        raise OfficesError(f"{path}: {key}: unknown keys {unknown}")
    levels = {level: _patterns(path, f"{key}.{level}", raw[level], required=True)
              for level in OFFICE_LEVELS if level in raw}
    report_to = raw.get("communes_report_to")
    if isinstance(report_to, str):
        report_to = [report_to]
    if not report_to or not isinstance(report_to, list) or any(lv not in levels for lv in report_to):
        raise OfficesError(f"{path}: {key}.communes_report_to must list levels with offices in this edition "
                           f"({sorted(levels)}), got {report_to!r}")
    units = raw.get("units") or {}
    if not isinstance(units, Mapping):
        raise OfficesError(f"{path}: {key}.units must map unit codes to offices")
    return EditionOffices(
        edition, tuple(report_to), levels,
        {str(code): _patterns(path, f"{key}.units.{code}", spec, required=False) for code, spec in units.items()})


@functools.cache
def load_offices(path: Path | str) -> Offices:
    path = Path(path)
    try:
        raw = read_yaml(path) or {}
    except FileNotFoundError:
        raise OfficesError(f"{path}: no such offices file (TONGHOP_OFFICES)") from None
    except YamlFileError as exc:
        raise OfficesError(str(exc)) from None
    editions = raw.get("editions") if isinstance(raw, Mapping) else None
    if not isinstance(editions, Mapping) or not editions:
        raise OfficesError(f"{path}: no offices (key editions)")
    return Offices(path, {str(e): _edition_offices(path, str(e), spec) for e, spec in editions.items()})
