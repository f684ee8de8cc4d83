"""Who may see and do what: the officers directory (`config/officers.csv`, or TONGHOP_OFFICERS).

CSV columns `login,unit_code,role` and optionally `map_edition`. `login` is the user name the Airflow auth
manager reports for the account (SimpleAuthManager: the name in `simple_auth_manager_users`; FAB or an
OAuth/LDAP manager: the user name it logs in with). Roles:
- `officer`   the officer of a district or province (`unit_code`): sees that unit and every unit below it,
              sends back its communes' reports, approves its unit, accepts or returns the units one level down;
- `ministry`  the programme's office at national level (no unit): sees everything, accepts or returns provinces;
- `data_team` engineers (no unit): see everything, take no sign-off decision.
A unit code names a unit of one map edition (the same code can be another unit before and after the 2025
reform): `map_edition` says which (empty: every edition). A login may have one row per edition. A login that
is not in the directory sees nothing.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

from tonghop.hierarchy import Hierarchy

OFFICER, MINISTRY, DATA_TEAM = "officer", "ministry", "data_team"
ROLES = (OFFICER, MINISTRY, DATA_TEAM)
NATIONAL = (MINISTRY, DATA_TEAM)


class OfficersError(ValueError):
    pass


@dataclass(frozen=True)
class Officer:
    login: str
    role: str
    unit_code: str | None = None
    map_edition: str | None = None  # None: the unit code of every edition

    @property
    def national(self) -> bool:
        return self.role in NATIONAL

    def sees(self, hierarchy: Hierarchy, code: str | None) -> bool:
        """Whether `code` (a unit of `hierarchy`'s edition) is this officer's unit or below it."""
        if self.national:
            return True
        return code is not None and self.unit_code is not None and hierarchy.within(code, self.unit_code)

    def is_officer_of(self, code: str | None) -> bool:
        """The officer of exactly this unit (`None`: the national level, above the provinces)."""
        if code is None:
            return self.role == MINISTRY
        return self.role == OFFICER and self.unit_code == code


class Officers:
    def __init__(self, officers: list[Officer]) -> None:
        self.officers = officers

    def get(self, login: str, map_edition: str) -> Officer | None:
        """The login's row for units of `map_edition` (an edition's own row before an every-edition one)."""
        rows = [o for o in self.officers if o.login == login and o.map_edition in (None, map_edition)]
        rows.sort(key=lambda o: o.map_edition is None)
        return rows[0] if rows else None

    def of_unit(self, code: str | None, map_edition: str) -> list[Officer]:
        """The officers of a unit (`None`: the ministry)."""
        return [o for o in self.officers if o.is_officer_of(code) and o.map_edition in (None, map_edition)]


def _read(path: Path) -> list[Officer]:
    officers = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"login", "unit_code", "role"} - set(reader.fieldnames or [])
        if missing:
            raise OfficersError(f"{path}: missing columns {sorted(missing)}")
        seen = set()
        for line, row in enumerate(reader, start=2):
            login, role = (row["login"] or "").strip(), (row["role"] or "").strip()
            unit = (row["unit_code"] or "").strip() or None
            edition = (row.get("map_edition") or "").strip() or None
            if not login:
                raise OfficersError(f"{path}:{line}: empty login")
            if role not in ROLES:
                raise OfficersError(f"{path}:{line}: role {role!r} is not one of {ROLES}")
            if (unit is None) != (role in NATIONAL):
                raise OfficersError(f"{path}:{line}: role {role} {'needs' if unit is None else 'takes no'} unit_code")
            if (login, edition) in seen:
                raise OfficersError(f"{path}:{line}: login {login!r} appears twice for the same map edition")
            seen.add((login, edition))
            officers.append(Officer(login, role, unit, edition))
    return officers


@functools.cache
def _load(path: str, mtime: float) -> Officers:
    return Officers(_read(Path(path)))


def load_officers(path: Path | None) -> Officers:
    """The directory at `path` (re-read when the file changes); empty when there is no file."""
    if path is None or not Path(path).is_file():
        return Officers([])
    return _load(str(path), Path(path).stat().st_mtime)
