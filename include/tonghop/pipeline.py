"""The period pipeline: ingest (read → parse → validate → record) and consolidate (select → roll up → publish).

The DAG tasks and the CLI call these same functions. Ingest works on a batch of files (a province's
folder in the DAG, the whole period in `tonghop run`) with one Great Expectations run per suite; the
warehouse is the record between the two stages, so consolidation always works from every file ever
received for the period.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tonghop.annotate import annotate_workbook, annotated_name
from tonghop.calendar import Calendar, Period, load_calendar
from tonghop.config import Settings
from tonghop.findings import ERROR, WARNING, Finding, load_catalogue, make_finding
from tonghop.hierarchy import Hierarchy, load_hierarchy
from tonghop.inbox import InboxFile, LocalInbox, group_by_batch
from tonghop.parse import ParsedReport, StructureError, read_report
from tonghop.rollup import CommuneStatus, rollup
from tonghop.spec import TemplateSpec, load_spec
from tonghop.validate import BatchValidator, History
from tonghop.warehouse import (
    engine_for,
    publish_period,
    read_accepted_reports,
    read_period_submissions,
    read_reports,
    record_submissions,
)

log = logging.getLogger(__name__)

ACCEPTED, REJECTED, SUPERSEDED = "accepted", "rejected", "superseded"
Progress = Callable[[Iterable[Any], int, str], Iterable[Any]]


def _no_progress(items: Iterable[Any], total: int, description: str) -> Iterable[Any]:
    return items


@dataclass(frozen=True)
class PeriodContext:
    settings: Settings
    spec: TemplateSpec
    hierarchy: Hierarchy
    calendar: Calendar
    period: Period

    @classmethod
    def open(cls, settings: Settings, period_id: str) -> PeriodContext:
        calendar = load_calendar(settings.calendar_path)
        return cls(settings, load_spec(), load_hierarchy(settings.hierarchy_source), calendar,
                   calendar.get(period_id))

    @property
    def inbox(self) -> LocalInbox:
        return LocalInbox(self.settings.inbox)

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.settings.warehouse_url)


def submission_id(item: InboxFile, sha256: str) -> str:
    """Stable across runs: the same file at the same place is the same submission."""
    return hashlib.sha256(f"{item.key}\n{sha256}".encode()).hexdigest()[:32]


def list_batches(settings: Settings, period_id: str) -> list[str]:
    """The batches (province folders) that hold files for the period."""
    ctx = PeriodContext.open(settings, period_id)
    return list(group_by_batch(ctx.inbox.list(period_id)))


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _report_row(spec: TemplateSpec, report: ParsedReport) -> dict[str, Any]:
    row: dict[str, Any] = {"submission_id": report.submission_id}
    for f in spec.fields:
        value = report.values.get(f.key)
        if f.type == "count" and not isinstance(value, int):
            value = None  # a fractional "count" is reported as a finding; the column holds whole numbers only
        if f.type in ("amount", "rate") and value is not None and not isinstance(value, Decimal):
            value = Decimal(value)
        row[f.key] = value
    return row


def history_for(ctx: PeriodContext, communes: Sequence[str]) -> History:
    """The same communes' accepted reports of the previous period, from the warehouse."""
    previous = ctx.calendar.previous(ctx.period)
    if previous is None:
        return History()
    return History(
        period_id=previous.id,
        reports=read_accepted_reports(ctx.engine, previous.id, communes),
        is_first_half_of_same_year=previous.kind == "H1" and ctx.period.kind == "FY"
        and previous.year == ctx.period.year,
    )


