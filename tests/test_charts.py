"""The officers' charts (tonghop.charts) as matplotlib figures, before rendering: the plotted series compared with
expectations computed from the generator's manifest (tests/expected.py) and the template spec, and the layout
measured on the drawn figure (no line through a label, no label over another, nothing outside the image)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import Counter
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from matplotlib import cbook
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.path import Path as MplPath
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from tests import expected as exp
from tests.conftest import DISTRICT, OFFICER_DISTRICTS, OFFICER_TARGETS, PERIOD, PROVINCE

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
KINDS = ("poverty_rates", "completeness", "disbursement")
# How a unit's name is shortened on an axis (the officers' convention): the two commonest types lose their
# word, every other type keeps a short prefix.
SHORT_PREFIXES = {"Thành phố ": "TP. ", "Thị xã ": "TX. ", "Quận ": "Q. ", "Thị trấn ": "TT. ", "Phường ": "P. ",
                  "Huyện ": "", "Xã ": ""}
slow = pytest.mark.slow  # the officer sample runs a whole period (tests/conftest.py tiers by module name)


def _short(name: str) -> str:
    return next((short + name[len(long):] for long, short in SHORT_PREFIXES.items() if name.startswith(long)), name)


def _vn(value: float, decimals: int) -> str:
    """A number as Vietnamese officials write it (no thousands here: rates and small counts)."""
    return f"{value:.{decimals}f}".replace(".", ",")


@pytest.fixture(scope="module")
def published(officer_sample):
    """({PROVINCE: its Consolidated, DISTRICT: its Consolidated}, the plan targets, the manifest)."""
    from tonghop.published import load
    from tonghop.targets import load_targets
    from tonghop.warehouse import Warehouse

    settings, manifest = officer_sample
    with Warehouse(settings.warehouse) as warehouse:
        province, district = load(warehouse, PERIOD, PROVINCE), load(warehouse, PERIOD, DISTRICT)
    return {PROVINCE: province, DISTRICT: district}, load_targets(settings.targets_path), manifest


def _figure(published, unit: str, kind: str):
    from tonghop.charts import FIGURES

    data, targets, _ = published
    return FIGURES[kind](data[unit], targets)


def _renderer(figure):
    if not hasattr(figure.canvas, "get_renderer"):  # a bare Figure: measure with Agg, as it is saved
        FigureCanvasAgg(figure)
    figure.draw_without_rendering()
    return figure.canvas.get_renderer()


def _texts(figure) -> list[Text]:
    """Every text drawn on the figure (titles, tick labels, annotations, legend entries)."""
    _renderer(figure)
    spare = set()
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            drawn, every = _drawn_ticks(axis), axis.get_major_ticks() + axis.get_minor_ticks()
            spare |= {id(label) for tick in every if tick not in drawn for label in (tick.label1, tick.label2)}
    return [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in spare]


def _drawn_ticks(axis) -> list:
    """The ticks matplotlib draws: those of the current locations inside the view (it keeps spare ones)."""
    lo, hi = sorted(axis.get_view_interval())
    slack = (hi - lo) * 1e-9
    major = axis.get_major_ticks(len(axis.get_majorticklocs()))
    minor = axis.get_minor_ticks(len(axis.get_minorticklocs()))
    return [tick for tick in major + minor if lo - slack <= tick.get_loc() <= hi + slack]


def _crossings(figure) -> list[tuple[str, str]]:
    """(line, text) pairs where a plotted line passes through a text's box, in display coordinates."""
    renderer = _renderer(figure)
    texts = [(t.get_text(), t.get_window_extent(renderer)) for t in _texts(figure)]
    found = []
    for ax in figure.axes:
        for line in ax.lines:
            # The vertices as drawn: a step line's corners included.
            x, y = cbook.STEP_LOOKUP_MAP[line.get_drawstyle()](*(np.asarray(v, float) for v in line.get_data()))
            path = MplPath(line.get_transform().transform(np.column_stack([x, y])))
            plot = ax.get_window_extent(renderer)
            for text, box in texts:
                # A line drawn inside the axes only can hit only the part of a text inside them.
                reach = Bbox.intersection(box, plot) if line.get_clip_on() else box
                if reach is not None and path.intersects_bbox(reach, filled=False):
                    found.append((line.get_gid() or line.get_label(), text))
    return found


