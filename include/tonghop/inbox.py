"""Where commune files arrive. Layout: `<period>/<province code>/<commune code>/<file name>`.

The commune a file was submitted for is the folder it was put in (by the upload form or the district
officer), never what the workbook says; the received time is the file's modification time. Every file
under a period's folder is a submission, whatever it is: nothing there is skipped. An S3 bucket with the
same layout is `tonghop.storage.S3Inbox`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from stat import S_ISREG

UNPLACED_BATCH = "unplaced"


def inbox_relative_path(period_id: str, province_code: str | None, commune_code: str, file_name: str) -> Path:
    return Path(period_id) / (province_code or UNPLACED_BATCH) / commune_code / file_name


@dataclass(frozen=True)
class InboxFile:
    key: str  # path relative to the inbox root, with '/' separators
    period_id: str
    province_code: str | None
    submitted_for: str | None  # commune code from the folder; None when the file is not in a commune folder
    received_at: dt.datetime  # aware, UTC
    size: int
    version: str = ""  # changes when the file at this place changes (mtime, ETag): known files are not re-read

    @property
    def file_name(self) -> str:
        return PurePosixPath(self.key).name

    @property
    def batch(self) -> str:
        return self.province_code or UNPLACED_BATCH


_CODE = re.compile(r"[0-9A-Za-z_-]{1,16}")


def placement(parts: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(province, commune) from the folders between the period folder and the file; a folder whose name
    cannot be a unit code names no unit (the file is then outside any commune folder)."""
    def code(name: str) -> str | None:
        return name if _CODE.fullmatch(name) else None

    if len(parts) == 3 and code(parts[0]):
        return parts[0], code(parts[1])
    return (code(parts[0]) if len(parts) > 1 else None), None


class LocalInbox:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def list(self, period_id: str) -> list[InboxFile]:
        base = self.root / period_id
        if not base.is_dir():
            return []
        found = []  # (folders and name under the period folder, stat)
        # os.walk, not Path.rglob: a national period is 10,000 files, and pathlib's objects cost a second more
        # before any can be read. Neither follows a link to a folder; a link to a file counts, as Path.is_file.
        for folder, _, names in os.walk(base):
            under = Path(folder).relative_to(base).parts
            for name in names:
                try:
                    stat = os.stat(os.path.join(folder, name))
                except OSError:  # a dangling link
                    continue
                if S_ISREG(stat.st_mode):
                    found.append(((*under, name), stat))
        found.sort(key=lambda entry: entry[0])  # as sorted paths: folder by folder
        items = []
        for parts, stat in found:
            province, commune = placement(parts)
            items.append(InboxFile(
                key="/".join((period_id, *parts)),
                period_id=period_id,
                province_code=province,
                submitted_for=commune,
                received_at=dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC),
                size=stat.st_size,
                version=str(stat.st_mtime_ns),
            ))
        return items

    def describe(self, item: InboxFile) -> InboxFile:
        return item

    def read(self, item: InboxFile) -> bytes:
        return (self.root / item.key).read_bytes()

    def put(self, key: str, data: bytes, received_at: dt.datetime | None = None) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if received_at:
            os.utime(path, (received_at.timestamp(), received_at.timestamp()))


def group_by_batch(items: list[InboxFile]) -> dict[str, list[InboxFile]]:
    batches: dict[str, list[InboxFile]] = defaultdict(list)
    for item in items:
        batches[item.batch].append(item)
    return dict(sorted(batches.items()))


BATCH_SEPARATOR = "+"


def pack_batches(items: list[InboxFile], max_files: int) -> dict[str, list[InboxFile]]:
    """Province folders packed into batches of about `max_files` files (a province is never split), so a
    national period maps to a handful of tasks instead of one per province. Batch name: '01+02+04'."""
    packed: list[tuple[list[str], list[InboxFile]]] = []
    for province, files in sorted(group_by_batch(items).items(), key=lambda kv: -len(kv[1])):
        target = next((b for b in packed if len(b[1]) + len(files) <= max_files), None)
        if target is None:
            packed.append(([province], list(files)))
        else:
            target[0].append(province)
            target[1].extend(files)
    return {BATCH_SEPARATOR.join(sorted(names)): files for names, files in sorted(packed)}


def in_batch(items: list[InboxFile], batch: str) -> list[InboxFile]:
    provinces = set(batch.split(BATCH_SEPARATOR))
    return [i for i in items if i.batch in provinces]
