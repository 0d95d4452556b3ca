"""Cost context: nights of each support model in a period, and what they cost against the alternatives."""

from __future__ import annotations

import bisect
from datetime import date
from typing import Any

import asyncpg

from models.config import CostRates
from models.nights import nights_between

SUPPORT_PERIODS = """
SELECT starts_on, model FROM support_periods WHERE resident_id = $1 AND starts_on <= $2 ORDER BY starts_on
"""


def night_cost(*, model: str, rates: CostRates) -> float:
    """What one night of a support model costs (telecare-only is the monitoring, not priced here)."""
    return {"waking_night": rates.waking_night, "sleep_in": rates.sleep_in}.get(model, 0.0)


def cost_context(*, first: date, last: date, periods: list[tuple[date, str]], rates: CostRates) -> dict[str, Any]:
    """Nights per model, their cost, and the cost had every night been a waking night or a sleep-in."""
    starts = [start for start, _ in periods]
    counts: dict[str, int] = {}
    for night in nights_between(first=first, last=last):
        index = bisect.bisect_right(starts, night) - 1
        model = periods[index][1] if index >= 0 else "not_recorded"
        counts[model] = counts.get(model, 0) + 1
    total = sum(counts.values())
    actual = round(sum(night_cost(model=m, rates=rates) * n for m, n in counts.items()), 2)
    all_waking = round(total * rates.waking_night, 2)
    all_sleep_in = round(total * rates.sleep_in, 2)
    return {
        "currency": rates.currency,
        "rates": {"waking_night_hourly": rates.waking_night_hourly, "sleep_in_hourly": rates.sleep_in_hourly,
                  "hours_per_night": rates.hours_per_night, "waking_night": rates.waking_night,
                  "sleep_in": rates.sleep_in},
        "nights_by_model": counts,
        "cost_of_period": actual,
        "if_all_waking_nights": all_waking,
        "if_all_sleep_ins": all_sleep_in,
        "saving_vs_waking_nights": round(all_waking - actual, 2),
        "saving_vs_sleep_ins": round(all_sleep_in - actual, 2),
    }


async def load_support_periods(
    *, connection: asyncpg.Connection, resident_id: str, until: date
) -> list[tuple[date, str]]:
    """The resident's support models by start date."""
    return [(row["starts_on"], row["model"]) for row in await connection.fetch(SUPPORT_PERIODS, resident_id, until)]
