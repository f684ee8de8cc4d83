"""Alembic environment of the tonghop warehouse (run through tonghop.warehouse.Warehouse.migrate)."""

from __future__ import annotations

from alembic import context

from tonghop.schema import build_metadata

VERSION_TABLE = "tonghop_alembic_version"  # not Airflow's alembic_version, should both share a database


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=build_metadata(), version_table=VERSION_TABLE,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
