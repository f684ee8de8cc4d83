"""A local Airflow (`airflow standalone`: api-server, scheduler, dag-processor, triggerer on SQLite) on this
project's DAGs — for `make up` and for the end-to-end test under a real scheduler, which share this code.

    python -m tonghop.local_airflow up   # start, wait until healthy, print the URL and the login

`up` refuses at once when a port it needs is taken, prints progress while Airflow starts, and on failure,
Ctrl+C or SIGTERM stops every process it started (SIGKILL after a grace period): nothing is left running.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tonghop.config import PROJECT_ROOT

USER = "admin"
# Ports `airflow standalone` listens on besides the api-server's: the log servers of the local executor's tasks
# and of the triggerer (Airflow's defaults, settable like any option).
LOG_SERVER_PORTS = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": 8793, "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": 8794}


class PortTaken(RuntimeError):
    pass


def check_ports(ports: dict[str, int]) -> None:
    """Each port free on every interface, or PortTaken naming the first one taken and the setting that moves it."""
    for setting, port in ports.items():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed connection's TIME_WAIT is free
            try:
                sock.bind(("", port))
            except OSError:
                raise PortTaken(f"port {port} is already in use (set {setting} to another port, or stop what "
                                f"listens there: `ss -ltnp 'sport = :{port}'`)") from None


def stop_processes(processes: list[subprocess.Popen], grace: float = 30) -> None:
    """SIGTERM to each process, its process group and every descendant (Airflow's components may start
    sessions of their own), then SIGKILL to whatever is left after `grace` seconds; all of them at once."""
    import psutil

    tree: list[psutil.Process] = []
    for process in processes:
        try:
            root = psutil.Process(process.pid)
            tree += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for process in processes:
            try:
                os.killpg(process.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass
        for p in tree:
            try:
                p.send_signal(signum)
            except psutil.NoSuchProcess:
                pass
        _, tree = psutil.wait_procs(tree, timeout=grace if signum == signal.SIGTERM else 10)
        if not tree:
            break
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            pass


def airflow_environment(home: Path, port: int, password: str, extra: dict[str, str] | None = None,
                        viewers: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for an Airflow on this project's DAGs with pre-seeded SimpleAuthManager passwords: `admin`,
    and `viewers` (login → password; role viewer, e.g. officers who only use the status page)."""
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: password, **(viewers or {})}), encoding="utf-8")
    users = ",".join([f"{USER}:admin", *(f"{login}:viewer" for login in viewers or {})])
    secret_file = home / "jwt_secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(64), encoding="utf-8")  # HS512: ≥ 64 bytes
    bin_dir = str(Path(sys.executable).parent)
    env = {
        # Task processes forked with our libraries imported (tonghop_airflow.executor), and a scheduler that looks for
        # the next task every 0.25 s when idle instead of every second: a run for one new file is a chain of four
        # tasks. What is set outside wins.
        "AIRFLOW__CORE__EXECUTOR": "tonghop_airflow.executor.PreloadedLocalExecutor",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone starts `airflow …` by name
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": users,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secret_file.read_text(encoding="utf-8"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
    }
    env.update(extra or {})
    return env


@dataclass
class LocalAirflow:
    home: Path
    port: int = 8080
    password: str = "tonghop"
    extra_env: dict[str, str] = field(default_factory=dict)
    viewers: dict[str, str] = field(default_factory=dict)  # login → password
    process: subprocess.Popen | None = None
    _token: str | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self, log: Path | None = None) -> None:
        env = airflow_environment(self.home, self.port, self.password, self.extra_env, self.viewers)
        out = open(log or self.home / "standalone.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen([str(Path(sys.executable).with_name("airflow")), "standalone"], env=env,
                                        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def start_api_server(self, log: Path | None = None) -> None:
        """Only the api-server (UI, REST API, plugins) on a migrated metadata DB: enough for pages and logins."""
        env = airflow_environment(self.home, self.port, self.password, self.extra_env, self.viewers)
        airflow = str(Path(sys.executable).with_name("airflow"))
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        out = open(log or self.home / "api-server.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen([airflow, "api-server", "--port", str(self.port), "--workers", "1"], env=env,
                                        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for(self, path: str, timeout: float = 120) -> None:
        """Until `path` answers 200 (the api-server is up and has loaded the plugins)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"airflow exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        raise TimeoutError(f"{self.url}{path} not answering after {timeout}s")

    def stop(self, grace: float = 30) -> None:
        if self.process:
            stop_processes([self.process], grace)

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            return None

    def wait_healthy(self, timeout: float = 180, progress: Any = None) -> dict[str, Any]:
        """Until every component reports healthy; `progress(elapsed, status)` is called every few seconds."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"airflow standalone exited with {self.process.returncode}")
            status = self.health()
            if status and all(part.get("status") == "healthy" for part in status.values()):
                return status
            if progress is not None:
                progress(time.monotonic() - start, status)
            time.sleep(2)
        raise TimeoutError(f"Airflow at {self.url} not healthy after {timeout:.0f} s")

    def unpause(self, *dag_ids: str, timeout: float = 300) -> None:
        """Wait until the DAGs are parsed, then unpause them."""
        deadline = time.monotonic() + timeout
        while not set(dag_ids) <= {d["dag_id"] for d in self.api("GET", "/api/v2/dags")["dags"]}:
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAGs {', '.join(dag_ids)} not parsed after {timeout:.0f} s")
            time.sleep(3)
        for dag_id in dag_ids:
            self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def api(self, method: str, path: str, body: dict | None = None) -> Any:
        """Call the REST API v2 with a bearer token (POST /auth/token)."""
        if self._token is None:
            self._token = self.token(USER, self.password)
        return self._call(method, path, body, self._token)

    def token(self, login: str, password: str) -> str:
        """A bearer token for the API and the plugin's routes (SimpleAuthManager's POST /auth/token)."""
        return self._call("POST", "/auth/token", {"username": login, "password": password}, token=None)["access_token"]

    def _call(self, method: str, path: str, body: dict | None, token: str | None) -> Any:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json",
                                                  **({"Authorization": f"Bearer {token}"} if token else {})})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")


