"""`make up` (python -m tonghop.local_airflow up) as a new user meets it: a taken port is refused at once in one
line, and a start that does not become healthy in time stops every process it started."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.test_scheduler import _free_port


def _up(home: Path, **env: str) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TONGHOP_"))}
    environment.update({"AIRFLOW_HOME": str(home), "TONGHOP_HOME": str(home / "tonghop"), **env})
    return subprocess.Popen([sys.executable, "-m", "tonghop.local_airflow", "up"], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _processes_with(home: Path) -> list[int]:
    """Every process on this machine whose environment names this AIRFLOW_HOME (what `up` started, at any depth)."""
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def test_a_taken_port_is_refused_at_once_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        start = time.monotonic()
        up = _up(tmp_path / "airflow", TONGHOP_UI_PORT=str(port))
        out, err = up.communicate(timeout=120)
        elapsed = time.monotonic() - start
    assert up.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"port {port} is already in use" in lines[0] and "TONGHOP_UI_PORT" in lines[0], err
    assert "Traceback" not in err and "Starting Airflow" not in out
    assert elapsed < 60, "refused before starting anything"
    assert _processes_with(tmp_path / "airflow") == []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_a_start_that_is_not_healthy_in_time_leaves_nothing_running(tmp_path):
    home = tmp_path / "airflow"
    ports = {"TONGHOP_UI_PORT": str(_free_port()), "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
             "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port())}
    # Every component starts, but the health check can never call the scheduler healthy (its heartbeat is
    # always older than 0 s): `up` gives up after its timeout with the scheduler running, as in the report.
    up = _up(home, TONGHOP_UP_TIMEOUT="90", AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD="0", **ports)
    seen: set[str] = set()
    while up.poll() is None:
        seen |= {word for pid in _processes_with(home) for word in ("scheduler", "triggerer", "dag-processor")
                 if word in _cmdline(pid)}
        time.sleep(1)
    out, err = up.communicate(timeout=300)
    assert up.returncode == 1, (out, err)
    assert seen == {"scheduler", "triggerer", "dag-processor"}, seen
    assert "Starting Airflow" in out and "… " in out, "progress while it waits"
    assert "not healthy after 90 s" in err and "Traceback" not in err, err
    assert _processes_with(home) == [], "no process of the failed start survives it"


def test_the_readme_steps_after_make_demo_show_ingestion_consolidation_and_reports(tmp_path):
    """What the README says to do after `make demo` and `make up`: trigger tonghop_period with the demo period
    and `reprocess`. The files are already in the demo's ledger, yet the run shows the mapped ingestion (every
    file checked again), the consolidation, and the tonghop_reports run it triggers, which `up` unpaused."""
    import signal

    from tonghop.calendar import load_calendar
    from tonghop.config import Settings
    from tonghop.local_airflow import LocalAirflow
    from tonghop.pipeline import run_period
    from tonghop.synth import SampleOptions, generate_sample
    from tonghop.warehouse import Warehouse

    period_id, unit = "2026-FY", "86"  # the Makefile's DEMO_PERIOD and DEMO_UNIT
    demo = tmp_path / "demo"
    settings = Settings.from_env(home=demo, inbox=demo / "inbox", output=demo / "runs", scope=unit)
    period = load_calendar(settings.calendar_path).get(period_id)
    hierarchy = settings.hierarchy_for(period)
    generate_sample(hierarchy.reporting_units(unit), period, hierarchy, settings.inbox_dir,
                    SampleOptions(seed=2026, error_rate=0.06, warning_rate=0.05, missing_rate=0.03))
    run_period(settings, period_id)  # what `make demo` leaves: every file in the ledger
    received = len(list(settings.inbox_dir.rglob("*.xlsx")))

    home, port = tmp_path / "airflow", _free_port()
    up = _up(home, TONGHOP_HOME=str(demo), TONGHOP_SCOPE=unit, TONGHOP_DEMO_PERIOD=period_id,
             TONGHOP_UI_PORT=str(port), AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(_free_port()),
             AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(_free_port()))
    try:
        printed = []
        while not any("Reporting-status page" in line for line in printed):
            line = up.stdout.readline()
            assert line or up.poll() is None, (printed, up.stderr.read())
            printed.append(line)
        text = "".join(printed)
        assert "Unpaused: tonghop_period, tonghop_reports" in text
        assert f'{{"period": "{period_id}", "reprocess": true}}' in text
        assert str(home / "passwords.json") in text and (home / "passwords.json").is_file()
        airflow = LocalAirflow(home=home, port=port)
        paused = {d["dag_id"]: d["is_paused"] for d in airflow.api("GET", "/api/v2/dags")["dags"]}
        assert paused == {"tonghop_period": False, "tonghop_reports": False, "tonghop_ingest": True}
        started = airflow.api("POST", "/api/v2/dags/tonghop_period/dagRuns",
                              {"logical_date": None, "conf": {"period": period_id, "reprocess": True}})
        run_id = started["dag_run_id"]

        def runs(dag_id: str) -> list[dict]:
            return airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]

        deadline = time.monotonic() + 600
        while next(r for r in runs("tonghop_period") if r["dag_run_id"] == run_id)["state"] not in ("success",
                                                                                                   "failed"):
            assert time.monotonic() < deadline, "the triggered run did not finish in 10 minutes"
            time.sleep(3)
        tis = airflow.api("GET", f"/api/v2/dags/tonghop_period/dagRuns/{run_id}/taskInstances?limit=200")
        states = {(t["task_id"], t["map_index"]): t["state"] for t in tis["task_instances"]}
        batches = [state for (task, index), state in states.items() if task == "ingest_batch"]
        assert batches and all(state == "success" for state in batches), states
        assert all(index >= 0 for (task, index) in states if task == "ingest_batch"), "mapped, one task per batch"
        assert states[("consolidate", -1)] == "success", states
        # The reports DAG ran on the consolidation's asset event, after the triggered run started.
        deadline = time.monotonic() + 300
        while not [r for r in runs("tonghop_reports")
                   if r["state"] == "success" and r["run_after"] >= started["run_after"]]:
            assert time.monotonic() < deadline, runs("tonghop_reports")
            time.sleep(3)
        ledger = Warehouse(settings.warehouse).read_period_submissions(period_id)
        assert len(ledger) == received  # every file once: checked again, not recorded twice
    finally:
        up.send_signal(signal.SIGINT)  # Ctrl+C, as the README says
        try:
            out, err = up.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            up.kill()
            out, err = up.communicate()
            raise AssertionError(f"make up did not stop on Ctrl+C: {out[-2000:]} {err[-2000:]}") from None
    assert "Stopping Airflow" in out, (out, err)
    assert _processes_with(home) == []