def ingest(ctx: PeriodContext, items: Sequence[InboxFile], progress: Progress = _no_progress,
           run_dir: Path | None = None) -> dict[str, Any]:
    """Parse, validate and record a batch of received files. Every file ends recorded with a status.

    With `run_dir`, the run's GX Data Docs are built in `run_dir/data_docs`. Reports with findings get an
    annotated copy of their workbook under `<output>/<period>/annotated/`."""
    spec, catalogue = ctx.spec, load_catalogue(ctx.settings.expectations_dir)
    structural: list[Finding] = []
    parsed: list[tuple[InboxFile, ParsedReport]] = []
    meta: dict[str, tuple[InboxFile, str]] = {}
    for item in progress(items, len(items), "Đọc tệp"):
        content = ctx.inbox.read(item)
        sha = hashlib.sha256(content).hexdigest()
        sid = submission_id(item, sha)
        meta[sid] = (item, sha)
        if item.submitted_for is None:
            structural.append(with_origin(make_finding(catalogue["TH-S-004"], sid, {
                "file_name": item.file_name, "detail": item.key}), item))
            continue
        try:
            parsed.append((item, read_report(content, sid, item.file_name, spec, catalogue)))
        except StructureError as exc:
            structural.append(with_origin(exc.finding, item))
    history = history_for(ctx, sorted({item.submitted_for for item, _ in parsed if item.submitted_for}))
    validation = BatchValidator(spec, ctx.hierarchy, ctx.settings.expectations_dir).validate(
        ctx.period, parsed, history, docs_dir=run_dir / "data_docs" if run_dir else None)
    findings = structural + validation.findings
    by_submission: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_submission[f.submission_id].append(f)
    to_annotate = [(item, report.submission_id) for item, report in parsed if by_submission.get(report.submission_id)]
    annotated = annotate_reports(ctx, to_annotate, by_submission)
    submissions, finding_rows = [], []
    for sid, (item, sha) in meta.items():
        own = by_submission.get(sid, [])
        errors = sum(f.severity == ERROR for f in own)
        submissions.append({
            "submission_id": sid, "period_id": ctx.period.id, "submitted_for": item.submitted_for,
            "province_code": item.province_code, "source_key": item.key, "file_name": item.file_name,
            "sha256": sha, "size_bytes": item.size, "received_at": _utc(item.received_at),
            "on_time": ctx.period.on_time(item.received_at), "status": REJECTED if errors else ACCEPTED,
            "error_count": errors, "warning_count": sum(f.severity == WARNING for f in own),
            "annotated_path": annotated.get(sid),
        })
        finding_rows.extend({**f.as_dict(), "seq": seq} for seq, f in enumerate(own, start=1))
    record_submissions(ctx.engine, submissions, [_report_row(spec, r) for _, r in parsed], finding_rows)
    summary = {
        "files": len(items),
        "accepted": sum(s["status"] == ACCEPTED for s in submissions),
        "rejected": sum(s["status"] == REJECTED for s in submissions),
        "errors": sum(f.severity == ERROR for f in findings),
        "warnings": sum(f.severity == WARNING for f in findings),
        "gx_runs": validation.gx_runs,
        "data_docs": str(validation.docs_index) if validation.docs_index else None,
    }
    log.info("ingested %s files for %s: %s", len(items), ctx.period.id, summary)
    if validation.docs_index:
        log.info("Data Docs of this batch: %s", validation.docs_index.resolve().as_uri())
    return summary


def annotate_reports(ctx: PeriodContext, items: Sequence[tuple[InboxFile, str]],
                     findings: Mapping[str, Sequence[Finding]]) -> dict[str, str]:
    """Write the annotated workbook of each report with findings; submission id → path under the output dir."""
    out: dict[str, str] = {}
    for item, sid in items:
        relative = Path(ctx.period.id) / "annotated" / (item.submitted_for or "unplaced") / \
            f"{sid[:8]}-{annotated_name(item.file_name)}"
        target = ctx.settings.output_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(annotate_workbook(ctx.inbox.read(item), findings[sid], item.file_name))
        out[sid] = relative.as_posix()
    return out


def with_origin(finding: Finding, item: InboxFile) -> Finding:
    return dataclasses.replace(finding, commune_code=item.submitted_for, file_name=item.file_name)


def ingest_batch(settings: Settings, period_id: str, batch: str, run_id: str | None = None) -> dict[str, Any]:
    ctx = PeriodContext.open(settings, period_id)
    items = group_by_batch(ctx.inbox.list(period_id)).get(batch, [])
    return {"batch": batch, **ingest(ctx, items, run_dir=run_directory(settings, period_id, run_id) / batch)}


def run_directory(settings: Settings, period_id: str, run_id: str | None = None) -> Path:
    """Where a run's outputs go: <output>/<period>/runs/<run id> (a timestamp when run outside Airflow)."""
    run_id = run_id or dt.datetime.now(dt.UTC).strftime("cli-%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return settings.output_dir / period_id / "runs" / safe


def final_statuses(submissions: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Rejected stays rejected; of a commune's valid files the newest received wins, older ones are superseded."""
    statuses: dict[str, str] = {}
    valid: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in submissions:
        if s["error_count"]:
            statuses[s["submission_id"]] = REJECTED
        else:
            valid[s["submitted_for"]].append(s)
    for candidates in valid.values():
        candidates.sort(key=lambda s: (_utc(s["received_at"]), s["source_key"]), reverse=True)
        statuses[candidates[0]["submission_id"]] = ACCEPTED
        for older in candidates[1:]:
            statuses[older["submission_id"]] = SUPERSEDED
    return statuses


def consolidate(settings: Settings, period_id: str) -> dict[str, Any]:
    """Roll the period's accepted reports up the hierarchy and publish it in one transaction."""
    ctx = PeriodContext.open(settings, period_id)
    period, hierarchy = ctx.period, ctx.hierarchy
    submissions = read_period_submissions(ctx.engine, period.id)
    statuses = final_statuses(submissions)
    winners = {s["submitted_for"]: s for s in submissions if statuses[s["submission_id"]] == ACCEPTED}
    reports = read_reports(ctx.engine, [s["submission_id"] for s in winners.values()])
    by_commune: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in submissions:
        by_commune[s["submitted_for"]].append(s)
    expected = hierarchy.reporting_units(settings.scope, active_on=period.deadline_date)
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
            on_time=any(_utc(s["received_at"]) <= period.commune_deadline for s in received),
        ))
    facts = rollup(ctx.spec, hierarchy, period, accepted_values, commune_statuses)
    publish_period(ctx.engine, period.id, facts, statuses, _unit_rows(hierarchy), _period_rows(ctx.calendar))
    counts = defaultdict(int)
    for status in statuses.values():
        counts[status] += 1
    summary = {
        "period": period.id,
        "files": len(submissions),
        "expected": len(expected),
        "communes_received": sum(s.received for s in commune_statuses),
        "communes_accepted": sum(s.accepted for s in commune_statuses),
        "communes_on_time": sum(s.on_time for s in commune_statuses),
        **{f"files_{k}": counts[k] for k in (ACCEPTED, REJECTED, SUPERSEDED)},
        "fact_rows": {name: len(rows) for name, rows in facts.items()},
    }
    out_dir = settings.output_dir / period.id
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    log.info("published %s: %s", period.id, summary)
    return summary


