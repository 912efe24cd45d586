"""Charts as inline SVG strings: scatter, lines over categories, radar, heat map.

Hand-written rather than a plotting library so the HTML page is one file that renders with no
network and no JavaScript, and the report needs no heavy dependency. Every mark carries a
``<title>``, which browsers show as a tooltip with the exact figure.

A figure resting only on contended records (other processes used the machine in its window) is
drawn hollow and dashed, its label ends in CONTENDED_MARK, and the chart's legend says what that
means: every chart, so a printed page cannot lose the caveat.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
WIDTH, HEIGHT = 520, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 52
CHAR_W = 6.5  # about the width of one 11 px sans-serif character
CONTENDED_MARK = " †"  # ends the label of a figure measured only while the machine was contended
CONTENDED_LEGEND = "† hollow: contended records only"
HOLLOW = 'fill="#fff" stroke-dasharray="2 1.5" stroke-width="1.5"'  # a contended figure's mark


@dataclass(frozen=True)
class Point:
    """A scatter mark: position, tooltip, series (colour), front flag, and optionally its
    printed tag, its kind (shape) and the 95% CI of each coordinate (error bars)."""

    x: float
    y: float
    label: str
    series: str
    front: bool = False
    tag: str = ""  # printed beside the mark, so a printed page names every point
    kind: str = ""  # a second grouping drawn as the mark's shape (the prompt level)
    x_ci: tuple[float, float] | None = None
    y_ci: tuple[float, float] | None = None
    contended: bool = False  # measured only while contended: drawn hollow, tagged CONTENDED_MARK


SHAPES = ("circle", "square", "triangle", "diamond", "down", "cross")


def mark(shape: str, x: float, y: float, r: float, attrs: str, inner: str = "") -> str:
    """One marker of ``shape`` (see SHAPES) centred on (x, y) with radius about ``r``."""
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" {attrs}>{inner}</circle>'
    if shape == "square":
        return (f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}" {attrs}>'
                f"{inner}</rect>")
    corners = {
        "triangle": ((0, -1.2), (1.1, 0.8), (-1.1, 0.8)),
        "diamond": ((0, -1.3), (1.3, 0), (0, 1.3), (-1.3, 0)),
        "down": ((0, 1.2), (1.1, -0.8), (-1.1, -0.8)),
        "cross": ((-0.4, -1.1), (0.4, -1.1), (0.4, -0.4), (1.1, -0.4), (1.1, 0.4), (0.4, 0.4), (0.4, 1.1),
                  (-0.4, 1.1), (-0.4, 0.4), (-1.1, 0.4), (-1.1, -0.4), (-0.4, -0.4)),
    }[shape]
    points = " ".join(f"{x + r * dx:.1f},{y + r * dy:.1f}" for dx, dy in corners)
    return f'<polygon points="{points}" {attrs}>{inner}</polygon>'


def colour(index: int) -> str:
    """The palette's colour for the index-th series."""
    return PALETTE[index % len(PALETTE)]


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high]."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    step = 10 ** math.floor(math.log10((high - low) / count))
    for factor in (1, 2, 2.5, 5, 10):
        if (high - low) / (step * factor) <= count:
            step *= factor
            break
    first = math.floor(low / step) * step
    return [round(first + i * step, 10) for i in range(math.ceil((high - first) / step) + 1)]


