"""Where files live: a local folder or an S3-compatible bucket, behind the same small interfaces.

Locations are strings: a path (`var/inbox`) or `s3://bucket/prefix`. S3 is reached with boto3 through
Airflow's amazon provider and its `aws_default` connection (extra `endpoint_url`, `region_name` and
`config_kwargs: {"s3": {"addressing_style": "path"}}` reach MinIO or any S3-compatible store).

Inbox layout (both): `<period>/<province code>/<commune code>/<file name>`. Nothing is ever deleted from
an inbox; what became of each file is in the warehouse ledger. Received time: a local file's modification
time; an S3 object's LastModified (set by the store when the object was written). The `received-at`
metadata (ISO 8601) is read only from a trusted upload channel (`TONGHOP_TRUST_RECEIVED_AT`): anyone who can
put an object can set it, so by default it could make a late file look on time.

Outputs layout (both): `<period>/annotated/<commune>/…xlsx`, `<period>/runs/<run>/<batch>/data_docs/…`,
`<period>/summary.json`.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from tonghop.inbox import InboxFile, LocalInbox, placement

AWS_CONN_ID = "aws_default"
RECEIVED_AT = "received-at"


def is_s3(location: str | Path) -> bool:
    return str(location).startswith("s3://")


def split_s3(location: str) -> tuple[str, str]:
    """'s3://bucket/a/b' → ('bucket', 'a/b')."""
    bucket, _, prefix = location[len("s3://"):].partition("/")
    return bucket, prefix.strip("/")


def s3_client(conn_id: str = AWS_CONN_ID) -> Any:
    """A boto3 S3 client configured by an Airflow `aws` connection. Each inbox or outputs object holds its
    own (clients are not fork-safe: a worker process opens its own)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=conn_id).get_conn()


def _join(prefix: str, key: str) -> str:
    return f"{prefix}/{key}" if prefix else key


class S3Inbox:
    def __init__(self, location: str, client: Any | None = None, trust_received_at: bool = False) -> None:
        self.bucket, self.prefix = split_s3(location)
        self.client = client or s3_client()
        self.trust_received_at = trust_received_at

    def list(self, period_id: str) -> list[InboxFile]:
        items = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=_join(self.prefix, f"{period_id}/")):
            for obj in page.get("Contents", []):
                key = obj["Key"][len(self.prefix) + 1:] if self.prefix else obj["Key"]
                parts = PurePosixPath(key).parts[1:]
                province, commune = placement(parts)
                items.append(InboxFile(key=key, period_id=period_id, province_code=province, submitted_for=commune,
                                       received_at=obj["LastModified"].astimezone(dt.UTC), size=obj["Size"],
                                       version=obj["ETag"].strip('"')))
        return sorted(items, key=lambda i: i.key)

    def describe(self, item: InboxFile) -> InboxFile:
        if not self.trust_received_at:
            return item
        head = self.client.head_object(Bucket=self.bucket, Key=_join(self.prefix, item.key))
        stamp = head.get("Metadata", {}).get(RECEIVED_AT)
        if not stamp:
            return item
        try:
            received = dt.datetime.fromisoformat(stamp)
        except ValueError:
            return item  # not a time: the store's own time stands
        if received.tzinfo is None:
            received = received.replace(tzinfo=dt.UTC)
        return InboxFile(**{**item.__dict__, "received_at": received.astimezone(dt.UTC)})

    def read(self, item: InboxFile) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=_join(self.prefix, item.key))["Body"].read()

    def put(self, key: str, data: bytes, received_at: dt.datetime | None = None) -> None:
        metadata = {RECEIVED_AT: received_at.isoformat()} if received_at else {}
        self.client.put_object(Bucket=self.bucket, Key=_join(self.prefix, key), Body=data, Metadata=metadata)


class Inbox(Protocol):
    def list(self, period_id: str) -> list[InboxFile]: ...

    def describe(self, item: InboxFile) -> InboxFile: ...

    def read(self, item: InboxFile) -> bytes: ...

    def put(self, key: str, data: bytes, received_at: dt.datetime | None = None) -> None: ...


def open_inbox(location: str | Path, trust_received_at: bool = False) -> Inbox:
    """The inbox at a location; `trust_received_at`: an S3 object's `received-at` metadata is its received
    time (only for an upload channel that sets it itself and lets no client set it)."""
    if is_s3(location):
        return S3Inbox(str(location), trust_received_at=trust_received_at)
    return LocalInbox(Path(location))


class Outputs(Protocol):
    def write(self, relative: str, data: bytes) -> str: ...

    def write_tree(self, relative: str, folder: Path) -> str: ...

    def read(self, relative: str) -> bytes | None: ...

    def uri(self, relative: str) -> str: ...


class LocalOutputs:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def write(self, relative: str, data: bytes) -> str:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: a reader (or a run killed mid-write) never leaves a half file in place.
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_bytes(data)
        os.replace(partial, path)
        return self.uri(relative)

    def write_tree(self, relative: str, folder: Path) -> str:
        # Data Docs are built straight into the output folder when it is local: nothing to copy.
        if folder.resolve() != (self.root / relative).resolve():
            for path in folder.rglob("*"):
                if path.is_file():
                    self.write(f"{relative}/{path.relative_to(folder).as_posix()}", path.read_bytes())
        return self.uri(relative)

    def read(self, relative: str) -> bytes | None:
        path = self.root / relative
        return path.read_bytes() if path.is_file() else None

    def uri(self, relative: str) -> str:
        return (self.root / relative).resolve().as_uri()

    def local_dir(self, relative: str) -> Path:
        return self.root / relative


class S3Outputs:
    def __init__(self, location: str, client: Any | None = None) -> None:
        self.bucket, self.prefix = split_s3(location)
        self.client = client or s3_client()

    def write(self, relative: str, data: bytes) -> str:
        content_type = mimetypes.guess_type(PurePosixPath(relative).name)[0] or "application/octet-stream"
        if content_type.startswith("text/"):
            content_type += "; charset=utf-8"
        self.client.put_object(Bucket=self.bucket, Key=_join(self.prefix, relative), Body=data,
                               ContentType=content_type)
        return self.uri(relative)

    def write_tree(self, relative: str, folder: Path) -> str:
        for path in folder.rglob("*"):
            if path.is_file():
                self.write(f"{relative}/{path.relative_to(folder).as_posix()}", path.read_bytes())
        return self.uri(relative)

    def read(self, relative: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=_join(self.prefix, relative))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def uri(self, relative: str) -> str:
        return f"s3://{self.bucket}/{_join(self.prefix, relative)}"

    def local_dir(self, relative: str) -> None:
        return None  # built in a temporary folder, then uploaded


def open_outputs(location: str | Path) -> LocalOutputs | S3Outputs:
    return S3Outputs(str(location)) if is_s3(location) else LocalOutputs(Path(location))
