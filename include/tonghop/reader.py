"""Reading a batch of inbox files: hash, identify and parse each one in isolated worker processes.

Whatever a file does to its reader ends as that file's structural finding: a parse that raises (TH-S-011),
or a reader that ran out of memory or time or died (TH-S-010). Only a failure to fetch a file from the inbox
stops the batch (the store is down: nothing is recorded and the next run tries again).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tonghop.config import Settings
from tonghop.findings import Finding, load_catalogue, make_finding
from tonghop.inbox import InboxFile
from tonghop.isolation import CRASHED, MEMORY, TIMEOUT, Limits, run_isolated
from tonghop.ledger import submission_id
from tonghop.parse import ParsedReport, StructureError, read_report
from tonghop.safety import clean_text
from tonghop.spec import load_spec
from tonghop.storage import open_inbox

PARALLEL_FROM = 400  # files; below this one worker process reads them all


class InboxReadError(RuntimeError):
    """A file could not be fetched from the inbox (the store, not the file, failed)."""


@dataclass
class FileRead:
    """One file read from the inbox: its identity, and its parsed report or the structural finding."""

    item: InboxFile
    sha256: str
    submission_id: str
    report: ParsedReport | None = None
    finding: Finding | None = None


def _finding(expectations_dir: Path, check: str, sid: str, item: InboxFile, detail: str) -> Finding:
    catalogue = load_catalogue(expectations_dir)
    return make_finding(catalogue[check], sid, {"file_name": item.file_name, "detail": detail})


class _ReadOne:
    """The worker's task: one file → FileRead (an InboxReadError's text when the inbox fails)."""

    def __init__(self, inbox_location: str, expectations_dir: Path) -> None:
        self.inbox_location, self.expectations_dir = inbox_location, expectations_dir

    @functools.cached_property
    def inbox(self) -> Any:
        return open_inbox(self.inbox_location)

    def __call__(self, item: InboxFile) -> FileRead | str:
        try:
            content = self.inbox.read(item)
        except Exception as exc:  # noqa: BLE001 — handed to the parent, which stops the batch with it
            return f"{type(exc).__name__}: {exc}"
        return parse_content(content, item, self.expectations_dir)


def parse_content(content: bytes, item: InboxFile, expectations_dir: Path) -> FileRead:
    sha = hashlib.sha256(content).hexdigest()
    sid = submission_id(item, sha)
    read = FileRead(item, sha, sid)
    if item.submitted_for is None:
        read.finding = _finding(expectations_dir, "TH-S-004", sid, item, item.key)
        return read
    try:
        read.report = read_report(content, sid, item.file_name, load_spec(), load_catalogue(expectations_dir))
    except StructureError as exc:
        read.finding = exc.finding
    except MemoryError:
        read.finding = _finding(expectations_dir, "TH-S-010", sid, item, _LIMIT_DETAILS[MEMORY]())
    except Exception as exc:  # noqa: BLE001 — a reader's bug or a value nobody foresaw: this file's alone
        read.finding = _finding(expectations_dir, "TH-S-011", sid, item,
                                clean_text(f"{type(exc).__name__}: {exc}", keep_newlines=False)[:200])
    return read


_LIMIT_DETAILS = {
    MEMORY: lambda: f"cần quá {Limits().memory_mb} MB bộ nhớ",
    TIMEOUT: lambda: f"đọc quá {Limits().seconds:g} giây",
    CRASHED: lambda: "chương trình đọc tệp bị dừng đột ngột",
}


def read_files(settings: Settings, items: Sequence[InboxFile], progress: Any = None,
               limits: Limits | None = None, after_start: Callable[[], None] | None = None) -> list[FileRead]:
    """Read, hash and parse files, each contained (see the module's doc); raises InboxReadError when the
    inbox cannot give a file."""
    workers = (os.cpu_count() or 1) if len(items) >= PARALLEL_FROM else 1
    outcomes = run_isolated(_ReadOne(settings.inbox, settings.expectations_dir), items, workers, limits,
                            label=lambda item: item.key, after_start=after_start, progress=progress)
    reads: list[FileRead] = []
    inbox = None
    for item, outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome.value, str):
            raise InboxReadError(f"{item.key}: {outcome.value}")
        if outcome.ok:
            reads.append(outcome.value)
            continue
        # The worker is gone with what it knew: hash the file here, and record why it could not be read.
        inbox = inbox or open_inbox(settings.inbox)
        try:
            content = inbox.read(item)
        except Exception as exc:
            raise InboxReadError(f"{item.key}: {type(exc).__name__}: {exc}") from exc
        read = FileRead(item, hashlib.sha256(content).hexdigest(), "")
        read.submission_id = submission_id(item, read.sha256)
        detail = _LIMIT_DETAILS.get(outcome.status)
        check = "TH-S-010" if detail else "TH-S-011"
        text = detail() if detail else clean_text(outcome.detail, keep_newlines=False)[:200]
        read.finding = _finding(settings.expectations_dir, check, read.submission_id, item, text)
        reads.append(read)
    return reads


class _ReadPath:
    def __init__(self, expectations_dir: Path) -> None:
        self.expectations_dir = expectations_dir

    def __call__(self, path: Path) -> FileRead:
        item = InboxFile(key=str(path), period_id="", province_code=None, submitted_for=str(path),
                         received_at=dt.datetime.now(dt.UTC), size=0)
        read = parse_content(path.read_bytes(), item, self.expectations_dir)
        if read.report is not None:
            read.report.submission_id = str(path)
        elif read.finding is not None:
            read.finding = dataclasses.replace(read.finding, submission_id=str(path))
        return read


def read_paths(paths: Sequence[Path], expectations_dir: Path, limits: Limits | None = None) -> list[FileRead]:
    """Workbooks on disk (`tonghop check`), read as the inbox's files are: contained, one finding each at worst."""
    outcomes = run_isolated(_ReadPath(expectations_dir), list(paths), 1, limits, label=str)
    reads = []
    for path, outcome in zip(paths, outcomes, strict=True):
        if outcome.ok:
            reads.append(outcome.value)
            continue
        item = InboxFile(key=str(path), period_id="", province_code=None, submitted_for=str(path),
                         received_at=dt.datetime.now(dt.UTC), size=0)
        detail = _LIMIT_DETAILS.get(outcome.status)
        check = "TH-S-010" if detail else "TH-S-011"
        text = detail() if detail else clean_text(outcome.detail, keep_newlines=False)[:200]
        reads.append(FileRead(item, "", str(path), finding=_finding(expectations_dir, check, str(path), item, text)))
    return reads
