"""The rules engine: events and due timers in, conditions and alerts out. Live and replay share it.

The caller owns the transaction; everything one call does (alerts, history, notifications, timers,
device watch) commits together with the caller's cursor, so a crash repeats a batch at most and a
repeated batch finds its timers already settled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from rules import engine_queries as q
from rules.alerts import AlertChange, ConditionReport, attach_condition, clear_condition, open_condition
from rules.clock import Clock
from rules.conditions import EMERGENCY_CONDITIONS, NO_CONTACT_CONDITIONS, RELIED_ON_DEVICE_TYPES, Condition
from rules.config import ResidentRules, load_resident_rules
from rules.priorities import PriorityTable, load_priority_table
from rules.suppression import Suppressions, load_suppressions
from rules.timers import Timer, TimerBook, claim_timer_fire, load_timer_book, save_timer_book

log = logging.getLogger(__name__)

_UTC = ZoneInfo("UTC")

# A timer alert within this long of an emergency alert for the same resident is the same incident.
SAME_INCIDENT_WINDOW = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of `events`, as the rules read it."""

    seq: int
    time: datetime
    org_id: str
    resident_id: str | None
    hub_id: str
    device_id: str
    device_type: str
    location: str
    kind: str
    is_restore: bool
    value: float | None


def event_from_row(row: asyncpg.Record) -> StoredEvent:
    """Build a StoredEvent from an events row."""
    return StoredEvent(
        seq=row["ingest_seq"], time=row["time"], org_id=row["org_id"], resident_id=row["resident_id"],
        hub_id=row["hub_id"], device_id=row["device_id"], device_type=row["device_type"],
        location=row["location"], kind=row["kind"], is_restore=row["is_restore"], value=row["value"],
    )


@dataclass(slots=True)
class Batch:
    """State loaded for one batch or tick, changed in memory, written back at the end."""

    connection: asyncpg.Connection
    timers: TimerBook
    # (subject_key, condition, subject) -> alert id
    open_conditions: dict[tuple[str, str, str], int | None]
    suppressions: Suppressions
    changes: list[AlertChange] = field(default_factory=list)


