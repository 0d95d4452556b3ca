"""A reference night worker: the nights a resident's care plan called for a check, read from the truth.

The product raises alerts from sensor events. This judge never sees a sensor: it reads the simulator's
own record of what the person did (bed exits, the morning rise, outings, bedtime, incidents) and applies
the night rules of docs/domain.md section 4 with the resident's care-plan settings (the same ones
`bench.rules_accuracy.configure_rules` enters), so a deterioration episode's hour of wandering at 3 a.m.
is a night that called for a check, as it would be for a waking-night worker, and not a false alarm.

A yardstick imports nothing it judges: every number here is the care plan's own (written below, as a
care team would write it from what staff know of the person: the simulator's profile), never a rules/
or models/ constant, so a wrong constant there cannot be wrong on both sides. The morning rise is told
from a night exit by the plan's "ordinary mornings from": the person's usual rise less 90 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bench.rules_truth import RuleTimes, expectation
from simulators.truth import ResidentTruth

# Incidents that raise an immediate alarm (the night rules' own incidents are read from behaviour).
ALARM_INCIDENTS = frozenset({"pendant_press", "fall", "smoke", "flood", "cold_flat"})
_NOON = time(12)
# The care plan's "ordinary mornings from": up and about this long before the usual rise is still the
# morning; earlier and not back to bed is a night that calls for a check.
ORDINARY_EARLY_RISE = timedelta(minutes=90)
# Each call -> the alert condition that answers it.
ALERT_FOR_CALL = {"pendant_press": "personal_trigger", "fall": "fall", "smoke": "smoke", "flood": "flood",
                  "cold_flat": "temperature_low", "not_in_bed": "not_in_bed", "out_of_bed": "out_of_bed",
                  "out_of_bed (up for the day early)": "out_of_bed", "left_flat": "left_flat"}


@dataclass(frozen=True, slots=True)
class CarePlan:
    """The settings a night worker follows for one resident."""

    tz: ZoneInfo
    night: tuple[time, time]
    bed_by: time
    out_of_bed_max: timedelta
    left_flat: timedelta
    # Minutes after local midnight of the usual rise on a weekday morning, and the weekend lie-in.
    usual_rise_min: float = 8 * 60
    weekend_shift_min: float = 0.0

    def ordinary_morning_from(self, *, night_of: date) -> datetime:
        """From when getting up for the day is an ordinary morning, on the morning after `night_of`."""
        morning = night_of + timedelta(days=1)
        minutes = self.usual_rise_min + (self.weekend_shift_min if morning.weekday() >= 5 else 0.0)
        return datetime.combine(morning, time(0), tzinfo=self.tz) + timedelta(minutes=minutes) - ORDINARY_EARLY_RISE


@dataclass(frozen=True, slots=True)
class _Window:
    start: datetime
    end: datetime


def night_window(*, night_of: date, start: time, end: time, tz: ZoneInfo) -> _Window:
    """The night window that opens on the evening of `night_of` (it may end the next morning)."""
    end_day = night_of + timedelta(days=1) if end <= start else night_of
    return _Window(start=datetime.combine(night_of, start, tzinfo=tz), end=datetime.combine(end_day, end, tzinfo=tz))


def care_plan_up_by(truth: ResidentTruth) -> time:
    """"Not up by" as a care plan would set it: the resident's usual late rise plus two hours.

    The usual rise (weekday mean plus the weekend lie-in) is what staff know of a person; the rule is
    per resident precisely because one fixed time would call on late risers every morning.
    """
    profile = truth.header.get("profile", {})
    usual = float(profile.get("wake_mean_min", 8 * 60)) + float(profile.get("weekend_shift_min", 0))
    minutes = min(int(usual + 120), 13 * 60)
    return time(minutes // 60, minutes % 60)


def care_plan_bed_by(truth: ResidentTruth) -> time:
    """"Not in bed by": the usual bedtime plus three of its spreads and an hour, by 04:00 at the latest."""
    profile = truth.header.get("profile", {})
    usual = float(profile.get("bedtime_mean_min", 23 * 60)) + 3 * float(profile.get("bedtime_sd_min", 30)) + 60
    minutes = int(min(usual, 28 * 60)) % 1440
    return time(minutes // 60, minutes % 60)


def care_plan_for(*, truth: ResidentTruth, tz: ZoneInfo, night: tuple[time, time]) -> CarePlan:
    """What the night worker follows for one resident: what `configure_rules` enters for the rules."""
    times = RuleTimes()
    profile = truth.header.get("profile", {})
    return CarePlan(tz=tz, night=night, bed_by=care_plan_bed_by(truth), out_of_bed_max=times.out_of_bed_max,
                    left_flat=times.left_flat, usual_rise_min=float(profile.get("wake_mean_min", 8 * 60)),
                    weekend_shift_min=float(profile.get("weekend_shift_min", 0.0)))


def _outings(truth: ResidentTruth) -> list[tuple[datetime, datetime]]:
    spans = [(out, back) for night in truth.nights for out, back in night.door_exits]
    for day in truth.days:
        spans += [(datetime.fromisoformat(item["out"]), datetime.fromisoformat(item["back"]))
                  for item in day.get("door_exits", ())]
    return spans


def called_nights(*, truth: ResidentTruth, plan: CarePlan, times: RuleTimes) -> dict[date, list[str]]:
    """Night (evening date) -> why a night worker following the care plan was called that night."""
    called: dict[date, list[str]] = {}
    nights = list(truth.nights)
    windows = [night_window(night_of=n.night_of, start=plan.night[0], end=plan.night[1], tz=plan.tz) for n in nights]

    def note(moment: datetime, why: str) -> None:
        for night, window in zip(nights, windows, strict=True):
            if window.start <= moment < window.end:
                called.setdefault(night.night_of, []).append(why)

    for item in truth.incidents:
        if item.kind not in ALARM_INCIDENTS:
            continue
        if not expectation(resident_id=truth.resident_id, item=item, device_silence={}, times=times, tz=plan.tz,
                           faults=truth.faults).observable:
            continue
        if item.kind == "cold_flat":
            # Told when the thermometer first read below the alarm threshold, not when the heating failed.
            reading = item.detail.get("first_reading_below")
            if isinstance(reading, dict) and float(reading["threshold_c"]) == times.temperature_low_c:
                note(datetime.fromisoformat(str(reading["at"])), item.kind)
            continue
        note(item.start, item.kind)
    outings = _outings(truth)
    for night, window in zip(nights, windows, strict=True):
        ordinary_from = plan.ordinary_morning_from(night_of=night.night_of)

        def morning(left: datetime, _due: datetime, *, ordinary_from: datetime = ordinary_from) -> bool:
            return left >= ordinary_from

        reasons = called.setdefault(night.night_of, [])
        bed_by = datetime.combine(night.night_of + timedelta(days=plan.bed_by < _NOON), plan.bed_by, tzinfo=plan.tz)
        if window.start <= bed_by < window.end and night.sleep_onset > bed_by \
                and not any(out <= bed_by < back for out, back in outings):
            reasons.append("not_in_bed")
        for exit_ in night.bed_exits:
            # Out of the door before the cap: the left-the-flat rule's (after it, out of bed was due first).
            went_out = any(exit_.start <= out < min(exit_.end, exit_.start + plan.out_of_bed_max) for out, _ in outings)
            if not went_out and window.start <= exit_.start < window.end \
                    and exit_.end - exit_.start > plan.out_of_bed_max \
                    and not morning(exit_.start, exit_.start + plan.out_of_bed_max):
                reasons.append("out_of_bed")
        rise_due = night.wake + plan.out_of_bed_max
        if window.start <= night.wake < window.end and not morning(night.wake, rise_due) \
                and not any(night.wake <= out < rise_due for out, _ in outings):
            reasons.append("out_of_bed (up for the day early)")
        for out, back in night.door_exits:
            due = out + plan.left_flat
            after_rise = out >= ordinary_from  # out for the morning
            if not window.start <= out < window.end or back - out <= plan.left_flat or after_rise:
                continue
            # Out for the evening, not yet to bed: judged at the care plan's bedtime.
            if out < night.sleep_onset and due < bed_by and back <= bed_by:
                continue
            reasons.append("left_flat")
        if not reasons:
            del called[night.night_of]
    return called