def _outline(text: Text, renderer) -> MplPath:
    """The text's own rectangle in display coordinates: for a turned label, the rotated rectangle inside its
    upright window extent (two turned neighbours' extents overlap though their letters never meet)."""
    box = text.get_window_extent(renderer)
    angle = np.radians(text.get_rotation() % 90)
    corners = [(box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1)]
    if angle:
        cos, sin = np.cos(angle), np.sin(angle)
        # The extent is (w cos + h sin) × (w sin + h cos): solve for the text's width w and height h.
        w = (box.width * cos - box.height * sin) / (cos * cos - sin * sin)
        h = (box.height * cos - box.width * sin) / (cos * cos - sin * sin)
        bottom = np.array([box.x0 + h * sin, box.y0])
        along, up = np.array([w * cos, w * sin]), np.array([-h * sin, h * cos])
        corners = [bottom, bottom + along, bottom + along + up, bottom + up]
    return MplPath([*corners, corners[0]], closed=True)


def _overlaps(figure) -> list[tuple[str, str]]:
    renderer = _renderer(figure)
    shapes = [(t.get_text(), _outline(t, renderer)) for t in _texts(figure)]
    return [(a, b) for (a, shape_a), (b, shape_b) in itertools.combinations(shapes, 2)
            if shape_a.intersects_path(shape_b, filled=True)]


# --- what each chart plots --------------------------------------------------------------------------------

@slow
def test_poverty_chart_plots_each_districts_rates_the_averages_and_the_target_apart(published, hierarchy, period):
    _, _, manifest = published
    figure = _figure(published, PROVINCE, "poverty_rates")
    ax = figure.axes[0]
    shown = [d for d in hierarchy.children[PROVINCE] if d in OFFICER_DISTRICTS]  # the others sent nothing
    sums = {d: exp.expected_sums(manifest, d, "district") for d in shown}
    poor = [sums[d]["poor_end"] * 100 / sums[d]["total_households"] for d in shown]
    near = [sums[d]["near_poor_end"] * 100 / sums[d]["total_households"] for d in shown]
    assert [float(b.get_height()) for b in ax.patches] == pytest.approx(poor + near, abs=1e-4)
    partial = {d: (c := exp.expected_completeness(manifest, d, "district", period.commune_deadline))["accepted"]
               < c["expected"] for d in shown}
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == [_short(hierarchy[d].name) + ("*" if partial[d] else "") for d in shown]
    assert "TP. Bến Tre" in [t.rstrip("*") for t in ticks]  # the city, not the province of the same name
    assert ax.get_xlabel().startswith("* chưa đủ báo cáo")

    province = exp.expected_sums(manifest, PROVINCE, "province")
    want = {"poor_average": province["poor_end"] * 100 / province["total_households"],
            "near_poor_average": province["near_poor_end"] * 100 / province["total_households"],
            "target": OFFICER_TARGETS[PROVINCE]}
    lines = {line.get_gid(): line for line in ax.lines}
    assert {gid: float(line.get_ydata()[0]) for gid, line in lines.items()} == pytest.approx(want, abs=1e-4)
    # Told apart: the target solid and thicker than the averages, which are dashed in their bars' colours.
    target = lines["target"]
    assert target.get_linestyle() == "-"
    for gid, bars in (("poor_average", ax.containers[0]), ("near_poor_average", ax.containers[1])):
        assert lines[gid].get_linestyle() == "--" and lines[gid].get_linewidth() < target.get_linewidth()
        assert to_rgb(lines[gid].get_color()) == pytest.approx(bars[0].get_facecolor()[:3])
    # Each line labelled at its right end with its value, the labels clear of one another.
    renderer = _renderer(figure)
    right = ax.get_window_extent(renderer).x1
    labels = {gid: next(t for t in ax.texts if f"{_vn(value, 2)}%" in t.get_text()) for gid, value in want.items()}
    boxes = [t.get_window_extent(renderer) for t in labels.values()]
    assert all(right <= box.x0 <= right + 10 for box in boxes)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    assert "Chỉ tiêu" in labels["target"].get_text() and "Cận nghèo" in labels["near_poor_average"].get_text()
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert len(legend) == 5 and sum(f"{_vn(v, 2)}%" in " ".join(legend) for v in want.values()) == 3


def test_unit_names_keep_a_short_type_unless_huyen_or_xa():
    from tonghop.charts import _short as chart_short

    names = ["Thành phố Bến Tre", "Thị xã Bình Minh", "Quận 1", "Thị trấn Ba Tri", "Phường Phú Tân", "Huyện Ba Tri",
             "Xã An Đức", "Khu vực thành thị", "Khu vực nông thôn"]
    assert [chart_short(n) for n in names] == ["TP. Bến Tre", "TX. Bình Minh", "Q. 1", "TT. Ba Tri", "P. Phú Tân",
                                               "Ba Tri", "An Đức", "Khu vực thành thị", "Khu vực nông thôn"]


