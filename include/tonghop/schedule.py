"""What a run of the frequent ingestion (tonghop_ingest) has to look at: the periods, and their batches of new files.
Apart from tonghop.ingest, so that the run's first task imports neither pandas nor the checks."""

from __future__ import annotations

import datetime as dt

from tonghop.calendar import load_calendar
from tonghop.config import Settings
from tonghop.period import PeriodContext
from tonghop.sign_off import awaiting_consolidation
from tonghop.warehouse import Warehouse


def periods_to_ingest(settings: Settings, now: dt.datetime) -> list[str]:
    """The periods an ingestion run at `now` looks at: those open at `now`, and those with a sign-off decision
    not consolidated yet (they owe e-mails)."""
    with Warehouse(settings.warehouse) as warehouse:
        decided = set(awaiting_consolidation(warehouse))
    return sorted({p.id for p in load_calendar(settings.calendar_path).open_at(now)} | decided)


def batches_to_ingest(settings: Settings, now: dt.datetime) -> list[dict[str, str]]:
    """The province batches of new files of those periods ({"period_id", "batch"}), for the DAG to map."""
    from tonghop.ingest import list_batches

    batches = []
    for period_id in periods_to_ingest(settings, now):
        ctx = PeriodContext.open(settings, period_id)
        try:
            batches += [{"period_id": period_id, "batch": b} for b in list_batches(ctx)]
        finally:
            ctx.close()
    return batches
