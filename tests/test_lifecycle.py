"""Submission lifecycle and e-mail over one period, with fake time and a real SMTP server on loopback."""

from __future__ import annotations

import datetime as dt
import email
import io
import json
import os
import re
import socket
import threading
from email.policy import default as default_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from openpyxl import load_workbook

from tests.conftest import DISTRICT, PERIOD
from tonghop.consolidate import consolidate
from tonghop.contacts import Contact, write_directory
from tonghop.ingest import ingest
from tonghop.ledger import LedgerError, check_invariant
from tonghop.notify import notify
from tonghop.period import PeriodContext
from tonghop.spec import load_spec
from tonghop.synth import commune_values
from tonghop.template import prefill_values, write_workbook
from tonghop.warehouse import Warehouse

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def at(day: int, month: int, hour: int, minute: int = 0, year: int = 2024) -> dt.datetime:
    """A local moment; the year is PERIOD's unless given."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=HANOI)


class Mailbox:
    """A real SMTP server on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self._lock = threading.Lock()
        self.controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos),
                                  email.message_from_bytes(envelope.content, policy=default_policy)))
        return "250 OK"

    def start(self) -> None:
        # A loaded 2-core CI machine can take longer than aiosmtpd's default 5 s to bring the server up.
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=30)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    def take(self) -> list[tuple[list[str], email.message.EmailMessage]]:
        with self._lock:
            taken, self.messages = self.messages, []
        return taken


def start_mailbox(monkeypatch, sender: str) -> Mailbox:
    """A started Mailbox that the smtp_default connection points at (stop it when done)."""
    box = Mailbox()
    box.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": box.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": sender, "timeout": 5, "retry_limit": 0}}))
    return box


@pytest.fixture
def mailbox(monkeypatch):
    box = start_mailbox(monkeypatch, "tonghop@batri.example.gov.vn")
    yield box
    box.stop()


def commune_address(code: str) -> str:
    return f"xa.{code}@example.gov.vn"


DISTRICT_OFFICER = "phong.ldtbxh.batri@example.gov.vn"
DATA_TEAM = "data@example.gov.vn"


@pytest.fixture
def contacts(settings, hierarchy, tmp_path, monkeypatch):
    path = tmp_path / "contacts.csv"
    rows = [Contact(u.code, "commune", u.name, commune_address(u.code)) for u in hierarchy.reporting_units(DISTRICT)]
    rows += [Contact(DISTRICT, "district", "Phòng LĐTBXH Ba Tri", DISTRICT_OFFICER),
             Contact(None, "data_team", "Data", DATA_TEAM)]
    write_directory(path, rows)
    monkeypatch.setenv("TONGHOP_CONTACTS", str(path))
    monkeypatch.setenv("TONGHOP_SCOPE", DISTRICT)
    from tonghop.config import Settings

    return Settings.from_env()


def deliver(settings, hierarchy, period, commune: str, when: dt.datetime, name: str = "bao-cao.xlsx",
            seed: int = 5, edit=None, copy_of: Path | None = None) -> Path:
    """A commune's file arriving in its inbox folder at `when` (the file's modification time)."""
    path = settings.inbox_dir / period.id / "83" / commune / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if copy_of is not None:
        path.write_bytes(copy_of.read_bytes())
    else:
        spec = load_spec()
        values = commune_values(seed, hierarchy[commune], period, spec)
        prefilled = prefill_values(spec, hierarchy, period, commune)
        if edit:
            edit(values, prefilled)
        write_workbook(path, prefilled, period, values)
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def process(settings, now: dt.datetime) -> dict:
    """What the ingestion DAG does at `now`: new files, consolidation, the e-mails due."""
    ctx = PeriodContext.open(settings, PERIOD)
    try:
        summary = ingest(ctx, ctx.inbox.list(PERIOD))
        consolidate(ctx, now=now)
        return {"ingest": summary, "email": notify(ctx, now)}
    finally:
        ctx.close()


def _by_kind(messages) -> dict[str, list]:
    out: dict[str, list] = {}
    for rcpts, msg in messages:
        subject = msg["Subject"]
        kind = ("reminder" if "Nhắc nộp" in subject else "summary" if "tình hình nộp" in subject
                else "alert" if subject.startswith("[tonghop]") else "result")
        out.setdefault(kind, []).append((rcpts, msg))
    return out


