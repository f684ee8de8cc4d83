"""Synthetic commune reports: realistic, internally consistent, seeded, with mistakes injected on demand.

Values are functions of (seed, commune, year, period), so a subset of units gets exactly the values it
would get inside a larger run, and a commune's reports agree across periods the way real ones do: the
start of a year is the end of the previous one, the first-half flows are about half the year's, the
number of households grows slowly. The manifest lists, per file, the values written and the mistake
injected (at most one per report) with the check it must trigger, so tests compare against it.
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
from tonghop.inbox import UNPLACED_BATCH, inbox_relative_path
from tonghop.numbers import fmt
from tonghop.print_layout import workbook_bytes
from tonghop.spec import TemplateSpec, load_spec
from tonghop.template import build_workbook, prefill_values
from tonghop.vocabulary import URBAN

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Hoàng", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Minh", "Thanh", "Ngọc", "Hữu", "Quốc", "Thu"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Hà", "Hạnh", "Hùng", "Lan", "Linh", "Mai", "Nam", "Phương",
         "Quang", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Vy", "Yến"]
# Components most communes are not eligible for (poor districts, coastal communes, labour export).
RARE_COMPONENTS = {"p1": 0.25, "p4_2": 0.35, "p5": 0.4}
FIRST_YEAR = 2022
CENT = Decimal("0.01")


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


def _rate(count: int, total: int) -> Decimal:
    return (Decimal(count * 100) / Decimal(max(total, 1))).quantize(CENT)


def _year_flows(seed: int, code: str, year: int, start: int) -> dict[str, int]:
    rng = random.Random(f"{seed}:{year}:{code}:flows:{start}")
    return {"exited": round(start * rng.uniform(0.08, 0.3)), "returned": rng.randint(0, max(0, start // 40)),
            "new": rng.randint(0, max(1, start // 12))}


def _stock(seed: int, unit: Unit, year: int) -> tuple[int, dict[str, int], dict[str, dict[str, int]]]:
    """(households, start of year, the year's flows) per category; each year starts where the last ended."""
    base = random.Random(f"{seed}:{unit.code}:base")
    urban = unit.area == URBAN
    households0 = base.randint(1500, 7000) if urban else base.randint(700, 4500)
    rate0 = base.uniform(0.3, 3.0) if urban else base.uniform(1.0, 12.0)
    near_factor = base.uniform(0.8, 1.5)
    start = {"poor": round(households0 * rate0 / 100), "near_poor": round(households0 * rate0 * near_factor / 100)}
    for y in range(FIRST_YEAR, year + 1):
        flows = {k: _year_flows(seed, f"{unit.code}:{k}", y, start[k]) for k in start}
        if y == year:
            return round(households0 * 1.012 ** (y - FIRST_YEAR)), start, flows
        start = {k: start[k] - f["exited"] + f["returned"] + f["new"] for k, f in flows.items()}
    raise ValueError(f"year {year} is before {FIRST_YEAR}")


def commune_values(seed: int, unit: Unit, period: Period, spec: TemplateSpec) -> dict[str, Any]:
    """One commune's consistent report values: every check of domain.md §3 passes, across periods too."""
    year_rng = random.Random(f"{seed}:{period.year}:{unit.code}")
    rng = random.Random(f"{seed}:{period.id}:{unit.code}")
    households, start, flows = _stock(seed, unit, period.year)
    share = 0.5 if period.kind == "H1" else 1.0  # the first half reports about half the year's flows
    v: dict[str, Any] = {"total_households": households + (year_rng.randint(0, households // 100)
                                                           if period.kind != "H1" else 0)}
    for prefix in ("poor", "near_poor"):
        f = {k: round(n * share) for k, n in flows[prefix].items()}
        v.update({f"{prefix}_start": start[prefix], f"{prefix}_exited": f["exited"],
                  f"{prefix}_returned": f["returned"], f"{prefix}_new": f["new"],
                  f"{prefix}_end": start[prefix] - f["exited"] + f["returned"] + f["new"]})
        v[f"{prefix}_rate"] = _rate(v[f"{prefix}_end"], v["total_households"])
    poor_end, near_end = v["poor_end"], v["near_poor_end"]
    minority = year_rng.uniform(0, 0.9) if year_rng.random() < 0.3 else year_rng.uniform(0, 0.1)
    v["poor_ethnic_minority"] = round(poor_end * minority)
    v["near_poor_ethnic_minority"] = round(near_end * minority)
    v["poor_female_headed"] = round(poor_end * year_rng.uniform(0.2, 0.5))
    v["poor_merit"] = round(poor_end * year_rng.uniform(0, 0.05))
    v["poor_social_protection"] = round(poor_end * year_rng.uniform(0.1, 0.5))
    v["recently_exited"] = v["poor_exited"] + rng.randint(0, max(1, v["poor_exited"]))
    g1, g2, g3 = _split(rng, poor_end + near_end, 3)
    v.update(group_1=g1, group_2=g2, group_3=g3)
    for f in spec.fields_of("deprivations"):
        v[f.key] = round(v[f"{f.grid_column}_end"] * year_rng.uniform(0, 0.7))
    funding = spec.section("funding")
    for row in funding.grid_rows:
        keys = {c: f"{row.key}_{c}" for c in funding.grid_columns}
        eligible = year_rng.random() >= RARE_COMPONENTS.get(row.key, 0.15)
        v[keys["applicable"]] = eligible
        if not eligible:
            v.update({key: Decimal(0) for c, key in keys.items() if c != "applicable"})
            continue
        carried, central = _money(rng, 400), _money(rng, 3000)
        local, mobilised = _money(rng, 600), _money(rng, 800)
        v.update({keys["carried_over"]: carried, keys["alloc_central"]: central, keys["alloc_local"]: local,
                  keys["mobilised"]: mobilised})
        for key, available in (("disb_central", carried + central), ("disb_local", local),
                               ("disb_mobilised", mobilised)):
            v[keys[key]] = (available * Decimal(rng.randint(0, 100)) / 100).quantize(CENT, rounding="ROUND_DOWN")
    for row in spec.section("outputs").grid_rows:
        plan = year_rng.randint(0, 150)
        cumulative = round(plan * rng.uniform(0.2, 1.3))
        achieved = cumulative if period.kind == "H1" else round(cumulative * rng.uniform(0.3, 1.0))
        v.update({f"out_{row.key}_plan": plan, f"out_{row.key}_achieved": achieved,
                  f"out_{row.key}_cumulative": cumulative})
    v["preparer_name"] = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    v["preparer_phone"] = "0" + str(rng.choice([9, 8, 3, 7])) + "".join(str(rng.randint(0, 9)) for _ in range(8))
    v["preparer_email"] = f"ldtbxh.{unit.code}@example.gov.vn"
    v["date_prepared"] = (period.commune_deadline - dt.timedelta(days=rng.randint(1, 20))).date()
    return v


@dataclass
class Draft:
    """A report being made: what goes in the cells, and how the file is delivered."""

    values: dict[str, Any]
    prefilled: dict[str, Any]
    unit: Unit
    period: Period
    hierarchy: Hierarchy
    spec: TemplateSpec
    rng: random.Random
    received_late_closed: bool = False
    file_damage: str | None = None  # corrupt / missing_sheet
    misplaced: bool = False


def _retype_rates(d: Draft) -> None:
    for prefix in ("poor", "near_poor"):
        d.values[f"{prefix}_rate"] = _rate(d.values[f"{prefix}_end"], d.values["total_households"])


def _set(d: Draft, key: str, value: Any) -> Any:
    original = d.values.get(key, d.prefilled.get(key))
    if key in d.prefilled:
        d.prefilled[key] = value
    else:
        d.values[key] = value
    return original


def _eligible_rows(d: Draft) -> list[str]:
    return [r.key for r in d.spec.section("funding").grid_rows if d.values[f"{r.key}_applicable"]] or ["p2"]


def _m_blank_required(d: Draft) -> tuple[str, Any]:
    key = d.rng.choice([f.key for f in d.spec.input_fields() if f.type == "count" and f.required])
    return key, None


def _m_negative_count(d: Draft) -> tuple[str, Any]:
    # Fields no other check compares from below, so only the bound check fires.
    return d.rng.choice(["dep_latrine_poor", "poor_merit", "dep_telecom_near_poor", "recently_exited"]), \
        -d.rng.randint(1, 50)


def _m_fractional_count(d: Draft) -> tuple[str, Any]:
    key = d.rng.choice(["poor_female_headed", "recently_exited", "out_housing_plan", "dep_telecom_near_poor"])
    return key, Decimal(d.values[key]) + Decimal("0.5") if d.values[key] > 0 else Decimal("0.5")


def _m_text_in_number(d: Draft) -> tuple[str, Any]:
    key = d.rng.choice(["poor_merit", "out_models_plan", "dep_nutrition_poor", "group_1"])
    return key, f"khoảng {d.values[key]}"


def _m_too_large(d: Draft) -> tuple[str, Any]:
    return d.rng.choice(["out_jobs_plan", "out_models_plan"]), 5_000_000


def _m_too_many_decimals(d: Draft) -> tuple[str, Any]:
    key = f"{d.rng.choice(_eligible_rows(d))}_carried_over"
    return key, d.values[key] + Decimal("0.0004")


def _m_bad_yesno(d: Draft) -> tuple[str, Any]:
    return f"{d.rng.choice(_eligible_rows(d))}_applicable", "Chưa rõ"


def _m_bad_date(d: Draft) -> tuple[str, Any]:
    return "date_prepared", "30/02/2026"


def _m_bad_phone(d: Draft) -> tuple[str, Any]:
    return "preparer_phone", "09x12"


def _m_bad_email(d: Draft) -> tuple[str, Any]:
    return "preparer_email", "ldtbxh-at-example.gov.vn"


def _m_subset_exceeds(d: Draft) -> tuple[str, Any]:
    key = d.rng.choice(["poor_ethnic_minority", "poor_female_headed", "poor_social_protection"])
    return key, d.values["poor_end"] + d.rng.randint(1, 30)


def _m_total_exceeded(d: Draft) -> tuple[str, Any]:
    value = max(d.values["poor_end"] + d.values["near_poor_end"] - d.rng.randint(1, 5), 1)
    d.values["total_households"] = value
    _retype_rates(d)  # the commune typed rates that match its (wrong) total: only the subset check fires
    return "total_households", value


def _m_balance_mismatch(d: Draft) -> tuple[str, Any]:
    key = d.rng.choice(["poor_new", "near_poor_new"])
    return key, d.values[key] + d.rng.randint(1, 9)


def _m_groups_mismatch(d: Draft) -> tuple[str, Any]:
    return "group_3", d.values["group_3"] + d.rng.randint(1, 9)


def _m_rate_mismatch(d: Draft) -> tuple[str, Any]:
    rate = d.values["poor_rate"]
    return "poor_rate", rate + (Decimal("1.50") if rate < 2 else d.rng.choice([-1, 1]) * Decimal("1.50"))


def _m_deprivation_exceeds(d: Draft) -> tuple[str, Any]:
    f = d.rng.choice(d.spec.fields_of("deprivations"))
    return f.key, d.values[f"{f.grid_column}_end"] + d.rng.randint(1, 9)


def _m_overdisbursed(source: str) -> Callable[[Draft], tuple[str, Any]]:
    limits = {"central": ("carried_over", "alloc_central"), "local": ("alloc_local",), "mobilised": ("mobilised",)}

    def mutate(d: Draft) -> tuple[str, Any]:
        row = d.rng.choice(_eligible_rows(d))
        d.values[f"{row}_applicable"] = True
        available = sum((d.values[f"{row}_{c}"] for c in limits[source]), Decimal(0))
        return f"{row}_disb_{source}", available + Decimal(d.rng.randint(1, 5000)) / 100

    return mutate


def _m_total_row_mismatch(d: Draft) -> tuple[str, Any]:
    column = d.rng.choice(["carried_over", "alloc_central", "disb_local"])
    rows = sum((d.values[f"{r.key}_{column}"] for r in d.spec.section("funding").grid_rows), Decimal(0))
    return f"total_{column}", rows + Decimal(d.rng.choice([-1, 1]) * d.rng.randint(1, 900)) / 10


def _m_ineligible_with_money(d: Draft) -> tuple[str, Any]:
    row = d.rng.choice(_eligible_rows(d))
    return f"{row}_applicable", False


def _m_cumulative_below_achieved(d: Draft) -> tuple[str, Any]:
    rows = [r.key for r in d.spec.section("outputs").grid_rows]
    candidates = [r for r in rows if d.values[f"out_{r}_achieved"] >= 1] or rows
    row = d.rng.choice(candidates)
    if d.values[f"out_{row}_achieved"] == 0:  # keep achieved within plan, or the 150 % warning fires too
        d.values[f"out_{row}_plan"] = max(d.values[f"out_{row}_plan"], 1)
        d.values[f"out_{row}_achieved"] = 1
    return f"out_{row}_cumulative", d.values[f"out_{row}_achieved"] - 1


def _m_over_plan(d: Draft) -> tuple[str, Any]:
    row = d.rng.choice([r.key for r in d.spec.section("outputs").grid_rows])
    plan = max(d.values[f"out_{row}_plan"], 10)
    d.values[f"out_{row}_plan"] = plan
    achieved = plan * 2
    d.values[f"out_{row}_cumulative"] = max(d.values[f"out_{row}_cumulative"], achieved)
    return f"out_{row}_achieved", achieved


def _m_wrong_commune(d: Draft) -> tuple[str, Any]:
    siblings = [u for u in d.hierarchy.reporting_units(d.unit.parent_code) if u.code != d.unit.code] or \
               [u for u in d.hierarchy.reporting_units() if u.code != d.unit.code]
    other = d.rng.choice(siblings)
    # The other commune's identity, as if its pre-filled workbook had been sent by this commune.
    for key, value in prefill_values(d.spec, d.hierarchy, d.period, other.code).items():
        if key.startswith(("commune", "district")):
            d.prefilled[key] = value
    return "commune_code", other.code


def _m_unknown_commune(d: Draft) -> tuple[str, Any]:
    return "commune_code", "99999"


def _m_wrong_district(d: Draft) -> tuple[str, Any]:
    districts = [u.code for u in d.hierarchy.at_level("district") if u.code != d.prefilled.get("district_code")]
    return "district_code", d.rng.choice(districts) if districts else "000"


def _m_wrong_period(d: Draft) -> tuple[str, Any]:
    return "period_id", f"{d.period.year}-{'FY' if d.period.kind == 'H1' else 'H1'}"


def _m_after_close(d: Draft) -> tuple[str, Any]:
    d.received_late_closed = True
    return "received_at", None


def _m_corrupt_file(d: Draft) -> tuple[str, Any]:
    d.file_damage = "corrupt"
    return "file", None


def _m_missing_sheet(d: Draft) -> tuple[str, Any]:
    d.file_damage = "missing_sheet"
    return "file", None


def _m_old_template(d: Draft) -> tuple[str, Any]:
    return "template_version", "0.9"


def _m_misplaced_file(d: Draft) -> tuple[str, Any]:
    d.misplaced = True
    return "file", None


def _m_households_jump(d: Draft) -> tuple[str, Any]:
    value = round(d.values["total_households"] * 1.15)
    d.values["total_households"] = value
    _retype_rates(d)
    return "total_households", value


def _m_poverty_jump(d: Draft) -> tuple[str, Any]:
    extra = round(d.values["total_households"] * 0.08) + 1
    d.values["poor_new"] += extra
    d.values["poor_end"] += extra
    d.values["group_1"] += extra
    _retype_rates(d)
    return "poor_end", d.values["poor_end"]


def _m_start_mismatch(d: Draft) -> tuple[str, Any]:
    extra = d.rng.randint(1, 5)
    for key in ("poor_start", "poor_end", "group_1"):
        d.values[key] += extra
    _retype_rates(d)
    return "poor_start", d.values["poor_start"]


# kind → (mutation, check it must trigger, severity). Each mutation touches only what makes its check fail.
MISTAKES: dict[str, tuple[Callable[[Draft], tuple[str, Any]], str, str]] = {
    "corrupt_file": (_m_corrupt_file, "TH-S-001", "error"),
    "missing_sheet": (_m_missing_sheet, "TH-S-002", "error"),
    "old_template": (_m_old_template, "TH-S-003", "error"),
    "misplaced_file": (_m_misplaced_file, "TH-S-004", "error"),
    "unknown_commune": (_m_unknown_commune, "TH-A-001", "error"),
    "wrong_district": (_m_wrong_district, "TH-A-002", "error"),
    "wrong_commune": (_m_wrong_commune, "TH-A-004", "error"),
    "wrong_period": (_m_wrong_period, "TH-A-005", "error"),
    "after_close": (_m_after_close, "TH-A-006", "error"),
    "blank_required": (_m_blank_required, "TH-F-001", "error"),
    "text_in_number": (_m_text_in_number, "TH-F-002", "error"),
    "fractional_count": (_m_fractional_count, "TH-F-003", "error"),
    "negative_count": (_m_negative_count, "TH-F-004", "error"),
    "too_large": (_m_too_large, "TH-F-005", "error"),
    "too_many_decimals": (_m_too_many_decimals, "TH-F-006", "error"),
    "bad_yesno": (_m_bad_yesno, "TH-F-007", "error"),
    "bad_date": (_m_bad_date, "TH-F-008", "error"),
    "bad_phone": (_m_bad_phone, "TH-F-009", "warning"),
    "bad_email": (_m_bad_email, "TH-F-010", "warning"),
    "total_exceeded": (_m_total_exceeded, "TH-B-001", "error"),
    "balance_mismatch": (_m_balance_mismatch, "TH-B-002|TH-B-003", "error"),
    "subset_exceeds": (_m_subset_exceeds, "TH-B-004", "error"),
    "groups_mismatch": (_m_groups_mismatch, "TH-B-005", "error"),
    "rate_mismatch": (_m_rate_mismatch, "TH-B-006", "warning"),
    "deprivation_exceeds": (_m_deprivation_exceeds, "TH-C-001", "error"),
    "overdisbursed_central": (_m_overdisbursed("central"), "TH-D-001", "error"),
    "overdisbursed_local": (_m_overdisbursed("local"), "TH-D-002", "error"),
    "overdisbursed_mobilised": (_m_overdisbursed("mobilised"), "TH-D-003", "error"),
    "total_row_mismatch": (_m_total_row_mismatch, "TH-D-004", "error"),
    "ineligible_with_money": (_m_ineligible_with_money, "TH-D-005", "error"),
    "cumulative_below_achieved": (_m_cumulative_below_achieved, "TH-E-001", "error"),
    "over_plan": (_m_over_plan, "TH-E-002", "warning"),
    # Detectable only against the commune's previous report in the warehouse.
    "households_jump": (_m_households_jump, "TH-X-001", "warning"),
    "poverty_jump": (_m_poverty_jump, "TH-X-002", "warning"),
    "start_mismatch": (_m_start_mismatch, "TH-X-003", "warning"),
}
HISTORY_KINDS = ("households_jump", "poverty_jump", "start_mismatch")
ERROR_KINDS = tuple(k for k, (_, _, sev) in MISTAKES.items() if sev == "error")
WARNING_KINDS = tuple(k for k, (_, _, sev) in MISTAKES.items() if sev == "warning" and k not in HISTORY_KINDS)
# The kinds a plain `tonghop sample` injects: what officials commonly get wrong inside a workbook.
DEFAULT_KINDS = ("blank_required", "negative_count", "fractional_count", "text_in_number", "subset_exceeds",
                 "total_exceeded", "balance_mismatch", "groups_mismatch", "deprivation_exceeds",
                 "cumulative_below_achieved", "wrong_commune", "overdisbursed_central", "ineligible_with_money")


def inject(kind: str, d: Draft) -> Mistake:
    """Apply one mistake of `kind` to a draft and describe it."""
    mutate, check_id, severity = MISTAKES[kind]
    key, value = mutate(d)
    original = _set(d, key, value) if key in d.spec.by_key else None
    if "|" in check_id:  # balance: which identity depends on the category mutated
        check_id = "TH-B-002" if key.startswith("poor_") else "TH-B-003"
    return Mistake(kind, key, check_id, severity, original=_jsonable(original), injected=_jsonable(value))


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
    kinds: tuple[str, ...] = DEFAULT_KINDS
    warning_kinds: tuple[str, ...] = WARNING_KINDS


@dataclass
class PlannedFile:
    report: SampleReport
    prefilled: dict[str, Any]
    written: dict[str, Any]
    damage: str | None


def plan_sample(unit: Unit, period: Period, hierarchy: Hierarchy, out_dir: Path, options: SampleOptions,
                spec: TemplateSpec | None = None) -> PlannedFile | None:
    """Decide one commune's sample report (None when the commune does not send one)."""
    spec = spec or load_spec()
    rng = random.Random(f"{options.seed}:{period.id}:{unit.code}:sample")
    if rng.random() < options.missing_rate:
        return None
    draft = Draft(commune_values(options.seed, unit, period, spec), prefill_values(spec, hierarchy, period, unit.code),
                  unit, period, hierarchy, spec, rng)
    mistakes = []
    draw = rng.random()
    if draw < options.error_rate and options.kinds:
        mistakes.append(inject(rng.choice(options.kinds), draft))
    elif draw < options.error_rate + options.warning_rate and options.warning_kinds:
        mistakes.append(inject(rng.choice(options.warning_kinds), draft))
    received_at = _received_at(rng, period, rng.random() < options.late_rate)
    if draft.received_late_closed:
        received_at = period.closes_at + dt.timedelta(hours=rng.uniform(1, 48))
    written = dict(draft.values)
    text_numbers = []
    touched = {m.field for m in mistakes}
    for f in spec.input_fields():
        value = draft.values.get(f.key)
        if (f.is_numeric and f.key not in touched and isinstance(value, int | Decimal) and value >= 1000
                and rng.random() < options.text_number_rate):
            written[f.key] = _as_vietnamese_text(value)
            text_numbers.append(f.key)
    province = hierarchy.ancestor(unit.code, hierarchy.levels[0])
    name = f"bao-cao-{period.id}-{unit.code}.xlsx"
    path = out_dir / inbox_relative_path(period.id, province, unit.code, name)
    if draft.misplaced:  # dropped in the province folder instead of the commune's
        path = out_dir / period.id / (province or UNPLACED_BATCH) / name
    report = SampleReport(unit.code, path, received_at, draft.values, mistakes, text_numbers)
    return PlannedFile(report, draft.prefilled, written, draft.file_damage)


def _write_one(job: tuple[Path, dict[str, Any], dict[str, Any], Period, float, str | None]) -> None:
    path, prefilled, written, period, mtime, damage = job
    path.parent.mkdir(parents=True, exist_ok=True)
    if damage == "corrupt":
        path.write_bytes(b"PK\x03\x04" + random.Random(str(path)).randbytes(2000))  # a broken zip
    else:
        wb = build_workbook(prefilled, period, written)
        if damage == "missing_sheet":
            wb.remove(wb[load_spec().sections[-1].sheet])
        path.write_bytes(workbook_bytes(wb))
    os.utime(path, (mtime, mtime))


def generate_sample(units: Iterable[Unit], period: Period, hierarchy: Hierarchy, out_dir: Path,
                    options: SampleOptions, workers: int | None = None,
                    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None) -> list[SampleReport]:
    """Write one filled workbook per sending commune in the inbox layout, plus the period's manifest."""
    spec = load_spec()
    planned = [p for p in (plan_sample(u, period, hierarchy, out_dir, options, spec) for u in units) if p]
    jobs = [(p.report.path, p.prefilled, p.written, period, p.report.received_at.timestamp(), p.damage)
            for p in planned]
    workers = workers or min(len(jobs) // 40 + 1, os.cpu_count() or 1)
    wrap = progress or (lambda it, total: it)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for _ in wrap(pool.map(_write_one, jobs, chunksize=16), len(jobs)):
                pass
    else:
        for job in wrap(jobs, len(jobs)):
            _write_one(job)
    reports = [p.report for p in planned]
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
