"""
### Frequent ingestion — tiếp nhận báo cáo trong kỳ

Every few minutes (`TONGHOP_INGEST_CRON`, default every 5 minutes) while a period accepts files or still
owes e-mails: new files in the inbox are recorded in the ledger, validated and answered; the period is
consolidated again when something new arrived; the e-mails due by now go out (results with the annotated
workbook, reminders before the deadline, the district summaries after it, the data team's alert when no
consolidation succeeded in time). Files already in the ledger are never read again.

| task | what it does |
|---|---|
| `open_periods`, `new_batches` | the periods open at the run's time; their province batches with new files |
| `ingest_batch` | mapped per (period, province): record, parse, validate the new files |
| `consolidate` | mapped per period that received files: roll up and publish again |
| `notify` | mapped per open period: the e-mails owed now, each sent once |

Time is the run's logical time, so a run for a past moment behaves as it would have then.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import CronTriggerTimetable, dag, get_current_context, task

from tonghop.assets import CONSOLIDATED, PERIOD_KEY
from tonghop.calendar import load_calendar
from tonghop.config import Settings
from tonghop.dag_defaults import DEFAULT_ARGS, logical_now

CALENDAR = load_calendar(Settings.from_env().calendar_path)


@dag(
    dag_id="tonghop_ingest",
    schedule=CronTriggerTimetable(os.environ.get("TONGHOP_INGEST_CRON", "*/5 * * * *"),
                                  timezone=CALENDAR.timezone.key),
    start_date=dt.datetime(2025, 1, 1, tzinfo=CALENDAR.timezone),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["tonghop", "ingestion"],
    doc_md=__doc__,
)
def tonghop_ingest() -> None:
    @task
    def open_periods() -> list[str]:
        now = logical_now(get_current_context())
        return [p.id for p in load_calendar(Settings.from_env().calendar_path).open_at(now)]

    @task
    def new_batches(periods: list[str]) -> list[dict]:
        from tonghop.pipeline import list_batches

        settings = Settings.from_env()
        return [{"period_id": p, "batch": b} for p in periods for b in list_batches(settings, p)]

    @task
    def changed_periods(batches: list[dict]) -> list[str]:
        return sorted({b["period_id"] for b in batches})

    @task(map_index_template="{{ batch_name }}", max_active_tis_per_dagrun=4)
    def ingest_batch(period_id: str, batch: str) -> dict:
        from tonghop.pipeline import ingest_batch as ingest

        context = get_current_context()
        context["batch_name"] = f"{period_id}/{batch}"  # type: ignore[typeddict-unknown-key]
        return ingest(Settings.from_env(), period_id, batch, run_id=context["run_id"])

    @task(trigger_rule="none_failed", map_index_template="{{ period_name }}", outlets=[CONSOLIDATED])
    def consolidate(period_id: str) -> dict:
        from tonghop.pipeline import consolidate as publish

        context = get_current_context()
        context["period_name"] = period_id  # type: ignore[typeddict-unknown-key]
        summary = publish(Settings.from_env(), period_id, run_id=context["run_id"], now=logical_now(context))
        context["outlet_events"][CONSOLIDATED].extra = {PERIOD_KEY: period_id}
        return summary

    @task(trigger_rule="none_failed", map_index_template="{{ period_name }}")
    def notify(period_id: str) -> dict:
        from tonghop.pipeline import notify as send

        context = get_current_context()
        context["period_name"] = period_id  # type: ignore[typeddict-unknown-key]
        return send(Settings.from_env(), period_id, logical_now(context))

    periods = open_periods()
    batches = new_batches(periods)
    ingested = ingest_batch.expand_kwargs(batches)
    consolidated = consolidate.expand(period_id=changed_periods(batches))
    ingested >> consolidated >> notify.expand(period_id=periods)


tonghop_ingest()
