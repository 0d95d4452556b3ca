"""Night rules that a care team can believe: the care plan, homes without a bed sensor, ordinary mornings."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from rules.habit_summary import current_habits
from telecare.care_plan import CarePlan, apply_care_plan
from tests.rules_helpers import alerts_for, provision_flat, replay, store_event, store_moving_about

FIRST = date(2026, 3, 2)  # a Monday
NO_BED = frozenset({"bed"})


def _at(day_offset: int, clock: time) -> datetime:
    return datetime.combine(FIRST + timedelta(days=day_offset), clock, tzinfo=UTC)


async def _conditions(db: asyncpg.Connection, resident: str, run: str) -> list[tuple[str, datetime]]:
    return [(a["condition"], a["raised_at"]) for a in await alerts_for(db=db, resident=resident, run=run)]


async def _go_out(db: asyncpg.Connection, unique: str, at: datetime, back: datetime | None) -> None:
    await store_event(db=db, unique=unique, device="hall", kind="motion", at=at - timedelta(seconds=20))
    await store_event(db=db, unique=unique, device="front", kind="door_open", at=at)
    await store_event(db=db, unique=unique, device="front", kind="door_closed", at=at + timedelta(seconds=5))
    if back is not None:
        await store_event(db=db, unique=unique, device="front", kind="door_open", at=back)
        await store_event(db=db, unique=unique, device="front", kind="door_closed", at=back + timedelta(seconds=5))
        await store_event(db=db, unique=unique, device="living", kind="motion", at=back + timedelta(minutes=2))


async def _ordinary_day_without_bed(db: asyncpg.Connection, unique: str, day: int) -> None:
    """A day in a flat with room PIRs only: up at 06:00, out 06:30-09:00 every morning, TV until 23:00,
    bed at 23:05, a bathroom visit at 03:00."""
    wobble = timedelta(minutes=(day * 7) % 13 - 6)
    await store_moving_about(db=db, unique=unique, start=_at(day, time(6)) + wobble, minutes=25, device="living")
    await _go_out(db, unique, _at(day, time(6, 30)) + wobble, _at(day, time(9)) + wobble)
    await store_moving_about(db=db, unique=unique, start=_at(day, time(9, 5)), minutes=12 * 60, device="living")
    # The evening in the living room inside the night window, before settling: not "out of bed at night".
    await store_moving_about(db=db, unique=unique, start=_at(day, time(21, 10)) + wobble, minutes=110,
                             device="living")
    await store_event(db=db, unique=unique, device="bedpir", kind="motion", at=_at(day, time(23, 5)) + wobble)
    await store_event(db=db, unique=unique, device="bedpir", kind="motion", at=_at(day, time(23, 20)) + wobble)
    await store_event(db=db, unique=unique, device="bath", kind="motion", at=_at(day + 1, time(3)) + wobble)
    await store_event(db=db, unique=unique, device="bedpir", kind="motion",
                      at=_at(day + 1, time(3, 6)) + wobble)


async def test_without_a_bed_sensor_evenings_and_mornings_are_quiet_and_incidents_are_called(
        db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique, without=NO_BED)
    nights = 10
    for day in range(nights):
        await _ordinary_day_without_bed(db, unique, day)
    # Night 10: settled as usual, then up at 02:00 into the living room and nothing more: still, not back.
    incident = nights
    await store_moving_about(db=db, unique=unique, start=_at(incident, time(6)), minutes=25, device="living")
    await store_moving_about(db=db, unique=unique, start=_at(incident, time(9)), minutes=14 * 60, device="living")
    await store_event(db=db, unique=unique, device="bedpir", kind="motion", at=_at(incident, time(23, 5)))
    await store_event(db=db, unique=unique, device="living", kind="motion", at=_at(incident + 1, time(2)))
    # Night 11: settled, then out of the front door at 02:00 and not back.
    await store_moving_about(db=db, unique=unique, start=_at(incident + 1, time(8)), minutes=14 * 60,
                             device="living")
    await store_event(db=db, unique=unique, device="bedpir", kind="motion", at=_at(incident + 1, time(23, 5)))
    await _go_out(db, unique, _at(incident + 2, time(2)), None)
    run = f"nobed-{unique}"
    await replay(db=db, resident=resident, since=_at(0, time(5)), until=_at(incident + 2, time(3)), run=run)
    # Ten evenings up in the living room inside the night window and ten 06:30 outings: no call. The two
    # incidents: called on time.
    assert await _conditions(db, resident, run) == [
        ("out_of_bed", _at(incident + 1, time(2, 30))), ("left_flat", _at(incident + 2, time(2, 30)))]
    learnt = await current_habits(connection=db, resident_id=resident, now=_at(nights, time(12)))
    assert learnt is not None and learnt.source == "room_activity" and learnt.nights >= 8
    assert learnt.usual_rise is not None and "05:5" <= learnt.usual_rise <= "06:10"
    assert learnt.usual_morning_outing is not None and "06:2" <= learnt.usual_morning_outing <= "06:40"
    assert "learnt from" in learnt.summary


async def test_the_care_plan_expected_absence_is_not_a_night_departure(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    # First night, nothing learnt: in bed at 23:00, up at 05:00, out at 05:20 for an early shift walk.
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(0, time(23)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(1, time(5)))
    await store_moving_about(db=db, unique=unique, start=_at(1, time(5, 1)), minutes=15, device="living")
    await _go_out(db, unique, _at(1, time(5, 20)), _at(1, time(8)))
    before = f"plan0-{unique}"
    await replay(db=db, resident=resident, since=_at(0, time(12)), until=_at(1, time(9)), run=before)
    assert [c for c, _ in await _conditions(db, resident, before)] == ["left_flat"]
    # The care team writes it down: out most mornings from 05:30. The same morning is no call now.
    version, changes = await apply_care_plan(
        connection=db, resident_id=resident, changed_by="team-lead", source="api",
        plan=CarePlan.model_validate({"expected_absences": [{"start": "05:30", "end": "09:00",
                                                             "note": "early walk"}]}))
    assert version == 1 and "expected_absences" in changes
    after = f"plan1-{unique}"
    await replay(db=db, resident=resident, since=_at(0, time(12)), until=_at(1, time(9)), run=after)
    assert await _conditions(db, resident, after) == []


async def test_an_evening_lie_down_is_not_out_of_bed_at_night(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    # On the bed at 22:10 for ten minutes, then an hour and a half of television before bed at midnight.
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(0, time(22, 10)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(0, time(22, 20)))
    await store_moving_about(db=db, unique=unique, start=_at(0, time(22, 22)), minutes=90, device="living")
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(1, time(0)))
    # Settled now: up at 02:00 and wandering for two hours is called at the 60-minute cap.
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(1, time(2)))
    await store_moving_about(db=db, unique=unique, start=_at(1, time(2, 1)), minutes=120, device="living")
    run = f"eve-{unique}"
    await replay(db=db, resident=resident, since=_at(0, time(12)), until=_at(1, time(4, 30)), run=run)
    assert await _conditions(db, resident, run) == [("out_of_bed", _at(1, time(3)))]
