"""Sign-off: officers review, send back, approve, accept, return and withdraw, each on their own units only.

The rules on their own first (outlier scores by hand, ledger states, who may do what), then a whole period
on each map edition: real workbooks through ingest → consolidate → notify with fake time, a real SMTP server
on loopback, and the status page's app with tokens signed by Airflow's auth manager."""

from __future__ import annotations

import datetime as dt
import io
import random
import statistics
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from tests.test_lifecycle import HANOI, start_mailbox
from tonghop.consolidate import consolidate
from tonghop.contacts import Contact, write_directory
from tonghop.ingest import ingest
from tonghop.ledger import check_invariant, final_statuses
from tonghop.notify import notify
from tonghop.officers import DATA_TEAM, MINISTRY, OFFICER, Officer, OfficersError, load_officers
from tonghop.outliers import modified_z
from tonghop.period import PeriodContext
from tonghop.sign_off import (
    ACCEPT,
    APPROVE,
    RETURN,
    SEND_BACK,
    WITHDRAW,
    Event,
    Forbidden,
    SignOffError,
    State,
    check,
)
from tonghop.spec import load_spec
from tonghop.synth import Draft, commune_values, inject
from tonghop.template import prefill_values, write_workbook
from tonghop.vocabulary import ACCEPTED, HELD, REJECTED, RETURNED, SUPERSEDED

# --- the rules on their own ----------------------------------------------------------------------------


def test_modified_z_scores_match_a_hand_computation():
    values = pd.Series([10, 11, 12, 13, 14, 100,  5, 5, 5, 5, 5, 9,  1, 2, 3, 4], dtype="float64")
    groups = pd.Series(["a"] * 6 + ["b"] * 6 + ["c"] * 4)
    z = modified_z(values, groups)
    # a: median 12.5, absolute deviations 2.5 1.5 .5 .5 1.5 87.5 → MAD 1.5; z = 0.6745 (x − 12.5) / 1.5
    assert z[:6].tolist() == pytest.approx([0.6745 * (x - 12.5) / 1.5 for x in (10, 11, 12, 13, 14, 100)])
    assert z[5] == pytest.approx(39.3458, abs=1e-3)
    # b: MAD 0 (five equal values); the mean absolute deviation 4/6 stands in: z = (x − 5) / (1.253314 × 4/6)
    assert z[6:12].tolist() == pytest.approx([0, 0, 0, 0, 0, 4 / (1.253314 * 4 / 6)])
    # c: four peers, fewer than five: no score
    assert z[12:].isna().all()


def _file(sid: str, commune: str, hour: int, errors: int = 0) -> dict:
    """A processed file as ingestion stores it (valid: accepted, until a consolidation says otherwise)."""
    return {"submission_id": sid, "submitted_for": commune, "source_key": sid, "error_count": errors,
            "received_at": dt.datetime(2026, 11, 1, hour, tzinfo=dt.UTC), "status": REJECTED if errors else ACCEPTED}


def test_ledger_states_with_sent_back_and_locked_communes():
    files = [_file("a1", "A", 1), _file("a2", "A", 2), _file("a3", "A", 3),
             _file("b1", "B", 1), _file("b2", "B", 2, errors=1), _file("b3", "B", 3),
             _file("c1", "C", 1), _file("d1", "D", 1), _file("d2", "D", 2), _file("d3", "D", 3)]
    got = final_statuses(files, returned={"a2"}, locked={"B": "b1", "C": None})
    assert got == {
        # A: a2 sent back → it and the older a1 are out, the newer a3 counts
        "a1": SUPERSEDED, "a2": RETURNED, "a3": ACCEPTED,
        # B locked on b1 (its published figures): b1 stays, the newer valid b3 is held, errors stay rejected
        "b1": ACCEPTED, "b2": REJECTED, "b3": HELD,
        # C locked with nothing accepted before: its first file waits
        "c1": HELD,
        # D not locked: the newest valid file wins as always
        "d1": SUPERSEDED, "d2": SUPERSEDED, "d3": ACCEPTED,
    }
    assert final_statuses(files, returned={"d3"})["d3"] == RETURNED
    assert {final_statuses(files, returned={"d3"})[s] for s in ("d1", "d2")} == {SUPERSEDED}  # older: out too


