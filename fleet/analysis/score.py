"""Scores in 0..1: deterministic, and monotone in the strength of the evidence.

A finding's score sits in the band of its severity, so every medium or high finding outranks every
low or info one; inside the band it grows with Kendall's tau and with how far the growth cleared
the noise threshold. A process or device takes its strongest finding and lets the others fill
the rest of that band, so many small hints never outweigh one clear leak.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

BANDS = {"high": (0.75, 1.0), "medium": (0.5, 0.75), "low": (0.2, 0.45), "info": (0.01, 0.05)}


def finding_score(severity: str, tau: float = 1.0, growth_ratio: float = 1.0) -> float:
    """Score of one finding: its severity band, placed by tau and growth / threshold."""
    lo, hi = BANDS[severity]
    tau_part = min(1.0, max(0.0, abs(tau)))
    growth_part = min(1.0, max(0.0, math.log2(max(growth_ratio, 1.0)) / 6.0))
    strength = 0.5 * tau_part + 0.5 * growth_part
    # Stay strictly inside the band so a weaker severity can never tie a stronger one.
    return lo + (hi - lo) * 0.999 * strength


def combine(scores: Iterable[float]) -> float:
    """Strongest score first; the others only fill the rest of its severity band.

    So several low hints never outrank one medium finding, yet more evidence never lowers a score.
    """
    ordered = sorted(scores, reverse=True)
    if not ordered:
        return 0.0
    top = ordered[0]
    cap = next((hi for lo, hi in BANDS.values() if lo <= top <= hi), 1.0)
    rest = 1.0
    for s in ordered[1:]:
        rest *= 1.0 - s
    return min(1.0, max(0.0, top + (cap - top) * 0.999 * (1.0 - rest)))
