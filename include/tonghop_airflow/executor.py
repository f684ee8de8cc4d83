"""The LocalExecutor of `airflow standalone` and `make up`, its task processes started with our libraries imported.

LocalExecutor forks its worker processes from the scheduler, and each worker forks one process per task (Linux:
no exec), so a task process inherits every module the scheduler had imported when the worker was forked. Left
alone, every task imports Great Expectations, pandas and our stages afresh (~1.5 s a task on our 2-core machine,
with the collector paused): for one new file that was a third of the ingestion run's critical path of four tasks.
This executor imports them in the scheduler once, before its workers are forked. The cost: the scheduler starts
a few seconds later and holds the libraries (~300 MB, shared copy-on-write with the workers)."""

from __future__ import annotations

from airflow.executors.local_executor import LocalExecutor

from tonghop.startup import import_paused

# What the DAGs' tasks import (in their bodies, or in the stages they call).
TASK_LIBRARIES = ("great_expectations", "pandas", "python_calamine", "sqlalchemy", "openpyxl", "tonghop.ingest",
                  "tonghop.consolidate", "tonghop.notify", "tonghop.officer_files", "tonghop.schedule",
                  "tonghop.sign_off", "tonghop.summary", "tonghop_airflow.tasks")


class PreloadedLocalExecutor(LocalExecutor):
    """LocalExecutor whose workers are forked with TASK_LIBRARIES imported (see the module's description)."""

    def start(self) -> None:
        if self.is_mp_using_fork:  # with spawn, workers import for themselves: nothing to share
            import_paused(TASK_LIBRARIES)
        super().start()