def test_a_period_with_fake_time(settings, contacts, mailbox, hierarchy, period):
    settings = contacts
    communes = [u.code for u in hierarchy.reporting_units(DISTRICT)]
    on_time, late, twice, dup, never, wrong = communes[:15] + [communes[21]], communes[15], communes[16], \
        communes[17], communes[18:20], communes[20]

    # 1 Nov – 4 Nov: most communes send on time; one sends twice the same bytes; one sends another commune's file.
    for i, code in enumerate(on_time):
        deliver(settings, hierarchy, period, code, at(1 + i % 3, 11, 9, i))
    first = deliver(settings, hierarchy, period, twice, at(1, 11, 15))
    original = deliver(settings, hierarchy, period, dup, at(3, 11, 10), name="bc-xa.xlsx")
    deliver(settings, hierarchy, period, dup, at(4, 11, 8), name="bc-xa-gui-lai.xlsx", copy_of=original)
    deliver(settings, hierarchy, period, wrong, at(4, 11, 9), edit=lambda v, p: p.update(
        prefill_values(load_spec(), hierarchy, period, communes[21])))
    step = process(settings, at(4, 11, 12))
    assert step["ingest"]["new"] == 20 and step["ingest"]["duplicates"] == 1
    mails = _by_kind(mailbox.take())
    assert set(mails) == {"result"} and len(mails["result"]) == 20  # one answer per file, no reminder yet
    rejection = next((r, m) for r, m in mails["result"] if "BỊ TỪ CHỐI" in m["Subject"])
    assert sorted(rejection[0]) == sorted([commune_address(wrong), DISTRICT_OFFICER])  # cc the district
    assert rejection[1]["Cc"] == DISTRICT_OFFICER
    body = rejection[1].get_body(preferencelist=("plain",)).get_content()
    assert "TH-A-004" not in body and "C12" in body and communes[21] in body and wrong in body
    html_body = rejection[1].get_body(preferencelist=("html",)).get_content()
    assert "<table" in html_body and "C12" in html_body
    (attachment,) = list(rejection[1].iter_attachments())
    workbook = load_workbook(io.BytesIO(attachment.get_content()))
    assert workbook["A. Thông tin chung"]["C12"].fill.fgColor.rgb.endswith("FFC7CE")
    assert "Kết quả kiểm tra" in workbook.sheetnames
    duplicate = next(m for r, m in mails["result"] if "trùng" in m["Subject"])
    assert "bc-xa.xlsx" in duplicate.get_body(preferencelist=("plain",)).get_content()

    # 5 Nov 09:00, after the D-5 reminder time: exactly the communes without an accepted report.
    process(settings, at(5, 11, 9))
    mails = _by_kind(mailbox.take())
    assert set(mails) == {"reminder"}
    assert sorted(r for rcpts, _ in mails["reminder"] for r in rcpts) == sorted(
        commune_address(c) for c in [late, *never, wrong])
    assert all("còn 5 ngày" in m["Subject"] for _, m in mails["reminder"])

    # 7 Nov: a correction; the older file is superseded.
    deliver(settings, hierarchy, period, twice, at(7, 11, 10), name="bao-cao-sua.xlsx", seed=6)
    process(settings, at(7, 11, 11))
    assert len(_by_kind(mailbox.take())["result"]) == 1
    # 9 Nov 09:00: the D-1 reminder, to the same communes, once.
    process(settings, at(9, 11, 9))
    process(settings, at(9, 11, 10))
    mails = _by_kind(mailbox.take())
    assert sorted(r for rcpts, _ in mails["reminder"] for r in rcpts) == sorted(
        commune_address(c) for c in [late, *never, wrong])
    assert all("còn 1 ngày" in m["Subject"] for _, m in mails["reminder"])

    # 11 Nov 02:00 a late file; 08:00 (after the scheduled consolidation) the district summary.
    deliver(settings, hierarchy, period, late, at(11, 11, 2))
    process(settings, at(11, 11, 8))
    mails = _by_kind(mailbox.take())
    assert len(mails["result"]) == 1 and len(mails["summary"]) == 1
    rcpts, summary = mails["summary"][0]
    assert rcpts == [DISTRICT_OFFICER]
    text = summary.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    listed: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith(("Chưa nộp", "Nộp muộn", "Bị từ chối")):
            section = listed.setdefault(line.split(" (")[0], set())
        elif line.startswith("  - "):
            section.add(re.search(r"\((\d{5})\)", line).group(1))
    assert listed == {"Chưa nộp": set(never), "Nộp muộn": {late}, "Bị từ chối, chưa nộp lại tệp hợp lệ": {wrong}}

    # Running again sends nothing twice.
    process(settings, at(11, 11, 9))
    assert mailbox.take() == []

    warehouse = Warehouse(settings.warehouse)
    ledger = check_invariant([i.key for i in PeriodContext.open(settings, PERIOD).inbox.list(PERIOD)],
                             warehouse.read_table("submission", period_id=PERIOD))
    assert ledger == {"accepted": 19, "rejected": 1, "superseded": 1, "duplicate": 1, "returned": 0, "held": 0,
                      "received": 22}
    statuses = {s["source_key"]: s["status"] for s in warehouse.read_table("submission", period_id=PERIOD)}
    assert statuses[first.relative_to(settings.inbox_dir).as_posix()] == "superseded"
    row = next(r for r in warehouse.read_table("fact_completeness", unit_code=DISTRICT, area="total"))
    assert (row["expected"], row["received"], row["accepted"], row["rejected"], row["on_time"]) == (22, 20, 19, 1, 19)
    assert row["reporting_rate"] == pytest.approx(20 / 22 * 100) and row["on_time_rate"] == pytest.approx(19 / 22 * 100)


