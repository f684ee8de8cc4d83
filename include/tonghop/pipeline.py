"""The period pipeline: ingest (read → parse → validate → record) and consolidate (select → roll up → publish).

The DAG tasks and the CLI call these same functions. Ingest works on a batch of files (a province's
folder in the DAG, the whole period in `tonghop run`) with one Great Expectations run per suite; the
warehouse is the record between the two stages, so consolidation always works from every file ever
received for the period.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import importlib
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tonghop.annotate import annotate_workbook, annotated_name
from tonghop.calendar import Calendar, Period, load_calendar
from tonghop.config import Settings
from tonghop.contacts import load_directory
from tonghop.findings import ERROR, WARNING, Finding, load_catalogue, make_finding
from tonghop.hierarchy import Hierarchy, load_hierarchy
from tonghop.inbox import InboxFile, in_batch, pack_batches
from tonghop.isolation import Outcome, Pool
from tonghop.ledger import (
    ACCEPTED,
    DUPLICATE,
    FINAL_STATES,
    RECEIVED,
    REJECTED,
    Arrival,
    check_invariant,
    classify,
    final_statuses,
    is_known,
    utc,
)
from tonghop.mailer import SMTP_CONN_ID, MailError, send_all, smtp_configured
from tonghop.notify import owed
from tonghop.parse import ParsedReport
from tonghop.reader import FileRead, read_files, read_paths
from tonghop.rollup import CommuneStatus, rollup
from tonghop.safety import clean_text, safe_name
from tonghop.spec import TemplateSpec, load_spec
from tonghop.storage import Inbox, LocalOutputs, S3Outputs, open_inbox, open_outputs
from tonghop.validate import BatchValidator, History, ValidationResult
from tonghop.warehouse import (
    engine_for,
    log_run,
    publish_period,
    read_accepted_reports,
    read_period_submissions,
    read_reports,
    record_annotations,
    record_results,
    register_files,
)

log = logging.getLogger(__name__)

Progress = Callable[[Iterable[Any], int, str], Iterable[Any]]


def _no_progress(items: Iterable[Any], total: int, description: str) -> Iterable[Any]:
    return items


class Stopwatch:
    """Wall seconds per stage, reported in the run summaries (and by the benchmark)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)


@dataclass(frozen=True, eq=False)
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

    @functools.cached_property
    def inbox(self) -> Inbox:
        return open_inbox(self.settings.inbox, self.settings.trust_received_at)

    @functools.cached_property
    def outputs(self) -> LocalOutputs | S3Outputs:
        return open_outputs(self.settings.output)

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.settings.warehouse)


def list_batches(settings: Settings, period_id: str, reprocess: bool = False) -> list[str]:
    """Batches of province folders holding files the ledger does not know yet (every file, to reprocess),
    about `settings.batch_files` files each: the DAG maps one task per batch, never per commune."""
    ctx = PeriodContext.open(settings, period_id)
    items = ctx.inbox.list(period_id)
    items = pending(items, read_period_submissions(ctx.engine, period_id), reprocess)
    return list(pack_batches(items, settings.batch_files))


def pending(items: Sequence[InboxFile], ledger_rows: Sequence[Mapping[str, Any]],
            reprocess: bool = False) -> list[InboxFile]:
    """The files still to process: new ones, and those a run recorded but died before processing."""
    if reprocess:
        return list(items)
    known = {r["source_key"]: r for r in ledger_rows}
    unfinished = {r["source_key"] for r in ledger_rows if r["status"] == RECEIVED}
    return [i for i in items if not is_known(i, known) or i.key in unfinished]


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
           run_dir: str | None = None, reprocess: bool = False) -> dict[str, Any]:
    """Record and process the new files of a batch (see `start_ingest`), annotated workbooks included."""
    summary, annotations = start_ingest(ctx, items, progress, run_dir, reprocess)
    with _timed(summary, "annotate"):
        annotations.finish()
    return summary


