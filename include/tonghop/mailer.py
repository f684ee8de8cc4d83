"""Sending e-mail through Airflow's SMTP connection, exactly once per message and recipient.

What was sent is recorded in the warehouse (`email_log`, keyed by kind, period, reference and recipient)
right after the SMTP server accepted it: a retried task or a re-run sends only what is still missing.
If the server is down the sending stops with MailError; nothing is recorded for the unsent messages, so
the next attempt sends them. A message that cannot be built or that the server refuses (a recipient, its
size, its content) is logged and skipped: it stays owed, and it never holds back the messages after it.

Much of what goes into a message comes from the inbox (file names, typed values), so every header is
cut to one bounded line, and a message is kept under the size the server accepts (the smaller of
TONGHOP_MAIL_MAX_BYTES and the server's advertised SIZE): when it is too big, its attachments go and the
body says so.
"""

from __future__ import annotations

import functools
import logging
import mimetypes
import os
import re
import smtplib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import formatdate, make_msgid, parseaddr
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

if TYPE_CHECKING:
    from tonghop.warehouse import Warehouse

log = logging.getLogger(__name__)
SMTP_CONN_ID = "smtp_default"
TEMPLATES = Path(__file__).with_name("resources") / "emails"
MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # whole message as sent; TONGHOP_MAIL_MAX_BYTES overrides it
MAX_SUBJECT_CHARS = 250
MAX_FILENAME_CHARS = 120
MAX_ADDRESS_CHARS = 254  # RFC 5321, and the width of email_log.recipient
ATTACHMENT_DROPPED = "Tệp đính kèm quá lớn để gửi qua thư điện tử nên đã được lược bỏ khỏi thư này."
# Followed by where to ask for the file: the e-mail's office (config/offices.yaml), else no name at all.
ASK_FOR_COPY = "Vui lòng liên hệ {office} để nhận bản có đánh dấu."
ANY_OFFICE = "cơ quan tiếp nhận báo cáo"


class MailError(RuntimeError):
    """Sending stopped: the SMTP server is unreachable or dropped the connection."""


class MessageTooLarge(ValueError):
    """Even without its attachments the message is bigger than the server accepts."""


def one_line(value: object, limit: int | None = None) -> str:
    """Text safe for a header or a one-line mention: every line separator and control or format character
    (CR, LF, VT, FF, NEL, U+2028/2029, bidi overrides …) becomes a space, runs of spaces collapse, a lone
    surrogate (an undecodable byte of a file name) becomes U+FFFD, and the result is cut at `limit`
    characters with an ellipsis."""
    text = str(value)
    if limit is not None:
        text = text[: limit * 4]  # bounds the work on hostile input; normalisation may shorten it
    chars = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cs":
            chars.append("\ufffd")
        elif category[0] == "C" or category in ("Zl", "Zp"):
            chars.append(" ")
        else:
            chars.append(ch)
    cleaned = " ".join(unicodedata.normalize("NFC", "".join(chars)).split())
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned


def attachment_name(name: str) -> str:
    """An attachment's file name: one line, no path separators, bounded, the extension kept."""
    cleaned = one_line(name).replace("/", "_").replace("\\", "_").strip(". ") or "tep-dinh-kem"
    if len(cleaned) <= MAX_FILENAME_CHARS:
        return cleaned
    stem, dot, ext = cleaned.rpartition(".")
    if not dot or not stem or len(ext) > 10:
        return one_line(cleaned, MAX_FILENAME_CHARS)
    return f"{one_line(stem, MAX_FILENAME_CHARS - len(ext) - 1)}.{ext}"


def max_message_bytes() -> int:
    raw = os.environ.get("TONGHOP_MAIL_MAX_BYTES", "").strip()
    if not raw:
        return MAX_MESSAGE_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        log.warning("TONGHOP_MAIL_MAX_BYTES=%r is not a positive number of bytes; using %s", raw, MAX_MESSAGE_BYTES)
        return MAX_MESSAGE_BYTES
    return value


@dataclass
class Email:
    kind: str
    period_id: str
    ref: str  # what the message is about: a submission id, a commune or district code, a period
    to: list[str]
    subject: str
    text: str
    html: str
    cc: list[str] = field(default_factory=list)
    attachments: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, content)
    office: str = ""  # the office the recipient turns to with questions (config/offices.yaml); "" when none

    @property
    def recipients(self) -> list[str]:
        return list(dict.fromkeys([*self.to, *self.cc]))


