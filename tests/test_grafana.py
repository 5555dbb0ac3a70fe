"""deploy/grafana/fleet.json: the dashboard's queries name only metrics `fleet export` writes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fleet.render.openmetrics import METRIC_NAMES

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "fleet.json"
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
}


def _queries(node: Any) -> Iterator[str]:
    """Every PromQL expression of the dashboard: panel targets and template variable queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition", "query") and isinstance(value, str):
                yield value
            else:
                yield from _queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from _queries(item)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or Grafana's label_values(METRIC, LABEL)) reads."""
    names = set(re.findall(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,", expr))
    expr = re.sub(r"label_values\([^)]*\)", " ", expr)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr
    )  # label lists
    expr = re.sub(r"\$\w+|\[[^\]]*\]", " ", expr)  # variables, range selectors
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", expr):
        if not m.group(2) and m.group(1) not in KEYWORDS:  # not a function call, not a keyword
            names.add(m.group(1))
    return names


def test_metric_names_parser_sees_metrics_not_functions_or_labels() -> None:
    expr = 'sum by (kind) (fleet_a{device=~"$device"}) and on (device) fleet_b >= 0.5 or vector(0)'
    assert metric_names(expr) == {"fleet_a", "fleet_b"}
    assert metric_names("label_values(fleet_c, device)") == {"fleet_c"}
    assert metric_names("time() - max(fleet_d)") == {"fleet_d"}


def test_dashboard_queries_only_exported_metrics() -> None:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = list(_queries(doc))
    assert len(queries) >= 8
    used = set().union(*(metric_names(q) for q in queries))
    assert used, queries
    assert used <= set(METRIC_NAMES), sorted(used - set(METRIC_NAMES))
    # the panels the issue asks for: top devices by score, up/down by status, forecasts, findings
    for name in (
        "fleet_device_leak_score",
        "fleet_device_up",
        "fleet_device_memory_exhausted_seconds",
        "fleet_device_findings",
    ):
        assert name in used
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)) and all(p.get("title") and p.get("targets") for p in doc["panels"])
