"""Charts as inline SVG, drawn on the server: no JavaScript, no image files, no plotting library.

Every function returns a ``<figure>`` (SafeString) holding an ``<svg role="img">`` with a
``<title>`` and a ``<desc>`` that states the figures in words, a ``<title>`` on each mark
(shown on hover, read by screen readers) and, where there are several series, an HTML
legend that wraps on narrow screens. Every string that reaches the markup goes through
``escape``: label names come from users. Sizes are in viewBox units; CSS (``.plot`` in
earmark.css) scales the drawing to its card and sets the text colours.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# The palette of earmark.css (--accent, --ok, --warn, --bad) and model.js's curves.
PALETTE = ["#4f7cff", "#3ccf91", "#f4b740", "#ff6b6b", "#b48cff", "#4fd1e8", "#ff9f5a", "#7aa2ff"]
ACCENT, OK, WARN, BAD = PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[3]
MUTED = "#8b94a7"
TEXT = "#e6e9ef"
GRID = "#2a3242"
EMPTY = "#1d2431"  # --panel-2

_ids = itertools.count(1)


def _e(value: object) -> str:
    return escape(str(value))


def _num(value: float) -> str:
    """Short coordinates: one decimal is finer than a pixel."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def fmt(value: float | None, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if percent:
        return f"{100 * value:.1f}%"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:,.0f}"


def _tick(value: float, percent: bool) -> str:
    """Axis ticks are round numbers: no decimals where none are needed (50%, not 50.0%)."""
    if percent and float(100 * value).is_integer():
        return f"{100 * value:.0f}%"
    return fmt(value, percent) if percent else f"{value:,.6g}".replace("-", "−")


def _clip_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 10))
    return ticks


def _svg(width: int, height: int, title: str, desc: str, body: str, kind: str) -> str:
    uid = next(_ids)
    return (
        f'<svg class="plot plot-{kind}" viewBox="0 0 {width} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="plot{uid}t plot{uid}d">'
        f'<title id="plot{uid}t">{_e(title)}</title><desc id="plot{uid}d">{_e(desc)}</desc>'
        f"{body}</svg>"
    )


def legend(items: Sequence[tuple[str, str]], dashed: Sequence[str] = ()) -> str:
    """HTML legend: (name, colour) pairs as swatches that wrap with the text."""
    parts = []
    for name, color in items:
        style = "dashed" if name in dashed else "solid"
        parts.append(
            f'<li><span class="swatch swatch-{style}" style="--c:{_e(color)}"></span>'
            f"{_e(name)}</li>"
        )
    return f'<ul class="plot-legend">{"".join(parts)}</ul>' if parts else ""


def _figure(svg: str, extra: str = "") -> SafeString:
    return mark_safe(f'<figure class="plot-fig">{svg}{extra}</figure>')  # noqa: S308 - escaped


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    value_label: str,
    color: str = ACCENT,
    percent: bool = False,
    max_value: float | None = None,
) -> SafeString:
    """Horizontal bars, one per (name, value), names on the left, values at the bar ends."""
    width, left, right, row, top = 540, 170, 60, 24, 8
    height = top + row * max(1, len(items)) + 26
    top_value = max_value or max([v for _, v in items] + [1e-9])
    scale = (width - left - right) / top_value
    body = []
    for i, (name, value) in enumerate(items):
        y = top + i * row
        w = max(0.0, value or 0.0) * scale
        body.append(
            f"<g><title>{_e(name)}: {_e(fmt(value, percent))} {_e(value_label)}</title>"
            f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{_e(_clip_text(name, 20))}</text>'
            f'<rect x="{left}" y="{y + 4}" width="{_num(w)}" height="{row - 8}" rx="3" '
            f'fill="{_e(color)}"/>'
            f'<text x="{_num(left + w + 6)}" y="{y + 16}" class="value">'
            f"{_e(fmt(value, percent))}</text></g>"
        )
    body.append(f'<text x="{left}" y="{height - 6}" class="axis-label">{_e(value_label)}</text>')
    desc = "; ".join(f"{name}: {fmt(v, percent)}" for name, v in items) or "no data"
    return _figure(_svg(width, height, title, desc, "".join(body), "bars"))


