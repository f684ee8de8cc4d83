"""Ingestion: the new files of a batch are read and hashed, recorded in the ledger, validated in one Great
Expectations batch, and stored with their values and findings; their annotated copies follow.

Reading runs in isolated worker processes (tonghop.reader), what can still go wrong after reading is
contained file by file (tonghop.containment), annotated copies are written in the background
(tonghop.annotations). The warehouse is the record: consolidation works from it, never from a batch.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import shutil
import tempfile
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from tonghop.annotations import Annotations
from tonghop.containment import check_placement, record_contained, validate_contained
from tonghop.findings import ERROR, WARNING, Finding
from tonghop.inbox import InboxFile, in_batch, pack_batches
from tonghop.ledger import Arrival, classify, is_known
from tonghop.parse import ParsedReport
from tonghop.period import PeriodContext, Progress, Stopwatch, no_progress, run_directory
from tonghop.reader import FileRead, read_files
from tonghop.spec import TemplateSpec
from tonghop.startup import import_paused
from tonghop.validate import H1_FIELDS, HISTORY_FIELDS, BatchValidator, DataDocs, History
from tonghop.vocabulary import ACCEPTED, DUPLICATE, IMPORTED, LIVE, RECEIVED, REJECTED, utc

log = logging.getLogger(__name__)


def list_batches(ctx: PeriodContext, reprocess: bool = False) -> list[str]:
    """Batches of province folders holding files the ledger does not know yet (every file, to reprocess),
    about `settings.batch_files` files each: the DAG maps one task per batch, never per commune."""
    items = pending(ctx.inbox.list(ctx.period.id), ctx.warehouse.read_period_submissions(ctx.period.id), reprocess)
    return list(pack_batches(items, ctx.settings.batch_files))


def pending(items: Sequence[InboxFile], ledger_rows: Sequence[Mapping[str, Any]],
            reprocess: bool = False) -> list[InboxFile]:
    """The files still to process: new ones, and those a run recorded but died before processing."""
    if reprocess:
        return list(items)
    known = {r["source_key"]: r for r in ledger_rows}
    unfinished = {r["source_key"] for r in ledger_rows if r["status"] == RECEIVED}
    return [i for i in items if not is_known(i, known) or i.key in unfinished]


def _report_row(spec: TemplateSpec, report: ParsedReport, counts: list[str], exact: list[str]) -> dict[str, Any]:
    """The `report` table's row of a parsed report (`counts`, `exact`: the spec's `_typed_keys`)."""
    values = report.values
    row: dict[str, Any] = {"submission_id": report.submission_id}
    row.update({f.key: values.get(f.key) for f in spec.fields})
    for key in counts:
        if not isinstance(row[key], int):
            row[key] = None  # a fractional "count" is reported as a finding; the column holds whole numbers only
    for key in exact:
        if row[key] is not None and not isinstance(row[key], Decimal):
            row[key] = Decimal(row[key])
    return row


def _typed_keys(spec: TemplateSpec) -> tuple[list[str], list[str]]:
    """The keys of the count fields, and of the amount and rate fields (exact decimals in the warehouse)."""
    return ([f.key for f in spec.fields if f.type == "count"],
            [f.key for f in spec.fields if f.type in ("amount", "rate")])


def history_for(ctx: PeriodContext, communes: Sequence[str]) -> History:
    """The same communes' accepted reports of the previous period, from the warehouse. When the previous
    period ran on the map before a reform, a commune's previous figures are the sums of its predecessors'
    (all of them must have an accepted report); a split predecessor counts with its share, an estimate."""
    previous = ctx.calendar.previous(ctx.period)
    if previous is None:
        return History()
    same_year_h1 = previous.kind == "H1" and ctx.period.kind == "FY" and previous.year == ctx.period.year
    before = ctx.settings.edition_for(previous).id
    if before == ctx.edition.id:
        return History(period_id=previous.id, reports=ctx.warehouse.read_accepted_reports(previous.id, communes),
                       is_first_half_of_same_year=same_year_h1)
    correspondence = ctx.correspondence
    if correspondence is None or correspondence.old_edition != before:
        return History(period_id=previous.id)  # no known way across: nothing to compare with
    links = {c: correspondence.predecessors(c) for c in communes}
    old_reports = ctx.warehouse.read_accepted_reports(previous.id, sorted({x.old_code for ls in links.values()
                                                                           for x in ls}))
    old_map = ctx.settings.editions.hierarchy(before)
    reports, labels, estimated = {}, {}, set()
    for commune, predecessors in links.items():
        if not predecessors or any(x.old_code not in old_reports for x in predecessors):
            continue
        reports[commune] = {key: round(sum(x.share * (old_reports[x.old_code].get(key) or 0) for x in predecessors))
                            for key in (*HISTORY_FIELDS, *H1_FIELDS)}
        names = ", ".join(old_map[x.old_code].name if x.old_code in old_map else x.old_code for x in predecessors)
        whole = all(x.whole for x in predecessors)
        labels[commune] = (f"{previous.id}, cộng các xã trước sắp xếp: {names}" if whole else
                           f"{previous.id}, ước tính từ các xã trước sắp xếp theo tỷ lệ diện tích: {names}")
        if not whole:
            estimated.add(commune)
    return History(period_id=previous.id, reports=reports, is_first_half_of_same_year=same_year_h1,
                   labels=labels, estimated=frozenset(estimated))


def ingest(ctx: PeriodContext, items: Sequence[InboxFile], progress: Progress = no_progress,
           run_dir: str | None = None, reprocess: bool = False) -> dict[str, Any]:
    """Record and process the new files of a batch (see `start_ingest`), annotated workbooks included."""
    summary, after = start_ingest(ctx, items, progress, run_dir, reprocess)
    with Stopwatch(summary["seconds"]).stage("annotate"):
        after.finish()
    return summary


class AfterBatch:
    """What a batch still writes in the background when its processing is stored: the annotated workbooks and the
    Data Docs. `finish()` waits for both, records where the workbooks went, and puts the Data Docs in the outputs
    (the batch's summary then links them, or says there are none)."""

    def __init__(self, ctx: PeriodContext, annotations: Annotations, docs: DataDocs | None, docs_dir: Path | None,
                 docs_relative: str, scratch: str, summary: dict[str, Any]) -> None:
        self.ctx, self.annotations, self.docs, self.docs_dir = ctx, annotations, docs, docs_dir
        self.docs_relative, self.scratch, self.summary = docs_relative, scratch, summary

    def finish(self) -> dict[str, str]:
        """submission id → path of its annotated workbook in the outputs."""
        try:
            if self.docs_dir is not None:
                if self.docs is not None and self.docs.finish() is not None:
                    uri = self.ctx.outputs.write_tree(self.docs_relative, self.docs_dir) + "/index.html"
                    log.info("Data Docs of this batch: %s", uri)
                else:  # the batch was validated file by file (see containment), or the build failed
                    self.summary["data_docs"] = None
            return self.annotations.finish()
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)


