"""E-mail that cannot be poisoned: a hostile file name, a huge typed value or an oversized attachment costs
its own message at most, never the other e-mails of the period. Through the real pipeline and a real SMTP
server on loopback; assertions are on what the server received."""

from __future__ import annotations

import dataclasses
import email
import io
import json
import os
import random
import sqlite3
import threading
import unicodedata
from email.policy import default as default_policy
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from openpyxl import load_workbook

from tests.conftest import DISTRICT, PERIOD, PROVINCE
from tests.hostile import Factory
from tests.test_lifecycle import Mailbox, at, commune_address
from tonghop.config import Settings
from tonghop.contacts import Contact, write_directory
from tonghop.mailer import ATTACHMENT_DROPPED, MAX_MESSAGE_BYTES, MAX_SUBJECT_CHARS, Email, send_all
from tonghop.notify import MAX_FINDING_CHARS, MAX_LISTED_FINDINGS, listed_findings, notify
from tonghop.period import PeriodContext
from tonghop.pipeline import run_period
from tonghop.warehouse import Warehouse

PROVINCE_OFFICER = "so.ldtbxh.bentre@example.gov.vn"
# Every kind of line break and control a file system lets through ("/" and NUL it does not).
POISONED_NAME = "bao\u2028cao\nxa\r\x85\x0b\x0c\x1b\u2029 \u202ecopy.xlsx"
HUGE_TEXT_CHARS = 200_000
LIMIT = 300_000  # the size-limited server's maximum, between a normal result e-mail and the big one
NOW = at(3, 11, 9)  # before the first reminder: only result e-mails are owed


class Recorder(Mailbox):
    """The lifecycle tests' mailbox, also keeping the bytes received. `limit` is aiosmtpd's data_size_limit
    (advertised in EHLO SIZE); `silent_limit` refuses bigger messages with 552 after DATA without
    advertising anything; `refuse` answers 550 to those recipients."""

    def __init__(self, limit: int | None = None, silent_limit: int | None = None, refuse: set[str] | None = None):
        super().__init__()
        self.limit, self.silent_limit, self.refuse = limit, silent_limit, refuse if refuse is not None else set()
        self.raw: list[tuple[list[str], email.message.EmailMessage, bytes]] = []
        self._raw_lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.silent_limit and len(envelope.content) > self.silent_limit:
            return "552 5.3.4 Message size exceeds fixed maximum message size"
        with self._raw_lock:
            self.raw.append((list(envelope.rcpt_tos),
                             email.message_from_bytes(envelope.content, policy=default_policy), envelope.content))
        return "250 OK"

    def start(self) -> None:
        options = {"data_size_limit": self.limit} if self.limit else {}
        if self.silent_limit:
            options["data_size_limit"] = None  # aiosmtpd then advertises no SIZE
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=30, **options)
        self.controller.start()

    def take(self) -> list[tuple[list[str], email.message.EmailMessage, bytes]]:
        with self._raw_lock:
            taken, self.raw = self.raw, []
        return taken


def connect(monkeypatch: pytest.MonkeyPatch, box: Mailbox) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": box.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "tonghop@batri.example.gov.vn",
                  "timeout": 5, "retry_limit": 0}}))


def vietnamese_text(chars: int, seed: int = 1) -> str:
    syllables = ["Nguyễn", "Thị", "Hằng", "Trần", "Văn", "Đức", "Phạm", "Ngọc", "Ánh", "Lê", "Hoàng", "Yến", "Bùi",
                 "Quốc", "Việt", "Đặng", "Thu", "Hương", "Võ", "Minh", "Tuấn", "Huỳnh", "Kim", "Ngân", "Dương"]
    rng = random.Random(seed)
    words: list[str] = []
    size = 0
    while size < chars:
        words.append(rng.choice(syllables))
        size += len(words[-1]) + 1
    return " ".join(words)[:chars]


def incompressible_sheet(wb) -> None:
    """A legitimate-looking appendix whose random text no zip can shrink: an annotated copy of ~0.5 MB."""
    ws = wb.create_sheet("Phụ lục")
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    for i in range(5000):
        ws.append([i, "".join(rng.choice(alphabet) for _ in range(100))])


def negative_count(values: dict, prefilled: dict) -> None:
    values["poor_merit"] = -1


