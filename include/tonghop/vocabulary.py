"""The words every stage shares: a file's state, a commune's reporting status, areas, the unit of money
and how times are written for officials. One place each, so a state is never retyped as a literal."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

# A received file's state in the ledger (table `submission`, column `status`); see tonghop.ledger.
RECEIVED, ACCEPTED, REJECTED, SUPERSEDED, DUPLICATE = "received", "accepted", "rejected", "superseded", "duplicate"
# Sign-off (tonghop.sign_off): an accepted report an officer sent back, and a valid file held out of the roll-up
# because its unit's figures are approved (it competes again once the approval is withdrawn).
RETURNED, HELD = "returned", "held"
FINAL_STATES = (ACCEPTED, REJECTED, SUPERSEDED, DUPLICATE, RETURNED, HELD)
# Where a file came from (column `origin`): the inbox, or history loaded with its real received time.
LIVE, IMPORTED = "live", "imported"

# A commune's reporting status in a published period, as officers see it (ACCEPTED and REJECTED as above).
NOT_RECEIVED, ACCEPTED_WITH_WARNINGS = "not_received", "accepted_with_warnings"
REPORTING_STATUS_LABELS = {
    NOT_RECEIVED: "Chưa nhận",
    REJECTED: "Bị từ chối",
    ACCEPTED_WITH_WARNINGS: "Hợp lệ, có cảnh báo",
    ACCEPTED: "Hợp lệ",
    RETURNED: "Bị trả lại, chờ xã gửi lại",
    HELD: "Gửi sau khi đã duyệt, chưa đưa vào tổng hợp",
}

# A consolidating unit's figures for a period (tonghop.sign_off): approved by its officer, accepted by the level above.
DRAFT, APPROVED, ACCEPTED_ABOVE = "draft", "approved", "accepted"
APPROVAL_STATES = (DRAFT, APPROVED, ACCEPTED_ABOVE)
APPROVAL_LABELS = {DRAFT: "Chưa duyệt", APPROVED: "Đã duyệt, chờ cấp trên tiếp nhận",
                   ACCEPTED_ABOVE: "Cấp trên đã tiếp nhận"}

# Areas. A commune is urban or rural (COMMUNE_AREAS); published figures exist per area and in TOTAL.
URBAN, RURAL, TOTAL = "urban", "rural", "total"
COMMUNE_AREAS = (URBAN, RURAL)
AREA_LABELS = {URBAN: "Khu vực thành thị", RURAL: "Khu vực nông thôn", TOTAL: "Tổng cộng"}

# Amounts are reported in millions of VND with at most 3 decimals; checks and roll-ups work on whole
# thousandths (1,000 đồng), so sums and comparisons are exact.
MONEY_SCALE = 1000


def utc(moment: dt.datetime) -> dt.datetime:
    """An aware UTC time (the warehouse returns naive UTC times from SQLite)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def local_date(day: dt.date) -> str:
    """A date as officials write it: 10/05/2026."""
    return day.strftime("%d/%m/%Y")


def local_time(moment: dt.datetime | None, tz: ZoneInfo) -> str:
    """A moment in the calendar's time zone, for tables: 10/05/2026 23:59 ("" for none)."""
    return utc(moment).astimezone(tz).strftime("%d/%m/%Y %H:%M") if moment else ""


def local_time_words(moment: dt.datetime, tz: ZoneInfo) -> str:
    """A moment in the calendar's time zone, for sentences: 23:59 ngày 10/05/2026."""
    return utc(moment).astimezone(tz).strftime("%H:%M ngày %d/%m/%Y")
