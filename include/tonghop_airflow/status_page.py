"""The reporting-status page: a FastAPI app that the Airflow plugin (plugins/tonghop_plugin.py) mounts
under /tonghop in the api-server, with a link in Airflow's navigation.

For a chosen period: the provinces, then per province its districts (completeness and on-time rates) with
their communes (status, received time, on time or late, links to the findings and the annotated workbook),
and the province's charts. It reads the warehouse only, through the read model (tonghop.published).
Every route requires an Airflow login: plugin endpoints are not protected by Airflow itself, so each one
depends on Airflow's own `get_user` (the JWT in the `_token` cookie the UI sets at login, or a bearer
token) and on the auth manager's view permission. What the login may see and do comes from the officers
directory (tonghop.officers): an officer sees their unit and the units below it on every route — pages,
JSON, charts, findings, workbooks, actions — whatever the URL says; anything else is 403.

Sign-off (tonghop.sign_off) is POST /actions/{send_back|approve|accept|return|withdraw}: a form from the page
(answered with a redirect back and a message) or JSON with a bearer token (answered with JSON). A form post
must come from this site (its Origin header), so another site cannot make a logged-in officer's browser act.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

import jinja2
from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from tonghop.config import Settings
from tonghop.hierarchy import Hierarchy
from tonghop.numbers import fmt
from tonghop.officers import Officer, load_officers
from tonghop.published import (
    Consolidated,
    NotPublished,
    freshness,
    known_period,
    load,
    period_edition,
    published_periods,
    top_units,
)
from tonghop.review import load_review
from tonghop.safety import without_diacritics
from tonghop.sign_off import ACCEPT, APPROVE, RETURN, SEND_BACK, WITHDRAW, Event, SignOffError, decide
from tonghop.spec import load_spec
from tonghop.vocabulary import (
    ACCEPTED_WITH_WARNINGS,
    NOT_RECEIVED,
    REJECTED,
    REPORTING_STATUS_LABELS,
    TOTAL,
    local_time,
    utc,
)
from tonghop.warehouse import Warehouse

TEMPLATES = Path(__file__).with_name("resources") / "status"
LOGIN = "/api/v2/auth/login"
ACTIONS = (SEND_BACK, APPROVE, ACCEPT, RETURN, WITHDRAW)
NOT_YOURS = "Đơn vị này không thuộc phạm vi của tài khoản {login}."
LATE = "late"
# The page's status filter: what an officer chasing a deadline looks for.
STATUS_FILTERS = {NOT_RECEIVED: "Chưa gửi", REJECTED: "Bị từ chối", LATE: "Gửi muộn",
                  ACCEPTED_WITH_WARNINGS: "Có cảnh báo"}
OPEN_SECTIONS_UP_TO = 40  # communes: a larger unit shows its districts folded until one is opened or filtered


def _folded(text: str) -> str:
    """Lower case without diacritics: "ba tri" finds "Huyện Ba Tri", "dong" finds "Đông"."""
    return without_diacritics(text).casefold()


def _matches(commune: dict[str, Any], wanted: str | None, search: str) -> bool:
    if wanted == LATE:
        if commune["on_time"] is not False:
            return False
    elif wanted and commune["status"] != wanted:
        return False
    return not search or search in _folded(commune["name"]) or search in commune["code"]


def filter_communes(doc: dict[str, Any], wanted: str | None = None, group: str | None = None,
                    search: str | None = None) -> list[dict[str, Any]]:
    """The page's sections: each group of the status document (district, area, or the district's communes)
    with the communes that pass the filters — a status (STATUS_FILTERS), one group, a name or code — and
    whether it opens unfolded. Groups with nothing left are dropped when a filter is on."""
    folded = _folded((search or "").strip())
    filtering = bool(wanted or group or folded)
    groups = doc["children"]
    if doc["grouping"] == "commune":  # a district: its communes are its sub-units, one section of them all
        groups = [{**doc["unit"], "communes": [c for g in groups for c in g["communes"]]}]
    total = sum(len(g["communes"]) for g in groups)
    sections = []
    for child in groups:
        if group and child["code"] != group:
            continue
        communes = [c for c in child["communes"] if _matches(c, wanted, folded)]
        if filtering and not communes:
            continue
        sections.append({**child, "shown": communes, "late": sum(1 for c in child["communes"] if c["on_time"] is False),
                         "open": filtering or total <= OPEN_SECTIONS_UP_TO})
    return sections


async def airflow_user(request: Request) -> Any:
    """The logged-in Airflow user, or 401/403: Airflow's own authentication and view permission."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    user = await get_user(request, None, credentials)
    if not get_auth_manager().is_authorized_view(access_view=AccessView.WEBSITE, user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden")
    return user


User = Annotated[Any, Depends(airflow_user)]


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v, d=None: fmt(v, d)
    env.filters["pct"] = lambda v: "" if v is None else fmt(v, 1) + "%"
    return env


def status_document(data: Consolidated, tz: Any) -> dict[str, Any]:
    """The page's content as data (also served as JSON): sub-units with rates, communes with statuses."""
    def commune(c: Any) -> dict[str, Any]:
        return {
            "code": c.code, "name": c.name, "status": c.status, "status_label": c.status_label,
            "on_time": c.on_time if c.received_at else None,
            "received_at": local_time(c.received_at, tz) or None,
            "errors": c.errors, "warnings": c.warnings, "submission_id": c.submission_id, "file_name": c.file_name,
            "annotated": bool(c.annotated_path),
        }

    children = []
    for child, rows in data.groups():
        done = child.completeness[TOTAL]
        children.append({"code": child.code, "name": child.name, "level": child.level,
                         **{k: done[k] for k in ("expected", "received", "accepted", "accepted_with_warnings",
                                                 "rejected", "missing", "on_time", "reporting_rate",
                                                 "on_time_rate")},
                         "communes": [commune(c) for c in rows]})
    total = data.unit.completeness[TOTAL]
    received = [utc(c.received_at) for c in data.communes if c.received_at]
    return {
        "period": {"id": data.period["period_id"], "name": data.period["name"],
                   "deadline": local_time(data.period["commune_deadline"], tz)},
        "unit": {"code": data.unit.code, "name": data.unit.name, "level": data.unit.level,
                 **{k: total[k] for k in ("expected", "received", "accepted", "accepted_with_warnings", "rejected",
                                          "missing", "on_time", "reporting_rate", "on_time_rate")}},
        "children": children,
        "grouping": "area" if data.by_area else ("district" if data.unit.level == "province" else "commune"),
        "last_received_at": local_time(max(received), tz) if received else None,
    }


def _base(request: Request) -> str:
    """Where the app is mounted (/tonghop in the api-server), for links between its pages."""
    return request.scope.get("root_path", "").rstrip("/")


def _login(user: Any) -> str:
    return str(getattr(user, "get_name", lambda: "")() or "")


def _same_origin(request: Request) -> bool:
    """A cookie-authenticated POST must come from a page of this site (a bearer token cannot be sent by
    another site's form)."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return True
    origin = request.headers.get("origin") or request.headers.get("referer")
    return bool(origin) and urlsplit(origin).netloc == request.headers.get("host")


def create_app(settings_factory: Callable[[], Settings] = Settings.from_env) -> FastAPI:
    app = FastAPI(title="tonghop — tình hình báo cáo", docs_url=None, redoc_url=None, openapi_url=None)

    warehouses: dict[str, Warehouse] = {}  # this app's, one per URL: each migrates once

    def context() -> tuple[Settings, Warehouse, Any]:
        from tonghop.calendar import load_calendar

        settings = settings_factory()
        if settings.warehouse not in warehouses:
            warehouses[settings.warehouse] = Warehouse(settings.warehouse)
        return settings, warehouses[settings.warehouse], load_calendar(settings.calendar_path).timezone

    @app.exception_handler(HTTPException)
    async def _login_first(request: Request, exc: HTTPException) -> Response:
        # A browser without a session goes to Airflow's login and comes back; a browser refused a page gets a
        # page that says why, with a way back; the JSON API and images get the status and its detail.
        browser = "text/html" in request.headers.get("accept", "")
        if exc.status_code == status.HTTP_401_UNAUTHORIZED and browser:
            return RedirectResponse(f"{LOGIN}?next={quote(str(request.url), safe='')}",
                                    status_code=status.HTTP_303_SEE_OTHER)
        if browser and "/api/" not in request.url.path and exc.status_code != status.HTTP_401_UNAUTHORIZED:
            html = _templates().get_template("error.html.j2").render(
                message=exc.detail, code=exc.status_code, base=_base(request))
            return HTMLResponse(html, status_code=exc.status_code, headers=exc.headers)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    def _no_period(warehouse: Warehouse, period: str) -> HTTPException:
        known = known_period(warehouse, period)
        if known is None:
            return HTTPException(status.HTTP_404_NOT_FOUND, f"Không có kỳ báo cáo «{period}».")
        return HTTPException(status.HTTP_404_NOT_FOUND,
                             f"{known['name']} ({period}) chưa được tổng hợp: chưa có số liệu để xem.")

    def _load(warehouse: Warehouse, period: str, unit: str, name: str | None = None) -> Consolidated:
        try:
            return load(warehouse, period, unit)
        except NotPublished as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"{name or unit} chưa có số liệu trong kỳ {period}: chưa có báo cáo nào "
                                "của đơn vị này được tổng hợp.") from exc

    def _officer(settings: Settings, user: Any, edition: str) -> Officer:
        officer = load_officers(settings.officers_path).get(_login(user), edition)
        if officer is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"Tài khoản {_login(user)} chưa được phân quyền xem số liệu (danh sách cán bộ).")
        return officer

    def _scope(settings: Settings, warehouse: Warehouse, user: Any, period: str,
               unit: str | None) -> tuple[Officer, Hierarchy, str]:
        """The officer for the period's map edition; 403 unless `unit` (when given) is theirs or below."""
        edition = period_edition(warehouse, period)
        if edition is None or period not in {p["period_id"] for p in published_periods(warehouse)}:
            raise _no_period(warehouse, period)
        officer, hierarchy = _officer(settings, user, edition), settings.editions.hierarchy(edition)
        if unit is not None and unit not in hierarchy:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"Không có đơn vị mã «{unit}» trong danh mục đơn vị hành chính của kỳ {period}.")
        if unit is not None and not officer.sees(hierarchy, unit):
            raise HTTPException(status.HTTP_403_FORBIDDEN, NOT_YOURS.format(login=officer.login))
        return officer, hierarchy, edition

    def _communes(data: Consolidated) -> list[str]:
        return [c.code for c in data.communes]

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request, user: User, period: str | None = None, unit: str | None = None,
             done: str | None = None, error: str | None = None, status_filter: Annotated[
                 str | None, Query(alias="status")] = None, group: str | None = None,
             q: str | None = None) -> HTMLResponse:
        settings, warehouse, tz = context()
        periods = published_periods(warehouse)
        render = _templates().get_template("status.html.j2").render
        common = {"statuses": REPORTING_STATUS_LABELS, "base": _base(request), "quote": quote,
                  "user": _login(user), "done": done, "error": error, "filters": STATUS_FILTERS}
        if not periods:
            return HTMLResponse(render(periods=[], period=None, provinces=[], doc=None, charts=[], review=None,
                                       **common))
        period = period or periods[0]["period_id"]
        if period not in {p["period_id"] for p in periods}:
            raise _no_period(warehouse, period)
        officer, hierarchy, edition = _scope(settings, warehouse, user, period, unit or None)
        provinces = [p for p in top_units(warehouse, period) if officer.sees(hierarchy, p["unit_code"])]
        unit = unit or None
        if unit is None and not officer.national and officer.unit_code in hierarchy:
            unit = officer.unit_code
        if unit is None and len(provinces) == 1:
            unit = provinces[0]["unit_code"]
        data = _load(warehouse, period, unit, hierarchy[unit].name) if unit else None
        doc = status_document(data, tz) if data else None
        review = (load_review(warehouse, hierarchy, load_spec(), period, edition, unit, officer, _communes(data))
                  if data else None)
        from tonghop.charts import CHART_TITLES

        fresh = freshness(warehouse, period)
        charts = [(kind, title) for kind, title in CHART_TITLES.items()] if doc else []
        wanted = status_filter if status_filter in STATUS_FILTERS else None
        sections = filter_communes(doc, wanted, group or None, q) if doc else []
        chosen = {"status": wanted or "", "group": group or "", "q": q or ""}
        return HTMLResponse(render(periods=periods, period=period, provinces=provinces, doc=doc, charts=charts,
                                   review=review, tz=tz, local_time=local_time, sections=sections, chosen=chosen,
                                   shown=sum(len(s["shown"]) for s in sections), fresh=fresh, **common))

    @app.get("/api/status")
    def status_json(user: User, period: str, unit: str) -> JSONResponse:
        settings, warehouse, tz = context()
        _scope(settings, warehouse, user, period, unit)
        return JSONResponse(json.loads(json.dumps(status_document(_load(warehouse, period, unit), tz), default=str)))

    @app.get("/api/review")
    def review_json(user: User, period: str, unit: str) -> JSONResponse:
        settings, warehouse, _ = context()
        officer, hierarchy, edition = _scope(settings, warehouse, user, period, unit)
        data = _load(warehouse, period, unit)
        review = load_review(warehouse, hierarchy, load_spec(), period, edition, unit, officer, _communes(data))
        return JSONResponse(json.loads(json.dumps(review, default=str)))

    @app.get("/charts/{kind}.png")
    def chart(user: User, kind: str, period: str, unit: str) -> Response:
        from tonghop.calendar import load_calendar
        from tonghop.charts import CHARTS
        from tonghop.published_charts import chart_png
        from tonghop.storage import open_outputs
        from tonghop.targets import load_targets

        settings, warehouse, tz = context()
        _scope(settings, warehouse, user, period, unit)
        if kind not in CHARTS:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Không có biểu đồ này")
        version = freshness(warehouse, period)["version"]  # before the figures: see tonghop.published_charts
        data = _load(warehouse, period, unit)
        on_map = settings.edition_for(load_calendar(settings.calendar_path).get(period)).id
        targets = load_targets(settings.targets_path, settings.editions, on_map)
        png = chart_png(open_outputs(settings.output), data, targets, version, kind, tz)
        # The page asks for ?v=<publication>: a new publication is a new URL, so browsers may keep this one.
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    def _submission(settings: Settings, warehouse: Warehouse, user: Any, submission_id: str) -> dict[str, Any]:
        sub = warehouse.read_submission(submission_id)
        if sub is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Không có tệp này")
        officer = _officer(settings, user, sub["map_edition"])
        hierarchy = settings.editions.hierarchy(sub["map_edition"])
        if not officer.sees(hierarchy, sub["submitted_for"] or sub["province_code"]):
            raise HTTPException(status.HTTP_403_FORBIDDEN, NOT_YOURS.format(login=officer.login))
        return sub

    @app.get("/findings/{submission_id}", response_class=HTMLResponse)
    def findings(request: Request, user: User, submission_id: str) -> HTMLResponse:
        settings, warehouse, tz = context()
        sub = _submission(settings, warehouse, user, submission_id)
        received = local_time(sub["received_at"], tz)
        html = _templates().get_template("findings.html.j2").render(
            sub=sub, received=received, findings=warehouse.read_findings(submission_id), base=_base(request))
        return HTMLResponse(html)

    @app.get("/annotated/{submission_id}")
    def annotated(user: User, submission_id: str) -> Response:
        from tonghop.safety import safe_name
        from tonghop.storage import open_outputs

        settings, warehouse, _ = context()
        sub = _submission(settings, warehouse, user, submission_id)
        data = open_outputs(settings.output).read(sub["annotated_path"]) if sub["annotated_path"] else None
        if data is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Tệp chưa được đánh dấu")
        name = safe_name(Path(sub["annotated_path"]).name, fallback="bao-cao.xlsx")
        return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.post("/actions/{action}")
    async def act(request: Request, user: User, action: str) -> Response:
        """One sign-off decision, or several units at once (`units`: bulk approval or acceptance)."""
        is_form = "application/json" not in request.headers.get("content-type", "")
        if is_form:
            form = await request.form()
            body = {k: form.get(k) for k in ("period", "unit", "submission_id", "reason", "back")}
            body["units"] = form.getlist("units")
        else:
            try:
                body = await request.json()
            except ValueError as exc:
                raise HTTPException(status.HTTP_400_BAD_REQUEST, "Nội dung yêu cầu không phải JSON") from exc
            if not isinstance(body, dict):
                raise HTTPException(status.HTTP_400_BAD_REQUEST, "Nội dung yêu cầu không hợp lệ")
        if not _same_origin(request):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Yêu cầu không đến từ trang Tình hình báo cáo")
        if action not in ACTIONS:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"Không có thao tác «{action}»")
        settings, warehouse, _ = context()
        period = str(body.get("period") or "")
        officer, hierarchy, edition = _scope(settings, warehouse, user, period, None)
        if action == SEND_BACK:
            sub = _submission(settings, warehouse, user, str(body.get("submission_id") or ""))
            if sub["period_id"] != period:
                raise HTTPException(status.HTTP_400_BAD_REQUEST, "Báo cáo không thuộc kỳ này")
            events = [Event(action, sub["submitted_for"] or "", body.get("reason"), sub["submission_id"])]
        else:
            codes = [str(c) for c in (body.get("units") or [])] or [str(body.get("unit") or "")]
            for code in codes:  # every unit of a bulk request must be theirs, or nothing is done
                if not officer.sees(hierarchy, code):
                    raise HTTPException(status.HTTP_403_FORBIDDEN, NOT_YOURS.format(login=officer.login))
            events = [Event(action, code, body.get("reason")) for code in codes]
        back = str(body.get("back") or "") or None
        try:
            recorded = decide(warehouse, hierarchy, period, edition, officer, events)
        except SignOffError as exc:
            if is_form:
                return _back(request, period, back, error=str(exc))
            raise HTTPException(exc.status, str(exc)) from exc
        if is_form:
            return _back(request, period, back, done=f"Đã ghi nhận {len(recorded)} thao tác.")
        return JSONResponse({"events": json.loads(json.dumps(recorded, default=str))})

    def _back(request: Request, period: str, unit: str | None, **message: str) -> RedirectResponse:
        query = urlencode({"period": period, **({"unit": unit} if unit else {}), **message})
        return RedirectResponse(f"{_base(request)}/?{query}", status_code=status.HTTP_303_SEE_OTHER)

    @app.get("/health")
    def health() -> dict[str, str]:
        """Unauthenticated liveness (no data): used to wait for the api-server."""
        return {"status": "ok", "time": dt.datetime.now(dt.UTC).isoformat()}

    return app
