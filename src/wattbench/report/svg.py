"""Charts as inline SVG strings: scatter, lines over categories, radar, heat map.

Hand-written rather than a plotting library so the HTML page is one file that renders with no
network and no JavaScript, and the report needs no heavy dependency. Every mark carries a
``<title>``, which browsers show as a tooltip with the exact figure.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
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


def _tag(x: float, y: float, text: str) -> str:
    """A point's tag to its upper right, or to its left where it would run past the chart's
    right edge, and below it where it would run into the title: never clipped."""
    right = x + 8 + len(text) * TAG_EM <= WIDTH - 2
    ty = y - 6 if y - 6 >= TOP else y + 14
    if right:
        return f'<text x="{x + 8:.1f}" y="{ty:.1f}" class="tag">{escape(text)}</text>'
    return f'<text x="{x - 8:.1f}" y="{ty:.1f}" text-anchor="end" class="tag">{escape(text)}</text>'


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


def _legend(names: Sequence[str], kinds: Sequence[str] = ()) -> str:
    """Bottom right of the plot: low quality at high cost, the corner a trade-off chart leaves empty.

    A swatch per series (colour), then a grey mark per kind (shape)."""
    x = WIDTH - RIGHT - 22 - CHAR_W * max((len(n) for n in (*names, *kinds)), default=0)
    y = HEIGHT - BOTTOM - 6 - 15 * (len(names) + len(kinds))
    parts = [
        f'<rect x="{x:.0f}" y="{y + 15 * i}" width="10" height="10" fill="{colour(i)}"/>'
        f'<text x="{x + 14:.0f}" y="{y + 9 + 15 * i}" class="l">{escape(name)}</text>'
        for i, name in enumerate(names)
    ]
    for j, kind in enumerate(kinds):
        row = y + 15 * (len(names) + j)
        parts.append(mark(SHAPES[j % len(SHAPES)], x + 5, row + 5, 4.5, 'fill="#888"')
                     + f'<text x="{x + 14:.0f}" y="{row + 9}" class="l">{escape(kind)}</text>')
    return "".join(parts)


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
    for p in points:
        x, y = axes.x(p.x), axes.y(p.y)
        shape = SHAPES[kinds.index(p.kind) % len(SHAPES)] if p.kind else "circle"
        ci = ""
        if p.x_ci is not None or p.y_ci is not None:
            ci = " (95% CI " + ", ".join(
                "no interval" if bounds is None else f"{_num(bounds[0])}..{_num(bounds[1])}"
                for bounds in (p.x_ci, p.y_ci)
            ) + ")"
        tip = (f"<title>{escape(p.label)}: {_num(p.x)} {escape(x_label)}, {_num(p.y)} {escape(y_label)}"
               f"{ci}{' (Pareto front)' if p.front else ''}</title>")
        attrs = f'fill="{colour(names.index(p.series))}" class="{"on" if p.front else "off"}"'
        marks.append(mark(shape, x, y, 6 if p.front else 4.5, attrs, tip))
        if p.tag:
            marks.append(_tag(x, y, p.tag))
    return _frame(title, axes.draw() + path + "".join(bars) + "".join(marks) + _legend(names, kinds))


def lines(
    title: str, categories: Sequence[str], series: Mapping[str, Sequence[float | None]], y_label: str,
    x_label: str = "prompt level",
) -> str:
    """One line per series over ordered categories (prompt levels, load points); gaps where a
    value is None."""
    values = [v for vs in series.values() for v in vs if v is not None]
    if not values or not categories:
        return empty(title, "no values")
    axes = _Axes([0.0, 1.0], values, x_label, y_label)
    axes.xt = [-0.5, len(categories) - 0.5]  # a half-step margin either side of the categories
    parts = [axes.draw(categories)]
    for i, (name, ys) in enumerate(series.items()):
        points = [(axes.x(float(j)), axes.y(v), v, categories[j]) for j, v in enumerate(ys) if v is not None]
        parts.append(
            f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y, _v, _c in points)}" '
            f'fill="none" stroke="{colour(i)}" stroke-width="2"/>'
        )
        parts += [
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour(i)}"><title>{escape(name)} '
            f"{escape(c)}: {_num(v)} {escape(y_label)}</title></circle>"
            for x, y, v, c in points
        ]
    return _frame(title, "".join(parts) + _legend(list(series)))


def radar(title: str, axes: Sequence[str], series: Mapping[str, Sequence[float | None]]) -> str:
    """Values in [0, 1] on one spoke per axis (task); a missing value sits at the centre."""
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
        parts.append(
            f'<polygon points="{shape}" fill="{colour(k)}" fill-opacity="0.2" stroke="{colour(k)}" '
            f'stroke-width="2"><title>{escape(name)}: '
            + ", ".join(f"{escape(a)} {'n/a' if v is None else _num(v)}" for a, v in zip(axes, values))
            + "</title></polygon>"
        )
    legend = "".join(
        f'<rect x="8" y="{size + 2 + 14 * k}" width="10" height="10" fill="{colour(k)}"/>'
        f'<text x="22" y="{size + 11 + 14 * k}" class="l">{escape(n)}</text>'
        for k, n in enumerate(series)
    )
    return _frame(title, "".join(parts) + legend, size, size + 14 * len(series) + 6)


def heatmap(
    title: str,
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Mapping[tuple[str, str], tuple[float, str]],
) -> str:
    """A grid of cells shaded by value in [0, 1], each labelled with its text; blank where absent."""
    if not rows or not columns:
        return empty(title, "no cells")
    cell_w, cell_h, top = 74, 30, 56
    left = int(16 + CHAR_W * max(len(r) for r in rows))  # room for the longest row label
    width = max(left + cell_w * len(columns) + 10, int(CHAR_W * 1.2 * len(title)) + 20)
    height = top + cell_h * len(rows) + 10
    parts = [
        f'<text x="{left + cell_w * (j + 0.5)}" y="{top - 8}" text-anchor="middle">{escape(c)}</text>'
        for j, c in enumerate(columns)
    ]
    for i, row in enumerate(rows):
        parts.append(
            f'<text x="{left - 6}" y="{top + cell_h * (i + 0.6)}" text-anchor="end">{escape(row)}</text>'
        )
        for j, col in enumerate(columns):
            if (row, col) not in cells:
                continue
            value, text = cells[row, col]
            shade = max(0.0, min(1.0, value))
            fill = f"rgb({int(247 - 200 * shade)},{int(251 - 120 * shade)},{int(255 - 60 * shade)})"
            parts.append(
                f'<rect x="{left + cell_w * j}" y="{top + cell_h * i}" '
                f'width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{fill}"><title>{escape(row)} / {escape(col)}: {escape(text)}</title></rect>'
                f'<text x="{left + cell_w * (j + 0.5)}" y="{top + cell_h * (i + 0.6)}" text-anchor="middle" '
                f'class="{"dark" if shade > 0.6 else ""}">{escape(text)}</text>'
            )
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
