"""Charts of a published period for a province or district (PNG): poverty and near-poverty rates by sub-unit
(by urban/rural area for a province of the two-level map) with the unit's average and the plan target,
reporting completeness by sub-unit, funding disbursement by project. Drawn with matplotlib's object API (no
pyplot state: safe in workers and the web server)."""

from __future__ import annotations

import io
from collections.abc import Callable

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from tonghop.numbers import fmt
from tonghop.published import Consolidated, UnitFigures
from tonghop.targets import Targets
from tonghop.vocabulary import TOTAL

POOR, NEAR_POOR, TARGET = "#c0392b", "#e69f00", "#1f4e79"
ACCEPTED, REJECTED, MISSING = "#2e7d32", "#c62828", "#9e9e9e"


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _percent(axis, decimals: int = 1) -> None:
    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v, decimals) + "%"))


def _short(name: str) -> str:
    for prefix in ("Thành phố ", "Thị xã ", "Thị trấn ", "Huyện ", "Quận ", "Phường ", "Xã "):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _title(data: Consolidated, what: str) -> str:
    return f"{what}\n{data.unit.name} — {data.period['name']}"


def _groups(data: Consolidated) -> list[UnitFigures]:
    """What the bars are: districts, communes of a district, or a two-level province's urban and rural areas."""
    return [group for group, _ in data.groups()]


def poverty_rates_figure(data: Consolidated, targets: Targets) -> Figure:
    children = [c for c in _groups(data) if c.households.get(TOTAL)]
    names = [_short(c.name) + ("*" if c.completeness[TOTAL]["is_partial"] else "") for c in children]
    poor = [c.households[TOTAL]["poor_rate"] or 0 for c in children]
    near = [c.households[TOTAL]["near_poor_rate"] or 0 for c in children]
    figure = Figure(figsize=(max(7.0, 0.75 * len(children) + 2), 4.8))
    ax = figure.subplots()
    xs = range(len(children))
    ax.bar([x - 0.2 for x in xs], poor, width=0.4, color=POOR, label="Tỷ lệ hộ nghèo")
    ax.bar([x + 0.2 for x in xs], near, width=0.4, color=NEAR_POOR, label="Tỷ lệ hộ cận nghèo")
    unit = data.unit.households.get(TOTAL, {})
    if unit.get("poor_rate") is not None:
        ax.axhline(unit["poor_rate"], color=POOR, linestyle="--", linewidth=1,
                   label=f"Hộ nghèo toàn {_level(data)}: {fmt(unit['poor_rate'], 2)}%")
    if unit.get("near_poor_rate") is not None:
        ax.axhline(unit["near_poor_rate"], color=NEAR_POOR, linestyle="--", linewidth=1,
                   label=f"Hộ cận nghèo toàn {_level(data)}: {fmt(unit['near_poor_rate'], 2)}%")
    target = targets.for_unit(data.unit.code, data.period["year"])
    if target and target.poor_rate_max is not None:
        ax.axhline(target.poor_rate_max, color=TARGET, linestyle=":", linewidth=2,
                   label=f"Chỉ tiêu kế hoạch: hộ nghèo ≤ {fmt(target.poor_rate_max, 2)}%")
    ax.set_xticks(list(xs), names, rotation=35, ha="right")
    _percent(ax.yaxis)
    ax.set_title(_title(data, "Tỷ lệ hộ nghèo, hộ cận nghèo"))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    if any(c.completeness[TOTAL]["is_partial"] for c in children):
        ax.set_xlabel("* chưa đủ báo cáo: tỷ lệ tính trên các xã có báo cáo hợp lệ", fontsize=8, loc="left")
    return figure


def _level(data: Consolidated) -> str:
    return {"province": "tỉnh", "district": "huyện"}.get(data.unit.level, "đơn vị")


