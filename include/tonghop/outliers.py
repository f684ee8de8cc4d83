"""Statistical outliers for the officer's review: a commune's poverty rate or households far from its peers.

No rule catches a commune that typed 1,000 households where its neighbours have 10,000, or a poverty rate of
40 % among communes at 5 %: each value is possible. Peers are the communes consolidated by the same unit (the
district on the three-level map, the province on the two-level map); far is the modified z-score of Iglewicz
and Hoaglin, 0.6745 × (value − median) / MAD, beyond the bounds of the suite expectations/review/outliers.json
(validated with Great Expectations, like every other check). When more than half the peers share one value
(MAD = 0) the mean absolute deviation stands in (× 1.2533, its ratio to σ); a unit with fewer than MIN_PEERS
accepted reports has no outliers. The commune's own previous report is compared by the validation batch
(TH-X-001, TH-X-002): those warnings are shown beside these.

Computed at consolidation, over the period's reports that count, because peers only exist for the whole
period; stored in `review_finding`, replaced by each consolidation. They change no report's status.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tonghop.findings import Check, render
from tonghop.hierarchy import Hierarchy
from tonghop.numbers import fmt
from tonghop.validate import Suite, run_suites

MIN_PEERS = 5
CONSISTENCY = 0.6745  # Φ⁻¹(0.75): makes the MAD comparable to σ for normal data
MEAN_AD_FACTOR = 1.253314  # √(π/2): the mean absolute deviation's ratio to σ for normal data
FIGURES = ("poor_rate", "total_households")


@functools.cache
def load_review_suite(expectations_dir: Path) -> Suite:
    doc = json.loads((Path(expectations_dir) / "review" / "outliers.json").read_text(encoding="utf-8"))
    return Suite(doc["name"], doc["meta"]["frame"], doc)


def modified_z(values: pd.Series, groups: pd.Series, min_peers: int = MIN_PEERS) -> pd.Series:
    """Each value's modified z-score within its group (NaN where it cannot be told: too few peers, no spread)."""
    median = values.groupby(groups).transform("median")
    deviation = (values - median).abs()
    mad = deviation.groupby(groups).transform("median")
    mean_ad = deviation.groupby(groups).transform("mean")
    count = values.groupby(groups).transform("count")
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(mad > 0, CONSISTENCY * (values - median) / mad,
                     np.where(mean_ad > 0, (values - median) / (MEAN_AD_FACTOR * mean_ad), np.nan))
    z = pd.Series(z, index=values.index, dtype="float64")
    return z.where(count >= min_peers)


def peers_frame(hierarchy: Hierarchy, winners: Mapping[str, Mapping[str, Any]],
                reports: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    rows = []
    for commune, sub in winners.items():
        if commune not in hierarchy:
            continue
        values = reports.get(sub["submission_id"], {})
        total, poor = values.get("total_households"), values.get("poor_end")
        rows.append({"submission_id": sub["submission_id"], "commune_code": commune,
                     "peer_unit": hierarchy[commune].parent_code or "",
                     "total_households": float(total) if total is not None else np.nan,
                     "poor_rate": float(poor) * 100 / float(total) if total and poor is not None else np.nan})
    frame = pd.DataFrame(rows, columns=["submission_id", "commune_code", "peer_unit", *FIGURES])
    for figure in FIGURES:
        frame[f"{figure}_median"] = frame.groupby("peer_unit")[figure].transform("median")
        frame[f"{figure}_z"] = modified_z(frame[figure], frame["peer_unit"])
    frame["peers"] = frame.groupby("peer_unit")["submission_id"].transform("count")
    return frame


def outlier_findings(hierarchy: Hierarchy, catalogue: Mapping[str, Check], expectations_dir: Path, period_id: str,
                     winners: Mapping[str, Mapping[str, Any]], reports: Mapping[str, Mapping[str, Any]]
                     ) -> list[dict[str, Any]]:
    """review_finding rows for the period's reports that count."""
    frame = peers_frame(hierarchy, winners, reports)
    if frame.empty or frame[[f"{f}_z" for f in FIGURES]].isna().all().all():
        return []
    suite = load_review_suite(expectations_dir)
    runs = run_suites([suite], {suite.frame: frame}, {suite.frame: ["submission_id"]})
    by_id = frame.set_index("submission_id")
    out = []
    for _, expectation, failing in runs.failures:
        meta = expectation["meta"]
        figure, check = meta["field"], catalogue[meta["check_id"]]
        decimals = 2 if figure == "poor_rate" else 0
        for row in failing:
            r = by_id.loc[row["submission_id"]]
            peer = r["peer_unit"]
            context = {"value": fmt(round(r[figure], decimals), decimals),
                       "expected": fmt(round(r[f"{figure}_median"], decimals), decimals),
                       "score": fmt(round(r[f"{figure}_z"], 1), 1), "peers": int(r["peers"]),
                       "peer_name": hierarchy[peer].name if peer in hierarchy else peer}
            out.append({"period_id": period_id, "submission_id": row["submission_id"], "check_id": check.id,
                        "commune_code": r["commune_code"], "peer_unit": peer, "field_key": figure,
                        "label": meta["label"], "value": context["value"], "expected": context["expected"],
                        "score": float(r[f"{figure}_z"]), "message": render(check.message, context)})
    return out