@dataclass(slots=True)
class RulesEngine:
    """Applies the rules for one run ('live', or a replay's own name)."""

    run: str
    clock: Clock
    replay: bool
    priorities: PriorityTable = field(default_factory=lambda: PriorityTable({}))
    residents: dict[str, ResidentRules] = field(default_factory=dict)
    planned: set[tuple[str, str, str]] = field(default_factory=set)
    # (resident, night) found settled for the night: a cache of what the events say (rules/room_habits.py).
    settled: set[tuple[str, date]] = field(default_factory=set)
    # Replays: the devices whose silence can be judged from stored history (they left check-ins);
    # None judges every watched device (live, where devices.last_seen also counts).
    silence_judged_for: frozenset[str] | None = None
    # Live: a condition whose event time is older than this when it is read is history (a backfill, a
    # recorded home replayed through the broker), not something to send anyone to: it is recorded in
    # rule_suppressed and never reaches the live queue or the live KPIs. None: no limit (replays).
    history_limit: timedelta | None = None
    # A replay plans no daily timer due before its start: what happened before it is not replayed.
    plan_from: datetime | None = None

    async def refresh(self, *, connection: asyncpg.Connection) -> None:
        """Reload the priority table and every resident's rule settings."""
        self.priorities = await load_priority_table(connection=connection)
        self.residents = await load_resident_rules(connection=connection, resident_ids=None)

    async def _rules_for(self, *, connection: asyncpg.Connection, resident_ids: set[str]) -> None:
        missing = [rid for rid in resident_ids if rid not in self.residents]
        if missing:
            self.residents.update(await load_resident_rules(connection=connection, resident_ids=missing))

    async def _load_batch(
        self, *, connection: asyncpg.Connection, resident_ids: list[str], device_ids: list[str],
        since: datetime, until: datetime,
    ) -> Batch:
        subject_keys = resident_ids + [key for key in device_ids if key.startswith("hub:")]
        rows = await connection.fetch(
            "SELECT subject_key, condition, subject, alert_id FROM open_conditions"
            " WHERE run = $1 AND subject_key = ANY($2::text[])",
            self.run, subject_keys,
        )
        return Batch(
            connection=connection,
            timers=await load_timer_book(connection=connection, run=self.run, resident_ids=resident_ids),
            open_conditions={(r["subject_key"], r["condition"], r["subject"]): r["alert_id"] for r in rows},
            suppressions=await load_suppressions(
                connection=connection, resident_ids=resident_ids, device_ids=device_ids, since=since, until=until
            ),
        )

    # ---------------------------------------------------------------- events

    async def _batch_for(self, *, connection: asyncpg.Connection, events: list[StoredEvent]) -> Batch:
        resident_ids = sorted({e.resident_id for e in events if e.resident_id})
        await self._rules_for(connection=connection, resident_ids=set(resident_ids))
        hub_keys = sorted({f"hub:{e.hub_id}" for e in events if not e.resident_id})
        device_ids = sorted({e.device_id for e in events})
        return await self._load_batch(
            connection=connection, resident_ids=resident_ids + hub_keys, device_ids=device_ids,
            since=min(e.time for e in events) - timedelta(days=1), until=max(e.time for e in events),
        )

    async def process_events(self, *, connection: asyncpg.Connection, events: list[StoredEvent]) -> list[AlertChange]:
        """Apply the rules to a batch of events, in order, firing each resident's due timers first."""
        if not events:
            return []
        batch = await self._batch_for(connection=connection, events=events)
        for event in events:
            if event.resident_id:
                for timer in batch.timers.due(resident_id=event.resident_id, until=event.time):
                    await self._fire(batch=batch, timer=timer)
            await self._apply_event(batch=batch, event=event)
        await save_timer_book(connection=connection, run=self.run, book=batch.timers)
        await self._watch_devices(connection=connection, events=events)
        return batch.changes

    async def process_alarms(self, *, connection: asyncpg.Connection, events: list[StoredEvent]) -> list[AlertChange]:
        """Apply alarm events ahead of the stream (rules/alarms_ahead.py): no due timer is fired for them,
        those keep their turn in the stream."""
        if not events:
            return []
        batch = await self._batch_for(connection=connection, events=events)
        for event in events:
            await self._apply_event(batch=batch, event=event)
        await save_timer_book(connection=connection, run=self.run, book=batch.timers)
        await self._watch_devices(connection=connection, events=events)
        return batch.changes

    async def _watch_devices(self, *, connection: asyncpg.Connection, events: list[StoredEvent]) -> None:
        latest: dict[str, StoredEvent] = {}
        for event in events:
            if event.kind in {"device_offline", "hub_offline"}:
                continue
            seen = latest.get(event.device_id)
            if seen is None or event.time > seen.time:
                latest[event.device_id] = event
        if not latest:
            return
        rows = list(latest.values())
        await connection.execute(
            q.UPSERT_DEVICE_WATCH, self.run, [e.device_id for e in rows], [e.hub_id for e in rows],
            [e.resident_id for e in rows], [e.org_id for e in rows], [e.device_type for e in rows],
            [e.time for e in rows],
        )

    def _report(self, *, event: StoredEvent, condition: Condition, subject: str) -> ConditionReport:
        return ConditionReport(
            run=self.run, org_id=event.org_id, resident_id=event.resident_id, hub_id=event.hub_id,
            device_id=event.device_id, device_type=event.device_type, condition=condition.value,
            subject=subject, event_time=event.time, detected_at=event.time if self.replay else self.clock.now(),
            seq=event.seq,
        )

    async def _open(self, *, batch: Batch, report: ConditionReport, activation: bool) -> None:
        key = (report.subject_key, report.condition, report.subject)
        resident = self.residents.get(report.resident_id or "")
        if resident is not None and Condition(report.condition) not in resident.enabled:
            return
        reason = batch.suppressions.reason_to_hold(
            resident_id=report.resident_id, device_id=report.device_id, condition=Condition(report.condition),
            moment=report.event_time, timezone=resident.timezone if resident else _UTC,
        )
        if reason is None and not self.replay and self.history_limit is not None \
                and report.event_time < self.clock.now() - self.history_limit:
            reason = f"history: event time older than {self.history_limit} when read (backfill or replay)"
        if reason is not None:
            await batch.connection.execute(
                q.RECORD_SUPPRESSED, self.run, report.event_time, report.resident_id, report.device_id,
                report.condition, reason,
            )
            return
        # One dead hub is one incident: a device on a hub already reported offline joins the hub's alert.
        if report.condition == Condition.DEVICE_OFFLINE and report.hub_id is not None:
            hub_key = (report.subject_key, Condition.HUB_OFFLINE.value, f"hub:{report.hub_id}")
            hub_alert = batch.open_conditions.get(hub_key)
            if hub_alert is not None:
                if key not in batch.open_conditions:
                    batch.changes.append(await attach_condition(
                        connection=batch.connection, alert_id=hub_alert, report=report, note="hub offline"))
                    batch.open_conditions[key] = hub_alert
                return
        change = await open_condition(
            connection=batch.connection, priorities=self.priorities, report=report, activation=activation,
            already_open=key in batch.open_conditions,
        )
        if change is not None:
            batch.open_conditions[key] = change.alert_id
            batch.changes.append(change)

    async def _clear(self, *, batch: Batch, report: ConditionReport) -> None:
        key = (report.subject_key, report.condition, report.subject)
        if key not in batch.open_conditions:
            return
        del batch.open_conditions[key]
        change = await clear_condition(connection=batch.connection, report=report)
        if change is not None:
            batch.changes.append(change)

    def _is_open(self, *, batch: Batch, subject_key: str, condition: Condition) -> list[str]:
        return [s for (k, c, s) in batch.open_conditions if k == subject_key and c == condition.value]

    async def _apply_event(self, *, batch: Batch, event: StoredEvent) -> None:
        from rules.event_rules import apply_event  # noqa: PLC0415 - the two modules call each other

        if batch.suppressions.device_in_maintenance(device_id=event.device_id, moment=event.time):
            return
        await apply_event(engine=self, batch=batch, event=event)

    # ---------------------------------------------------------------- timers

    async def _fire(self, *, batch: Batch, timer: Timer) -> None:
        from rules.timer_rules import fire_timer  # noqa: PLC0415 - the two modules call each other

        detected_at = timer.due_at if self.replay else max(timer.due_at, self.clock.now())
        batch.timers.settle(timer=timer, state="fired", at=detected_at)
        if not await claim_timer_fire(connection=batch.connection, run=self.run, timer=timer, at=detected_at):
            return  # another worker fired it: never twice
        await fire_timer(engine=self, batch=batch, timer=timer, detected_at=detected_at)

    async def raise_activity(
        self, *, batch: Batch, resident: ResidentRules, condition: Condition, subject: str, event_time: datetime,
        detected_at: datetime, detail: dict[str, object], not_judged: str | None = None,
    ) -> None:
        """Raise an activity-rule alert, unless it is really a data gap or part of an open emergency.

        `not_judged` says why the rule could not see, when its sensors are back but were in a gap
        that may have hidden what it looks for.
        """
        report = ConditionReport(
            run=self.run, org_id=resident.org_id, resident_id=resident.resident_id, hub_id=None, device_id=None,
            device_type=None, condition=condition.value, subject=subject, event_time=event_time,
            detected_at=detected_at, detail=detail,
        )
        active = await batch.connection.fetch(
            "SELECT alert_id, condition, raised_at, cleared_at FROM alerts"
            " WHERE run = $1 AND subject_key = $2 AND status <> 'closed'",
            self.run, resident.resident_id,
        )
        silent = await self._silent_sensors(batch=batch, resident_id=resident.resident_id, condition=condition)
        if silent or not_judged:
            # Silence from a sensor this rule reads is not inactivity: it is its own condition, carried
            # by the no-contact alert while that is still in the queue.
            gap_report = replace(report, condition=Condition.DATA_GAP.value, subject=condition.value,
                                 detail={**detail, "not_judged": not_judged or "sensors silent"})
            carriers = [row["alert_id"] for row in active if row["alert_id"] in silent]
            if carriers:
                batch.changes.append(await attach_condition(
                    connection=batch.connection, alert_id=carriers[0], report=gap_report,
                    note=f"{condition.value} not judged: {not_judged or 'sensors silent'}"))
                return
            await self._open(batch=batch, report=gap_report, activation=False)
            return
        for row in active:
            same_incident = (
                Condition(row["condition"]) in EMERGENCY_CONDITIONS
                and event_time - row["raised_at"] <= SAME_INCIDENT_WINDOW
            ) or (row["condition"] == Condition.LEFT_FLAT.value and row["cleared_at"] is None
                  and condition != Condition.LEFT_FLAT)  # still out: not in bed, not up... are that incident
            if same_incident and row["condition"] != condition.value:
                batch.changes.append(await attach_condition(
                    connection=batch.connection, alert_id=row["alert_id"], report=report,
                    note=f"part of the open {row['condition']} alert"))
                batch.open_conditions[(report.subject_key, report.condition, subject)] = row["alert_id"]
                return
        await self._open(batch=batch, report=report, activation=True)

    async def _silent_sensors(self, *, batch: Batch, resident_id: str, condition: Condition) -> set[int | None]:
        """Alerts carrying the resident's open no-contact conditions that blind `condition`'s rule.

        A dead hub blinds every rule; a dead device only the rules that read its kind (a kettle plug
        going quiet says nothing about whether someone went to bed). A no-contact condition already
        restored is no data gap, even while its alert waits for an operator to close it.
        """
        silent = {subject: alert_id for (key, kind, subject), alert_id in batch.open_conditions.items()
                  if key == resident_id and kind in NO_CONTACT_CONDITIONS}
        if not silent:
            return set()
        devices = [subject for subject in silent if not subject.startswith("hub:")]
        types = {row["device_id"]: row["device_type"] for row in await batch.connection.fetch(
            "SELECT device_id, device_type FROM devices WHERE device_id = ANY($1::text[])", devices)}
        relied_on = RELIED_ON_DEVICE_TYPES[condition]
        return {alert_id for subject, alert_id in silent.items()
                if subject.startswith("hub:") or types.get(subject) in relied_on}

    # ---------------------------------------------------------------- ticks

    async def tick(
        self, *, connection: asyncpg.Connection, now: datetime, with_watchdog: bool = True, limit: int = 500
    ) -> list[AlertChange]:
        """Fire every timer due by `now`, plan daily timers and run the silence watchdog."""
        from rules.timer_rules import plan_daily_timers  # noqa: PLC0415
        from rules.watchdog import check_silence  # noqa: PLC0415

        await plan_daily_timers(engine=self, connection=connection, now=now)
        rows = await connection.fetch(q.DUE_TIMERS, self.run, now, limit)
        changes: list[AlertChange] = []
        if rows:
            from rules.timers import timer_from_row  # noqa: PLC0415

            timers = [timer_from_row(row) for row in rows]
            resident_ids = sorted({t.resident_id for t in timers})
            await self._rules_for(connection=connection, resident_ids=set(resident_ids))
            batch = await self._load_batch(
                connection=connection, resident_ids=resident_ids, device_ids=[],
                since=min(t.due_at for t in timers), until=now,
            )
            for timer in timers:
                batch.timers.pending.setdefault(timer.key, timer)
            for timer in timers:
                await self._fire(batch=batch, timer=timer)
            await save_timer_book(connection=connection, run=self.run, book=batch.timers)
            changes.extend(batch.changes)
        if with_watchdog:
            changes.extend(await check_silence(engine=self, connection=connection, now=now))
        return changes

    async def next_due(self, *, connection: asyncpg.Connection) -> datetime | None:
        """When the earliest pending timer falls due."""
        due: datetime | None = await connection.fetchval(q.NEXT_DUE, self.run)
        return due


