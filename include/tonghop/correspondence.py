"""The official old → new correspondence of the 2025 reform: which pre-reform provinces and communes make up
each post-reform one.

Every new province is the union of whole old provinces. Most old communes went whole into one new commune;
some were split between several. The package gives, for a split old commune, the new communes it went to
and their areas (not the area of each piece), so a split old commune's figures are apportioned by those
areas: `share` is exact (1.0) for a whole old unit and an estimate otherwise (`whole` False).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tonghop.hierarchy import (
    TWO_LEVEL_SOURCE,
    Hierarchy,
    HierarchyError,
    packaged_database,
    vietnamadminunits_data,
)


@dataclass(frozen=True)
class Link:
    level: str  # province or commune
    old_code: str
    new_code: str
    share: float  # part of the old unit that went to the new one
    whole: bool  # the old unit went entirely into the new one (share is exact)


class Correspondence:
    def __init__(self, old_edition: str, new_edition: str, links: Iterable[Link]) -> None:
        self.old_edition, self.new_edition = old_edition, new_edition
        self.links = tuple(links)
        self._successors: dict[str, list[Link]] = defaultdict(list)
        self._predecessors: dict[str, list[Link]] = defaultdict(list)
        for link in self.links:
            self._successors[link.old_code].append(link)
            self._predecessors[link.new_code].append(link)

    def successors(self, old_code: str, level: str = "commune") -> list[Link]:
        return [x for x in self._successors.get(old_code, []) if x.level == level]

    def predecessors(self, new_code: str, level: str = "commune") -> list[Link]:
        return [x for x in self._predecessors.get(new_code, []) if x.level == level]

    def merged_only(self, new_code: str, level: str = "commune") -> bool:
        """Whether the new unit is made of whole old units only (its history is exact)."""
        links = self.predecessors(new_code, level)
        return bool(links) and all(x.whole for x in links)

    def rows(self) -> list[dict[str, object]]:
        """The warehouse table `map_correspondence`."""
        return [{"old_edition": self.old_edition, "new_edition": self.new_edition, "level": x.level,
                 "old_code": x.old_code, "new_code": x.new_code, "share": x.share, "is_whole": x.whole}
                for x in self.links]


@dataclass(frozen=True)
class RetiredUnit:
    """A commune code of the previous map that no longer exists in the period's map, for the messages."""

    former: str  # "Xã An Hiệp, Huyện Ba Tri, Tỉnh Bến Tre"
    successor: str  # "Xã Tân Thủy (mã 29107), Tỉnh Vĩnh Long"


def retired_units(correspondence: Correspondence, old: Hierarchy, new: Hierarchy) -> dict[str, RetiredUnit]:
    """Old commune codes absent from the new map → what they became (the largest share first)."""
    out = {}
    for unit in old.reporting_units():
        if unit.code in new:
            continue
        links = sorted(correspondence.successors(unit.code), key=lambda x: -x.share)
        names = [f"{new[x.new_code].name} (mã {x.new_code}), {new.path_names(x.new_code).rpartition(', ')[2]}"
                 for x in links if x.new_code in new]
        if names:
            out[unit.code] = RetiredUnit(old.path_names(unit.code), " và ".join(names))
    return out


def _packaged_links() -> list[Link]:
    converter = json.loads(vietnamadminunits_data("converter_2025.json").read_text(encoding="utf-8"))
    with contextlib.closing(packaged_database()) as db:
        old_commune = {f"{p}_{d}_{w}": code for code, p, d, w in db.execute(
            "SELECT wardCode, provinceKey, districtKey, wardKey FROM admin_units_legacy WHERE wardCode IS NOT NULL")}
        new_commune = {(p, w): code for code, p, w in db.execute(
            "SELECT wardCode, provinceKey, wardKey FROM admin_units")}
        old_province = dict(db.execute("SELECT DISTINCT provinceKey, provinceCode FROM admin_units_legacy"))
        new_province = dict(db.execute("SELECT DISTINCT provinceKey, provinceCode FROM admin_units"))
    links = [Link("province", old_province[old], new_province[new], 1.0, True)
             for new, olds in converter["DICT_PROVINCE"].items() for old in olds]
    for province, communes in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for ward, olds in communes.items():
            # Island districts without communes (e.g. `..._huyencondao_`) became special zones whole.
            links.extend(Link("commune", old_commune[o], new_commune[(province, ward)], 1.0, True)
                         for o in olds if o in old_commune)
    for province, split in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old, pieces in split.items():
            area = sum(p["newWardAreaKm2"] for p in pieces)
            links.extend(Link("commune", old_commune[old], new_commune[(province, p["newWardKey"])],
                              round(p["newWardAreaKm2"] / area, 6), False) for p in pieces)
    return links


def _csv_links(path: Path) -> list[Link]:
    links = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            try:
                share = float(row.get("share") or 1)
                links.append(Link(row["level"].strip(), row["old_code"].strip(), row["new_code"].strip(), share,
                                  share >= 1))
            except (KeyError, ValueError) as exc:
                raise HierarchyError(f"{path}:{line}: {exc}") from None
    return links


@functools.cache
def load_correspondence(source: str, old_edition: str, new_edition: str) -> Correspondence:
    if source == TWO_LEVEL_SOURCE:
        return Correspondence(old_edition, new_edition, _packaged_links())
    path = Path(source)
    if not path.is_file():
        raise HierarchyError(f"correspondence source {source!r} is neither {TWO_LEVEL_SOURCE!r} nor a CSV file")
    return Correspondence(old_edition, new_edition, _csv_links(path))
