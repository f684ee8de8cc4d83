"""Notification: which e-mails a period owes at a given moment, worked out from the ledger and the calendar,
and sending them (`notify`).

The plan is recomputed from the warehouse every time; the mailer sends only what was not sent before,
so notifying is idempotent and catches up after an SMTP outage. Kinds:
- `result`     every processed file → its commune (cc the district officer when rejected), with the
               annotated workbook; `duplicate` notice for a byte-identical re-send; a file outside any
               commune folder → the province officer;
- `reminder_<n>d`  the latest due reminder (n days before the deadline) → communes without an accepted report;
- `district_summary`  from the scheduled consolidation on → each district officer: missing, late, rejected;
- `consolidation_alert`  no successful consolidation some hours after the deadline → the data team.
Addresses come only from the contacts directory, office names only from config/offices.yaml. Building one
e-mail never stops the others: a failure is logged with its kind and reference and the e-mail is left owed (a
failing warehouse still stops everything).
File names and typed values come from the inbox: they are quoted on one bounded line, and a result lists
at most MAX_LISTED_FINDINGS findings (errors first), each field cut at MAX_FINDING_CHARS.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tonghop.calendar import Calendar, Period
from tonghop.contacts import Directory, load_directory
from tonghop.findings import ERROR
from tonghop.hierarchy import Hierarchy
from tonghop.inbox import InboxFile
from tonghop.mailer import SMTP_CONN_ID, Email, one_line, render, send_all, smtp_configured
from tonghop.numbers import fmt
from tonghop.offices import Offices, load_offices
from tonghop.period import PeriodContext
from tonghop.storage import Inbox, Outputs
from tonghop.vocabulary import (
    ACCEPTED,
    ACCEPTED_ABOVE,
    APPROVED,
    DRAFT,
    DUPLICATE,
    IMPORTED,
    RECEIVED,
    REJECTED,
    SUPERSEDED,
    local_date,
    local_time_words,
    utc,
)
from tonghop.warehouse import Warehouse

log = logging.getLogger(__name__)
SUBJECT = "[Tổng hợp giảm nghèo]"
MAX_LISTED_FINDINGS = 100
MAX_FINDING_CHARS = 500
MAX_NAME_CHARS = 150  # a file name quoted in a subject or a body
FINDING_TEXT = ("sheet", "cell", "label", "value", "expected", "message")


def _emails(directory: Directory, code: str | None, role: str) -> list[str]:
    return [c.email for c in directory.of(role, code)] if code else []


class Plan:
    """E-mails still owed: a message is only rendered when one of its recipients has not received it."""

    def __init__(self, period: Period, sent: set[tuple[str, str, str]], offices: Offices, edition: str) -> None:
        self.period = period
        self.sent = sent
        self.offices, self.edition = offices, edition  # the office names of the period's map edition
        self.emails: list[Email] = []
        self.without_recipient: list[tuple[str, str]] = []
        self.failed: list[tuple[str, str]] = []  # (kind, ref) of e-mails that could not be built

    def owes(self, kind: str, ref: str, recipients: list[str]) -> bool:
        if not recipients:
            self.without_recipient.append((kind, ref))
            return False
        return any((kind, ref, r) not in self.sent for r in recipients)

    @contextlib.contextmanager
    def contained(self, kind: str, ref: str) -> Iterator[None]:
        """Whatever goes wrong while one e-mail is prepared costs that e-mail only; it stays owed. A warehouse
        error is not the e-mail's fault and propagates."""
        try:
            yield
        except sa.exc.SQLAlchemyError:
            raise
        except Exception:
            log.exception("%s %s %s: could not prepare the e-mail; it is skipped and stays owed",
                          self.period.id, kind, ref)
            self.failed.append((kind, ref))

    def add(self, kind: str, ref: str, to: list[str], subject: str, template: str, cc: list[str] | None = None,
            attachments: list | None = None, office: str = "", **context: Any) -> None:
        """`office`: the office the recipients turn to with questions, named in the message ("" for none)."""
        with self.contained(kind, ref):
            if self.owes(kind, ref, [*to, *(cc or [])]):
                self.emails.append(_email(kind, self.period, ref, to, subject, template, cc, attachments,
                                          office, **context))

    def receiving_office(self, hierarchy: Hierarchy, commune: str) -> str:
        """The name of the office a commune sends its report to."""
        return self.offices.receiving_office(hierarchy, commune, self.edition).name

    def office_above(self, hierarchy: Hierarchy, code: str) -> str:
        """The name of the office above a district or province ("" for a province: nobody above it here)."""
        parent = hierarchy[code].parent_code
        return self.offices.office_of(hierarchy, parent, self.edition).name if parent else ""


