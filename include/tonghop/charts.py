"""Charts of a published period for a province or district (PNG): poverty and near-poverty rates by sub-unit
(by urban/rural area for a province of the two-level map) with the unit's average and the plan target;
reporting completeness (a province: accepted / rejected / missing communes by sub-unit; a district: the
reporting curve, day by day up to the deadline and after); funding disbursement by project with the rate of all
projects. Drawn with matplotlib's object API (no pyplot state: safe in workers and the web server).

An official reads these at a glance, often printed: every label is placed where no line crosses it and no other
label covers it, the axes are sized to the data plus the room their labels need, and legends sit outside the
plot area."""

from __future__ import annotations

import datetime as dt
import io
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from matplotlib import dates as mdates
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import blended_transform_factory

from tonghop.numbers import fmt
from tonghop.published import Consolidated, UnitFigures
from tonghop.targets import Targets
from tonghop.vocabulary import NOT_RECEIVED, TOTAL, local_date, utc

POOR, NEAR_POOR, TARGET = "#c0392b", "#e69f00", "#1f2d3d"
ACCEPTED, REJECTED, MISSING = "#2e7d32", "#c62828", "#9e9e9e"
ON_TIME, LATE, CUMULATIVE, DEADLINE, EXPECTED = "#2e7d32", "#ef6c00", "#1f4e79", "#c62828", "#616161"
PROJECT, ALL_PROJECTS = "#6f9fcf", "#1f4e79"
# The calendar's zone when the caller does not pass one (config/calendar.yaml ships with it).
DEFAULT_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

FONT = 8  # the smallest text on a chart: still legible on an A4 print-out
LABEL_WIDTH, LABEL_LINES = 40, 2  # project names on the disbursement chart
NBSP = "\u00a0"
# A white rim under the average lines: dashed in the bars' own colours, they would vanish where they cross them.
HALO = [patheffects.Stroke(linewidth=3.2, foreground="white"), patheffects.Normal()]
# Labels inside the plot area hide the faint grid behind them instead of being struck through by it.
MASK = {"boxstyle": "square,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.9}


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _figure(width: float, height: float) -> Figure:
    # Constrained layout keeps tick labels, outside labels and the legend inside the image; the Agg canvas
    # gives the renderer the placement below measures texts with.
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _percent(axis, decimals: int = 1) -> None:
    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v, decimals) + "%"))


# "Huyện" and "Xã" are what most units are, so they go; any other type keeps a short prefix, since the same
# name is often both a city and its province ("TP. Bến Tre" of Tỉnh Bến Tre) or a township and its district.
PREFIXES = (("Thành phố ", "TP. "), ("Thị xã ", "TX. "), ("Thị trấn ", "TT. "), ("Quận ", "Q. "),
            ("Phường ", "P. "), ("Huyện ", ""), ("Xã ", ""))


def _short(name: str) -> str:
    for prefix, short in PREFIXES:
        if name.startswith(prefix):
            return short + name[len(prefix):]
    return name


def _title(data: Consolidated, what: str) -> str:
    return f"{what}\n{data.unit.name} — {data.period['name']}"


def _level(data: Consolidated) -> str:
    """The unit's kind as its name says it ("toàn thành phố" for a city, not "toàn huyện")."""
    for kind in ("Thành phố", "Thị xã", "Quận", "Huyện", "Tỉnh"):
        if data.unit.name.startswith(kind + " "):
            return kind.lower()
    return {"province": "tỉnh", "district": "huyện"}.get(data.unit.level, "đơn vị")


def _groups(data: Consolidated) -> list[UnitFigures]:
    """What the bars are: districts, communes of a district, or a two-level province's urban and rural areas."""
    return [group for group, _ in data.groups()]


def _renderer(figure: Figure):
    figure.draw_without_rendering()  # places everything (constrained layout included) before measuring
    return figure.canvas.get_renderer()


