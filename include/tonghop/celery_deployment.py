"""The docker-compose deployment's Airflow — CeleryExecutor with api-server, scheduler, dag-processor, triggerer
and Celery workers of both kinds (the heavy queue's and the default queue's) — run as plain processes on this
machine, without Docker: for the Celery end-to-end test and the benchmark.

Its environment is the compose file's own (the Airflow services' `environment`), interpolated as `docker compose`
does, with each compose service resolved to where it runs here: `postgres` → this machine's PostgreSQL
(throw-away databases), `redis` → this machine's Redis, `minio` → moto's S3 server, `mailpit` → the given SMTP
server, `airflow-apiserver` → this api-server's port. The commands are the compose services' commands. Each
process has its own working directory, AIRFLOW_HOME, TONGHOP_HOME and temp folder, as a container would: the
workers share no disk with each other or with the scheduler, and task logs live in S3 (remote logging).

    python -m tonghop.celery_deployment up   # start with two heavy workers and a light one, print the URL and login
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tonghop.config import PROJECT_ROOT
from tonghop.local_airflow import USER, LocalAirflow, stop_processes
from tonghop.yamlfile import read_yaml

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yaml"
IMAGE_HOME = "/opt/airflow"  # the image's AIRFLOW_HOME (Dockerfile): each container's own disk
SERVICES = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
            "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer"}
WORKER_SERVICE = "airflow-worker"  # the heavy queue's workers: worker-1, worker-2 …
LIGHT_WORKER_SERVICE = "airflow-worker-light"  # the default queue's: light-1 …
S3_USER, S3_SECRET = "tonghop-local", "tonghop-local-secret"  # moto accepts any; MinIO's root user in compose

# Compose's interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR.
_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
                       r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<userinfo>[^@/\s\"']*@)?(?P<host>[A-Za-z0-9_.-]+)"
                  r"(?::(?P<port>[0-9]+))?(?P<path>/[^\s\"'?]*)?")


class ComposeError(ValueError):
    pass


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    def substitute(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["named"]
        op, arg, current = match["op"], match["arg"] or "", variables.get(name)
        unset = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in (":-", "-") and unset:
            return interpolate(arg, variables)
        if op in (":?", "?") and unset:
            raise ComposeError(f"{name}: {arg or 'required'}")
        return current or ""

    return _VARIABLE.sub(substitute, value)


def compose_services(compose_file: Path = COMPOSE_FILE) -> dict[str, Any]:
    return read_yaml(compose_file)["services"]


@dataclass(frozen=True)
class Here:
    """Where the compose file's services run on this machine."""

    postgres: str  # host:port of a PostgreSQL with trust auth
    postgres_user: str
    databases: Mapping[str, str]  # compose database name → the throw-away database here
    redis: str  # host:port
    redis_db: int
    s3_endpoint: str  # http://host:port
    smtp: tuple[str, int]
    api_port: int

    def resolve_url(self, match: re.Match) -> str:
        scheme, host, path = match["scheme"], match["host"], match["path"] or ""
        if host == "postgres":
            database = self.databases.get(path.lstrip("/"), path.lstrip("/"))
            return f"{scheme}://{self.postgres_user}@{self.postgres}/{database}"
        if host == "redis":
            return f"{scheme}://{self.redis}/{self.redis_db}"
        if host == "minio":
            return f"{self.s3_endpoint}{path}"
        if host == "airflow-apiserver":
            return f"{scheme}://localhost:{self.api_port}{path}"
        return match[0]

    def resolve(self, value: str) -> str:
        """A compose environment value with the compose services' addresses replaced by those here."""
        if value.startswith("{"):  # an Airflow connection as JSON: its host, port and endpoint
            connection = json.loads(value)
            if connection.get("host") == "mailpit":
                connection["host"], connection["port"] = self.smtp
            extra = connection.get("extra")
            if isinstance(extra, dict) and isinstance(extra.get("endpoint_url"), str):
                extra["endpoint_url"] = _URL.sub(self.resolve_url, extra["endpoint_url"])
            return json.dumps(connection)
        return _URL.sub(self.resolve_url, value)