def _num(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


TITLE_EM = 7.5  # a 13px semibold character's mean advance, px: a wider title is fitted
TAG_EM = 5.8  # a 10px tag character's mean advance, px


def _frame(title: str, body: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    # A title wider than its chart (a radar is narrow) is squeezed to fit, never clipped.
    fit = (f' textLength="{width - 12}" lengthAdjust="spacingAndGlyphs"'
           if len(title) * TITLE_EM > width - 12 else "")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<text x="{width / 2}" y="20" text-anchor="middle" class="t"{fit}>{escape(title)}</text>{body}</svg>'
    )


TAG_ASCENT, TAG_DESCENT = 9.0, 3.0  # a 10px tag's extent above and below its baseline, px, padded
Box = tuple[float, float, float, float]  # left, top, right, bottom, px


def _overlap(a: Box, b: Box) -> float:
    """The area two boxes share (0 when apart)."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


# Where a tag may go around its point, in order of preference: (dx, dy of the baseline, anchor).
# Upper right first, as before; then the other corners, the sides, and further out.
_SPOTS = [
    (8, -6, "start"), (-8, -6, "end"), (8, 14, "start"), (-8, 14, "end"), (9, 4, "start"), (-9, 4, "end"),
    *((dx, dy, anchor) for dy in (-18, 26, -30, 38, -42, 50) for dx, anchor in ((8, "start"), (-8, "end"))),
    (-40, -8, "start"), (40, -8, "end"), (-40, 16, "start"), (40, 16, "end"),
]


def _tag_box(x: float, y: float, text: str, anchor: str) -> Box:
    width = len(text) * TAG_EM * 1.08 + 2  # the estimate errs wide: a measured tag must fit
    left = x if anchor == "start" else x - width
    return left, y - TAG_ASCENT, left + width, y + TAG_DESCENT


def place_tags(
    points: Sequence[tuple[float, float, str]], taken: Sequence[Box] = (), area: Box | None = None,
) -> list[tuple[float, float, str]]:
    """(x, y, anchor) of each tag of ``points`` ((x, y, text) in px): greedily, in order, the
    first spot around its point whose box stays in ``area`` (the plot area below the title) and
    overlaps no box placed before it, no other point's mark and none of ``taken`` (the legend);
    where none is free, the spot that overlaps least."""
    left, top, right, bottom = area or (2.0, float(TOP), WIDTH - 2.0, HEIGHT - BOTTOM + 4.0)
    marks = [(px - 6, py - 6, px + 6, py + 6) for px, py, _t in points]
    placed: list[Box] = [*taken]
    spots: list[tuple[float, float, str]] = []
    for i, (x, y, text) in enumerate(points):
        others = [m for j, m in enumerate(marks) if j != i]
        best: tuple[float, float, float, str] | None = None
        for dx, dy, anchor in _SPOTS:
            box = _tag_box(x + dx, y + dy, text, anchor)
            if box[0] < left or box[2] > right or box[1] < top or box[3] > bottom:
                continue
            cost = sum(_overlap(box, other) for other in (*placed, *others))
            if best is None or cost < best[0]:
                best = (cost, x + dx, y + dy, anchor)
            if cost == 0:
                break
        if best is None:  # no spot inside the area: the old rule, never past the chart's edge
            anchor = "start" if x + 8 + len(text) * TAG_EM <= WIDTH - 2 else "end"
            best = (0.0, x + 8 if anchor == "start" else x - 8, y - 6 if y - 6 >= TOP else y + 14, anchor)
        _cost, tx, ty, anchor = best
        placed.append(_tag_box(tx, ty, text, anchor))
        spots.append((tx, ty, anchor))
    return spots


def _tag(x: float, y: float, text: str, anchor: str) -> str:
    """A point's tag with its baseline at (x, y), placed by place_tags()."""
    end = ' text-anchor="end"' if anchor == "end" else ""
    return f'<text x="{x:.1f}" y="{y:.1f}"{end} class="tag">{escape(text)}</text>'


class _Axes:
    """Linear x and y scales over the plot area, with their gridlines and labels."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], x_label: str, y_label: str) -> None:
        self.xt, self.yt = ticks(min(xs), max(xs)), ticks(min(0.0, min(ys)), max(ys))
        self.x_label, self.y_label = x_label, y_label

    def x(self, value: float) -> float:
        low, high = self.xt[0], self.xt[-1]
        return LEFT + (value - low) / ((high - low) or 1) * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        low, high = self.yt[0], self.yt[-1]
        return HEIGHT - BOTTOM - (value - low) / ((high - low) or 1) * (HEIGHT - TOP - BOTTOM)

    def draw(self, categories: Sequence[str] = ()) -> str:
        """Gridlines and labels; with ``categories`` the x axis names them at 0, 1, 2, ... instead."""
        parts = []
        for t in () if categories else self.xt:
            parts.append(
                f'<line x1="{self.x(t):.1f}" x2="{self.x(t):.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
                f'class="g"/><text x="{self.x(t):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{_num(t)}</text>'
            )
        for j, name in enumerate(categories):
            parts.append(
                f'<text x="{self.x(float(j)):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{escape(name)}</text>'
            )
        for t in self.yt:
            parts.append(
                f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{self.y(t):.1f}" y2="{self.y(t):.1f}" '
                f'class="g"/><text x="{LEFT - 6}" y="{self.y(t) + 4:.1f}" text-anchor="end">{_num(t)}</text>'
            )
        parts.append(
            f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 12}" text-anchor="middle" '
            f'class="a">{escape(self.x_label)}</text>'
        )
        parts.append(
            f'<text transform="translate(14 {(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" '
            f'text-anchor="middle" class="a">{escape(self.y_label)}</text>'
        )
        return "".join(parts)


def _legend_rows(
    names: Sequence[str], kinds: Sequence[str] = (), contended: bool = False
) -> tuple[float, float]:
    """(x, y) of the legend's top left: bottom right of the plot."""
    texts = (*names, *kinds, *([CONTENDED_LEGEND] if contended else []))
    x = WIDTH - RIGHT - 22 - CHAR_W * max((len(n) for n in texts), default=0)
    y = HEIGHT - BOTTOM - 6 - 15 * len(texts)
    return x, y


def _legend(names: Sequence[str], kinds: Sequence[str] = (), contended: bool = False) -> str:
    """Bottom right of the plot: low quality at high cost, the corner a trade-off chart leaves empty.

    A swatch per series (colour), then a grey mark per kind (shape), then, where some figure rests
    on contended records only, a hollow mark saying so."""
    x, y = _legend_rows(names, kinds, contended)
    parts = [
        f'<rect x="{x:.0f}" y="{y + 15 * i}" width="10" height="10" fill="{colour(i)}"/>'
        f'<text x="{x + 14:.0f}" y="{y + 9 + 15 * i}" class="l">{escape(name)}</text>'
        for i, name in enumerate(names)
    ]
    for j, kind in enumerate(kinds):
        row = y + 15 * (len(names) + j)
        parts.append(mark(SHAPES[j % len(SHAPES)], x + 5, row + 5, 4.5, 'fill="#888"')
                     + f'<text x="{x + 14:.0f}" y="{row + 9}" class="l">{escape(kind)}</text>')
    if contended:
        row = y + 15 * (len(names) + len(kinds))
        parts.append(mark("circle", x + 5, row + 5, 4, f'stroke="#555" {HOLLOW}')
                     + f'<text x="{x + 14:.0f}" y="{row + 9}" class="l contended">'
                     + f"{escape(CONTENDED_LEGEND)}</text>")
    return "".join(parts)


def _legend_box(names: Sequence[str], kinds: Sequence[str] = (), contended: bool = False) -> Box:
    """The px box the legend covers, which tags keep out of."""
    x, y = _legend_rows(names, kinds, contended)
    rows = len(names) + len(kinds) + contended
    return x - 2, y - 2, WIDTH - RIGHT, y + 15 * rows


def empty(title: str, why: str) -> str:
    """A chart frame that says why there is nothing to plot."""
    return _frame(title, f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">{escape(why)}</text>')


def scatter(title: str, points: Sequence[Point], x_label: str, y_label: str) -> str:
    """Points coloured by series and shaped by kind, each tagged with its text and drawn with
    its CI as error bars; the front's points outlined and joined by a step line. The legend
    lists the series (colours) and the kinds (shapes)."""
    if not points:
        return empty(title, "no points with both figures")
    xs = [v for p in points for v in (p.x, *(p.x_ci or ()))]
    ys = [v for p in points for v in (p.y, *(p.y_ci or ()))]
    axes = _Axes(xs, ys, x_label, y_label)
    names = list(dict.fromkeys(p.series for p in points))
    kinds = list(dict.fromkeys(p.kind for p in points if p.kind))
    front = sorted((p for p in points if p.front), key=lambda p: p.x)
    path = ""
    if len(front) > 1:
        steps = [f"{axes.x(front[0].x):.1f},{axes.y(front[0].y):.1f}"]
        for prev, p in itertools.pairwise(front):
            steps += [f"{axes.x(p.x):.1f},{axes.y(prev.y):.1f}", f"{axes.x(p.x):.1f},{axes.y(p.y):.1f}"]
        path = f'<polyline points="{" ".join(steps)}" class="front"/>'
    bars = []
    for p in points:
        x, y, c = axes.x(p.x), axes.y(p.y), colour(names.index(p.series))
        if p.x_ci is not None and p.x_ci[1] > p.x_ci[0]:
            x0, x1 = axes.x(p.x_ci[0]), axes.x(p.x_ci[1])
            bars.append(f'<path d="M{x0:.1f} {y:.1f}H{x1:.1f}M{x0:.1f} {y - 3:.1f}V{y + 3:.1f}'
                        f'M{x1:.1f} {y - 3:.1f}V{y + 3:.1f}" stroke="{c}" class="bar"/>')
        if p.y_ci is not None and p.y_ci[1] > p.y_ci[0]:
            y0, y1 = axes.y(p.y_ci[0]), axes.y(p.y_ci[1])
            bars.append(f'<path d="M{x:.1f} {y0:.1f}V{y1:.1f}M{x - 3:.1f} {y0:.1f}H{x + 3:.1f}'
                        f'M{x - 3:.1f} {y1:.1f}H{x + 3:.1f}" stroke="{c}" class="bar"/>')
    marks = []
    contended = any(p.contended for p in points)
    tagged = [(axes.x(p.x), axes.y(p.y), p.tag + (CONTENDED_MARK if p.contended else "")) for p in points]
    spots = iter(place_tags([t for t, p in zip(tagged, points) if p.tag],
                            [_legend_box(names, kinds, contended)]))
    for p, (x, y, tag) in zip(points, tagged):
        shape = SHAPES[kinds.index(p.kind) % len(SHAPES)] if p.kind else "circle"
        ci = ""
        if p.x_ci is not None or p.y_ci is not None:
            ci = " (95% CI " + ", ".join(
                "no interval" if bounds is None else f"{_num(bounds[0])}..{_num(bounds[1])}"
                for bounds in (p.x_ci, p.y_ci)
            ) + ")"
        tip = (f"<title>{escape(p.label)}: {_num(p.x)} {escape(x_label)}, {_num(p.y)} {escape(y_label)}"
               f"{ci}{' (Pareto front)' if p.front else ''}"
               f"{' (contended records only)' if p.contended else ''}</title>")
        c = colour(names.index(p.series))
        cls = "on" if p.front else "off"
        attrs = (f'stroke="{c}" {HOLLOW} class="{cls} contended"' if p.contended
                 else f'fill="{c}" class="{cls}"')
        marks.append(mark(shape, x, y, 6 if p.front else 4.5, attrs, tip))
        if p.tag:
            tx, ty, anchor = next(spots)
            marks.append(_tag(tx, ty, tag, anchor))
    legend = _legend(names, kinds, contended)
    return _frame(title, axes.draw() + path + "".join(bars) + "".join(marks) + legend)


def lines(
    title: str, categories: Sequence[str], series: Mapping[str, Sequence[float | None]], y_label: str,
    x_label: str = "prompt level", contended: Mapping[str, Sequence[bool]] | None = None,
    ci: Mapping[str, Sequence[tuple[float, float] | None]] | None = None,
) -> str:
    """One line per series over ordered categories (prompt levels, load points); gaps where a
    value is None. ``contended`` (series -> a flag per category) draws those points hollow with
    CONTENDED_MARK beside them. ``ci`` (series -> (low, high) per category, None for none) draws
    error bars; when every value is 0 or more, a bar is cut at 0 (a speed or an energy below zero
    is no figure: a small-sample interval can reach there) and its tooltip gives the whole one."""
    values = [v for vs in series.values() for v in vs if v is not None]
    if not values or not categories:
        return empty(title, "no values")
    bounds = ci or {}
    floor = 0.0 if min(values) >= 0 else -math.inf
    spans = [max(b, floor) for bs in bounds.values() for pair in bs if pair is not None for b in pair]
    axes = _Axes([0.0, 1.0], values + spans, x_label, y_label)
    axes.xt = [-0.5, len(categories) - 0.5]  # a half-step margin either side of the categories
    parts = [axes.draw(categories)]
    marked = contended or {}
    any_marked = False
    for i, (name, ys) in enumerate(series.items()):
        flags = marked.get(name, ())
        points = [(axes.x(float(j)), axes.y(v), v, categories[j], j < len(flags) and bool(flags[j]))
                  for j, v in enumerate(ys) if v is not None]
        parts.append(
            f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y, _v, _c, _m in points)}" '
            f'fill="none" stroke="{colour(i)}" stroke-width="2"/>'
        )
        intervals = bounds.get(name, ())
        for j, v in enumerate(ys):
            pair = intervals[j] if j < len(intervals) else None
            if v is None or pair is None or not pair[1] > pair[0]:
                continue
            x, y0, y1 = axes.x(float(j)), axes.y(max(pair[0], floor)), axes.y(pair[1])
            parts.append(
                f'<path d="M{x:.1f} {y0:.1f}V{y1:.1f}M{x - 3:.1f} {y0:.1f}H{x + 3:.1f}M{x - 3:.1f} '
                f'{y1:.1f}H{x + 3:.1f}" stroke="{colour(i)}" class="bar"><title>{escape(name)} '
                f"{escape(categories[j])}: 95% CI {_num(pair[0])}..{_num(pair[1])}</title></path>"
            )
        for x, y, v, c, hollow in points:
            any_marked |= hollow
            attrs = f'stroke="{colour(i)}" {HOLLOW} class="contended"' if hollow else f'fill="{colour(i)}"'
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" {attrs}><title>{escape(name)} '
                f"{escape(c)}: {_num(v)} {escape(y_label)}"
                f"{' (contended records only)' if hollow else ''}</title></circle>"
            )
            if hollow:
                parts.append(f'<text x="{x + 6:.1f}" y="{y - 6:.1f}" class="tag">'
                             f"{CONTENDED_MARK.strip()}</text>")
    return _frame(title, "".join(parts) + _legend(list(series), contended=any_marked))