@pytest.fixture(scope="module")
def processed(tmp_path_factory, hierarchy, period):
    """One run of the real pipeline for four communes of Huyện Ba Tri and a poisoned file outside any
    commune folder, with the SMTP server up. Returns the settings, the run's summary and what was received."""
    home = tmp_path_factory.mktemp("email-safety")
    units = hierarchy.reporting_units(DISTRICT)[:4]
    contacts = home / "contacts.csv"
    write_directory(contacts, [Contact(u.code, "commune", u.name, commune_address(u.code)) for u in units]
                    + [Contact(PROVINCE, "province", "Sở LĐTBXH Bến Tre", PROVINCE_OFFICER)])
    settings = Settings.from_env(home=home, inbox=home / "inbox", output=home / "runs", scope=DISTRICT,
                                 warehouse_url=f"sqlite:///{home / 'warehouse.sqlite'}", contacts_path=contacts)
    factory = Factory(hierarchy, period)
    clean, rejected, huge, big = (u.code for u in units)
    huge_name = vietnamese_text(HUGE_TEXT_CHARS)
    files = {
        f"{clean}/bao-cao.xlsx": factory.xlsx(clean),
        f"{rejected}/bao-cao.xlsx": factory.xlsx(rejected, negative_count),
        f"{huge}/bao-cao.xlsx": factory.xlsx(huge, lambda v, p: v.update(preparer_name=huge_name)),
        f"{big}/bao-cao.xlsx": factory.xlsx(big, negative_count, wb_edit=incompressible_sheet),
        POISONED_NAME: factory.xlsx(clean),  # directly under the province folder: no commune
    }
    received = at(2, 11, 9).timestamp()
    for relative, content in files.items():
        path = settings.inbox_dir / PERIOD / PROVINCE / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (received, received))
    box = Recorder()
    box.start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            connect(mp, box)
            summary = run_period(settings, PERIOD, now=NOW)
    finally:
        box.stop()
    return SimpleNamespace(settings=settings, summary=summary, messages=box.take(), clean=clean,
                           rejected=rejected, huge=huge, big=big, units=[u.code for u in units])


def fresh_copy(processed, tmp_path) -> Settings:
    """The processed period in a warehouse of its own where nothing has been e-mailed yet."""
    # The warehouse runs in WAL mode: the backup API copies what the -wal file holds too.
    with sqlite3.connect(processed.settings.warehouse.removeprefix("sqlite:///")) as source, \
            sqlite3.connect(tmp_path / "warehouse.sqlite") as target:
        source.backup(target)
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("DELETE FROM email_log"))
    return dataclasses.replace(processed.settings, warehouse_url=url)


def by_recipient(messages) -> dict[str, tuple[email.message.EmailMessage, bytes]]:
    return {r: (msg, raw) for rcpts, msg, raw in messages for r in rcpts}


def assert_clean_headers(msg: email.message.EmailMessage, raw: bytes) -> None:
    subject = msg["Subject"]
    assert len(subject.splitlines()) == 1 and len(subject) <= MAX_SUBJECT_CHARS, repr(subject)
    assert not [ch for ch in subject if unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in
                ("Zl", "Zp")], repr(subject)
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):  # headers on the wire: printable ASCII (RFC 2047 words), folded with CRLF
        assert all(32 <= b < 127 or b == 9 for b in line), line[:200]
    for part in msg.walk():
        name = part.get_filename()
        if name:
            assert len(name.splitlines()) == 1 and "/" not in name and "\\" not in name, repr(name)


def attachments(msg: email.message.EmailMessage) -> list[email.message.EmailMessage]:
    return list(msg.iter_attachments())


def plain(msg: email.message.EmailMessage) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def test_a_poisoned_file_name_gets_a_one_line_subject_and_the_others_are_delivered(processed):
    assert processed.summary["email"]["sent"] == 5 and processed.summary["email"]["failed"] == 0
    received = by_recipient(processed.messages)
    assert sorted(received) == sorted([PROVINCE_OFFICER, *map(commune_address, processed.units)])
    for msg, raw in received.values():
        assert_clean_headers(msg, raw)
        assert len(raw) <= MAX_MESSAGE_BYTES
    unplaced, _ = received[PROVINCE_OFFICER]
    assert "bao cao xa copy.xlsx" in unplaced["Subject"] and "không xác định được xã" in unplaced["Subject"]
    body = plain(unplaced)
    assert "bao cao xa copy.xlsx" in body and "\u2028" not in body and "\x1b" not in body
    rejected, _ = received[commune_address(processed.rejected)]
    (copy,) = attachments(rejected)
    assert copy.get_filename().endswith(".ket-qua-kiem-tra.xlsx")
    assert "Kết quả kiểm tra" in load_workbook(io.BytesIO(copy.get_content())).sheetnames
    assert attachments(received[commune_address(processed.big)][0])  # no limit here: the big one keeps its copy


