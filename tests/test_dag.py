"""DAG integrity, and a period run end to end through Airflow with dag.test()."""

from __future__ import annotations

import pytest

from tests import expected as exp
from tests.conftest import DISTRICT, PERIOD, PROVINCE, ROOT
from tonghop.synth import SampleOptions, generate_sample, manifest_path
from tonghop.warehouse import Warehouse


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


# Where each DAG's doc says its schedule comes from.
WHEN = {"tonghop_period": "config/calendar.yaml", "tonghop_ingest": "TONGHOP_INGEST_CRON",
        "tonghop_reports": "tonghop_consolidated_period"}


def test_every_dag_imports_and_is_documented(monkeypatch):
    """No import errors, and nothing reaches for a connection or a variable while the file is parsed."""
    from airflow.sdk import Connection, Variable
    from airflow.sdk.bases.hook import BaseHook

    def forbidden(*args, **kwargs):
        raise AssertionError("connection or variable accessed at DAG import time")

    monkeypatch.setattr(Variable, "get", forbidden)
    monkeypatch.setattr(Connection, "get", forbidden)
    monkeypatch.setattr(BaseHook, "get_connection", forbidden)
    bag = _dagbag()
    assert bag.import_errors == {}
    assert bag.dags, "no DAG found"
    for dag_id, dag in bag.dags.items():
        assert dag.tags, dag_id
        # The doc says what each task does and when the DAG runs.
        assert [t.task_id for t in dag.tasks if f"`{t.task_id}`" not in (dag.doc_md or "")] == [], dag_id
        assert WHEN[dag_id] in dag.doc_md, dag_id
        for task in dag.tasks:
            assert task.retries >= 1, (dag_id, task.task_id)
            assert task.owner == "tonghop", (dag_id, task.task_id)


def test_heavy_tasks_go_to_the_queue_only_the_heavy_workers_serve():
    """Reading, validating and rolling up go to the `heavy` queue, everything else (planning, e-mails, officers'
    files) to the default queue; the compose stack's workers serve exactly those (tests/test_celery runs them)."""
    import shlex

    import yaml
    from airflow.configuration import conf

    from tonghop_airflow.defaults import HEAVY_QUEUE

    queues = {(dag_id, t.task_id): t.queue for dag_id, dag in _dagbag().dags.items() for t in dag.tasks}
    default = conf.get("operators", "default_queue")
    heavy = {k for k, q in queues.items() if q == HEAVY_QUEUE}
    assert {task for _, task in heavy} == {"ingest_batch", "consolidate"}
    assert {("tonghop_period", "ingest_batch"), ("tonghop_ingest", "consolidate")} <= heavy
    assert {q for k, q in queues.items() if k not in heavy} == {default}
    services = yaml.safe_load((ROOT / "docker-compose.yaml").read_text(encoding="utf-8"))["services"]

    def served(service: str) -> str:
        argv = shlex.split(services[service]["command"])
        return argv[argv.index("--queues") + 1]

    assert (served("airflow-worker"), served("airflow-worker-light")) == (HEAVY_QUEUE, default)


def test_period_dag_is_scheduled_the_day_after_each_commune_deadline():
    """Next scheduled run after the H1 consolidation is 11/11 07:00 Hanoi time (00:00 UTC)."""
    import datetime as dt

    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    timetable = coerce_to_core_timetable(_dagbag().dags["tonghop_period"].timetable)
    after_h1 = TimeRestriction(earliest=dt.datetime(2026, 5, 12, tzinfo=dt.UTC), latest=None, catchup=True)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=after_h1)
    assert info.run_after == dt.datetime(2026, 11, 11, 0, 0, tzinfo=dt.UTC)
    after_fy = TimeRestriction(earliest=dt.datetime(2026, 11, 12, tzinfo=dt.UTC), latest=None, catchup=True)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=after_fy)
    assert info.run_after == dt.datetime(2027, 5, 11, 0, 0, tzinfo=dt.UTC)


@pytest.mark.airflow
def test_dag_run_publishes_district_and_province_figures(airflow_db, settings, hierarchy, period):
    options = SampleOptions(seed=11, error_rate=0.3, warning_rate=0.2, late_rate=0.3, missing_rate=0.1)
    generate_sample(hierarchy.reporting_units(DISTRICT), period, hierarchy, settings.inbox_dir, options)
    manifest = exp.load(manifest_path(settings.inbox_dir, PERIOD))
    assert exp.accepted_reports(manifest) and len(exp.accepted_reports(manifest)) < len(manifest["reports"])

    dag = _dagbag().dags["tonghop_period"]
    run = dag.test(run_conf={"period": PERIOD})
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), run.state
    from airflow.utils.session import create_session

    with create_session() as session:  # each mapped ingestion is named after its batch: the province folder
        labels = [ti.rendered_map_index for ti in run.get_task_instances(session=session)
                  if ti.task_id == "ingest_batch"]
    assert labels == [PROVINCE]

    warehouse = Warehouse(settings.warehouse)
    households = warehouse.read_table("fact_households", period_id=PERIOD)
    completeness = warehouse.read_table("fact_completeness", period_id=PERIOD)
    for level, code in (("district", DISTRICT), ("province", PROVINCE)):
        want = exp.expected_sums(manifest, code, level)
        got = next(r for r in households if r["unit_code"] == code and r["area"] == "total")
        for key in exp.HOUSEHOLD_COUNTS:
            assert got[key] == want[key], (code, key)
        assert got["poor_rate"] == pytest.approx(want["poor_end"] / want["total_households"] * 100)
        funding = {r["component"]: r for r in warehouse.read_table("fact_funding", period_id=PERIOD, unit_code=code,
                                                         area="total")}
        for component in exp.COMPONENTS:
            for money in exp.MONEY:
                assert funding[component][money] == want[f"{component}_{money}"], (code, component, money)
        want_c = exp.expected_completeness(manifest, code, level, period.commune_deadline)
        got_c = next(r for r in completeness if r["unit_code"] == code and r["area"] == "total")
        assert {k: got_c[k] for k in want_c} == want_c
        assert want_c["rejected"] > 0 and want_c["on_time"] < want_c["received"]


@pytest.mark.airflow
def test_dag_run_with_an_empty_inbox_still_publishes_completeness(airflow_db, settings, monkeypatch):
    """No file at all is a normal outcome: every commune is counted missing, no figure is invented."""
    monkeypatch.setenv("TONGHOP_SCOPE", DISTRICT)
    run = _dagbag().dags["tonghop_period"].test(run_conf={"period": "2024-H1"})
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), run.state
    warehouse = Warehouse(settings.warehouse)
    district = next(r for r in warehouse.read_table("fact_completeness", period_id="2024-H1", unit_code=DISTRICT,
                                          area="total"))
    assert (district["expected"], district["received"], district["missing"]) == (22, 0, 22)
    assert not warehouse.read_table("fact_households", period_id="2024-H1")