def radar(
    title: str, axes: Sequence[str], series: Mapping[str, Sequence[float | None]],
    contended: Collection[str] = (),
) -> str:
    """Values in [0, 1] on one spoke per axis (task); a missing value sits at the centre. A series
    in ``contended`` is drawn dashed and hollow, CONTENDED_MARK after its name, and explained."""
    if len(axes) < 3:
        return empty(title, "a radar needs 3 or more tasks")
    size = 300
    cx, cy, r = size / 2, size / 2 + 12, size / 2 - 48

    def at(i: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * i / len(axes)
        return cx + r * value * math.cos(angle), cy + r * value * math.sin(angle)

    parts = []
    for ring in (0.25, 0.5, 0.75, 1.0):
        ring_points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(i, ring) for i in range(len(axes))))
        parts.append(f'<polygon points="{ring_points}" class="ring"/>')
    for i, name in enumerate(axes):
        x, y = at(i, 1.0)
        lx, ly = at(i, 1.16)
        parts.append(
            f'<line x1="{cx}" y1="{cy}" x2="{x:.1f}" y2="{y:.1f}" class="g"/>'
            f'<text x="{lx:.1f}" y="{ly + 4:.1f}" text-anchor="middle">{escape(name)}</text>'
        )
    for k, (name, values) in enumerate(series.items()):
        shape = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(i, v or 0.0) for i, v in enumerate(values)))
        fill = ('fill="none" stroke-dasharray="5 3" class="contended"' if name in contended
                else f'fill="{colour(k)}" fill-opacity="0.2"')
        parts.append(
            f'<polygon points="{shape}" {fill} stroke="{colour(k)}" '
            f'stroke-width="2"><title>{escape(name)}'
            + (" (contended records only)" if name in contended else "") + ": "
            + ", ".join(f"{escape(a)} {'n/a' if v is None else _num(v)}" for a, v in zip(axes, values))
            + "</title></polygon>"
        )
    names = [n + (CONTENDED_MARK if n in contended else "") for n in series]
    marked = any(n in contended for n in series)
    if marked:
        names.append(CONTENDED_LEGEND.replace("hollow", "dashed"))
    legend = "".join(
        (f'<rect x="8" y="{size + 2 + 14 * k}" width="10" height="10" fill="{colour(k)}"/>' if k < len(series)
         else "")
        + f'<text x="22" y="{size + 11 + 14 * k}" class="l">{escape(n)}</text>'
        for k, n in enumerate(names)
    )
    return _frame(title, "".join(parts) + legend, size, size + 14 * len(names) + 6)


