"""Airflow plugin: the reporting-status page (tonghop_airflow.status_page) in the api-server under /tonghop, with a
"Tình hình báo cáo" entry in the navigation that shows it inside the Airflow UI. Every route of the page
requires the Airflow login (see tonghop_airflow.status_page.airflow_user)."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from tonghop_airflow.status_page import create_app

URL_PREFIX = "/tonghop"


class TonghopPlugin(AirflowPlugin):
    name = "tonghop"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "tonghop reporting status"},
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [{
        "name": "Tình hình báo cáo",
        "href": f"{URL_PREFIX}/",
        "destination": "nav",
        "url_route": "tonghop",  # shown in an iframe at /plugin/tonghop, same origin: the login cookie goes along
        "category": "browse",
    }]