@functools.cache
def _environment(html: bool) -> jinja2.Environment:
    # Plain-text templates keep every newline as written; HTML ones are escaped and trimmed.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=html, trim_blocks=html,
                              lstrip_blocks=html, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def render(template: str, **context: object) -> str:
    return _environment(template.endswith(".html.j2")).get_template(template).render(**context)


def smtp_configured(conn_id: str = SMTP_CONN_ID) -> bool:
    """Whether the SMTP connection is configured: in the environment (AIRFLOW_CONN_…), or — inside an Airflow
    task — anywhere Airflow looks (secrets backend, metadata DB)."""
    if os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}"):
        return True
    if not os.environ.get("AIRFLOW_CTX_DAG_ID"):
        return False  # `tonghop run` outside Airflow: only the environment counts (no Airflow import)
    from airflow.exceptions import AirflowNotFoundException
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    try:
        SmtpHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


# Python folds long encoded headers at 78 columns and can drop the space that falls on the fold
# ("BỊ TỪ CHỐI" arrives as "BỊ TỪCHỐI"); headers up to SMTP's 998-byte line limit are not folded.
POLICY = default_policy.clone(max_line_length=998)


def _address(value: str) -> str:
    # Addresses come from the contacts directory, which checks them; a bad one fails its own message only.
    if not value or len(value) > MAX_ADDRESS_CHARS or one_line(value) != value or " " in value:
        raise ValueError(f"not a usable e-mail address: {one_line(value, 80)!r}")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> str:
    # A lone surrogate (an undecodable byte of a file name, kept by surrogateescape) cannot be encoded.
    return _SURROGATE.sub("\ufffd", text)


def _message(email: Email, sender: str, to: list[str], cc: list[str]) -> EmailMessage:
    to, cc = [_address(r) for r in to], [_address(r) for r in cc]
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = one_line(email.subject, MAX_SUBJECT_CHARS)
    if one_line(sender) != sender:  # configuration, but a header all the same; it may carry a display name
        raise ValueError(f"not a usable sender: {one_line(sender, 80)!r}")
    msg["From"] = sender
    msg["To"] = ", ".join(to) if to else ", ".join(cc)
    if cc and to:
        msg["Cc"] = ", ".join(cc)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].split("@")[-1] or None)
    msg.set_content(_encodable(email.text))
    msg.add_alternative(_encodable(email.html), subtype="html")
    for name, content in email.attachments:
        name = attachment_name(name)
        kind, _ = mimetypes.guess_type(name)
        maintype, subtype = (kind or "application/octet-stream").split("/", 1)
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return msg


def wire_size(msg: EmailMessage) -> int:
    """Bytes of the message as smtplib sends it (CRLF line ends)."""
    return len(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))


def dropped_note(email: Email) -> str:
    """Why the attachments are missing and whom to ask for them."""
    return f"{ATTACHMENT_DROPPED} {ASK_FOR_COPY.format(office=email.office or ANY_OFFICE)}"


def without_attachments(email: Email) -> Email:
    """The message without its attachments, the body telling why (before the signature of the plain text)."""
    dropped = dropped_note(email)
    head, sep, tail = email.text.rpartition("\n--\n")
    text = f"{head}\n\n{dropped}\n{sep}{tail}" if sep else f"{email.text}\n\n{dropped}\n"
    note = f'<p style="color:#C00000;"><b>{escape(dropped)}</b></p>'
    head, sep, tail = email.html.rpartition("</body>")
    html = f"{head}{note}\n{sep}{tail}" if sep else f"{email.html}{note}"
    return replace(email, text=text, html=html, attachments=[])


def fitted(email: Email, sender: str, to: list[str], cc: list[str], budget: int) -> tuple[EmailMessage, bool]:
    """The message within `budget` bytes, and whether its attachments had to go. Raises MessageTooLarge."""
    msg = _message(email, sender, to, cc)
    size = wire_size(msg)
    if size <= budget:
        return msg, False
    if email.attachments:
        msg = _message(without_attachments(email), sender, to, cc)
        lighter = wire_size(msg)
        if lighter <= budget:
            log.warning("%s %s %s: %s bytes with its attachments, over the %s-byte limit: sent without them",
                        email.kind, email.period_id, email.ref, size, budget)
            return msg, True
        size = lighter
    raise MessageTooLarge(f"{size} bytes even without attachments, the limit is {budget}")


