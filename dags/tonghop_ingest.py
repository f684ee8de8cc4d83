"""
### Frequent ingestion — tiếp nhận báo cáo trong kỳ

Every few minutes (`TONGHOP_INGEST_CRON`, default every 5 minutes) while a period accepts files, still
owes e-mails or has an officer's sign-off decision not consolidated yet: new files in the inbox are recorded
in the ledger, validated and answered; the period is consolidated again when something new arrived or an
officer decided; the e-mails due by now go out (results with the annotated workbook, reminders before the
deadline, the district summaries after it, sign-off e-mails, the data team's alert when no consolidation
succeeded in time). Files already in the ledger are never read again.

| task | what it does |
|---|---|
| `open_periods`, `new_batches` | the periods open at the run's time; their province batches with new files |
| `changed_periods` | the periods that received new files, or a sign-off decision since their last consolidation |
| `ingest_batch` | mapped per (period, province): record, parse, validate the new files |
| `consolidate` | mapped per period that received files: roll up and publish again |
| `notify` | mapped per open period: the e-mails owed now, each sent once |

Time is the run's logical time, so a run for a past moment behaves as it would have then.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import CronTriggerTimetable, dag, task

from tonghop.calendar import load_calendar
from tonghop.config import Settings
from tonghop_airflow.defaults import DEFAULT_ARGS
from tonghop_airflow.tasks import consolidate, ingest_batch, notify, run_moment

CALENDAR = load_calendar(Settings.from_env().calendar_path)
PER_PERIOD = "{{ task.op_kwargs['period_id'] }}"


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
    def open_periods(logical_date: dt.datetime | None = None, dag_run: object = None) -> list[str]:
        from tonghop.schedule import periods_to_ingest

        return periods_to_ingest(Settings.from_env(), run_moment(logical_date, dag_run))

    # Not downstream of open_periods: both start the run at once, and the batches are on its critical path.
    @task
    def new_batches(logical_date: dt.datetime | None = None, dag_run: object = None) -> list[dict]:
        from tonghop.schedule import batches_to_ingest

        return batches_to_ingest(Settings.from_env(), run_moment(logical_date, dag_run))

    @task
    def changed_periods(batches: list[dict]) -> list[str]:
        from tonghop.sign_off import awaiting_consolidation
        from tonghop.warehouse import Warehouse

        with Warehouse(Settings.from_env().warehouse) as warehouse:
            decided = set(awaiting_consolidation(warehouse))
        return sorted({b["period_id"] for b in batches} | decided)

    periods = open_periods()
    batches = new_batches()
    ingested = ingest_batch.override(
        map_index_template="{{ task.op_kwargs['period_id'] }}/{{ task.op_kwargs['batch'] }}").expand_kwargs(batches)
    consolidated = consolidate.override(map_index_template=PER_PERIOD).expand(
        period_id=changed_periods(batches))
    send = notify.override(trigger_rule="none_failed", map_index_template=PER_PERIOD)
    ingested >> consolidated >> send.expand(period_id=periods)


tonghop_ingest()