def process_hostname() -> str:
    """[core] hostname_callable of the deployment's processes: the process's name (worker-1 …). Each container has a
    hostname of its own; here they share one, and a task instance must still say which worker ran it."""
    return os.environ.get("TONGHOP_PROCESS_NAME") or socket.getfqdn()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Process:
    name: str
    argv: list[str]
    home: Path  # its own disk: working directory, AIRFLOW_HOME, TONGHOP_HOME, temp
    env: dict[str, str]
    popen: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.home / f"{self.name}.log"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(self.argv, cwd=self.home, env=self.env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to the process and every descendant at once, as a container's death ends all it ran: Airflow
        runs each task in a session of its own, which a signal to the worker's group alone would leave running."""
        import psutil

        try:
            root = psutil.Process(self.popen.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for p in tree:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(tree, timeout=10)

    def signal(self, signum: int) -> None:
        if self.popen is not None:
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                pass


@dataclass
class CeleryDeployment:
    """The compose stack's Airflow on this machine. `start()` creates the throw-away databases, starts moto's S3
    server with the bucket, migrates, and starts every process; `stop()` ends them all and drops the databases."""

    root: Path
    smtp: tuple[str, int]
    workers: int = 2  # serving the heavy queue (ingest_batch, consolidate)
    worker_concurrency: int = 2
    light_workers: int = 1  # serving the default queue (everything else), as the compose file's command says
    postgres: str = "127.0.0.1:5432"
    postgres_user: str = "postgres"
    redis: str = "127.0.0.1:6379"
    password: str = "tonghop"
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    api_port: int = 0
    s3_endpoint: str = ""
    bucket: str = "tonghop"
    _moto: subprocess.Popen | None = None
    _databases: dict[str, str] = field(default_factory=dict)

    # --- what the compose file says -------------------------------------------------------------------------
    def variables(self) -> dict[str, str]:
        """The values .env gives docker compose: fresh secrets, the bucket, the sender."""
        from cryptography.fernet import Fernet

        return {"POSTGRES_PASSWORD": "unused-trust-auth", "TONGHOP_WAREHOUSE_PASSWORD": "unused-trust-auth",
                "TONGHOP_BI_PASSWORD": "unused-trust-auth", "AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(64), "AIRFLOW_ADMIN_PASSWORD": self.password,
                "MINIO_ROOT_USER": S3_USER, "MINIO_ROOT_PASSWORD": S3_SECRET,
                "TONGHOP_BUCKET": self.bucket, "TONGHOP_MAIL_FROM": "tonghop@example.gov.vn",
                **{k: v for k, v in os.environ.items() if k == "TONGHOP_SCOPE"}}

    def environment(self, service: str, home: Path, variables: Mapping[str, str], here: Here) -> dict[str, str]:
        """The compose service's environment as its container would see it, resolved to this machine."""
        spec = compose_services()[service]
        mounts = {}
        for volume in spec.get("volumes", []):
            source, target = volume.split(":")[:2]
            mounts[target] = (PROJECT_ROOT / source) if source.startswith(".") else self.root / "volumes" / source
        mounts[IMAGE_HOME] = home  # the rest of the image's home is the container's own disk

        def local_path(value: str) -> str:
            for target in sorted(mounts, key=len, reverse=True):
                if value == target or value.startswith(f"{target}/"):
                    return str(mounts[target]) + value[len(target):]
            return value

        env = {k: local_path(here.resolve(interpolate(str(v), variables)))
               for k, v in (spec.get("environment") or {}).items()}
        bin_dir = str(Path(sys.executable).parent)
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TONGHOP_"))},
            **env,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),  # the image's ENV, which compose does not repeat
            "TMPDIR": str(home / "tmp"),
            "AIRFLOW__API__PORT": str(here.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tonghop.celery_deployment.process_hostname",
            "TONGHOP_PROCESS_NAME": home.name,
            **self.extra_env,
        }

    # --- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.api_port = self.api_port or _free_port()
        self._create_databases()
        self._flush_redis()
        self._start_s3()
        here = Here(self.postgres, self.postgres_user, self._databases, self.redis, self._redis_db(),
                    self.s3_endpoint, self.smtp, self.api_port)
        variables = self.variables()
        auth = self.root / "volumes" / "airflow-auth"
        auth.mkdir(parents=True, exist_ok=True)
        (auth / "passwords.json").write_text(json.dumps({USER: self.password}), encoding="utf-8")
        airflow = str(Path(sys.executable).with_name("airflow"))
        tonghop = str(Path(sys.executable).with_name("tonghop"))
        plan: list[tuple[str, str, list[str], dict[str, str]]] = []
        for service, name in SERVICES.items():
            plan.append((name, service, [airflow, *str(compose_services()[service]["command"]).split()], {}))
        workers = [(f"worker-{n}", WORKER_SERVICE, ["--concurrency", str(self.worker_concurrency)])
                   for n in range(1, self.workers + 1)]
        workers += [(f"light-{n}", LIGHT_WORKER_SERVICE, []) for n in range(1, self.light_workers + 1)]
        for name, service, own in workers:
            plan.append((name, service, [airflow, *str(compose_services()[service]["command"]).split(),
                                         "--celery-hostname", f"{name}@%h", *own],
                         {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port())}))
        for name, service, argv, own in plan:
            home = self.root / name
            (home / "tmp").mkdir(parents=True, exist_ok=True)
            env = {**self.environment(service, home, variables, here), **own}
            if name == "scheduler":
                env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT"] = str(_free_port())
            if name == "triggerer":
                env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(_free_port())
            self.processes[name] = Process(name, argv, home, env)
        init_home = self.root / "init"  # airflow-init's work, in a home of its own
        (init_home / "tmp").mkdir(parents=True, exist_ok=True)
        init_env = self.environment("airflow-init", init_home, variables, here)
        for command in ([airflow, "db", "migrate"], [tonghop, "warehouse", "migrate"]):
            done = subprocess.run(command, cwd=init_home, env=init_env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(command[-2:])} failed: {done.stderr[-2000:]}")
        for process in self.processes.values():
            process.start()

    def _create_databases(self) -> None:
        stamp = uuid.uuid4().hex[:8]
        self._databases = {"airflow": f"tonghop_celery_{stamp}_airflow", "tonghop": f"tonghop_celery_{stamp}_wh"}
        self._each_database('CREATE DATABASE "{}"')

    def _drop_databases(self) -> None:
        self._each_database('DROP DATABASE IF EXISTS "{}" WITH (FORCE)')

    def _each_database(self, statement: str) -> None:
        import sqlalchemy as sa

        admin = sa.create_engine(f"postgresql+psycopg://{self.postgres_user}@{self.postgres}/postgres",
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in self._databases.values():
                conn.execute(sa.text(statement.format(name)))
        admin.dispose()

    def _flush_redis(self) -> None:
        """The broker's database starts empty: nothing a crashed earlier run left queued is delivered here."""
        import redis

        host, port = self.redis.rsplit(":", 1)
        client = redis.Redis(host=host, port=int(port), db=self._redis_db())
        client.flushdb()
        client.close()

    def _redis_db(self) -> int:
        return int(self._databases["airflow"].split("_")[2], 16) % 15 + 1  # not 0: `make up` and others use it

    def _start_s3(self) -> None:
        from botocore.exceptions import EndpointConnectionError

        port = _free_port()
        self.s3_endpoint = f"http://127.0.0.1:{port}"
        home = self.root / "minio"
        home.mkdir(parents=True, exist_ok=True)
        with (home / "moto.log").open("ab") as out:
            self._moto = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1",
                                           "-p", str(port)], cwd=home, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        client = self.s3_client()
        deadline = time.monotonic() + 60
        while True:
            try:
                client.create_bucket(Bucket=self.bucket)
                break
            except EndpointConnectionError:  # not answering yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def s3_client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.s3_endpoint, region_name="us-east-1",
                            aws_access_key_id=S3_USER, aws_secret_access_key=S3_SECRET,
                            config=Config(s3={"addressing_style": "path"}))

    def stop(self, grace: float = 30) -> None:
        """Every process ended (SIGTERM, then SIGKILL after `grace`), the databases dropped."""
        stop_processes([p.popen for p in self.processes.values() if p.popen is not None], grace)
        if self._moto is not None and self._moto.poll() is None:
            os.killpg(self._moto.pid, signal.SIGKILL)
            self._moto.wait(10)
        if self._databases:
            self._drop_databases()

    # --- using it -------------------------------------------------------------------------------------------
    @property
    def airflow(self) -> LocalAirflow:
        """The REST API client (the same as for standalone)."""
        if not hasattr(self, "_client"):
            self._client = LocalAirflow(home=self.root, port=self.api_port, password=self.password)
        return self._client

    @property
    def warehouse_url(self) -> str:
        return f"postgresql+psycopg://{self.postgres_user}@{self.postgres}/{self._databases['tonghop']}"

    def wait_healthy(self, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p.name for p in self.processes.values() if not p.running and p.name in SERVICES.values()]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited: see {self.processes[dead[0]].log}")
            status = self.airflow.health()
            if status and all(part.get("status") == "healthy" for part in status.values()):
                return status
            time.sleep(2)
        raise TimeoutError(f"Airflow at {self.airflow.url} not healthy after {timeout}s")

    def alive(self) -> list[str]:
        """The processes of which anything still runs (the process or a child left in its group)."""
        out = []
        for name, process in self.processes.items():
            if process.popen is None:
                continue
            try:
                os.killpg(process.popen.pid, 0)
                out.append(name)
            except ProcessLookupError:
                pass
        return out


def main() -> int:
    root = Path(os.environ.get("TONGHOP_CELERY_HOME", PROJECT_ROOT / "var" / "celery"))
    shutil.rmtree(root, ignore_errors=True)
    deployment = CeleryDeployment(root=root, smtp=("127.0.0.1", int(os.environ.get("TONGHOP_SMTP_PORT", "1025"))))

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        deployment.start()
        deployment.wait_healthy()
        print(f"Airflow (CeleryExecutor, {deployment.workers} heavy and {deployment.light_workers} light workers) "
              f"is up: {deployment.airflow.url} "
              f"(login: {USER} / {deployment.password}); S3 at {deployment.s3_endpoint}, bucket "
              f"{deployment.bucket}; logs under {root}")
        print("Press Ctrl+C to stop.")
        while all(p.running for p in deployment.processes.values()):
            time.sleep(2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl+C must not leave half of it running
        deployment.stop()
    return 0


if __name__ == "__main__" and sys.argv[1:] == ["up"]:
    raise SystemExit(main())