def _budget(client: smtplib.SMTP, configured: int) -> int:
    """The configured maximum, lowered to what the server advertises (EHLO SIZE), less 1% for the
    dot-stuffing and trace headers added on the way."""
    client.ehlo_or_helo_if_needed()
    advertised = (client.esmtp_features.get("size") or "").strip()
    limit = min(configured, int(advertised)) if advertised.isdigit() and int(advertised) > 0 else configured
    return limit - limit // 100


# Refusals of one message (its sender, a recipient, its size or content, an address the server cannot take):
# the connection is still usable, so the next message goes on. Anything else (socket errors,
# SMTPServerDisconnected, SMTPConnectError, …) stops the sending.
MESSAGE_REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError,
                   smtplib.SMTPNotSupportedError, ValueError, TypeError)
TOO_BIG = 552


def _skipped(email: Email, recipients: Sequence[str], exc: BaseException) -> None:
    log.error("e-mail %s %s %s to %s not sent, it stays owed: %s: %s", email.kind, email.period_id, email.ref,
              one_line(", ".join(recipients), 500), type(exc).__name__, one_line(exc, 500))


def _deliver(client: smtplib.SMTP, email: Email, built: tuple[EmailMessage, bool], sender: str, to: list[str],
             cc: list[str], missing: list[str], budget: int) -> dict:
    """Send one built message; returns the recipients the server refused (smtplib's dict)."""
    msg, lightened = built
    try:
        return client.send_message(msg, from_addr=sender, to_addrs=missing)
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
        # A server may refuse the size without advertising its limit: once more without the attachments.
        if exc.smtp_code != TOO_BIG or lightened or not email.attachments:
            raise
        log.warning("%s %s %s: the server refused its size (%s): sent without its attachments",
                    email.kind, email.period_id, email.ref, one_line(exc, 200))
        msg, _ = fitted(without_attachments(email), sender, to, cc, budget)
        return client.send_message(msg, from_addr=sender, to_addrs=missing)


def send_all(warehouse: Warehouse, emails: Sequence[Email], mail_from: str,
             conn_id: str = SMTP_CONN_ID) -> dict[str, int]:
    """Send what has not been sent yet; returns counts ("failed": messages that could not be built or that
    the server refused for some of their recipients; they stay owed). Raises MailError when the server is
    unreachable or drops the connection."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    sent: dict[str, set[tuple[str, str, str]]] = {}
    pending: list[tuple[Email, list[str]]] = []
    for email in emails:
        if email.period_id not in sent:
            sent[email.period_id] = warehouse.sent_emails(email.period_id)
        missing = [r for r in email.recipients if (email.kind, email.ref, r) not in sent[email.period_id]]
        if missing:
            pending.append((email, missing))
    counts = {"planned": len(emails), "sent": 0, "already_sent": len(emails) - len(pending), "failed": 0}
    if not pending:
        return counts
    done = 0
    try:
        with SmtpHook(smtp_conn_id=conn_id) as hook:
            sender = hook.from_email or mail_from
            # The hook builds HTML-only messages; ours carry a plain-text part and attachments, so the
            # hook's connected client sends them.
            client = hook._smtp_client
            budget = _budget(client, max_message_bytes())
            for email, missing in pending:
                to = [r for r in email.to if r in missing]
                cc = [r for r in email.cc if r in missing]
                try:
                    built = fitted(email, sender, to, cc, budget)
                except Exception as exc:  # noqa: BLE001 — building is local: whatever breaks it breaks this one
                    counts["failed"] += 1
                    _skipped(email, missing, exc)
                    done += 1
                    continue
                error: Exception | None = None
                try:
                    refused = _deliver(client, email, built, sender, to, cc, missing, budget)
                except MESSAGE_REFUSED as exc:
                    refused, error = dict.fromkeys(missing), exc
                delivered = [r for r in missing if r not in refused]
                if delivered:
                    warehouse.record_sent_email(email.kind, email.period_id, email.ref, str(built[0]["Subject"]),
                                                delivered)
                    counts["sent"] += 1
                if refused:
                    counts["failed"] += 1
                    _skipped(email, [r for r in missing if r in refused],
                             error or smtplib.SMTPRecipientsRefused(refused))
                done += 1
    except Exception as exc:  # socket, SMTP and the hook's AirflowException alike: the rest stays pending
        raise MailError(f"{counts['sent']} message(s) sent, {counts['failed']} failed, {len(pending) - done} "
                        f"still pending: {type(exc).__name__}: {one_line(exc, 500)}") from exc
    return counts
