"""Synthetic commune reports: realistic, internally consistent, seeded, with mistakes injected on demand.

Every value is a function of (seed, period, commune code), so a subset of units gets exactly the values
it would get inside a larger run. The manifest lists, per file, the values written and the mistakes
injected with the check each mistake must trigger, so tests compare against it independently.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tonghop.calendar import Period
from tonghop.hierarchy import Hierarchy, Unit
from tonghop.inbox import inbox_relative_path
from tonghop.numbers import fmt
from tonghop.spec import TemplateSpec, load_spec
from tonghop.template import prefill_values, write_workbook

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Hoàng", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Minh", "Thanh", "Ngọc", "Hữu", "Quốc", "Thu"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Hà", "Hạnh", "Hùng", "Lan", "Linh", "Mai", "Nam", "Phương",
         "Quang", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Vy", "Yến"]
# Components most communes are not eligible for (poor districts, coastal communes, labour export).
RARE_COMPONENTS = {"p1": 0.25, "p4_2": 0.35, "p5": 0.4}


@dataclass
class Mistake:
    kind: str
    field: str
    check_id: str
    severity: str = "error"
    original: Any = None
    injected: Any = None


@dataclass
class SampleReport:
    commune_code: str
    path: Path
    received_at: dt.datetime
    values: dict[str, Any]
    mistakes: list[Mistake] = field(default_factory=list)
    text_numbers: list[str] = field(default_factory=list)  # fields written as Vietnamese-style text

    @property
    def has_error(self) -> bool:
        return any(m.severity == "error" for m in self.mistakes)


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    cuts = sorted(rng.randint(0, total) for _ in range(parts - 1))
    bounds = [0, *cuts, total]
    return [bounds[i + 1] - bounds[i] for i in range(parts)]


def _money(rng: random.Random, high: int) -> Decimal:
    return Decimal(rng.randint(0, high * 100)) / 100


def commune_values(rng: random.Random, unit: Unit, period: Period, spec: TemplateSpec) -> dict[str, Any]:
    """One commune's consistent report values (every check of domain.md §3 passes)."""
    urban = unit.area == "urban"
    v: dict[str, Any] = {}
    total = rng.randint(1500, 7000) if urban else rng.randint(700, 4500)
    v["total_households"] = total
    base_rate = rng.uniform(0.3, 3.0) if urban else rng.uniform(1.0, 14.0)
    for prefix, rate in (("poor", base_rate), ("near_poor", base_rate * rng.uniform(0.8, 1.6))):
        start = round(total * rate / 100)
        exited = round(start * rng.uniform(0.08, 0.35))
        returned = rng.randint(0, max(0, start // 40))
        new = rng.randint(0, max(1, start // 12))
        v.update({f"{prefix}_start": start, f"{prefix}_exited": exited, f"{prefix}_returned": returned,
                  f"{prefix}_new": new, f"{prefix}_end": start - exited + returned + new})
    for prefix in ("poor", "near_poor"):
        v[f"{prefix}_rate"] = (Decimal(v[f"{prefix}_end"] * 100) / Decimal(total)).quantize(Decimal("0.01"))
    poor_end, near_end = v["poor_end"], v["near_poor_end"]
    minority = rng.uniform(0, 0.9) if rng.random() < 0.3 else rng.uniform(0, 0.1)
    v["poor_ethnic_minority"] = round(poor_end * minority)
    v["near_poor_ethnic_minority"] = round(near_end * minority)
    v["poor_female_headed"] = round(poor_end * rng.uniform(0.2, 0.5))
    v["poor_merit"] = round(poor_end * rng.uniform(0, 0.05))
    v["poor_social_protection"] = round(poor_end * rng.uniform(0.1, 0.5))
    v["recently_exited"] = v["poor_exited"] + rng.randint(0, max(1, v["poor_exited"]))
    g1, g2, g3 = _split(rng, poor_end + near_end, 3)
    v.update(group_1=g1, group_2=g2, group_3=g3)
    for f in spec.fields_of("deprivations"):
        limit = v[f"{f.grid_column}_end"]
        v[f.key] = round(limit * rng.uniform(0, 0.7))
    for row in spec.section("funding").grid_rows:
        eligible = rng.random() >= RARE_COMPONENTS.get(row.key, 0.15)
        keys = {c: f"{row.key}_{c}" for c in spec.section("funding").grid_columns}
        v[keys["applicable"]] = eligible
        if not eligible:
            for c, key in keys.items():
                if c != "applicable":
                    v[key] = Decimal(0)
            continue
        carried, central = _money(rng, 400), _money(rng, 3000)
        local, mobilised = _money(rng, 600), _money(rng, 800)
        v.update({keys["carried_over"]: carried, keys["alloc_central"]: central, keys["alloc_local"]: local,
                  keys["mobilised"]: mobilised})
        v[keys["disb_central"]] = (carried + central) * Decimal(rng.randint(0, 100)) / 100
        v[keys["disb_central"]] = v[keys["disb_central"]].quantize(Decimal("0.01"), rounding="ROUND_DOWN")
        v[keys["disb_local"]] = (local * Decimal(rng.randint(0, 100)) / 100).quantize(
            Decimal("0.01"), rounding="ROUND_DOWN")
        v[keys["disb_mobilised"]] = (mobilised * Decimal(rng.randint(0, 100)) / 100).quantize(
            Decimal("0.01"), rounding="ROUND_DOWN")
    for row in spec.section("outputs").grid_rows:
        plan = rng.randint(0, 150)
        cumulative = round(plan * rng.uniform(0.2, 1.3))
        achieved = cumulative if period.kind == "H1" else round(cumulative * rng.uniform(0.3, 1.0))
        v.update({f"out_{row.key}_plan": plan, f"out_{row.key}_achieved": achieved,
                  f"out_{row.key}_cumulative": cumulative})
    v["preparer_name"] = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    v["preparer_phone"] = "0" + str(rng.choice([9, 8, 3, 7])) + "".join(str(rng.randint(0, 9)) for _ in range(8))
    v["preparer_email"] = f"ldtbxh.{unit.code}@example.gov.vn"
    v["date_prepared"] = (period.commune_deadline - dt.timedelta(days=rng.randint(1, 20))).date()
    return v


def _inject(kind: str, rng: random.Random, v: dict[str, Any], prefilled: dict[str, Any], spec: TemplateSpec,
            hierarchy: Hierarchy, unit: Unit, period: Period) -> Mistake:
    """Apply one mistake of `kind` to the values (or the pre-filled identification) and describe it."""
    counts = [f.key for f in spec.input_fields() if f.type == "count" and f.required]
    if kind == "blank_required":
        key = rng.choice(counts)
        m = Mistake(kind, key, "TH-F-001", original=v[key])
        v[key] = None
    elif kind == "negative_count":
        key = rng.choice(["total_households", "poor_start", "group_2", "out_jobs_plan", "dep_latrine_poor"])
        m = Mistake(kind, key, "TH-F-004", original=v[key])
        v[key] = -rng.randint(1, 50)
    elif kind == "fractional_count":
        key = rng.choice(["poor_female_headed", "recently_exited", "out_housing_plan", "dep_telecom_near_poor"])
        m = Mistake(kind, key, "TH-F-003", original=v[key])
        v[key] = Decimal(v[key]) + Decimal("0.5")
    elif kind == "text_in_number":
        key = rng.choice(["poor_merit", "out_models_plan", "dep_nutrition_poor", "group_1"])
        m = Mistake(kind, key, "TH-F-002", original=v[key])
        v[key] = f"khoảng {v[key]}"
    elif kind == "subset_exceeds":
        key = rng.choice(["poor_ethnic_minority", "poor_female_headed", "poor_social_protection"])
        m = Mistake(kind, key, "TH-B-004", original=v[key])
        v[key] = v["poor_end"] + rng.randint(1, 30)
    elif kind == "total_exceeded":
        key = "total_households"
        m = Mistake(kind, key, "TH-B-001", original=v[key])
        v[key] = v["poor_end"] + v["near_poor_end"] - rng.randint(1, 5)
        # Keep the typed rates consistent with the new total so only TH-B-001 fires.
        for prefix in ("poor", "near_poor"):
            v[f"{prefix}_rate"] = (Decimal(v[f"{prefix}_end"] * 100) / Decimal(max(v[key], 1))).quantize(
                Decimal("0.01"))
    elif kind == "balance_mismatch":
        key = rng.choice(["poor_new", "near_poor_new"])
        m = Mistake(kind, key, "TH-B-002" if key == "poor_new" else "TH-B-003", original=v[key])
        v[key] = v[key] + rng.randint(1, 9)
    elif kind == "groups_mismatch":
        key = "group_3"
        m = Mistake(kind, key, "TH-B-005", original=v[key])
        v[key] = v[key] + rng.randint(1, 9)
    elif kind == "deprivation_exceeds":
        f = rng.choice(spec.fields_of("deprivations"))
        key = f.key
        m = Mistake(kind, key, "TH-C-001", original=v[key])
        v[key] = v[f"{f.grid_column}_end"] + rng.randint(1, 9)
    elif kind == "cumulative_below_achieved":
        row = rng.choice(spec.section("outputs").grid_rows)
        key = f"out_{row.key}_cumulative"
        achieved_key = f"out_{row.key}_achieved"
        if v[achieved_key] == 0:
            v[achieved_key] = 1
        m = Mistake(kind, key, "TH-E-001", original=v[key])
        v[key] = v[achieved_key] - 1
    elif kind == "wrong_commune":
        siblings = [u for u in hierarchy.reporting_units(unit.parent_code) if u.code != unit.code] or \
                   [u for u in hierarchy.reporting_units() if u.code != unit.code]
        other = rng.choice(siblings)
        key = "commune_code"
        m = Mistake(kind, key, "TH-A-004", original=prefilled["commune_code"])
        # The other commune's identity, as if its pre-filled workbook had been sent by this commune.
        prefilled.update({k: other_value for k, other_value in prefill_values(
            spec, hierarchy, period, other.code).items() if k.startswith(("commune", "district"))})
    elif kind == "rate_mismatch":
        key = "poor_rate"
        m = Mistake(kind, key, "TH-B-006", severity="warning", original=v[key])
        shift = Decimal("1.50") if v[key] < 2 else Decimal(rng.choice([-1, 1])) * Decimal("1.50")
        v[key] = v[key] + shift
    else:
        raise ValueError(f"unknown mistake kind {kind!r}")
    m.injected = prefilled.get(key, v.get(key)) if key == "commune_code" else v.get(key)
    return m


ERROR_KINDS = ("blank_required", "negative_count", "fractional_count", "text_in_number", "subset_exceeds",
               "total_exceeded", "balance_mismatch", "groups_mismatch", "deprivation_exceeds",
               "cumulative_below_achieved", "wrong_commune")
WARNING_KINDS = ("rate_mismatch",)


def _received_at(rng: random.Random, period: Period, late: bool) -> dt.datetime:
    if late:
        moment = period.commune_deadline + dt.timedelta(hours=rng.uniform(1, 24 * 10))
        return min(moment, period.closes_at - dt.timedelta(hours=1))
    earliest = max(period.opens_at, period.commune_deadline - dt.timedelta(days=25))
    span = (period.commune_deadline - earliest).total_seconds()
    return period.commune_deadline - dt.timedelta(seconds=rng.uniform(60, span))


def _as_vietnamese_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return fmt(value, 2)
    return fmt(value)


@dataclass(frozen=True)
class SampleOptions:
    seed: int = 1
    error_rate: float = 0.0
    warning_rate: float = 0.0
    late_rate: float = 0.1
    missing_rate: float = 0.0
    text_number_rate: float = 0.02
    kinds: tuple[str, ...] = ERROR_KINDS


def plan_sample(unit: Unit, period: Period, hierarchy: Hierarchy, out_dir: Path, options: SampleOptions,
                spec: TemplateSpec | None = None) -> tuple[SampleReport, dict[str, Any]] | None:
    """Decide one commune's sample report (None when the commune does not send one)."""
    spec = spec or load_spec()
    rng = random.Random(f"{options.seed}:{period.id}:{unit.code}")
    if rng.random() < options.missing_rate:
        return None
    values = commune_values(rng, unit, period, spec)
    prefilled = prefill_values(spec, hierarchy, period, unit.code)
    mistakes = []
    if rng.random() < options.error_rate:
        mistakes.append(_inject(rng.choice(options.kinds), rng, values, prefilled, spec, hierarchy, unit, period))
    if rng.random() < options.warning_rate:
        mistakes.append(_inject(rng.choice(WARNING_KINDS), rng, values, prefilled, spec, hierarchy, unit, period))
    late = rng.random() < options.late_rate
    received_at = _received_at(rng, period, late)
    written = dict(values)
    text_numbers = []
    touched = {m.field for m in mistakes}
    for f in spec.input_fields():
        value = values.get(f.key)
        if (f.is_numeric and f.key not in touched and isinstance(value, int | Decimal) and value >= 1000
                and rng.random() < options.text_number_rate):
            written[f.key] = _as_vietnamese_text(value)
            text_numbers.append(f.key)
    path = out_dir / inbox_relative_path(period.id, hierarchy.ancestor(unit.code, hierarchy.levels[0]),
                                         unit.code, f"bao-cao-{period.id}-{unit.code}.xlsx")
    report = SampleReport(unit.code, path, received_at, values, mistakes, text_numbers)
    return report, {"prefilled": prefilled, "written": written}


def _write_one(job: tuple[Path, dict[str, Any], dict[str, Any], Period, float]) -> None:
    path, prefilled, written, period, mtime = job
    write_workbook(path, prefilled, period, written)
    os.utime(path, (mtime, mtime))


def generate_sample(units: Iterable[Unit], period: Period, hierarchy: Hierarchy, out_dir: Path,
                    options: SampleOptions, workers: int | None = None,
                    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None) -> list[SampleReport]:
    """Write one filled workbook per sending commune in the inbox layout, plus `manifest.json`."""
    spec = load_spec()
    reports, jobs = [], []
    for unit in units:
        planned = plan_sample(unit, period, hierarchy, out_dir, options, spec)
        if planned is None:
            continue
        report, cells = planned
        reports.append(report)
        jobs.append((report.path, cells["prefilled"], cells["written"], period, report.received_at.timestamp()))
    workers = workers or min(len(jobs) // 40 + 1, os.cpu_count() or 1)
    wrap = progress or (lambda it, total: it)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for _ in wrap(pool.map(_write_one, jobs, chunksize=16), len(jobs)):
                pass
    else:
        for job in wrap(jobs, len(jobs)):
            _write_one(job)
    write_manifest(manifest_path(out_dir, period.id), reports, period, out_dir, options)
    return reports


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def manifest_path(out_dir: Path, period_id: str) -> Path:
    """Beside the period's folder, not inside it: the inbox must hold only what communes sent."""
    return out_dir / f"manifest-{period_id}.json"


def write_manifest(path: Path, reports: list[SampleReport], period: Period, out_dir: Path,
                   options: SampleOptions) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "period": period.id,
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.__dict__.items()},
        "reports": [
            {
                "commune_code": r.commune_code,
                "path": r.path.relative_to(out_dir).as_posix(),
                "received_at": r.received_at.isoformat(),
                "on_time": r.received_at <= period.commune_deadline,
                "values": {k: _jsonable(v) for k, v in r.values.items()},
                "mistakes": [{k: _jsonable(v) for k, v in m.__dict__.items()} for m in r.mistakes],
                "text_numbers": r.text_numbers,
            }
            for r in reports
        ],
    }
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


def load_manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
