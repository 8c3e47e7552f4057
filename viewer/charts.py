"""Small SVG charts drawn on the server: no JavaScript, no inline styles, readable by screen readers.

Each function returns `Markup` for a template: an `<svg role="img">` whose `aria-label` says
what the chart shows and sums it up in words (the numbers a sighted reader would take from
it), with a `<title>` on every point, bar and tick for the value under the pointer. Geometry
is in SVG attributes (`x`, `width`, `d`, ...), which the page's CSP allows, and colours come
from classes in `pages.css`. Every piece of text goes through `Markup.format`, which escapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup

__all__ = ["Series", "line_chart", "bar_chart", "token_timeline", "number", "duration"]

_W, _H = 320, 120  # the viewBox: CSS scales it to the column it sits in
_LEFT, _RIGHT, _TOP, _BOTTOM = 40, 6, 8, 18


@dataclass
class Series:
    """One line (or set of bars) of a chart: a label and one value per time (None: no data)."""

    label: str
    values: Sequence[float | None]


def number(value: float | None, unit: str = "") -> str:
    """A short figure: 1234 → "1.2k", 0.0042 → "0.0042"; None → "–"."""
    if value is None:
        return "–"
    if unit == "ms":
        return duration(value)
    if unit == "$":
        return f"${value:.4f}" if abs(value) < 1 else f"${value:,.2f}"
    magnitude = abs(value)
    if magnitude >= 1_000_000:
        text = f"{value / 1_000_000:.1f}M"
    elif magnitude >= 10_000:
        text = f"{value / 1000:.0f}k"
    elif magnitude >= 1000:
        text = f"{value / 1000:.1f}k"
    elif magnitude == int(magnitude):
        text = f"{int(value)}"
    elif magnitude >= 1:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2g}"
    return f"{text} {unit}".strip() if unit else text


def duration(ms: float | None) -> str:
    """Milliseconds as people read them: "850 ms", "1.25 s", "3 min 20 s"."""
    if ms is None:
        return "–"
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{int(minutes)} min {seconds:.0f} s"


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M")


def _frame(title: str, summary: str, body: list[Markup], y_max: float, unit: str, times: Sequence[datetime], css: str) -> Markup:
    parts = [
        Markup('<svg class="chart {}" viewBox="0 0 {} {}" role="img" aria-label="{}">').format(css, _W, _H, f"{title}. {summary}"),
        Markup("<title>{}</title>").format(title),
        Markup('<line class="chart-axis" x1="{0}" y1="{1}" x2="{2}" y2="{1}"/>').format(_LEFT, _H - _BOTTOM, _W - _RIGHT),
        Markup('<text class="chart-label" x="{}" y="{}" text-anchor="end">{}</text>').format(_LEFT - 4, _TOP + 8, number(y_max, unit)),
        Markup('<text class="chart-label" x="{}" y="{}" text-anchor="end">0</text>').format(_LEFT - 4, _H - _BOTTOM),
    ]
    if times:
        parts.append(Markup('<text class="chart-label" x="{}" y="{}">{}</text>').format(_LEFT, _H - 4, _when(times[0])))
        parts.append(Markup('<text class="chart-label" x="{}" y="{}" text-anchor="end">{}</text>').format(_W - _RIGHT, _H - 4, _when(times[-1])))
    parts.extend(body)
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _summary(series: Sequence[Series], unit: str) -> str:
    sentences = []
    for s in series:
        known = [v for v in s.values if v is not None]
        if not known:
            sentences.append(f"{s.label}: no data.")
            continue
        sentence = f"{s.label}: latest {number(known[-1], unit)}, highest {number(max(known), unit)}"
        if unit != "ms":  # a sum of latencies means nothing
            sentence += f", total {number(sum(known), unit)}"
        sentences.append(sentence + ".")
    return " ".join(sentences)


def _top(series: Sequence[Series]) -> float:
    return max((v for s in series for v in s.values if v is not None), default=0.0)


def _scale(series: Sequence[Series]) -> float:
    """The value drawn at the top of the plot (1 when every value is 0: a flat line at 0)."""
    top = _top(series)
    return top if top > 0 else 1.0


def line_chart(title: str, times: Sequence[datetime], series: Sequence[Series], unit: str = "") -> Markup:
    """Lines over time; a gap where a value is None. Classes `series-0`, `series-1`..."""
    top = _scale(series)
    n = len(times)
    step = (_W - _LEFT - _RIGHT) / max(n - 1, 1)
    height = _H - _TOP - _BOTTOM
    body: list[Markup] = []
    for index, s in enumerate(series):
        path, pen_down, points = [], False, []
        for i, value in enumerate(s.values[:n]):
            if value is None:
                pen_down = False
                continue
            x, y = _LEFT + i * step, _TOP + height * (1 - value / top)
            path.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
            pen_down = True
            points.append(
                Markup('<circle class="chart-point" cx="{:.1f}" cy="{:.1f}" r="2"><title>{}: {} at {}</title></circle>').format(
                    x, y, s.label, number(value, unit), _when(times[i])
                )
            )
        if path:
            body.append(Markup('<path class="chart-line series-{}" d="{}"/>').format(index, " ".join(path)))
        body.append(Markup('<g class="series-{}">').format(index) + Markup("").join(points) + Markup("</g>"))
    return _frame(title, _summary(series, unit), body, _top(series), unit, times, "chart-lines")


def bar_chart(title: str, times: Sequence[datetime], series: Sequence[Series], unit: str = "") -> Markup:
    """Bars over time, later series drawn over earlier ones (runs, then errors inside them)."""
    top = _scale(series)
    n = len(times)
    slot = (_W - _LEFT - _RIGHT) / max(n, 1)
    height = _H - _TOP - _BOTTOM
    body: list[Markup] = []
    for index, s in enumerate(series):
        bars = []
        for i, value in enumerate(s.values[:n]):
            if not value:
                continue
            h = max(height * value / top, 0.5)
            bars.append(
                Markup('<rect class="chart-bar series-{}" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}"><title>{}: {} at {}</title></rect>').format(
                    index, _LEFT + i * slot + 0.5, _TOP + height - h, max(slot - 1, 0.5), h, s.label, number(value, unit), _when(times[i])
                )
            )
        body.append(Markup("").join(bars))
    return _frame(title, _summary(series, unit), body, _top(series), unit, times, "chart-bars")


def token_timeline(tokens: Sequence[tuple[float, str]], span_ms: float, limit: int = 4000) -> Markup:
    """The stream replayed: one tick per token at its time since the run started, its text in a
    `<title>`; a tick's height grows with the wait before it, so stalls stand out."""
    span = max(span_ms, max((t for t, _ in tokens), default=0.0), 0.001)
    width, height, base = 1000, 60, 50
    shown = tokens[:limit]
    ticks = []
    previous = 0.0
    for offset, text in shown:
        gap = offset - previous
        previous = offset
        tall = 10 + min(30, 30 * gap / (span / 20)) if span else 10
        x = width * offset / span
        ticks.append(
            Markup('<line class="token-tick" x1="{0:.1f}" x2="{0:.1f}" y1="{1}" y2="{2:.1f}"><title>+{3}: {4}</title></line>').format(
                x, base, base - tall, duration(offset), text
            )
        )
    label = f"Token stream: {len(tokens)} tokens over {duration(span)}"
    if len(tokens) > limit:
        label += f" (first {limit} shown)"
    return (
        Markup('<svg class="token-timeline" viewBox="0 0 {} {}" preserveAspectRatio="none" role="img" aria-label="{}">').format(width, height, label)
        + Markup("<title>{}</title>").format(label)
        + Markup('<line class="chart-axis" x1="0" y1="{0}" x2="{1}" y2="{0}"/>').format(base, width)
        + Markup("").join(ticks)
        + Markup("</svg>")
    )