@contextlib.contextmanager
def _timed(summary: dict[str, Any], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    summary["seconds"][stage] = round(time.perf_counter() - start, 3)


def start_ingest(ctx: PeriodContext, items: Sequence[InboxFile], progress: Progress = _no_progress,
                 run_dir: str | None = None, reprocess: bool = False) -> tuple[dict[str, Any], Annotations]:
    """Record and process the files of a batch that the ledger does not know yet (all of them with `reprocess`);
    the annotated workbooks are still being written when this returns (`Annotations.finish()`).

    New files are read and hashed, then recorded (`received`, or `duplicate` for a byte-identical re-send)
    before their processing is stored; the others are validated in one GX batch and end `accepted` or
    `rejected`. A crash before the recording loses nothing: the files stay new for the next run.
    With `run_dir` (relative to the outputs), the batch's GX Data Docs are built in `run_dir/data_docs`;
    reports with findings get an annotated copy of their workbook under `<period>/annotated/`."""
    spec, clock = ctx.spec, Stopwatch()
    # Importing Great Expectations costs seconds; do it while the files are read in other processes. It imports
    # sqlalchemy.orm, which SQLAlchemy also imports lazily in this thread (reflection on PostgreSQL): import it
    # first, or both threads may meet it half-initialised ("partially initialized module", seen once in CI).
    importlib.import_module("sqlalchemy.orm")
    gx_import = threading.Thread(target=importlib.import_module, args=("great_expectations",), daemon=True)
    ledger_rows = read_period_submissions(ctx.engine, ctx.period.id)
    known_ids = {r["submission_id"]: r for r in ledger_rows}
    known_by_key = {r["source_key"]: r for r in ledger_rows}
    todo = pending(items, ledger_rows, reprocess)
    todo = [ctx.inbox.describe(i) if i.key not in known_by_key else i for i in todo]
    with clock.stage("read"):
        reads = check_placement(ctx, read_files(ctx.settings, todo, progress, after_start=gx_import.start))
    fresh = [r for r in reads
             if r.submission_id not in known_ids or known_ids[r.submission_id]["status"] == RECEIVED
             or (reprocess and known_ids[r.submission_id]["status"] != DUPLICATE)]
    arrivals = classify([Arrival(r.item, r.sha256, r.submission_id) for r in fresh], ledger_rows)
    with clock.stage("record"):
        register_files(ctx.engine, [_ledger_row(ctx.period, a) for a in arrivals
                                    if a.submission_id not in known_ids])
    to_process = {a.submission_id for a in arrivals if a.duplicate_of is None}

    structural: list[Finding] = []
    parsed: list[tuple[InboxFile, ParsedReport]] = []
    for r in fresh:
        if r.submission_id not in to_process:
            continue
        if r.report is not None:
            parsed.append((r.item, r.report))
        else:
            structural.append(with_origin(r.finding, r.item))
    history = history_for(ctx, sorted({item.submitted_for for item, _ in parsed if item.submitted_for}))
    gx_import.join()
    with clock.stage("validate"), tempfile.TemporaryDirectory(prefix="tonghop-docs-") as scratch:
        docs_dir = None
        if run_dir and parsed:
            docs_dir = ctx.outputs.local_dir(f"{run_dir}/data_docs") or Path(scratch)
        validator = BatchValidator(spec, ctx.hierarchy, ctx.settings.expectations_dir)
        validation, parsed = validate_contained(validator, ctx.period, parsed, history, docs_dir)
        docs_uri = ctx.outputs.write_tree(f"{run_dir}/data_docs", docs_dir) + "/index.html" if docs_dir else None
    findings = structural + validation.findings
    by_submission: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_submission[f.submission_id].append(f)
    to_annotate = [(item, report.submission_id) for item, report in parsed if by_submission.get(report.submission_id)]
    annotations = Annotations(ctx, to_annotate, by_submission)
    outcomes, finding_rows = [], []
    for sid in sorted(to_process):
        own = by_submission.get(sid, [])
        errors = sum(f.severity == ERROR for f in own)
        outcomes.append({"submission_id": sid, "status": REJECTED if errors else ACCEPTED,
                         "error_count": errors, "warning_count": sum(f.severity == WARNING for f in own),
                         "annotated_path": None})
        finding_rows.extend({**f.as_dict(), "seq": seq} for seq, f in enumerate(own, start=1))
    with clock.stage("record"):
        record_contained(ctx, outcomes, [_report_row(spec, r) for _, r in parsed], finding_rows)
    summary = {
        "files": len(items),
        "new": len(arrivals),
        "duplicates": sum(a.duplicate_of is not None for a in arrivals),
        "accepted": sum(o["status"] == ACCEPTED for o in outcomes),
        "rejected": sum(o["status"] == REJECTED for o in outcomes),
        "errors": sum(f.severity == ERROR for f in findings),
        "warnings": sum(f.severity == WARNING for f in findings),
        "gx_runs": validation.gx_runs,
        "data_docs": docs_uri,
        "seconds": clock.seconds,
    }
    log.info("ingested %s new of %s files for %s: %s", len(arrivals), len(items), ctx.period.id, summary)
    if docs_uri:
        log.info("Data Docs of this batch: %s", docs_uri)
    return summary, annotations


def _ledger_row(period: Period, a: Arrival) -> dict[str, Any]:
    item = a.item
    return {
        "submission_id": a.submission_id, "period_id": period.id, "submitted_for": item.submitted_for,
        "province_code": item.province_code, "source_key": item.key, "file_name": item.file_name,
        "sha256": a.sha256, "size_bytes": item.size, "source_version": item.version,
        "received_at": utc(item.received_at),
        "on_time": period.on_time(item.received_at), "status": DUPLICATE if a.duplicate_of else RECEIVED,
        "duplicate_of": a.duplicate_of, "error_count": 0, "warning_count": 0, "annotated_path": None,
    }


class _Annotate:
    """The annotation worker's task: (file, submission id, findings) → where its annotated copy went."""

    def __init__(self, inbox_location: str, output_location: str, period_id: str) -> None:
        self.inbox_location, self.output_location, self.period_id = inbox_location, output_location, period_id

    def __call__(self, job: tuple[InboxFile, str, list[Finding]]) -> str | None:
        item, sid, findings = job
        folder = f"{safe_name(self.period_id)}/annotated/{safe_name(item.submitted_for or 'unplaced')}"
        relative = f"{folder}/{sid[:8]}-{annotated_name(item.file_name)}"
        content = open_inbox(self.inbox_location).read(item)
        try:
            copy = annotate_workbook(content, findings, item.file_name)
        except Exception as exc:  # noqa: BLE001 — openpyxl cannot rewrite it: the findings go out without the copy
            log.warning("could not annotate %s: %s: %s", item.key, type(exc).__name__, exc)
            return None
        open_outputs(self.output_location).write(relative, copy)
        return relative


class Annotations:
    """The annotated workbooks of a batch, written in isolated worker processes (openpyxl takes ~40 ms a
    workbook, and a hostile one may take much more) while the caller goes on; `finish()` waits and records
    where each one went. A copy that fails, runs out of memory or time is simply not attached."""

    def __init__(self, ctx: PeriodContext, items: Sequence[tuple[InboxFile, str]],
                 findings: Mapping[str, Sequence[Finding]]) -> None:
        self.engine = ctx.engine
        self.work = [(item, sid, list(findings[sid])) for item, sid in items]
        self.outcomes: list[Outcome] = []
        self.pool = self.thread = None
        if self.work:
            workers = min(os.cpu_count() or 1, 2 if len(self.work) >= 50 else 1)
            self.pool = Pool(_Annotate(ctx.settings.inbox, ctx.settings.output, ctx.period.id), workers)
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _run(self) -> None:
        self.outcomes = self.pool.map(self.work, label=lambda job: job[0].key)

    def finish(self) -> dict[str, str]:
        """submission id → path of its annotated workbook in the outputs (also stored in the ledger)."""
        if self.thread is None:
            return {}
        self.thread.join()
        self.pool.close()
        if len(self.outcomes) != len(self.work):  # the supervising thread failed: the e-mails go without copies
            log.error("annotating the batch's workbooks failed (see the log above); no copy is attached")
            return {}
        paths = {sid: outcome.value for (_, sid, _), outcome in zip(self.work, self.outcomes, strict=True)
                 if outcome.ok and outcome.value}
        record_annotations(self.engine, paths)
        return paths


def check_placement(ctx: PeriodContext, reads: list[FileRead]) -> list[FileRead]:
    """A file counts for the commune whose folder it is in only if that folder is under the commune's own
    province: one put under another province's folder is rejected (TH-S-012), never counted."""
    top = ctx.hierarchy.levels[0]
    check = load_catalogue(ctx.settings.expectations_dir)["TH-S-012"]
    for read in reads:
        item = read.item
        if read.report is None or item.submitted_for not in ctx.hierarchy:
            continue
        province = ctx.hierarchy.ancestor(item.submitted_for, top)
        if province != item.province_code:
            read.report = None
            read.finding = make_finding(check, read.submission_id, {
                "file_name": item.file_name, "detail": item.province_code or "",
                "expected": f"{ctx.hierarchy[province].name} ({province})" if province in ctx.hierarchy else ""})
    return reads


def validate_contained(validator: BatchValidator, period: Period, parsed: list[tuple[InboxFile, ParsedReport]],
                       history: History, docs_dir: Path | None) -> tuple[ValidationResult, list]:
    """The batch in one GX run per suite; if that fails, the reports whose own frames cannot be built are
    set aside (TH-S-011) and the rest validated again, then file by file as a last resort. Returns the
    result and the reports validated (those set aside carry their finding in the result)."""
    try:
        return validator.validate(period, parsed, history, docs_dir=docs_dir), parsed
    except Exception:
        log.exception("validating a batch of %s reports failed; looking for the report that breaks it", len(parsed))
    catalogue = validator.catalogue
    aside: list[Finding] = []

    def set_aside(item: InboxFile, report: ParsedReport, exc: Exception) -> None:
        detail = clean_text(f"kiểm tra số liệu không thực hiện được: {type(exc).__name__}: {exc}",
                            keep_newlines=False)[:200]
        aside.append(with_origin(make_finding(catalogue["TH-S-011"], report.submission_id,
                                              {"file_name": item.file_name, "detail": detail}), item))

    kept = []
    for item, report in parsed:
        try:
            validator.frames(period, [(item, report)], history)
            kept.append((item, report))
        except Exception as exc:  # noqa: BLE001 — this report's finding says what failed
            set_aside(item, report, exc)
    try:
        result = validator.validate(period, kept, history, docs_dir=docs_dir)
        return dataclasses.replace(result, findings=aside + result.findings), kept
    except Exception:
        log.exception("validating the batch failed again; validating its %s reports one by one", len(kept))
    findings, runs, alone = list(aside), 0, []
    for item, report in kept:
        try:
            result = validator.validate(period, [(item, report)], history)
        except Exception as exc:  # noqa: BLE001 — this report's finding says what failed
            set_aside(item, report, exc)
            findings.append(aside[-1])
            continue
        findings += result.findings
        runs += result.gx_runs
        alone.append((item, report))
    return ValidationResult(findings, gx_runs=runs), alone


# What a database driver raises for a value it cannot store: SQLAlchemy's wrapped errors (PostgreSQL's
# "numeric field overflow", "cannot contain NUL"), and sqlite3's own OverflowError for a too-large integer.
REFUSED_VALUE = (sa.exc.StatementError, ArithmeticError, ValueError, TypeError)


def _outage(exc: Exception) -> bool:
    """The database itself failed (connection lost, server down): not something one file's values did."""
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or bool(
        getattr(exc, "connection_invalidated", False))


def record_contained(ctx: PeriodContext, outcomes: list[dict[str, Any]], report_rows: list[dict[str, Any]],
                     finding_rows: list[dict[str, Any]]) -> None:
    """Store a batch's outcomes in one transaction; if the database refuses a value, file by file, and a file
    whose rows it refuses is stored as rejected with TH-S-011 and without its values (`outcomes` is updated)."""
    try:
        record_results(ctx.engine, outcomes, report_rows, finding_rows)
        return
    except REFUSED_VALUE as exc:
        if _outage(exc):
            raise
        log.warning("recording the batch failed (%s); recording its files one by one", getattr(exc, "orig", exc))
    reports = {r["submission_id"]: r for r in report_rows}
    findings: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in finding_rows:
        findings[f["submission_id"]].append(f)
    for outcome in outcomes:
        sid = outcome["submission_id"]
        try:
            record_results(ctx.engine, [outcome], [reports[sid]] if sid in reports else [], findings[sid])
            continue
        except REFUSED_VALUE as exc:
            if _outage(exc):
                raise
            reason = getattr(exc, "orig", None) or exc
            log.warning("the warehouse refused the rows of %s: %s", sid, reason)
            detail = clean_text(f"kho dữ liệu không lưu được số liệu của tệp: {reason}", keep_newlines=False)[:200]
        own = findings[sid][0] if findings[sid] else {}
        check = load_catalogue(ctx.settings.expectations_dir)["TH-S-011"]
        finding = make_finding(check, sid, {"file_name": own.get("file_name") or "", "detail": detail})
        row = {**finding.as_dict(), "commune_code": own.get("commune_code"), "file_name": own.get("file_name"),
               "seq": 1}
        outcome.update(status=REJECTED, error_count=1, warning_count=0)
        record_results(ctx.engine, [outcome], [], [row])


def with_origin(finding: Finding, item: InboxFile) -> Finding:
    return dataclasses.replace(finding, commune_code=item.submitted_for, file_name=item.file_name)


def ingest_batch(settings: Settings, period_id: str, batch: str, run_id: str | None = None,
                 reprocess: bool = False) -> dict[str, Any]:
    ctx = PeriodContext.open(settings, period_id)
    items = in_batch(ctx.inbox.list(period_id), batch)
    return {"batch": batch, **ingest(ctx, items, run_dir=f"{run_directory(period_id, run_id)}/{batch}",
                                     reprocess=reprocess)}


def run_directory(period_id: str, run_id: str | None = None) -> str:
    """Where a run's outputs go, relative to the outputs: <period>/runs/<run id> (a timestamp outside Airflow)."""
    run_id = run_id or dt.datetime.now(dt.UTC).strftime("cli-%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return f"{period_id}/runs/{safe}"


def consolidate(settings: Settings, period_id: str, run_id: str | None = None,
                now: dt.datetime | None = None, inbox_keys: Sequence[str] | None = None) -> dict[str, Any]:
    """Roll the period's accepted reports up the hierarchy and publish it in one transaction; then check
    the ledger invariant and log the run."""
    ctx = PeriodContext.open(settings, period_id)
    period, hierarchy, clock = ctx.period, ctx.hierarchy, Stopwatch()
    with clock.stage("load"):
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
            on_time=any(utc(s["received_at"]) <= period.commune_deadline for s in received),
        ))
    with clock.stage("rollup"):
        facts = rollup(ctx.spec, hierarchy, period, accepted_values, commune_statuses)
    run_id = run_id or f"cli-{uuid.uuid4().hex[:12]}"
    with clock.stage("publish"):
        publication = publish_period(ctx.engine, period.id, facts, statuses, _reference_rows(ctx), run_id, now)
    with clock.stage("check"):
        keys = inbox_keys if inbox_keys is not None else [i.key for i in ctx.inbox.list(period.id)]
        ledger = check_invariant(keys, read_period_submissions(ctx.engine, period.id))
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
        "seconds": clock.seconds,
    }
    ctx.outputs.write(f"{period.id}/summary.json", json.dumps(summary, indent=1).encode())
    log_run(ctx.engine, run_id, "consolidate", period.id, len(submissions), json.dumps(ledger), at=now)
    log.info("published %s: %s", period.id, summary)
    return summary


