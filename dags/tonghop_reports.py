"""
### Consolidated reports — báo cáo tổng hợp

Runs whenever a period has been consolidated (the `tonghop_consolidated_period` asset, emitted by the
`consolidate` task of `tonghop_period` and `tonghop_ingest` with the period in the event's extra): writes
to the outputs, for each province:

- the consolidated report — figures, completeness, the rejected communes — as JSON and as the Vietnamese
  text table (`<period>/reports/<province>.json|.txt`);
- the consolidated workbooks of the province and of each of its districts in the official layout
  (`<period>/reports/<unit>.xlsx`), with the plan targets of `config/targets.yaml` judged;
- the charts: poverty rates by district with the province average and the target, reporting completeness
  by district, disbursement by project (`<period>/charts/<province>/*.png`).

The same figures are on the reporting-status page (Airflow UI: *Browse → Tình hình báo cáo*).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, get_current_context, task

from tonghop.assets import CONSOLIDATED, PERIOD_KEY
from tonghop.config import Settings
from tonghop.dag_defaults import DEFAULT_ARGS


@dag(
    dag_id="tonghop_reports",
    schedule=[CONSOLIDATED],
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["tonghop", "reports"],
    doc_md=__doc__,
)
def tonghop_reports() -> None:
    @task
    def consolidated_periods() -> list[str]:
        events = get_current_context()["triggering_asset_events"][CONSOLIDATED]
        return sorted({e.extra[PERIOD_KEY] for e in events if e.extra.get(PERIOD_KEY)})

    @task(map_index_template="{{ period_name }}")
    def write_reports(period_id: str) -> list[str]:
        from tonghop.pipeline import publish_reports

        get_current_context()["period_name"] = period_id  # type: ignore[typeddict-unknown-key]
        return publish_reports(Settings.from_env(), period_id)

    write_reports.expand(period_id=consolidated_periods())


tonghop_reports()
