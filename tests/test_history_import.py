"""Loading a past period (`tonghop import`): Huyện Ba Tri's 2024-H1 workbooks, received in 2024 and copied in
today, imported with a manifest of the times they really arrived, as an engineer would run it (the CLI in this
process). The expected on-time flags and instants are worked out here from the manifest's local times alone:
Vietnam is UTC+7 all year, and 2024-H1's commune deadline is the end of 10/05/2024, local time."""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import DISTRICT
from tonghop.synth import SampleOptions, generate_sample
from tonghop.warehouse import Warehouse

pytestmark = pytest.mark.slow  # whole-period runs, like tests/test_pipeline.py

H1 = "2024-H1"
BY, WHY = "Nguyễn Văn A", "Nạp số liệu 6 tháng đầu năm 2024 của huyện trước khi dùng tonghop"
LAST_ON_TIME = dt.datetime(2024, 5, 10, 23, 59, 59)  # local
UTC_OFFSET = dt.timedelta(hours=7)


def _when(i: int) -> tuple[str, dt.datetime]:
    """(received_at as written in the manifest, the same moment in local time) of the i-th commune: the
    edges of the deadline day in local time, UTC and with an offset, then on time and late in turn."""
    edges = {
        0: ("2024-05-10T23:59:00", dt.datetime(2024, 5, 10, 23, 59)),  # the deadline's last minute
        1: ("2024-05-11 00:00:00", dt.datetime(2024, 5, 11, 0, 0)),  # the next one: late
        2: ("2024-05-10T16:59:00Z", dt.datetime(2024, 5, 10, 23, 59)),
        3: ("2024-05-10T17:00:00+00:00", dt.datetime(2024, 5, 11, 0, 0)),
        4: ("2024-06-09T23:00:00+07:00", dt.datetime(2024, 6, 9, 23, 0)),  # late, the window's last day
        5: ("2024-04-01T07:30", dt.datetime(2024, 4, 1, 7, 30)),  # the window's first day
    }
    if i in edges:
        return edges[i]
    local = (dt.datetime(2024, 4, 3, 8, 15) + dt.timedelta(days=2 * i, minutes=7 * i) if i % 2 == 0
             else dt.datetime(2024, 5, 12, 14, 5) + dt.timedelta(days=i, minutes=3 * i))
    return local.isoformat(timespec="minutes"), local


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory, hierarchy, calendar):
    """Every commune of Huyện Ba Tri's 2024-H1 report, consistent, outside any inbox: the folder the
    province's files were collected in."""
    units = hierarchy.reporting_units(DISTRICT)
    folder = tmp_path_factory.mktemp("history")
    reports = generate_sample(units, calendar.get(H1), hierarchy, folder, SampleOptions(seed=24, late_rate=0))
    assert len(reports) == len(units) == 22
    return folder, sorted(reports, key=lambda r: r.commune_code)


def _manifest(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "commune_code", "received_at"])
        writer.writerows(rows)
    return path


def _district_manifest(folder: Path, reports) -> tuple[Path, dict[str, dt.datetime]]:
    """The manifest of every commune (one path absolute, the others relative to the manifest), with three
    bad rows after them; and each commune's expected received time (local)."""
    rows, local = [], {}
    for i, r in enumerate(reports):
        text, local[r.commune_code] = _when(i)
        path = str(r.path) if i == 7 else r.path.relative_to(folder).as_posix()
        rows.append((path, r.commune_code, text))
    first = reports[0].path.relative_to(folder).as_posix()
    rows += [("missing.xlsx", reports[0].commune_code, "2024-05-03T10:00"),
             (first, "99999", "2024-05-03T10:00"),
             (first, reports[0].commune_code, "03/05/2024 10:00")]
    return _manifest(folder / "manifest.csv", rows), local


def _env(home: Path, warehouse_url: str) -> dict[str, str]:
    return {"home": home, "TONGHOP_WAREHOUSE_URL": warehouse_url, "TONGHOP_SCOPE": DISTRICT}


def _import(tonghop, manifest: Path, **env):
    return tonghop("import", "--period", H1, "--manifest", str(manifest), "--by", BY, "--reason", WHY,
                   check=False, **env)


def _completeness(warehouse: Warehouse) -> dict:
    row, = warehouse.read_table("fact_completeness", period_id=H1, unit_code=DISTRICT, area="total")
    return row


def _utc(local: dt.datetime) -> dt.datetime:
    return (local - UTC_OFFSET).replace(tzinfo=dt.UTC)


