"""The task bodies the DAGs share. Each opens the run's PeriodContext from the environment's settings and
calls one stage of the domain package; the run context arrives as keyword arguments (Airflow fills the
parameters named after context keys: `params`, `run_id`, `logical_date`, `dag_run`, `outlet_events`).
A DAG names its mapped instances with `.override(map_index_template=...)` over `task.op_kwargs`."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import task

from tonghop_airflow.assets import CONSOLIDATED, PERIOD_KEY
from tonghop_airflow.defaults import HEAVY_QUEUE

log = logging.getLogger(__name__)


def run_moment(logical_date: dt.datetime | None, dag_run: Any) -> dt.datetime:
    """The moment a run stands for: its logical date, or when it was triggered (manual runs have none)."""
    return logical_date or dag_run.run_after


def _context(period_id: str, *modules: str) -> Any:
    """The period's context, once the `modules` a stage uses are imported with the collector paused: a task process
    imports them afresh, and this takes a third off that (tonghop.startup)."""
    from tonghop.config import Settings
    from tonghop.period import PeriodContext
    from tonghop.startup import import_paused

    import_paused(modules)
    return PeriodContext.open(Settings.from_env(), period_id)


@task(max_active_tis_per_dagrun=4, queue=HEAVY_QUEUE)
def ingest_batch(period_id: str, batch: str, run_id: str | None = None, params: dict | None = None) -> dict:
    """Record, read, validate and store the new files of one province batch (all of them with `reprocess`)."""
    ctx = _context(period_id, "great_expectations", "tonghop.ingest")  # first: it imports the stage's libraries
    from tonghop.ingest import ingest_batch as ingest

    try:
        return ingest(ctx, batch, run_id=run_id, reprocess=bool((params or {}).get("reprocess")))
    finally:
        ctx.close()


# Runs after the batches even when there are none (mapping over an empty list skips the mapped task).
@task(outlets=[CONSOLIDATED], trigger_rule="none_failed", queue=HEAVY_QUEUE)
def consolidate(period_id: str, batch_summaries: list[dict] | None = None, run_id: str | None = None,
                logical_date: dt.datetime | None = None, dag_run: Any = None, outlet_events: Any = None) -> dict:
    """Roll up and publish the period; the asset event names the period for tonghop_reports."""
    for summary in batch_summaries or []:
        log.info("batch %(batch)s: %(new)s new files, %(accepted)s accepted, %(rejected)s rejected", summary)
    ctx = _context(period_id, "great_expectations", "tonghop.consolidate")  # first: it imports the stage's libraries
    from tonghop.consolidate import consolidate as publish

    try:
        summary = publish(ctx, run_id=run_id, now=run_moment(logical_date, dag_run))
    finally:
        ctx.close()
    outlet_events[CONSOLIDATED].extra = {PERIOD_KEY: period_id}
    return summary


@task
def notify(period_id: str, logical_date: dt.datetime | None = None, dag_run: Any = None) -> dict:
    """The e-mails the period owes at the run's moment, each sent once."""
    ctx = _context(period_id, "tonghop.notify")  # first: it imports the stage's libraries
    from tonghop.notify import notify as send

    try:
        return send(ctx, run_moment(logical_date, dag_run))
    finally:
        ctx.close()


@task(map_index_template="{{ task.op_kwargs['period_id'] }}")
def write_reports(period_id: str) -> list[str]:
    """The officers' files of a consolidated period: summaries, consolidated workbooks, charts."""
    ctx = _context(period_id, "tonghop.officer_files")  # first: it imports the stage's libraries
    from tonghop.officer_files import publish_reports

    try:
        return publish_reports(ctx)
    finally:
        ctx.close()
