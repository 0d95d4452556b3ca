"""What the CLI and the API both do: nightly runs with trigger checks, and rendering a pack."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg

from models import queries as q
from models.config import EvidenceConfig
from models.nightly import compute_nights, resident_from_row, store_nights, summary_from_row
from models.pack import build_pack
from models.render.html import render_html
from models.render.pdf import html_to_pdf
from models.render.tables import render_csv
from models.review import evaluate, load_triggers, raise_review_alerts

log = logging.getLogger(__name__)
FORMATS = ("json", "csv", "html", "pdf")


@dataclass(frozen=True, slots=True)
class NightlyRun:
    """What one nightly run did for one resident."""

    resident_id: str
    nights: int
    unknown: int
    review_alerts: tuple[int, ...]


async def run_nightly(*, connection: asyncpg.Connection, resident_ids: list[str], first: date, last: date,
                      config: EvidenceConfig, raise_alerts: bool) -> list[NightlyRun]:
    """Compute and store nights for each resident, then check reactivation triggers on the latest nights."""
    results: list[NightlyRun] = []
    for resident_id in resident_ids:
        row = await connection.fetchrow(q.RESIDENT, resident_id)
        if row is None:
            log.warning("no resident %s", resident_id)
            continue
        resident = resident_from_row(row)
        nights = await compute_nights(connection=connection, resident=resident, first=first, last=last, config=config)
        await store_nights(connection=connection, nights=nights)
        alert_ids: list[int] = []
        if raise_alerts:
            triggers = await load_triggers(connection=connection, resident=resident)
            longest = max((t.window_nights for t in triggers), default=0)
            recent = await connection.fetch(q.SUMMARIES, resident_id, last - timedelta(days=longest - 1), last)

            stored = [summary_from_row(r) for r in recent]
            results_now = [evaluate(trigger=t, nights=stored) for t in triggers]
            alert_ids = await raise_review_alerts(connection=connection, resident=resident, results=results_now,
                                                  run=config.alerts_run)
        results.append(NightlyRun(resident_id, len(nights), sum(n.status != "ok" for n in nights), tuple(alert_ids)))
    return results


async def render_pack(*, connection: asyncpg.Connection, resident_id: str, first: date, last: date,
                      config: EvidenceConfig, fmt: str, baseline: tuple[date, date] | None = None,
                      ) -> tuple[bytes, str, dict[str, Any]]:
    """The pack in one format: (body, media type, pack as data)."""
    pack = (await build_pack(connection=connection, resident_id=resident_id, first=first, last=last,
                             config=config, baseline=baseline)).as_json()
    if fmt == "json":
        import orjson  # noqa: PLC0415

        return orjson.dumps(pack, option=orjson.OPT_NON_STR_KEYS), "application/json", pack
    if fmt == "csv":
        return render_csv(pack=pack).encode(), "text/csv", pack
    html = render_html(pack=pack)
    if fmt == "html":
        return html.encode(), "text/html", pack
    return await html_to_pdf(html=html), "application/pdf", pack
