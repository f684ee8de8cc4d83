"""The contacts directory: who receives which e-mail. Addresses come only from here, never from a workbook.

CSV columns: `unit_code,role,name,email` and optionally `map_edition`. Roles: `commune` (the commune's
reporting officer), `district` and `province` (the officers of that unit), `ministry` (the national programme
office, which accepts the provinces' figures; unit_code empty), `data_team` (engineers; unit_code empty).
A unit may have several rows. A unit code names a unit of one map edition (the same code
can be another commune before and after the 2025 reform): `map_edition` says which (empty: every edition).
The file is `config/contacts.csv` unless TONGHOP_CONTACTS says otherwise.
"""

from __future__ import annotations

import csv
import functools
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROLES = ("commune", "district", "province", "ministry", "data_team")
NATIONAL_ROLES = ("ministry", "data_team")
EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


class ContactsError(ValueError):
    pass


@dataclass(frozen=True)
class Contact:
    unit_code: str | None
    role: str
    name: str
    email: str
    map_edition: str | None = None  # None: the unit code of every edition


class Directory:
    def __init__(self, contacts: list[Contact]) -> None:
        self.contacts = contacts
        self._by_unit: dict[tuple[str, str | None], list[Contact]] = defaultdict(list)
        for c in contacts:
            self._by_unit[(c.role, c.unit_code)].append(c)

    def of(self, role: str, unit_code: str | None = None) -> list[Contact]:
        return list(self._by_unit.get((role, unit_code), []))

    def officers_of(self, unit_code: str, level: str) -> list[Contact]:
        """The officers of a unit: a commune's reporting officer, a district's or province's LĐTBXH officer."""
        return self.of(level, unit_code)

    @property
    def data_team(self) -> list[Contact]:
        return self.of("data_team", None)


def _read(path: Path) -> list[Contact]:
    contacts = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"unit_code", "role", "name", "email"} - set(reader.fieldnames or [])
        if missing:
            raise ContactsError(f"{path}: missing columns {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            role = (row["role"] or "").strip()
            email = (row["email"] or "").strip()
            if role not in ROLES:
                raise ContactsError(f"{path}:{line}: role {role!r} is not one of {ROLES}")
            if not EMAIL.match(email):
                raise ContactsError(f"{path}:{line}: {email!r} is not an e-mail address")
            unit = (row["unit_code"] or "").strip() or None
            if (unit is None) != (role in NATIONAL_ROLES):
                raise ContactsError(f"{path}:{line}: role {role} {'needs' if unit is None else 'takes no'} unit_code")
            edition = (row.get("map_edition") or "").strip() or None
            contacts.append(Contact(unit, role, (row["name"] or "").strip(), email, edition))
    return contacts


@functools.cache
def _load(path: str, mtime: float, map_edition: str | None) -> Directory:
    return Directory([c for c in _read(Path(path))
                      if map_edition is None or c.map_edition in (None, map_edition)])


def load_directory(path: Path | None, map_edition: str | None = None) -> Directory:
    """The directory at `path` (re-read when the file changes) for the units of `map_edition` (all rows when
    None); empty when there is no file."""
    if path is None or not Path(path).is_file():
        return Directory([])
    return _load(str(path), Path(path).stat().st_mtime, map_edition)


def write_directory(path: Path, contacts: list[Contact]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["unit_code", "role", "name", "email", "map_edition"])
        for c in contacts:
            w.writerow([c.unit_code or "", c.role, c.name, c.email, c.map_edition or ""])