def _fit_texts(figure: Figure, ax: Axes, texts: Sequence[Annotation], axis: str, margin: float = 0.02) -> None:
    """Raise the axis's upper limit until every annotation (anchored at a data point, offset in points) ends
    inside the axes. The annotation's size is fixed in points while a data unit shrinks as the limit grows, so
    the limit each one needs is solved for directly; another round absorbs the layout's small change."""
    index = 0 if axis == "x" else 1
    get, set_ = (ax.get_xlim, ax.set_xlim) if axis == "x" else (ax.get_ylim, ax.set_ylim)
    for _ in range(3):
        renderer = _renderer(figure)
        box = ax.get_window_extent(renderer)
        size = box.width if axis == "x" else box.height
        lo, hi = get()
        need = hi
        for text in texts:
            anchor = ax.transData.transform(text.xy)[index]
            extent = text.get_window_extent(renderer)
            reach = (extent.x1 if axis == "x" else extent.y1) - anchor  # offset plus size, in pixels
            room = size * (1 - margin) - reach
            if room > 0:
                need = max(need, lo + (text.xy[index] - lo) * size / room)
        if need <= hi * (1 + 1e-6):
            return
        set_(lo, need)


def _xticks(figure: Figure, ax: Axes, xs: Sequence[float], names: Sequence[str]) -> None:
    """Tick labels level when they fit side by side, turned 35° when two would touch."""
    ax.set_xticks(list(xs), list(names))
    renderer = _renderer(figure)
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
    gap = FONT * figure.dpi / 72  # a letter's width between neighbours, or they read as one name
    if any(a.x1 + gap > b.x0 for a, b in pairwise(boxes)):
        ax.set_xticks(list(xs), list(names), rotation=35, ha="right", rotation_mode="anchor")


def _label_right_end(ax: Axes, labelled: Sequence[tuple[float, str, str]]) -> list[Annotation]:
    """Label horizontal lines (y, text, colour) just right of the axes, at the line's height (see _unstack)."""
    where = blended_transform_factory(ax.transAxes, ax.transData)
    return [ax.annotate(text, (1, y), xycoords=where, xytext=(4, 0), textcoords="offset points", ha="left",
                        va="center", fontsize=FONT, color=colour, annotation_clip=False)
            for y, text, colour in labelled]


def _unstack(figure: Figure, ax: Axes, texts: Sequence[Annotation]) -> None:
    """Move apart the right-end labels that would touch, in their lines' order, as little as possible: up from
    the lowest, then down from the axes' top if that pushed the highest above it. Call once the layout is
    otherwise final: the offsets are in points from the lines."""
    order = sorted(texts, key=lambda t: t.xy[1])
    for _ in range(2):  # the layout moves once the labels are in it: place them again on the final one
        renderer = _renderer(figure)
        wanted = {t: ax.transData.transform((0, t.xy[1]))[1] for t in order}
        half = {t: t.get_window_extent(renderer).height / 2 + 1 for t in order}
        placed = dict(wanted)
        for below, above in pairwise(order):
            placed[above] = max(placed[above], placed[below] + half[below] + half[above])
        if order:
            placed[order[-1]] = min(placed[order[-1]], ax.get_window_extent(renderer).y1)
        for above, below in pairwise(order[::-1]):
            placed[below] = min(placed[below], placed[above] - half[above] - half[below])
        for t in order:
            t.xyann = (4, (placed[t] - wanted[t]) * 72 / figure.dpi)


def _legend(figure: Figure, ax: Axes, ncols: int) -> None:
    # Below the plot, outside it: it never covers a bar, and its width is the figure's.
    handles, labels = ax.get_legend_handles_labels()
    # The bars first: they are what the chart is about, the lines are read against them.
    pairs = sorted(zip(handles, labels, strict=True), key=lambda pair: not isinstance(pair[0], BarContainer))
    handles, labels = [h for h, _ in pairs], [label for _, label in pairs]
    figure.legend(handles, labels, loc="outside lower center", ncols=min(ncols, len(labels)) or 1, fontsize=FONT,
                  frameon=False)


