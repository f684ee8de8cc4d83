"""Loading past periods: workbooks a period received before tonghop ran, with the time each really arrived.

    manifest.csv (file, commune_code, received_at)
       │  each row checked; a bad row is reported and skipped, the others go on
       ▼
    a copy in the commune's inbox folder under a name of its own (<local time>-<sha256[:8]>-<name>), the
    real time as the local file's mtime / the S3 object's `received-at`
       ▼
    its ledger row, registered before ingestion: origin `imported`, who and why, received_at = the
    manifest's time, on_time from it; `duplicate` when the commune had sent the same bytes by then
       ▼
    tonghop.ingest (the same reading, checks, findings and annotated copies as a live file), then
    tonghop.consolidate

Ingestion takes an imported file's received time from its ledger row on every run (`ingest.as_recorded`), so
the window check (TH-A-006) and on-time follow the manifest's times, `--reprocess` included; a live file's
time is the inbox's, as always. A row whose file is byte-identical to one already imported for its commune
changes nothing: importing the same manifest again is a no-op. A file byte-identical to one its commune sent
earlier (live, or imported) is recorded as a duplicate of it, as ingestion records a re-send; a live copy sent
later than the history (the same files put in the inbox today) does not make the history a duplicate. A
different file for the same commune is a resubmission like any other (the newest received valid file wins,
tonghop.ledger.final_statuses).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tonghop.consolidate import consolidate as publish
from tonghop.findings import ERROR
from tonghop.inbox import InboxFile, inbox_relative_path
from tonghop.ingest import ingest, ledger_row, pending
from tonghop.ledger import Arrival, submission_id
from tonghop.period import PeriodContext, Progress, no_progress, run_directory
from tonghop.safety import MAX_COMPRESSED, clean_text
from tonghop.vocabulary import DUPLICATE, IMPORTED, RECEIVED, REJECTED, utc

log = logging.getLogger(__name__)

COLUMNS = ("file", "commune_code", "received_at")


class HistoryImportError(ValueError):
    """The import cannot start (no manifest, missing columns, nobody named): nothing was changed."""


@dataclass(frozen=True)
class HistoryFile:
    """A manifest row that can be imported: the workbook, the commune it was sent for, when it arrived."""

    line: int
    path: Path
    commune: str
    received_at: dt.datetime  # aware, UTC
    sha256: str  # the content is read again when copied: a national history does not fit in memory


@dataclass
class ImportResult:
    period_id: str
    manifest: Path
    rows: int = 0  # data rows in the manifest
    problems: list[str] = field(default_factory=list)  # one line per row skipped, in English
    already: int = 0  # rows whose file was imported before: nothing to do
    new: list[str] = field(default_factory=list)  # submission ids registered by this import
    resumed: list[str] = field(default_factory=list)  # imported earlier, not processed yet (a run died)
    files: list[dict[str, Any]] = field(default_factory=list)  # what became of the new and resumed files
    ingest: dict[str, Any] | None = None
    consolidation: dict[str, Any] | None = None
    waiting: int = 0  # other files in the inbox not processed yet: consolidation left to `tonghop run`

    @property
    def changed(self) -> bool:
        return bool(self.new or self.resumed)


def import_history(ctx: PeriodContext, manifest: Path, by: str, reason: str, consolidate: bool = True,
                   progress: Progress = no_progress, now: dt.datetime | None = None) -> ImportResult:
    """Import the files a manifest lists into the period (see the module's doc). Raises HistoryImportError
    before changing anything when the manifest or who/why is missing; a bad row is reported in
    `problems` and skipped."""
    by, reason = _required(by, "who imports (--by)"), _required(reason, "why (--reason)")
    now = now or dt.datetime.now(dt.UTC)
    result = ImportResult(ctx.period.id, manifest)
    files = read_manifest(ctx, manifest, now, result)
    ledger = ctx.warehouse.read_period_submissions(ctx.period.id)
    todo = _not_yet_imported(files, ledger, result)
    rows = _copy_into_inbox(ctx, todo, ledger, by, reason, result)
    if rows:
        ctx.warehouse.register_files(rows)
    result.new = [r["submission_id"] for r in rows]
    unfinished = _unfinished_imports(ctx)
    result.resumed = [sid for sid in unfinished if sid not in set(result.new)]
    if not result.changed:
        return result  # nothing new: no ingestion, no publication
    run_id = f"import-{now:%Y%m%dT%H%M%SZ}"
    if unfinished:  # none when every new file is a duplicate
        result.ingest = ingest(ctx, _listed(ctx, set(unfinished.values())), progress,
                               run_dir=run_directory(ctx.period.id, run_id))
    if consolidate:
        # The ledger invariant checked after publishing wants every file of the inbox processed: when live
        # files are waiting, `tonghop run` processes them and consolidates.
        inbox, ledger = ctx.inbox.list(ctx.period.id), ctx.warehouse.read_period_submissions(ctx.period.id)
        result.waiting = len(pending(inbox, ledger))
        if not result.waiting:
            result.consolidation = publish(ctx, run_id=run_id, inbox_keys=[i.key for i in inbox])
    result.files = _outcomes(ctx, [*result.new, *result.resumed])
    log.info("imported %s new file(s) into %s from %s (%s already imported, %s row(s) skipped)",
             len(result.new), ctx.period.id, manifest, result.already, len(result.problems))
    return result


def _required(text: str | None, what: str) -> str:
    cleaned = clean_text(text or "", keep_newlines=False).strip()
    if not cleaned:
        raise HistoryImportError(f"say {what}: it is recorded with every imported file")
    return cleaned


# --- the manifest ---

def read_manifest(ctx: PeriodContext, manifest: Path, now: dt.datetime, result: ImportResult) -> list[HistoryFile]:
    """The rows that can be imported, earliest received first; each bad row becomes one line of
    `result.problems`. Paths are relative to the manifest's folder unless absolute; a time without an offset
    is local time (the calendar's time zone)."""
    if not manifest.is_file():
        raise HistoryImportError(f"no manifest at {manifest}")
    files = []
    try:
        with manifest.open(encoding="utf-8-sig", newline="") as handle:  # -sig: Excel's "CSV UTF-8" has a BOM
            reader = csv.DictReader(handle)
            header = [(name or "").strip() for name in reader.fieldnames or []]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise HistoryImportError(f"{manifest}: missing column(s) {', '.join(missing)}; "
                                         f"the manifest's columns are {', '.join(COLUMNS)}")
            reader.fieldnames = header
            for raw in reader:
                result.rows += 1
                row = {k: (v or "").strip() for k, v in raw.items() if k in COLUMNS}
                problem, item = _row(ctx, manifest, reader.line_num, row, now)
                if problem:
                    result.problems.append(f"{manifest.name} line {reader.line_num}: {problem}")
                else:
                    files.append(item)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise HistoryImportError(f"{manifest} is not a UTF-8 CSV file ({exc}); save it as \"CSV UTF-8\"") from None
    return sorted(files, key=lambda f: (f.received_at, f.line))


def _row(ctx: PeriodContext, manifest: Path, line: int, row: Mapping[str, str], now: dt.datetime
         ) -> tuple[str | None, HistoryFile | None]:
    """(problem, None) for a bad row, (None, file) for a good one."""
    empty = [c for c in COLUMNS if not row.get(c)]
    if empty:
        return f"empty {', '.join(empty)}", None
    hierarchy = ctx.hierarchy
    commune = hierarchy.canonical_code(row["commune_code"], hierarchy.leaf_level)
    if commune not in hierarchy or hierarchy[commune].level != hierarchy.leaf_level:
        return (f"commune_code {row['commune_code']!r} is not a {hierarchy.leaf_level} of the period's map "
                f"({ctx.edition.id})"), None
    try:
        received_at = parse_received_at(row["received_at"], ctx.calendar.timezone)
    except ValueError as exc:
        return str(exc), None
    if received_at > now:
        return f"received_at {row['received_at']!r} is in the future", None
    path = Path(row["file"]).expanduser()
    path = path if path.is_absolute() else manifest.parent / path
    if not path.is_file():
        return f"no file at {path}", None
    if path.stat().st_size > MAX_COMPRESSED:  # nothing that large can be a commune's workbook
        return f"{path} is larger than {MAX_COMPRESSED // (1024 * 1024)} MB, more than a commune can send", None
    return None, HistoryFile(line, path, commune, received_at, _sha256(path))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_received_at(text: str, tz: dt.tzinfo) -> dt.datetime:
    """An ISO 8601 time as UTC; without an offset it is local time in `tz`. A bare date is refused: whether
    it means the start or the end of the day decides whether the file was on time."""
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        pass
    else:
        raise ValueError(f"received_at {text!r} is a date without a time of day")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"received_at {text!r} is not an ISO 8601 time "
                         "(e.g. 2024-05-03T10:15 local, or 2024-05-03T10:15+07:00)") from None
    return utc(moment.replace(tzinfo=tz) if moment.tzinfo is None else moment)


# --- into the inbox and the ledger ---

def _not_yet_imported(files: Sequence[HistoryFile], ledger: Sequence[Mapping[str, Any]],
                      result: ImportResult) -> list[HistoryFile]:
    """The files not imported for their commune before (byte-identical content), each once."""
    seen = {(r["submitted_for"], r["sha256"]): None for r in ledger if r["origin"] == IMPORTED}
    todo = []
    for f in files:
        key = (f.commune, f.sha256)
        if key not in seen:
            seen[key] = f.line
            todo.append(f)
        elif seen[key] is None:
            result.already += 1
        else:
            result.problems.append(f"{result.manifest.name} line {f.line}: the same file as line {seen[key]} "
                                   f"for commune {f.commune}; imported once, with the earlier time")
    return todo


def inbox_key(ctx: PeriodContext, f: HistoryFile) -> str:
    """Where an imported file goes: its commune's folder, under a name no live file or other import has (the
    local received time and the content's hash before the original name, which officials recognise)."""
    local = f.received_at.astimezone(ctx.calendar.timezone)
    province = ctx.hierarchy.ancestor(f.commune, ctx.hierarchy.levels[0])
    name = f"{local:%Y%m%d-%H%M%S}-{f.sha256[:8]}-{f.path.name}"
    return inbox_relative_path(ctx.period.id, province, f.commune, name).as_posix()


def _copy_into_inbox(ctx: PeriodContext, files: Sequence[HistoryFile], ledger: Sequence[Mapping[str, Any]],
                     by: str, reason: str, result: ImportResult) -> list[dict[str, Any]]:
    """Copy the files into the inbox, each with its real received time, and return their ledger rows."""
    if not files:
        return []
    listed = {i.key: i for i in ctx.inbox.list(ctx.period.id)}
    recorded = {r["source_key"] for r in ledger}
    placed: dict[str, HistoryFile] = {}
    for f in files:
        key, content = inbox_key(ctx, f), f.path.read_bytes()
        if hashlib.sha256(content).hexdigest() != f.sha256:
            result.problems.append(f"{result.manifest.name} line {f.line}: {f.path} changed while it was being "
                                   "imported; nothing was changed for this row")
        elif key in recorded or (key in listed and ctx.inbox.read(listed[key]) != content):
            result.problems.append(f"{result.manifest.name} line {f.line}: the inbox already holds another "
                                   f"file at {key}; nothing was changed for this row")
        else:
            ctx.inbox.put(key, content, f.received_at)
            placed[key] = f
    rows = []
    for item in _listed(ctx, set(placed)):
        f = placed[item.key]
        item = InboxFile(**{**item.__dict__, "received_at": f.received_at})  # the inbox says: today
        arrival = Arrival(item, f.sha256, submission_id(item, f.sha256), _sent_before(item, f.sha256, ledger))
        rows.append(ledger_row(ctx, arrival, origin=IMPORTED, imported_by=by, import_reason=reason))
    return rows


def _sent_before(item: InboxFile, sha256: str, ledger: Sequence[Mapping[str, Any]]) -> str | None:
    """The submission this file re-sends: the first byte-identical file its commune folder received by the
    file's own time (the key ledger.classify uses). Only earlier ones count, unlike for a live arrival,
    which is always the latest: a copy put in the inbox today does not make the history a re-send of it."""
    same = [r for r in ledger if r["status"] != DUPLICATE and r["sha256"] == sha256
            and (r["province_code"], r["submitted_for"]) == (item.province_code, item.submitted_for)
            and utc(r["received_at"]) <= item.received_at]
    return min(same, key=lambda r: (utc(r["received_at"]), r["source_key"]))["submission_id"] if same else None


def _listed(ctx: PeriodContext, keys: set[str]) -> list[InboxFile]:
    """The inbox's own description of these files (size, mtime or ETag), as every later run will see them."""
    items = [i for i in ctx.inbox.list(ctx.period.id) if i.key in keys]
    gone = keys - {i.key for i in items}
    if gone:
        raise RuntimeError(f"{len(gone)} imported file(s) are not in the inbox after copying, e.g. {sorted(gone)[:3]}")
    return items


def _unfinished_imports(ctx: PeriodContext) -> dict[str, str]:
    """submission id → inbox key of the imported files still `received`: this import's, and any an earlier
    import left unprocessed when it died."""
    return {r["submission_id"]: r["source_key"] for r in ctx.warehouse.read_period_submissions(ctx.period.id)
            if r["origin"] == IMPORTED and r["status"] == RECEIVED}


def _outcomes(ctx: PeriodContext, ids: Sequence[str]) -> list[dict[str, Any]]:
    """File, commune, received time, on-time, final status and the error checks of each imported file."""
    wanted = set(ids)
    out = []
    for r in ctx.warehouse.read_period_submissions(ctx.period.id):
        if r["submission_id"] not in wanted:
            continue
        checks = (sorted({f["check_id"] for f in ctx.warehouse.read_findings(r["submission_id"])
                          if f["severity"] == ERROR}) if r["status"] == REJECTED else [])
        out.append({"submission_id": r["submission_id"], "file_name": r["file_name"], "commune": r["submitted_for"],
                    "received_at": utc(r["received_at"]), "on_time": bool(r["on_time"]), "status": r["status"],
                    "errors": checks})
    return sorted(out, key=lambda o: (o["commune"], o["received_at"]))
