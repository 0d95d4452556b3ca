"""Rules that read a resident's own recent nights: bedtime, the morning rise, the flat left at night."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from rules.replay_operator import SimulatedOperator
from tests.rules_helpers import alerts_for, provision_flat, replay, store_event, store_moving_about, store_nights

FIRST = date(2026, 2, 1)
HISTORY = 10  # ordinary nights before the one under test


def _at(day_offset: int, clock: time) -> datetime:
    return datetime.combine(FIRST + timedelta(days=day_offset), clock, tzinfo=UTC)


async def _conditions(db: asyncpg.Connection, resident: str, run: str) -> list[tuple[str, datetime]]:
    return [(a["condition"], a["raised_at"]) for a in await alerts_for(db=db, resident=resident, run=run)]


async def test_up_at_five_and_not_back_is_flagged_a_usual_rise_is_not(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    # Night 0, no history yet: up at 06:15 and about is the morning (the last hour of the night window).
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(0, time(23)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(1, time(6, 15)))
    await store_moving_about(db=db, unique=unique, start=_at(1, time(6, 16)), minutes=120)
    # Then ten ordinary nights of this person's own: in bed at eleven, up at eight.
    await store_nights(db=db, unique=unique, first=FIRST + timedelta(days=1), nights=HISTORY, bedtime=time(23),
                       rise=time(8))
    night = 1 + HISTORY
    await store_moving_about(db=db, unique=unique, start=_at(night, time(12)), minutes=600)
    await store_moving_about(db=db, unique=unique, start=_at(night + 1, time(12)), minutes=600)
    # Up at 05:10 and about in the living room, never back to bed: flagged an hour later (the cap).
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(night, time(23)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(night + 1, time(5, 10)))
    await store_moving_about(db=db, unique=unique, start=_at(night + 1, time(5, 11)), minutes=180)
    # Next night, up at 06:45: within their usual rise (08:00, give or take), so the morning.
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(night + 1, time(23)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(night + 2, time(6, 45)))
    await store_moving_about(db=db, unique=unique, start=_at(night + 2, time(6, 46)), minutes=180)
    run = f"rise-{unique}"
    await replay(db=db, resident=resident, since=_at(0, time(12)), until=_at(night + 2, time(11)), run=run)
    assert await _conditions(db, resident, run) == [("out_of_bed", _at(night + 1, time(6, 10)))]


async def test_not_in_bed_waits_for_this_persons_usual_bedtime(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    # A late sleeper: in bed by about a quarter to one (the default "in bed by" is 01:00, three hours into
    # the night, which a late evening would miss).
    await store_nights(db=db, unique=unique, first=FIRST, nights=HISTORY, bedtime=time(0, 45), rise=time(8, 30))
    night = HISTORY
    # Night A: in bed at 01:30, later than the default, within their own usual: no call.
    await store_moving_about(db=db, unique=unique, start=_at(night, time(20)), minutes=330)
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(night + 1, time(1, 30)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(night + 1, time(8, 30)))
    await store_moving_about(db=db, unique=unique, start=_at(night + 1, time(8, 31)), minutes=600)
    # Night B: up all night in the living room: called at their learnt time, not the default.
    await store_moving_about(db=db, unique=unique, start=_at(night + 1, time(20)), minutes=13 * 60)
    run = f"bed-{unique}"
    await replay(db=db, resident=resident, since=_at(0, time(12)), until=_at(night + 2, time(8, 30)), run=run)
    [(condition, raised_at)] = await _conditions(db, resident, run)
    assert condition == "not_in_bed"
    assert _at(night + 2, time(1, 30)) < raised_at <= _at(night + 2, time(4))
    [alert] = await alerts_for(db=db, resident=resident, run=run)
    assert alert["detail"] is not None and '"bed_by": "learnt"' in alert["detail"]


async def test_not_in_bed_knows_a_bathroom_trip_and_a_replay_start(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    await db.execute("INSERT INTO rule_config (resident_id, bed_by) VALUES ($1, '01:00')", resident)
    # In bed at 21:50, before the night window opens; up for the bathroom right when "in bed by" (the care
    # plan's 01:00) falls due.
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(0, time(21, 50)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(1, time(0, 58)))
    await store_event(db=db, unique=unique, device="bath", kind="motion", at=_at(1, time(1)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(1, time(1, 5)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(1, time(7, 30)))
    run = f"trip-{unique}"
    await replay(db=db, resident=resident, since=_at(0, time(12)), until=_at(1, time(8)), run=run)
    assert await _conditions(db, resident, run) == []
    # A replay that starts after that night's "in bed by" does not judge it: the evening is not replayed.
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(2, time(7)))
    late = f"late-{unique}"
    await replay(db=db, resident=resident, since=_at(2, time(1, 5)), until=_at(2, time(8)), run=late)
    assert await _conditions(db, resident, late) == []


async def test_left_the_flat_by_this_persons_night(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    # An early bird who goes to bed after midnight: in bed around 00:30, up at 06:00.
    await store_nights(db=db, unique=unique, first=FIRST, nights=HISTORY, bedtime=time(0, 30), rise=time(6))
    day = HISTORY  # the evening of this day, and the morning after
    await store_moving_about(db=db, unique=unique, start=_at(day, time(8)), minutes=600)

    async def go_out(at: datetime, back: datetime | None) -> None:
        await store_event(db=db, unique=unique, device="hall", kind="motion", at=at - timedelta(seconds=20))
        await store_event(db=db, unique=unique, device="front", kind="door_open", at=at)
        await store_event(db=db, unique=unique, device="front", kind="door_closed", at=at + timedelta(seconds=5))
        await store_event(db=db, unique=unique, device="hall", kind="motion", at=at + timedelta(seconds=15))
        if back is not None:
            await store_event(db=db, unique=unique, device="front", kind="door_open", at=back)
            await store_event(db=db, unique=unique, device="front", kind="door_closed", at=back + timedelta(seconds=5))
            await store_event(db=db, unique=unique, device="hall", kind="motion", at=back + timedelta(seconds=10))
            # Straight into bed, well inside the door's settle time: they are in.
            await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=back + timedelta(seconds=40))

    # Out at 22:10 for the evening and back at 23:30, before their usual bedtime: no call.
    await go_out(_at(day, time(22, 10)), _at(day, time(23, 30)))
    # Up at 06:00 as usual, out at 06:40 for a walk until 08:00: the morning, no call.
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(day + 1, time(6)))
    await go_out(_at(day + 1, time(6, 40)), None)
    await store_event(db=db, unique=unique, device="front", kind="door_open", at=_at(day + 1, time(8)))
    await store_moving_about(db=db, unique=unique, start=_at(day + 1, time(8, 1)), minutes=600)
    # Next night, in bed at 00:30, out at 02:00 and back at 04:00: one call at 02:30, none on the way back in.
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(day + 2, time(0, 30)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(day + 2, time(1, 59)))
    await go_out(_at(day + 2, time(2)), _at(day + 2, time(4)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(day + 2, time(6)))
    await store_moving_about(db=db, unique=unique, start=_at(day + 2, time(6, 1)), minutes=300)
    # The evening after: out at 22:10 and not back by their usual bedtime: called then, not at 22:40.
    await go_out(_at(day + 2, time(22, 10)), None)
    await store_event(db=db, unique=unique, device="front", kind="door_open", at=_at(day + 3, time(5)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(day + 3, time(5, 1)))
    run = f"out-{unique}"
    await replay(db=db, resident=resident, since=_at(0, time(12)), until=_at(day + 3, time(6)), run=run,
                 operator=SimulatedOperator(close_after=timedelta(minutes=20)))
    alerts = await _conditions(db, resident, run)
    assert [c for c, _ in alerts] == ["left_flat", "left_flat"], alerts
    assert alerts[0][1] == _at(day + 2, time(2, 30))
    assert _at(day + 3, time(0, 40)) <= alerts[1][1] <= _at(day + 3, time(2, 30))
    # Back in at 04:00: the condition is restored on the (already closed) alert, nothing new is raised.
    [first, _second] = await alerts_for(db=db, resident=resident, run=run)
    restored = await db.fetchval("SELECT min(event_time) FROM alert_history WHERE alert_id = $1"
                                 " AND action = 'restored'", first["alert_id"])
    assert restored == _at(day + 2, time(4)) + timedelta(seconds=10)


async def test_up_and_about_as_long_as_lately_is_their_normal_still_is_not(db: asyncpg.Connection,
                                                                           unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    # Lately up at two every night and about in the living room for 75 minutes before going back to bed.
    await store_nights(db=db, unique=unique, first=FIRST, nights=HISTORY, bedtime=time(23), rise=time(8))
    for night in range(HISTORY):
        await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(night + 1, time(2)))
        await store_moving_about(db=db, unique=unique, start=_at(night + 1, time(2, 1)), minutes=70)
        await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(night + 1, time(3, 15)))

    async def night_up(night: int, *, about_min: int, back_after_min: int) -> None:
        await store_moving_about(db=db, unique=unique, start=_at(night, time(12)), minutes=600)
        await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(night, time(23)))
        await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(night + 1, time(2)))
        await store_moving_about(db=db, unique=unique, start=_at(night + 1, time(2, 1)), minutes=about_min)
        await store_event(db=db, unique=unique, device="bed", kind="bed_occupied",
                          at=_at(night + 1, time(2)) + timedelta(minutes=back_after_min))
        await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(night + 1, time(8)))

    # Up 80 minutes, moving about, then back: their normal lately (85 min with the margin), no call.
    await night_up(HISTORY, about_min=78, back_after_min=80)
    # About for 30 minutes, then still and not back: out of bed and still for 30 minutes is called at once.
    await night_up(HISTORY + 1, about_min=30, back_after_min=240)
    # About for two hours: past their own limit, called at 90 minutes (the 4-hour night before is the one
    # outlier left out; the longest of the rest was 80 minutes, plus the 10-minute margin).
    await night_up(HISTORY + 2, about_min=120, back_after_min=125)
    run = f"about-{unique}"
    await replay(db=db, resident=resident, since=_at(0, time(12)), until=_at(HISTORY + 3, time(11)), run=run,
                 operator=SimulatedOperator(close_after=timedelta(minutes=20)))
    recent = [(c, at) for c, at in await _conditions(db, resident, run) if at > _at(HISTORY, time(12))]
    assert recent == [
        ("out_of_bed", _at(HISTORY + 2, time(3, 1))),
        ("out_of_bed", _at(HISTORY + 3, time(3, 30))),
    ]


async def test_a_care_plan_limit_is_never_relaxed_by_recent_nights(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    # The care team set "in bed by 00:30" and "out of bed at most an hour while up and about".
    await db.execute("INSERT INTO rule_config (resident_id, bed_by, out_of_bed_max_min) VALUES ($1, $2, 60)",
                     resident, time(0, 30))
    # Lately in bed around a quarter to one and up for 75 minutes at two every night: the drift a
    # deterioration brings, which learning would otherwise take as the new normal.
    await store_nights(db=db, unique=unique, first=FIRST, nights=HISTORY, bedtime=time(0, 45), rise=time(8))
    for night in range(HISTORY):
        await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(night + 1, time(2)))
        await store_moving_about(db=db, unique=unique, start=_at(night + 1, time(2, 1)), minutes=70)
        await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(night + 1, time(3, 15)))
    night = HISTORY
    # Tonight: in bed at 00:50, then up at two and about for 78 minutes before going back.
    await store_moving_about(db=db, unique=unique, start=_at(night, time(20)), minutes=285)
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(night + 1, time(0, 50)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(night + 1, time(2)))
    await store_moving_about(db=db, unique=unique, start=_at(night + 1, time(2, 1)), minutes=78)
    await store_event(db=db, unique=unique, device="bed", kind="bed_occupied", at=_at(night + 1, time(3, 20)))
    await store_event(db=db, unique=unique, device="bed", kind="bed_vacated", at=_at(night + 1, time(8)))
    run = f"plan-{unique}"
    await replay(db=db, resident=resident, since=_at(0, time(12)), until=_at(night + 1, time(11)), run=run,
                 operator=SimulatedOperator(close_after=timedelta(minutes=20)))
    recent = [(c, at) for c, at in await _conditions(db, resident, run) if at > _at(night, time(12))]
    # Both called at the care plan's times, as a night worker following the plan would be.
    assert recent == [("not_in_bed", _at(night + 1, time(0, 30))), ("out_of_bed", _at(night + 1, time(3)))]


async def test_an_in_bed_by_before_the_night_window_is_that_evening(db: asyncpg.Connection, unique: str) -> None:
    resident, _ = await provision_flat(db=db, unique=unique)
    # The care plan says "in bed by 21:30", before the 22:00 night window opens: that evening, not the next.
    await db.execute("INSERT INTO rule_config (resident_id, bed_by) VALUES ($1, $2)", resident, time(21, 30))
    # Up all evening, never to bed, out of the front door at 23:00 and not back by morning.
    await store_moving_about(db=db, unique=unique, start=_at(0, time(18)), minutes=295)
    await store_event(db=db, unique=unique, device="front", kind="door_open", at=_at(0, time(23)))
    await store_event(db=db, unique=unique, device="front", kind="door_closed",
                      at=_at(0, time(23)) + timedelta(seconds=5))
    run = f"early-{unique}"
    await replay(db=db, resident=resident, since=_at(0, time(12)), until=_at(1, time(8)), run=run)
    # Past their bedtime already, so the outing is a night one, called after 30 minutes (not put off
    # to "bedtime" the next evening).
    assert await _conditions(db, resident, run) == [("not_in_bed", _at(0, time(21, 30))),
                                                    ("left_flat", _at(0, time(23, 30)))]