def _email(kind: str, period: Period, ref: str, to: list[str], subject: str, template: str,
           cc: list[str] | None = None, attachments: list | None = None, office: str = "", **context: Any) -> Email:
    context.update(subject=subject, period_name=period.name, office=office)
    return Email(kind=kind, period_id=period.id, ref=ref, to=to, cc=cc or [], subject=subject,
                 text=render(f"{template}.txt.j2", **context), html=render(f"{template}.html.j2", **context),
                 attachments=attachments or [], office=office)


def listed_findings(findings: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """The findings a result e-mail lists (errors first when they do not all fit), each text cut to one
    bounded line, and what was left out ("37 lỗi và 5 cảnh báo"), if anything."""
    if len(findings) > MAX_LISTED_FINDINGS:
        ordered = sorted(findings, key=lambda f: f.get("severity") != ERROR)  # stable: errors first
        shown, rest = ordered[:MAX_LISTED_FINDINGS], ordered[MAX_LISTED_FINDINGS:]
    else:
        shown, rest = list(findings), []
    listed = [{**f, **{k: one_line(f[k], MAX_FINDING_CHARS) for k in FINDING_TEXT if f.get(k) is not None}}
              for f in shown]
    if not rest:
        return listed, None
    errors = sum(f.get("severity") == ERROR for f in rest)
    parts = [f"{errors} lỗi"] * bool(errors) + [f"{len(rest) - errors} cảnh báo"] * bool(len(rest) - errors)
    return listed, " và ".join(parts)


def result_emails(plan: Plan, warehouse: Warehouse, hierarchy: Hierarchy, calendar: Calendar,
                  directory: Directory, submissions: Sequence[Mapping[str, Any]], outputs: Outputs) -> None:
    by_id = {s["submission_id"]: s for s in submissions}
    parent_level = hierarchy.levels[-2] if len(hierarchy.levels) > 1 else None
    for s in submissions:
        if s["status"] == RECEIVED:
            continue  # not processed yet: its result comes with the run that processes it
        if s.get("origin") == IMPORTED:
            continue  # history loaded by the data team: the commune sent it long ago and was answered then
        with plan.contained("result", s["submission_id"]):
            _result_email(plan, warehouse, hierarchy, calendar, directory, s, by_id, outputs, parent_level)


def _result_email(plan: Plan, warehouse: Warehouse, hierarchy: Hierarchy, calendar: Calendar, directory: Directory,
                  s: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]], outputs: Outputs,
                  parent_level: str | None) -> None:
    period = plan.period
    commune = s["submitted_for"] if s["submitted_for"] in hierarchy else None
    file_name = one_line(s["file_name"], MAX_NAME_CHARS)
    common = {"file_name": file_name, "received_at": local_time_words(s["received_at"], calendar.timezone)}
    if commune is None:
        province = s["province_code"]
        # A province the map does not know is greeted as its office type ("Sở Nông nghiệp và Môi trường").
        unit_name = (hierarchy[province].name if province in hierarchy
                     else plan.offices.office(plan.edition, hierarchy.levels[0]).name)
        subject = f"{SUBJECT} {period.name}: tệp không xác định được xã gửi ({file_name})"
        plan.add("result", s["submission_id"], _emails(directory, province, "province"), subject, "unplaced",
                 unit_name=unit_name, source_key=one_line(s["source_key"], 2 * MAX_NAME_CHARS), **common)
        return
    unit_name = hierarchy[commune].name
    office = plan.receiving_office(hierarchy, commune)
    if s["status"] == DUPLICATE:
        original = by_id.get(s["duplicate_of"], {})
        outcome = "bị từ chối" if original.get("error_count") else "hợp lệ"
        subject = f"{SUBJECT} {period.name} – {unit_name}: đã nhận tệp trùng với tệp gửi trước"
        plan.add("result", s["submission_id"], _emails(directory, commune, "commune"), subject, "duplicate",
                 unit_name=unit_name, original_file=one_line(original.get("file_name") or "", MAX_NAME_CHARS),
                 original_received_at=local_time_words(original["received_at"], calendar.timezone) if original else "",
                 original_outcome=outcome, office=office, **common)
        return
    rejected = s["status"] == REJECTED
    errors, warnings = s["error_count"], s["warning_count"]
    if rejected:
        verdict = f"BỊ TỪ CHỐI – cần sửa {errors} lỗi"
    elif warnings:
        verdict = f"HỢP LỆ, có {warnings} cảnh báo"
    else:
        verdict = "HỢP LỆ"
    district = hierarchy.ancestor(commune, parent_level) if parent_level else None
    to = _emails(directory, commune, "commune")
    cc = _emails(directory, district, parent_level) if rejected and district else []
    if not plan.owes("result", s["submission_id"], [*to, *cc]):
        return
    annotated = outputs.read(s["annotated_path"]) if s.get("annotated_path") else None
    attachments = [(Path(s["annotated_path"]).name, annotated)] if annotated else []
    findings, more_findings = listed_findings(warehouse.read_findings(s["submission_id"]))
    plan.add("result", s["submission_id"], to, f"{SUBJECT} {period.name} – {unit_name}: báo cáo {verdict}",
             "result", cc=cc, attachments=attachments, office=office,
             unit_name=unit_name, rejected=rejected, errors=errors, warnings=warnings, on_time=bool(s["on_time"]),
             deadline=local_date(period.commune_deadline), closes=local_time_words(period.closes_at, calendar.timezone),
             findings=findings, more_findings=more_findings, attached=bool(attachments), **common)