def run_period(settings: Settings, period_id: str, progress: Progress = _no_progress, reprocess: bool = False,
               now: dt.datetime | None = None) -> dict[str, Any]:
    """The whole period in-process: every new file in one validation batch, then consolidation."""
    ctx = PeriodContext.open(settings, period_id)
    items = ctx.inbox.list(period_id)
    ingest_summary, annotations = start_ingest(ctx, items, progress, run_directory(period_id), reprocess)
    summary = {"ingest": ingest_summary,
               **consolidate(settings, period_id, now=now, inbox_keys=[i.key for i in items])}
    with _timed(summary, "annotate"):  # the workbooks were being annotated while the period was published
        annotations.finish()
    try:
        summary["email"] = notify(settings, period_id, now)
    except MailError as exc:  # the data is published; the unsent e-mails go out with the next run
        log.warning("e-mail not sent: %s", exc)
        summary["email"] = {"error": str(exc)}
    return summary


def _reference_rows(ctx: PeriodContext) -> dict[str, list[dict[str, Any]]]:
    spec = ctx.spec
    funding = spec.section("funding")
    indicators = [{"section": s, "indicator": r.key, "number": r.number or "", "label": r.label,
                   "dimension": r.group, "unit": r.unit} for s in ("deprivations", "outputs")
                  for r in spec.section(s).grid_rows]
    return {
        "dim_unit": _unit_rows(ctx.hierarchy),
        "dim_period": _period_rows(ctx.calendar),
        "dim_component": [{"component": r.key, "number": r.number or "", "label": r.label}
                          for r in funding.grid_rows],
        "dim_indicator": indicators,
    }


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
             "opens_at": utc(p.opens_at), "commune_deadline": utc(p.commune_deadline),
             "closes_at": utc(p.closes_at),
             "district_deadline": utc(p.district_deadline) if p.district_deadline else None,
             "province_deadline": utc(p.province_deadline) if p.province_deadline else None}
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


