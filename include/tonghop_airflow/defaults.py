"""What every tonghop DAG shares: owner, retries, and the data team's alert on a task that fails for good."""

from __future__ import annotations

import datetime as dt

from tonghop_airflow.alerts import on_task_failure

DEFAULT_ARGS = {
    "owner": "tonghop",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=1),
    "on_failure_callback": on_task_failure,
}