def _received(row: dict) -> dt.datetime:
    moment = row["received_at"]
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def test_history_is_imported_with_its_real_times(tonghop, workbooks, tmp_path, warehouse_url):
    folder, reports = workbooks
    manifest, local = _district_manifest(folder, reports)
    on_time = {code: when <= LAST_ON_TIME for code, when in local.items()}
    assert 0 < sum(on_time.values()) < len(on_time)  # both kinds, or the flags would prove little
    env = _env(tmp_path / "home", warehouse_url)

    done = _import(tonghop, manifest, **env)
    assert done.returncode == 1  # rows were skipped; the good ones are imported
    problems = done.stderr.strip().splitlines()
    assert problems == [
        f"tonghop import: skipped manifest.csv line 24: no file at {folder / 'missing.xlsx'}",
        ("tonghop import: skipped manifest.csv line 25: commune_code '99999' is not a commune of the period's map "
         "(pre2025)"),
        ("tonghop import: skipped manifest.csv line 26: received_at '03/05/2024 10:00' is not an ISO 8601 time "
         "(e.g. 2024-05-03T10:15 local, or 2024-05-03T10:15+07:00)"),
    ]
    assert ("25 row(s), 22 file(s) imported now, 0 already imported before, 3 row(s) skipped. Imported files: "
            "22 accepted + 0 rejected") in done.stdout
    assert f"{sum(on_time.values())} received on time, {22 - sum(on_time.values())} late" in done.stdout

    warehouse = Warehouse(warehouse_url)
    ledger = warehouse.read_table("submission", period_id=H1)
    assert sorted(r["submitted_for"] for r in ledger) == sorted(local)
    for row in ledger:
        code = row["submitted_for"]
        assert (row["origin"], row["imported_by"], row["import_reason"], row["status"]) == ("imported", BY, WHY,
                                                                                              "accepted"), code
        assert _received(row) == _utc(local[code]), code
        assert row["on_time"] == on_time[code], code
        assert row["source_key"].startswith(f"{H1}/83/{code}/")
        assert row["file_name"].endswith(f"-bao-cao-{H1}-{code}.xlsx")
    assert not warehouse.read_table("finding")
    completeness = _completeness(warehouse)
    assert {k: completeness[k] for k in ("expected", "received", "accepted", "rejected", "on_time", "imported")} == {
        "expected": 22, "received": 22, "accepted": 22, "rejected": 0, "on_time": sum(on_time.values()),
        "imported": 22}
    publications = warehouse.read_table("publication", period_id=H1)
    assert len(publications) == 1

    inbox = sorted(p for p in (tmp_path / "home" / "inbox").rglob("*") if p.is_file())
    again = _import(tonghop, manifest, **env)
    assert "22 already imported before" in again.stdout and "Nothing changed" in again.stdout
    assert warehouse.read_table("submission", period_id=H1) == ledger
    assert warehouse.read_table("publication", period_id=H1) == publications
    assert sorted(p for p in (tmp_path / "home" / "inbox").rglob("*") if p.is_file()) == inbox

    # A later reprocessing run keeps the real times even when the copies' modification times are lost
    # (copied again, or an S3 inbox, whose LastModified is the day of the import).
    for path in inbox:
        os.utime(path)
    tonghop("run", "--period", H1, "--reprocess", "--no-reports", **env)
    after = {r["submitted_for"]: r for r in warehouse.read_table("submission", period_id=H1)}
    assert {c: (r["status"], r["on_time"], _received(r)) for c, r in after.items()} == {
        c: ("accepted", on_time[c], _utc(local[c])) for c in local}
    assert _completeness(warehouse) == completeness
    assert warehouse.read_table("publication", period_id=H1) == publications  # the same figures
    warehouse.dispose()