def start_ingest(ctx: PeriodContext, items: Sequence[InboxFile], progress: Progress = no_progress,
                 run_dir: str | None = None, reprocess: bool = False) -> tuple[dict[str, Any], AfterBatch]:
    """Record and process the files of a batch that the ledger does not know yet (all of them with `reprocess`);
    the annotated workbooks and the Data Docs are still being written when this returns (`AfterBatch.finish()`).

    New files are read and hashed, then recorded (`received`, or `duplicate` for a byte-identical re-send)
    before their processing is stored; the others are validated in one GX batch and end `accepted` or
    `rejected`. A crash before the recording loses nothing: the files stay new for the next run.
    With `run_dir` (relative to the outputs), the batch's GX Data Docs are built in `run_dir/data_docs`;
    reports with findings get an annotated copy of their workbook under `<period>/annotated/`."""
    spec, clock = ctx.spec, Stopwatch()
    # Importing Great Expectations costs seconds; do it while the files are read in other processes (with the
    # collector paused, as a command's own imports: tonghop.startup). It imports sqlalchemy.orm, which SQLAlchemy
    # also imports lazily in this thread (reflection on PostgreSQL): import it first, or both threads may meet it
    # half-initialised ("partially initialized module", seen once in CI).
    importlib.import_module("sqlalchemy.orm")
    gx_import = threading.Thread(target=import_paused, args=(("great_expectations",),), daemon=True)
    ledger_rows = ctx.warehouse.read_period_submissions(ctx.period.id)
    known_ids = {r["submission_id"]: r for r in ledger_rows}
    todo = pending(items, ledger_rows, reprocess)
    # Every file processed now is described, those already in the ledger too: a file a killed run recorded but
    # never processed, or one reprocessed, keeps the received time its upload channel wrote (not the store's).
    todo = [ctx.inbox.describe(i) for i in todo]
    with clock.stage("read"):
        reads = check_placement(ctx, read_files(ctx.settings, todo, progress, after_start=gx_import.start))
    reads = [as_recorded(r, known_ids) for r in reads]
    fresh = [r for r in reads
             if r.submission_id not in known_ids or known_ids[r.submission_id]["status"] == RECEIVED
             or (reprocess and known_ids[r.submission_id]["status"] != DUPLICATE)]
    arrivals = classify([Arrival(r.item, r.sha256, r.submission_id) for r in fresh], ledger_rows)
    with clock.stage("record"):
        ctx.warehouse.register_files([ledger_row(ctx, a) for a in arrivals
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
            structural.append(r.finding.placed(r.item))
    history = history_for(ctx, sorted({item.submitted_for for item, _ in parsed if item.submitted_for}))
    gx_import.join()
    scratch = tempfile.mkdtemp(prefix="tonghop-docs-")  # Data Docs for S3 outputs, until AfterBatch uploads them
    with clock.stage("validate"):
        docs_dir = None
        if run_dir and parsed:
            docs_dir = ctx.outputs.local_dir(f"{run_dir}/data_docs") or Path(scratch)
        validator = BatchValidator(spec, ctx.hierarchy, ctx.settings.expectations_dir, ctx.retired)
        validation, parsed = validate_contained(validator, ctx.period, parsed, history, docs_dir)
        docs_uri = ctx.outputs.uri(f"{run_dir}/data_docs") + "/index.html" if docs_dir else None
    findings = structural + validation.findings
    by_submission: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_submission[f.submission_id].append(f)
    to_annotate = [(item, report.submission_id) for item, report in parsed if by_submission.get(report.submission_id)]
    annotations = Annotations(ctx, to_annotate, by_submission)  # forks its workers: before any thread of ours
    outcomes, finding_rows = [], []
    for sid in sorted(to_process):
        own = by_submission.get(sid, [])
        errors = sum(f.severity == ERROR for f in own)
        outcomes.append({"submission_id": sid, "status": REJECTED if errors else ACCEPTED,
                         "error_count": errors, "warning_count": sum(f.severity == WARNING for f in own),
                         "annotated_path": None})
        finding_rows.extend({**f.as_dict(), "seq": seq} for seq, f in enumerate(own, start=1))
    with clock.stage("record"):
        counts, exact = _typed_keys(spec)
        record_contained(ctx, outcomes, [_report_row(spec, r, counts, exact) for _, r in parsed], finding_rows)
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
    return summary, AfterBatch(ctx, annotations, validation.docs, docs_dir, f"{run_dir}/data_docs", scratch, summary)


def as_recorded(read: FileRead, known: Mapping[str, Mapping[str, Any]]) -> FileRead:
    """An imported file (tonghop.history_import) was received when its ledger row says: its copy in the inbox
    was made on the day of the import (an S3 object's LastModified; a local file's mtime, unless kept), so
    the window check and on-time follow the ledger, on every later run too. Same place and same content
    (the submission id) is the same file; anything else at that place is a live file and keeps the inbox's
    time, and so does every live file."""
    row = known.get(read.submission_id)
    if row is not None and row["origin"] == IMPORTED:
        read.item = dataclasses.replace(read.item, received_at=utc(row["received_at"]))
    return read


def ledger_row(ctx: PeriodContext, a: Arrival, **provenance: Any) -> dict[str, Any]:
    """The ledger row of a newly arrived file, received at `a.item.received_at`; `provenance`: `origin`,
    `imported_by` and `import_reason` of a file imported from history (default: a live file)."""
    item, period = a.item, ctx.period
    return {
        "submission_id": a.submission_id, "period_id": period.id, "submitted_for": item.submitted_for,
        "province_code": item.province_code, "source_key": item.key, "file_name": item.file_name,
        "sha256": a.sha256, "size_bytes": item.size, "source_version": item.version,
        "received_at": utc(item.received_at),
        "on_time": period.on_time(item.received_at), "status": DUPLICATE if a.duplicate_of else RECEIVED,
        "duplicate_of": a.duplicate_of, "error_count": 0, "warning_count": 0, "annotated_path": None,
        "map_edition": ctx.edition.id, "origin": LIVE, **provenance,
    }


def ingest_batch(ctx: PeriodContext, batch: str, run_id: str | None = None, reprocess: bool = False
                 ) -> dict[str, Any]:
    """Ingest one batch of `list_batches` (a DAG's mapped task): its Data Docs under the run's directory."""
    items = in_batch(ctx.inbox.list(ctx.period.id), batch)
    return {"batch": batch, **ingest(ctx, items, run_dir=f"{run_directory(ctx.period.id, run_id)}/{batch}",
                                     reprocess=reprocess)}