# What `make up` unpauses once the DAGs are parsed: the period's chain and the reports its consolidation triggers.
# tonghop_ingest stays paused: every 5 minutes it would take the inbox's files before a triggered period run.
UNPAUSED_BY_UP = ("tonghop_period", "tonghop_reports")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Progress:
    """Prints what is still starting, every `every` seconds, while `up` waits."""

    def __init__(self, every: float = 10) -> None:
        self.every, self.printed = every, -every

    def __call__(self, elapsed: float, status: dict[str, Any] | None) -> None:
        if elapsed - self.printed >= self.every:
            self.printed = elapsed
            parts = ", ".join(f"{name} {part.get('status')}" for name, part in (status or {}).items())
            print(f"  … {elapsed:.0f} s: {parts or 'api-server not answering yet'}", flush=True)


def main() -> int:
    home = Path(os.environ.get("AIRFLOW_HOME", PROJECT_ROOT / ".airflow"))
    port = int(os.environ.get("TONGHOP_UI_PORT", "8080"))
    timeout = float(os.environ.get("TONGHOP_UP_TIMEOUT", "300"))
    ports = {"TONGHOP_UI_PORT": port, **{k: int(os.environ.get(k, v)) for k, v in LOG_SERVER_PORTS.items()}}
    try:
        check_ports(ports)
    except PortTaken as exc:
        print(f"make up: {exc}", file=sys.stderr)
        return 2
    airflow = LocalAirflow(home=home, port=port, password=os.environ.get("TONGHOP_UI_PASSWORD", "tonghop"))
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops everything it started too, like Ctrl+C
    # Ctrl+C stops it even when it was started from a script's background job, which ignores SIGINT (POSIX:
    # asynchronous commands without job control), so Python would not turn it into KeyboardInterrupt.
    signal.signal(signal.SIGINT, _interrupt)
    print(f"Starting Airflow (api-server, scheduler, dag-processor, triggerer; log: {home}/standalone.log) …",
          flush=True)
    airflow.start()
    try:
        airflow.wait_healthy(timeout, progress=Progress())
        airflow.unpause(*UNPAUSED_BY_UP, timeout=timeout)
        period = os.environ.get("TONGHOP_DEMO_PERIOD", "2026-FY")
        print(f"Airflow is up: {airflow.url}  (login: {USER} / {airflow.password}, from {home}/passwords.json); "
              f"logs in {home}/standalone.log")
        print(f"Unpaused: {', '.join(UNPAUSED_BY_UP)} (tonghop_ingest stays paused until you unpause it).")
        print(f'Trigger tonghop_period with {{"period": "{period}", "reprocess": true}} to see every file ingested '
              "again, the consolidation and the tonghop_reports run it triggers.")
        print(f"Reporting-status page: {airflow.url}/tonghop/ (in the UI: Browse → Tình hình báo cáo)")
        print("Press Ctrl+C to stop.")
        airflow.process.wait()
    except KeyboardInterrupt:
        print("Stopping Airflow …", flush=True)
    except (TimeoutError, RuntimeError) as exc:
        print(f"make up: {exc}; see {home}/standalone.log. Stopping what was started …", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl+C must not leave half of it running
        airflow.stop()
    return 0


if __name__ == "__main__" and sys.argv[1:] == ["up"]:
    raise SystemExit(main())
