"""Independent expectations for the published figures, computed from the generator's manifest.

Nothing here calls the pipeline's roll-up: sums are plain Python over the values the generator wrote,
and which reports count is decided from the mistakes the generator says it injected.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

HOUSEHOLD_COUNTS = [
    "total_households", "poor_start", "poor_exited", "poor_returned", "poor_new", "poor_end",
    "near_poor_start", "near_poor_exited", "near_poor_returned", "near_poor_new", "near_poor_end",
    "poor_ethnic_minority", "near_poor_ethnic_minority", "poor_female_headed", "poor_merit",
    "poor_social_protection", "recently_exited", "group_1", "group_2", "group_3",
]
COMPONENTS = ["p1", "p2", "p3_1", "p3_2", "p4_1", "p4_2", "p4_3", "p5", "p6_1", "p6_2", "p7_1", "p7_2"]
MONEY = ["carried_over", "alloc_central", "alloc_local", "mobilised", "disb_central", "disb_local", "disb_mobilised"]


def gso_units() -> dict[str, dict[str, Any]]:
    """commune code → {district, province, urban, name} straight from the vietnam-provinces JSON."""
    data = json.loads((resources.files("vietnam_provinces") / "data" / "nested-divisions.json").read_text("utf-8"))
    out = {}
    for p in data:
        for d in p["districts"]:
            for w in d["wards"]:
                out[f"{w['code']:05d}"] = {"district": f"{d['code']:03d}", "province": f"{p['code']:02d}",
                                           "urban": w["name"].startswith(("Phường", "Thị trấn")), "name": w["name"]}
    return out


def load(manifest_path: Path) -> dict[str, Any]:
    return json.loads(manifest_path.read_text(encoding="utf-8"), parse_float=Decimal)


def attributed(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """commune → its report, for files that reached the commune's folder (a misplaced file is nobody's)."""
    return {r["commune_code"]: r for r in manifest["reports"]
            if not any(m["kind"] == "misplaced_file" for m in r["mistakes"])}


def accepted_reports(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """commune → values, for reports the generator made without an error-level mistake."""
    return {r["commune_code"]: r["values"] for r in manifest["reports"]
            if not any(m["severity"] == "error" for m in r["mistakes"])}


def expected_sums(manifest: dict[str, Any], unit_code: str, level: str, area: str = "total") -> dict[str, Any]:
    units = gso_units()
    sums: dict[str, Any] = defaultdict(int)
    n = 0
    warned = _warned(manifest)
    sums["reports_with_warnings"] = 0
    for commune, values in accepted_reports(manifest).items():
        info = units[commune]
        if info[level] != unit_code:
            continue
        if area != "total" and info["urban"] != (area == "urban"):
            continue
        n += 1
        sums["reports_with_warnings"] += commune in warned
        for key in HOUSEHOLD_COUNTS:
            sums[key] += values[key]
        for component in COMPONENTS:
            for money in MONEY:
                sums[f"{component}_{money}"] += Decimal(str(values[f"{component}_{money}"]))
    sums["reports"] = n
    return dict(sums)


def _warned(manifest: dict[str, Any]) -> set[str]:
    return {r["commune_code"] for r in manifest["reports"] if any(m["severity"] == "warning" for m in r["mistakes"])}


def expected_completeness(manifest: dict[str, Any], unit_code: str, level: str, deadline: dt.datetime
                          ) -> dict[str, int]:
    units = gso_units()
    expected = [c for c, info in units.items() if info[level] == unit_code]
    sent = attributed(manifest)
    accepted = accepted_reports(manifest)
    received = [c for c in expected if c in sent]
    return {
        "expected": len(expected),
        "received": len(received),
        "accepted": sum(c in accepted for c in received),
        "rejected": sum(c not in accepted for c in received),
        "on_time": sum(dt.datetime.fromisoformat(sent[c]["received_at"]) <= deadline for c in received),
    }


STATUSES = ("not_received", "rejected", "accepted_with_warnings", "accepted")


def expected_statuses(manifest: dict[str, Any], unit_code: str, level: str) -> dict[str, str]:
    """commune → reporting status, from what the generator sent and the mistakes it injected."""
    sent, accepted, warned = attributed(manifest), accepted_reports(manifest), _warned(manifest)
    out = {}
    for commune, info in gso_units().items():
        if info[level] != unit_code:
            continue
        if commune not in sent:
            out[commune] = "not_received"
        elif commune not in accepted:
            out[commune] = "rejected"
        else:
            out[commune] = "accepted_with_warnings" if commune in warned else "accepted"
    return out
