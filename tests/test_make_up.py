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
