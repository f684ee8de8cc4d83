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
    for row in browser.find_elements(By.CSS_SELECTOR, "tr.commune"):  # a province's districts come folded
        rendered[row.get_attribute("data-commune")] = row.find_element(By.CSS_SELECTOR, ".status").get_attribute(
            "textContent")
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

    _filters_and_error_page_at_two_widths(browser, api_server, manifest)


PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}  # a common phone, as Chrome emulates


def _visible_rows(browser) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    return {row.get_attribute("data-commune"): row.get_attribute("data-status")
            for row in browser.find_elements(By.CSS_SELECTOR, "tr.commune") if row.is_displayed()}


def _fits_width(browser) -> bool:
    """The page itself does not scroll sideways (wide tables scroll inside their own box)."""
    return browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")


def _filters_and_error_page_at_two_widths(browser, api_server, manifest) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 60)
    statuses = exp.expected_statuses(manifest, PROVINCE, "province")
    rejected = {c: s for c, s in statuses.items() if s == "rejected"}
    ba_tri = exp.expected_statuses(manifest, "836", "district")
    for width, metrics in (("desktop", None), ("phone", PHONE)):
        if metrics:
            browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        else:
            browser.set_window_size(1400, 1000)
        browser.get(f"{api_server.url}/tonghop/?period={PERIOD}&unit={PROVINCE}")
        wait.until(ec.presence_of_element_located((By.ID, "filters")))
        assert _fits_width(browser), width
        assert _visible_rows(browser) == {}  # 148 communes: districts folded until opened or filtered
        # Status filter, from the form as an officer uses it.
        Select(browser.find_element(By.ID, "filter-status")).select_by_visible_text("Bị từ chối")
        browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "filter-count"), "Đang lọc"))
        assert _visible_rows(browser) == rejected, width
        assert f"{len(rejected)}/{len(statuses)} xã khớp" in browser.find_element(By.ID, "filter-count").text
        assert _fits_width(browser), width
        if metrics:  # the communes' table is wider than a phone: it scrolls in its own box
            assert browser.execute_script(
                "return Array.from(document.querySelectorAll('.scroll')).some(b => b.scrollWidth > b.clientWidth)")
            charts = browser.execute_script(
                "return Array.from(document.querySelectorAll('.charts img')).map(i => i.getBoundingClientRect().width)")
            assert charts and all(0 < w <= PHONE["width"] for w in charts)
        browser.save_screenshot(str(ARTIFACTS / f"status-filtered-{width}.png"))
        # One district, by name typed without diacritics.
        browser.find_element(By.ID, "filter-clear").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "filter-count"), "xã."))
        Select(browser.find_element(By.ID, "filter-group")).select_by_visible_text("Huyện Ba Tri")
        browser.find_element(By.ID, "filter-q").send_keys("my")
        browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "filter-count"), "Đang lọc"))
        mine = {"29116", "29122", "29131", "29134"}  # Mỹ Hòa, Mỹ Chánh, Mỹ Thạnh, Mỹ Nhơn
        assert _visible_rows(browser) == {c: ba_tri[c] for c in mine}, width
        # An unknown period: a Vietnamese page that says so, and a way back.
        browser.get(f"{api_server.url}/tonghop/?period=2026-X3")
        error = wait.until(ec.presence_of_element_located((By.ID, "error")))
        assert "Không có kỳ báo cáo «2026-X3»." in error.text and '"detail"' not in browser.page_source
        assert _fits_width(browser), width
        browser.save_screenshot(str(ARTIFACTS / f"status-error-{width}.png"))
        browser.find_element(By.ID, "back").click()
        wait.until(ec.presence_of_element_located((By.ID, "filters")))
        if not metrics:
            height = browser.execute_script("return document.body.scrollHeight")
            browser.set_window_size(1400, min(max(height, 1000), 8000))
        browser.save_screenshot(str(ARTIFACTS / f"status-page-{width}.png"))
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    for width in ("desktop", "phone"):
        for name in ("status-filtered", "status-error", "status-page"):
            assert (ARTIFACTS / f"{name}-{width}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- sign-off through the real UI: a district officer reviews, sends a report back and approves ---------

DISTRICT_OFFICER, DISTRICT_PASSWORD = "phong.batri", "mat-khau-huyen"
SEND_BACK_REASON = "Số hộ nghèo chưa khớp danh sách rà soát."


@pytest.fixture
def district_server(tmp_path, hierarchy, period):
    """A published period of Huyện Ba Tri (with warnings to review) and an api-server where the district's
    officer has a viewer login and a row in the officers directory."""
    from tests.conftest import DISTRICT
    from tonghop.config import Settings
    from tonghop.pipeline import run_period
    from tonghop.synth import SampleOptions, generate_sample

    home = tmp_path / "home"
    officers = home / "officers.csv"
    officers.parent.mkdir(parents=True)
    officers.write_text(f"login,unit_code,role,map_edition\n{DISTRICT_OFFICER},{DISTRICT},officer,pre2025\n"
                        f"{USER},,data_team,\n", encoding="utf-8")
    settings = Settings.from_env(home=home, inbox=home / "inbox", output=home / "runs", scope=DISTRICT,
                                 warehouse_url=f"sqlite:///{home / 'warehouse.sqlite'}",
                                 contacts_path=home / "no-contacts.csv", officers_path=officers)
    generate_sample(hierarchy.reporting_units(DISTRICT), period, hierarchy, settings.inbox_dir,
                    SampleOptions(seed=3, warning_rate=0.5, missing_rate=0.1))
    run_period(settings, PERIOD)
    env = {"TONGHOP_HOME": str(home), "TONGHOP_WAREHOUSE_URL": settings.warehouse, "TONGHOP_OUTPUT": settings.output,
           "TONGHOP_SCOPE": DISTRICT, "TONGHOP_OFFICERS": str(officers),
           "TONGHOP_CONTACTS": str(settings.contacts_path)}
    airflow = LocalAirflow(home=tmp_path / "airflow", port=_free_port(), password="mat-khau-thu", extra_env=env,
                           viewers={DISTRICT_OFFICER: DISTRICT_PASSWORD})
    airflow.start_api_server()
    try:
        airflow.wait_for("/tonghop/health")
        yield airflow, settings
    finally:
        airflow.stop()


def test_district_officer_sends_back_and_approves_in_the_browser(browser, district_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.conftest import DISTRICT
    from tonghop.warehouse import Warehouse

    server, settings = district_server
    wait = WebDriverWait(browser, 60)
    browser.get(f"{server.url}/tonghop/?period={PERIOD}&unit={DISTRICT}")
    wait.until(ec.presence_of_element_located((By.NAME, "username")))
    browser.find_element(By.NAME, "username").send_keys(DISTRICT_OFFICER)
    browser.find_element(By.NAME, "password").send_keys(DISTRICT_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    approval = wait.until(ec.presence_of_element_located((By.ID, "approval")))
    assert approval.get_attribute("data-state") == "draft"

    # Review: a commune with warnings, sent back with a reason from its form.
    item = browser.find_element(By.CSS_SELECTOR, "div.review:has(form.send-back)")
    commune = item.get_attribute("data-commune")
    assert item.find_elements(By.CSS_SELECTOR, "li.warning")  # what needs a decision is shown
    item.find_element(By.NAME, "reason").send_keys(SEND_BACK_REASON)
    item.find_element(By.CSS_SELECTOR, "form.send-back button").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.notice.done")))
    assert browser.find_element(By.CSS_SELECTOR, "#audit tr[data-action=send_back]").text.count(SEND_BACK_REASON) == 1

    # Approve the district's figures.
    browser.find_element(By.ID, "approve").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#approval[data-state=approved]")))
    assert "Đã duyệt, chờ cấp trên tiếp nhận" in browser.find_element(By.ID, "approval").text
    assert not browser.find_elements(By.ID, "approve")  # nothing left to approve
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1400, min(max(height, 1000), 8000))
    assert browser.save_screenshot(str(ARTIFACTS / "sign-off.png"))

    # An edited URL for another district answers 403, with nothing of it.
    browser.get(f"{server.url}/tonghop/api/status?period={PERIOD}&unit=831")
    assert "không thuộc phạm vi" in browser.page_source and "Châu Thành" not in browser.page_source

    # What the browser did is in the audit trail, by this login.
    warehouse = Warehouse(settings.warehouse)
    _, events = warehouse.read_sign_off(PERIOD, "pre2025")
    assert [(e["action"], e["unit_code"], e["actor"], e["reason"]) for e in events if e["action"] != "explain"] == [
        ("send_back", commune, DISTRICT_OFFICER, SEND_BACK_REASON), ("approve", DISTRICT, DISTRICT_OFFICER, None)]
    warehouse.engine.dispose()
