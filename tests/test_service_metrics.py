"""Prometheus metrics an on-call engineer reads: the queue, the rules and ingest, and the Grafana dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import asyncpg
import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ingest.metrics import IngestMetrics
from tests.api_helpers import ApiServer, api_server, build_world, client, raise_alert  # noqa: F401 - fixture

DASHBOARDS = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "dashboards"
DASHBOARD = DASHBOARDS / "telecare-service.json"
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",),
             "summary": ("_count", "_sum", "")}


def _exposed_names(text: str) -> set[str]:
    """Sample names a scrape of `text` offers, from its TYPE lines (so families without samples count too)."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        base = name.removesuffix("_total") if kind == "counter" else name
        names.update(f"{base}{suffix}" for suffix in _SUFFIXES.get(kind, ("",)))
    return names


async def _scrape(server: ApiServer) -> str:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as anonymous:
        response = await anonymous.get("/metrics")
    assert response.status_code == 200
    return response.text


def _value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"{name}{labels} not in the scrape")


async def test_the_dashboard_queries_only_metrics_the_service_exposes(api_server: ApiServer) -> None:  # noqa: F811
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried = {name for panel in dashboard["panels"] for target in panel.get("targets", [])
               for name in re.findall(r"\b(telecare_[a-z0-9_]+)", target["expr"])}
    assert len(queried) >= 15
    exposed = _exposed_names(await _scrape(api_server))
    ingest_registry = CollectorRegistry()
    IngestMetrics.create(registry=ingest_registry)
    exposed |= _exposed_names(generate_latest(ingest_registry).decode())
    assert queried - exposed == set(), "the dashboard queries metrics nobody serves"
    # Every dashboard Grafana is provisioned with (the alarm-path one too) queries only served metrics.
    for other in sorted(DASHBOARDS.glob("*.json")):
        panels = json.loads(other.read_text(encoding="utf-8"))["panels"]
        names = {name for panel in panels for target in panel.get("targets", [])
                 for name in re.findall(r"\b(telecare_[a-z0-9_]+)", target.get("expr", ""))}
        assert names - exposed == set(), f"{other.name} queries metrics nobody serves"
    # Every area the issue asks for has a panel.
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("queue", "oldest unanswered", "60 s", "dead letters", "cursor lag", "timers", "lag"):
        assert topic in titles, topic


async def test_queue_metrics_follow_the_live_queue(db: asyncpg.Connection, unique: str,
                                                  api_server: ApiServer) -> None:  # noqa: F811
    world = await build_world(db=db, unique=unique)
    before = await _scrape(api_server)
    urgent = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a, condition="fall")
    await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a, condition="battery_low", priority=8)
    await db.execute("UPDATE alerts SET queued_at = now() - interval '90 seconds' WHERE alert_id = $1", urgent)
    during = await _scrape(api_server)
    assert _value(during, "telecare_queue_depth", priority="2") >= 1
    assert _value(during, "telecare_queue_depth", priority="8") >= 1
    assert _value(during, "telecare_queue_oldest_unanswered_seconds") >= 90
    assert _value(during, "telecare_alerts_raised_total", condition="fall") >= 1

    async with client(api_server, world, "operator_a") as operator:
        assert (await operator.post(f"/api/alerts/{urgent}/acknowledge")).status_code == 200
    after = await _scrape(api_server)
    # Answered after 90 s: counted as answered, within 180 s, not within 60 s.
    for le, grew in (("60.0", 0), ("180.0", 1), ("+Inf", 1)):
        delta = (_value(after, "telecare_alert_answer_seconds_bucket", le=le)
                 - _value(before, "telecare_alert_answer_seconds_bucket", le=le))
        assert delta == grew, (le, delta)
    assert _value(after, "telecare_rules_cursor_lag_events") >= 0
    assert _value(after, "telecare_events_stored_total") >= 0
