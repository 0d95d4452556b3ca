"""Prometheus metrics of one ingest worker, registered on a registry the caller owns."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class IngestMetrics:
    """Counters and histograms for received, stored, duplicate and dead-lettered messages."""

    received: Counter
    stored: Counter
    duplicates: Counter
    redeliveries_skipped: Counter
    ignored: Counter
    dead_letters: Counter
    batch_size: Histogram
    commit_seconds: Histogram
    consumer_lag_seconds: Histogram
    queue_depth: Gauge
    db_failures: Counter
    session_takeovers: Counter

    @classmethod
    def create(cls, *, registry: CollectorRegistry) -> IngestMetrics:
        """Register every ingest metric on `registry`."""
        return cls(
            received=Counter("telecare_ingest_messages_received", "MQTT messages received", registry=registry),
            stored=Counter("telecare_ingest_events_stored", "events committed", registry=registry),
            duplicates=Counter(
                "telecare_ingest_duplicates_dropped", "events already stored (redeliveries)", registry=registry
            ),
            redeliveries_skipped=Counter(
                "telecare_ingest_redeliveries_skipped",
                "redelivered messages recognised as already committed", registry=registry,
            ),
            ignored=Counter(
                "telecare_ingest_messages_without_events",
                "valid messages that changed nothing (repeated state, registry updates)", registry=registry,
            ),
            dead_letters=Counter(
                "telecare_ingest_dead_letters", "messages dead-lettered", ["reason"], registry=registry
            ),
            batch_size=Histogram(
                "telecare_ingest_batch_size", "messages per committed batch",
                buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000), registry=registry,
            ),
            commit_seconds=Histogram(
                "telecare_ingest_commit_seconds", "time to write and commit one batch",
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=registry,
            ),
            consumer_lag_seconds=Histogram(
                "telecare_ingest_consumer_lag_seconds", "from arrival at the worker to commit",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=registry,
            ),
            queue_depth=Gauge("telecare_ingest_queue_depth", "messages received, not yet processed",
                              registry=registry),
            db_failures=Counter("telecare_ingest_db_failures", "batches retried after a database error",
                                registry=registry),
            session_takeovers=Counter(
                "telecare_ingest_session_takeovers",
                "times another MQTT client took over this worker's session (its messages bypassed the database)",
                registry=registry,
            ),
        )
