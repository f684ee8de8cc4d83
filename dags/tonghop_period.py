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

from airflow.sdk import MultipleCronTriggerTimetable, Param, dag, get_current_context, task

from tonghop.assets import CONSOLIDATED, PERIOD_KEY
from tonghop.calendar import load_calendar
from tonghop.config import Settings
from tonghop.dag_defaults import DEFAULT_ARGS, logical_now

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
    def resolve_period() -> str:
        context = get_current_context()
        requested = context["params"].get("period")
        calendar = load_calendar(Settings.from_env().calendar_path)
        if requested:
            return calendar.get(requested).id
        return calendar.latest_due_before(logical_now(context)).id

    @task
    def list_batches(period_id: str) -> list[str]:
        from tonghop.pipeline import list_batches as batches_of

        return batches_of(Settings.from_env(), period_id, reprocess=get_current_context()["params"]["reprocess"])

    @task(map_index_template="{{ batch_name }}", max_active_tis_per_dagrun=4)
    def ingest_batch(period_id: str, batch: str) -> dict:
        from tonghop.pipeline import ingest_batch as ingest

        context = get_current_context()
        context["batch_name"] = batch  # type: ignore[typeddict-unknown-key]
        return ingest(Settings.from_env(), period_id, batch, run_id=context["run_id"],
                      reprocess=context["params"]["reprocess"])

    # Runs after the batches even when there are none (mapping over an empty list skips the mapped task).
    @task(outlets=[CONSOLIDATED], trigger_rule="none_failed")
    def consolidate(period_id: str, batch_summaries: list[dict] | None = None) -> dict:
        import logging

        from tonghop.pipeline import consolidate as publish

        for summary in batch_summaries or []:
            logging.getLogger(__name__).info("batch %(batch)s: %(new)s new files, %(accepted)s accepted, "
                                             "%(rejected)s rejected", summary)
        context = get_current_context()
        summary = publish(Settings.from_env(), period_id, run_id=context["run_id"], now=logical_now(context))
        context["outlet_events"][CONSOLIDATED].extra = {PERIOD_KEY: period_id}
        return summary

    @task
    def notify(period_id: str) -> dict:
        from tonghop.pipeline import notify as send

        return send(Settings.from_env(), period_id, logical_now(get_current_context()))

    period_id = resolve_period()
    summaries = ingest_batch.partial(period_id=period_id).expand(batch=list_batches(period_id))
    consolidate(period_id, summaries) >> notify(period_id)


tonghop_period()