@pytest.fixture(scope="module")
def three_levels():
    from tonghop.config import Settings

    return Settings.from_env().editions.hierarchy("pre2025")


def _allowed(hierarchy, state, officer, action, code, submission=None) -> bool:
    try:
        check(hierarchy, state, officer, Event(action, code, "lý do đủ dài", submission and "s1"), submission)
    except SignOffError:
        return False
    return True


def test_who_may_decide_on_the_three_level_map(three_levels):
    h = three_levels
    batri, chauthanh = Officer("batri", OFFICER, "836"), Officer("chauthanh", OFFICER, "831")
    bentre, travinh = Officer("bentre", OFFICER, "83"), Officer("travinh", OFFICER, "84")
    ministry, data = Officer("bo", MINISTRY), Officer("data", DATA_TEAM)
    commune = h.reporting_units("836")[0].code
    report = {"submission_id": "s1", "submitted_for": commune, "status": ACCEPTED}

    draft = State()
    assert [o.login for o in (batri, chauthanh, bentre, travinh, ministry, data)
            if _allowed(h, draft, o, APPROVE, "836")] == ["batri"]
    assert [o.login for o in (batri, chauthanh, bentre, travinh, ministry, data)
            if _allowed(h, draft, o, SEND_BACK, commune, report)] == ["batri", "bentre", "bo"]
    assert not _allowed(h, draft, batri, SEND_BACK, commune, {**report, "status": REJECTED})
    assert not _allowed(h, draft, bentre, ACCEPT, "836")  # nothing approved yet

    approved = State({"836": {"state": "approved"}})
    assert [o.login for o in (batri, chauthanh, bentre, travinh, ministry, data)
            if _allowed(h, approved, o, ACCEPT, "836")] == ["bentre"]
    assert [o.login for o in (batri, chauthanh, bentre, travinh, ministry, data)
            if _allowed(h, approved, o, RETURN, "836")] == ["bentre"]
    assert [o.login for o in (batri, chauthanh, bentre, travinh, ministry, data)
            if _allowed(h, approved, o, WITHDRAW, "836")] == ["batri", "bentre"]
    assert not _allowed(h, approved, batri, SEND_BACK, commune, report)  # locked: withdraw first
    assert not _allowed(h, approved, batri, APPROVE, "836")  # already approved

    # The province approves once every district is accepted; the ministry accepts the province.
    assert not _allowed(h, State({"836": {"state": "accepted"}}), bentre, APPROVE, "83")
    all_accepted = State({d: {"state": "accepted"} for d in h.children["83"]})
    assert _allowed(h, all_accepted, bentre, APPROVE, "83")
    province_approved = State({**all_accepted.states, "83": {"state": "approved"}})
    assert [o.login for o in (bentre, travinh, ministry, data)
            if _allowed(h, province_approved, o, ACCEPT, "83")] == ["bo"]
    # a district's approval cannot be withdrawn under an approved province
    assert not _allowed(h, province_approved, bentre, WITHDRAW, "836")
    assert not _allowed(h, province_approved, batri, WITHDRAW, "836")
    with pytest.raises(Forbidden):
        check(h, approved, data, Event(WITHDRAW, "836", "lý do đủ dài"))