@slow
def test_province_completeness_stacks_accepted_rejected_and_missing_with_each_districts_rates(published, hierarchy,
                                                                                            period):
    _, _, manifest = published
    figure = _figure(published, PROVINCE, "completeness")
    ax = figure.axes[0]
    districts = hierarchy.children[PROVINCE]
    want = [exp.expected_completeness(manifest, d, "district", period.commune_deadline) for d in districts]
    bars = ax.patches
    n = len(districts)
    assert [b.get_height() for b in bars[:n]] == [w["accepted"] for w in want]
    assert [b.get_height() for b in bars[n:2 * n]] == [w["rejected"] for w in want]
    assert [b.get_height() for b in bars[2 * n:]] == [w["expected"] - w["received"] for w in want]
    assert [b.get_y() for b in bars[2 * n:]] == [w["accepted"] + w["rejected"] for w in want]  # stacked
    assert [t.get_text() for t in ax.get_xticklabels()] == [_short(hierarchy[d].name) for d in districts]
    assert any(w["received"] == 0 for w in want) and any(w["rejected"] for w in want)
    # Above each bar: the share of communes that sent and that sent on time, every note inside the plot.
    renderer = _renderer(figure)
    inside = ax.get_window_extent(renderer)
    assert len(ax.texts) == n
    for note, w in zip(ax.texts, want, strict=True):
        sent, on_time = (float(v.replace(",", ".")) for v in re.findall(r"(\d+(?:,\d+)?)%", note.get_text()))
        assert sent == pytest.approx(w["received"] * 100 / w["expected"], abs=0.5)
        assert on_time == pytest.approx(w["on_time"] * 100 / w["expected"], abs=0.5)
        box = note.get_window_extent(renderer)
        assert inside.y0 <= box.y0 and box.y1 <= inside.y1 and inside.x0 <= box.x0 and box.x1 <= inside.x1
    total = exp.expected_completeness(manifest, PROVINCE, "province", period.commune_deadline)
    assert f"{total['received']}/{total['expected']} xã đã gửi" in ax.get_title()


@slow
def test_district_completeness_is_its_reporting_curve(published, period):
    _, _, manifest = published
    figure = _figure(published, DISTRICT, "completeness")
    ax = figure.axes[0]
    statuses = exp.expected_statuses(manifest, DISTRICT, "district")
    sent = exp.attributed(manifest)
    received = {c: dt.datetime.fromisoformat(sent[c]["received_at"]) for c in statuses if c in sent}
    deadline = period.commune_deadline
    on_time = Counter(t.astimezone(VIETNAM).date() for t in received.values() if t <= deadline)
    late = Counter(t.astimezone(VIETNAM).date() for t in received.values() if t > deadline)
    assert on_time and late  # the sample has both, so the split is tested

    def per_day(bars) -> dict[dt.date, float]:
        return {mdates.num2date(b.get_x()).date(): b.get_height() for b in bars if b.get_height()}

    containers = {c.get_label(): c for c in ax.containers}
    on_time_bars = next(c for label, c in containers.items() if label.endswith("đúng hạn"))
    late_bars = next(c for label, c in containers.items() if label.endswith("gửi muộn"))
    assert per_day(on_time_bars) == on_time
    assert per_day(late_bars) == late
    assert [b.get_y() for b in late_bars] == [b.get_height() for b in on_time_bars]  # stacked on the on-time ones
    days = sorted(mdates.num2date(b.get_x()).date() for b in on_time_bars)
    assert days[-1] == max(t.astimezone(VIETNAM).date() for t in received.values())  # up to the last receipt

    lines = {line.get_gid(): line for line in ax.lines}
    # The running count, as it stands at the end of each day, ends at the number of communes that sent.
    cumulative = lines["cumulative"]
    by_day_end = {mdates.num2date(x - 1).date(): y for x, y in zip(*cumulative.get_data(), strict=True)}
    for day in days:
        assert by_day_end[day] == sum(t.astimezone(VIETNAM).date() <= day for t in received.values()), day
    assert cumulative.get_ydata()[-1] == len(received)
    # The deadline at the end of its (local) day; the communes expected.
    local_deadline = deadline.astimezone(VIETNAM)
    x = float(lines["deadline"].get_xdata()[0])
    assert mdates.num2date(x).date() == local_deadline.date()
    assert x > mdates.date2num(dt.datetime.combine(local_deadline.date(), dt.time(23, 59)))
    assert float(lines["expected"].get_ydata()[0]) == len(statuses)
    texts = [t.get_text() for t in ax.texts]
    assert f"Hạn gửi {local_deadline:%d/%m/%Y}" in texts and f"Phải báo cáo: {len(statuses)} xã" in texts
    n_on_time, n_late = sum(on_time.values()), sum(late.values())
    for words in (f"{len(received)}/{len(statuses)} xã đã gửi", f"{n_on_time} đúng hạn", f"{n_late} gửi muộn",
                  f"{len(statuses) - len(received)} chưa gửi"):
        assert words in ax.get_title(), words