def _accepted_communes(submissions: Sequence[Mapping[str, Any]]) -> set[str]:
    return {s["submitted_for"] for s in submissions if s["status"] in (ACCEPTED, SUPERSEDED)}


def reminder_emails(plan: Plan, hierarchy: Hierarchy, calendar: Calendar, directory: Directory,
                    submissions: Sequence[Mapping[str, Any]], now: dt.datetime, scope: str | None) -> None:
    period = plan.period
    due = [(days, moment) for days, moment in calendar.reminder_moments(period) if moment <= now]
    if not due or now > period.commune_deadline:
        return
    days, _ = due[-1]  # only the latest due reminder: a late start does not send several at once
    accepted = _accepted_communes(submissions)
    rejected_files: dict[str, list[str]] = defaultdict(list)
    for s in submissions:
        if s["status"] == REJECTED:
            rejected_files[s["submitted_for"]].append(one_line(s["file_name"], MAX_NAME_CHARS))
    deadline = local_date(period.commune_deadline)
    for unit in hierarchy.reporting_units(scope, active_on=period.deadline_date):
        if unit.code in accepted:
            continue
        with plan.contained(f"reminder_{days}d", unit.code):  # its office is looked up first: contained too
            plan.add(f"reminder_{days}d", unit.code, _emails(directory, unit.code, "commune"),
                     f"{SUBJECT} Nhắc nộp {period.name} – hạn hết ngày {deadline} (còn {days} ngày)",
                     "reminder", office=plan.receiving_office(hierarchy, unit.code), unit_name=unit.name,
                     now=local_time_words(now, calendar.timezone), deadline=deadline, days=days,
                     rejected_files=rejected_files.get(unit.code, []))


def district_summaries(plan: Plan, hierarchy: Hierarchy, calendar: Calendar, directory: Directory,
                       submissions: Sequence[Mapping[str, Any]], now: dt.datetime, scope: str | None) -> None:
    period = plan.period
    if period.consolidate_at is None or now < period.consolidate_at or len(hierarchy.levels) < 2:
        return
    level = hierarchy.levels[-2]
    by_commune: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for s in submissions:
        by_commune[s["submitted_for"]].append(s)
    accepted = _accepted_communes(submissions)
    by_unit: dict[str, list] = defaultdict(list)
    for unit in hierarchy.reporting_units(scope, active_on=period.deadline_date):
        by_unit[hierarchy.ancestor(unit.code, level)].append(unit)
    for code, communes in sorted(by_unit.items()):
        with plan.contained("district_summary", code):
            _district_summary(plan, hierarchy, calendar, directory, code, level, communes, by_commune, accepted, now)


