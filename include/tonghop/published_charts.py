"""A unit's charts, drawn once per publication and kept in the outputs (`<period>/charts/<unit>/<kind>.png`).

Drawing a chart costs a second or two; the figures only change when a consolidation publishes a new version
(or the plan targets change). So the officers' files (tonghop.officer_files) and the status page both go
through here: a stamp beside the PNGs (`publication.json`) names the publication version and the targets
they were drawn from, and a chart is drawn again only when either has changed since. The stamp also holds each
PNG's hash: a PNG overwritten by a reader of an older publication is never served under a newer stamp.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from zoneinfo import ZoneInfo

from tonghop.charts import CHARTS, render_all
from tonghop.published import Consolidated
from tonghop.targets import Targets

STAMP = "publication.json"


def drawn_from(data: Consolidated, targets: Targets, version: int | None, tz: ZoneInfo) -> str:
    """What a unit's charts depend on: the publication version, the unit's plan target, the calendar's zone."""
    target = targets.for_unit(data.unit.code, data.period["year"])
    digest = hashlib.sha256(f"{target!r} {tz.key}".encode()).hexdigest()[:12]
    return f"{version}:{digest}"


def _folder(data: Consolidated) -> str:
    return f"{data.period['period_id']}/charts/{data.unit.code}"


def _stamp(outputs: Any, folder: str) -> dict[str, Any]:
    raw = outputs.read(f"{folder}/{STAMP}")
    try:
        stamp = json.loads(raw) if raw else {}
    except ValueError:
        stamp = {}  # a damaged stamp only costs a redraw
    return stamp if isinstance(stamp, dict) else {}


def write_charts(outputs: Any, data: Consolidated, targets: Targets, version: int | None, tz: ZoneInfo
                 ) -> list[str]:
    """Draw every chart the data allows and stamp them; returns the locations written."""
    folder = _folder(data)
    pngs = render_all(data, targets, tz)
    written = [outputs.write(f"{folder}/{kind}.png", png) for kind, png in pngs.items()]
    stamp = {"drawn_from": drawn_from(data, targets, version, tz), "kinds": {k: _sha(png) for k, png in pngs.items()}}
    outputs.write(f"{folder}/{STAMP}", json.dumps(stamp).encode())  # last: the PNGs are in place before it
    return written


def chart_png(outputs: Any, data: Consolidated, targets: Targets, version: int | None, kind: str,
              tz: ZoneInfo) -> bytes:
    """One chart of the unit's current publication: from the outputs when drawn from it, else drawn now and
    kept for the next reader."""
    folder, key = _folder(data), drawn_from(data, targets, version, tz)
    stamp = _stamp(outputs, folder)
    kinds = stamp.get("kinds") if stamp.get("drawn_from") == key else None
    kinds = kinds if isinstance(kinds, dict) else {}
    if kind in kinds:
        png = outputs.read(f"{folder}/{kind}.png")
        if png and _sha(png) == kinds[kind]:
            return png
    png = CHARTS[kind](data, targets, tz)
    outputs.write(f"{folder}/{kind}.png", png)
    # Two readers drawing different kinds at once may each keep only their own kind in the stamp: the other
    # is drawn once more, never served stale.
    stamp = {"drawn_from": key, "kinds": {**kinds, kind: _sha(png)}}
    outputs.write(f"{folder}/{STAMP}", json.dumps(stamp).encode())
    return png


def _sha(png: bytes) -> str:
    return hashlib.sha256(png).hexdigest()
