"""No-contact: devices and hubs silent beyond their expected interval, grouped so one hub is one alert."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

from rules import engine_queries as q
from rules.alerts import AlertChange, ConditionReport, clear_condition
from rules.conditions import Condition
from rules.config import DEFAULT_HUB_SILENCE_MIN, device_silence_for

if TYPE_CHECKING:
    from rules.engine import RulesEngine


async def check_silence(*, engine: RulesEngine, connection: asyncpg.Connection, now: datetime) -> list[AlertChange]:
    """Open no-contact conditions for silent hubs and devices; clear the ones heard from again."""
    from datetime import timedelta  # noqa: PLC0415

    devices = [device for device in await connection.fetch(q.WATCHED_DEVICES, engine.run, not engine.replay)
               if engine.silence_judged_for is None or device["device_id"] in engine.silence_judged_for]
    open_rows = await connection.fetch(q.OPEN_NO_CONTACT, engine.run)
    open_keys = {(r["subject_key"], r["condition"], r["subject"]): r for r in open_rows}
    by_hub: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for device in devices:
        by_hub[device["hub_id"]].append(device)
    changes: list[AlertChange] = []
    batch = await engine._load_batch(
        connection=connection,
        resident_ids=sorted({d["resident_id"] for d in devices if d["resident_id"]}),
        device_ids=[d["device_id"] for d in devices], since=now, until=now,
    )
    for hub_id, hub_devices in by_hub.items():
        resident = engine.residents.get(hub_devices[0]["resident_id"] or "")
        hub_silence = resident.hub_silence if resident else timedelta(minutes=DEFAULT_HUB_SILENCE_MIN)
        configured_silence = resident.device_silence if resident else None
        hub_heard = max([d["last_heard"] for d in hub_devices]
                        + [d["hub_seen"] for d in hub_devices if d["hub_seen"] is not None])
        subject_key = hub_devices[0]["resident_id"] or f"hub:{hub_id}"
        hub_subject = f"hub:{hub_id}"

        def report(device: asyncpg.Record, condition: Condition, subject: str, at: datetime,
                   hub_id: str = hub_id) -> ConditionReport:
            return ConditionReport(
                run=engine.run, org_id=device["org_id"], resident_id=device["resident_id"], hub_id=hub_id,
                device_id=None if condition == Condition.HUB_OFFLINE else device["device_id"],
                device_type="hub" if condition == Condition.HUB_OFFLINE else device["device_type"],
                condition=condition.value, subject=subject, event_time=at, detected_at=now,
                detail={"source": "silence watchdog", "last_heard": device["last_heard"].isoformat()},
            )

        hub_key = (subject_key, Condition.HUB_OFFLINE.value, hub_subject)
        if hub_heard < now - hub_silence:
            if hub_key not in batch.open_conditions:
                await engine._open(batch=batch, report=report(hub_devices[0], Condition.HUB_OFFLINE, hub_subject,
                                                              hub_heard + hub_silence), activation=False)
        elif hub_key in open_keys and hub_heard > open_keys[hub_key]["opened_at"]:
            change = await clear_condition(connection=connection, report=report(
                hub_devices[0], Condition.HUB_OFFLINE, hub_subject, hub_heard))
            batch.open_conditions.pop(hub_key, None)
            if change:
                changes.append(change)
        for device in hub_devices:
            if device["device_type"] == "hub":
                continue  # the bridge itself is judged by the hub rule above, from all its devices
            device_silence = device_silence_for(device_type=device["device_type"], configured=configured_silence)
            key = (subject_key, Condition.DEVICE_OFFLINE.value, device["device_id"])
            if device["last_heard"] < now - device_silence:
                if key not in batch.open_conditions and not batch.suppressions.device_in_maintenance(
                        device_id=device["device_id"], moment=now):
                    await engine._open(batch=batch, report=report(
                        device, Condition.DEVICE_OFFLINE, device["device_id"], device["last_heard"] + device_silence),
                        activation=False)
            elif key in open_keys and device["last_heard"] > open_keys[key]["opened_at"]:
                change = await clear_condition(connection=connection, report=report(
                    device, Condition.DEVICE_OFFLINE, device["device_id"], device["last_heard"]))
                batch.open_conditions.pop(key, None)
                if change:
                    changes.append(change)
    return changes + batch.changes