def _district_summary(plan: Plan, hierarchy: Hierarchy, calendar: Calendar, directory: Directory, code: str,
                      level: str, communes: list, by_commune: Mapping[str, list[Mapping[str, Any]]],
                      accepted: set[str], now: dt.datetime) -> None:
    period = plan.period
    if not plan.owes("district_summary", code, _emails(directory, code, level)):
        return
    missing, late, rejected = [], [], []
    on_time = 0
    for unit in communes:
        files = [s for s in by_commune.get(unit.code, []) if s["status"] != RECEIVED]
        row = {"code": unit.code, "name": unit.name, "note": ""}
        if not files:
            missing.append(row)
            continue
        first = min(utc(s["received_at"]) for s in files)
        if first <= period.commune_deadline:
            on_time += 1
        else:
            late.append({**row, "note": f"nhận lúc {local_time_words(first, calendar.timezone)}"})
        if unit.code not in accepted:
            rejected.append({**row, "note": f"{len(files)} tệp, chưa có tệp hợp lệ"})
    expected, received = len(communes), len(communes) - len(missing)
    unit_name = hierarchy[code].name
    plan.add(
        "district_summary", code, _emails(directory, code, level),
        f"{SUBJECT} {period.name} – {unit_name}: tình hình nộp báo cáo sau hạn", "district_summary",
        office=plan.office_above(hierarchy, code), unit_name=unit_name, now=local_time_words(now, calendar.timezone),
        deadline=local_date(period.commune_deadline),
        expected=expected, received=received, accepted=expected - len(missing) - len(rejected),
        on_time=on_time, reporting_rate=f"{fmt(received * 100 / expected, 2)}%",
        on_time_rate=f"{fmt(on_time * 100 / expected, 2)}%",
        sections=[("Chưa nộp", missing), ("Nộp muộn", late), ("Bị từ chối, chưa nộp lại tệp hợp lệ", rejected)])


def consolidation_alert(plan: Plan, warehouse: Warehouse, calendar: Calendar, directory: Directory,
                        now: dt.datetime) -> None:
    period = plan.period
    threshold = period.commune_deadline + calendar.notifications.consolidation_alert_after
    recipients = [c.email for c in directory.data_team]
    if now < threshold or not plan.owes("consolidation_alert", period.id, recipients):
        return
    with plan.contained("consolidation_alert", period.id):
        _consolidation_alert(plan, warehouse, calendar, recipients, now)


def _consolidation_alert(plan: Plan, warehouse: Warehouse, calendar: Calendar, recipients: list[str],
                         now: dt.datetime) -> None:
    period = plan.period
    runs = [r for r in warehouse.read_table("run_log", period_id=period.id) if r["stage"] == "consolidate"]
    after_deadline = [utc(r["finished_at"]) for r in runs if utc(r["finished_at"]) > period.commune_deadline]
    if after_deadline:
        return
    last = max((utc(r["finished_at"]) for r in runs), default=None)
    hours = calendar.notifications.consolidation_alert_after.total_seconds() / 3600
    text = render("consolidation_alert.txt.j2", period_id=period.id, period_name=period.name,
                  now=now.isoformat(), deadline=period.commune_deadline.isoformat(), hours=fmt(hours),
                  last=last.isoformat() if last else None)
    plan.emails.append(Email(
        "consolidation_alert", period.id, period.id, recipients,
        f"[tonghop] Consolidation of {period.id} has not succeeded {fmt(hours)} h after the deadline",
        text, f"<pre>{html.escape(text)}</pre>"))


def _unit_contacts(directory: Directory, hierarchy: Hierarchy, code: str | None) -> list[str]:
    """The officers of a consolidating unit (None: the ministry, above the provinces)."""
    if code is None:
        return [c.email for c in directory.of("ministry", None)]
    return _emails(directory, code, hierarchy[code].level) if code in hierarchy else []


def _above_name(hierarchy: Hierarchy, code: str) -> str:
    parent = hierarchy[code].parent_code
    return hierarchy[parent].name if parent else "Bộ (cơ quan quản lý Chương trình)"