def test_a_huge_typed_value_stays_a_small_e_mail(processed):
    msg, raw = by_recipient(processed.messages)[commune_address(processed.huge)]
    assert "cảnh báo" in msg["Subject"]  # TH-F-013: the text was cut
    assert len(plain(msg)) < 10_000 and len(msg.get_body(preferencelist=("html",)).get_content()) < 20_000
    assert len(raw) < LIMIT
    (copy,) = attachments(msg)
    assert copy.get_filename().endswith(".xlsx")


@pytest.mark.parametrize("server", ["advertised", "silent", "configured"])
def test_a_message_over_the_server_limit_goes_without_its_attachment_and_the_others_go_too(
        processed, tmp_path, monkeypatch, server):
    """`advertised`: the server announces its SIZE and the mailer fits the message beforehand; `silent`: the
    server announces nothing and refuses with 552 after DATA, the mailer sends it again without the copy;
    `configured`: the server takes anything, TONGHOP_MAIL_MAX_BYTES sets the limit."""
    unlimited = by_recipient(processed.messages)
    assert len(unlimited[commune_address(processed.big)][1]) > LIMIT  # the setup holds: one message too big
    assert all(len(raw) < LIMIT for r, (_, raw) in unlimited.items() if r != commune_address(processed.big))
    settings = fresh_copy(processed, tmp_path)
    if server == "configured":
        monkeypatch.setenv("TONGHOP_MAIL_MAX_BYTES", str(LIMIT))
    box = Recorder(limit=LIMIT if server == "advertised" else None,
                   silent_limit=LIMIT if server == "silent" else None)
    box.start()
    try:
        connect(monkeypatch, box)
        counts = notify(PeriodContext.open(settings, PERIOD), NOW)
    finally:
        box.stop()
    assert (counts["sent"], counts["failed"]) == (5, 0)
    received = by_recipient(box.take())
    assert sorted(received) == sorted(unlimited)
    for msg, raw in received.values():
        assert_clean_headers(msg, raw)
        assert len(raw) <= LIMIT
    big, _ = received[commune_address(processed.big)]
    assert attachments(big) == [] and "BỊ TỪ CHỐI" in big["Subject"]
    assert ATTACHMENT_DROPPED in plain(big)
    assert ATTACHMENT_DROPPED in big.get_body(preferencelist=("html",)).get_content()
    assert plain(big).rstrip().endswith("Vui lòng không trả lời thư này.")  # the note sits before the signature
    for code in (processed.rejected, processed.huge):
        assert len(attachments(received[commune_address(code)][0])) == 1
    assert notify(PeriodContext.open(settings, PERIOD), NOW)["sent"] == 0  # delivered means recorded


def test_an_e_mail_that_cannot_be_prepared_is_skipped_and_stays_owed(processed, tmp_path, monkeypatch):
    settings = fresh_copy(processed, tmp_path)
    warehouse = Warehouse(settings.warehouse)
    victim = next(s["submission_id"] for s in warehouse.read_table("submission", period_id=PERIOD)
                  if s["submitted_for"] == processed.rejected)
    real = Warehouse.read_findings

    def broken(self, submission_id):
        if submission_id == victim:
            raise ValueError("a finding that cannot be shown")
        return real(self, submission_id)

    box = Recorder()
    box.start()
    try:
        connect(monkeypatch, box)
        monkeypatch.setattr(Warehouse, "read_findings", broken)
        assert notify(PeriodContext.open(settings, PERIOD), NOW)["sent"] == 4
        assert commune_address(processed.rejected) not in by_recipient(box.take())
        monkeypatch.setattr(Warehouse, "read_findings", real)
        assert notify(PeriodContext.open(settings, PERIOD), NOW)["sent"] == 1
        assert list(by_recipient(box.take())) == [commune_address(processed.rejected)]
    finally:
        box.stop()


