"""Service-wide Prometheus metrics, read from the database at each scrape of the API's /metrics.

The queue, the rules cursor, timers and dead letters live in tables shared by every worker, so the API
reports them for the whole service, whichever processes run ingest and rules. (Each ingest worker also
serves its own in-process metrics on TELECARE_METRICS_PORT: message rate, batch commit time, lag.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import asyncpg
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from api.queries import service_metrics as q

ANSWER_BUCKETS_S = (60, 180)  # the control-centre answer targets (docs/domain.md section 3)


@dataclass(slots=True)
class Snapshot:
    """What the last scrape read."""

    queue_by_priority: dict[int, int] = field(default_factory=dict)
    oldest_unanswered_s: float = 0.0
    answered_within: dict[int, int] = field(default_factory=dict)
    answered: int = 0
    answer_seconds: float = 0.0
    raised_by_condition: dict[str, int] = field(default_factory=dict)
    cursor_events_behind: int = 0
    cursor_lag_s: float = 0.0
    timers_due: int = 0
    timers_pending: int = 0
    dead_letters_pending: dict[str, int] = field(default_factory=dict)
    events_stored: int = 0


async def read_snapshot(*, connection: asyncpg.Connection) -> Snapshot:
    """Read every service-wide figure in one short transaction (a consistent view)."""
    async with connection.transaction(readonly=True):
        answers = await connection.fetchrow(q.ANSWER_TIMES)
        cursor = await connection.fetchrow(q.RULES_CURSOR)
        timers = await connection.fetchrow(q.TIMERS)
        assert answers is not None and cursor is not None and timers is not None  # aggregates always answer
        behind = int(cursor["events_behind"])
        return Snapshot(
            queue_by_priority={r["priority"]: r["alerts"] for r in await connection.fetch(q.QUEUE_BY_PRIORITY)},
            oldest_unanswered_s=float(await connection.fetchval(q.OLDEST_UNANSWERED_S)),
            answered_within={60: answers["within_60s"], 180: answers["within_180s"]},
            answered=answers["answered"], answer_seconds=answers["seconds"],
            raised_by_condition={r["condition"]: r["alerts"] for r in await connection.fetch(q.RAISED_BY_CONDITION)},
            cursor_events_behind=behind,
            # Caught up: no lag. Behind: how long since the cursor last moved (a stuck worker keeps growing).
            cursor_lag_s=float(cursor["since_moved_s"] or 0.0) if behind else 0.0,
            timers_due=timers["due"], timers_pending=timers["pending"],
            dead_letters_pending={r["reason"]: r["letters"] for r in await connection.fetch(q.DEAD_LETTERS_PENDING)},
            events_stored=int(await connection.fetchval(q.EVENTS_STORED)),
        )


class ServiceMetrics(Collector):
    """Exposes the latest snapshot; `refresh` reads a new one before each scrape."""

    def __init__(self, *, registry: CollectorRegistry) -> None:
        self.snapshot = Snapshot()
        registry.register(self)

    async def refresh(self, *, connection: asyncpg.Connection) -> None:
        """Read the database again."""
        self.snapshot = await read_snapshot(connection=connection)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        """The metric families Prometheus reads."""
        s = self.snapshot
        depth = GaugeMetricFamily("telecare_queue_depth", "open alarms on the live queue", labels=["priority"])
        for priority, alerts in sorted(s.queue_by_priority.items()):
            depth.add_metric([str(priority)], alerts)
        yield depth
        yield GaugeMetricFamily("telecare_queue_oldest_unanswered_seconds",
                                "how long the oldest alarm not yet acknowledged has waited (0: none)",
                                value=s.oldest_unanswered_s)
        buckets = [(str(float(limit)), s.answered_within.get(limit, 0)) for limit in ANSWER_BUCKETS_S]
        yield HistogramMetricFamily("telecare_alert_answer_seconds",
                                    "from queued to acknowledged, for every answered live alarm",
                                    buckets=[*buckets, ("+Inf", s.answered)], sum_value=s.answer_seconds)
        raised = CounterMetricFamily("telecare_alerts_raised", "live alarms raised", labels=["condition"])
        for condition, alerts in sorted(s.raised_by_condition.items()):
            raised.add_metric([condition], alerts)
        yield raised
        yield GaugeMetricFamily("telecare_rules_cursor_lag_events", "stored events the live rules have not read",
                                value=s.cursor_events_behind)
        yield GaugeMetricFamily("telecare_rules_cursor_lag_seconds",
                                "0 when the rules are caught up; otherwise seconds since their cursor last moved",
                                value=s.cursor_lag_s)
        yield GaugeMetricFamily("telecare_rules_timers_due", "rule timers past their due time, not yet fired",
                                value=s.timers_due)
        yield GaugeMetricFamily("telecare_rules_timers_pending", "rule timers armed", value=s.timers_pending)
        letters = GaugeMetricFamily("telecare_dead_letters_pending", "dead letters waiting for redrive or discard",
                                    labels=["reason"])
        for reason, count in sorted(s.dead_letters_pending.items()):
            letters.add_metric([reason], count)
        yield letters
        yield CounterMetricFamily("telecare_events_stored", "events stored by all ingest workers",
                                  value=s.events_stored)