# --- poverty rates -----------------------------------------------------------------------------------------

def poverty_rates_figure(data: Consolidated, targets: Targets, tz: ZoneInfo = DEFAULT_TZ) -> Figure:
    children = [c for c in _groups(data) if c.households.get(TOTAL)]
    partial = [bool(c.completeness[TOTAL]["is_partial"]) for c in children]
    names = [_short(c.name) + ("*" if p else "") for c, p in zip(children, partial, strict=True)]
    poor = [c.households[TOTAL]["poor_rate"] or 0 for c in children]
    near = [c.households[TOTAL]["near_poor_rate"] or 0 for c in children]
    figure = _figure(min(20.0, max(7.5, 0.8 * len(children) + 4.5)), 5.6)
    ax = figure.subplots()
    xs = list(range(len(children)))
    ax.bar([x - 0.2 for x in xs], poor, width=0.4, color=POOR, label="Tỷ lệ hộ nghèo")
    ax.bar([x + 0.2 for x in xs], near, width=0.4, color=NEAR_POOR, label="Tỷ lệ hộ cận nghèo")
    level, unit = _level(data), data.unit.households.get(TOTAL, {})
    # The plan target is the line the unit is judged by: solid, thick and dark. The unit's own averages are
    # thinner and dashed, in the colour of the bars they average, so the three never read as one another.
    labelled: list[tuple[float, str, str]] = []
    if unit.get("poor_rate") is not None:
        value = unit["poor_rate"]
        ax.axhline(value, color=POOR, linestyle="--", linewidth=1.4, path_effects=HALO, gid="poor_average",
                   label=f"Hộ nghèo toàn {level}: {fmt(value, 2)}%")
        labelled.append((value, f"Nghèo toàn {level} {fmt(value, 2)}%", POOR))
    if unit.get("near_poor_rate") is not None:
        value = unit["near_poor_rate"]
        ax.axhline(value, color=NEAR_POOR, linestyle="--", linewidth=1.4, path_effects=HALO,
                   gid="near_poor_average", label=f"Hộ cận nghèo toàn {level}: {fmt(value, 2)}%")
        labelled.append((value, f"Cận nghèo toàn {level} {fmt(value, 2)}%", NEAR_POOR))
    target = targets.for_unit(data.unit.code, data.period["year"])
    if target and target.poor_rate_max is not None:
        value = target.poor_rate_max
        ax.axhline(value, color=TARGET, linestyle="-", linewidth=2.6, gid="target",
                   label=f"Chỉ tiêu kế hoạch: hộ nghèo ≤ {fmt(value, 2)}%")
        labelled.append((value, f"Chỉ tiêu ≤ {fmt(value, 2)}%", TARGET))
    top = max([*poor, *near, *(y for y, _, _ in labelled)], default=0)
    ax.set_ylim(0, top * 1.12 if top > 0 else 1)
    ax.set_xlim(-0.6, len(children) - 0.4)
    _percent(ax.yaxis)
    ax.set_ylabel("Tỷ lệ (%)")
    ax.set_title(_title(data, "Tỷ lệ hộ nghèo, hộ cận nghèo"))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if any(partial):
        ax.set_xlabel("* chưa đủ báo cáo: tỷ lệ tính trên các xã có báo cáo hợp lệ", fontsize=FONT, loc="left")
    _legend(figure, ax, ncols=3)
    right_labels = _label_right_end(ax, labelled)  # before the ticks: they take width from the plot
    _xticks(figure, ax, xs, names)
    _unstack(figure, ax, right_labels)
    return figure


# --- reporting completeness ----------------------------------------------------------------------------------

