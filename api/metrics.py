"""Prometheus metrics of one API application, in a registry of its own (no process-wide state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from api.service_metrics import ServiceMetrics


class ApiMetrics:
    """Request latency, auth failures, live-stream clients and events."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # The whole service's queue, rules and dead letters, read from the database at each scrape.
        self.service = ServiceMetrics(registry=self.registry)
        self.requests = Histogram(
            "telecare_api_request_seconds", "HTTP request duration by route and status",
            ["method", "route", "status"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.auth_failures = Counter("telecare_api_auth_failures_total", "Refused authentications", ["reason"],
                                     registry=self.registry)
        self.stream_clients = Gauge("telecare_api_stream_clients", "Connected live-queue clients",
                                    registry=self.registry)
        self.stream_events = Counter("telecare_api_stream_events_total", "Alert changes sent to live clients",
                                     registry=self.registry)
        self.stream_dropped = Counter("telecare_api_stream_overflows_total",
                                      "Live clients cut off because they fell too far behind",
                                      registry=self.registry)
        self.stream_ended = Counter("telecare_api_stream_ended_total",
                                    "Live streams ended because their token was revoked or expired or access changed",
                                    registry=self.registry)
        self.feed_lag = Histogram(
            "telecare_api_feed_lag_seconds", "From an alert change's commit to its fan-out to live clients",
            registry=self.registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
        )