def test_officers_directory_is_checked(tmp_path):
    path = tmp_path / "officers.csv"
    good = "login,unit_code,role,map_edition\na,836,officer,pre2025\na,86,officer,2025\nbo,,ministry,\n"
    path.write_text(good, encoding="utf-8")
    officers = load_officers(path)
    assert officers.get("a", "pre2025").unit_code == "836" and officers.get("a", "2025").unit_code == "86"
    assert officers.get("nobody", "2025") is None and officers.get("bo", "2025").role == MINISTRY
    for bad, says in [("a,836,chief,\n", "role"), ("a,,officer,\n", "needs unit_code"),
                      ("bo,83,ministry,\n", "takes no unit_code"), ("a,836,officer,\na,831,officer,\n", "twice")]:
        path.write_text("login,unit_code,role,map_edition\n" + bad, encoding="utf-8")
        with pytest.raises(OfficersError, match=says):
            load_officers(path)
    assert load_officers(tmp_path / "none.csv").get("a", "2025") is None  # no directory: nobody sees anything


# --- a whole period, on each map edition ---------------------------------------------------------------

@dataclass(frozen=True)
class Scene:
    period: str
    edition: str
    province: str  # the inbox folder
    unit: str  # the consolidating unit whose officer signs off
    unit_role: str
    above: str | None  # the level that accepts (None: the ministry)
    stranger: str  # another unit of the same level, whose officer must see nothing of `unit`

    @property
    def year(self) -> int:
        return int(self.period[:4])


SCENES = {
    "three-level": Scene("2024-FY", "pre2025", "83", "836", "district", "83", "831"),
    "two-level": Scene("2026-FY", "2025", "12", "12", "province", None, "11"),
}
UNIT_OFFICER, ABOVE_OFFICER, STRANGER, DATA_LOGIN = "don.vi", "cap.tren", "nguoi.la", "nhom.du.lieu"
UNIT_MAIL, ABOVE_MAIL, DATA_MAIL = "donvi@example.gov.vn", "captren@example.gov.vn", "data@example.gov.vn"
EXPLANATION = "Xã vượt kế hoạch do được bổ sung vốn giữa năm."
GENERAL_EXPLANATION = "Số hộ tăng do tách hộ sau rà soát."
SEND_BACK_REASON = "Số hộ dân cư chưa khớp với số liệu rà soát của xã."
RETURN_REASON = "Cần xem lại số hộ của các xã trước khi tiếp nhận."
WITHDRAW_REASON = "Xã gửi bổ sung báo cáo muộn, cần tổng hợp lại."


def _commune_mail(code: str) -> str:
    return f"xa.{code}@example.gov.vn"