def test_copies_sent_live_are_refused_and_the_import_still_counts(tonghop, workbooks, tmp_path):
    """What the province did first: the same workbooks copied into the inbox today are live files received
    outside the window (TH-A-006) — the window check is untouched. Importing them afterwards puts the
    history in; the live copies stay rejected, and every commune's report that counts is an imported one."""
    folder, reports = workbooks
    home = tmp_path / "home"
    env = _env(home, f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    for r in reports:
        target = home / "inbox" / r.path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(r.path, target)  # a copy made now: its time is today's
    tonghop("run", "--period", H1, "--no-reports", **env)
    warehouse = Warehouse(env["TONGHOP_WAREHOUSE_URL"])
    live = warehouse.read_table("submission", period_id=H1)
    assert {(r["origin"], r["status"]) for r in live} == {("live", "rejected")} and len(live) == 22
    assert {f["check_id"] for f in warehouse.read_table("finding")} == {"TH-A-006"}

    manifest, local = _district_manifest(folder, reports)
    _import(tonghop, manifest, **env)
    rows = warehouse.read_table("submission", period_id=H1)
    imported = {r["submitted_for"]: r for r in rows if r["origin"] == "imported"}
    assert {c: (r["status"], r["on_time"]) for c, r in imported.items()} == {
        c: ("accepted", when <= LAST_ON_TIME) for c, when in local.items()}
    assert sorted((r["submission_id"], r["status"]) for r in rows if r["origin"] == "live") == sorted(
        (r["submission_id"], "rejected") for r in live)
    completeness = _completeness(warehouse)
    assert (completeness["accepted"], completeness["imported"]) == (22, 22)
    assert completeness["on_time"] == sum(when <= LAST_ON_TIME for when in local.values())

    tonghop("run", "--period", H1, "--reprocess", "--no-reports", **env)
    def states(ledger):
        return sorted((r["submission_id"], r["status"], r["on_time"]) for r in ledger)

    assert states(warehouse.read_table("submission", period_id=H1)) == states(rows)
    warehouse.dispose()


def test_a_later_file_is_a_resubmission_and_a_repeated_one_is_imported_once(tonghop, workbooks, tmp_path,
                                                                             hierarchy, calendar):
    _, reports = workbooks
    first, other = reports[0], reports[1]
    corrected = generate_sample([hierarchy[first.commune_code]], calendar.get(H1), hierarchy, tmp_path / "v2",
                                SampleOptions(seed=99, late_rate=0))[0]
    assert corrected.path.read_bytes() != first.path.read_bytes()
    manifest = _manifest(tmp_path / "history.csv", [
        (str(first.path), first.commune_code, "2024-05-06T09:00"),
        (str(corrected.path), first.commune_code, "2024-05-20T15:30"),  # sent again, late: the newest wins
        (str(other.path), other.commune_code, "2024-05-20T08:00"),
        (str(other.path), other.commune_code, "2024-05-07T08:00"),  # the same file again, earlier
    ])
    env = _env(tmp_path / "home", f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    done = _import(tonghop, manifest, **env)
    assert done.stderr.strip() == ("tonghop import: skipped history.csv line 4: the same file as line 5 for commune "
                                   f"{other.commune_code}; imported once, with the earlier time")
    warehouse = Warehouse(env["TONGHOP_WAREHOUSE_URL"])
    rows = sorted(warehouse.read_table("submission", period_id=H1), key=lambda r: (r["submitted_for"],
                                                                                     _received(r)))
    assert [(r["submitted_for"], _received(r), r["on_time"], r["status"]) for r in rows] == [
        (first.commune_code, _utc(dt.datetime(2024, 5, 6, 9)), True, "superseded"),
        (first.commune_code, _utc(dt.datetime(2024, 5, 20, 15, 30)), False, "accepted"),
        (other.commune_code, _utc(dt.datetime(2024, 5, 7, 8)), True, "accepted"),
    ]
    completeness = _completeness(warehouse)
    # A commune is on time when a file of it arrived by the deadline, whichever file counts.
    assert {k: completeness[k] for k in ("received", "accepted", "on_time", "imported", "missing")} == {
        "received": 2, "accepted": 2, "on_time": 2, "imported": 2, "missing": 20}
    warehouse.dispose()


def test_a_file_the_commune_had_sent_live_is_a_duplicate(tonghop, workbooks, tmp_path):
    """Where tonghop already ran: a file that came in live, in the window, and is listed again in the history
    with a later time is a re-send of it, recorded as a duplicate (with who imported it) and not counted."""
    folder, reports = workbooks
    sent = reports[4]
    home = tmp_path / "home"
    env = _env(home, f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    target = home / "inbox" / sent.path.relative_to(folder)
    target.parent.mkdir(parents=True)
    shutil.copy2(sent.path, target)  # the time it arrived is kept: received in the window
    tonghop("run", "--period", H1, "--no-reports", **env)
    warehouse = Warehouse(env["TONGHOP_WAREHOUSE_URL"])
    live, = warehouse.read_table("submission", period_id=H1)
    assert (live["origin"], live["status"]) == ("live", "accepted")
    later = (live["received_at"] + UTC_OFFSET + dt.timedelta(days=1)).isoformat(timespec="seconds")
    manifest = _manifest(tmp_path / "again.csv", [(str(sent.path), sent.commune_code, later)])
    assert "0 accepted + 0 rejected + 0 superseded + 1 duplicate" in _import(tonghop, manifest, **env).stdout
    rows = {r["origin"]: r for r in warehouse.read_table("submission", period_id=H1)}
    assert (rows["imported"]["status"], rows["imported"]["duplicate_of"], rows["imported"]["imported_by"]) == (
        "duplicate", live["submission_id"], BY)
    assert rows["live"]["status"] == "accepted"
    completeness = _completeness(warehouse)
    assert (completeness["received"], completeness["accepted"], completeness["imported"]) == (1, 1, 0)
    assert "1 already imported before" in _import(tonghop, manifest, **env).stdout
    assert len(warehouse.read_table("submission", period_id=H1)) == 2
    warehouse.dispose()


def test_refused_before_anything_changes(tonghop, workbooks, tmp_path):
    """No one named, no reason, no manifest, a manifest without its columns or not in UTF-8: a usage error
    (exit 2, one line, no traceback) and an untouched inbox."""
    _, reports = workbooks
    manifest = _manifest(tmp_path / "one.csv", [(str(reports[0].path), reports[0].commune_code, "2024-05-06T09:00")])
    env = _env(tmp_path / "home", f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    done = tonghop("import", "--period", H1, "--manifest", str(manifest), "--by", " ", "--reason", WHY,
                   check=False, **env)
    assert done.returncode == 2 and "--by" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "home" / "inbox").exists()
    missing = tonghop("import", "--period", H1, "--manifest", str(tmp_path / "none.csv"), "--by", BY,
                      "--reason", WHY, check=False, **env)
    assert missing.returncode == 2 and "no manifest" in missing.stderr
    (tmp_path / "columns.csv").write_text("tệp,xã,thời gian\na.xlsx,29110,2024-05-06T09:00\n", encoding="utf-8")
    (tmp_path / "ansi.csv").write_bytes("file,commune_code,received_at\nbáo cáo.xlsx,29110,2024-05-06T09:00\n"
                                        .encode("cp1258"))
    for name, says in (("columns.csv", "missing column(s) file, commune_code, received_at"),
                       ("ansi.csv", "is not a UTF-8 CSV file")):
        done = tonghop("import", "--period", H1, "--manifest", str(tmp_path / name), "--by", BY, "--reason", WHY,
                       check=False, **env)
        assert done.returncode == 2 and says in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    assert not (tmp_path / "home" / "inbox").exists()


BUCKET = "tonghop-history"


@pytest.fixture
def s3(monkeypatch):
    from tests.test_storage import moto_s3

    with moto_s3(monkeypatch, BUCKET) as client:
        yield client


def test_into_an_s3_inbox(tonghop, workbooks, tmp_path, s3):
    """An S3 object's LastModified is the day of the import: the ledger's time counts, on every run, without
    trusting any object's `received-at` (which the import writes for the record)."""
    _, reports = workbooks
    late, early = reports[2], reports[3]
    manifest = _manifest(tmp_path / "s3.csv", [(str(late.path), late.commune_code, "2024-05-25T10:00"),
                                               (str(early.path), early.commune_code, "2024-05-02T10:00")])
    env = {**_env(tmp_path / "home", f"sqlite:///{tmp_path / 'warehouse.sqlite'}"),
           "TONGHOP_INBOX": f"s3://{BUCKET}/inbox", "TONGHOP_OUTPUT": f"s3://{BUCKET}/outputs"}
    assert _import(tonghop, manifest, **env).returncode == 0
    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"inbox/{H1}/")["Contents"]
    assert len(objects) == 2
    metadata = {o["Key"].split("/")[3]: s3.head_object(Bucket=BUCKET, Key=o["Key"])["Metadata"] for o in objects}
    assert {c: dt.datetime.fromisoformat(m["received-at"]) for c, m in metadata.items()} == {
        late.commune_code: _utc(dt.datetime(2024, 5, 25, 10)), early.commune_code: _utc(dt.datetime(2024, 5, 2, 10))}
    tonghop("run", "--period", H1, "--reprocess", "--no-reports", **env)
    warehouse = Warehouse(env["TONGHOP_WAREHOUSE_URL"])
    rows = {r["submitted_for"]: r for r in warehouse.read_table("submission", period_id=H1)}
    assert {c: (r["origin"], r["status"], r["on_time"]) for c, r in rows.items()} == {
        late.commune_code: ("imported", "accepted", False), early.commune_code: ("imported", "accepted", True)}
    warehouse.dispose()