def stacked_bar(parts: Sequence[tuple[str, float, str]], *, title: str, unit: str) -> SafeString:
    """One horizontal bar split into parts (name, value, colour), e.g. clips by state."""
    width, height, pad = 1000, 44, 2
    total = sum(v for _, v, _ in parts)
    body, x = [], 0.0
    for name, value, color in parts:
        if not value:
            continue
        w = (width - 2 * pad) * value / total
        share = f"{100 * value / total:.1f}%"
        body.append(
            f'<rect x="{_num(pad + x)}" y="6" width="{_num(w)}" height="32" fill="{_e(color)}">'
            f"<title>{_e(name)}: {_e(fmt(value))} {_e(unit)} ({share})</title></rect>"
        )
        if w > 64:
            body.append(
                f'<text x="{_num(pad + x + w / 2)}" y="27" text-anchor="middle" '
                f'class="on-bar">{share}</text>'
            )
        x += w
    if not total:
        body.append(f'<rect x="{pad}" y="6" width="{width - 2 * pad}" height="32" fill="{EMPTY}"/>')
    desc = f"{fmt(total)} {unit}: " + "; ".join(f"{n} {fmt(v)}" for n, v, _ in parts)
    items = [(f"{name} · {fmt(value)}", color) for name, value, color in parts]
    return _figure(_svg(width, height, title, desc, "".join(body), "stacked"), legend(items))


