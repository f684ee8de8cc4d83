"""The submission ledger: every file that arrives is recorded once and ends in exactly one state.

    received ──► accepted ──► superseded      (a newer valid file of the same commune wins)
        │    │          └───► returned        (an officer sent it back: out of the roll-up; tonghop.sign_off)
        │    ├─► held ◄─────► accepted        (valid, but its unit's figures are approved: kept out until the
        │    │                                 approval is withdrawn, then it competes like any file)
        │    └─► rejected                     (≥ 1 error; kept, never rolled up)
        └──────► duplicate                    (byte-identical to a file the commune already sent)

Invariant, checked at the end of every run: every file of the period's inbox is in the ledger, nothing is
left `received`, and received = accepted + rejected + superseded + duplicate + returned + held; each commune
has at most one accepted file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from tonghop.inbox import InboxFile
from tonghop.vocabulary import (
    ACCEPTED,
    DUPLICATE,
    FINAL_STATES,
    HELD,
    RECEIVED,
    REJECTED,
    RETURNED,
    SUPERSEDED,
    utc,
)


class LedgerError(RuntimeError):
    """The ledger lost or double-counted a file: a bug or an outside edit; the run fails loudly."""


def submission_id(item: InboxFile, sha256: str) -> str:
    """Stable across runs: the same file at the same place is the same submission."""
    return hashlib.sha256(f"{item.key}\n{sha256}".encode()).hexdigest()[:32]


def is_known(item: InboxFile, known: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether the ledger already holds this file (same place, size and version) — no need to read it."""
    row = known.get(item.key)
    return bool(row) and row["size_bytes"] == item.size and row["source_version"] == item.version


@dataclass(frozen=True)
class Arrival:
    item: InboxFile
    sha256: str
    submission_id: str
    duplicate_of: str | None = None


def classify(arrivals: Sequence[Arrival], ledger: Iterable[Mapping[str, Any]]) -> list[Arrival]:
    """Mark byte-identical re-sends: same period, same commune folder (under the same province folder: a copy
    put under another province's folder must not make the commune's own file a duplicate), same content."""
    first_by_content: dict[tuple[str | None, str | None, str], tuple[dt.datetime, str]] = {}
    for row in ledger:
        if row["status"] != DUPLICATE:
            key = (row["province_code"], row["submitted_for"], row["sha256"])
            when = utc(row["received_at"])
            if key not in first_by_content or when < first_by_content[key][0]:
                first_by_content[key] = (when, row["submission_id"])
    out = []
    for arrival in sorted(arrivals, key=lambda a: (utc(a.item.received_at), a.item.key)):
        key = (arrival.item.province_code, arrival.item.submitted_for, arrival.sha256)
        earlier = first_by_content.get(key)
        if earlier and earlier[1] != arrival.submission_id:
            out.append(Arrival(arrival.item, arrival.sha256, arrival.submission_id, duplicate_of=earlier[1]))
        else:
            first_by_content.setdefault(key, (utc(arrival.item.received_at), arrival.submission_id))
            out.append(arrival)
    return out


def final_statuses(submissions: Sequence[Mapping[str, Any]], returned: AbstractSet[str] = frozenset(),
                   locked: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Rejected stays rejected, duplicates stay duplicates; of a commune's valid files the newest received
    wins and older ones are superseded. Files not processed yet stay `received`.

    Sign-off: a file in `returned` (sent back) is out, and so is every older valid file of its commune (the
    commune's next file starts afresh). `locked`: commune → the submission its published figures come from (None:
    none) for the communes whose unit's figures are approved. That file stays accepted, newer valid files are
    held, older ones superseded; a locked commune that had no report holds every file."""
    locked = locked or {}
    statuses: dict[str, str] = {}
    valid: dict[str | None, list[Mapping[str, Any]]] = defaultdict(list)
    for s in submissions:
        if s["status"] in (DUPLICATE, RECEIVED):
            statuses[s["submission_id"]] = s["status"]
        elif s["error_count"]:
            statuses[s["submission_id"]] = REJECTED
        else:
            valid[s["submitted_for"]].append(s)
    for commune, files in valid.items():
        files.sort(key=lambda s: (utc(s["received_at"]), s["source_key"]), reverse=True)  # newest first
        sent_back = [i for i, s in enumerate(files) if s["submission_id"] in returned]
        first_out = sent_back[0] if sent_back else len(files)
        for i, s in enumerate(files[first_out:], start=first_out):
            statuses[s["submission_id"]] = RETURNED if i in sent_back else SUPERSEDED
        candidates = files[:first_out]
        if not candidates:
            continue
        if commune in locked:
            kept = next((i for i, s in enumerate(candidates) if s["submission_id"] == locked[commune]),
                        len(candidates))
            for i, s in enumerate(candidates):
                statuses[s["submission_id"]] = HELD if i < kept else ACCEPTED if i == kept else SUPERSEDED
            continue
        statuses[candidates[0]["submission_id"]] = ACCEPTED
        for older in candidates[1:]:
            statuses[older["submission_id"]] = SUPERSEDED
    return statuses


def check_invariant(inbox_keys: Iterable[str], submissions: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Counts per state; raises LedgerError when a file vanished, was counted twice or was left unprocessed."""
    counts = Counter(s["status"] for s in submissions)
    ids = [s["submission_id"] for s in submissions]
    problems = []
    if len(set(ids)) != len(ids):
        problems.append("a submission is recorded twice")
    missing = set(inbox_keys) - {s["source_key"] for s in submissions}
    if missing:
        problems.append(f"{len(missing)} file(s) in the inbox are not in the ledger, e.g. {sorted(missing)[:3]}")
    if counts[RECEIVED]:
        problems.append(f"{counts[RECEIVED]} file(s) were recorded but never processed")
    unknown = set(counts) - {RECEIVED, *FINAL_STATES}
    if unknown:
        problems.append(f"unknown states {sorted(unknown)}")
    accepted = Counter(s["submitted_for"] for s in submissions if s["status"] == ACCEPTED)
    twice = [c for c, n in accepted.items() if n > 1]
    if twice:
        problems.append(f"communes with more than one accepted file: {twice[:5]}")
    if problems:
        raise LedgerError("; ".join(problems))
    result = {state: counts[state] for state in FINAL_STATES}
    result["received"] = len(submissions)
    return result
