"""A local Airflow (`airflow standalone`: api-server, scheduler, dag-processor, triggerer on SQLite) on this
project's DAGs — for `make up` and for the end-to-end test under a real scheduler, which share this code.

    python -m tonghop.local_airflow up   # start, wait until healthy, print the URL and the login
"""

from __future__ import annotations

import json
import os
import secrets
import signal
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

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            return None

    def wait_healthy(self, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"airflow standalone exited with {self.process.returncode}")
            status = self.health()
            if status and all(part.get("status") == "healthy" for part in status.values()):
                return status
            time.sleep(2)
        raise TimeoutError(f"Airflow at {self.url} not healthy after {timeout}s")

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


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    home = Path(os.environ.get("AIRFLOW_HOME", PROJECT_ROOT / ".airflow"))
    airflow = LocalAirflow(home=home, port=int(os.environ.get("TONGHOP_UI_PORT", "8080")),
                           password=os.environ.get("TONGHOP_UI_PASSWORD", "tonghop"))
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the whole standalone group too, like Ctrl+C
    airflow.start()
    try:
        airflow.wait_healthy()
        print(f"Airflow is up: {airflow.url}  (login: {USER} / {airflow.password}); logs in {home}/standalone.log")
        print(f"Reporting-status page: {airflow.url}/tonghop/ (in the UI: Browse → Tình hình báo cáo)")
        print("Press Ctrl+C to stop.")
        airflow.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        airflow.stop()
    return 0


if __name__ == "__main__" and sys.argv[1:] == ["up"]:
    raise SystemExit(main())
