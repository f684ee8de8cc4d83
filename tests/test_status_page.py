"""The reporting-status page for a real province, through the FastAPI app: filters, folded districts, the
freshness line, the Vietnamese error page, and charts drawn once per publication and served from the outputs.
(The browser test, tests/test_browser.py, shows the same page at phone and desktop widths.)"""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests import expected as exp
from tests.conftest import OFFICER_DISTRICTS, PERIOD, PROVINCE

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def _rows(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-commune="(\d+)" data-status="(\w+)"', html))


def _page(client, token, **params) -> str:
    response = client.get("/", params={"period": PERIOD, "unit": PROVINCE, **params}, cookies={"_token": token})
    assert response.status_code == 200, response.text[:300]
    return response.text


def test_status_filters_show_exactly_the_matching_communes(status_client, period):
    client, token, manifest = status_client
    statuses = exp.expected_statuses(manifest, PROVINCE, "province")
    sent = exp.attributed(manifest)
    late = {c for c in statuses if c in sent
            and dt.datetime.fromisoformat(sent[c]["received_at"]) > period.commune_deadline}
    assert late and len(late) < len(statuses)
    for wanted in ("not_received", "rejected", "accepted_with_warnings"):
        want = {c: s for c, s in statuses.items() if s == wanted}
        assert want, wanted
        html = _page(client, token, status=wanted)
        assert _rows(html) == want, wanted
        assert f"Đang lọc: {len(want)}/{len(statuses)} xã khớp." in html
    assert set(_rows(_page(client, token, status="late"))) == late
    # Unfiltered: every commune of the province, in folded district sections (148 communes is a long page).
    html = _page(client, token)
    assert _rows(html) == statuses
    assert '<details class="group" data-group="829">' in html  # not open


def test_district_and_name_filters(status_client):
    client, token, manifest = status_client
    statuses = exp.expected_statuses(manifest, PROVINCE, "province")
    ba_tri = exp.expected_statuses(manifest, "836", "district")
    html = _page(client, token, group="836")
    assert _rows(html) == ba_tri
    assert '<details class="group" data-group="836" open>' in html and 'data-group="829"' not in html
    # Typed without diacritics, as officers do on a phone: "my" finds the four Mỹ communes of Ba Tri.
    mine = {"29116", "29122", "29131", "29134"}  # Mỹ Hòa, Mỹ Chánh, Mỹ Thạnh, Mỹ Nhơn
    assert set(_rows(_page(client, token, group="836", q="my"))) == mine
    assert set(_rows(_page(client, token, q="an duc", group="836"))) == {"29173"}  # Xã An Đức
    assert set(_rows(_page(client, token, q="29173"))) == {"29173"}
    nothing = _page(client, token, q="không có xã này")
    assert _rows(nothing) == {} and "Không có xã nào khớp bộ lọc." in nothing
    # Filters combine: the rejected communes of one district.
    rejected = {c for c, s in statuses.items() if s == "rejected" and c in ba_tri}
    assert set(_rows(_page(client, token, group="836", status="rejected"))) == rejected


def test_page_says_when_figures_were_consolidated_and_the_last_file_received(status_client, officer_sample):
    client, token, manifest = status_client
    settings, _ = officer_sample
    engine = sa.create_engine(settings.warehouse)
    with engine.connect() as conn:
        finished = conn.execute(sa.text("SELECT max(finished_at) FROM run_log WHERE period_id = :p"),
                                {"p": PERIOD}).scalar()
        version = conn.execute(sa.text("SELECT max(version) FROM publication WHERE period_id = :p"),
                               {"p": PERIOD}).scalar()
    engine.dispose()
    finished = dt.datetime.fromisoformat(str(finished)).replace(tzinfo=dt.UTC)
    # The files of the province as the generator stamped them (only two districts sent anything).
    mine = set(exp.expected_statuses(manifest, PROVINCE, "province"))
    last = max(dt.datetime.fromisoformat(r["received_at"]) for c, r in exp.attributed(manifest).items() if c in mine)
    html = _page(client, token)
    line = re.search(r'<p class="muted" id="freshness">(.*?)</p>', html, re.DOTALL).group(1)
    assert f"Tổng hợp lần cuối: <b>{finished.astimezone(TZ):%d/%m/%Y %H:%M}</b>" in line
    assert f"số liệu công bố lần {version} lúc" in line
    assert f"Tệp nhận gần nhất: <b>{last.astimezone(TZ):%d/%m/%Y %H:%M}</b>" in line
    assert OFFICER_DISTRICTS  # the sample's reporting districts are the ones received from


@pytest.mark.parametrize(("params", "message"), [
    ({"period": "2026-X3"}, "Không có kỳ báo cáo «2026-X3»."),
    ({"period": "2023-H1"}, "chưa được tổng hợp: chưa có số liệu để xem."),
    ({"period": PERIOD, "unit": "99999"},
     f"Không có đơn vị mã «99999» trong danh mục đơn vị hành chính của kỳ {PERIOD}."),
])
def test_unknown_period_or_unit_gets_a_vietnamese_error_page_with_a_way_back(status_client, params, message):
    client, token, _ = status_client
    page = client.get("/", params=params, cookies={"_token": token}, headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert message in page.text and '<a href="/" id="back">' in page.text
    assert '"detail"' not in page.text and "{" not in page.text.split("<body>")[1]  # not raw JSON
    # The JSON API answers the same facts as JSON.
    api = client.get("/api/status", params={"unit": PROVINCE, **params}, cookies={"_token": token},
                     headers={"Accept": "text/html"})
    assert api.status_code == 404 and message in api.json()["detail"]


def test_unpublished_calendar_period_is_told_apart_from_an_unknown_one(status_client, officer_sample):
    """2023-H1 is in the calendar (dim_period) but nothing was consolidated for it."""
    settings, _ = officer_sample
    engine = sa.create_engine(settings.warehouse)
    with engine.connect() as conn:
        known = {r[0] for r in conn.execute(sa.text("SELECT period_id FROM dim_period"))}
        published = {r[0] for r in conn.execute(sa.text("SELECT period_id FROM publication"))}
    engine.dispose()
    assert "2023-H1" in known - published and "2026-X3" not in known


def test_charts_are_served_from_the_outputs_and_drawn_once_per_publication(status_client, officer_sample, tmp_path):
    from tonghop.charts import CHARTS
    from tonghop.published import load
    from tonghop.published_charts import STAMP, chart_png
    from tonghop.storage import LocalOutputs
    from tonghop.targets import Targets, load_targets
    from tonghop.warehouse import Warehouse

    client, token, _ = status_client
    settings, _ = officer_sample
    # The province's charts were drawn when its files were published: the page serves those very bytes.
    folder = settings.output_dir / PERIOD / "charts" / PROVINCE
    for kind in CHARTS:
        served = client.get(f"/charts/{kind}.png", params={"period": PERIOD, "unit": PROVINCE},
                            cookies={"_token": token})
        assert served.status_code == 200 and served.content == (folder / f"{kind}.png").read_bytes()

    with Warehouse(settings.warehouse) as warehouse:
        data = load(warehouse, PERIOD, "836")
    targets = load_targets(settings.targets_path)
    outputs = LocalOutputs(tmp_path)
    png = tmp_path / PERIOD / "charts" / "836" / "poverty_rates.png"
    first = chart_png(outputs, data, targets, 1, "poverty_rates", TZ)
    assert png.read_bytes() == first and first[:8] == b"\x89PNG\r\n\x1a\n"
    drawn_at = png.stat().st_mtime_ns
    assert chart_png(outputs, data, targets, 1, "poverty_rates", TZ) == first
    assert png.stat().st_mtime_ns == drawn_at  # served from the outputs, not drawn again
    # A new publication, or new plan targets, draws it again.
    chart_png(outputs, data, targets, 2, "poverty_rates", TZ)
    assert png.stat().st_mtime_ns != drawn_at
    assert json.loads((png.parent / STAMP).read_text())["drawn_from"].startswith("2:")
    no_target = chart_png(outputs, data, Targets([]), 2, "poverty_rates", TZ)
    assert no_target != first  # the target line is gone
    # A PNG replaced behind the stamp's back (a reader of an older publication) is not served.
    png.write_bytes(first)
    assert chart_png(outputs, data, Targets([]), 2, "poverty_rates", TZ) == no_target