def completeness_figure(data: Consolidated, targets: Targets, tz: ZoneInfo = DEFAULT_TZ) -> Figure:
    children = _groups(data)
    # A bar per commune is one block of height 1 and says nothing: a district's communes are shown by when
    # they reported instead.
    if all(c.level == "commune" for c in children):
        return reporting_curve_figure(data, tz)
    names = [_short(c.name) for c in children]
    rows = [c.completeness[TOTAL] for c in children]
    accepted = [r["accepted"] for r in rows]
    rejected = [r["rejected"] for r in rows]
    missing = [r["missing"] for r in rows]
    figure = _figure(min(20.0, max(7.5, 1.1 * len(children) + 2.0)), 5.6)
    ax = figure.subplots()
    xs = list(range(len(children)))
    ax.bar(xs, accepted, color=ACCEPTED, label="Hợp lệ")
    ax.bar(xs, rejected, bottom=accepted, color=REJECTED, label="Bị từ chối")
    ax.bar(xs, missing, bottom=[a + r for a, r in zip(accepted, rejected, strict=True)], color=MISSING,
           label="Chưa gửi")
    notes = [ax.annotate(f"Đã gửi {fmt(r['reporting_rate'] or 0, 0)}%\nĐúng hạn {fmt(r['on_time_rate'] or 0, 0)}%",
                         (x, r["expected"]), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                         fontsize=FONT, bbox=MASK)
             for x, r in zip(xs, rows, strict=True)]
    ax.set_ylabel("Số xã")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(-0.6, len(children) - 0.4)
    ax.set_ylim(0, max([r["expected"] for r in rows], default=0) * 1.05 or 1)
    ax.set_title(_title(data, _completeness_words(data)))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    _legend(figure, ax, ncols=3)
    _xticks(figure, ax, xs, names)
    _fit_texts(figure, ax, notes, "y")
    return figure


def _completeness_words(data: Consolidated) -> str:
    total = data.unit.completeness[TOTAL]
    received, on_time = total["received"], total["on_time"]
    return (f"Tình hình báo cáo: {fmt(received)}/{fmt(total['expected'])} xã đã gửi — "
            f"{fmt(on_time)} đúng hạn, {fmt(received - on_time)} gửi muộn, {fmt(total['missing'])} chưa gửi")


def _day(day: dt.date) -> float:
    return float(mdates.date2num(dt.datetime.combine(day, dt.time())))


