"""The reporting calendar: periods, their deadlines and open windows, read from one YAML file."""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from tonghop.yamlfile import read_yaml

ADHOC = "ADHOC"
PERIOD_ID = re.compile(r"^\d{4}-[A-Z0-9]+$")


class CalendarError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    id: str
    name: str
    kind: str
    year: int
    opens_at: dt.datetime
    commune_deadline: dt.datetime
    closes_at: dt.datetime
    district_deadline: dt.datetime | None = None
    province_deadline: dt.datetime | None = None
    consolidate_at: dt.datetime | None = None  # the scheduled consolidation (and district summary)

    def accepts_at(self, received_at: dt.datetime) -> bool:
        """Whether a file received then may still be processed for this period."""
        return self.opens_at <= received_at <= self.closes_at

    def on_time(self, received_at: dt.datetime) -> bool:
        return received_at <= self.commune_deadline

    @property
    def deadline_date(self) -> dt.date:
        return self.commune_deadline.date()


def _end_of_day(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59, 999999), tzinfo=tz)


def _start_of_day(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=tz)


def _month_day(year: int, text: str) -> dt.date:
    month, day = (int(x) for x in text.split("-"))
    return dt.date(year, month, day)


def _as_date(value: object) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@dataclass(frozen=True)
class Notifications:
    reminder_days_before: tuple[int, ...] = (5, 1)
    reminder_time: dt.time = dt.time(8, 0)
    consolidation_alert_after: dt.timedelta = dt.timedelta(hours=24)
    # An officer whose sign-off decision is still pending this long after the scheduled consolidation is reminded.
    sign_off_reminder_after: dt.timedelta = dt.timedelta(days=3)


@dataclass(frozen=True)
class Calendar:
    timezone: ZoneInfo
    periods: dict[str, Period]
    consolidation_times: tuple[tuple[int, int, int, int], ...]  # (month, day, hour, minute)
    notifications: Notifications = Notifications()

    def reminder_moments(self, period: Period) -> list[tuple[int, dt.datetime]]:
        """(days before, moment) of each reminder of a period, earliest first."""
        moments = []
        for days in sorted(self.notifications.reminder_days_before, reverse=True):
            day = period.deadline_date - dt.timedelta(days=days)
            moments.append((days, dt.datetime.combine(day, self.notifications.reminder_time, tzinfo=self.timezone)))
        return moments

    def open_at(self, moment: dt.datetime) -> list[Period]:
        """Periods that accept files at `moment` or still owe e-mails (until the consolidation alert is due)."""
        margin = self.notifications.consolidation_alert_after + dt.timedelta(days=1)
        return sorted((p for p in self.periods.values()
                       if p.opens_at - dt.timedelta(days=max(self.notifications.reminder_days_before, default=0))
                       <= moment <= max(p.closes_at, p.commune_deadline + margin)),
                      key=lambda p: p.commune_deadline)

    def get(self, period_id: str) -> Period:
        try:
            return self.periods[period_id]
        except KeyError:
            raise CalendarError(f"unknown period {period_id!r}") from None

    def __contains__(self, period_id: object) -> bool:
        return period_id in self.periods

    def latest_due_before(self, moment: dt.datetime) -> Period:
        """The period whose commune deadline passed most recently before `moment`."""
        due = [p for p in self.periods.values() if p.commune_deadline < moment]
        if not due:
            raise CalendarError(f"no period is due before {moment.isoformat()}")
        return max(due, key=lambda p: p.commune_deadline)

    def previous(self, period: Period) -> Period | None:
        """The recurring period due just before this one (None for ad-hoc periods and the first one)."""
        if period.kind == ADHOC:
            return None
        earlier = [p for p in self.periods.values() if p.kind != ADHOC and p.commune_deadline < period.commune_deadline]
        return max(earlier, key=lambda p: p.commune_deadline, default=None)

    def consolidation_crons(self) -> list[str]:
        """Cron expressions (local time) for the scheduled consolidation runs of recurring periods."""
        return [f"{minute} {hour} {day} {month} *" for month, day, hour, minute in self.consolidation_times]


@functools.cache
def load_calendar(path: Path | str) -> Calendar:
    raw = read_yaml(path)
    tz = ZoneInfo(raw["timezone"])
    notes = raw.get("notifications") or {}
    notifications = Notifications(
        reminder_days_before=tuple(int(d) for d in notes.get("reminder_days_before", (5, 1))),
        reminder_time=dt.time.fromisoformat(str(notes.get("reminder_time", "08:00"))),
        consolidation_alert_after=dt.timedelta(hours=float(notes.get("consolidation_alert_after_hours", 24))),
        sign_off_reminder_after=dt.timedelta(days=float(notes.get("sign_off_reminder_after_days", 3))),
    )
    periods: dict[str, Period] = {}
    times = []
    for spec in raw.get("recurring", []):
        when, hm = spec["consolidate"].split()
        month, day = (int(x) for x in when.split("-"))
        hour, minute = (int(x) for x in hm.split(":"))
        times.append((month, day, hour, minute))
        for year in range(raw["years"]["first"], raw["years"]["last"] + 1):
            deadline = _end_of_day(_month_day(year, spec["commune_deadline"]), tz)
            consolidate_at = dt.datetime(year, month, day, hour, minute, tzinfo=tz)
            pid = f"{year}-{spec['kind']}"
            periods[pid] = Period(
                id=pid,
                name=spec["name"].format(year=year),
                kind=spec["kind"],
                year=year,
                opens_at=_start_of_day(_month_day(year, spec["opens"]), tz),
                commune_deadline=deadline,
                closes_at=deadline + dt.timedelta(days=int(spec["closes_after_days"])),
                district_deadline=_end_of_day(_month_day(year, spec["district_deadline"]), tz)
                if spec.get("district_deadline") else None,
                province_deadline=_end_of_day(_month_day(year, spec["province_deadline"]), tz)
                if spec.get("province_deadline") else None,
                consolidate_at=consolidate_at,
            )
    for spec in raw.get("adhoc") or []:
        pid = spec["id"]
        if not PERIOD_ID.match(pid):
            raise CalendarError(f"ad-hoc period id {pid!r} must look like 2026-DX1")
        if pid in periods:
            raise CalendarError(f"period {pid} is defined twice")
        deadline = _end_of_day(_as_date(spec["commune_deadline"]), tz)
        consolidate_at = (dt.datetime.fromisoformat(str(spec["consolidate"])).replace(tzinfo=tz)
                          if spec.get("consolidate")
                          else dt.datetime.combine(deadline.date() + dt.timedelta(days=1), dt.time(7, 0), tzinfo=tz))
        periods[pid] = Period(
            id=pid,
            name=spec["name"],
            kind=ADHOC,
            year=int(pid[:4]),
            opens_at=_start_of_day(_as_date(spec["opens"]), tz),
            commune_deadline=deadline,
            closes_at=_end_of_day(_as_date(spec["closes"]), tz),
            consolidate_at=consolidate_at,
        )
    return Calendar(timezone=tz, periods=periods, consolidation_times=tuple(times), notifications=notifications)
