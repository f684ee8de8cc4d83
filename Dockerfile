# The image of every Airflow service in docker-compose.yaml: Airflow 3.3 with tonghop's pinned requirements
# and the project installed (editable, so config/, expectations/ and dags/ are found beside the package).
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    AIRFLOW_HOME=/opt/airflow \
    TONGHOP_ROOT=/opt/tonghop

RUN apt-get update \
 && apt-get install -y --no-install-recommends tzdata curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 50000 --gid 0 airflow \
 && mkdir -p /opt/airflow /opt/tonghop \
 && chown -R airflow:0 /opt/airflow /opt/tonghop

WORKDIR /opt/tonghop
COPY requirements.txt ./
# Bytecode compiled at build: the services run as `airflow`, who cannot write it beside root's site-packages.
RUN pip install uv && uv pip install --system --no-cache --compile-bytecode -r requirements.txt

COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 include ./include
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 plugins ./plugins
COPY --chown=airflow:0 expectations ./expectations
COPY --chown=airflow:0 config ./config
RUN uv pip install --system --no-deps -e .

USER airflow
ENTRYPOINT ["airflow"]
CMD ["version"]