def sign_off_emails(plan: Plan, warehouse: Warehouse, hierarchy: Hierarchy, calendar: Calendar,
                    directory: Directory, submissions: Sequence[Mapping[str, Any]], outputs: Outputs,
                    inbox: Inbox | None, now: dt.datetime, scope: str | None) -> None:
    """One e-mail per sign-off decision (to whoever must act next) and a reminder per pending decision."""
    period = plan.period
    states, events = warehouse.read_sign_off(period.id, plan.edition)
    by_id = {s["submission_id"]: s for s in submissions}
    tz = calendar.timezone

    def in_scope(code: str) -> bool:
        return scope is None or hierarchy.within(code, scope)

    for e in events:
        code, ref, kind = e["unit_code"], str(e["event_id"]), f"sign_off_{e['action']}"
        if code not in hierarchy or e["action"] == "explain" or not in_scope(code):
            continue
        when = local_time_words(e["at"], tz)
        name = hierarchy[code].name
        with plan.contained(kind, ref):
            if e["action"] == "send_back":
                sub = by_id.get(e["submission_id"] or "", {})
                if not plan.owes(kind, ref, _emails(directory, code, "commune")):
                    continue
                attachments = _workbook_attachment(sub, outputs, inbox)
                plan.add(kind, ref, _emails(directory, code, "commune"),
                         f"{SUBJECT} {period.name} – {name}: báo cáo bị trả lại, đề nghị gửi lại", "sign_off",
                         attachments=attachments, office=plan.receiving_office(hierarchy, code), unit_name=name,
                         intro=f"Báo cáo «{period.name}» của đơn vị (tệp "
                               f"{one_line(sub.get('file_name', ''), MAX_NAME_CHARS)}) "
                               f"đã được cán bộ tổng hợp trả lại lúc {when}. Báo cáo này không còn được dùng để "
                               "tổng hợp.",
                         reason=e["reason"], actor=e["actor"],
                         details=["Tệp báo cáo đơn vị đã gửi được đính kèm thư này."] if attachments else [],
                         action="Đề nghị đơn vị kiểm tra, sửa theo lý do trên và gửi lại cả tệp báo cáo theo cách "
                                "thông thường; tệp mới sẽ được kiểm tra và thông báo kết quả như mọi lần.")
            elif e["action"] == "approve":
                parent = hierarchy[code].parent_code
                plan.add(kind, ref, _unit_contacts(directory, hierarchy, parent),
                         f"{SUBJECT} {period.name} – {name} đã duyệt số liệu, đề nghị tiếp nhận", "sign_off",
                         unit_name=_above_name(hierarchy, code),
                         intro=f"{name} đã duyệt số liệu «{period.name}» lúc {when} ({e['actor']}).",
                         reason=None, actor=e["actor"], details=[],
                         action="Đề nghị xem số liệu trên trang Tình hình báo cáo và tiếp nhận, hoặc trả lại kèm "
                                "lý do.")
            elif e["action"] in ("return", "accept", "withdraw"):
                by_unit = e["actor_unit"] == code
                to = (_unit_contacts(directory, hierarchy, hierarchy[code].parent_code) if by_unit
                      else _unit_contacts(directory, hierarchy, code))
                verb = {"return": "trả lại", "accept": "tiếp nhận", "withdraw": "hủy duyệt"}[e["action"]]
                who = name if by_unit else _above_name(hierarchy, code)
                plan.add(kind, ref, to, f"{SUBJECT} {period.name} – số liệu của {name} đã được {verb}", "sign_off",
                         unit_name=_above_name(hierarchy, code) if by_unit else name,
                         intro=f"{who} đã {verb} số liệu «{period.name}» của {name} lúc {when}.",
                         reason=e["reason"], actor=e["actor"], details=[],
                         action={"return": "Đề nghị xem lại, xử lý theo lý do trên (trả lại báo cáo xã nếu cần) "
                                           "rồi duyệt lại.",
                                 "accept": "Số liệu đã khóa: tệp xã gửi thêm sẽ được ghi nhận nhưng không đưa vào "
                                           "tổng hợp cho đến khi hủy duyệt.",
                                 "withdraw": "Số liệu trở lại trạng thái chưa duyệt; các tệp xã gửi sau khi duyệt "
                                             "được đưa vào lần tổng hợp tới."}[e["action"]])
    if period.consolidate_at is None:
        return
    units = [u for level in hierarchy.levels[:-1] for u in hierarchy.at_level(level) if in_scope(u.code)]
    for u in units:
        row = states.get(u.code, {})
        state = row.get("state", DRAFT)
        if state == ACCEPTED_ABOVE:
            continue
        # pending since the consolidation, or since the unit's last change of state (a return, an approval)
        since = max(utc(period.consolidate_at), utc(row.get("changed_at") or period.consolidate_at))
        if now < since + calendar.notifications.sign_off_reminder_after:
            continue
        pending_above = state == APPROVED
        to = _unit_contacts(directory, hierarchy, u.parent_code if pending_above else u.code)
        ref = f"{u.code}:{state}:{since:%Y%m%dT%H%M%S}"
        plan.add("sign_off_reminder", ref, to,
                 f"{SUBJECT} {period.name} – {u.name}: số liệu đang chờ {'tiếp nhận' if pending_above else 'duyệt'}",
                 "sign_off", unit_name=_above_name(hierarchy, u.code) if pending_above else u.name,
                 intro=f"Đến {local_time_words(now, tz)}, số liệu «{period.name}» của {u.name} vẫn "
                       f"{'chờ cấp trên tiếp nhận' if pending_above else 'chưa được duyệt'}.",
                 reason=None, actor="", details=[],
                 action="Đề nghị vào trang Tình hình báo cáo để xem xét và quyết định.")


