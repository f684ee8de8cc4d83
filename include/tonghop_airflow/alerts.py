"""Alerts for the data team: a task that failed for good (Airflow `on_failure_callback`)."""

from __future__ import annotations

import html
import logging
from typing import Any

from tonghop.config import Settings
from tonghop.contacts import load_directory
from tonghop.mailer import Email, MailError, render, send_all, smtp_configured
from tonghop.warehouse import Warehouse

log = logging.getLogger(__name__)


def task_failure_email(context: dict[str, Any], recipients: list[str]) -> Email:
    ti = context["ti"]
    text = render("task_failure.txt.j2", dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id,
                  map_index=getattr(ti, "map_index", None), try_number=ti.try_number,
                  error=str(context.get("exception") or "unknown"), log_url=getattr(ti, "log_url", None))
    ref = f"{ti.dag_id}.{ti.task_id}.{getattr(ti, 'map_index', -1)}"[:64]
    return Email("task_failure", str(ti.run_id)[:32], ref, recipients,
                 f"[tonghop] Task failed: {ti.dag_id}.{ti.task_id}", text, f"<pre>{html.escape(text)}</pre>")


def on_task_failure(context: dict[str, Any]) -> None:
    """Tell the data team once per failed task instance; never raise (a callback must not hide the failure)."""
    settings = Settings.from_env()
    recipients = [c.email for c in load_directory(settings.contacts_path).data_team]
    if not recipients or not smtp_configured():
        log.warning("task failed, but no data-team address or no SMTP connection to tell anyone")
        return
    try:
        with Warehouse(settings.warehouse) as warehouse:
            send_all(warehouse, [task_failure_email(context, recipients)], settings.mail_from)
    except MailError as exc:
        log.error("could not e-mail the task failure: %s", exc)