class PlayedPeriod:
    """One period played with fake time: the communes' files, the officers' decisions through the page's app."""

    def __init__(self, scene: Scene, settings, client, tokens) -> None:
        self.scene, self.settings, self.client, self.tokens = scene, settings, client, tokens
        self.hierarchy = settings.editions.hierarchy(scene.edition)
        self.spec = load_spec()
        from tonghop.calendar import load_calendar

        self.period = load_calendar(settings.calendar_path).get(scene.period)
        self.written: dict[str, dict] = {}  # commune → the values of the file that should count

    def at(self, day: int, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime(self.scene.year, 11, day, hour, minute, tzinfo=HANOI)

    def deliver(self, commune: str, when: dt.datetime, name: str, edit=None) -> dict:
        unit = self.hierarchy[commune]
        values = commune_values(7, unit, self.period, self.spec)
        prefilled = prefill_values(self.spec, self.hierarchy, self.period, commune)
        if edit:
            edit(Draft(values, prefilled, unit, self.period, self.hierarchy, self.spec, random.Random(commune)))
        path = self.settings.inbox_dir / self.scene.period / self.scene.province / commune / name
        write_workbook(path, prefilled, self.period, values)
        import os

        os.utime(path, (when.timestamp(), when.timestamp()))
        return values

    def process(self, now: dt.datetime) -> list:
        """What the ingestion DAG does at `now`; returns the e-mails sent."""
        ctx = PeriodContext.open(self.settings, self.scene.period)
        try:
            ingest(ctx, ctx.inbox.list(self.scene.period))
            consolidate(ctx, now=now)
            notify(ctx, now)
        finally:
            ctx.close()
        return self.mailbox.take()

    def get(self, login: str, path: str, **params):
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.tokens[login]}"})

    def act(self, login: str, action: str, **body):
        return self.client.post(f"/actions/{action}", json={"period": self.scene.period, **body},
                                headers={"Authorization": f"Bearer {self.tokens[login]}"})

    def review(self, login: str = UNIT_OFFICER) -> dict:
        got = self.get(login, "/api/review", period=self.scene.period, unit=self.scene.unit)
        assert got.status_code == 200, got.text
        return got.json()

    def statuses(self) -> dict[str, str]:
        doc = self.get(UNIT_OFFICER, "/api/status", period=self.scene.period, unit=self.scene.unit).json()
        return {c["code"]: c["status"] for child in doc["children"] for c in child["communes"]}

    def households(self) -> int:
        """The unit's published total households (the warehouse's BI view)."""
        with sa.create_engine(self.settings.warehouse).connect() as conn:
            return conn.execute(sa.text(
                "SELECT total_households FROM v_households WHERE period_id = :p AND unit_code = :u AND area = 'total'"
            ), {"p": self.scene.period, "u": self.scene.unit}).scalar_one()

    def workbook_subtitle(self) -> str:
        """The subtitle of the unit's consolidated workbook, as the reports DAG writes it."""
        from tonghop.officer_files import publish_reports

        ctx = PeriodContext.open(self.settings, self.scene.period)
        try:
            publish_reports(ctx)
        finally:
            ctx.close()
        path = Path(self.settings.output) / self.scene.period / "reports" / f"{self.scene.unit}.xlsx"
        return str(load_workbook(path).worksheets[0]["A5"].value)

    def approval_states(self, view: str = "v_households_signed") -> dict[str, str]:
        with sa.create_engine(self.settings.warehouse).connect() as conn:
            rows = conn.execute(sa.text(
                f"SELECT unit_code, approval_state FROM {view} WHERE period_id = :p AND area = 'total'"),
                {"p": self.scene.period})
            return dict(rows.all())


def _sign_off_mails(messages) -> list[tuple[tuple[str, ...], str]]:
    """(recipients, subject) of the sign-off e-mails among `messages`, in order."""
    marks = ("bị trả lại, đề nghị gửi lại", "đề nghị tiếp nhận", "đã được trả lại", "đã được tiếp nhận",
             "đã được hủy duyệt", "đang chờ")
    return [(tuple(sorted(to)), m["Subject"]) for to, m in messages if any(k in m["Subject"] for k in marks)]


def _body(message) -> str:
    return message.get_body(("plain",)).get_content()


def _peer_outliers(values: dict[str, dict]) -> set[tuple[str, str]]:
    """(commune, check id) beyond modified z 3.5 among the communes' reports, computed here independently."""
    def scores(xs: dict[str, float]) -> dict[str, float]:
        median = statistics.median(xs.values())
        deviations = {k: abs(v - median) for k, v in xs.items()}
        mad = statistics.median(deviations.values())
        if mad:
            return {k: 0.6745 * (v - median) / mad for k, v in xs.items()}
        mean_ad = statistics.fmean(deviations.values())
        return {k: (v - median) / (1.253314 * mean_ad) if mean_ad else 0.0 for k, v in xs.items()}

    totals = {c: float(v["total_households"]) for c, v in values.items()}
    rates = {c: float(v["poor_end"]) * 100 / float(v["total_households"]) for c, v in values.items()}
    out = {(c, "TH-O-002") for c, z in scores(totals).items() if abs(z) > 3.5}
    return out | {(c, "TH-O-001") for c, z in scores(rates).items() if abs(z) > 3.5}


def _retype_rates(values: dict) -> None:
    for prefix in ("poor", "near_poor"):
        values[f"{prefix}_rate"] = (Decimal(values[f"{prefix}_end"]) * 100 / values["total_households"]).quantize(
            Decimal("0.01"))


