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

| task | what it does |
|---|---|
| `consolidated_periods` | the periods named by the triggering asset events |
| `write_reports` | mapped per period: the files above, into the outputs |

The same figures are on the reporting-status page (Airflow UI: *Browse → Tình hình báo cáo*).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import dag, task

from tonghop_airflow.assets import CONSOLIDATED, PERIOD_KEY
from tonghop_airflow.defaults import DEFAULT_ARGS
from tonghop_airflow.tasks import write_reports


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
    def consolidated_periods(triggering_asset_events: Any = None) -> list[str]:
        events = triggering_asset_events[CONSOLIDATED]
        return sorted({e.extra[PERIOD_KEY] for e in events if e.extra.get(PERIOD_KEY)})

    write_reports.expand(period_id=consolidated_periods())


tonghop_reports()