def test_smtp_down_does_not_block_the_data_and_mail_goes_out_once_later(settings, contacts, mailbox, hierarchy,
                                                                        period):
    from tonghop.pipeline import run_period

    settings = contacts
    for i, unit in enumerate(hierarchy.reporting_units(DISTRICT)[:4]):
        deliver(settings, hierarchy, period, unit.code, at(2, 11, 9, i))
    mailbox.stop()
    summary = run_period(settings, PERIOD, now=at(3, 11, 9))
    assert "error" in summary["email"]
    warehouse = Warehouse(settings.warehouse)
    assert next(r for r in warehouse.read_table("fact_households", unit_code=DISTRICT, area="total"))["reports"] == 4
    mailbox.start()
    assert notify(PeriodContext.open(settings, PERIOD), at(3, 11, 10))["sent"] == 4
    assert notify(PeriodContext.open(settings, PERIOD), at(3, 11, 11))["sent"] == 0
    assert sorted(r for rcpts, _ in mailbox.take() for r in rcpts) == sorted(
        commune_address(u.code) for u in hierarchy.reporting_units(DISTRICT)[:4])


def test_data_team_is_alerted_once_when_no_consolidation_follows_the_deadline(settings, contacts, mailbox, period):
    settings = contacts
    # The last consolidation happened before the deadline.
    consolidate(PeriodContext.open(settings, PERIOD), now=at(9, 11, 7))
    notify(PeriodContext.open(settings, PERIOD), at(11, 11, 12))  # 12 h after the deadline: not yet an alert
    assert "alert" not in _by_kind(mailbox.take())
    notify(PeriodContext.open(settings, PERIOD), at(12, 11, 1))  # 24 h after the deadline: nothing consolidated since
    notify(PeriodContext.open(settings, PERIOD), at(12, 11, 2))
    alerts = _by_kind(mailbox.take()).get("alert", [])
    assert len(alerts) == 1 and alerts[0][0] == [DATA_TEAM] and PERIOD in alerts[0][1]["Subject"]

    consolidate(PeriodContext.open(settings, "2024-H1"), now=at(11, 5, 7))  # H1 consolidated in time: no alert
    notify(PeriodContext.open(settings, "2024-H1"), at(12, 5, 9))
    assert "alert" not in _by_kind(mailbox.take())


def test_task_failure_callback_tells_the_data_team_once(settings, contacts, mailbox):
    from types import SimpleNamespace

    from tonghop_airflow.alerts import on_task_failure

    ti = SimpleNamespace(dag_id="tonghop_period", task_id="consolidate", run_id="manual__2026-11-11", map_index=-1,
                         try_number=3, log_url="http://localhost:8080/log")
    context = {"ti": ti, "exception": RuntimeError("warehouse unreachable")}
    on_task_failure(context)
    on_task_failure(context)
    (rcpts, msg), = mailbox.take()
    assert rcpts == [DATA_TEAM] and "tonghop_period.consolidate" in msg["Subject"]
    assert "warehouse unreachable" in msg.get_body(preferencelist=("plain",)).get_content()


def test_ledger_invariant_refuses_lost_or_unprocessed_files():
    rows = [{"submission_id": "a", "source_key": "p/83/1/x.xlsx", "status": "accepted", "submitted_for": "1"},
            {"submission_id": "b", "source_key": "p/83/2/y.xlsx", "status": "received", "submitted_for": "2"}]
    with pytest.raises(LedgerError, match="never processed"):
        check_invariant(["p/83/1/x.xlsx", "p/83/2/y.xlsx"], rows)
    with pytest.raises(LedgerError, match="not in the ledger"):
        check_invariant(["p/83/1/x.xlsx", "p/83/3/z.xlsx"], rows[:1])
    twice = [rows[0], {**rows[0], "submission_id": "c", "source_key": "p/83/1/w.xlsx"}]
    with pytest.raises(LedgerError, match="more than one accepted"):
        check_invariant([], twice)


@pytest.mark.airflow
def test_ingestion_dag_answers_new_files_at_its_logical_time(airflow_db, settings, contacts, mailbox, hierarchy,
                                                             calendar):
    """The frequent-ingestion DAG, run by Airflow for 5 May 2025 09:00: new files answered, reminders due sent.
    2025-H1, not PERIOD: the DAG starts on 1 January 2025 (Airflow creates no task of a run before that), and
    2025-H1 (due 10/05/2025) is the last period of the three-level map."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT

    settings, period = contacts, calendar.get("2025-H1")
    sent = hierarchy.reporting_units(DISTRICT)[:2]
    for unit in sent:
        deliver(settings, hierarchy, period, unit.code, at(3, 5, 9, year=2025))
    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["tonghop_ingest"]
    run = dag.test(logical_date=at(5, 5, 9, year=2025).astimezone(dt.UTC))
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), run.state
    mails = _by_kind(mailbox.take())
    assert sorted(r for rcpts, _ in mails["result"] for r in rcpts) == sorted(commune_address(u.code) for u in sent)
    assert len(mails["reminder"]) == 22 - 2
    warehouse = Warehouse(settings.warehouse)
    assert next(r for r in warehouse.read_table("fact_completeness", unit_code=DISTRICT, area="total"))["received"] == 2