def notify(settings: Settings, period_id: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Send the e-mails the period owes at `now` and has not sent yet (no-op without an SMTP connection).

    Raises MailError when the SMTP server fails; what was sent stays recorded, the rest goes next time."""
    if not smtp_configured():
        log.info("no %s connection: e-mail is off", SMTP_CONN_ID)
        return {"email": "off"}
    ctx = PeriodContext.open(settings, period_id)
    plan = owed(ctx.engine, ctx.hierarchy, ctx.calendar, ctx.period, load_directory(settings.contacts_path),
                now or dt.datetime.now(dt.UTC), ctx.outputs, settings.scope)
    for kind, ref in plan.without_recipient:
        log.warning("%s %s %s: nobody in the contacts directory to send it to", period_id, kind, ref)
    counts = send_all(ctx.engine, plan.emails, settings.mail_from)
    log.info("e-mail for %s: %s", period_id, counts)
    return {**counts, "without_recipient": len(plan.without_recipient), "unbuilt": len(plan.failed)}


def publish_reports(settings: Settings, period_id: str) -> list[str]:
    """After a consolidation: each province's consolidated report (JSON and text), the consolidated workbooks
    of the province and its districts, and the province's charts, into the outputs."""
    from tonghop.report import write_unit_reports
    from tonghop.targets import load_targets

    ctx = PeriodContext.open(settings, period_id)
    top = ctx.hierarchy.levels[0]
    if settings.scope:
        provinces = [ctx.hierarchy.ancestor(settings.scope, top)]
    else:
        provinces = sorted(u.code for u in ctx.hierarchy.at_level(top))
    written = write_unit_reports(ctx.engine, ctx.spec, ctx.hierarchy, period_id, provinces, ctx.outputs,
                                 load_targets(settings.targets_path), ctx.calendar.timezone)
    log.info("reports of %s: %s file(s) written", period_id, len(written))
    return written
