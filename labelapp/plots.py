"""Charts as inline SVG, drawn on the server: no JavaScript, no image files, no plotting library.

Every function returns a ``<figure>`` (SafeString) holding an ``<svg role="img">`` with a
``<title>`` and a ``<desc>`` that states the figures in words, a ``<title>`` on each mark
(shown on hover, read by screen readers) and, where there are several series, an HTML
legend that wraps on narrow screens. Every string that reaches the markup goes through
``esc``: label names come from users. Sizes are in viewBox units; CSS (``.plot`` in
earmark.css) scales the drawing to its card and sets the text colours.

The shared pieces (palette, formatting, ticks, escaping, wrappers, legend, grid) live in
``labelapp.plots_primitives``; the palette and ``fmt`` are importable from here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.safestring import SafeString

from labelapp.plots_primitives import (  # noqa: F401 (the palette and fmt: re-exported)
    ACCENT,
    BAD,
    EMPTY,
    GRID,
    MUTED,
    OK,
    PALETTE,
    TEXT,
    WARN,
    axis_labels,
    clip_text,
    esc,
    figure,
    fmt,
    legend,
    mix,
    nice_ticks,
    num,
    svg,
    tick_label,
    y_grid,
)


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    value_label: str,
    color: str = ACCENT,
    percent: bool = False,
    max_value: float | None = None,
    notes: Sequence[str] | None = None,
) -> SafeString:
    """Horizontal bars, one per (name, value), names on the left, values at the bar ends;
    `notes` (one per item) follow their values ("96.5% · 14 clips")."""
    notes = list(notes) if notes is not None else [""] * len(items)
    # Names up to 36 characters whole ("maria.fernanda.gonzalez-rodriguez"): the name column
    # widens for them, the chart with it.
    chars = min(36, max([20, *(len(name) for name, _ in items)]))
    left = 170 + 7 * (chars - 20)
    right = 60 if not any(notes) else 130
    width, row, top = left + 310 + right, 24, 8
    height = top + row * max(1, len(items)) + 26
    top_value = max_value or max([v for _, v in items] + [1e-9])
    scale = (width - left - right) / top_value
    body = []
    for i, ((name, value), note) in enumerate(zip(items, notes, strict=True)):
        y = top + i * row
        w = max(0.0, value or 0.0) * scale
        said = fmt(value, percent) + (f" · {note}" if note else "")
        body.append(
            f"<g><title>{esc(name)}: {esc(said)} {esc(value_label)}</title>"
            f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">'
            f"{esc(clip_text(name, chars))}</text>"
            f'<rect x="{left}" y="{y + 4}" width="{num(w)}" height="{row - 8}" rx="3" '
            f'fill="{esc(color)}"/>'
            f'<text x="{num(left + w + 6)}" y="{y + 16}" class="value">'
            f"{esc(said)}</text></g>"
        )
    body.append(f'<text x="{left}" y="{height - 6}" class="axis-label">{esc(value_label)}</text>')
    desc = (
        "; ".join(
            f"{name}: {fmt(v, percent)}" + (f" ({note})" if note else "")
            for (name, v), note in zip(items, notes, strict=True)
        )
        or "no data"
    )
    return figure(svg(width, height, title, desc, "".join(body), "bars"))


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
            f'<rect x="{num(pad + x)}" y="6" width="{num(w)}" height="32" fill="{esc(color)}">'
            f"<title>{esc(name)}: {esc(fmt(value))} {esc(unit)} ({share})</title></rect>"
        )
        if w > 64:
            # Named where it fits: a bare "96.0%" read as "96% done" when it was the share
            # still unlabeled.
            text = f"{name} {share}" if w > 12 + 8 * len(f"{name} {share}") else share
            body.append(
                f'<text x="{num(pad + x + w / 2)}" y="27" text-anchor="middle" '
                f'class="on-bar">{esc(text)}</text>'
            )
        x += w
    if not total:
        body.append(f'<rect x="{pad}" y="6" width="{width - 2 * pad}" height="32" fill="{EMPTY}"/>')
    desc = f"{fmt(total)} {unit}: " + "; ".join(f"{n} {fmt(v)}" for n, v, _ in parts)
    items = [(f"{name} · {fmt(value)}", color) for name, value, color in parts]
    return figure(svg(width, height, title, desc, "".join(body), "stacked"), legend(items))


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

    body = y_grid(ticks, y, left, width - right, lambda t: tick_label(t, False))
    for i, cat in enumerate(categories):
        base = 0.0
        x = left + i * slot + slot * 0.15
        for name, values, color in series:
            v = values[i]
            if not v:
                continue
            body.append(
                f'<rect x="{num(x)}" y="{num(y(base + v))}" width="{num(slot * 0.7)}" '
                f'height="{num(y(base) - y(base + v))}" fill="{esc(color)}">'
                f"<title>{esc(name)}, {esc(cat)}: {esc(fmt(v))}</title></rect>"
            )
            base += v
        if i % tick_every == 0 or i == len(categories) - 1:
            body.append(
                f'<text x="{num(left + (i + 0.5) * slot)}" y="{height - bottom + 16}" '
                f'text-anchor="middle">{esc(cat)}</text>'
            )
    body.append(axis_labels(width, height, left, top, plot_h, x_label, y_label))
    desc = f"{y_label} per {x_label}: " + "; ".join(
        f"{name} {fmt(sum(values))} in total" for name, values, _ in series
    )
    items = [(name, color) for name, _, color in series]
    return figure(svg(width, height, title, desc, "".join(body), "columns"), legend(items))


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
    x_whole: bool = False,
) -> SafeString:
    """Lines over a shared x axis; ``guides`` are labelled horizontal reference lines;
    ``x_whole``: x counts things (labels), so its ticks are whole numbers (two versions at 50
    labels read 49, 49.5, 50, 50.5, 51)."""
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

    body = y_grid(y_ticks, py, left, width - right, lambda t: tick_label(t, percent))
    ticks = x_ticks or [
        (t, tick_label(t, False))
        for t in nice_ticks(x_lo, x_hi, 6)
        if x_lo <= t <= x_hi and not (x_whole and not float(t).is_integer())
    ]
    for t, text in ticks:
        body.append(
            f'<text x="{num(px(t))}" y="{height - bottom + 16}" text-anchor="middle">'
            f"{esc(text)}</text>"
        )
    for value, text in guides:
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{num(py(value))}" '
            f'y2="{num(py(value))}" class="guide"/>'
            f'<text x="{width - right - 4}" y="{num(py(value) - 4)}" text-anchor="end" '
            f'class="guide-label">{esc(text)}</text>'
        )
    for s in series:
        if not s.points:
            continue
        pts = " ".join(f"{num(px(x))},{num(py(v))}" for x, v in s.points)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        body.append(
            f'<polyline points="{pts}" fill="none" stroke="{esc(s.color)}" stroke-width="2"'
            f"{dash}><title>{esc(s.name)}</title></polyline>"
        )
        if s.markers:
            for i, (x, v) in enumerate(s.points):
                where = s.labels[i] if i < len(s.labels) else f"{x_label} {fmt(x)}"
                body.append(
                    f'<circle cx="{num(px(x))}" cy="{num(py(v))}" r="3.2" fill="{esc(s.color)}">'
                    f"<title>{esc(s.name)}, {esc(where)}: {esc(fmt(v, percent))}</title></circle>"
                )
    body.append(axis_labels(width, height, left, top, plot_h, x_label, y_label))
    desc = f"{y_label} against {x_label}. " + "; ".join(
        f"{s.name}: {len(s.points)} points, last {fmt(s.points[-1][1], percent)}"
        for s in series
        if s.points
    )
    items = [(s.name, s.color) for s in series if s.points]
    dashed = [s.name for s in series if s.dashed]
    return figure(svg(width, height, title, desc, "".join(body), "lines"), legend(items, dashed))


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
            f'<text x="{left - 6}" y="{num(cy + cell / 2 + 4)}" text-anchor="end">'
            f"<title>{esc(full[i])}</title>{esc(clip_text(labels[i], 14))}</text>"
        )
        for j in range(n):
            v = matrix[i][j]
            share = v / row_total
            color = OK if i == j else BAD
            fill = mix(color, 0.2 + 0.8 * share) if v else EMPTY
            body.append(
                f'<rect x="{left + j * cell}" y="{cy}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{fill}"><title>true {esc(full[i])}, '
                f"predicted {esc(full[j])}: {esc(fmt(v))} ({100 * share:.0f}% of the row)</title>"
                "</rect>"
            )
            if cell >= 22 and v:
                body.append(
                    f'<text x="{num(left + j * cell + cell / 2)}" y="{num(cy + cell / 2 + 4)}"'
                    f' text-anchor="middle" class="cell">{esc(fmt(v))}</text>'
                )
    base = top + n * cell
    for j in range(n):
        x = left + j * cell + cell / 2
        body.append(
            f'<text x="{num(x)}" y="{base + 10}" text-anchor="end" '
            f'transform="rotate(-50 {num(x)} {base + 10})"><title>{esc(full[j])}</title>'
            f"{esc(clip_text(labels[j], 14))}</text>"
        )
    body.append(
        f'<text x="{left + n * cell / 2}" y="{height - 4}" text-anchor="middle" '
        f'class="axis-label">{esc(x_label)}</text>'
        f'<text x="8" y="{top - 6}" class="axis-label">{esc(y_label)} ↓</text>'
    )
    correct = sum(matrix[i][i] for i in range(n))
    total = sum(sum(r) for r in matrix)
    desc = f"{n} classes; {fmt(correct)} of {fmt(total)} on the diagonal. " + "; ".join(
        f"{full[i]}: {fmt(matrix[i][i])} of {fmt(sum(matrix[i]))} right" for i in range(n)
    )
    return figure(svg(width, height, title, desc, "".join(body), "heatmap"))


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
            f"<g{cls}><title>{esc(r['path'])}: {esc(fmt(r['total']))} {esc(unit)} with this label "
            f"or a narrower one, {esc(fmt(r['direct']))} with this label itself</title>"
            f'<text x="{name_x}" y="{y + 15}">'
            f"{esc(clip_text(r['name'], max(6, 20 - 2 * r['depth'])))}</text>"
            f'<rect x="{left}" y="{y + 3}" width="{num(total_w)}" height="{row - 6}" rx="3" '
            f'fill="{ACCENT}" fill-opacity="0.35"/>'
            f'<rect x="{left}" y="{y + 3}" width="{num(direct_w)}" height="{row - 6}" rx="3" '
            f'fill="{ACCENT}"/>'
            f'<text x="{num(left + total_w + 6)}" y="{y + 15}" class="value">'
            f"{esc(fmt(r['total']))}</text></g>"
        )
    desc = "; ".join(f"{r['path']}: {fmt(r['total'])}" for r in rows) or "no labels"
    items = [
        (f"{unit} with the label or a narrower one", ACCENT + "59"),
        ("the label itself", ACCENT),
    ]
    return figure(svg(width, height, title, desc, "".join(body), "tree"), legend(items))