def completeness_figure(data: Consolidated, targets: Targets) -> Figure:
    children = _groups(data)
    names = [_short(c.name) for c in children]
    rows = [c.completeness[TOTAL] for c in children]
    accepted = [r["accepted"] for r in rows]
    rejected = [r["rejected"] for r in rows]
    missing = [r["missing"] for r in rows]
    figure = Figure(figsize=(max(7.0, 0.75 * len(children) + 2), 4.8))
    ax = figure.subplots()
    xs = list(range(len(children)))
    ax.bar(xs, accepted, color=ACCEPTED, label="Hợp lệ")
    ax.bar(xs, rejected, bottom=accepted, color=REJECTED, label="Bị từ chối")
    ax.bar(xs, missing, bottom=[a + r for a, r in zip(accepted, rejected, strict=True)], color=MISSING,
           label="Chưa gửi")
    by_area = any(c.level != "commune" for c in children)  # communes are 0 or 1: their rates say nothing more
    for x, r in zip(xs, rows, strict=True) if by_area else ():
        ax.annotate(f"{fmt(r['reporting_rate'] or 0, 0)}%\n({fmt(r['on_time_rate'] or 0, 0)}% đúng hạn)",
                    (x, r["expected"]), ha="center", va="bottom", fontsize=7, xytext=(0, 2),
                    textcoords="offset points")
    ax.set_xticks(xs, names, rotation=35, ha="right")
    ax.set_ylabel("Số xã")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max([r["expected"] for r in rows], default=1) * 1.25)
    total = data.unit.completeness[TOTAL]
    ax.set_title(_title(data, f"Tình hình báo cáo: {fmt(total['received'])}/{fmt(total['expected'])} xã đã gửi, "
                              f"{fmt(total['on_time'])} đúng hạn"))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return figure


def disbursement_figure(data: Consolidated, targets: Targets) -> Figure:
    rows = [r for r in data.funding if r["component"] != "total"]
    total = next((r for r in data.funding if r["component"] == "total"), None)
    names = [f"{r.get('number', '')} {_short(r.get('label', r['component'])).split(':')[0]}" for r in rows]
    rates = [r["disbursement_rate"] or 0 for r in rows]
    figure = Figure(figsize=(8.0, 0.4 * len(rows) + 2))
    ax = figure.subplots()
    ys = list(range(len(rows)))
    bars = ax.barh(ys, rates, color=TARGET)
    for bar, r in zip(bars, rows, strict=True):
        disbursed = r["disb_central"] + r["disb_local"] + r["disb_mobilised"]
        ax.annotate(f"{fmt(bar.get_width(), 1)}% ({fmt(disbursed, 0)} tr.đ)", (bar.get_width(), bar.get_y() + 0.4),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    if total and total["disbursement_rate"] is not None:
        ax.axvline(total["disbursement_rate"], color=POOR, linestyle="--", linewidth=1,
                   label=f"Chung: {fmt(total['disbursement_rate'], 2)}%")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_yticks(ys, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max([*rates, 100]) * 1.2)
    _percent(ax.xaxis, 0)
    ax.set_title(_title(data, "Tỷ lệ giải ngân kinh phí theo dự án"))
    ax.grid(axis="x", alpha=0.3)
    return figure


FIGURES: dict[str, Callable[[Consolidated, Targets], Figure]] = {
    "poverty_rates": poverty_rates_figure,
    "completeness": completeness_figure,
    "disbursement": disbursement_figure,
}


def _renderer(build: Callable[[Consolidated, Targets], Figure]) -> Callable[[Consolidated, Targets], bytes]:
    return lambda data, targets: _png(build(data, targets))


# kind → (data, targets) → PNG bytes; FIGURES gives the same charts before they are rendered.
CHARTS: dict[str, Callable[[Consolidated, Targets], bytes]] = {kind: _renderer(f) for kind, f in FIGURES.items()}
CHART_TITLES = {"poverty_rates": "Tỷ lệ hộ nghèo, cận nghèo", "completeness": "Tình hình báo cáo",
                "disbursement": "Giải ngân kinh phí"}


def render_all(data: Consolidated, targets: Targets) -> dict[str, bytes]:
    """Every chart kind the data allows (funding needs accepted reports) as PNG bytes."""
    out = {}
    for kind, draw in CHARTS.items():
        if kind != "completeness" and not data.unit.households.get(TOTAL):
            continue  # nothing accepted yet: only the completeness chart has something to show
        out[kind] = draw(data, targets)
    return out
