"""One bad file costs that file alone, after reading too: a file put under another province's folder, a
report whose frames break the batch validation, and a value the database refuses are each set aside with
their own finding (TH-S-012, TH-S-011) while the rest of the batch goes on. Reading itself is contained
by tonghop.reader's isolated workers."""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tonghop.calendar import Period
from tonghop.findings import Finding, make_finding
from tonghop.inbox import InboxFile
from tonghop.parse import ParsedReport
from tonghop.period import PeriodContext
from tonghop.reader import FileRead
from tonghop.safety import clean_text
from tonghop.validate import BatchValidator, History, ValidationResult
from tonghop.vocabulary import REJECTED

log = logging.getLogger(__name__)


def check_placement(ctx: PeriodContext, reads: list[FileRead]) -> list[FileRead]:
    """A file counts for the commune whose folder it is in only if that folder is under the commune's own
    province: one put under another province's folder is rejected (TH-S-012), never counted."""
    top = ctx.hierarchy.levels[0]
    check = ctx.catalogue["TH-S-012"]
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
        return validator.validate(period, parsed, history, docs_dir=docs_dir, docs_in_background=True), parsed
    except Exception:
        log.exception("validating a batch of %s reports failed; looking for the report that breaks it", len(parsed))
    catalogue = validator.catalogue
    aside: list[Finding] = []

    def set_aside(item: InboxFile, report: ParsedReport, exc: Exception) -> None:
        detail = clean_text(f"kiểm tra số liệu không thực hiện được: {type(exc).__name__}: {exc}",
                            keep_newlines=False)[:200]
        aside.append(make_finding(catalogue["TH-S-011"], report.submission_id,
                                   {"file_name": item.file_name, "detail": detail}).placed(item))

    kept = []
    for item, report in parsed:
        try:
            validator.frames(period, [(item, report)], history)
            kept.append((item, report))
        except Exception as exc:  # noqa: BLE001 — this report's finding says what failed
            set_aside(item, report, exc)
    try:
        result = validator.validate(period, kept, history, docs_dir=docs_dir, docs_in_background=True)
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
        ctx.warehouse.record_results(outcomes, report_rows, finding_rows)
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
            ctx.warehouse.record_results([outcome], [reports[sid]] if sid in reports else [], findings[sid])
            continue
        except REFUSED_VALUE as exc:
            if _outage(exc):
                raise
            reason = getattr(exc, "orig", None) or exc
            log.warning("the warehouse refused the rows of %s: %s", sid, reason)
            detail = clean_text(f"kho dữ liệu không lưu được số liệu của tệp: {reason}", keep_newlines=False)[:200]
        own = findings[sid][0] if findings[sid] else {}
        check = ctx.catalogue["TH-S-011"]
        finding = make_finding(check, sid, {"file_name": own.get("file_name") or "", "detail": detail})
        row = {**finding.as_dict(), "commune_code": own.get("commune_code"), "file_name": own.get("file_name"),
               "seq": 1}
        outcome.update(status=REJECTED, error_count=1, warning_count=0)
        ctx.warehouse.record_results([outcome], [], [row])
