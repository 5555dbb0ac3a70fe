"""Inline SVG charts for the report: numbers in, markup out. No text from devices goes in here
except through ``escape``, so a chart can never carry markup. Inline SVG needs no image request,
so the report's Content-Security-Policy can forbid every load."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from markupsafe import Markup, escape

from fleet.text import size, visible

Point = tuple[float, float]
REPORT_KEEPS = "\n\t"  # the report shows device text with these as they are; see capture.visible


def _label(text: str) -> Markup:
    return escape(visible(text, keep=REPORT_KEEPS))


def _scale(
    points: Sequence[Point], width: float, height: float, pad: tuple[float, float, float, float]
) -> list[tuple[float, float]]:
    """Points to pixels inside the padding (top, right, bottom, left)."""
    top, right, bottom, left = pad
    ts = [p[0] for p in points]
    vs = [p[1] for p in points]
    t0, t1 = min(ts), max(ts)
    v0, v1 = min(vs), max(vs)
    if v1 == v0:
        v0, v1 = v0 - 1, v1 + 1
    tspan = (t1 - t0) or 1.0
    return [
        (
            left + (t - t0) / tspan * (width - left - right),
            height - bottom - (v - v0) / (v1 - v0) * (height - top - bottom),
        )
        for t, v in points
    ]


def sparkline(points: Sequence[Point], width: int = 80, height: int = 22, label: str = "") -> Markup:
    """A tiny trend line; empty when there is nothing to draw."""
    if len(points) < 2:
        return Markup("")
    xy = _scale(points, width, height, (2, 3, 2, 2))
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    last_x, last_y = xy[-1]
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' aria-label="{_label(label)}"><polyline points="{path}" fill="none" stroke="#2563eb"'
        f' stroke-width="1.5"/><circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2" fill="#2563eb"/></svg>'
    )


def _labels(lo: float, hi: float, fmt: Callable[[float, int], str]) -> tuple[str, str]:
    """Axis labels with just enough decimals that the top and bottom ones differ."""
    for digits in (1, 2, 3):
        a, b = fmt(lo, digits), fmt(hi, digits)
        if a != b:
            return a, b
    return fmt(lo, 3), fmt(hi, 3)


def _clock(t0: float, t1: float) -> tuple[str, str]:
    """Start and end of the time axis: clock times within a day, dates beyond."""
    style = "%H:%M:%SZ" if t1 - t0 < 6 * 3600 else "%m-%d %H:%MZ" if t1 - t0 < 30 * 86400 else "%Y-%m-%d"
    return tuple(datetime.fromtimestamp(t, UTC).strftime(style) for t in (t0, t1))  # type: ignore[return-value]


def line_chart(
    points: Sequence[Point],
    *,
    title: str,
    unit: str = "bytes",
    width: int = 640,
    height: int = 170,
) -> Markup:
    """A labelled line chart of one series: min and max on the value axis, start and end times."""
    if len(points) < 2:
        return Markup("")
    pad = (10.0, 10.0, 22.0, 70.0)
    xy = _scale(points, width, height, pad)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    base = height - pad[2]
    area = f"{xy[0][0]:.1f},{base:.1f} {path} {xy[-1][0]:.1f},{base:.1f}"
    vs = [p[1] for p in points]
    fmt: Callable[[float, int], str] = _bytes if unit == "bytes" else _plain
    lo, hi = _labels(min(vs), max(vs), fmt)
    start, end = _clock(points[0][0], points[-1][0])
    grey = 'font-size="11" fill="#475569"'
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{_label(title)}">'
        f'<rect x="{pad[3]}" y="{pad[0]}" width="{width - pad[1] - pad[3]}" height="{base - pad[0]}"'
        f' fill="#f8fafc" stroke="#e2e8f0"/>'
        f'<polygon points="{area}" fill="#fee2e2"/>'
        f'<polyline points="{path}" fill="none" stroke="#dc2626" stroke-width="2"/>'
        f'<text x="{pad[3] - 6}" y="{pad[0] + 10}" {grey} text-anchor="end">{escape(hi)}</text>'
        f'<text x="{pad[3] - 6}" y="{base}" {grey} text-anchor="end">{escape(lo)}</text>'
        f'<text x="{pad[3]}" y="{height - 6}" {grey}>{escape(start)}</text>'
        f'<text x="{width - pad[1]}" y="{height - 6}" {grey} text-anchor="end">{escape(end)}</text>'
        "</svg>"
    )


def _plain(value: float, digits: int = 1) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.{digits}f}"


def _bytes(value: float, digits: int) -> str:
    return size(value, digits, precise=True)