@pytest.fixture(params=sorted(SCENES))
def scene_period(request, tmp_path, monkeypatch, airflow_db):
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    from tonghop.config import Settings
    from tonghop_airflow.status_page import create_app

    scene = SCENES[request.param]
    settings = Settings.from_env(home=tmp_path, inbox=tmp_path / "inbox", output=tmp_path / "runs", scope=scene.unit,
                                 warehouse_url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}",
                                 contacts_path=tmp_path / "contacts.csv", officers_path=tmp_path / "officers.csv")
    hierarchy = settings.editions.hierarchy(scene.edition)
    above = (f"{ABOVE_OFFICER},{scene.above},officer,{scene.edition}" if scene.above
             else f"{ABOVE_OFFICER},,ministry,")
    settings.officers_path.write_text("login,unit_code,role,map_edition\n"
                                      f"{UNIT_OFFICER},{scene.unit},officer,{scene.edition}\n{above}\n"
                                      f"{STRANGER},{scene.stranger},officer,{scene.edition}\n"
                                      f"{DATA_LOGIN},,data_team,\n", encoding="utf-8")
    communes = [u.code for u in hierarchy.reporting_units(scene.unit)]
    write_directory(settings.contacts_path, [
        *(Contact(c, "commune", hierarchy[c].name, _commune_mail(c), scene.edition) for c in communes),
        Contact(scene.unit, scene.unit_role, "Cán bộ đơn vị", UNIT_MAIL, scene.edition),
        Contact(scene.above, "province" if scene.above else MINISTRY, "Cấp trên", ABOVE_MAIL,
                scene.edition if scene.above else None),
        Contact(None, DATA_TEAM, "Nhóm dữ liệu", DATA_MAIL)])
    mailbox = start_mailbox(monkeypatch, "tonghop@example.gov.vn")
    auth = init_auth_manager()
    tokens = {login: auth.generate_jwt(SimpleAuthManagerUser(username=login, role="viewer"))
              for login in (UNIT_OFFICER, ABOVE_OFFICER, STRANGER, DATA_LOGIN)}
    played = PlayedPeriod(scene, settings, TestClient(create_app(lambda: settings)), tokens)
    played.mailbox = mailbox
    played.communes = communes
    yield played
    mailbox.stop()


