"""Inline SVG charts for the report: numbers in, markup out. No text from devices goes in here
except through ``escape``, so a chart can never carry markup."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

Point = tuple[float, float]


def _scale(points: Sequence[Point], width: float, height: float, pad: float) -> list[tuple[float, float]]:
    ts = [p[0] for p in points]
    vs = [p[1] for p in points]
    t0, t1 = min(ts), max(ts)
    v0, v1 = min(vs), max(vs)
    if v1 == v0:
        v0, v1 = v0 - 1, v1 + 1
    tspan = (t1 - t0) or 1.0
    return [
        (
            pad + (t - t0) / tspan * (width - 2 * pad),
            height - pad - (v - v0) / (v1 - v0) * (height - 2 * pad),
        )
        for t, v in points
    ]


def sparkline(points: Sequence[Point], width: int = 120, height: int = 28, label: str = "") -> Markup:
    """A tiny trend line; empty when there is nothing to draw."""
    if len(points) < 2:
        return Markup("")
    xy = _scale(points, width, height, 2)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    last_x, last_y = xy[-1]
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' aria-label="{escape(label)}"><polyline points="{path}" fill="none" stroke="#2563eb"'
        f' stroke-width="1.5"/><circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2" fill="#2563eb"/></svg>'
    )


def line_chart(
    points: Sequence[Point],
    *,
    title: str,
    unit: str = "bytes",
    width: int = 640,
    height: int = 180,
) -> Markup:
    """A labelled line chart (min/max on the axis, first/last time) for one series."""
    if len(points) < 2:
        return Markup("")
    pad = 28
    xy = _scale(points, width, height, pad)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    vs = [p[1] for p in points]
    hi, lo = max(vs), min(vs)
    fmt = human if unit == "bytes" else (lambda v: f"{v:g}")
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f'<rect x="{pad}" y="{pad / 2}" width="{width - 2 * pad}" height="{height - 1.5 * pad}"'
        f' fill="#f8fafc" stroke="#e2e8f0"/>'
        f'<polyline points="{path}" fill="none" stroke="#dc2626" stroke-width="2"/>'
        f'<text x="{pad + 4}" y="{pad + 4}" font-size="11" fill="#475569">{escape(fmt(hi))}</text>'
        f'<text x="{pad + 4}" y="{height - pad - 4}" font-size="11" fill="#475569">{escape(fmt(lo))}</text>'
        f'<text x="{width / 2}" y="{height - 6}" font-size="11" fill="#475569" text-anchor="middle">'
        f"{escape(title)}</text></svg>"
    )


def human(n: float) -> str:
    """Bytes as ``12.5 MiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
