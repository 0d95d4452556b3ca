"""The configurable priority table (defaults seeded by migration 010 from docs/domain.md section 3)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from rules import alert_queries as q

FALLBACK_PRIORITY = 5


@dataclass(frozen=True, slots=True)
class PriorityRule:
    """How urgent one condition is, how a repeat raises it, and when an unclaimed one escalates."""

    priority: int
    repeat_bump: int
    escalate_after_s: int
    category: str


@dataclass(frozen=True, slots=True)
class PriorityTable:
    """Priority rules by condition name."""

    rules: dict[str, PriorityRule]

    def for_condition(self, *, condition: str) -> PriorityRule:
        """The rule for `condition`, or a middling default for one missing from the table."""
        return self.rules.get(condition, PriorityRule(FALLBACK_PRIORITY, 0, 120, "technical"))


async def load_priority_table(*, connection: asyncpg.Connection) -> PriorityTable:
    """Read the priority table."""
    rows = await connection.fetch(q.PRIORITIES)
    return PriorityTable(
        rules={
            row["condition"]: PriorityRule(
                row["priority"], row["repeat_bump"], row["escalate_after_s"], row["category"]
            )
            for row in rows
        }
    )


async def set_priority(*, connection: asyncpg.Connection, condition: str, rule: PriorityRule) -> None:
    """Change one row of the priority table (takes effect at the next engine refresh)."""
    await connection.execute(
        q.SET_PRIORITY, condition, rule.priority, rule.repeat_bump, rule.escalate_after_s, rule.category
    )
