"""A simulated operator for replays: works every alert through the real lifecycle, on event time.

Live, an operator claims, acknowledges and closes each alert, and the next incident for the same
resident and condition raises a new alert. A replay without one leaves every alert active, so a
pendant pressed again a month later only bumps the first alert's counter. This desk stands in for
the operator with fixed delays, through the same lifecycle calls the API makes.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from rules.alerts import AlertChange
from rules.lifecycle import AlertTransitionError, Outcome, acknowledge, claim, close
from rules.priorities import PriorityTable

log = logging.getLogger(__name__)

_ANSWER = "answer"
_CLOSE = "close"


@dataclass(frozen=True, slots=True)
class SimulatedOperator:
    """When the simulated operator answers and closes an alert (after it is raised), and the outcome."""

    close_after: timedelta
    answer_after: timedelta = timedelta(seconds=30)
    user_id: str = "replay-operator"
    # None: equipment_fault for technical alerts, reassured for the rest.
    outcome: Outcome | None = None

    def __post_init__(self) -> None:
        if self.answer_after < timedelta(0) or self.close_after < self.answer_after:
            raise ValueError("the operator must answer no earlier than the raise and close no earlier than that")

    def outcome_for(self, *, category: str) -> Outcome:
        """The outcome this operator closes an alert of `category` with."""
        if self.outcome is not None:
            return self.outcome
        return Outcome.EQUIPMENT_FAULT if category == "technical" else Outcome.REASSURED


@dataclass(slots=True)
class OperatorDesk:
    """The simulated operator's to-do list: (event time, alert, step), earliest first."""

    operator: SimulatedOperator
    priorities: PriorityTable
    _todo: list[tuple[datetime, int, str]] = field(default_factory=list)
    closed: int = 0

    async def take(self, *, connection: asyncpg.Connection, changes: list[AlertChange]) -> None:
        """Put every newly raised alert among `changes` on the to-do list."""
        raised = [change.alert_id for change in changes if change.change == "raised"]
        if not raised:
            return
        rows = await connection.fetch(
            "SELECT alert_id, detected_at FROM alerts WHERE alert_id = ANY($1::bigint[])", raised)
        for row in rows:
            heapq.heappush(self._todo, (row["detected_at"] + self.operator.answer_after, row["alert_id"], _ANSWER))
            heapq.heappush(self._todo, (row["detected_at"] + self.operator.close_after, row["alert_id"], _CLOSE))

    def next_due(self) -> datetime | None:
        """When the next step falls due."""
        return self._todo[0][0] if self._todo else None

    async def work_until(self, *, connection: asyncpg.Connection, moment: datetime) -> None:
        """Do every step due by `moment`, each stamped with its own due time."""
        operator = self.operator
        while self._todo and self._todo[0][0] <= moment:
            at, alert_id, step = heapq.heappop(self._todo)
            try:
                if step == _ANSWER:
                    await claim(connection=connection, alert_id=alert_id, user_id=operator.user_id, at=at)
                    await acknowledge(connection=connection, alert_id=alert_id, user_id=operator.user_id, at=at)
                    continue
                condition = await connection.fetchval("SELECT condition FROM alerts WHERE alert_id = $1", alert_id)
                outcome = operator.outcome_for(category=self.priorities.for_condition(condition=condition).category)
                await close(connection=connection, alert_id=alert_id, user_id=operator.user_id, outcome=outcome,
                            note="simulated operator (replay)", at=at)
                self.closed += 1
            except AlertTransitionError as exc:
                # Someone (a test, a person looking at the replay) got there first: nothing to do.
                log.info("simulated operator skipped alert %d: %s", alert_id, exc)
