"""Headless Chromium (Debian's chromium + chromium-driver, installed by `make test`) against a real Airflow
api-server running the tonghop plugin: log in through Airflow's login page, open the reporting-status page,
read the statuses the browser rendered. Screenshots are kept in var/test-artifacts/."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from tests import expected as exp
from tests.conftest import PERIOD, PROVINCE, ROOT
from tonghop.local_airflow import USER, LocalAirflow

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = ROOT / "var" / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = "Debian's chromium and chromium-driver are needed (make test installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # As root in a sandbox, without a GPU, on a machine that reaches nothing but itself.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,1000", "--lang=vi"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def api_server(officer_sample, tmp_path):
    settings, _ = officer_sample
    env = {"TONGHOP_HOME": str(settings.home), "TONGHOP_WAREHOUSE_URL": settings.warehouse,
           "TONGHOP_OUTPUT": settings.output, "TONGHOP_TARGETS": str(settings.targets_path),
           "TONGHOP_SCOPE": settings.scope}
    airflow = LocalAirflow(home=tmp_path / "airflow", port=_free_port(), password="mat-khau-thu", extra_env=env)
    airflow.start_api_server()
    try:
        airflow.wait_for("/tonghop/health")
        yield airflow
    finally:
        airflow.stop()
        log = tmp_path / "airflow" / "api-server.log"
        if log.exists():
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, ARTIFACTS / "api-server.log")


def test_officer_logs_in_and_sees_the_statuses(browser, api_server, officer_sample):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    _, manifest = officer_sample
    wait = WebDriverWait(browser, 60)
    browser.get(f"{api_server.url}/tonghop/?period={PERIOD}&unit={PROVINCE}")
    # Not logged in: Airflow's own login page, which sends us back to the status page afterwards.
    wait.until(ec.presence_of_element_located((By.NAME, "username")))
    assert "/auth/login" in browser.current_url and "communes" not in browser.page_source
    browser.find_element(By.NAME, "username").send_keys(USER)
    browser.find_element(By.NAME, "password").send_keys(api_server.password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.ID, "communes")))
    assert browser.current_url.startswith(f"{api_server.url}/tonghop/")

    want = exp.expected_statuses(manifest, PROVINCE, "province")
    labels = {"not_received": "Chưa nhận", "rejected": "Bị từ chối", "accepted_with_warnings": "Hợp lệ, có cảnh báo",
              "accepted": "Hợp lệ"}
    rendered = {}
    for row in browser.find_elements(By.CSS_SELECTOR, "tr.commune"):
        rendered[row.get_attribute("data-commune")] = row.find_element(By.CSS_SELECTOR, ".status").text
    assert rendered == {code: labels[status] for code, status in want.items()}
    assert all(kind in set(want.values()) for kind in labels)  # the seeded data shows every status

    # The charts are served to the logged-in browser (the images decoded to real sizes).
    widths = browser.execute_script(
        "return Array.from(document.querySelectorAll('.charts img')).map(i => i.complete ? i.naturalWidth : -1)")
    wait.until(lambda d: all(w > 0 for w in d.execute_script(
        "return Array.from(document.querySelectorAll('.charts img')).map(i => i.naturalWidth)")))
    assert len(widths) == 3

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1400, min(max(height, 1000), 8000))
    page_shot = ARTIFACTS / "status-page.png"
    assert browser.save_screenshot(str(page_shot))

    # The same page inside the Airflow UI, from the navigation entry the plugin adds.
    browser.set_window_size(1400, 1000)
    browser.get(f"{api_server.url}/plugin/tonghop")
    frame = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[src*='/tonghop/']")))
    nav_shot = ARTIFACTS / "status-page-in-airflow.png"
    browser.switch_to.frame(frame)
    wait.until(ec.presence_of_element_located((By.ID, "districts")))
    browser.switch_to.default_content()
    assert browser.save_screenshot(str(nav_shot))
    for shot in (page_shot, nav_shot):
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    print(f"screenshots: {page_shot}, {nav_shot}")