def run_period(settings: Settings, period_id: str, progress: Progress = _no_progress) -> dict[str, Any]:
    """The whole period in-process: every file in one validation batch, then consolidation."""
    ctx = PeriodContext.open(settings, period_id)
    items = ctx.inbox.list(period_id)
    ingest_summary = ingest(ctx, items, progress, run_dir=run_directory(settings, period_id))
    return {"ingest": ingest_summary, **consolidate(settings, period_id)}


def _unit_rows(hierarchy: Hierarchy) -> list[dict[str, Any]]:
    rows = []
    for u in hierarchy.units.values():
        chain = hierarchy.ancestors(u.code)
        rows.append({"code": u.code, "name": u.name, "level": u.level, "parent_code": u.parent_code,
                     "province_code": chain.get("province"), "district_code": chain.get("district"),
                     "area": u.area, "valid_from": u.valid_from, "valid_to": u.valid_to})
    return rows


def _period_rows(calendar: Calendar) -> list[dict[str, Any]]:
    return [{"period_id": p.id, "name": p.name, "kind": p.kind, "year": p.year,
             "opens_at": _utc(p.opens_at), "commune_deadline": _utc(p.commune_deadline),
             "closes_at": _utc(p.closes_at),
             "district_deadline": _utc(p.district_deadline) if p.district_deadline else None,
             "province_deadline": _utc(p.province_deadline) if p.province_deadline else None}
            for p in calendar.periods.values()]


def check_workbooks(settings: Settings, paths: Sequence[Path], period_id: str | None = None,
                    unit_code: str | None = None, received_at: dt.datetime | None = None
                    ) -> list[tuple[Path, list[Finding]]]:
    """Validate workbooks offline, as if submitted for `unit_code` (default: the commune they name) and
    received at `received_at` (default: the period's deadline), for `period_id` (default: theirs)."""
    spec, catalogue = load_spec(), load_catalogue(settings.expectations_dir)
    calendar = load_calendar(settings.calendar_path)
    hierarchy = load_hierarchy(settings.hierarchy_source)
    results: dict[Path, list[Finding]] = {p: [] for p in paths}
    by_period: dict[str, list[tuple[InboxFile, ParsedReport]]] = defaultdict(list)
    for path in paths:
        sid = str(path)
        try:
            report = read_report(path.read_bytes(), sid, path.name, spec, catalogue)
        except StructureError as exc:
            results[path].append(exc.finding)
            continue
        pid = period_id or report.values.get("period_id") or ""
        if pid not in calendar:
            f = spec.by_key["period_id"]
            results[path].append(make_finding(catalogue["TH-A-005"], sid, {
                "cell": f.cell, "label": f.label, "value": pid, "expected": "một kỳ có trong lịch báo cáo"},
                sheet=f.sheet, cells=[f.cell], field_key=f.key, label=f.label))
            continue
        period = calendar.get(pid)
        commune = unit_code or hierarchy.canonical_code(report.values.get("commune_code"), hierarchy.leaf_level)
        item = InboxFile(key=sid, period_id=pid, province_code=None, submitted_for=commune,
                         received_at=received_at or period.commune_deadline, size=0)
        by_period[pid].append((item, report))
    validator = BatchValidator(spec, hierarchy, settings.expectations_dir)
    path_of = {str(p): p for p in paths}
    for pid, items in by_period.items():
        for finding in validator.validate(calendar.get(pid), items).findings:
            results[path_of[finding.submission_id]].append(finding)
    return list(results.items())