def reporting_curve_figure(data: Consolidated, tz: ZoneInfo = DEFAULT_TZ) -> Figure:
    """Communes' reports per local day up to the last one (on time / late), the running count of communes that
    sent, the deadline and the number expected. A commune is counted once, on the day of the file that counts
    (its accepted file, else its latest); on time or late as in the published figures, where a commune that sent
    any file by the deadline is on time."""
    deadline = utc(data.period["commune_deadline"]).astimezone(tz)
    sent = [c for c in data.communes if c.status != NOT_RECEIVED and c.received_at is not None]
    day_of = {c.code: utc(c.received_at).astimezone(tz).date() for c in sent}
    first, last = min(day_of.values(), default=deadline.date()), max(day_of.values(), default=deadline.date())
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    on_time = Counter(day_of[c.code] for c in sent if c.on_time)
    late = Counter(day_of[c.code] for c in sent if not c.on_time)
    expected = data.unit.completeness[TOTAL]["expected"]

    figure = _figure(min(12.0, max(7.5, 0.25 * len(days) + 4.0)), 5.4)
    ax = figure.subplots()
    starts = [_day(d) for d in days]
    # Each bar fills its own day (midnight to midnight, local time), so the deadline — the end of its day —
    # falls between the last on-time day and the first late one.
    ax.bar([s + 0.1 for s in starts], [on_time[d] for d in days], width=0.8, align="edge", color=ON_TIME,
           label="Số xã gửi trong ngày: đúng hạn")
    ax.bar([s + 0.1 for s in starts], [late[d] for d in days], width=0.8, align="edge", color=LATE,
           bottom=[on_time[d] for d in days], label="Số xã gửi trong ngày: gửi muộn")
    running, total = [], 0
    for d in days:
        total += on_time[d] + late[d]
        running.append(total)
    # Steps at midnight: over each day the line stands at the communes that had sent by that day's end.
    ax.step([starts[0], *(s + 1 for s in starts)], [0, *running], where="pre", color=CUMULATIVE, linewidth=2,
            gid="cumulative", label="Lũy kế số xã đã gửi")
    end_of_deadline_day = float(mdates.date2num(deadline.replace(tzinfo=None)))
    ax.axvline(end_of_deadline_day, color=DEADLINE, linestyle="--", linewidth=1.4, gid="deadline",
               label=f"Hạn gửi: hết ngày {local_date(deadline.date())}")
    ax.axhline(expected, color=EXPECTED, linestyle=":", linewidth=1.6, gid="expected",
               label=f"Số xã phải báo cáo: {fmt(expected)}")

    # At least ten days shown, so a short burst of receipts is not one wide bar and the labels have room.
    left, right = min(starts[0], end_of_deadline_day - 1), max(starts[-1] + 1, end_of_deadline_day)
    left = min(left, right - 10)
    ax.set_xlim(left - 0.5, right + 0.5)
    ax.set_ylim(0, max(expected, total, 1) * 1.08)
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=4, maxticks=12))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Ngày nhận báo cáo")
    ax.set_ylabel("Số xã")
    ax.set_title(_title(data, _completeness_words(data)))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    _legend(figure, ax, ncols=3)
    # The deadline's label sits above the expected line (nothing else reaches there), on the side of the
    # deadline line with more room.
    middle = sum(ax.get_xlim()) / 2
    side = -1 if end_of_deadline_day > middle else 1
    deadline_note = ax.annotate(f"Hạn gửi {local_date(deadline.date())}", (end_of_deadline_day, expected),
                                xytext=(4 * side, 4), textcoords="offset points", ha="left" if side > 0 else "right",
                                va="bottom", fontsize=FONT, color=DEADLINE, bbox=MASK)
    _label_right_end(ax, [(expected, f"Phải báo cáo: {fmt(expected)} xã", EXPECTED)])
    _fit_texts(figure, ax, [deadline_note], "y")
    return figure


# --- disbursement ------------------------------------------------------------------------------------------

def _project_label(row: dict[str, Any]) -> str:
    """The project as the funding sheet names it ("Dự án 1. Hỗ trợ đầu tư …"), on at most two lines."""
    label = row.get("label") or ""
    head, colon, name = label.partition(":")
    if not colon:
        head, name = (f"{row['number']}" if row.get("number") else ""), label or row["component"]
    # The head ("Dự án 3, Tiểu dự án 1") is one unit: its words are held together while wrapping, so a line
    # never ends in "Tiểu dự án" with the number on the next.
    text = f"{head.strip().replace(' ', NBSP)}. {name.strip()}" if head.strip() else name.strip()
    return "\n".join(line.replace(NBSP, " ") for line in _wrap(text))


