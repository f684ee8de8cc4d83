"""Assets shared by the DAGs: a consolidation publishes the period it consolidated in the event's extra."""

from __future__ import annotations

from airflow.sdk import Asset

CONSOLIDATED = Asset("tonghop_consolidated_period")
PERIOD_KEY = "period"
