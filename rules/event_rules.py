"""Event rules: alarms raised straight from an event, their restores, and the timers events move."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rules.conditions import ACTIVATION_KINDS, ACTIVITY_KINDS, STATE_KINDS, Condition
from rules.config import (
    BATTERY_HYSTERESIS_PERCENT,
    BY_THE_DOOR,
    DEFAULT_BATTERY_LOW_PERCENT,
    DOOR_SETTLE,
    OUT_OF_BED_LIMIT_KEY,
    TEMPERATURE_HYSTERESIS_C,
    ResidentRules,
)
from rules.settling import settled_for_the_night
from telecare.vocabulary import EventKind

if TYPE_CHECKING:
    from rules.engine import Batch, RulesEngine, StoredEvent

# Timer conditions that an activity event shows to be over (the condition's restore).
_CLEARED_BY_ACTIVITY = (Condition.INACTIVITY, Condition.NOT_UP, Condition.OUT_OF_BED)


async def apply_event(*, engine: RulesEngine, batch: Batch, event: StoredEvent) -> None:
    """Apply every rule that reads this event."""
    try:
        kind = EventKind(event.kind)
    except ValueError:
        return
    await _restore_contact(engine=engine, batch=batch, event=event, kind=kind)
    if kind in ACTIVATION_KINDS:
        report = engine._report(event=event, condition=ACTIVATION_KINDS[kind], subject=event.device_id)
        if event.is_restore:
            await engine._clear(batch=batch, report=report)
        else:
            await engine._open(batch=batch, report=report, activation=True)
    elif kind in STATE_KINDS:
        condition = STATE_KINDS[kind]
        subject = f"hub:{event.hub_id}" if condition == Condition.HUB_OFFLINE else event.device_id
        report = engine._report(event=event, condition=condition, subject=subject)
        if event.is_restore:
            await engine._clear(batch=batch, report=report)
        else:
            await engine._open(batch=batch, report=report, activation=False)
    elif kind == EventKind.TEMPERATURE and event.value is not None:
        await _temperature(engine=engine, batch=batch, event=event)
    elif kind == EventKind.BATTERY and event.value is not None:
        await _battery_level(engine=engine, batch=batch, event=event)
    resident = engine.residents.get(event.resident_id or "")
    if resident is not None and kind in ACTIVITY_KINDS and not _is_absence(kind=kind, event=event):
        await _activity(engine=engine, batch=batch, event=event, kind=kind, resident=resident)


def _is_absence(*, kind: EventKind, event: StoredEvent) -> bool:
    """A presence sensor reporting nobody there is not a sign of life."""
    return kind == EventKind.PRESENCE and (event.value or 0.0) <= 0.0


async def _restore_contact(*, engine: RulesEngine, batch: Batch, event: StoredEvent, kind: EventKind) -> None:
    """A device or hub that speaks again is back in contact."""
    if kind in {EventKind.DEVICE_OFFLINE, EventKind.HUB_OFFLINE}:
        return
    subject_key = event.resident_id or f"hub:{event.hub_id}"
    if (subject_key, Condition.DEVICE_OFFLINE.value, event.device_id) in batch.open_conditions:
        await engine._clear(
            batch=batch, report=engine._report(event=event, condition=Condition.DEVICE_OFFLINE, subject=event.device_id)
        )
    hub_subject = f"hub:{event.hub_id}"
    if (subject_key, Condition.HUB_OFFLINE.value, hub_subject) in batch.open_conditions:
        await engine._clear(
            batch=batch, report=engine._report(event=event, condition=Condition.HUB_OFFLINE, subject=hub_subject)
        )


async def _temperature(*, engine: RulesEngine, batch: Batch, event: StoredEvent) -> None:
    resident = engine.residents.get(event.resident_id or "")
    low = resident.temperature_low_c if resident else 12.0
    high = resident.temperature_high_c if resident else 32.0
    value = event.value if event.value is not None else 0.0
    subject_key = event.resident_id or f"hub:{event.hub_id}"
    for condition, out_of_range, back_in_range in (
        (Condition.TEMPERATURE_LOW, value < low, value >= low + TEMPERATURE_HYSTERESIS_C),
        (Condition.TEMPERATURE_HIGH, value > high, value <= high - TEMPERATURE_HYSTERESIS_C),
    ):
        report = engine._report(event=event, condition=condition, subject=event.device_id)
        report = replace(report, detail={"celsius": value})
        is_open = (subject_key, condition.value, event.device_id) in batch.open_conditions
        if out_of_range and not is_open:
            await engine._open(batch=batch, report=report, activation=False)
        elif back_in_range and is_open:
            await engine._clear(batch=batch, report=report)


async def _battery_level(*, engine: RulesEngine, batch: Batch, event: StoredEvent) -> None:
    """A percentage under the low mark is a low battery, for devices that send no battery_low flag."""
    resident = engine.residents.get(event.resident_id or "")
    low = resident.battery_low_percent if resident else DEFAULT_BATTERY_LOW_PERCENT
    value = event.value if event.value is not None else 100.0
    subject_key = event.resident_id or f"hub:{event.hub_id}"
    report = replace(engine._report(event=event, condition=Condition.BATTERY_LOW, subject=event.device_id),
                     detail={"percent": value})
    is_open = (subject_key, Condition.BATTERY_LOW.value, event.device_id) in batch.open_conditions
    if value < low and not is_open:
        await engine._open(batch=batch, report=report, activation=False)
    elif value >= low + BATTERY_HYSTERESIS_PERCENT and is_open:
        # A new battery: the condition is restored (the alert stays for the operator to close).
        await engine._clear(batch=batch, report=report)


async def _activity(
    *, engine: RulesEngine, batch: Batch, event: StoredEvent, kind: EventKind, resident: ResidentRules
) -> None:
    """Signs of life move the night-time timers, and end the timer conditions they disprove."""
    timers = batch.timers
    rid = resident.resident_id
    moment = event.time
    at_front_door = event.device_id in resident.front_door_devices
    night = resident.night_of(moment=moment)

    timers.push_back(resident_id=rid, rule="inactivity", subject="", due_at=moment + resident.inactivity,
                     armed_at=moment)
    for condition in _CLEARED_BY_ACTIVITY:
        if condition == Condition.OUT_OF_BED and kind != EventKind.BED_OCCUPIED:
            continue
        for subject in engine._is_open(batch=batch, subject_key=rid, condition=condition):
            await engine._clear(batch=batch, report=engine._report(event=event, condition=condition, subject=subject))

    # Out of bed too long: armed when the bed is left at night, pushed back by activity elsewhere.
    out_of_bed = timers.get(resident_id=rid, rule="out_of_bed")
    if kind == EventKind.BED_VACATED:
        # Up from an evening lie-down, before settling for the night, is not "out of bed at night".
        if night is not None and out_of_bed is None and await settled_for_the_night(
                connection=batch.connection, resident=resident, night=night, moment=moment, known=engine.settled,
                leaving_bed=True):
            timers.push_back(resident_id=rid, rule="out_of_bed", subject="", due_at=moment + resident.out_of_bed,
                             armed_at=moment)
    elif kind == EventKind.BED_OCCUPIED:
        timers.cancel(resident_id=rid, rule="out_of_bed", at=moment)
        # The bed is heard again: the "not in bed by" it could not judge is judged again from tonight.
        if Condition.NOT_IN_BED.value in engine._is_open(batch=batch, subject_key=rid, condition=Condition.DATA_GAP):
            await engine._clear(batch=batch, report=engine._report(
                event=event, condition=Condition.DATA_GAP, subject=Condition.NOT_IN_BED.value))
        if night is not None:
            timers.cancel(resident_id=rid, rule="not_in_bed", subject=night.isoformat(), at=moment)
            for subject in engine._is_open(batch=batch, subject_key=rid, condition=Condition.NOT_IN_BED):
                await engine._clear(batch=batch, report=engine._report(
                    event=event, condition=Condition.NOT_IN_BED, subject=subject))
    elif not resident.has_bed_sensor and night is not None and kind == EventKind.MOTION \
            and event.location == "bedroom":
        # No bed sensor: the bedroom PIR stands in for the bed. Movement there is "back in bed".
        timers.cancel(resident_id=rid, rule="out_of_bed", at=moment)
        for subject in engine._is_open(batch=batch, subject_key=rid, condition=Condition.OUT_OF_BED):
            await engine._clear(batch=batch, report=engine._report(
                event=event, condition=Condition.OUT_OF_BED, subject=subject))
    elif out_of_bed is None and not resident.has_bed_sensor and night is not None and not at_front_door \
            and kind == EventKind.MOTION \
            and not engine._is_open(batch=batch, subject_key=rid, condition=Condition.OUT_OF_BED) \
            and await settled_for_the_night(connection=batch.connection, resident=resident, night=night,
                                            moment=moment, known=engine.settled):
        # ...and movement elsewhere at night, once they had settled, means the bedroom (and the bed) was
        # left (once: someone already flagged as up stays one incident until the bedroom sees them again).
        # Before they settle it is their evening, not a night exit.
        timers.push_back(resident_id=rid, rule="out_of_bed", subject="", due_at=moment + resident.out_of_bed,
                         armed_at=moment)
    elif out_of_bed is not None:
        if at_front_door and kind == EventKind.DOOR_OPEN:
            # Going out is the left-the-flat rule's. Activity after the night window ends does not cancel:
            # whether the bed exit was the morning rise is judged when the timer falls due.
            timers.cancel(resident_id=rid, rule="out_of_bed", at=moment)
        else:
            limit = out_of_bed.detail.get(OUT_OF_BED_LIMIT_KEY)
            cap = timedelta(seconds=limit) if isinstance(limit, int | float) else resident.out_of_bed_max
            due_at = min(moment + resident.out_of_bed, out_of_bed.armed_at + cap)
            timers.push_back(resident_id=rid, rule="out_of_bed", subject="", due_at=due_at,
                             armed_at=out_of_bed.armed_at)

    # Left the flat at night: front door opened, and no sign of life inside since it last moved.
    left = timers.get(resident_id=rid, rule="left_flat")
    out_and_flagged = bool(engine._is_open(batch=batch, subject_key=rid, condition=Condition.LEFT_FLAT))
    if at_front_door and kind in {EventKind.DOOR_OPEN, EventKind.DOOR_CLOSED}:
        if left is not None:
            timers.arm(timer=replace(left, detail={**left.detail, "door_at": moment.isoformat()}))
        elif kind == EventKind.DOOR_OPEN and night is not None and not out_and_flagged:
            # (Someone already flagged as out who opens the door is coming back, not leaving again.)
            timers.push_back(resident_id=rid, rule="left_flat", subject="", due_at=moment + resident.left_flat,
                             armed_at=moment)
            armed = timers.get(resident_id=rid, rule="left_flat")
            if armed is not None:
                timers.arm(timer=replace(armed, detail={"door_at": moment.isoformat()}))
    elif not at_front_door:
        door_at = _door_at(left.detail) if left is not None else None
        # Just after the door moved, the hallway sensor sees the person on their way out; the bed or
        # another room seeing someone means they are in.
        inside = door_at is None or moment >= door_at + DOOR_SETTLE or event.location not in BY_THE_DOOR
        if left is not None and door_at is not None and inside:
            timers.cancel(resident_id=rid, rule="left_flat", at=moment)
        if inside:
            for subject in engine._is_open(batch=batch, subject_key=rid, condition=Condition.LEFT_FLAT):
                await engine._clear(batch=batch, report=engine._report(
                    event=event, condition=Condition.LEFT_FLAT, subject=subject))


def _door_at(detail: dict[str, object]) -> datetime | None:
    value = detail.get("door_at")
    return datetime.fromisoformat(value) if isinstance(value, str) else None

