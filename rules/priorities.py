"""The configurable priority table (defaults seeded by migration 010 from docs/domain.md section 3)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    """Priority rules by condition name, and organisations' own rules by (organisation, condition)."""

    rules: dict[str, PriorityRule]
    overrides: dict[tuple[str, str], PriorityRule] = field(default_factory=dict)

    def for_condition(self, *, condition: str, org_id: str | None = None) -> PriorityRule:
        """The organisation's rule for `condition`, else the default, else a middling one for a missing row."""
        if org_id is not None and (org_id, condition) in self.overrides:
            return self.overrides[(org_id, condition)]
        return self.rules.get(condition, PriorityRule(FALLBACK_PRIORITY, 0, 120, "technical"))


async def load_priority_table(*, connection: asyncpg.Connection) -> PriorityTable:
    """Read the priority table."""
    rows = await connection.fetch(q.PRIORITIES)
    overrides = await connection.fetch(q.PRIORITY_OVERRIDES)
    return PriorityTable(
        rules={row["condition"]: _rule(row) for row in rows},
        overrides={(row["org_id"], row["condition"]): _rule(row) for row in overrides},
    )


def _rule(row: asyncpg.Record) -> PriorityRule:
    return PriorityRule(row["priority"], row["repeat_bump"], row["escalate_after_s"], row["category"])


async def set_priority(*, connection: asyncpg.Connection, condition: str, rule: PriorityRule) -> None:
    """Change one row of the priority table (takes effect at the next engine refresh)."""
    await connection.execute(
        q.SET_PRIORITY, condition, rule.priority, rule.repeat_bump, rule.escalate_after_s, rule.category
    )
