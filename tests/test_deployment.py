"""The compose stack, checked statically (no Docker engine runs here), and the Dockerfile it builds."""

from __future__ import annotations

import json
import re

import yaml

from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker", "airflow-worker-light"}


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_is_the_standard_celery_stack():
    services = _compose()["services"]
    assert AIRFLOW_SERVICES | {"postgres", "redis", "minio", "minio-init", "mailpit"} <= set(services)
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES - {"airflow-init"}}
    assert commands == {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                        "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                        "airflow-worker": "celery worker --queues heavy",
                        "airflow-worker-light": "celery worker --queues default --concurrency 2"}
    for name, service in services.items():
        if name not in ("airflow-init", "minio-init"):
            assert "healthcheck" in service, name
        assert "image" in service or "build" in service, name
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_airflow_services_share_one_config_anchor():
    text = COMPOSE.read_text(encoding="utf-8")
    for name in AIRFLOW_SERVICES:
        block = re.split(rf"\n  {name}:( &[\w-]+)?\n", text, maxsplit=1)[2].split("\n  ", 1)[0]
        assert block.strip().startswith(("<<: *airflow-common", "<<: *airflow-worker")), name
    services = _compose()["services"]
    reference = services["airflow-scheduler"]["environment"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert {k: env[k] for k in reference} == reference, name
        assert services[name]["image"] == services["airflow-scheduler"]["image"]


def test_every_image_build_and_mount_exists():
    services = _compose()["services"]
    for name, service in services.items():
        if "build" in service:
            context = ROOT / (service["build"] if isinstance(service["build"], str) else service["build"]["context"])
            assert (context / "Dockerfile").is_file(), name
        else:
            assert re.match(r"^[\w./-]+:[\w.-]+$", service["image"]), (name, service["image"])  # pinned tag
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), (name, source)
            else:
                assert source in _compose()["volumes"], (name, source)


def test_every_variable_is_documented_and_every_secret_is_required():
    text = COMPOSE.read_text(encoding="utf-8")
    referenced = set(re.findall(r"(?<!\$)\$\{(\w+)", text))  # $${X} is the container's own variable
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^(\w+)=", example, re.MULTILINE))
    assert referenced <= documented, sorted(referenced - documented)
    for secret in ("AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD", "POSTGRES_PASSWORD",
                   "MINIO_ROOT_PASSWORD", "TONGHOP_WAREHOUSE_PASSWORD", "TONGHOP_BI_PASSWORD"):
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses and all(u.startswith(":?") for u in uses), secret  # required, never a default
        assert re.search(rf"^{secret}=$", example, re.MULTILINE), secret


def test_connections_name_the_services_of_the_stack():
    compose = _compose()
    services = set(compose["services"])
    env = compose["services"]["airflow-scheduler"]["environment"]
    hosts = {}
    for key, value in env.items():
        if key.startswith("AIRFLOW_CONN_"):
            if value.strip().startswith("{"):
                conn = json.loads(re.sub(r"\$\{[^}]+\}", "x", value))
                host = conn.get("host") or re.match(r"https?://([\w-]+)", conn["extra"]["endpoint_url"]).group(1)
            else:
                host = re.match(r"\w+://[^@]+@([\w-]+)", value).group(1)
            hosts[key] = host
    assert hosts == {"AIRFLOW_CONN_AWS_DEFAULT": "minio", "AIRFLOW_CONN_SMTP_DEFAULT": "mailpit",
                     "AIRFLOW_CONN_TONGHOP_WAREHOUSE": "postgres"}
    assert set(hosts.values()) <= services
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL"):
        assert re.search(r"@(\w+)[:/]", env[key]).group(1) in services
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:")


def test_dockerfile_installs_the_pinned_requirements_and_the_project():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM python:3.11" in text
    assert "-r requirements.txt" in text and "-e ." in text
    for folder in ("include", "dags", "plugins", "expectations", "config"):
        assert f"COPY --chown=airflow:0 {folder} ./{folder}" in text
        assert (ROOT / folder).is_dir()
    assert "USER airflow" in text