def _wrap(text: str) -> list[str]:
    """At most LABEL_LINES lines of about LABEL_WIDTH characters, as even as the words allow (a lone last word
    reads as a label of its own); a longer text is cut at a word and ends with an ellipsis."""
    def wrap(width: int) -> list[str]:
        return textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)

    lines = wrap(LABEL_WIDTH)
    if len(lines) > LABEL_LINES:
        rest = textwrap.wrap(" ".join(lines[LABEL_LINES - 1:]), width=LABEL_WIDTH - 1, break_long_words=False)[0]
        return [*lines[:LABEL_LINES - 1], rest.rstrip(",;:.-– ") + "…"]
    for width in range(-(-len(text) // len(lines)), LABEL_WIDTH):
        even = wrap(width)
        if len(even) == len(lines):
            return even
    return lines


def _disbursed(row: dict[str, Any]) -> Any:
    return (row["disb_central"] or 0) + (row["disb_local"] or 0) + (row["disb_mobilised"] or 0)


def _rate_note(row: dict[str, Any]) -> str:
    if row["disbursement_rate"] is None:
        return "không có kinh phí"
    return f"{fmt(row['disbursement_rate'], 1)}% ({fmt(_disbursed(row), 0)} tr.đ)"


def disbursement_figure(data: Consolidated, targets: Targets, tz: ZoneInfo = DEFAULT_TZ) -> Figure:
    rows = [r for r in data.funding if r["component"] != "total"]
    total = next((r for r in data.funding if r["component"] == "total"), None)
    names = [_project_label(r) for r in rows]
    rates = [r["disbursement_rate"] or 0 for r in rows]
    lines = max([n.count("\n") + 1 for n in names], default=1)
    # The overall rate is one more bar, set apart below the projects: a line across the bars would strike
    # through their labels.
    ys = [float(y) for y in range(len(rows))]
    if total is not None:
        names.append("Tất cả dự án")
        ys.append(len(rows) + 0.4)
    slot = 0.17 * lines + 0.2  # inches per bar: the tallest label plus a gap
    figure = _figure(10.0, 1.6 + slot * (len(ys) + 0.4))
    ax = figure.subplots()
    bars = list(ax.barh(ys[:len(rows)], rates, height=0.7, color=PROJECT, label="Từng dự án, tiểu dự án"))
    notes = list(rows)
    if total is not None:
        bars += ax.barh([ys[-1]], [total["disbursement_rate"] or 0], height=0.7, color=ALL_PROJECTS, gid="overall",
                        label="Tất cả dự án")
        notes.append(total)
    texts = [ax.annotate(_rate_note(r), (bar.get_width(), bar.get_y() + bar.get_height() / 2), xytext=(3, 0),
                         textcoords="offset points", va="center", fontsize=FONT,
                         fontweight="bold" if r is total else "normal")
             for bar, r in zip(bars, notes, strict=True)]
    ax.set_yticks(ys, names, fontsize=FONT)
    if total is not None:
        ax.get_yticklabels()[-1].set_fontweight("bold")
    ax.set_ylim(ys[-1] + 0.6 if ys else 0.6, -0.6)  # first project on top
    widest = max([*rates, (total or {}).get("disbursement_rate") or 0])
    ax.set_xlim(0, widest * 1.02 if widest > 0 else 10)
    _percent(ax.xaxis, 0)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax.set_xlabel("Tỷ lệ giải ngân so với kinh phí được giao và chuyển sang (%)", fontsize=FONT)
    ax.set_title(_title(data, "Tỷ lệ giải ngân kinh phí theo dự án"))
    _fit_texts(figure, ax, texts, "x")
    return figure


# kind → (data, targets, tz=DEFAULT_TZ) → Figure. Every kind takes the time zone, so callers call them alike;
# only the reporting curve (a district's completeness) uses it.
FIGURES: dict[str, Callable[..., Figure]] = {
    "poverty_rates": poverty_rates_figure,
    "completeness": completeness_figure,
    "disbursement": disbursement_figure,
}


def _renderer_of(build: Callable[..., Figure]) -> Callable[..., bytes]:
    return lambda data, targets, tz=DEFAULT_TZ: _png(build(data, targets, tz))


# kind → (data, targets[, tz]) → PNG bytes; FIGURES gives the same charts before they are rendered. `tz` is the
# calendar's time zone (the reporting curve's days are local days); it defaults to Vietnam's.
CHARTS: dict[str, Callable[..., bytes]] = {kind: _renderer_of(f) for kind, f in FIGURES.items()}
CHART_TITLES = {"poverty_rates": "Tỷ lệ hộ nghèo, cận nghèo", "completeness": "Tình hình báo cáo",
                "disbursement": "Giải ngân kinh phí"}


def render_all(data: Consolidated, targets: Targets, tz: ZoneInfo = DEFAULT_TZ) -> dict[str, bytes]:
    """Every chart kind the data allows (funding needs accepted reports) as PNG bytes."""
    out = {}
    for kind, draw in CHARTS.items():
        if kind != "completeness" and not data.unit.households.get(TOTAL):
            continue  # nothing accepted yet: only the completeness chart has something to show
        out[kind] = draw(data, targets, tz)
    return out