def stacked_columns(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], str]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    tick_every: int = 5,
) -> SafeString:
    """Vertical columns per category, each stacked by series (name, values, colour)."""
    width, height, left, right, top, bottom = 600, 250, 60, 26, 12, 46
    totals = [sum(s[1][i] for s in series) for i in range(len(categories))]
    ticks = nice_ticks(0, max(totals + [1]), 4)
    y_max = ticks[-1]
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(1, len(categories))

    def y(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    body = _y_grid(ticks, y, left, width - right, lambda t: _tick(t, False))
    for i, cat in enumerate(categories):
        base = 0.0
        x = left + i * slot + slot * 0.15
        for name, values, color in series:
            v = values[i]
            if not v:
                continue
            body.append(
                f'<rect x="{_num(x)}" y="{_num(y(base + v))}" width="{_num(slot * 0.7)}" '
                f'height="{_num(y(base) - y(base + v))}" fill="{_e(color)}">'
                f"<title>{_e(name)}, {_e(cat)}: {_e(fmt(v))}</title></rect>"
            )
            base += v
        if i % tick_every == 0 or i == len(categories) - 1:
            body.append(
                f'<text x="{_num(left + (i + 0.5) * slot)}" y="{height - bottom + 16}" '
                f'text-anchor="middle">{_e(cat)}</text>'
            )
    body.append(_axis_labels(width, height, left, top, plot_h, x_label, y_label))
    desc = f"{y_label} per {x_label}: " + "; ".join(
        f"{name} {fmt(sum(values))} in total" for name, values, _ in series
    )
    items = [(name, color) for name, _, color in series]
    return _figure(_svg(width, height, title, desc, "".join(body), "columns"), legend(items))


def _y_grid(ticks, y: Callable[[float], float], x0: float, x1: float, label) -> list[str]:
    out = []
    for t in ticks:
        out.append(
            f'<line x1="{x0}" x2="{x1}" y1="{_num(y(t))}" y2="{_num(y(t))}" class="grid"/>'
            f'<text x="{x0 - 6}" y="{_num(y(t) + 4)}" text-anchor="end">{_e(label(t))}</text>'
        )
    return out


def _axis_labels(width, height, left, top, plot_h, x_label: str, y_label: str) -> str:
    cy = top + plot_h / 2
    return (
        f'<text x="{_num(left + (width - left) / 2)}" y="{height - 6}" text-anchor="middle" '
        f'class="axis-label">{_e(x_label)}</text>'
        f'<text x="14" y="{_num(cy)}" text-anchor="middle" class="axis-label" '
        f'transform="rotate(-90 14 {_num(cy)})">{_e(y_label)}</text>'
    )


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]
    color: str = ACCENT
    dashed: bool = False
    markers: bool = True
    labels: list[str] = field(default_factory=list)  # per point, for the hover titles


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_range: tuple[float, float] | None = None,
    percent: bool = False,
    x_ticks: Sequence[tuple[float, str]] | None = None,
    guides: Sequence[tuple[float, str]] = (),
) -> SafeString:
    """Lines over a shared x axis; ``guides`` are labelled horizontal reference lines."""
    width, height, left, right, top, bottom = 600, 260, 72, 22, 14, 46
    xs = [x for s in series for x, _ in s.points] or [0.0, 1.0]
    ys = [v for s in series for _, v in s.points] + [g for g, _ in guides]
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    # A little air at both ends keeps the first and last points off the axes.
    pad = 0.03 * (x_hi - x_lo)
    x_lo, x_hi = x_lo - pad, x_hi + pad
    lo, hi = y_range if y_range else (min(ys + [0.0]), max(ys + [1e-9]))
    y_ticks = nice_ticks(lo, hi, 4) if not y_range else nice_ticks(*y_range, 4)
    lo, hi = y_ticks[0], y_ticks[-1]
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(v: float) -> float:
        return left + plot_w * (v - x_lo) / (x_hi - x_lo)

    def py(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    body = _y_grid(y_ticks, py, left, width - right, lambda t: _tick(t, percent))
    ticks = x_ticks or [
        (t, _tick(t, False)) for t in nice_ticks(x_lo, x_hi, 6) if x_lo <= t <= x_hi
    ]
    for t, text in ticks:
        body.append(
            f'<text x="{_num(px(t))}" y="{height - bottom + 16}" text-anchor="middle">'
            f"{_e(text)}</text>"
        )
    for value, text in guides:
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_num(py(value))}" '
            f'y2="{_num(py(value))}" class="guide"/>'
            f'<text x="{width - right - 4}" y="{_num(py(value) - 4)}" text-anchor="end" '
            f'class="guide-label">{_e(text)}</text>'
        )
    for s in series:
        if not s.points:
            continue
        pts = " ".join(f"{_num(px(x))},{_num(py(v))}" for x, v in s.points)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        body.append(
            f'<polyline points="{pts}" fill="none" stroke="{_e(s.color)}" stroke-width="2"'
            f"{dash}><title>{_e(s.name)}</title></polyline>"
        )
        if s.markers:
            for i, (x, v) in enumerate(s.points):
                where = s.labels[i] if i < len(s.labels) else f"{x_label} {fmt(x)}"
                body.append(
                    f'<circle cx="{_num(px(x))}" cy="{_num(py(v))}" r="3.2" fill="{_e(s.color)}">'
                    f"<title>{_e(s.name)}, {_e(where)}: {_e(fmt(v, percent))}</title></circle>"
                )
    body.append(_axis_labels(width, height, left, top, plot_h, x_label, y_label))
    desc = f"{y_label} against {x_label}. " + "; ".join(
        f"{s.name}: {len(s.points)} points, last {fmt(s.points[-1][1], percent)}"
        for s in series
        if s.points
    )
    items = [(s.name, s.color) for s in series if s.points]
    dashed = [s.name for s in series if s.dashed]
    return _figure(_svg(width, height, title, desc, "".join(body), "lines"), legend(items, dashed))


