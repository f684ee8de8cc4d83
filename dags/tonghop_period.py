"""
### Consolidate a reporting period — tổng hợp báo cáo kỳ

Runs one reporting period end to end: the commune workbooks in the inbox are read, validated with
Great Expectations (one run per province batch), recorded in the warehouse with their findings, then
rolled up commune → district → province and published in one transaction.

| task | what it does |
|---|---|
| `resolve_period` | the `period` param, or the period whose commune deadline passed most recently |
| `list_batches` | the province folders of the inbox holding files for the period |
| `ingest_batch` | mapped per province: parse, validate (GX, one run per suite), record the files, |
| | their values and findings; annotated workbooks and the batch's Data Docs |
| `consolidate` | choose each commune's accepted report, roll up, publish facts and completeness, check the ledger |
| `notify` | e-mails owed at the run's time: results, reminders, district summaries, alerts (once each) |

**Schedule**: the day after each commune deadline of the calendar (`config/calendar.yaml`), local time
Asia/Ho_Chi_Minh. **By hand**: trigger with `{"period": "2026-FY"}`; ad-hoc periods are run this way.
Files already in the ledger are not read again; `{"reprocess": true}` re-validates every file (after a
change of checks). Re-running a period replaces its published figures (no duplicates, no leftovers).
Files keep arriving between runs: the `tonghop_ingest` DAG picks them up every few minutes.

**Outputs** (under `TONGHOP_OUTPUT`, default `var/runs`): `<period>/runs/<run id>/<province>/data_docs/index.html`
(GX Data Docs of each batch; the task log prints its `file://` link), `<period>/annotated/<commune>/…xlsx`
(each commune's workbook with the cells to fix marked), `<period>/summary.json`.

Configuration comes from the environment (`TONGHOP_INBOX`, `TONGHOP_WAREHOUSE_URL`, ...; see README).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import MultipleCronTriggerTimetable, Param, dag, task

from tonghop.calendar import load_calendar
from tonghop.config import Settings
from tonghop_airflow.defaults import DEFAULT_ARGS
from tonghop_airflow.tasks import consolidate, ingest_batch, notify, run_moment

# The calendar file is read at parse time to derive the schedule (a local file; no connection or variable).
CALENDAR = load_calendar(Settings.from_env().calendar_path)


@dag(
    dag_id="tonghop_period",
    schedule=MultipleCronTriggerTimetable(*CALENDAR.consolidation_crons(), timezone=CALENDAR.timezone.key),
    start_date=dt.datetime(2025, 1, 1, tzinfo=CALENDAR.timezone),
    catchup=False,
    max_active_runs=1,
    params={
        "period": Param(None, type=["null", "string"], title="Kỳ báo cáo",
                        description="Period id such as 2026-H1, 2026-FY or an ad-hoc id from the calendar; "
                                    "empty = the period whose commune deadline passed most recently."),
        "reprocess": Param(False, type="boolean", title="Kiểm tra lại mọi tệp",
                           description="Re-validate every file of the period, not only the new ones."),
    },
    default_args=DEFAULT_ARGS,
    tags=["tonghop", "consolidation"],
    doc_md=__doc__,
)
def tonghop_period() -> None:
    @task
    def resolve_period(params: dict | None = None, logical_date: dt.datetime | None = None,
                       dag_run: object = None) -> str:
        calendar = load_calendar(Settings.from_env().calendar_path)
        if params and params.get("period"):
            return calendar.get(params["period"]).id
        return calendar.latest_due_before(run_moment(logical_date, dag_run)).id

    @task
    def list_batches(period_id: str, params: dict | None = None) -> list[str]:
        from tonghop.ingest import list_batches as batches_of
        from tonghop.period import PeriodContext

        ctx = PeriodContext.open(Settings.from_env(), period_id)
        try:
            return batches_of(ctx, reprocess=bool((params or {}).get("reprocess")))
        finally:
            ctx.close()

    period_id = resolve_period()
    ingest = ingest_batch.override(map_index_template="{{ task.op_kwargs['batch'] }}")
    summaries = ingest.partial(period_id=period_id).expand(batch=list_batches(period_id))
    consolidate(period_id, summaries) >> notify(period_id)


tonghop_period()
