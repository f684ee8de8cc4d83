"""Sign-off: officers review a period's figures, send reports back, approve their unit, and the level above
accepts or returns it. The rules live here; the status page (tonghop_airflow.status_page) and the API call them.

    draft ──approve──► approved ──accept──► accepted
      ▲                   │                    │
      └──return/withdraw──┘◄──────withdraw─────┘

The consolidating units are the map edition's levels above the commune: district and province before the
2025 reform (a district approves, its province accepts; the province approves once all its districts are
accepted, and the ministry accepts), the province only after it (the province approves, the ministry accepts).
Who may act is `tonghop.officers`: the officer of the unit approves it; the officer of the unit above (the
ministry for a province) accepts or returns it; either may withdraw, with a reason, while the level above has
not approved its own figures. An officer may send back an accepted report of a commune under their unit while
that commune's figures are not approved.

Once approved, a unit's communes are locked: a new file is recorded and answered as usual but held out of the
roll-up (ledger state `held`) until the approval is withdrawn. Every decision is one append-only row of
`sign_off_event` (who, when, why); `unit_approval` keeps each unit's current state for BI, in the same
transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tonghop.hierarchy import Hierarchy
from tonghop.officers import DATA_TEAM, Officer
from tonghop.vocabulary import ACCEPTED, ACCEPTED_ABOVE, APPROVED, DRAFT
from tonghop.warehouse import Warehouse

SEND_BACK, EXPLAIN, APPROVE = "send_back", "explain", "approve"
ACCEPT, RETURN, WITHDRAW = "accept", "return", "withdraw"
ACTION_LABELS = {SEND_BACK: "Trả lại báo cáo xã", EXPLAIN: "Xã giải trình", APPROVE: "Duyệt số liệu",
                 ACCEPT: "Cấp trên tiếp nhận", RETURN: "Cấp trên trả lại", WITHDRAW: "Hủy duyệt"}
SIGNED = (APPROVED, ACCEPTED_ABOVE)
NEW_STATE = {APPROVE: APPROVED, ACCEPT: ACCEPTED_ABOVE, RETURN: DRAFT, WITHDRAW: DRAFT}
MIN_REASON_CHARS = 5
MAX_REASON_CHARS = 2000


class SignOffError(Exception):
    """A decision that cannot be taken; the message is Vietnamese (the officer reads it)."""
    status = 409


class Forbidden(SignOffError):
    status = 403


class Invalid(SignOffError):
    status = 400


@dataclass(frozen=True)
class Event:
    action: str
    unit_code: str
    reason: str | None = None
    submission_id: str | None = None


@dataclass
class State:
    """A period's sign-off as recorded: each unit's current state and the events so far."""
    states: dict[str, dict[str, Any]] = field(default_factory=dict)  # unit → unit_approval row
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, code: str | None) -> str:
        row = self.states.get(code or "")
        return row["state"] if row else DRAFT

    @property
    def returned(self) -> set[str]:
        """Submissions an officer sent back."""
        return {e["submission_id"] for e in self.events if e["action"] == SEND_BACK}

    def locked_communes(self, hierarchy: Hierarchy) -> set[str]:
        """Communes whose consolidating unit (their parent) is approved or accepted."""
        signed = {code for code, row in self.states.items() if row["state"] in SIGNED}
        return {u.code for u in hierarchy.at_level(hierarchy.leaf_level) if u.parent_code in signed}

    def explained(self) -> set[str]:
        return {e["submission_id"] for e in self.events if e["action"] == EXPLAIN}


def consolidating(hierarchy: Hierarchy, code: str) -> bool:
    return code in hierarchy and hierarchy[code].level != hierarchy.leaf_level


def read_state(warehouse: Warehouse, period_id: str, map_edition: str) -> State:
    states, events = warehouse.read_sign_off(period_id, map_edition)
    return State(states, events)


def _reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if len(text) < MIN_REASON_CHARS:
        raise Invalid("Cần ghi rõ lý do (ít nhất 5 ký tự).")
    return text[:MAX_REASON_CHARS]


def _can_decide(officer: Officer) -> None:
    if officer.role == DATA_TEAM:
        raise Forbidden("Nhóm dữ liệu chỉ xem số liệu, không duyệt hay trả lại.")


def _name(hierarchy: Hierarchy, code: str) -> str:
    return hierarchy[code].name if code in hierarchy else code


def check(hierarchy: Hierarchy, state: State, officer: Officer, event: Event,
          submission: Mapping[str, Any] | None = None) -> None:
    """Raise Forbidden, Invalid or SignOffError (conflict) unless `officer` may take `event` now."""
    _can_decide(officer)
    code = event.unit_code
    if event.action == SEND_BACK:
        if submission is None or submission["submitted_for"] != code:
            raise Invalid("Không có báo cáo này.")
        if not officer.sees(hierarchy, code) or code == officer.unit_code:
            raise Forbidden("Báo cáo này không thuộc đơn vị của anh/chị.")
        if submission["status"] != ACCEPTED:
            raise SignOffError("Chỉ trả lại được báo cáo đang được dùng để tổng hợp (đã hợp lệ).")
        parent = hierarchy[code].parent_code
        if state.of(parent) in SIGNED:
            raise SignOffError(f"Số liệu của {_name(hierarchy, parent)} đã được duyệt: cần hủy duyệt trước khi "
                               "trả lại báo cáo của xã.")
        return
    if not consolidating(hierarchy, code):
        raise Invalid("Đơn vị này không phải cấp tổng hợp.")
    if not officer.sees(hierarchy, code):
        raise Forbidden("Đơn vị này không thuộc phạm vi của anh/chị.")
    parent = hierarchy[code].parent_code
    current = state.of(code)
    if event.action == APPROVE:
        if not officer.is_officer_of(code):
            raise Forbidden(f"Chỉ cán bộ của {_name(hierarchy, code)} được duyệt số liệu của đơn vị.")
        if current != DRAFT:
            raise SignOffError(f"Số liệu của {_name(hierarchy, code)} đã được duyệt.")
        pending = [c for c in hierarchy.children.get(code, [])
                   if consolidating(hierarchy, c) and state.of(c) != ACCEPTED_ABOVE]
        if pending:
            raise SignOffError(f"Còn {len(pending)} đơn vị cấp dưới chưa được tiếp nhận (ví dụ "
                               f"{_name(hierarchy, pending[0])}): tiếp nhận trước khi duyệt số liệu của "
                               f"{_name(hierarchy, code)}.")
    elif event.action in (ACCEPT, RETURN):
        if not officer.is_officer_of(parent):
            raise Forbidden(f"Chỉ cấp trên của {_name(hierarchy, code)} được tiếp nhận hoặc trả lại.")
        if current != APPROVED:
            raise SignOffError(f"Số liệu của {_name(hierarchy, code)} chưa được duyệt hoặc đã được tiếp nhận.")
    elif event.action == WITHDRAW:
        if not (officer.is_officer_of(code) or officer.is_officer_of(parent)):
            raise Forbidden(f"Chỉ cán bộ của {_name(hierarchy, code)} hoặc cấp trên trực tiếp được hủy duyệt.")
        if current not in SIGNED:
            raise SignOffError(f"Số liệu của {_name(hierarchy, code)} chưa được duyệt.")
        if parent is not None and state.of(parent) in SIGNED:
            raise SignOffError(f"Số liệu của {_name(hierarchy, parent)} đã được duyệt: cấp trên cần hủy duyệt "
                               "trước.")
    else:
        raise Invalid(f"Không có thao tác «{event.action}».")


def decide(warehouse: Warehouse, hierarchy: Hierarchy, period_id: str, map_edition: str, officer: Officer,
           events: Sequence[Event], now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Take one decision or several at once (bulk approval or acceptance): all are checked against the state
    as it is inside the transaction, and either all are recorded or none. Returns the recorded events."""
    if not events:
        raise Invalid("Chưa chọn đơn vị nào.")
    events = [Event(e.action, e.unit_code, _reason(e.reason) if e.action in (SEND_BACK, RETURN, WITHDRAW)
                    else (" ".join((e.reason or "").split())[:MAX_REASON_CHARS] or None), e.submission_id)
              for e in events]
    at = now or dt.datetime.now(dt.UTC)

    def validate(states: dict[str, dict[str, Any]], events_so_far: list[dict[str, Any]],
                 submissions: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
        state = State(dict(states), events_so_far)
        rows = []
        for e in events:
            check(hierarchy, state, officer, e, submissions.get(e.submission_id or ""))
            row = {"period_id": period_id, "map_edition": map_edition, "unit_code": e.unit_code,
                   "action": e.action, "submission_id": e.submission_id, "actor": officer.login,
                   "actor_unit": officer.unit_code, "reason": e.reason, "at": at}
            rows.append(row)
            if e.action in NEW_STATE:  # a later event of the same request sees this one's effect
                state.states[e.unit_code] = {"state": NEW_STATE[e.action]}
        return rows

    return warehouse.record_sign_off(period_id, map_edition, [e.submission_id for e in events if e.submission_id],
                                     validate, NEW_STATE)


def explanations(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """The commune's explanations (giải trình) in a report of template 1.1/2.1: check id (may be empty) + text."""
    out = []
    for i in (1, 2, 3):
        text = " ".join(str(report.get(f"explanation_{i}_text") or "").split())
        if text:
            out.append({"check_id": str(report.get(f"explanation_{i}_check") or "").strip().upper(), "text": text})
    return out


def record_explanations(warehouse: Warehouse, period_id: str, map_edition: str, state: State,
                        winners: Mapping[str, Mapping[str, Any]], reports: Mapping[str, Mapping[str, Any]]) -> int:
    """Append an `explain` event for each report that counts and explains something, once per report."""
    rows = []
    done = state.explained()
    for commune, sub in winners.items():
        sid = sub["submission_id"]
        given = explanations(reports.get(sid, {}))
        if sid in done or not given:
            continue
        who = " ".join(str(reports[sid].get("preparer_name") or "").split()) or commune
        rows.append({"period_id": period_id, "map_edition": map_edition, "unit_code": commune, "action": EXPLAIN,
                     "submission_id": sid, "actor": who, "actor_unit": commune,
                     "reason": "\n".join(f"{g['check_id'] or '—'}: {g['text']}" for g in given)[:MAX_REASON_CHARS],
                     "at": sub["received_at"]})
    if rows:
        warehouse.append_sign_off_events(rows)
    return len(rows)


def awaiting_consolidation(warehouse: Warehouse) -> list[str]:
    """Periods with a decision (send-back, approval, withdrawal …) taken after their last consolidation: the
    next ingestion run consolidates them again, so the decision reaches the figures and the e-mails."""
    return warehouse.periods_decided_since_consolidation([EXPLAIN])
