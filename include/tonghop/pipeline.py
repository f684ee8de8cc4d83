"""The front door: a whole period in one process, stage after stage, as `tonghop run` does it.

    inbox ─► ingest ─► warehouse (ledger, reports, findings) ─► consolidate ─► warehouse (facts)
                                                                   └─► notify (e-mail)   └─► officer files

Each stage is its own module and takes the run's `PeriodContext` (tonghop.period): tonghop.ingest,
tonghop.consolidate, tonghop.notify, tonghop.officer_files. The DAGs run the same stages as tasks
(tonghop_airflow.tasks); `tonghop check` (tonghop.workbook_check) validates workbooks offline.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from tonghop.config import Settings
from tonghop.consolidate import consolidate
from tonghop.ingest import start_ingest
from tonghop.mailer import MailError
from tonghop.notify import notify
from tonghop.period import PeriodContext, Progress, Stopwatch, no_progress, run_directory

log = logging.getLogger(__name__)


def run_period(settings: Settings, period_id: str, progress: Progress = no_progress, reprocess: bool = False,
               now: dt.datetime | None = None) -> dict[str, Any]:
    """The whole period in-process: every new file in one validation batch, then consolidation and e-mail."""
    ctx = PeriodContext.open(settings, period_id)
    try:
        items = ctx.inbox.list(period_id)
        ingest_summary, after = start_ingest(ctx, items, progress, run_directory(period_id), reprocess)
        summary = {"ingest": ingest_summary, **consolidate(ctx, now=now, inbox_keys=[i.key for i in items])}
        with Stopwatch(summary["seconds"]).stage("annotate"):  # written while the period was published
            after.finish()
        try:
            summary["email"] = notify(ctx, now)
        except MailError as exc:  # the data is published; the unsent e-mails go out with the next run
            log.warning("e-mail not sent: %s", exc)
            summary["email"] = {"error": str(exc)}
        return summary
    finally:
        ctx.close()