@slow
@pytest.mark.parametrize("unit,level", [(PROVINCE, "province"), (DISTRICT, "district")])
def test_disbursement_chart_plots_each_projects_rate_then_all_projects(published, unit, level):
    from tonghop.spec import load_spec

    _, _, manifest = published
    figure = _figure(published, unit, "disbursement")
    ax = figure.axes[0]
    sums = exp.expected_sums(manifest, unit, level)

    def rate(components):
        disbursed = sum(sums[f"{c}_{m}"] for c in components for m in ("disb_central", "disb_local", "disb_mobilised"))
        available = sum(sums[f"{c}_{m}"] for c in components
                        for m in ("carried_over", "alloc_central", "alloc_local", "mobilised"))
        return float(disbursed * 100 / available) if available else 0.0

    want = [rate([c]) for c in exp.COMPONENTS]
    widths = [float(b.get_width()) for b in ax.patches]
    assert widths == pytest.approx([*want, rate(exp.COMPONENTS)], abs=1e-3)  # the last bar: all projects
    assert not ax.lines  # no line across the bars and their labels
    # Each bar's value label: its rate, right of the bar.
    assert [t.get_text().split("%")[0] for t in ax.texts] == [_vn(r, 1) for r in [*want, rate(exp.COMPONENTS)]]

    # Named as the funding sheet names them: "Dự án 3, Tiểu dự án 1. Hỗ trợ …", at most two lines of about 40
    # characters, cut with an ellipsis when longer.
    spec_rows = {r.key: r for r in load_spec().section("funding").grid_rows}
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[-1] == "Tất cả dự án"
    for component, tick in zip(exp.COMPONENTS, ticks[:-1], strict=True):
        head, name = spec_rows[component].label.split(": ", 1)
        full, shown = f"{head}. {name}", tick.replace("\n", " ")
        assert len(tick.split("\n")) <= 2 and all(len(line) <= 41 for line in tick.split("\n")), tick
        if shown.endswith("…"):
            assert full.startswith(shown[:-1].rstrip(",;:.- ")) and len(shown) >= 40, (tick, full)
        else:
            assert shown == full, (tick, full)
    assert sum(t.endswith("…") for t in ticks) <= 4  # most names are whole

    # Sized to the data: the widest bar plus its label's room, not a fixed 100 %.
    left, right = ax.get_xlim()
    assert left == 0 and max(widths) < right <= max(widths) * 1.5
    renderer = _renderer(figure)
    plot = ax.get_window_extent(renderer)
    assert all(t.get_window_extent(renderer).x1 <= plot.x1 for t in ax.texts)


# --- how every chart reads -----------------------------------------------------------------------------------

@slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("unit", [PROVINCE, DISTRICT])
def test_no_line_crosses_a_label_and_no_label_covers_another(published, unit, kind):
    figure = _figure(published, unit, kind)
    assert _crossings(figure) == []
    assert _overlaps(figure) == []
    renderer = _renderer(figure)
    image = figure.bbox
    for text in _texts(figure):  # nothing cut off at the edge of the image
        box = text.get_window_extent(renderer)
        assert image.x0 <= box.x0 and box.x1 <= image.x1 and image.y0 <= box.y0 and box.y1 <= image.y1, \
            text.get_text()
        assert text.get_fontsize() >= 8, text.get_text()
    for legend in figure.legends:  # outside the plot: never over a bar
        assert not legend.get_window_extent(renderer).overlaps(figure.axes[0].get_window_extent(renderer))


def test_a_line_through_a_label_is_caught():
    """The crossing check itself: a label placed on a line is found, one beside it is not."""
    from matplotlib.figure import Figure

    figure = Figure()
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.axhline(5, gid="across")
    ax.step([1, 2, 3], [1, 2, 8], where="pre", gid="steps")
    ax.text(5, 5, "on the line", ha="center", va="center")
    ax.text(5, 8.5, "beside", ha="center", va="center")
    ax.text(2, 6, "x", ha="center", va="center")  # on the step's riser: the straight segment passes at x ≈ 2.7
    assert sorted(_crossings(figure)) == [("across", "on the line"), ("steps", "x")]
    # Turned labels side by side: their upright extents overlap, their letters do not; one over another does.
    one, two = ax.text(7, 2, "một nhãn dài", rotation=35), ax.text(7.6, 2, "nhãn bên cạnh", rotation=35)
    renderer = _renderer(figure)
    assert one.get_window_extent(renderer).overlaps(two.get_window_extent(renderer))
    assert _overlaps(figure) == []
    ax.text(7.6, 2.1, "đè lên", rotation=35)
    assert ("nhãn bên cạnh", "đè lên") in _overlaps(figure)
