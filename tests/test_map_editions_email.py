"""E-mail on the two-level map: results go to the commune and, when rejected, to the province officer (there is
no district any more); contacts of the same codes on the pre-reform map receive nothing."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from tests.test_lifecycle import start_mailbox
from tonghop.config import Settings
from tonghop.consolidate import consolidate
from tonghop.contacts import Contact, write_directory
from tonghop.ingest import ingest
from tonghop.notify import notify
from tonghop.period import PeriodContext
from tonghop.spec import load_spec
from tonghop.synth import commune_values
from tonghop.template import prefill_values, write_workbook

PERIOD = "2026-FY"
PROVINCE = "86"  # Tỉnh Vĩnh Long since 1 July 2025; before, the code of the old (smaller) Tỉnh Vĩnh Long
PROVINCE_OFFICER = "giamngheo.vinhlong@example.gov.vn"
OLD_PROVINCE_OFFICER = "sldtbxh.vinhlong.cu@example.gov.vn"
OLD_DISTRICT_OFFICER = "ldtbxh.batri@example.gov.vn"


@pytest.fixture
def mailbox(monkeypatch):
    box = start_mailbox(monkeypatch, "tonghop@vinhlong.example.gov.vn")
    yield box
    box.stop()


def test_results_on_the_two_level_map_go_to_the_province_officer(tmp_path, monkeypatch, mailbox):
    contacts = tmp_path / "contacts.csv"
    communes = ["29110", "28807"]  # Xã Ba Tri and Xã Giao Long of the new province
    write_directory(contacts, [
        *(Contact(c, "commune", f"Xã {c}", f"xa.{c}@example.gov.vn", "2025") for c in communes),
        Contact("29110", "commune", "Thị trấn Ba Tri (cũ)", "tt.batri.cu@example.gov.vn", "pre2025"),
        Contact(PROVINCE, "province", "Sở Nông nghiệp và Môi trường Tỉnh Vĩnh Long", PROVINCE_OFFICER, "2025"),
        Contact(PROVINCE, "province", "Sở LĐTBXH Tỉnh Vĩnh Long (cũ)", OLD_PROVINCE_OFFICER, "pre2025"),
        Contact("836", "district", "Phòng LĐTBXH Huyện Ba Tri (cũ)", OLD_DISTRICT_OFFICER, "pre2025"),
    ])
    monkeypatch.setenv("TONGHOP_CONTACTS", str(contacts))
    monkeypatch.setenv("TONGHOP_SCOPE", PROVINCE)
    settings = Settings.from_env(home=tmp_path / "home")
    ctx = PeriodContext.open(settings, PERIOD)
    assert ctx.hierarchy.levels == ("province", "commune")
    spec, period = load_spec(), ctx.period
    when = period.commune_deadline - dt.timedelta(days=2)
    for code in communes:
        values = commune_values(3, ctx.hierarchy[code], period, spec)
        if code == communes[1]:
            values["poor_end"] = values["total_households"] + 1  # more poor households than households: rejected
        path = settings.inbox_dir / PERIOD / PROVINCE / code / "bao-cao.xlsx"
        write_workbook(path, prefill_values(spec, ctx.hierarchy, period, code), period, values)
        os.utime(path, (when.timestamp(), when.timestamp()))
    try:
        summary = ingest(ctx, ctx.inbox.list(PERIOD))
        assert (summary["accepted"], summary["rejected"]) == (1, 1)
        consolidate(ctx, now=when)
        notify(ctx, when + dt.timedelta(minutes=5))
    finally:
        ctx.close()
    received = mailbox.take()
    by_commune = {}
    for rcpts, msg in received:
        if "Nhắc nộp" in msg["Subject"]:
            continue  # the rejected commune is also reminded: it has no accepted report yet
        for code in communes:
            if f"xa.{code}@example.gov.vn" in rcpts:
                by_commune[code] = (sorted(rcpts), msg)

    def recipients(code: str) -> list[str]:  # of the commune's result message and its copies
        subject = by_commune[code][1]["Subject"]
        return sorted({r for rcpts, msg in received if msg["Subject"] == subject for r in rcpts})

    rejected_msg = by_commune[communes[1]][1]
    assert recipients(communes[0]) == ["xa.29110@example.gov.vn"]
    assert recipients(communes[1]) == sorted([f"xa.{communes[1]}@example.gov.vn", PROVINCE_OFFICER])
    everyone = {r for rcpts, _ in received for r in rcpts}
    assert not everyone & {OLD_PROVINCE_OFFICER, OLD_DISTRICT_OFFICER, "tt.batri.cu@example.gov.vn"}
    body = rejected_msg.get_body(("plain",)).get_content()
    assert "Lao động - Thương binh" not in body
