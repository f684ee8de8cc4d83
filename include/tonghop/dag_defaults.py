"""What every tonghop DAG shares: owner, retries, and the data team's alert on a task that fails for good."""

from __future__ import annotations

import datetime as dt

from tonghop.alerts import on_task_failure

DEFAULT_ARGS = {
    "owner": "tonghop",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=1),
    "on_failure_callback": on_task_failure,
}


def logical_now(context: dict) -> dt.datetime:
    """The moment a run stands for: its logical date, or when it was triggered (manual runs have none)."""
    return context.get("logical_date") or context["dag_run"].run_after
