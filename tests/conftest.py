"""Shared fixtures. Airflow's environment is set before anything imports Airflow."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="tonghop-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
})
for name in [k for k in os.environ if k.startswith("TONGHOP_")]:
    del os.environ[name]

PG_URL = os.environ.get("TONGHOP_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")

from tonghop.calendar import load_calendar  # noqa: E402
from tonghop.config import Settings  # noqa: E402
from tonghop.hierarchy import load_hierarchy  # noqa: E402

PERIOD = "2026-FY"
DISTRICT = "836"  # Huyện Ba Tri, Tỉnh Bến Tre: 22 communes (1 urban township)
PROVINCE = "83"


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """An initialised Airflow metadata DB (SQLite) for dag.test()."""
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run([str(airflow), "db", "migrate"], check=False, capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr[-3000:]
    return _AIRFLOW_HOME


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Embedded defaults under a fresh folder; exported so DAG tasks see the same settings."""
    monkeypatch.setenv("TONGHOP_HOME", str(tmp_path / "home"))
    return Settings.from_env()


@pytest.fixture(scope="session")
def hierarchy():
    return load_hierarchy()


@pytest.fixture(scope="session")
def calendar():
    return load_calendar(ROOT / "config" / "calendar.yaml")


@pytest.fixture(scope="session")
def period(calendar):
    return calendar.get(PERIOD)


def _postgres_admin_engine():
    import sqlalchemy as sa

    return sa.create_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT")


@pytest.fixture
def postgres_url():
    """A throw-away PostgreSQL database. Fails (never skips) in CI when the server is missing."""
    import sqlalchemy as sa

    try:
        admin = _postgres_admin_engine()
        with admin.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}")
    name = f"tonghop_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    yield f"{PG_URL}/{name}"
    from tonghop.warehouse import engine_for

    engine_for(f"{PG_URL}/{name}").dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    return request.getfixturevalue("postgres_url")
