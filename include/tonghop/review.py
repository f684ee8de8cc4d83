"""What an officer must decide on for a unit and period: the read model behind the review part of the status
page and its API (tonghop_airflow.status_page).

- the sign-off state of the unit and of the units one level down, and what this officer may do about them;
- accepted reports with warnings and outliers (tonghop.outliers), each with the commune's explanation
  (giải trình) when it gave one for that check, and its general explanations;
- for a commune that sent again, which values changed between its previous valid report and the one that
  counts (or the one held while the unit is approved);
- the other accepted reports this officer may send back (`others`), so any report can be returned, not only
  those with findings;
- the audit trail of the unit and everything below it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from tonghop.findings import WARNING
from tonghop.hierarchy import Hierarchy
from tonghop.numbers import fmt
from tonghop.officers import Officer
from tonghop.sign_off import (
    ACCEPT,
    ACTION_LABELS,
    APPROVE,
    RETURN,
    SEND_BACK,
    WITHDRAW,
    Event,
    SignOffError,
    State,
    check,
    consolidating,
    explanations,
    read_state,
)
from tonghop.spec import TemplateSpec
from tonghop.vocabulary import ACCEPTED, APPROVAL_LABELS, HELD, RETURNED, SUPERSEDED
from tonghop.warehouse import Warehouse


def allowed(hierarchy: Hierarchy, state: State, officer: Officer, action: str, code: str,
            submission: Mapping[str, Any] | None = None) -> bool:
    try:
        check(hierarchy, state, officer, Event(action, code, "-" * 5, submission and submission["submission_id"]),
              submission)
    except SignOffError:
        return False
    return True


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if isinstance(value, int | float) or hasattr(value, "as_tuple"):
        return fmt(value)
    return str(value)


def changed_values(spec: TemplateSpec, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, str]]:
    """The input fields whose value differs between two reports of a commune, in sheet order."""
    out = []
    for f in spec.input_fields():
        old, new = before.get(f.key), after.get(f.key)
        if _shown(old) != _shown(new):
            out.append({"key": f.key, "label": f.label, "sheet": f.sheet, "cell": f.cell,
                        "before": _shown(old), "after": _shown(new)})
    return out


def load_review(warehouse: Warehouse, hierarchy: Hierarchy, spec: TemplateSpec, period_id: str, map_edition: str,
                unit_code: str, officer: Officer, communes: Sequence[str]) -> dict[str, Any]:
    """The review of `unit_code` as `officer` sees it; `communes`: the published communes under the unit."""
    state = read_state(warehouse, period_id, map_edition)
    submissions = [s for s in warehouse.read_period_submissions(period_id) if s["submitted_for"] in set(communes)]
    by_commune: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in submissions:
        by_commune[s["submitted_for"]].append(s)
    counting = {c: next((s for s in files if s["status"] == ACCEPTED), None) for c, files in by_commune.items()}
    held = {c: max((s for s in files if s["status"] == HELD), key=lambda s: s["received_at"], default=None)
            for c, files in by_commune.items()}
    wanted = [s["submission_id"] for s in submissions if s["status"] in (ACCEPTED, SUPERSEDED, RETURNED, HELD)
              and not s["error_count"]]
    values = warehouse.read_reports(wanted)
    outliers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in warehouse.read_review_findings(period_id, communes):
        outliers[r["submission_id"]].append(r)

    items = []
    for code in communes:
        current = counting.get(code)
        if current is None:
            continue
        sid = current["submission_id"]
        findings = [{**f, "kind": "warning"} for f in warehouse.read_findings(sid) if f["severity"] == WARNING]
        findings += [{**f, "kind": "outlier", "severity": WARNING} for f in outliers.get(sid, [])]
        given = explanations(values.get(sid, {}))
        by_check = {g["check_id"]: g["text"] for g in given if g["check_id"]}
        for f in findings:
            f["explanation"] = by_check.get(f["check_id"])
        general = [g["text"] for g in given if not g["check_id"] or g["check_id"] not in
                   {f["check_id"] for f in findings}]
        previous = max((s for s in by_commune[code] if s["status"] in (SUPERSEDED, RETURNED) and not s["error_count"]
                        and s["received_at"] < current["received_at"] and s["submission_id"] in values),
                       key=lambda s: s["received_at"], default=None)
        newer = held.get(code)
        changes = (changed_values(spec, values[previous["submission_id"]], values[sid]) if previous else [])
        held_changes = changed_values(spec, values[sid], values[newer["submission_id"]]) if newer else []
        if not (findings or changes or newer or given):
            continue
        items.append({"code": code, "name": hierarchy[code].name if code in hierarchy else code,
                      "submission_id": sid, "file_name": current["file_name"], "findings": findings,
                      "explanations": general, "changes": changes,
                      "previous_file": previous["file_name"] if previous else None,
                      "held_file": newer["file_name"] if newer else None, "held_changes": held_changes,
                      "can_send_back": allowed(hierarchy, state, officer, SEND_BACK, code, current)})

    def unit_entry(code: str) -> dict[str, Any]:
        row = state.states.get(code)
        current = state.of(code)
        return {"code": code, "name": hierarchy[code].name, "state": current, "state_label": APPROVAL_LABELS[current],
                "changed_by": row["changed_by"] if row else None, "changed_at": row["changed_at"] if row else None,
                "can": {a: allowed(hierarchy, state, officer, a, code) for a in (APPROVE, ACCEPT, RETURN, WITHDRAW)}}

    below = [c for c in sorted(hierarchy.children.get(unit_code, [])) if consolidating(hierarchy, c)]
    scope = set(communes) | {unit_code, *below}
    trail = [{**e, "action_label": ACTION_LABELS[e["action"]],
              "unit_name": hierarchy[e["unit_code"]].name if e["unit_code"] in hierarchy else e["unit_code"]}
             for e in state.events if e["unit_code"] in scope]
    listed = {i["code"] for i in items}
    others = [{"code": c, "name": hierarchy[c].name if c in hierarchy else c, "submission_id": s["submission_id"],
               "file_name": s["file_name"]}
              for c, s in sorted(counting.items()) if s and c not in listed
              and allowed(hierarchy, state, officer, SEND_BACK, c, s)]
    return {"unit": unit_entry(unit_code) if consolidating(hierarchy, unit_code) else None,
            "below": [unit_entry(c) for c in below],
            "items": items, "others": others, "audit": trail}