def test_a_refused_recipient_or_a_broken_message_does_not_stop_the_others(tmp_path, monkeypatch):
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    gone, gone_cc = "da-nghi-viec@example.gov.vn", "phong.cu@example.gov.vn"

    def message(ref: str, to: list[str], cc: list[str] | None = None, text: str = "Nội dung") -> Email:
        return Email("result", PERIOD, ref, to, cc=cc or [], subject=f"[Tổng hợp giảm nghèo] Thư {ref}", text=text,
                     html=f"<p>{text}</p>", attachments=[("bao-cao.xlsx", b"PK\x03\x04 copy")])

    emails = [message("a", ["xa.1@example.gov.vn"]),
              message("b", [gone]),  # every recipient refused: SMTPRecipientsRefused
              message("c", ["xa.not-an-address\n@example.gov.vn"]),  # cannot be built
              message("d", ["xa.4@example.gov.vn"], cc=[gone_cc]),  # one of two recipients refused
              message("e", ["xa.5@example.gov.vn"], text="Tên tệp \udcff hỏng")]  # lone surrogate in the body
    box = Recorder(refuse={gone, gone_cc})
    box.start()
    try:
        connect(monkeypatch, box)
        counts = send_all(warehouse, emails, "tonghop@example.gov.vn")
        first = box.take()
        assert counts == {"planned": 5, "sent": 3, "already_sent": 0, "failed": 3}
        assert sorted(r for rcpts, _, _ in first for r in rcpts) == [
            "xa.1@example.gov.vn", "xa.4@example.gov.vn", "xa.5@example.gov.vn"]
        assert "\ufffd" in plain(by_recipient(first)["xa.5@example.gov.vn"][0])
        recorded = {(ref, r) for _, ref, r in warehouse.sent_emails(PERIOD)}
        assert recorded == {("a", "xa.1@example.gov.vn"), ("d", "xa.4@example.gov.vn"), ("e", "xa.5@example.gov.vn")}

        box.refuse.clear()  # the addresses are fixed on the server's side: only what is owed goes out
        counts = send_all(warehouse, emails, "tonghop@example.gov.vn")
        assert counts == {"planned": 5, "sent": 2, "already_sent": 2, "failed": 1}  # c can never be built
        second = box.take()
        assert sorted(r for rcpts, _, _ in second for r in rcpts) == sorted([gone, gone_cc])
        assert {m["Subject"] for _, m, _ in second} == {"[Tổng hợp giảm nghèo] Thư b", "[Tổng hợp giảm nghèo] Thư d"}
    finally:
        box.stop()


def test_a_subject_and_an_attachment_name_are_one_bounded_line(tmp_path, monkeypatch):
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    name = "bc\n" + "Đường " * 200 + "\u2028.xlsx"
    emails = [Email("result", PERIOD, "long", ["xa.1@example.gov.vn"], "[Tổng hợp giảm nghèo] " + name * 3,
                    "Nội dung", "<p>Nội dung</p>", attachments=[("../../" + name, b"PK\x03\x04")])]
    box = Recorder()
    box.start()
    try:
        connect(monkeypatch, box)
        assert send_all(warehouse, emails, "tonghop@example.gov.vn")["sent"] == 1
        ((_, msg, raw),) = box.take()
    finally:
        box.stop()
    assert_clean_headers(msg, raw)
    assert msg["Subject"].endswith("…") and len(msg["Subject"]) == MAX_SUBJECT_CHARS
    (part,) = attachments(msg)
    assert part.get_filename().endswith(".xlsx") and len(part.get_filename()) <= 120


def test_a_result_lists_at_most_so_many_findings_each_cut_short():
    from tonghop.mailer import render

    findings = [{"severity": "warning" if i % 3 else "error", "sheet": "B. Hộ nghèo", "cell": f"D{i}",
                 "label": "Số hộ", "value": "9" * 5000, "expected": "≥ 0", "message": f"Lỗi {i}\n" + "x" * 5000}
                for i in range(250)]
    listed, more = listed_findings(findings)
    assert len(listed) == MAX_LISTED_FINDINGS and all(f["severity"] == "error" for f in listed[:84])
    assert all(len(f[k]) <= MAX_FINDING_CHARS and "\n" not in f[k] for f in listed for k in ("value", "message"))
    assert more == "150 cảnh báo"  # the 84 errors are all listed
    assert listed_findings([{"severity": "error"}] * 150 + [{"severity": "warning"}] * 10)[1] == "50 lỗi và 10 cảnh báo"
    text = render("result.txt.j2", subject="s", period_name="Báo cáo năm 2026", unit_name="Xã Tân Xuân",
                  file_name="bao-cao.xlsx", received_at="09:00 ngày 02/11/2026", on_time=True, deadline="10/11/2026",
                  rejected=True, errors=84, warnings=166, closes="17:00 ngày 20/11/2026", findings=listed,
                  more_findings=more, attached=True)
    assert "… còn 150 cảnh báo khác không liệt kê trong thư này; danh sách đầy đủ có trong trang «Kết quả kiểm " \
           "tra» của tệp đính kèm." in text
    assert len(text) < 100 * 2 * MAX_FINDING_CHARS
