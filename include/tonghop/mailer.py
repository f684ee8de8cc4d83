"""Sending e-mail through Airflow's SMTP connection, exactly once per message and recipient.

What was sent is recorded in the warehouse (`email_log`, keyed by kind, period, reference and recipient)
right after the SMTP server accepted it: a retried task or a re-run sends only what is still missing.
If the server is down the sending stops with MailError; nothing is recorded for the unsent messages, so
the next attempt sends them.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import mimetypes
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import formatdate, make_msgid
from pathlib import Path

import jinja2
import sqlalchemy as sa

from tonghop.warehouse import ensure_schema

log = logging.getLogger(__name__)
SMTP_CONN_ID = "smtp_default"
TEMPLATES = Path(__file__).with_name("resources") / "emails"


class MailError(RuntimeError):
    """Some messages could not be sent (the SMTP server is unreachable or refused them)."""


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


def _message(email: Email, sender: str, to: list[str], cc: list[str]) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = email.subject
    msg["From"] = sender
    msg["To"] = ", ".join(to) if to else ", ".join(cc)
    if cc and to:
        msg["Cc"] = ", ".join(cc)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[-1])
    msg.set_content(email.text)
    msg.add_alternative(email.html, subtype="html")
    for name, content in email.attachments:
        kind, _ = mimetypes.guess_type(name)
        maintype, subtype = (kind or "application/octet-stream").split("/", 1)
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return msg


def sent_keys(engine: sa.Engine, period_id: str) -> set[tuple[str, str, str]]:
    """(kind, ref, recipient) of every e-mail already sent for a period."""
    table = ensure_schema(engine).tables["email_log"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.kind, table.c.ref, table.c.recipient)
                            .where(table.c.period_id == period_id))
        return {tuple(r) for r in rows}


def send_all(engine: sa.Engine, emails: Sequence[Email], mail_from: str,
             conn_id: str = SMTP_CONN_ID) -> dict[str, int]:
    """Send what has not been sent yet; returns counts. Raises MailError when the server fails."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    table = ensure_schema(engine).tables["email_log"]
    sent: dict[str, set[tuple[str, str, str]]] = {}
    pending: list[tuple[Email, list[str]]] = []
    for email in emails:
        if email.period_id not in sent:
            sent[email.period_id] = sent_keys(engine, email.period_id)
        missing = [r for r in email.recipients if (email.kind, email.ref, r) not in sent[email.period_id]]
        if missing:
            pending.append((email, missing))
    counts = {"planned": len(emails), "sent": 0, "already_sent": len(emails) - len(pending)}
    if not pending:
        return counts
    try:
        with SmtpHook(smtp_conn_id=conn_id) as hook:
            sender = hook.from_email or mail_from
            # The hook builds HTML-only messages; ours carry a plain-text part and attachments, so the
            # hook's connected client sends them.
            client = hook._smtp_client
            for email, missing in pending:
                to = [r for r in email.to if r in missing]
                cc = [r for r in email.cc if r in missing]
                client.send_message(_message(email, sender, to, cc), from_addr=sender, to_addrs=missing)
                with engine.begin() as conn:
                    conn.execute(table.insert(), [
                        {"kind": email.kind, "period_id": email.period_id, "ref": email.ref, "recipient": r,
                         "subject": email.subject, "sent_at": dt.datetime.now(dt.UTC)} for r in missing])
                counts["sent"] += 1
    except Exception as exc:  # socket, SMTP and the hook's AirflowException alike: the rest stays pending
        raise MailError(f"{counts['sent']} message(s) sent, {len(pending) - counts['sent']} still pending: "
                        f"{type(exc).__name__}: {exc}") from exc
    return counts
