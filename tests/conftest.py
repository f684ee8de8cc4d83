"""Shared fixtures. Airflow's environment is set before anything imports Airflow."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
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
    # API tokens are signed with HS512, which wants a key of at least 64 bytes (Airflow's default is shorter).
    "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
})
for name in [k for k in os.environ if k.startswith("TONGHOP_")]:
    del os.environ[name]

PG_URL = os.environ.get("TONGHOP_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")

from tonghop.calendar import load_calendar  # noqa: E402
from tonghop.config import Settings  # noqa: E402
from tonghop.hierarchy import load_hierarchy  # noqa: E402

PERIOD = "2024-FY"  # before the July 2025 reform: the three-level map (province → district → commune)
DISTRICT = "836"  # Huyện Ba Tri, Tỉnh Bến Tre: 22 communes (1 urban township)
PROVINCE = "83"


# The long tiers (see pyproject.toml): `make test-quick` runs what is in none of them.
LONG_TIERS = {
    "test_scheduler": ("scheduler",),
    "test_browser": ("browser", "scheduler"),
    "test_celery": ("celery", "scheduler", "postgres"),
    "test_make_up": ("scheduler",),
    "test_benchmark": ("bench",),
    "test_faults": ("faults",),
    "test_containment": ("faults",),
    "test_fuzz": ("faults",),
    "test_hostile": ("faults",),
    "test_demo": ("slow", "airflow"),
    **{name: ("slow",) for name in ("test_pipeline", "test_validation", "test_warehouse", "test_lifecycle",
                                    "test_email_safety", "test_officer", "test_storage", "test_reference",
                                    "test_cli", "test_map_editions", "test_map_editions_email",
                                    "test_migrations", "test_history_import")},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker in LONG_TIERS.get(item.module.__name__.rsplit(".", 1)[-1], ()):
            item.add_marker(marker)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "postgres_url" in item.fixturenames or params.get("warehouse_url") == "postgresql":
            item.add_marker("postgres")
        if "airflow_db" in item.fixturenames:
            item.add_marker("airflow")


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
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    return request.getfixturevalue("postgres_url")


OFFICER_DISTRICTS = ("829", "836")  # Thành phố Bến Tre (wards and communes) and Huyện Ba Tri
OFFICER_TARGETS = {"83": 2.0, "836": 10.0}  # poor_rate_max of the test's plan targets


@pytest.fixture(scope="session")
def officer_sample(tmp_path_factory, hierarchy, period):
    """A published period for Tỉnh Bến Tre where two districts reported (with rejected, warned, late and
    missing communes) and the other seven sent nothing; the officers' files written as after each run.
    Returns (settings, manifest)."""
    from tests import expected as exp
    from tonghop.officer_files import publish_reports
    from tonghop.period import PeriodContext
    from tonghop.pipeline import run_period
    from tonghop.synth import SampleOptions, generate_sample, manifest_path

    home = tmp_path_factory.mktemp("officer")
    targets = home / "targets.yaml"
    targets.write_text("targets:\n" + "".join(f'  - {{unit: "{u}", years: "2024", poor_rate_max: {v}}}\n'
                                               for u, v in OFFICER_TARGETS.items()), encoding="utf-8")
    settings = Settings.from_env(home=home, inbox=home / "inbox", output=home / "runs", scope=PROVINCE,
                                 targets_path=targets, warehouse_url=f"sqlite:///{home / 'warehouse.sqlite'}",
                                 contacts_path=home / "no-contacts.csv")
    units = [u for d in OFFICER_DISTRICTS for u in hierarchy.reporting_units(d)]
    options = SampleOptions(seed=11, error_rate=0.2, warning_rate=0.15, late_rate=0.2, missing_rate=0.12)
    generate_sample(units, period, hierarchy, settings.inbox_dir, options)
    run_period(settings, PERIOD)
    ctx = PeriodContext.open(settings, PERIOD)
    publish_reports(ctx)
    ctx.close()
    return settings, exp.load(manifest_path(settings.inbox_dir, PERIOD))


@pytest.fixture
def status_client(officer_sample, airflow_db):
    """The reporting-status app of the officer sample (FastAPI test client), a viewer's JWT, the manifest."""
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    from tonghop_airflow.status_page import create_app

    settings, manifest = officer_sample
    token = init_auth_manager().generate_jwt(SimpleAuthManagerUser(username="sldtbxh.bentre", role="viewer"))
    return TestClient(create_app(lambda: settings)), token, manifest


@dataclasses.dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def tonghop(capsys):
    """`tonghop ARGS` run in this process through `tonghop.cli.main`, as the installed command runs it:
    `home` becomes TONGHOP_HOME and keyword arguments further environment variables, for this call only;
    exit code, stdout and stderr are returned (with `check`, a non-zero exit fails the test). The logging
    set-up `main` makes, the environment and the working directory are put back after each call.
    tests/test_cli.py keeps one run of the installed command itself."""
    from tonghop.cli import main

    def run(*args: str, home: Path | None = None, check: bool = True, **env: str) -> CliRun:
        capsys.readouterr()  # what the test printed before is not this command's output
        root, ours = logging.getLogger(), logging.getLogger("tonghop")
        handlers, levels, cwd = list(root.handlers), (root.level, ours.level), os.getcwd()
        with pytest.MonkeyPatch.context() as patch:
            if home is not None:
                patch.setenv("TONGHOP_HOME", str(home))
            for name, value in env.items():
                patch.setenv(name, value)
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors and --help
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            finally:
                for handler in [h for h in root.handlers if h not in handlers]:
                    root.removeHandler(handler)
                    handler.close()
                root.setLevel(levels[0])
                ours.setLevel(levels[1])
                os.chdir(cwd)
        out, err = capsys.readouterr()
        done = CliRun(code, out, err)
        if check:
            assert done.returncode == 0, done.stderr[-3000:]
        return done

    return run