@pytest.mark.slow
def test_a_period_signed_off_end_to_end(scene_period):
    p, scene = scene_period, scene_period.scene
    explainer, outlier, sent_back, late, *others = p.communes

    # --- files arrive (1-5 November): one commune explains a warning, one types ten times its households ---
    def explains(d: Draft) -> None:
        mistake = inject("over_plan", d)
        assert mistake.check_id == "TH-E-002"
        d.values.update(explanation_1_check="TH-E-002", explanation_1_text=EXPLANATION,
                        explanation_2_text=GENERAL_EXPLANATION)

    def ten_times(d: Draft) -> None:
        d.values["total_households"] *= 10
        _retype_rates(d.values)

    p.written[explainer] = p.deliver(explainer, p.at(1, 9), "bao-cao.xlsx", explains)
    p.written[outlier] = p.deliver(outlier, p.at(1, 10), "bao-cao.xlsx", ten_times)
    for i, code in enumerate([sent_back, *others]):
        p.written[code] = p.deliver(code, p.at(2 + i % 3, 8, i % 60), "bao-cao.xlsx")
    mails = p.process(p.at(5, 18))
    assert _sign_off_mails(mails) == []
    expected_total = sum(v["total_households"] for v in p.written.values())
    assert p.households() == expected_total

    # --- review: the warning with its explanation, the outlier, exactly the outliers computed here ---
    review = p.review()
    assert review["unit"]["state"] == "draft" and review["unit"]["can"]["approve"]
    items = {i["code"]: i for i in review["items"]}
    warning = next(f for f in items[explainer]["findings"] if f["check_id"] == "TH-E-002")
    assert warning["explanation"] == EXPLANATION and items[explainer]["explanations"] == [GENERAL_EXPLANATION]
    flagged = {(code, f["check_id"]) for code, i in items.items() for f in i["findings"] if f["kind"] == "outlier"}
    assert (outlier, "TH-O-002") in flagged
    assert flagged == _peer_outliers(p.written)
    message = next(f["message"] for f in items[outlier]["findings"] if f["check_id"] == "TH-O-002")
    assert f"{p.written[outlier]['total_households']:,}".replace(",", ".") in message
    assert hierarchy_name(p, scene.unit) in message  # the peers are the unit's communes
    page = p.get(UNIT_OFFICER, "/", period=scene.period, unit=scene.unit)
    assert page.status_code == 200 and EXPLANATION in page.text and "TH-O-002" in page.text

    # --- send back one report: e-mail with reason and workbook; out of the roll-up -------------------------
    others = {o["code"]: o["submission_id"] for o in review["others"]}  # every accepted report can be sent back
    assert set(others).isdisjoint(items) and set(others) | set(items) == set(p.written)
    sent_id = items[sent_back]["submission_id"] if sent_back in items else others[sent_back]
    assert sent_id == _counting(p, sent_back)
    done = p.act(UNIT_OFFICER, SEND_BACK, submission_id=sent_id, reason=SEND_BACK_REASON)
    assert done.status_code == 200, done.text
    mails = p.process(p.at(6, 9))
    assert _sign_off_mails(mails) == [((_commune_mail(sent_back),), _subject_with(mails, "bị trả lại"))]
    returned_mail = next(m for to, m in mails if "bị trả lại" in m["Subject"])
    assert SEND_BACK_REASON in _body(returned_mail) and UNIT_OFFICER in _body(returned_mail)
    attachment = next(returned_mail.iter_attachments())
    assert attachment.get_filename().endswith(".xlsx")
    load_workbook(io.BytesIO(attachment.get_content()))  # a real workbook
    assert p.statuses()[sent_back] == RETURNED
    assert p.households() == expected_total - p.written[sent_back]["total_households"]

    # --- the commune resends; the officer sees which values changed ---------------------------------------
    def more_households(d: Draft) -> None:
        d.values["total_households"] += 7
        _retype_rates(d.values)

    before = p.written[sent_back]["total_households"]
    p.written[sent_back] = p.deliver(sent_back, p.at(7, 10), "bao-cao-sua.xlsx", more_households)
    assert _sign_off_mails(p.process(p.at(7, 12))) == []
    assert p.statuses()[sent_back] in (ACCEPTED, "accepted_with_warnings")
    expected_total = sum(v["total_households"] for c, v in p.written.items())
    assert p.households() == expected_total
    item = {i["code"]: i for i in p.review()["items"]}[sent_back]
    changed = {c["key"]: (c["before"], c["after"]) for c in item["changes"]}
    assert changed["total_households"] == (_vn(before), _vn(before + 7))
    assert item["previous_file"] == "bao-cao.xlsx" and item["file_name"] == "bao-cao-sua.xlsx"

    # --- three days after the consolidation, a reminder to the officer who has not approved; once ----------
    mails = p.process(p.at(15, 8))
    assert [to for to, _ in _sign_off_mails(mails)] == [(UNIT_MAIL,)]
    assert _sign_off_mails(p.process(p.at(15, 8, 30))) == []

    # --- approve; the level above returns it with a reason; approve again; accepted (bulk form) ------------
    assert p.act(DATA_LOGIN, APPROVE, unit=scene.unit).status_code == 403  # the data team only watches
    assert p.act(UNIT_OFFICER, APPROVE, unit=scene.unit).status_code == 200
    assert p.act(UNIT_OFFICER, APPROVE, unit=scene.unit).status_code == 409  # already approved
    mails = p.process(p.at(15, 10))
    assert [to for to, _ in _sign_off_mails(mails)] == [(ABOVE_MAIL,)]
    assert "đề nghị tiếp nhận" in mails[-1][1]["Subject"] or _subject_with(mails, "đề nghị tiếp nhận")
    assert set(p.approval_states().values()) >= {"approved"}
    assert p.approval_states()[scene.unit] == "approved"
    assert p.act(ABOVE_OFFICER, RETURN, unit=scene.unit, reason="x").status_code == 400  # a reason is required
    assert p.act(ABOVE_OFFICER, RETURN, unit=scene.unit, reason=RETURN_REASON).status_code == 200
    mails = p.process(p.at(16, 9))
    assert [to for to, _ in _sign_off_mails(mails)] == [(UNIT_MAIL,)]
    assert RETURN_REASON in _body(next(m for _, m in mails if "đã được trả lại" in m["Subject"]))
    assert p.approval_states()[scene.unit] == "draft"
    assert p.act(UNIT_OFFICER, APPROVE, unit=scene.unit).status_code == 200
    assert [to for to, _ in _sign_off_mails(p.process(p.at(16, 10)))] == [(ABOVE_MAIL,)]
    assert p.act(ABOVE_OFFICER, ACCEPT, units=[scene.unit]).status_code == 200
    mails = p.process(p.at(17, 9))
    assert [(to, "đã được tiếp nhận" in s) for to, s in _sign_off_mails(mails)] == [((UNIT_MAIL,), True)]
    approved_only = p.approval_states("v_households_approved")
    assert approved_only[scene.unit] == "accepted" and all(approved_only[c] == "accepted" for c in p.written)
    assert set(approved_only) == {scene.unit, *p.communes}  # only the signed unit and its communes (missing too)
    assert p.households() == expected_total
    assert "Trạng thái số liệu: Cấp trên đã tiếp nhận" in p.workbook_subtitle()

    # --- a late file after acceptance: recorded and answered, held out of the figures ----------------------
    assert p.act(UNIT_OFFICER, SEND_BACK, submission_id=_counting(p, outlier), reason=SEND_BACK_REASON
                 ).status_code == 409  # locked
    p.deliver(late, p.at(18, 9), "bao-cao-muon.xlsx")
    mails = p.process(p.at(18, 10))
    assert _commune_mail(late) in {a for to, _ in mails for a in to}  # answered as usual
    assert _sign_off_mails(mails) == []
    assert p.statuses()[late] == HELD and p.households() == expected_total
    assert {i["code"]: i for i in p.review()["items"]}.get(late) is None  # not counted: nothing to review yet
    assert p.approval_states()[scene.unit] == "accepted"

    # --- withdrawn with a reason by the level above: the held file counts, the figures change --------------
    assert p.act(ABOVE_OFFICER, WITHDRAW, unit=scene.unit, reason=WITHDRAW_REASON).status_code == 200
    mails = p.process(p.at(19, 9))
    assert [to for to, _ in _sign_off_mails(mails)] == [(UNIT_MAIL,)]
    late_values = commune_values(7, p.hierarchy[late], p.period, p.spec)
    assert p.statuses()[late] in (ACCEPTED, "accepted_with_warnings")
    assert p.households() == expected_total + late_values["total_households"]
    assert p.approval_states()[scene.unit] == "draft"
    assert "Trạng thái số liệu: Chưa duyệt" in p.workbook_subtitle()

    # --- the audit trail: every step with who and why, on the page's API and in the BI view -----------------
    trail = [(e["action"], e["actor"], e["reason"]) for e in p.review()["audit"]]
    preparer = p.written[explainer]["preparer_name"]
    assert trail == [
        ("explain", preparer, f"TH-E-002: {EXPLANATION}\n—: {GENERAL_EXPLANATION}"),
        ("send_back", UNIT_OFFICER, SEND_BACK_REASON),
        ("approve", UNIT_OFFICER, None), ("return", ABOVE_OFFICER, RETURN_REASON),
        ("approve", UNIT_OFFICER, None), ("accept", ABOVE_OFFICER, None),
        ("withdraw", ABOVE_OFFICER, WITHDRAW_REASON)]
    with sa.create_engine(p.settings.warehouse).connect() as conn:
        view = conn.execute(sa.text("SELECT action, actor, reason, unit_name FROM v_sign_off ORDER BY event_id")).all()
    assert [(a, who, why) for a, who, why, _ in view] == trail
    assert {name for *_, name in view} >= {hierarchy_name(p, scene.unit)}
    ctx = PeriodContext.open(p.settings, scene.period)
    try:
        ledger = check_invariant([i.key for i in ctx.inbox.list(scene.period)],
                                 ctx.warehouse.read_period_submissions(scene.period))
    finally:
        ctx.close()
    # every file ends in one state: one per commune counts, the one sent back stays returned, nothing is held
    assert (ledger["accepted"], ledger["returned"], ledger["held"]) == (len(p.communes), 1, 0)

    # --- another unit's officer: 403 on every route and action of this unit, however the URL is edited -----
    sid = _counting(p, outlier)
    for path, params in [("/", {"period": scene.period, "unit": scene.unit}),
                         ("/", {"period": scene.period, "unit": outlier}),
                         ("/api/status", {"period": scene.period, "unit": scene.unit}),
                         ("/api/status", {"period": scene.period, "unit": outlier}),
                         ("/api/review", {"period": scene.period, "unit": scene.unit}),
                         ("/charts/completeness.png", {"period": scene.period, "unit": scene.unit}),
                         (f"/findings/{sid}", {}), (f"/annotated/{sid}", {})]:
        refused = p.get(STRANGER, path, **params)
        assert refused.status_code == 403, (path, params, refused.status_code)
        assert hierarchy_name(p, outlier) not in refused.text
    if scene.above:  # the district officer cannot look up at the province either
        assert p.get(STRANGER, "/api/status", period=scene.period, unit=scene.above).status_code == 403
    # their own page (not consolidated in this run, scoped to our unit: 404): nothing of this unit's communes
    own = p.get(STRANGER, "/", period=scene.period)
    assert own.status_code in (200, 404) and f'data-commune="{outlier}"' not in own.text
    assert hierarchy_name(p, outlier) not in own.text
    events_before = len(p.review()["audit"])
    for action, body in [(SEND_BACK, {"submission_id": sid, "reason": SEND_BACK_REASON}),
                         (APPROVE, {"unit": scene.unit}), (ACCEPT, {"unit": scene.unit}),
                         (RETURN, {"unit": scene.unit, "reason": RETURN_REASON}),
                         (WITHDRAW, {"unit": scene.unit, "reason": WITHDRAW_REASON}),
                         (APPROVE, {"units": [scene.stranger, scene.unit]})]:
        assert p.act(STRANGER, action, **body).status_code == 403, action
    assert len(p.review()["audit"]) == events_before  # nothing recorded
    # a cookie-authenticated form post from another site is refused too
    forged = p.client.post("/actions/approve", data={"period": scene.period, "unit": scene.unit},
                           cookies={"_token": p.tokens[UNIT_OFFICER]}, headers={"Origin": "http://evil.example"},
                           follow_redirects=False)
    assert forged.status_code == 403


def hierarchy_name(p: PlayedPeriod, code: str) -> str:
    return p.hierarchy[code].name


def _counting(p: PlayedPeriod, commune: str) -> str:
    doc = p.get(UNIT_OFFICER, "/api/status", period=p.scene.period, unit=p.scene.unit).json()
    return next(c["submission_id"] for child in doc["children"] for c in child["communes"] if c["code"] == commune)


def _subject_with(mails, text: str) -> str:
    return next(m["Subject"] for _, m in mails if text in m["Subject"])


def _vn(n: int) -> str:
    return f"{n:,}".replace(",", ".")
