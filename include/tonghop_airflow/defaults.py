"""What every tonghop DAG shares: owner, retries, the data team's alert on a task that fails for good, and the Celery
queue of the heavy tasks."""

from __future__ import annotations

import datetime as dt

from tonghop_airflow.alerts import on_task_failure

DEFAULT_ARGS = {
    "owner": "tonghop",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=1),
    "on_failure_callback": on_task_failure,
}

# The Celery queue of the tasks that read, validate and roll up files (a national batch takes minutes): the
# deployment's `airflow-worker`s serve it alone, and `airflow-worker-light` serves the default queue (planning,
# e-mails, officers' files), so an e-mail never waits behind a national batch. The LocalExecutor ignores queues.
HEAVY_QUEUE = "heavy"