def _mix(color: str, share: float) -> str:
    """``color`` blended over the empty-cell colour: share 0 -> empty, 1 -> full colour."""
    a = [int(EMPTY[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(a, b, strict=True))


def heatmap(
    labels: Sequence[str],
    matrix: Sequence[Sequence[float]],
    *,
    title: str,
    x_label: str = "predicted",
    y_label: str = "true",
    full_names: Sequence[str] | None = None,
) -> SafeString:
    """A square matrix (rows: true class, columns: predicted) coloured by row share, so a
    rare class's errors show as clearly as a frequent one's; cells print their counts."""
    n = len(labels)
    full = list(full_names or labels)
    cell = max(14, min(40, 440 // max(1, n)))
    left, top = 130, 18
    width = left + n * cell + 16
    height = top + n * cell + 96
    body = []
    for i in range(n):
        row_total = sum(matrix[i]) or 1
        cy = top + i * cell
        body.append(
            f'<text x="{left - 6}" y="{_num(cy + cell / 2 + 4)}" text-anchor="end">'
            f"<title>{_e(full[i])}</title>{_e(_clip_text(labels[i], 14))}</text>"
        )
        for j in range(n):
            v = matrix[i][j]
            share = v / row_total
            color = OK if i == j else BAD
            fill = _mix(color, 0.2 + 0.8 * share) if v else EMPTY
            body.append(
                f'<rect x="{left + j * cell}" y="{cy}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{fill}"><title>true {_e(full[i])}, '
                f"predicted {_e(full[j])}: {_e(fmt(v))} ({100 * share:.0f}% of the row)</title>"
                "</rect>"
            )
            if cell >= 22 and v:
                body.append(
                    f'<text x="{_num(left + j * cell + cell / 2)}" y="{_num(cy + cell / 2 + 4)}"'
                    f' text-anchor="middle" class="cell">{_e(fmt(v))}</text>'
                )
    base = top + n * cell
    for j in range(n):
        x = left + j * cell + cell / 2
        body.append(
            f'<text x="{_num(x)}" y="{base + 10}" text-anchor="end" '
            f'transform="rotate(-50 {_num(x)} {base + 10})"><title>{_e(full[j])}</title>'
            f"{_e(_clip_text(labels[j], 14))}</text>"
        )
    body.append(
        f'<text x="{left + n * cell / 2}" y="{height - 4}" text-anchor="middle" '
        f'class="axis-label">{_e(x_label)}</text>'
        f'<text x="8" y="{top - 6}" class="axis-label">{_e(y_label)} ↓</text>'
    )
    correct = sum(matrix[i][i] for i in range(n))
    total = sum(sum(r) for r in matrix)
    desc = f"{n} classes; {fmt(correct)} of {fmt(total)} on the diagonal. " + "; ".join(
        f"{full[i]}: {fmt(matrix[i][i])} of {fmt(sum(matrix[i]))} right" for i in range(n)
    )
    return _figure(_svg(width, height, title, desc, "".join(body), "heatmap"))


def tree_bars(rows: Sequence[dict], *, title: str, unit: str = "clips") -> SafeString:
    """The label tree as an indented bar list. Each row: ``name``, ``path``, ``depth``,
    ``total`` (the label and its descendants) and ``direct`` (the label itself): the pale
    bar is the subtree, the solid part the label's own clips."""
    width, left, right, row, indent = 560, 200, 56, 22, 14
    height = 8 + row * max(1, len(rows))
    top_value = max([r["total"] for r in rows] + [1])
    scale = (width - left - right) / top_value
    body = []
    for i, r in enumerate(rows):
        y = 4 + i * row
        name_x = 4 + indent * min(r["depth"], 8)
        total_w, direct_w = r["total"] * scale, r["direct"] * scale
        cls = ' class="deprecated"' if r.get("deprecated") else ""
        body.append(
            f"<g{cls}><title>{_e(r['path'])}: {_e(fmt(r['total']))} {_e(unit)} with this label "
            f"or a narrower one, {_e(fmt(r['direct']))} with this label itself</title>"
            f'<text x="{name_x}" y="{y + 15}">'
            f"{_e(_clip_text(r['name'], max(6, 20 - 2 * r['depth'])))}</text>"
            f'<rect x="{left}" y="{y + 3}" width="{_num(total_w)}" height="{row - 6}" rx="3" '
            f'fill="{ACCENT}" fill-opacity="0.35"/>'
            f'<rect x="{left}" y="{y + 3}" width="{_num(direct_w)}" height="{row - 6}" rx="3" '
            f'fill="{ACCENT}"/>'
            f'<text x="{_num(left + total_w + 6)}" y="{y + 15}" class="value">'
            f"{_e(fmt(r['total']))}</text></g>"
        )
    desc = "; ".join(f"{r['path']}: {fmt(r['total'])}" for r in rows) or "no labels"
    items = [
        (f"{unit} with the label or a narrower one", ACCENT + "59"),
        ("the label itself", ACCENT),
    ]
    return _figure(_svg(width, height, title, desc, "".join(body), "tree"), legend(items))
