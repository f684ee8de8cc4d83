"""Consolidation: each commune's report that counts (its accepted file), rolled up the map and published
in one transaction with completeness and timeliness, the dimension tables beside it; then the ledger
invariant is checked and the run logged."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from tonghop.calendar import Calendar
from tonghop.config import Settings
from tonghop.correspondence import Correspondence, load_correspondence
from tonghop.hierarchy import Hierarchy
from tonghop.ledger import check_invariant, final_statuses
from tonghop.outliers import outlier_findings
from tonghop.period import PeriodContext, Stopwatch
from tonghop.rollup import CommuneStatus, rollup
from tonghop.sign_off import read_state, record_explanations
from tonghop.vocabulary import ACCEPTED, FINAL_STATES, IMPORTED, utc

log = logging.getLogger(__name__)


def consolidate(ctx: PeriodContext, run_id: str | None = None, now: dt.datetime | None = None,
                inbox_keys: Sequence[str] | None = None) -> dict[str, Any]:
    """Roll the period's accepted reports up the hierarchy and publish it in one transaction; then check
    the ledger invariant and log the run. `inbox_keys`: the inbox as the run saw it (default: listed now)."""
    period, hierarchy, warehouse, clock = ctx.period, ctx.hierarchy, ctx.warehouse, Stopwatch()
    with clock.stage("load"):
        submissions = warehouse.read_period_submissions(period.id)
        signed = read_state(warehouse, period.id, ctx.edition.id)
        counted = warehouse.read_counted(period.id)
        locked = {c: counted.get(c) for c in signed.locked_communes(hierarchy)}
        statuses = final_statuses(submissions, returned=signed.returned, locked=locked)
        winners = {s["submitted_for"]: s for s in submissions if statuses[s["submission_id"]] == ACCEPTED}
        reports = warehouse.read_reports([s["submission_id"] for s in winners.values()])
    by_commune: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in submissions:
        by_commune[s["submitted_for"]].append(s)
    expected = hierarchy.reporting_units(ctx.scope, active_on=period.deadline_date)
    commune_statuses = []
    accepted_values = {}
    for unit in expected:
        received = by_commune.get(unit.code, [])
        winner = winners.get(unit.code)
        if winner:
            accepted_values[unit.code] = reports[winner["submission_id"]]
        commune_statuses.append(CommuneStatus(
            code=unit.code,
            received=bool(received),
            accepted=winner is not None,
            with_warnings=bool(winner and winner["warning_count"]),
            on_time=any(utc(s["received_at"]) <= period.commune_deadline for s in received),
            # The file that counts (the accepted one; without one, everything it sent) came from history.
            imported=(winner.get("origin") == IMPORTED if winner
                      else bool(received) and all(s.get("origin") == IMPORTED for s in received)),
        ))
    with clock.stage("rollup"):
        facts = {name: frame.assign(map_edition=ctx.edition.id) if not frame.empty else frame
                 for name, frame in rollup(ctx.spec, hierarchy, period, accepted_values, commune_statuses).items()}
    run_id = run_id or f"cli-{uuid.uuid4().hex[:12]}"
    with clock.stage("publish"):
        publication = warehouse.publish_period(period.id, facts, statuses, reference_rows(ctx), run_id, now,
                                               map_edition=ctx.edition.id,
                                               counted={c: s["submission_id"] for c, s in winners.items()})
    with clock.stage("review"):
        warehouse.replace_review_findings(period.id, outlier_findings(
            hierarchy, ctx.catalogue, ctx.settings.expectations_dir, period.id, winners, reports))
        explained = record_explanations(warehouse, period.id, ctx.edition.id, signed, winners, reports)
    with clock.stage("check"):
        keys = inbox_keys if inbox_keys is not None else [i.key for i in ctx.inbox.list(period.id)]
        ledger = check_invariant(keys, warehouse.read_period_submissions(period.id))
    summary = {
        "period": period.id,
        "files": len(submissions),
        "ledger": ledger,
        "version": publication.version,
        "new_version": publication.changed,
        "expected": len(expected),
        "communes_received": sum(s.received for s in commune_statuses),
        "communes_accepted": sum(s.accepted for s in commune_statuses),
        "communes_on_time": sum(s.on_time for s in commune_statuses),
        **{f"files_{k}": ledger[k] for k in FINAL_STATES},
        "fact_rows": {name: len(rows) for name, rows in facts.items()},
        "explanations_recorded": explained,
        "seconds": clock.seconds,
    }
    ctx.outputs.write(f"{period.id}/summary.json", json.dumps(summary, indent=1).encode())
    warehouse.log_run(run_id, "consolidate", period.id, len(submissions), json.dumps(ledger), at=now)
    log.info("published %s: %s", period.id, summary)
    return summary



def reference_rows(ctx: PeriodContext) -> dict[str, list[dict[str, Any]]]:
    """The dimension tables as published with the period: units, periods, components, indicators."""
    spec = ctx.spec
    funding = spec.section("funding")
    indicators = [{"section": s, "indicator": r.key, "number": r.number or "", "label": r.label,
                   "dimension": r.group, "unit": r.unit} for s in ("deprivations", "outputs")
                  for r in spec.section(s).grid_rows]
    editions = ctx.settings.editions
    correspondence = ctx.correspondence or _any_correspondence(ctx)
    return {
        # Every edition's units: BI joins any period's codes, and the series view names the new units.
        "dim_unit": [row for e in editions.editions for row in _unit_rows(editions.hierarchy(e.id))],
        "dim_period": _period_rows(ctx.calendar, ctx.settings),
        "map_correspondence": correspondence.rows() if correspondence else [],
        "dim_component": [{"component": r.key, "number": r.number or "", "label": r.label}
                          for r in funding.grid_rows],
        "dim_indicator": indicators,
    }


def _any_correspondence(ctx: PeriodContext) -> Correspondence | None:
    spec = ctx.settings.editions.correspondence
    return load_correspondence(spec.source, spec.old, spec.new) if spec else None


def _unit_rows(hierarchy: Hierarchy) -> list[dict[str, Any]]:
    rows = []
    for u in hierarchy.units.values():
        chain = hierarchy.ancestors(u.code)
        rows.append({"map_edition": hierarchy.edition, "code": u.code, "name": u.name, "level": u.level,
                     "parent_code": u.parent_code,
                     "province_code": chain.get("province"), "district_code": chain.get("district"),
                     "area": u.area, "valid_from": u.valid_from, "valid_to": u.valid_to})
    return rows


def _period_rows(calendar: Calendar, settings: Settings) -> list[dict[str, Any]]:
    return [{"period_id": p.id, "map_edition": settings.edition_for(p).id, "name": p.name, "kind": p.kind,
             "year": p.year,
             "opens_at": utc(p.opens_at), "commune_deadline": utc(p.commune_deadline),
             "closes_at": utc(p.closes_at),
             "district_deadline": utc(p.district_deadline) if p.district_deadline else None,
             "province_deadline": utc(p.province_deadline) if p.province_deadline else None}
            for p in calendar.periods.values()]
