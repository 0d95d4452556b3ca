"""Review decisions and reactivation triggers.

A met trigger raises a 'care_review' alert through the rules' alert store (rules.alerts), so it sits
in the same queue, with the same lifecycle and audit history, as every other alert; one active review
alert per resident (a repeat bumps its counter).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from models.nightly import NightSummary, Resident
from rules.alerts import ConditionReport, open_condition
from rules.priorities import load_priority_table

REVIEW_CONDITION = "care_review"
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}

TRIGGERS_FOR = """
SELECT trigger_id, name, feature, comparison, threshold, min_nights, window_nights
FROM reactivation_triggers
WHERE enabled AND org_id = $1 AND (resident_id IS NULL OR resident_id = $2)
ORDER BY trigger_id
"""
INSERT_TRIGGER = """
INSERT INTO reactivation_triggers (org_id, resident_id, name, feature, comparison, threshold, min_nights,
                                   window_nights)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING trigger_id
"""
INSERT_DECISION = """
INSERT INTO review_decisions (resident_id, decided_on, decision, support_from, support_to, criteria, reviewer,
                              follow_up_on, period_start, period_end, recorded_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING decision_id
"""
DECISIONS_FOR = """
SELECT decision_id, decided_on, decision, support_from, support_to, criteria, reviewer, follow_up_on,
       period_start, period_end, recorded_at, recorded_by
FROM review_decisions WHERE resident_id = $1 ORDER BY decided_on DESC, decision_id DESC
"""


@dataclass(frozen=True, slots=True)
class Trigger:
    """"At least `min_nights` of the last `window_nights` nights where feature <comparison> threshold"."""

    trigger_id: int
    name: str
    feature: str
    comparison: str
    threshold: float
    min_nights: int
    window_nights: int


@dataclass(frozen=True, slots=True)
class TriggerResult:
    """A trigger checked against the latest nights."""

    trigger: Trigger
    matching_nights: int
    nights_checked: int
    met: bool

    @property
    def explanation(self) -> str:
        """In words, for the pack and the review alert."""
        t = self.trigger
        return (f"{t.name}: {self.matching_nights} of the last {self.nights_checked} monitored nights had "
                f"{t.feature} {t.comparison} {t.threshold:g} (trigger: {t.min_nights} in {t.window_nights})")


def evaluate(*, trigger: Trigger, nights: Sequence[NightSummary]) -> TriggerResult:
    """Check one trigger over the last `window_nights` nights (unknown nights never count towards it)."""
    window = list(nights)[-trigger.window_nights:]
    compare = _COMPARE[trigger.comparison]
    matching = 0
    for night in window:
        value = getattr(night, trigger.feature)
        if night.status == "ok" and value is not None and compare(float(value), trigger.threshold):
            matching += 1
    return TriggerResult(trigger, matching, sum(n.status == "ok" for n in window), matching >= trigger.min_nights)


async def load_triggers(*, connection: asyncpg.Connection, resident: Resident) -> list[Trigger]:
    """Enabled triggers for the resident (their own and their organisation's)."""
    rows = await connection.fetch(TRIGGERS_FOR, resident.org_id, resident.resident_id)
    return [Trigger(r["trigger_id"], r["name"], r["feature"], r["comparison"], r["threshold"], r["min_nights"],
                    r["window_nights"]) for r in rows]


async def add_trigger(*, connection: asyncpg.Connection, org_id: str, resident_id: str | None, name: str,
                      feature: str, comparison: str, threshold: float, min_nights: int, window_nights: int) -> int:
    """Store a reactivation trigger; returns its id."""
    trigger_id: int = await connection.fetchval(INSERT_TRIGGER, org_id, resident_id, name, feature, comparison,
                                                threshold, min_nights, window_nights)
    return trigger_id


async def raise_review_alerts(*, connection: asyncpg.Connection, resident: Resident, results: Sequence[TriggerResult],
                              run: str, at: datetime | None = None) -> list[int]:
    """Raise (or repeat) the resident's care-review alert for every met trigger; returns alert ids."""
    met = [r for r in results if r.met]
    if not met:
        return []
    priorities = await load_priority_table(connection=connection)
    moment = at or datetime.now(UTC)
    ids: list[int] = []
    async with connection.transaction():
        for result in met:
            report = ConditionReport(
                run=run, org_id=resident.org_id, resident_id=resident.resident_id, hub_id=None, device_id=None,
                device_type=None, condition=REVIEW_CONDITION, subject=f"trigger:{result.trigger.trigger_id}",
                event_time=moment, detected_at=moment,
                detail={"reason": result.explanation, "question": "reactivate night-time support?"},
            )
            change = await open_condition(connection=connection, priorities=priorities, report=report,
                                          activation=True, already_open=False)
            if change is not None:
                ids.append(change.alert_id)
    return ids


async def record_decision(
    *, connection: asyncpg.Connection, resident_id: str, decided_on: date, decision: str, criteria: str,
    reviewer: str, follow_up_on: date, recorded_by: str, support_from: str | None = None,
    support_to: str | None = None, period: tuple[date, date] | None = None,
) -> int:
    """Store a review decision (reduce / maintain / reactivate); returns its id."""
    decision_id: int = await connection.fetchval(
        INSERT_DECISION, resident_id, decided_on, decision, support_from, support_to, criteria, reviewer,
        follow_up_on, period[0] if period else None, period[1] if period else None, recorded_by)
    return decision_id


async def load_decisions(*, connection: asyncpg.Connection, resident_id: str) -> list[dict[str, Any]]:
    """The resident's decisions, newest first, JSON-friendly."""
    return [{key: (value.isoformat() if isinstance(value, date | datetime) else value) for key, value in row.items()}
            for row in await connection.fetch(DECISIONS_FOR, resident_id)]