def _workbook_attachment(sub: Mapping[str, Any], outputs: Outputs, inbox: Inbox | None) -> list:
    """The commune's workbook: its annotated copy when there is one, else the file it sent."""
    if not sub:
        return []
    if sub.get("annotated_path"):
        data = outputs.read(sub["annotated_path"])
        if data:
            return [(Path(sub["annotated_path"]).name, data)]
    if inbox is None:
        return []
    item = InboxFile(sub["source_key"], sub["period_id"], sub["province_code"], sub["submitted_for"],
                     utc(sub["received_at"]), sub["size_bytes"])
    return [(sub["file_name"], inbox.read(item))]


def owed(warehouse: Warehouse, hierarchy: Hierarchy, calendar: Calendar, period: Period, directory: Directory,
         now: dt.datetime, outputs: Outputs, scope: str | None = None, *, offices: Offices, edition: str,
         inbox: Inbox | None = None) -> Plan:
    """The e-mails the period owes at `now` and has not sent yet; office names from `offices` for the period's
    map `edition`."""
    offices.of_edition(edition)  # an edition without offices is a configuration error: fail before any e-mail
    plan = Plan(period, warehouse.sent_emails(period.id), offices, edition)
    submissions = warehouse.read_period_submissions(period.id)
    result_emails(plan, warehouse, hierarchy, calendar, directory, submissions, outputs)
    reminder_emails(plan, hierarchy, calendar, directory, submissions, now, scope)
    district_summaries(plan, hierarchy, calendar, directory, submissions, now, scope)
    consolidation_alert(plan, warehouse, calendar, directory, now)
    sign_off_emails(plan, warehouse, hierarchy, calendar, directory, submissions, outputs, inbox, now, scope)
    return plan


def notify(ctx: PeriodContext, now: dt.datetime | None = None) -> dict[str, Any]:
    """Send the e-mails the period owes at `now` and has not sent yet (no-op without an SMTP connection).

    Raises MailError when the SMTP server fails; what was sent stays recorded, the rest goes next time."""
    if not smtp_configured():
        log.info("no %s connection: e-mail is off", SMTP_CONN_ID)
        return {"email": "off"}
    settings, period_id = ctx.settings, ctx.period.id
    directory = load_directory(settings.contacts_path, ctx.edition.id)
    plan = owed(ctx.warehouse, ctx.hierarchy, ctx.calendar, ctx.period, directory,
                now or dt.datetime.now(dt.UTC), ctx.outputs, ctx.scope,
                offices=load_offices(settings.offices_path), edition=ctx.edition.id, inbox=ctx.inbox)
    for kind, ref in plan.without_recipient:
        log.warning("%s %s %s: nobody in the contacts directory to send it to", period_id, kind, ref)
    counts = send_all(ctx.warehouse, plan.emails, settings.mail_from)
    log.info("e-mail for %s: %s", period_id, counts)
    return {**counts, "without_recipient": len(plan.without_recipient), "unbuilt": len(plan.failed)}
