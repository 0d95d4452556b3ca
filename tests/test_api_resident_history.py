"""The resident panel's alarm history: what an operator reads before calling back."""

from __future__ import annotations

import asyncpg

from rules import lifecycle
from tests.api_helpers import ApiServer, api_server, build_world, client, raise_alert  # noqa: F401 - fixture


async def test_an_alarm_closed_reopened_and_closed_again_shows_its_latest_outcome(
    db: asyncpg.Connection, unique: str, api_server: ApiServer,  # noqa: F811
) -> None:
    """Schemathesis found a 500 here: two closes of one alert broke the history query."""
    world = await build_world(db=db, unique=unique)
    alert_id = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a, condition="fall")
    await lifecycle.close(connection=db, alert_id=alert_id, user_id="op", outcome=lifecycle.Outcome.FALSE_ALARM,
                          note="pressed by mistake")
    await lifecycle.reopen(connection=db, alert_id=alert_id, user_id="op", reason="she rang back: she had fallen")
    await lifecycle.close(connection=db, alert_id=alert_id, user_id="op", outcome=lifecycle.Outcome.RESPONDER_ATTENDED,
                          note="responder helped her up")
    async with client(api_server, world, "operator_a") as http:
        response = await http.get(f"/api/residents/{world.resident_a}/history")
    assert response.status_code == 200, response.text
    shown = [alert for alert in response.json()["alerts"] if alert["alert_id"] == alert_id]
    assert len(shown) == 1
    assert shown[0]["outcome"] == lifecycle.Outcome.RESPONDER_ATTENDED.value
    assert shown[0]["close_note"] == "responder helped her up"
