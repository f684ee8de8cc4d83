"""Publication of the officers' files after a consolidation: for each province, its unit summary (JSON and
the Vietnamese text table), the consolidated workbooks of the province and of each of its districts, and
the province's charts, written to the outputs. One read of the published period per unit."""

from __future__ import annotations

import json
import logging

from tonghop.officer_workbook import workbook_bytes
from tonghop.offices import load_offices
from tonghop.period import PeriodContext
from tonghop.published import NotPublished, freshness, load, read_units
from tonghop.published_charts import write_charts
from tonghop.summary import format_table, unit_summary
from tonghop.targets import load_targets

log = logging.getLogger(__name__)


def publish_reports(ctx: PeriodContext) -> list[str]:
    """Write `<period>/reports/<province>.json|.txt`, `<period>/reports/<unit>.xlsx` for the province and its
    districts, and `<period>/charts/<province>/<kind>.png`, for every province in the scope (all without
    one). Returns the locations written."""
    hierarchy, period_id, outputs = ctx.hierarchy, ctx.period.id, ctx.outputs
    top = hierarchy.levels[0]
    if ctx.scope:
        provinces = [hierarchy.ancestor(ctx.scope, top)]
    else:
        provinces = sorted(u.code for u in hierarchy.at_level(top))
    targets = load_targets(ctx.settings.targets_path, ctx.settings.editions, ctx.edition.id)
    tz = ctx.calendar.timezone
    units = read_units(ctx.warehouse, ctx.edition.id)
    offices, edition = load_offices(ctx.settings.offices_path), ctx.edition.id
    version = freshness(ctx.warehouse, period_id)["version"]  # before the figures: a later one only redraws
    written = []
    for code in provinces:
        try:
            data = load(ctx.warehouse, period_id, code, units)
        except NotPublished:
            continue
        doc = unit_summary(data, ctx.spec, hierarchy.leaf_level)
        base = f"{period_id}/reports/{code}"
        written.append(outputs.write(f"{base}.json", json.dumps(doc, ensure_ascii=False, indent=1,
                                                                 default=str).encode()))
        written.append(outputs.write(f"{base}.txt", (format_table(doc) + "\n").encode()))
        # A province from which nothing arrived gets no workbook of blanks (its completeness is on the page).
        if not doc["completeness"]["received"]:
            continue
        written += write_charts(outputs, data, targets, version, tz)
        written.append(outputs.write(f"{base}.xlsx", workbook_bytes(data, targets, tz, offices, edition)))
        for child in data.children:
            if child.level != hierarchy.leaf_level:
                written.append(outputs.write(f"{period_id}/reports/{child.code}.xlsx",
                                             workbook_bytes(load(ctx.warehouse, period_id, child.code, units),
                                                            targets, tz, offices, edition)))
    log.info("reports of %s: %s file(s) written", period_id, len(written))
    return written
