"""The period pipeline with the inbox and outputs in S3 (moto's server over HTTP on loopback) and the warehouse
in PostgreSQL, driven through the CLI as an operator would (in this process: the `tonghop` fixture)."""

from __future__ import annotations

import contextlib
import io
import json
import socket
from decimal import Decimal

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer
from openpyxl import load_workbook

from tests import expected as exp
from tests.conftest import DISTRICT, PERIOD, PROVINCE
from tonghop.warehouse import Warehouse

BUCKET = "tonghop-inbox"


@contextlib.contextmanager
def moto_s3(monkeypatch, bucket: str):
    """moto's S3 server on loopback with `bucket`, reached through the aws_default connection as in production."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "tonghop-test", "password": "tonghop-test-secret",
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1",
                  "config_kwargs": {"s3": {"addressing_style": "path"}}}}))
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="tonghop-test",
                          aws_secret_access_key="tonghop-test-secret",
                          config=Config(s3={"addressing_style": "path"}))
    client.create_bucket(Bucket=bucket)
    try:
        yield client
    finally:
        server.stop()


@pytest.fixture
def s3(monkeypatch):
    with moto_s3(monkeypatch, BUCKET) as client:
        yield client


def _objects(client, prefix: str) -> dict[str, str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


def test_s3_inbox_and_outputs_with_a_postgresql_warehouse(s3, postgres_url, tonghop, tmp_path, period):
    inbox, outputs = f"s3://{BUCKET}/communes", f"s3://{BUCKET}/outputs"
    tonghop("sample", "--period", PERIOD, "--unit", DISTRICT, "--out", inbox, "--error-rate", "0.3",
            "--missing-rate", "0.1", "--seed", "21", home=tmp_path)
    received = _objects(s3, "communes/")
    manifest_key = f"communes/manifest-{PERIOD}.json"
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read(), parse_float=Decimal)
    files = {k: v for k, v in received.items() if k != manifest_key}
    assert sorted(files) == sorted(f"communes/{r['path']}" for r in manifest["reports"])
    assert all(k.startswith(f"communes/{PERIOD}/{PROVINCE}/") for k in files)  # <period>/<province>/<commune>/

    # `tonghop sample` stands for the upload channel, which sets `received-at` itself: trusted here only.
    run = tonghop("run", "--period", PERIOD, "--inbox", inbox, "--output", outputs, "--warehouse", postgres_url,
                  home=tmp_path, TONGHOP_TRUST_RECEIVED_AT="true")
    assert "postgres" in run.stdout and "tonghop-test" not in run.stdout

    assert _objects(s3, "communes/") == received  # nothing deleted, nothing rewritten
    warehouse = Warehouse(postgres_url)
    households = {(r["unit_code"], r["area"]): r for r in warehouse.read_table("fact_households", period_id=PERIOD)}
    for level, code in (("district", DISTRICT), ("province", PROVINCE)):
        want = exp.expected_sums(manifest, code, level)
        for key in exp.HOUSEHOLD_COUNTS:
            assert households[(code, "total")][key] == want[key], (code, key)
    completeness = next(r for r in warehouse.read_table("fact_completeness", unit_code=DISTRICT, area="total"))
    want_c = exp.expected_completeness(manifest, DISTRICT, "district", period.commune_deadline)
    assert {k: completeness[k] for k in want_c} == want_c  # received times came from the object metadata
    submissions = warehouse.read_table("submission", period_id=PERIOD)
    assert {f"communes/{s['source_key']}" for s in submissions} == set(files)

    written = _objects(s3, "outputs/")
    assert f"outputs/{PERIOD}/summary.json" in written
    assert any(k.startswith(f"outputs/{PERIOD}/runs/") and k.endswith("/data_docs/index.html") for k in written)
    annotated = {s["annotated_path"] for s in submissions if s["annotated_path"]}
    assert annotated and {f"outputs/{a}" for a in annotated} <= set(written)
    assert all(a.startswith(f"{PERIOD}/annotated/") for a in annotated)
    docs = next(k for k in written if k.endswith("/data_docs/index.html"))
    head = s3.head_object(Bucket=BUCKET, Key=docs)
    assert head["ContentType"].startswith("text/html")
    # the officers' workbooks and charts are stored with the run's outputs, in S3 too
    workbook = s3.get_object(Bucket=BUCKET, Key=f"outputs/{PERIOD}/reports/{DISTRICT}.xlsx")["Body"].read()
    assert load_workbook(io.BytesIO(workbook))["Hộ nghèo, cận nghèo"]["A5"].value == (
        "Báo cáo năm 2024 — Huyện Ba Tri — Trạng thái số liệu: Chưa duyệt")
    assert {f"outputs/{PERIOD}/reports/{PROVINCE}.xlsx", f"outputs/{PERIOD}/charts/{PROVINCE}/poverty_rates.png",
            f"outputs/{PERIOD}/charts/{PROVINCE}/completeness.png"} <= set(written)
    assert s3.head_object(Bucket=BUCKET, Key=f"outputs/{PERIOD}/charts/{PROVINCE}/completeness.png")[
        "ContentType"] == "image/png"
    warehouse.dispose()

    # By default a client-set `received-at` is not believed: the store's LastModified (today, after the
    # deadline) is the received time, so no commune is on time however early the metadata claims.
    untrusted = f"sqlite:///{tmp_path / 'untrusted.sqlite'}"
    tonghop("run", "--period", PERIOD, "--inbox", inbox, "--output", f"{outputs}-untrusted", "--warehouse",
            untrusted, "--no-reports", home=tmp_path)
    assert want_c["on_time"] > 0
    late = Warehouse(untrusted)
    assert [r["on_time"] for r in late.read_table("fact_completeness", unit_code=DISTRICT, area="total")] == [0]
    assert not any(s["on_time"] for s in late.read_table("submission", period_id=PERIOD))
    late.dispose()
