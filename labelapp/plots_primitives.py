"""The building blocks of the charts in ``labelapp.plots``: the palette, number formatting,
round axis ticks, escaping, the ``<svg>`` and ``<figure>`` wrappers, the HTML legend, and
the y grid and axis titles that the charts with axes share.

Every string that reaches the markup goes through ``esc``: label names come from users.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

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


def esc(value: object) -> str:
    return escape(str(value))


def num(value: float) -> str:
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


def tick_label(value: float, percent: bool) -> str:
    """Axis ticks are round numbers: no decimals where none are needed (50%, not 50.0%)."""
    if percent and float(100 * value).is_integer():
        return f"{100 * value:.0f}%"
    return fmt(value, percent) if percent else f"{value:,.6g}".replace("-", "−")


def clip_text(text: str, limit: int) -> str:
    """`text` cut to `limit` characters. A label path keeps its end, the label's own name:
    "Bird/Songbird/Chirp up" and "Bird/Songbird/Chirp down" both read "Bird/Songbird/Chirp…"."""
    if len(text) <= limit:
        return text
    if "/" in text:
        return "…" + text[-(limit - 1) :]
    return text[: limit - 1] + "…"


def mix(color: str, share: float) -> str:
    """``color`` blended over the empty-cell colour: share 0 -> empty, 1 -> full colour."""
    a = [int(EMPTY[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(a, b, strict=True))


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


def svg(width: int, height: int, title: str, desc: str, body: str, kind: str) -> str:
    """The ``<svg role="img">`` around a chart's marks, labelled by its title and its
    description in words; the ids are unique per process, so several charts share a page."""
    uid = next(_ids)
    return (
        f'<svg class="plot plot-{kind}" viewBox="0 0 {width} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="plot{uid}t plot{uid}d">'
        f'<title id="plot{uid}t">{esc(title)}</title><desc id="plot{uid}d">{esc(desc)}</desc>'
        f"{body}</svg>"
    )


def legend(items: Sequence[tuple[str, str]], dashed: Sequence[str] = ()) -> str:
    """HTML legend: (name, colour) pairs as swatches that wrap with the text."""
    parts = []
    for name, color in items:
        style = "dashed" if name in dashed else "solid"
        parts.append(
            f'<li><span class="swatch swatch-{style}" style="--c:{esc(color)}"></span>'
            f"{esc(name)}</li>"
        )
    return f'<ul class="plot-legend">{"".join(parts)}</ul>' if parts else ""


def figure(markup: str, extra: str = "") -> SafeString:
    return mark_safe(f'<figure class="plot-fig">{markup}{extra}</figure>')  # noqa: S308 - escaped


def y_grid(ticks, y: Callable[[float], float], x0: float, x1: float, label) -> list[str]:
    """A horizontal grid line and a label left of the axis for each tick."""
    out = []
    for t in ticks:
        out.append(
            f'<line x1="{x0}" x2="{x1}" y1="{num(y(t))}" y2="{num(y(t))}" class="grid"/>'
            f'<text x="{x0 - 6}" y="{num(y(t) + 4)}" text-anchor="end">{esc(label(t))}</text>'
        )
    return out


def axis_labels(width, height, left, top, plot_h, x_label: str, y_label: str) -> str:
    """The x title centred under the plot and the y title rotated along its left edge."""
    cy = top + plot_h / 2
    return (
        f'<text x="{num(left + (width - left) / 2)}" y="{height - 6}" text-anchor="middle" '
        f'class="axis-label">{esc(x_label)}</text>'
        f'<text x="14" y="{num(cy)}" text-anchor="middle" class="axis-label" '
        f'transform="rotate(-90 14 {num(cy)})">{esc(y_label)}</text>'
    )
