"""The scheme view for a provider: every resident, who is stable and who needs a review."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import asyncpg

from models import queries as q
from models.baseline import routine_flags
from models.config import EvidenceConfig
from models.nightly import ensure_nights, resident_from_row
from models.review import evaluate, load_decisions, load_triggers
from models.stats import period_stats


async def scheme_view(*, connection: asyncpg.Connection, org_id: str, last: date, config: EvidenceConfig,
                      ) -> list[dict[str, Any]]:
    """One row per resident over the recent window ending `last`: status 'review' or 'stable' and why."""
    recent_n, base_n = config.baseline.recent_nights, config.baseline.baseline_nights
    first = last - timedelta(days=recent_n - 1)
    rows: list[dict[str, Any]] = []
    for record in await connection.fetch(q.RESIDENTS_OF_ORG, org_id):
        resident = resident_from_row(record)
        nights = await ensure_nights(connection=connection, resident=resident,
                                     first=first - timedelta(days=base_n), last=last, config=config)
        recent = [n for n in nights if n.night_of >= first]
        own = [n for n in nights if n.night_of < first]
        flags = routine_flags(baseline=own, recent=recent, rules=config.baseline)
        met = [r for r in (evaluate(trigger=t, nights=recent)
                           for t in await load_triggers(connection=connection, resident=resident)) if r.met]
        stats = period_stats(nights=recent)
        decisions = await load_decisions(connection=connection, resident_id=resident.resident_id)
        follow_up = decisions[0]["follow_up_on"] if decisions else None
        reasons = [flag.explanation for flag in flags]
        reasons += [r.explanation for r in met]
        if follow_up is not None and follow_up <= last.isoformat():
            reasons.append(f"follow-up was due on {follow_up}")
        if stats["nights_monitored"] < recent_n // 2:
            reasons.append(f"only {stats['nights_monitored']} of {recent_n} nights monitored")
        rows.append({
            "resident_id": resident.resident_id, "display_name": resident.display_name, "flat": resident.flat,
            "status": "review" if reasons else "stable", "reasons": reasons,
            "nights_monitored": stats["nights_monitored"], "pct_nights_any_alert": stats["pct_nights_any_alert"],
            "pct_nights_intervention": stats["pct_nights_intervention"],
            "last_decision": decisions[0]["decision"] if decisions else None, "follow_up_on": follow_up,
        })
    rows.sort(key=lambda row: (row["status"] != "review", row["resident_id"]))
    return rows
