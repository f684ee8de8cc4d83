"""Offline checking (`tonghop check`): an officer or a commune validates workbooks before sending them,
with the same reader and checks as ingestion, and nothing is recorded."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from tonghop.calendar import load_calendar
from tonghop.config import Settings
from tonghop.findings import Finding, load_catalogue, make_finding
from tonghop.inbox import InboxFile
from tonghop.parse import ParsedReport
from tonghop.period import PeriodContext
from tonghop.reader import read_paths
from tonghop.spec import load_spec
from tonghop.validate import BatchValidator


def check_workbooks(settings: Settings, paths: Sequence[Path], period_id: str | None = None,
                    unit_code: str | None = None, received_at: dt.datetime | None = None
                    ) -> list[tuple[Path, list[Finding]]]:
    """Validate workbooks offline, as if submitted for `unit_code` (default: the commune they name) and
    received at `received_at` (default: the period's deadline), for `period_id` (default: theirs)."""
    spec, catalogue = load_spec(), load_catalogue(settings.expectations_dir)
    calendar = load_calendar(settings.calendar_path)
    results: dict[Path, list[Finding]] = {p: [] for p in paths}
    by_period: dict[str, list[tuple[InboxFile, ParsedReport]]] = defaultdict(list)
    reads = read_paths(paths, settings.expectations_dir)
    for path, read in zip(paths, reads, strict=True):
        sid = str(path)
        if read.report is None:
            results[path].append(read.finding)
            continue
        report = read.report
        pid = period_id or report.values.get("period_id") or ""
        if pid not in calendar:
            f = spec.by_key["period_id"]
            results[path].append(make_finding(catalogue["TH-A-005"], sid, {
                "cell": f.cell, "label": f.label, "value": pid, "expected": "một kỳ có trong lịch báo cáo"},
                sheet=f.sheet, cells=[f.cell], field_key=f.key, label=f.label))
            continue
        period = calendar.get(pid)
        hierarchy = settings.hierarchy_for(period)
        commune = unit_code or hierarchy.canonical_code(report.values.get("commune_code"), hierarchy.leaf_level)
        item = InboxFile(key=sid, period_id=pid, province_code=None, submitted_for=commune,
                         received_at=received_at or period.commune_deadline, size=0)
        by_period[pid].append((item, report))
    path_of = {str(p): p for p in paths}
    for pid, items in by_period.items():
        ctx = PeriodContext.open(settings, pid)
        validator = BatchValidator(spec, ctx.hierarchy, settings.expectations_dir, ctx.retired)
        for finding in validator.validate(ctx.period, items).findings:
            results[path_of[finding.submission_id]].append(finding)
    return list(results.items())