def heatmap(
    title: str,
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Mapping[tuple[str, str], tuple[float, str]],
    contended: Collection[str] = (),
) -> str:
    """A grid of cells shaded by value in [0, 1], each labelled with its text; blank where absent.
    A row in ``contended`` has CONTENDED_MARK after its label and in its cells, and a dashed
    outline; a note under the grid says what it means."""
    if not rows or not columns:
        return empty(title, "no cells")
    cell_w, cell_h, top = 74, 30, 56
    left = int(16 + CHAR_W * max(len(r) + len(CONTENDED_MARK) for r in rows))  # room for the longest label
    note = CONTENDED_LEGEND.replace("hollow", "dashed") if any(r in contended for r in rows) else ""
    width = max(left + cell_w * len(columns) + 10, int(CHAR_W * 1.2 * len(title)) + 20,
                int(CHAR_W * len(note)) + 20)
    height = top + cell_h * len(rows) + 10 + (18 if note else 0)
    parts = [
        f'<text x="{left + cell_w * (j + 0.5)}" y="{top - 8}" text-anchor="middle">{escape(c)}</text>'
        for j, c in enumerate(columns)
    ]
    for i, row in enumerate(rows):
        mark_text = CONTENDED_MARK if row in contended else ""
        parts.append(
            f'<text x="{left - 6}" y="{top + cell_h * (i + 0.6)}" text-anchor="end">'
            f"{escape(row + mark_text)}</text>"
        )
        for j, col in enumerate(columns):
            if (row, col) not in cells:
                continue
            value, text = cells[row, col]
            text += mark_text.strip()
            shade = max(0.0, min(1.0, value))
            fill = f"rgb({int(247 - 200 * shade)},{int(251 - 120 * shade)},{int(255 - 60 * shade)})"
            outline = ' stroke="#555" stroke-dasharray="4 2" class="contended"' if mark_text else ""
            parts.append(
                f'<rect x="{left + cell_w * j}" y="{top + cell_h * i}" '
                f'width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{fill}"{outline}><title>{escape(row)} / {escape(col)}: {escape(text)}'
                + (" (contended records only)" if mark_text else "") + "</title></rect>"
                f'<text x="{left + cell_w * (j + 0.5)}" y="{top + cell_h * (i + 0.6)}" text-anchor="middle" '
                f'class="{"dark" if shade > 0.6 else ""}">{escape(text)}</text>'
            )
    if note:
        parts.append(f'<text x="8" y="{height - 8}" class="l contended">{escape(note)}</text>')
    return _frame(title, "".join(parts), width, height)


def curves(
    title: str, series: Mapping[str, Sequence[tuple[float, float]]], x_label: str, y_label: str,
) -> str:
    """One line per series through its (x, y) points, both axes numeric (a loss against
    cumulative joules); every point carries its figures as a tooltip."""
    points = [p for ps in series.values() for p in ps]
    if not points:
        return empty(title, "no points")
    axes = _Axes([x for x, _ in points], [y for _, y in points], x_label, y_label)
    parts = [axes.draw()]
    for i, (name, ps) in enumerate(series.items()):
        at = [(axes.x(x), axes.y(y), x, y) for x, y in ps]
        parts.append(f'<polyline points="{" ".join(f"{px:.1f},{py:.1f}" for px, py, _x, _y in at)}" '
                     f'fill="none" stroke="{colour(i)}" stroke-width="2"/>')
        parts += [
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{colour(i)}"><title>{escape(name)}: '
            f"{_num(x)} {escape(x_label)}, {_num(y)} {escape(y_label)}</title></circle>"
            for px, py, x, y in at
        ]
    return _frame(title, "".join(parts) + _legend(list(series)))
